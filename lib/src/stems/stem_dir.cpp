// Stem directory open-with-checks and atomic creation (temporary sibling, manifest last, rename).
#include "rz/stems/stem_dir.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "rz/error.hpp"
#include "rz/io/file.hpp"
#include "rz/io/json.hpp"
#include "rz/stems/sha256.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace rz::stems {

StemDir StemDir::open(const fs::path& dir, Verify verify) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) throw InputError("cannot open", dir.string(), "no such directory");
  if (!fs::is_directory(dir, ec)) {
    throw InputError("not a stem directory", dir.string(),
                     "is a file (make one with rz-ingest first)");
  }
  const fs::path mpath = dir / kManifestFile;
  if (!fs::exists(fs::symlink_status(mpath, ec))) {
    throw InputError("not a stem directory", dir.string(), "no manifest.json");
  }
  // A FIFO or device in its place is refused before it is read, and the size is capped.
  const std::string text = io::read_file(mpath, kMaxManifestBytes, "manifest", "invalid manifest");
  StemDir d;
  d.path_ = dir;
  d.manifest_ = Manifest::parse(text, mpath.string());
  const Manifest& m = d.manifest_;
  for (const auto& s : m.stems) {
    const fs::path p = dir / s.file;
    const std::string subject = p.string();
    if (!fs::exists(fs::symlink_status(p, ec))) {
      throw InputError("missing stem", subject,
                       "the manifest names stem '" + s.name + "' but the file is absent");
    }
    if (!io::resolves_inside(p, dir)) {
      throw InputError("bad stem", subject, "a symlink that leads out of the stem directory");
    }
    uint64_t bytes = 0;
    io::open_regular(p, &bytes, "bad stem");  // a FIFO or device is never opened for decoding
    if (s.bytes != 0 && bytes != s.bytes) {
      throw InputError("stem does not match manifest", subject,
                       std::to_string(bytes) + " bytes, manifest says " + std::to_string(s.bytes));
    }
    audio::Reader r(p);
    const auto& info = r.info();
    if (info.sample_rate_hz != m.sample_rate_hz) {
      throw InputError("stem does not match manifest", subject,
                       std::to_string(info.sample_rate_hz) + " Hz, manifest says " +
                           std::to_string(m.sample_rate_hz) + " Hz");
    }
    if (info.channels != m.channels) {
      throw InputError(
          "stem does not match manifest", subject,
          std::to_string(info.channels) + " channels, manifest says " + std::to_string(m.channels));
    }
    if (info.frames != s.frames) {
      throw InputError(
          "stem does not match manifest", subject,
          std::to_string(info.frames) + " frames, manifest says " + std::to_string(s.frames));
    }
    if (verify == Verify::kHashes && !s.sha256.empty() && sha256_file(p) != s.sha256) {
      throw InputError("stem does not match manifest", subject, "SHA-256 differs");
    }
  }
  return d;
}

bool is_stem_dir(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return false;
  try {
    const json j = io::read_json_file(dir / kManifestFile, kMaxManifestBytes, "manifest",
                                      "invalid manifest");
    return io::get_checked<std::string>(j, "schema") == std::string(kSchemaName);
  } catch (const Interrupted&) {
    throw;  // a signal stops the run: it says nothing about the files
  } catch (const Error&) {
    return false;
  }
}

const StemEntry& StemDir::stem(const std::string& name) const {
  if (const StemEntry* s = manifest_.find(name)) return *s;
  std::string names;
  for (const auto& s : manifest_.stems) names += (names.empty() ? "" : ", ") + s.name;
  throw UsageError(describe("no such stem", printable(name), "this directory has " + names));
}

namespace {

fs::path parent_of(const fs::path& final_path) {
  const fs::path parent = final_path.parent_path();
  return parent.empty() ? fs::path(".") : parent;
}

// A locked hidden temporary beside `final_path` (io::LockedTemp), after checking the parent.
io::LockedTemp make_temp_sibling(const fs::path& final_path, bool directory) {
  const fs::path parent = parent_of(final_path);
  std::error_code ec;
  if (!fs::is_directory(parent, ec)) {
    throw IoError("cannot create output", final_path.string(), "parent directory does not exist");
  }
  return io::LockedTemp::create(parent, final_path.filename().string(), directory);
}

bool exists_no_follow(const fs::path& p) {
  std::error_code ec;
  return fs::exists(fs::symlink_status(p, ec));
}

void refuse_existing(const fs::path& final_path, bool force) {
  if (exists_no_follow(final_path) && !force) {
    throw IoError("output exists", final_path.string(), "use --force to replace it");
  }
}

// Renames `from` to `to`; with `exchange`, atomically swaps the two (both must exist), else fails
// with EEXIST when `to` exists. Returns errno, 0 on success.
int rename_exclusive(const fs::path& from, const fs::path& to, bool exchange) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(),
                  exchange ? RENAME_EXCHANGE : RENAME_NOREPLACE) == 0)
    return 0;
  return errno;
}

// Puts `temp` at `final_path`. An existing `final_path` (already allowed by --force) is swapped
// out atomically (RENAME_EXCHANGE), so the place holds the old output or the new one at every
// instant, even if the process is killed; the old one, now under the temporary's name, is removed
// afterwards (or by the next run, if this one dies first). File systems without the exchange fall
// back to moving the old output aside first.
void replace_into_place(io::LockedTemp& temp, const fs::path& final_path) {
  const bool replace = exists_no_follow(final_path);
  int err = rename_exclusive(temp.path(), final_path, replace);
  if (err == 0) {
    if (!replace) temp.keep();
    temp.remove();  // with the exchange: the old output, now at the temporary's name
    return;
  }
  if (replace && (err == EINVAL || err == ENOSYS || err == ENOTSUP)) {
    io::LockedTemp aside = make_temp_sibling(final_path, true);
    std::error_code ec;
    fs::remove(aside.path(), ec);
    fs::rename(final_path, aside.path(), ec);
    if (ec) throw IoError("cannot replace output", final_path.string(), ec.message());
    fs::rename(temp.path(), final_path, ec);
    if (ec) {
      std::error_code ignore;
      fs::rename(aside.path(), final_path, ignore);
      throw IoError("cannot create output", final_path.string(), ec.message());
    }
    temp.keep();
    return;  // `aside` removes the old output
  }
  if (err == EEXIST || err == ENOTEMPTY) {
    throw IoError("output exists", final_path.string(), "it appeared while this run worked");
  }
  throw IoError("cannot create output", final_path.string(), std::strerror(err));
}

// An existing output directory may be replaced only with --force, and only when it is a stem
// directory: `-o ~/thesis -f` must not delete a folder of someone's work.
void check_replaceable_dir(const fs::path& final_dir, bool force) {
  refuse_existing(final_dir, force);
  if (!exists_no_follow(final_dir)) return;
  std::error_code ec;
  if (!fs::is_directory(final_dir, ec)) {
    throw IoError("output exists", final_dir.string(), "is a file, not a stem directory");
  }
  if (!is_stem_dir(final_dir)) {
    throw IoError("output exists", final_dir.string(),
                  "not a stem directory (no rz manifest.json); --force replaces only those");
  }
}

}  // namespace

StemDirWriter::StemDirWriter(const fs::path& final_dir, bool force)
    : final_(final_dir), force_(force) {
  check_replaceable_dir(final_, force);
  temp_ = make_temp_sibling(final_, true);
}

StemDirWriter::~StemDirWriter() = default;

fs::path StemDirWriter::stem_file_path(const std::string& name) const {
  if (const std::string why = bad_stem_name_reason(name); !why.empty()) {
    // Names come from manifests and checkpoints: never let one become a path elsewhere.
    throw InputError("bad stem name " + in_quotes(name, kMaxStemNameBytes) + ": " + why);
  }
  return temp_.path() / (name + ".wav");
}

fs::path StemDirWriter::scratch_path(const std::string& label) const {
  return temp_.path() / ("." + label);
}

audio::Writer StemDirWriter::open_stem(const std::string& name, int sample_rate_hz,
                                       int channels) const {
  audio::WriteSpec spec;
  spec.sample_rate_hz = sample_rate_hz;
  spec.channels = channels;
  spec.container = "wav";
  spec.sample_format = audio::SampleFormat::kFloat32;
  return audio::Writer(stem_file_path(name), spec);
}

void StemDirWriter::add_stem(const std::string& name, int64_t frames) {
  add_stem(name, frames, sha256_file(stem_file_path(name)));
}

void StemDirWriter::add_stem(const std::string& name, int64_t frames, const std::string& sha256) {
  StemEntry e;
  e.name = name;
  e.file = stem_file_path(name).filename().string();
  e.format = "wav/float32";
  e.frames = frames;
  e.bytes = fs::file_size(temp_.path() / e.file);
  e.sha256 = sha256;
  manifest_.stems.push_back(e);
}

void StemDirWriter::set_stem_role(const std::string& name, const std::string& role) {
  if (const std::string why = bad_role_reason(role); !why.empty())
    throw Error("bad stem role", role, why);
  for (auto& s : manifest_.stems) {
    if (s.name == name) {
      s.role = role;
      return;
    }
  }
  throw Error("cannot set the role", name, "no such stem in the output yet");
}

void write_text_file(const fs::path& path, const std::string& text) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw IoError("cannot write", path.string(), std::strerror(errno));
  bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  ok = std::fflush(f) == 0 && ok;
  ok = fsync(fileno(f)) == 0 && ok;
  int saved = errno;
  ok = std::fclose(f) == 0 && ok;
  if (!ok) throw IoError("cannot write", path.string(), std::strerror(saved ? saved : errno));
}

fs::path StemDirWriter::commit() {
  manifest_.frames = manifest_.stems.empty() ? 0 : manifest_.stems.front().frames;
  write_text_file(temp_.path() / kManifestFile, io::dump_json(manifest_.to_json(), 2) + "\n");
  check_replaceable_dir(final_, force_);  // something may have appeared there while we worked
  replace_into_place(temp_, final_);
  return final_;
}

fs::path default_output(const fs::path& input, const std::string& stage, bool strip_extension) {
  fs::path in = input;
  while (!in.empty() && in.filename().empty()) in = in.parent_path();  // "dir/" -> "dir"
  fs::path base = strip_extension ? in.parent_path() / in.stem() : in;
  return fs::path(base.string() + "." + stage);
}

namespace {

void check_replaceable_marked_dir(const fs::path& final_dir, bool force,
                                  const std::string& marker) {
  refuse_existing(final_dir, force);
  if (!exists_no_follow(final_dir)) return;
  std::error_code ec;
  if (!fs::is_directory(fs::symlink_status(final_dir, ec)) ||
      !fs::is_regular_file(fs::symlink_status(final_dir / marker, ec))) {
    throw IoError("output exists", final_dir.string(),
                  "not an rz output directory (no " + marker + "); --force replaces only those");
  }
}

}  // namespace

AtomicDir::AtomicDir(const fs::path& final_dir, bool force, const std::string& marker)
    : final_(final_dir), force_(force), marker_(marker) {
  check_replaceable_marked_dir(final_, force, marker);
  temp_ = make_temp_sibling(final_, true);
}

AtomicDir::~AtomicDir() = default;

fs::path AtomicDir::commit() {
  check_replaceable_marked_dir(final_, force_, marker_);
  replace_into_place(temp_, final_);
  return final_;
}

AtomicFile::AtomicFile(const fs::path& final_path, bool force) : final_(final_path) {
  std::error_code ec;
  refuse_existing(final_, force);
  if (fs::is_directory(final_, ec))
    throw IoError("output exists", final_.string(), "is a directory");
  temp_ = make_temp_sibling(final_, false);
}

AtomicFile::~AtomicFile() = default;

void AtomicFile::commit() {
  // A plain rename replaces an existing file atomically (allowed by --force in the constructor).
  std::error_code ec;
  fs::rename(temp_.path(), final_, ec);
  if (ec) throw IoError("cannot create output", final_.string(), ec.message());
  temp_.keep();
}

}  // namespace rz::stems
