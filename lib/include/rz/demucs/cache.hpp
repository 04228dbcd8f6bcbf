// A content-addressed cache of separation results, safe under concurrent readers and writers.
#pragma once

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace rz::demucs {

// $XDG_CACHE_HOME/rz/separate, else $HOME/.cache/rz/separate.
std::filesystem::path default_cache_dir();

// A complete entry as find() read it.
struct CacheHit {
  std::filesystem::path dir;
  nlohmann::json meta;                       // as stored (the caller validates what it uses)
  std::map<std::string, std::string> sha256;  // file name -> digest recorded when stored
};

// Layout: `<root>/<key>/` holds the stored files and `entry.json`:
//   {"schema": "rz-separate-cache", "version": 1, "key": KEY, "meta": META,
//    "files": [{"name": "vocals.wav", "bytes": N, "sha256": HEX}, ...]}
// Entries are built in hidden, locked `<root>/.<key>.rz-tmp-XXXXXX` directories (io::LockedTemp)
// and renamed into place, so a `<root>/<key>` directory is either absent or complete. The cache
// never prints.
class SeparationCache {
 public:
  explicit SeparationCache(std::filesystem::path root);

  const std::filesystem::path& root() const { return root_; }

  // Lower-case hex SHA-256 of identity.dump(). nlohmann::json keeps object keys sorted, so two
  // identities with the same members in a different insertion order give the same key.
  static std::string key(const nlohmann::json& identity);

  // The directory of the complete entry for `key`, or nullopt. An entry is complete when its
  // entry.json parses, names `key`, and every file it lists exists with the recorded size (hashes
  // are not re-read here: that would cost as much as a copy). A malformed key is a miss.
  std::optional<std::filesystem::path> lookup(const std::string& key) const;
  // The same, with the entry's meta and recorded digests. entry.json is read with limits (a
  // regular file of at most 1 MiB, io::parse_json), and every listed file name must be a plain
  // visible name: a damaged or hostile entry is a miss.
  std::optional<CacheHit> find(const std::string& key) const;
  // Removes the entry for `key` (damaged: its files no longer match) atomically for concurrent
  // readers. Never throws.
  void discard(const std::string& key) const;

  // Publishes `files` (full paths of finished files; stored under their file names, which must be
  // distinct and not "entry.json") under `key` with `meta`. Files are copied, not linked (outputs
  // may be edited later), and hashed while copied; when `meta["sha256"][name]` gives a digest it
  // must match. Returns true when a complete entry for `key` exists afterwards: ours, or one that
  // another process published first (then ours is discarded). Errors never throw: store() returns
  // false and, when `why_not` is given, sets it to a one-line reason. Temporary directories left
  // by killed processes are removed on the way (io::remove_stale_temps; unlocked ones of earlier
  // versions once an hour old).
  bool store(const std::string& key, const std::vector<std::filesystem::path>& files,
             const nlohmann::json& meta, std::string* why_not = nullptr);

 private:
  std::filesystem::path root_;
};

}  // namespace rz::demucs
