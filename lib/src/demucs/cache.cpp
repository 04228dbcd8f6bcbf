// Separation cache: entries built in hidden temporary directories and published by rename().
#include "rz/demucs/cache.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <utility>

#include "rz/demucs/model_store.hpp"
#include "rz/error.hpp"
#include "rz/io/file.hpp"
#include "rz/io/json.hpp"
#include "rz/io/temp.hpp"
#include "rz/stems/sha256.hpp"
#include "rz/stems/stem_dir.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace rz::demucs {

namespace {

constexpr const char* kEntryFile = "entry.json";
constexpr const char* kSchema = "rz-separate-cache";
constexpr int kVersion = 1;
// Earlier versions made unlocked work directories: one untouched this long belonged to a process
// that died (a store() copies a few hundred MB at most).
constexpr auto kStaleAfter = std::chrono::hours(1);
// entry.json lists a few files and the separation's settings: a few kB.
constexpr size_t kMaxEntryBytes = size_t{1} << 20;

// Keys become directory names: keep them to one plain, visible path component.
bool valid_key(const std::string& key) {
  if (key.empty() || key.size() > 128) return false;
  for (char c : key) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// Work directories of earlier versions (".<key>.tmp-XXXXXX", ".<key>.old-XXXXXX", unlocked):
// removed once they are an hour old.
bool is_legacy_work_dir(const std::string& name) {
  return name.size() > 1 && name[0] == '.' && !io::is_temp_name(name) &&
         (name.find(".tmp-") != std::string::npos || name.find(".old-") != std::string::npos);
}

// The leftovers of killed processes: locked temporaries nobody holds (io::remove_stale_temps) at
// once, and unlocked work directories of earlier versions after an hour.
void remove_stale_work_dirs(const fs::path& root) {
  io::remove_stale_temps(root);
  std::error_code ec;
  const auto now = fs::file_time_type::clock::now();
  for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    if (!is_legacy_work_dir(it->path().filename().string())) continue;
    std::error_code ec2;
    const auto t = fs::last_write_time(it->path(), ec2);
    if (!ec2 && now - t > kStaleAfter) fs::remove_all(it->path(), ec2);
  }
}


void fsync_dir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;  // durability only; the rename still publishes atomically
  fsync(fd);
  ::close(fd);
}

// Builds the complete entry for `key` in `temp`: the files, then entry.json last.
void build_entry(const fs::path& temp, const std::string& key, const std::vector<fs::path>& files,
                 const json& meta) {
  std::set<std::string> names;
  json listed = json::array();
  const json* given = meta.is_object() && meta.contains("sha256") && meta["sha256"].is_object()
                          ? &meta["sha256"]
                          : nullptr;
  for (const auto& src : files) {
    const std::string name = src.filename().string();
    if (name.empty() || name == "." || name == ".." || name == kEntryFile) {
      throw InputError("cannot cache", src.string(), "unusable file name");
    }
    if (!names.insert(name).second) {
      throw InputError("cannot cache", src.string(), "two files are named " + name);
    }
    uint64_t bytes = 0;
    const std::string sha = stems::copy_file_sha256(src, temp / name, &bytes);
    if (given && given->contains(name) && (*given)[name].is_string() &&
        (*given)[name].get<std::string>() != sha) {
      throw InputError("cannot cache", src.string(),
                       "its SHA-256 differs from the one given in meta (file changed?)");
    }
    listed.push_back({{"name", name}, {"bytes", bytes}, {"sha256", sha}});
  }
  json entry = {
      {"schema", kSchema}, {"version", kVersion}, {"key", key}, {"meta", meta}, {"files", listed}};
  stems::write_text_file(temp / kEntryFile, io::dump_json(entry, 2) + "\n");
  fsync_dir(temp);
}

// Moves `temp` to `final_path`. When `final_path` exists: keep it if it is complete (another
// process won the race), else discard the broken one and retry once.
bool publish(const SeparationCache& cache, const std::string& key, io::LockedTemp& temp,
             const fs::path& final_path) {
  std::error_code ec;
  fs::rename(temp.path(), final_path, ec);
  if (!ec) {
    temp.keep();
    return true;
  }
  if (ec != std::errc::directory_not_empty && ec != std::errc::file_exists) {
    throw IoError("cannot publish cache entry", final_path.string(), ec.message());
  }
  if (cache.lookup(key)) return true;  // theirs is complete: ours is discarded by the caller
  cache.discard(key);                   // a broken entry (files deleted by hand, say)
  fs::rename(temp.path(), final_path, ec);
  if (!ec) {
    temp.keep();
    return true;
  }
  if (cache.lookup(key)) return true;  // someone else replaced it meanwhile
  throw IoError("cannot publish cache entry", final_path.string(), ec.message());
}

}  // namespace

fs::path default_cache_dir() { return xdg_dir("XDG_CACHE_HOME", ".cache", "rz/separate"); }

SeparationCache::SeparationCache(fs::path root) : root_(std::move(root)) {}

std::string SeparationCache::key(const json& identity) {
  const std::string text = io::dump_json(identity);
  stems::Sha256 sha;
  sha.update(text.data(), text.size());
  return sha.hex_digest();
}

std::optional<CacheHit> SeparationCache::find(const std::string& key) const {
  if (!valid_key(key)) return std::nullopt;
  const fs::path dir = root_ / key;
  try {
    // Unreadable, oversized, malformed or incomplete: a miss, never an error.
    const json entry = io::read_json_file(dir / kEntryFile, kMaxEntryBytes, "cache entry",
                                          "bad cache entry");
    if (io::get_checked<std::string>(entry, "schema") != std::string(kSchema) ||
        io::get_checked<int>(entry, "version") != kVersion ||
        io::get_checked<std::string>(entry, "key") != key || !entry.contains("files") ||
        !entry["files"].is_array()) {
      return std::nullopt;
    }
    CacheHit hit;
    hit.dir = dir;
    hit.meta = entry.value("meta", json());
    for (const auto& f : entry["files"]) {
      const auto name = io::get_checked<std::string>(f, "name");
      const auto bytes = io::get_checked<uint64_t>(f, "bytes");
      const auto sha = io::get_checked<std::string>(f, "sha256");
      if (!name || !bytes || !sha || !io::unsafe_component_reason(*name).empty()) {
        return std::nullopt;
      }
      std::error_code ec;
      const fs::path p = dir / *name;
      if (!fs::is_regular_file(fs::symlink_status(p, ec)) || fs::file_size(p, ec) != *bytes || ec)
        return std::nullopt;
      hit.sha256[*name] = *sha;
    }
    return hit;
  } catch (const Interrupted&) {
    throw;  // a signal stops the run: it says nothing about the files
  } catch (const Error&) {
    return std::nullopt;
  }
}

std::optional<fs::path> SeparationCache::lookup(const std::string& key) const {
  auto hit = find(key);
  if (!hit) return std::nullopt;
  return hit->dir;
}

void SeparationCache::discard(const std::string& key) const {
  if (!valid_key(key)) return;
  // Swap the entry for an empty locked temporary (a rename is atomic for concurrent readers),
  // then delete it out of their way; a killed process leaves the temporary to the next one.
  try {
    io::LockedTemp aside = io::LockedTemp::create(root_, key, true);
    std::error_code ec;
    fs::rename(root_ / key, aside.path(), ec);
  } catch (const Interrupted&) {
    throw;  // a signal stops the run: it says nothing about the files
  } catch (const Error&) {
    // Nothing to discard, or no way to: the caller's next step fails or misses on its own.
  }
}

bool SeparationCache::store(const std::string& key, const std::vector<fs::path>& files,
                            const json& meta, std::string* why_not) {
  try {
    if (!valid_key(key)) throw UsageError(describe("bad cache key", key, "use key()"));
    if (lookup(key)) return true;
    std::error_code ec;
    fs::create_directories(root_, ec);
    if (ec) throw IoError("cannot create cache", root_.string(), ec.message());
    remove_stale_work_dirs(root_);

    io::LockedTemp temp = io::LockedTemp::create(root_, key, true);
    build_entry(temp.path(), key, files, meta);
    return publish(*this, key, temp, root_ / key);
  } catch (const std::exception& e) {
    if (why_not) *why_not = e.what();
    return false;
  }
}

}  // namespace rz::demucs
