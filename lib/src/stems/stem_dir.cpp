// Stem directory open-with-checks and atomic creation (temporary sibling, manifest last, rename).
#include "rz/stems/stem_dir.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "rz/error.hpp"
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
  if (!fs::exists(mpath, ec)) {
    throw InputError("not a stem directory", dir.string(), "no manifest.json");
  }
  std::ifstream in(mpath);
  if (!in) throw InputError("cannot read", mpath.string(), std::strerror(errno));
  json j;
  try {
    in >> j;
  } catch (const json::parse_error& e) {
    std::string what = e.what();
    auto pos = what.find("]: ");  // drop nlohmann's "[json.exception.parse_error.101] " prefix
    throw InputError("invalid manifest", mpath.string(),
                     "bad JSON: " + (pos == std::string::npos ? what : what.substr(pos + 3)));
  }
  StemDir d;
  d.path_ = dir;
  d.manifest_ = Manifest::from_json(j, mpath.string());
  const Manifest& m = d.manifest_;
  for (const auto& s : m.stems) {
    const fs::path p = dir / s.file;
    const std::string subject = p.string();
    if (!fs::is_regular_file(p, ec)) {
      throw InputError("missing stem", subject,
                       "the manifest names stem '" + s.name + "' but the file is absent");
    }
    if (s.bytes != 0 && fs::file_size(p, ec) != s.bytes) {
      throw InputError("stem does not match manifest", subject,
                       std::to_string(fs::file_size(p, ec)) + " bytes, manifest says " +
                           std::to_string(s.bytes));
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

const StemEntry& StemDir::stem(const std::string& name) const {
  if (const StemEntry* s = manifest_.find(name)) return *s;
  std::string names;
  for (const auto& s : manifest_.stems) names += (names.empty() ? "" : ", ") + s.name;
  throw UsageError(describe("no such stem", name, "this directory has " + names));
}

namespace {

fs::path make_temp_sibling(const fs::path& final_path, bool directory) {
  fs::path parent = final_path.parent_path();
  if (parent.empty()) parent = ".";
  std::error_code ec;
  if (!fs::is_directory(parent, ec)) {
    throw IoError("cannot create output", final_path.string(), "parent directory does not exist");
  }
  std::string pattern = (parent / ("." + final_path.filename().string() + ".tmp-XXXXXX")).string();
  std::vector<char> name(pattern.begin(), pattern.end());
  name.push_back('\0');
  // mkdtemp/mkstemp create private (0700/0600) entries; give the output the permissions a plain
  // mkdir/creat would have under the user's umask.
  const mode_t mask = umask(0);
  umask(mask);
  if (directory) {
    if (!mkdtemp(name.data())) {
      throw IoError("cannot create output", final_path.string(), std::strerror(errno));
    }
    chmod(name.data(), 0777 & ~mask);
  } else {
    int fd = mkstemp(name.data());
    if (fd < 0) throw IoError("cannot create output", final_path.string(), std::strerror(errno));
    fchmod(fd, 0666 & ~mask);
    close(fd);
  }
  return fs::path(name.data());
}

void refuse_existing(const fs::path& final_path, bool force) {
  std::error_code ec;
  if (fs::exists(fs::symlink_status(final_path, ec)) && !force) {
    throw IoError("output exists", final_path.string(), "use --force to replace it");
  }
}

}  // namespace

StemDirWriter::StemDirWriter(const fs::path& final_dir, bool force)
    : final_(final_dir), force_(force) {
  std::error_code ec;
  refuse_existing(final_, force);
  if (force && fs::exists(final_, ec) && !fs::is_directory(final_, ec)) {
    throw IoError("output exists", final_.string(), "is a file, not a stem directory");
  }
  temp_ = make_temp_sibling(final_, true);
}

StemDirWriter::~StemDirWriter() {
  if (!committed_) {
    std::error_code ec;
    fs::remove_all(temp_, ec);
  }
}

fs::path StemDirWriter::stem_file_path(const std::string& name) const {
  return temp_ / (name + ".wav");
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
  add_stem(name, frames, sha256_file(temp_ / (name + ".wav")));
}

void StemDirWriter::add_stem(const std::string& name, int64_t frames, const std::string& sha256) {
  StemEntry e;
  e.name = name;
  e.file = name + ".wav";
  e.format = "wav/float32";
  e.frames = frames;
  e.bytes = fs::file_size(temp_ / e.file);
  e.sha256 = sha256;
  manifest_.stems.push_back(e);
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

namespace {

// Puts `temp` at `final`, replacing an existing `final` (already allowed by --force) safely: the
// old one is moved aside first and deleted only after the new one is in place.
void replace_into_place(const fs::path& temp, const fs::path& final_path) {
  std::error_code ec;
  fs::path aside;
  if (fs::exists(fs::symlink_status(final_path, ec))) {
    aside = make_temp_sibling(final_path, true);
    fs::remove(aside, ec);
    fs::rename(final_path, aside, ec);
    if (ec) throw IoError("cannot replace output", final_path.string(), ec.message());
  }
  fs::rename(temp, final_path, ec);
  if (ec) {
    if (!aside.empty()) fs::rename(aside, final_path);
    throw IoError("cannot create output", final_path.string(), ec.message());
  }
  if (!aside.empty()) fs::remove_all(aside, ec);
}

}  // namespace

fs::path StemDirWriter::commit() {
  manifest_.frames = manifest_.stems.empty() ? 0 : manifest_.stems.front().frames;
  write_text_file(temp_ / kManifestFile, manifest_.to_json().dump(2) + "\n");
  refuse_existing(final_, force_);  // it may have appeared while we worked
  replace_into_place(temp_, final_);
  committed_ = true;
  return final_;
}

fs::path default_output(const fs::path& input, const std::string& stage, bool strip_extension) {
  fs::path in = input;
  while (!in.empty() && in.filename().empty()) in = in.parent_path();  // "dir/" -> "dir"
  fs::path base = strip_extension ? in.parent_path() / in.stem() : in;
  return fs::path(base.string() + "." + stage);
}

AtomicFile::AtomicFile(const fs::path& final_path, bool force) : final_(final_path) {
  std::error_code ec;
  refuse_existing(final_, force);
  if (fs::is_directory(final_, ec))
    throw IoError("output exists", final_.string(), "is a directory");
  temp_ = make_temp_sibling(final_, false);
}

AtomicFile::~AtomicFile() {
  if (!committed_) {
    std::error_code ec;
    fs::remove(temp_, ec);
  }
}

void AtomicFile::commit() {
  std::error_code ec;
  fs::rename(temp_, final_, ec);
  if (ec) throw IoError("cannot create output", final_.string(), ec.message());
  committed_ = true;
}

}  // namespace rz::stems
