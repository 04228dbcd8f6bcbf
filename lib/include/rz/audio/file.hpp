// Streaming audio file I/O over libsndfile: read and write interleaved float32 in blocks.
//
// Units: frames are per channel (one frame = one sample of every channel); samples are float32 with
// full scale at +/-1.0. Nothing here holds a whole file in memory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "rz/error.hpp"

namespace rz::audio {

// What any rz reader takes at most: a header declaring more is refused before a buffer is sized
// from it (a block of 8192 frames of 65535 channels would be 2 GiB).
inline constexpr int kMaxChannels = 64;
inline constexpr int kMaxSampleRateHz = 768000;

struct FileInfo {
  int sample_rate_hz = 0;
  int channels = 0;
  int64_t frames = 0;
  std::string container;  // "wav", "flac", "ogg", "mp3", "aiff", ... (lower case)
  std::string
      encoding;  // "pcm16", "pcm24", "pcm32", "float32", "float64", "vorbis", "opus", "mp3", ...
  int64_t declared_frames = -1;  // what a WAV/AIFF header promises when more than is present
  bool truncated() const { return declared_frames > frames; }
  double duration_s() const {
    return sample_rate_hz > 0 ? static_cast<double>(frames) / sample_rate_hz : 0.0;
  }
};

// A file libsndfile reads but whose declared channel count or sample rate is beyond
// kMaxChannels / kMaxSampleRateHz: no other decoder is tried on it.
class AudioLimitError : public InputError {
 public:
  using InputError::InputError;
};

// Sequential reader. Throws InputError naming the file when it cannot be opened or decoded, is not
// a regular file (a FIFO or device is refused before it is opened for decoding), or declares more
// than kMaxChannels channels or a sample rate outside 1..kMaxSampleRateHz (AudioLimitError).
class Reader {
 public:
  explicit Reader(const std::filesystem::path& path);
  ~Reader();
  Reader(Reader&&) noexcept;
  Reader& operator=(Reader&&) noexcept;

  const FileInfo& info() const { return info_; }
  const std::filesystem::path& path() const { return path_; }
  // Reads up to `frames` frames into `interleaved` (frames * channels floats); returns frames read,
  // 0 at the end. Throws InputError on a decode error (e.g. a truncated file).
  size_t read(float* interleaved, size_t frames);
  void seek(int64_t frame);

 private:
  std::filesystem::path path_;
  FileInfo info_;
  struct Handle;
  std::unique_ptr<Handle> handle_;
};

enum class SampleFormat { kFloat32, kPcm16, kPcm24, kPcm32, kLossy };

// Bits of an integer PCM format (16, 24, 32), 0 for float and lossy formats.
int pcm_bits(SampleFormat format);
std::string to_string(SampleFormat format);                 // "float32", "pcm16", ..., "lossy"
SampleFormat parse_sample_format(const std::string& text);  // "16", "24", "32", "float", "f32"

struct WriteSpec {
  int sample_rate_hz = 44100;
  int channels = 2;
  std::string container = "wav";  // wav, flac, ogg, opus, mp3, aiff, w64, caf
  SampleFormat sample_format = SampleFormat::kFloat32;
  double lossy_quality = 0.9;  // 0..1 for ogg/opus/mp3 (libsndfile SFC_SET_VBR_ENCODING_QUALITY)
  // mp3 and opus: a constant bitrate (SFC_SET_BITRATE_MODE) picked by lossy_quality q through
  // libsndfile's mappings: mp3 320 - (1 - q) * 288 kbps (LAME rounds to a standard rate), opus
  // 6 + q * 250 kbps per channel. Otherwise the encoders vary it (libsndfile 1.2's default).
  bool constant_bitrate = false;
};

// Container from a file name's extension (".flac" -> "flac"); throws UsageError for unknown ones.
std::string container_for_path(const std::filesystem::path& path);
// The sample formats a container can hold; the first is its default.
bool container_supports(const std::string& container, SampleFormat format);
SampleFormat default_sample_format(const std::string& container);

// Checks, without creating anything, that libsndfile can write `spec`; throws UsageError naming
// `path` (e.g. Opus only at 8, 12, 16, 24 or 48 kHz).
void check_write_spec(const WriteSpec& spec, const std::filesystem::path& path);

// Sequential writer. WAV grows into RF64 past 4 GiB. close() flushes and reports failures; the
// destructor closes silently (use close() to see errors).
class Writer {
 public:
  Writer(const std::filesystem::path& path, const WriteSpec& spec);
  ~Writer();
  Writer(Writer&&) noexcept;
  Writer& operator=(Writer&&) noexcept;

  const WriteSpec& spec() const { return spec_; }
  // Floats at full scale +/-1.0. Integer PCM is rounded to nearest and clamped (no dither: use
  // dsp::TpdfDither with write_int for deliveries).
  void write(const float* interleaved, size_t frames);
  // Integer PCM already quantised by the caller, left-justified in int32 (libsndfile's int API):
  // a 16-bit value v is passed as v << 16. Bypasses libsndfile's float scaling.
  void write_int(const int32_t* interleaved, size_t frames);
  int64_t frames_written() const { return frames_written_; }
  void close();

 private:
  std::filesystem::path path_;
  WriteSpec spec_;
  int64_t frames_written_ = 0;
  std::vector<int32_t> quantised_;
  struct Handle;
  std::unique_ptr<Handle> handle_;
};

// Throws InputError "non-finite audio '<file>': NaN or infinity at T s" when a sample of the block
// (interleaved, `frames` frames starting at `first_frame`) is not finite. Float files can hold
// them; no stage may pass them on.
void check_finite(const float* interleaved, size_t frames, int channels, int64_t first_frame,
                  int sample_rate_hz, const std::filesystem::path& file);

// Versions of the audio libraries, for --version.
std::string library_versions();

}  // namespace rz::audio
