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
#include "rz/stems/sha256.hpp"
#include "rz/stems/stem_dir.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace rz::demucs {

namespace {

constexpr const char* kEntryFile = "entry.json";
constexpr const char* kSchema = "rz-separate-cache";
constexpr int kVersion = 1;
// A store() copies a few hundred MB at most; a temporary directory untouched this long belongs to
// a process that died.
constexpr auto kStaleAfter = std::chrono::hours(1);

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

// A hidden directory `<root>/.<key>.<tag>-XXXXXX`, created empty (mkdtemp).
fs::path make_hidden_dir(const fs::path& root, const std::string& key, const char* tag) {
  std::string pattern = (root / ("." + key + "." + tag + "-XXXXXX")).string();
  std::vector<char> name(pattern.begin(), pattern.end());
  name.push_back('\0');
  if (!mkdtemp(name.data())) throw IoError("cannot create", pattern, std::strerror(errno));
  // mkdtemp makes it 0700; entries are shared like any cache file under the user's umask.
  const mode_t mask = umask(0);
  umask(mask);
  chmod(name.data(), 0777 & ~mask);
  return fs::path(name.data());
}

bool is_hidden_work_dir(const std::string& name) {
  return name.size() > 1 && name[0] == '.' &&
         (name.find(".tmp-") != std::string::npos || name.find(".old-") != std::string::npos);
}

void remove_stale_work_dirs(const fs::path& root) {
  std::error_code ec;
  const auto now = fs::file_time_type::clock::now();
  for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    if (!is_hidden_work_dir(it->path().filename().string())) continue;
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

// Removes a directory tree on scope exit unless released.
class RemoveOnExit {
 public:
  explicit RemoveOnExit(fs::path p) : path_(std::move(p)) {}
  ~RemoveOnExit() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  RemoveOnExit(const RemoveOnExit&) = delete;
  RemoveOnExit& operator=(const RemoveOnExit&) = delete;

 private:
  fs::path path_;
};

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
  stems::write_text_file(temp / kEntryFile, entry.dump(2) + "\n");
  fsync_dir(temp);
}

// Moves `temp` to `final_path`. When `final_path` exists: keep it if it is complete (another
// process won the race), else move the broken one aside and retry once.
bool publish(const SeparationCache& cache, const std::string& key, const fs::path& temp,
             const fs::path& final_path) {
  std::error_code ec;
  fs::rename(temp, final_path, ec);
  if (!ec) return true;
  if (ec != std::errc::directory_not_empty && ec != std::errc::file_exists) {
    throw IoError("cannot publish cache entry", final_path.string(), ec.message());
  }
  if (cache.lookup(key)) return true;  // theirs is complete: ours is discarded by the caller
  // A broken entry (files deleted by hand, say): swap it for an empty hidden directory, which
  // rename() may replace, then delete it out of the way of readers.
  const fs::path aside = make_hidden_dir(final_path.parent_path(), key, "old");
  fs::rename(final_path, aside, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) {
    std::error_code ignore;
    fs::remove_all(aside, ignore);
    throw IoError("cannot replace broken cache entry", final_path.string(), ec.message());
  }
  std::error_code ignore;
  fs::remove_all(aside, ignore);
  fs::rename(temp, final_path, ec);
  if (!ec) return true;
  if (cache.lookup(key)) return true;  // someone else replaced it meanwhile
  throw IoError("cannot publish cache entry", final_path.string(), ec.message());
}

}  // namespace

fs::path default_cache_dir() { return xdg_dir("XDG_CACHE_HOME", ".cache", "rz/separate"); }

SeparationCache::SeparationCache(fs::path root) : root_(std::move(root)) {}

std::string SeparationCache::key(const json& identity) {
  const std::string text = identity.dump();
  stems::Sha256 sha;
  sha.update(text.data(), text.size());
  return sha.hex_digest();
}

std::optional<fs::path> SeparationCache::lookup(const std::string& key) const {
  if (!valid_key(key)) return std::nullopt;
  const fs::path dir = root_ / key;
  try {
    std::ifstream in(dir / kEntryFile);
    if (!in) return std::nullopt;
    const json entry = json::parse(in);
    if (entry.value("schema", "") != kSchema || entry.value("version", 0) != kVersion ||
        entry.value("key", "") != key || !entry.contains("files") || !entry["files"].is_array()) {
      return std::nullopt;
    }
    for (const auto& f : entry["files"]) {
      const std::string name = f.at("name").get<std::string>();
      const uint64_t bytes = f.at("bytes").get<uint64_t>();
      if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
        return std::nullopt;
      }
      std::error_code ec;
      const fs::path p = dir / name;
      if (!fs::is_regular_file(p, ec) || fs::file_size(p, ec) != bytes || ec) return std::nullopt;
    }
    return dir;
  } catch (const std::exception&) {
    return std::nullopt;  // unreadable or malformed entry.json: a miss, never an error
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

    const fs::path temp = make_hidden_dir(root_, key, "tmp");
    RemoveOnExit cleanup(temp);  // after a successful rename it no longer exists: a no-op
    build_entry(temp, key, files, meta);
    return publish(*this, key, temp, root_ / key);
  } catch (const std::exception& e) {
    if (why_not) *why_not = e.what();
    return false;
  }
}

}  // namespace rz::demucs
