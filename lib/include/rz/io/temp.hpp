// Hidden temporaries that a killed process cannot leave behind for good.
//
// Every output is built in a temporary beside its final place and renamed into place when
// complete. A process killed with SIGKILL (or by the OOM killer, or a power cut) cannot remove its
// temporary, so each temporary is created under an exclusive flock(2) that its owner holds for as
// long as it lives; the kernel drops the lock when the process dies, however it dies. An entry
// with rz's temporary name that nobody holds a lock on belongs to a dead process, and the next rz
// process that makes a temporary in the same directory removes it (remove_stale_temps).
//
// Names: "<dir>/.<base>.rz-tmp-XXXXXX" (X: mkstemp's letters and digits). Only entries of exactly
// that form, owned by the current user, are ever considered stale.
#pragma once

#include <filesystem>
#include <string>

#include "rz/io/file.hpp"

namespace rz::io {

class LockedTemp {
 public:
  // Creates "<dir>/.<base>.rz-tmp-XXXXXX", an empty directory (`directory`) or an empty file,
  // locked, with the permissions a plain mkdir/creat would give under the umask. Removes stale
  // temporaries in `dir` first. Throws rz::IoError "cannot create output '<dir>/<base>'".
  static LockedTemp create(const std::filesystem::path& dir, const std::string& base,
                           bool directory);

  LockedTemp() = default;
  LockedTemp(LockedTemp&&) noexcept;
  LockedTemp& operator=(LockedTemp&&) noexcept;
  LockedTemp(const LockedTemp&) = delete;
  LockedTemp& operator=(const LockedTemp&) = delete;
  // Removes the entry (recursively) unless kept.
  ~LockedTemp();

  const std::filesystem::path& path() const { return path_; }
  bool empty() const { return path_.empty(); }
  // The entry has been renamed into its final place (or is otherwise no longer ours to remove):
  // forget its path and drop the lock.
  void keep();
  // Removes the entry now (recursively); errors are ignored, as in the destructor.
  void remove();

 private:
  std::filesystem::path path_;
  Fd lock_;
};

// True for names of the form ".<base>.rz-tmp-XXXXXX".
bool is_temp_name(const std::string& name);

// Removes every entry of `dir` with a temporary's name, owned by this user, whose lock nobody
// holds: the leftovers of killed processes. Live temporaries of other processes are untouched.
// Never throws; returns how many entries it removed.
int remove_stale_temps(const std::filesystem::path& dir);

}  // namespace rz::io
