// Stem directories: audio files plus manifest.json; opened with checks, created atomically.
#pragma once

#include <filesystem>
#include <string>

#include "rz/audio/file.hpp"
#include "rz/io/temp.hpp"
#include "rz/stems/manifest.hpp"

namespace rz::stems {

enum class Verify {
  kHeaders,  // manifest parses; every stem exists, has the manifest's size, rate, channels, frames
  kHashes,   // and its SHA-256 matches
};

// A committed stem directory, opened for reading.
class StemDir {
 public:
  // Throws InputError naming the first problem found. manifest.json must be a regular file of at
  // most kMaxManifestBytes (a FIFO or device in its place is refused without blocking); every
  // stem file must be a regular file that resolves inside `dir` (a symlink leading out is
  // refused) and match the manifest.
  static StemDir open(const std::filesystem::path& dir, Verify verify = Verify::kHeaders);

  const std::filesystem::path& path() const { return path_; }
  const Manifest& manifest() const { return manifest_; }
  std::filesystem::path stem_path(const StemEntry& stem) const { return path_ / stem.file; }
  // The stem named `name`; throws UsageError listing the stems when absent.
  const StemEntry& stem(const std::string& name) const;

 private:
  std::filesystem::path path_;
  Manifest manifest_;
};

// True when `dir` is a directory holding a manifest.json of schema rz-manifest.
bool is_stem_dir(const std::filesystem::path& dir);

// Builds a stem directory in a hidden, locked temporary sibling (".NAME.rz-tmp-XXXXXX", see
// io::LockedTemp: one left by a killed run is removed by the next) and puts it in place on
// commit(), manifest written last. Destroyed uncommitted, it removes everything it wrote.
class StemDirWriter {
 public:
  // Refuses an existing `final_dir` unless `force`, and with `force` anything but a stem directory
  // (is_stem_dir); throws IoError when the parent is unwritable.
  StemDirWriter(const std::filesystem::path& final_dir, bool force);
  ~StemDirWriter();
  StemDirWriter(const StemDirWriter&) = delete;
  StemDirWriter& operator=(const StemDirWriter&) = delete;

  const std::filesystem::path& final_path() const { return final_; }
  // Where to write the file of stem `name` (float32 WAV). Throws InputError when `name` is not a
  // valid stem name (bad_stem_name_reason): names from manifests and checkpoints never become
  // paths outside the directory.
  std::filesystem::path stem_file_path(const std::string& name) const;
  // A hidden scratch file inside the temporary directory (".<label>"), gone with it.
  std::filesystem::path scratch_path(const std::string& label) const;
  audio::Writer open_stem(const std::string& name, int sample_rate_hz, int channels) const;
  // Records a stem whose file is complete and closed: measures size and SHA-256.
  void add_stem(const std::string& name, int64_t frames);
  // The same with a SHA-256 the caller computed over exactly the file's bytes as it wrote them
  // (saves reading a large file again).
  void add_stem(const std::string& name, int64_t frames, const std::string& sha256);
  // Sets the role (see kRoleRemoved) of the stem `name` already added; "" makes it ordinary again.
  // A stage that carries a stem over passes the input's role on (copy_stem does). Throws Error
  // when no stem `name` was added or `role` is not one bad_role_reason() accepts.
  void set_stem_role(const std::string& name, const std::string& role);

  Manifest& manifest() { return manifest_; }
  // Writes manifest.json and puts the directory in place; returns the final path. An existing
  // output (allowed by --force) is swapped out atomically: the place holds the old directory or
  // the new one at every instant.
  std::filesystem::path commit();

 private:
  std::filesystem::path final_;
  io::LockedTemp temp_;
  bool force_;
  Manifest manifest_;
};

// Default output name: "<input>.<stage>" beside the input ("gig.mp3" -> "gig.<stage>" for files
// with an audio extension when `strip_extension`).
std::filesystem::path default_output(const std::filesystem::path& input, const std::string& stage,
                                     bool strip_extension = false);

// A single output file written as a hidden, locked temporary sibling (io::LockedTemp) and renamed
// into place on commit().
class AtomicFile {
 public:
  AtomicFile(const std::filesystem::path& final_path, bool force);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  const std::filesystem::path& temp_path() const { return temp_.path(); }
  const std::filesystem::path& final_path() const { return final_; }
  void commit();

 private:
  std::filesystem::path final_;
  io::LockedTemp temp_;
};

// Any other output directory (rz-report's page), built like a stem directory: in a hidden, locked
// temporary sibling, put in place on commit() (an existing one swapped out atomically). An
// existing `final_dir` is refused unless `force`, and even then unless it is a directory holding
// the file `marker` (what the tool writes into every such directory): --force never deletes a
// folder of someone's work.
class AtomicDir {
 public:
  AtomicDir(const std::filesystem::path& final_dir, bool force, const std::string& marker);
  ~AtomicDir();
  AtomicDir(const AtomicDir&) = delete;
  AtomicDir& operator=(const AtomicDir&) = delete;
  const std::filesystem::path& path() const { return temp_.path(); }  // where to write
  const std::filesystem::path& final_path() const { return final_; }
  std::filesystem::path commit();

 private:
  std::filesystem::path final_;
  io::LockedTemp temp_;
  bool force_;
  std::string marker_;
};

// Writes `text` to `path` and checks that it reached the disk (flush, fsync, close).
void write_text_file(const std::filesystem::path& path, const std::string& text);

}  // namespace rz::stems
