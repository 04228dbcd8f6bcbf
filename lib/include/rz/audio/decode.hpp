// Open any recording: libsndfile first, then ffmpeg (when installed) for other containers.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "rz/audio/file.hpp"
#include "rz/io/temp.hpp"

namespace rz::audio {

struct DecodeOptions {
  bool allow_ffmpeg = true;
  std::string ffmpeg = "ffmpeg";   // program name or path
  std::filesystem::path temp_dir;  // where ffmpeg's intermediate file goes; empty: system temp
};

// A recording opened for reading. When ffmpeg had to decode it, the decoded float WAV lives in a
// locked temporary file ("<temp_dir>/.rz-decode.rz-tmp-XXXXXX", io::LockedTemp) removed when this
// object dies, or by the next decode when the process was killed. A signal (rz::request_interrupt)
// stops ffmpeg and throws rz::Interrupted.
class DecodedFile {
 public:
  DecodedFile(const std::filesystem::path& path, const DecodeOptions& options);
  ~DecodedFile();
  DecodedFile(const DecodedFile&) = delete;
  DecodedFile& operator=(const DecodedFile&) = delete;

  Reader& reader() { return *reader_; }
  const FileInfo& info() const { return reader_->info(); }
  bool via_ffmpeg() const { return !temp_.empty(); }
  const std::filesystem::path& temp_path() const { return temp_.path(); }
  // Container as seen by the decoder (ffmpeg's format name when ffmpeg decoded it).
  const std::string& source_container() const { return source_container_; }
  const std::string& source_encoding() const { return source_encoding_; }

 private:
  io::LockedTemp temp_;
  std::optional<Reader> reader_;
  std::string source_container_;
  std::string source_encoding_;
};

// Finds `program` on PATH (or as given when it contains a '/'); empty when absent.
std::filesystem::path find_program(const std::string& program);

}  // namespace rz::audio
