// Locked temporaries and the removal of those whose owner died (see temp.hpp).
#include "rz/io/temp.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "rz/error.hpp"

namespace fs = std::filesystem;

namespace rz::io {

namespace {

constexpr const char* kTag = ".rz-tmp-";
constexpr size_t kSuffixChars = 6;  // mkstemp's XXXXXX
// A new entry can be taken by a concurrent remove_stale_temps between its creation and its lock
// (then it is gone or no longer ours); so many fresh names in a row failing means something else.
constexpr int kCreateAttempts = 16;

bool same_inode(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// Takes the exclusive lock on `fd` without waiting; true when taken.
bool try_lock(int fd) {
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EINTR) return false;
  }
  return true;
}

// Opens an existing entry (directory or file) for locking, never following a symlink.
Fd open_entry(const fs::path& path) {
  return Fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY));
}

mode_t current_umask() {
  const mode_t mask = ::umask(0);
  ::umask(mask);
  return mask;
}

}  // namespace

bool is_temp_name(const std::string& name) {
  const size_t tag = name.rfind(kTag);
  return name.size() > 1 && name[0] == '.' && tag != std::string::npos && tag >= 1 &&
         name.size() == tag + std::strlen(kTag) + kSuffixChars &&
         name.find('/') == std::string::npos;
}

int remove_stale_temps(const fs::path& dir) {
  int removed = 0;
  std::error_code ec;
  const fs::path where = dir.empty() ? fs::path(".") : dir;
  for (fs::directory_iterator it(where, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path p = it->path();
    if (!is_temp_name(p.filename().string())) continue;
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) continue;
    if (st.st_uid != ::geteuid()) continue;
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) continue;
    const Fd fd = open_entry(p);
    if (!fd.valid() || !try_lock(fd.get())) continue;  // held: its owner is alive
    struct stat locked {};
    if (::fstat(fd.get(), &locked) != 0 || !same_inode(st, locked)) continue;
    // Still the entry we locked (not replaced meanwhile): it belongs to a dead process. Holding
    // the lock while removing it makes a creator that raced us see its entry is gone and retry.
    std::error_code rm;
    fs::remove_all(p, rm);
    if (!rm) ++removed;
  }
  return removed;
}

LockedTemp LockedTemp::create(const fs::path& dir, const std::string& base, bool directory) {
  const fs::path where = dir.empty() ? fs::path(".") : dir;
  const std::string subject = (where / base).string();
  remove_stale_temps(where);
  const mode_t mask = current_umask();
  for (int attempt = 0; attempt < kCreateAttempts; ++attempt) {
    std::string pattern = (where / ("." + base + kTag + "XXXXXX")).string();
    std::vector<char> name(pattern.begin(), pattern.end());
    name.push_back('\0');
    Fd fd;
    if (directory) {
      if (!::mkdtemp(name.data())) throw IoError("cannot create output", subject, std::strerror(errno));
      // mkdtemp makes it 0700: give the output what a plain mkdir would have.
      ::chmod(name.data(), 0777 & ~mask);
      fd = open_entry(name.data());
    } else {
      fd = Fd(::mkostemp(name.data(), O_CLOEXEC));
      if (!fd.valid()) throw IoError("cannot create output", subject, std::strerror(errno));
      ::fchmod(fd.get(), 0666 & ~mask);
    }
    if (!fd.valid()) continue;  // removed by a concurrent cleaner before we could open it
    if (!try_lock(fd.get())) continue;  // a cleaner holds it and is removing it
    struct stat by_path {}, by_fd {};
    if (::lstat(name.data(), &by_path) != 0 || ::fstat(fd.get(), &by_fd) != 0 ||
        !same_inode(by_path, by_fd) || by_fd.st_nlink == 0)
      continue;  // a cleaner removed it between mkdtemp and our lock
    LockedTemp t;
    t.path_ = fs::path(name.data());
    t.lock_ = std::move(fd);
    return t;
  }
  throw IoError("cannot create output", subject, "the temporary was removed again and again");
}

LockedTemp::LockedTemp(LockedTemp&& other) noexcept
    : path_(std::move(other.path_)), lock_(std::move(other.lock_)) {
  other.path_.clear();
}

LockedTemp& LockedTemp::operator=(LockedTemp&& other) noexcept {
  if (this != &other) {
    remove();
    path_ = std::move(other.path_);
    other.path_.clear();
    lock_ = std::move(other.lock_);
  }
  return *this;
}

LockedTemp::~LockedTemp() { remove(); }

void LockedTemp::keep() {
  path_.clear();
  lock_ = Fd();
}

void LockedTemp::remove() {
  if (!path_.empty()) {
    std::error_code ec;
    fs::remove_all(path_, ec);
    path_.clear();
  }
  lock_ = Fd();
}

}  // namespace rz::io
