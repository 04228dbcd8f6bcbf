// libsndfile-backed reader and writer; maps libsndfile's formats to rz's names and errors.
#include "rz/audio/file.hpp"

#include <dlfcn.h>
#include <mpg123.h>
#include <sndfile.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>

#include "rz/audio/pcm.hpp"
#include "rz/error.hpp"
#include "rz/io/file.hpp"

// libmpg123, libsndfile's MP3 decoder, prints "[src/libmpg123/layer3.c:...] error: ..." lines on
// stderr for every damaged frame unless its handle has MPG123_QUIET, and libsndfile 1.2 creates
// its handles without it and offers no way to set decoder flags. A tool's stderr carries rz's own
// one-line messages only, so rz defines mpg123_new itself: every rz binary exports this symbol
// (-Wl,--export-dynamic-symbol=mpg123_new, set on rz::core), so libsndfile's call binds here
// first, and it calls the real one (dlsym RTLD_NEXT) and adds MPG123_QUIET. Decoding errors still
// reach rz through libsndfile's return codes.
extern "C" mpg123_handle* mpg123_new(const char* decoder, int* error) {
  using NewFn = mpg123_handle* (*)(const char*, int*);
  static const NewFn real = reinterpret_cast<NewFn>(dlsym(RTLD_NEXT, "mpg123_new"));
  if (!real) {
    if (error) *error = MPG123_ERR;
    return nullptr;
  }
  mpg123_handle* handle = real(decoder, error);
  if (handle) mpg123_param(handle, MPG123_ADD_FLAGS, MPG123_QUIET, 0.0);
  return handle;
}

namespace rz::audio {

namespace {

std::string container_name(int format) {
  switch (format & SF_FORMAT_TYPEMASK) {
    case SF_FORMAT_WAV:
      return "wav";
    case SF_FORMAT_WAVEX:
      return "wav";
    case SF_FORMAT_RF64:
      return "wav";
    case SF_FORMAT_W64:
      return "w64";
    case SF_FORMAT_AIFF:
      return "aiff";
    case SF_FORMAT_AU:
      return "au";
    case SF_FORMAT_FLAC:
      return "flac";
    case SF_FORMAT_OGG:
      return "ogg";
    case SF_FORMAT_CAF:
      return "caf";
    case SF_FORMAT_MPEG:
      return "mp3";
    case SF_FORMAT_RAW:
      return "raw";
    default:
      return "other";
  }
}

std::string encoding_name(int format) {
  switch (format & SF_FORMAT_SUBMASK) {
    case SF_FORMAT_PCM_S8:
      return "pcm8";
    case SF_FORMAT_PCM_U8:
      return "pcm8";
    case SF_FORMAT_PCM_16:
      return "pcm16";
    case SF_FORMAT_PCM_24:
      return "pcm24";
    case SF_FORMAT_PCM_32:
      return "pcm32";
    case SF_FORMAT_FLOAT:
      return "float32";
    case SF_FORMAT_DOUBLE:
      return "float64";
    case SF_FORMAT_VORBIS:
      return "vorbis";
    case SF_FORMAT_OPUS:
      return "opus";
    case SF_FORMAT_MPEG_LAYER_I:
      return "mp1";
    case SF_FORMAT_MPEG_LAYER_II:
      return "mp2";
    case SF_FORMAT_MPEG_LAYER_III:
      return "mp3";
    case SF_FORMAT_ULAW:
      return "ulaw";
    case SF_FORMAT_ALAW:
      return "alaw";
    default:
      return "other";
  }
}

int bytes_per_sample(int format) {
  switch (format & SF_FORMAT_SUBMASK) {
    case SF_FORMAT_PCM_S8:
    case SF_FORMAT_PCM_U8:
    case SF_FORMAT_ULAW:
    case SF_FORMAT_ALAW:
      return 1;
    case SF_FORMAT_PCM_16:
      return 2;
    case SF_FORMAT_PCM_24:
      return 3;
    case SF_FORMAT_PCM_32:
    case SF_FORMAT_FLOAT:
      return 4;
    case SF_FORMAT_DOUBLE:
      return 8;
    default:
      return 0;
  }
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

}  // namespace

struct Reader::Handle {
  SNDFILE* file = nullptr;
  ~Handle() {
    if (file) sf_close(file);
  }
};

Reader::Reader(const std::filesystem::path& path) : path_(path), handle_(new Handle) {
  // A FIFO or device is refused before libsndfile opens it (which would block or read forever).
  io::open_regular(path, nullptr, "cannot decode");
  SF_INFO sfinfo{};
  handle_->file = sf_open(path.c_str(), SFM_READ, &sfinfo);
  if (!handle_->file) {
    throw InputError("cannot decode", path.string(), sf_strerror(nullptr));
  }
  if (sfinfo.channels < 1 || sfinfo.channels > kMaxChannels) {
    throw AudioLimitError("cannot decode", path.string(),
                     "declares " + std::to_string(sfinfo.channels) + " channels (at most " +
                         std::to_string(kMaxChannels) + ")");
  }
  if (sfinfo.samplerate < 1 || sfinfo.samplerate > kMaxSampleRateHz) {
    throw AudioLimitError("cannot decode", path.string(),
                     "declares a sample rate of " + std::to_string(sfinfo.samplerate) +
                         " Hz (at most " + std::to_string(kMaxSampleRateHz) + ")");
  }
  info_.sample_rate_hz = sfinfo.samplerate;
  info_.channels = sfinfo.channels;
  info_.frames = sfinfo.frames;
  info_.container = container_name(sfinfo.format);
  info_.encoding = encoding_name(sfinfo.format);
  // libsndfile quietly shortens a file whose header promises more data than it holds; its log
  // says "data : <declared> (should be <present>)". Keep the promise so callers can tell.
  char log[2048] = {};
  sf_command(handle_->file, SFC_GET_LOG_INFO, log, sizeof(log));
  if (const char* d = std::strstr(log, "\ndata : "); d && std::strstr(d, "(should be")) {
    const char* eol = std::strchr(d + 1, '\n');
    const char* sb = std::strstr(d, "(should be");
    if (!eol || sb < eol) {
      const long long declared_bytes = std::atoll(d + 8);
      const int frame_bytes = sfinfo.channels * bytes_per_sample(sfinfo.format);
      if (frame_bytes > 0 && declared_bytes / frame_bytes > sfinfo.frames) {
        info_.declared_frames = declared_bytes / frame_bytes;
      }
    }
  }
}

Reader::~Reader() = default;
Reader::Reader(Reader&&) noexcept = default;
Reader& Reader::operator=(Reader&&) noexcept = default;

size_t Reader::read(float* interleaved, size_t frames) {
  sf_count_t got = sf_readf_float(handle_->file, interleaved, static_cast<sf_count_t>(frames));
  if (got < 0) throw InputError("cannot decode", path_.string(), sf_strerror(handle_->file));
  if (got == 0 && sf_error(handle_->file) != SF_ERR_NO_ERROR) {
    throw InputError("cannot decode", path_.string(), sf_strerror(handle_->file));
  }
  return static_cast<size_t>(got);
}

void Reader::seek(int64_t frame) {
  if (sf_seek(handle_->file, frame, SEEK_SET) < 0) {
    throw InputError("cannot seek", path_.string(), sf_strerror(handle_->file));
  }
}

int pcm_bits(SampleFormat format) {
  switch (format) {
    case SampleFormat::kPcm16:
      return 16;
    case SampleFormat::kPcm24:
      return 24;
    case SampleFormat::kPcm32:
      return 32;
    default:
      return 0;
  }
}

std::string to_string(SampleFormat format) {
  switch (format) {
    case SampleFormat::kFloat32:
      return "float32";
    case SampleFormat::kPcm16:
      return "pcm16";
    case SampleFormat::kPcm24:
      return "pcm24";
    case SampleFormat::kPcm32:
      return "pcm32";
    case SampleFormat::kLossy:
      return "lossy";
  }
  return "?";
}

SampleFormat parse_sample_format(const std::string& text) {
  const std::string t = lower(text);
  if (t == "16" || t == "pcm16") return SampleFormat::kPcm16;
  if (t == "24" || t == "pcm24") return SampleFormat::kPcm24;
  if (t == "32" || t == "pcm32") return SampleFormat::kPcm32;
  if (t == "float" || t == "f32" || t == "32f" || t == "float32") return SampleFormat::kFloat32;
  throw UsageError(describe("unknown sample format", text, "use 16, 24, 32 or float"));
}

std::string container_for_path(const std::filesystem::path& path) {
  static const std::map<std::string, std::string> kByExtension = {
      {".wav", "wav"},  {".wave", "wav"},  {".flac", "flac"}, {".ogg", "ogg"},
      {".oga", "ogg"},  {".opus", "opus"}, {".mp3", "mp3"},   {".aiff", "aiff"},
      {".aif", "aiff"}, {".w64", "w64"},   {".caf", "caf"}};
  auto it = kByExtension.find(lower(path.extension().string()));
  if (it == kByExtension.end()) {
    throw UsageError(describe("unknown output format", path.string(),
                              "use .wav, .flac, .ogg, .opus, .mp3, .aiff, .w64 or .caf"));
  }
  return it->second;
}

bool container_supports(const std::string& container, SampleFormat format) {
  const bool lossy = container == "ogg" || container == "opus" || container == "mp3";
  if (lossy) return format == SampleFormat::kLossy;
  if (format == SampleFormat::kLossy) return false;
  if (container == "flac") return format == SampleFormat::kPcm16 || format == SampleFormat::kPcm24;
  return true;
}

SampleFormat default_sample_format(const std::string& container) {
  if (container == "ogg" || container == "opus" || container == "mp3") return SampleFormat::kLossy;
  if (container == "flac") return SampleFormat::kPcm24;
  return SampleFormat::kFloat32;
}

namespace {

int sf_format_for(const WriteSpec& spec) {
  int major = 0;
  int sub = 0;
  const std::string& c = spec.container;
  if (c == "wav")
    major = SF_FORMAT_RF64;  // downgraded to plain WAV below 4 GiB
  else if (c == "w64")
    major = SF_FORMAT_W64;
  else if (c == "aiff")
    major = SF_FORMAT_AIFF;
  else if (c == "caf")
    major = SF_FORMAT_CAF;
  else if (c == "flac")
    major = SF_FORMAT_FLAC;
  else if (c == "ogg") {
    major = SF_FORMAT_OGG;
    sub = SF_FORMAT_VORBIS;
  } else if (c == "opus") {
    major = SF_FORMAT_OGG;
    sub = SF_FORMAT_OPUS;
  } else if (c == "mp3") {
    major = SF_FORMAT_MPEG;
    sub = SF_FORMAT_MPEG_LAYER_III;
  } else
    throw UsageError(describe("unknown container", c, "not supported"));
  if (sub == 0) {
    switch (spec.sample_format) {
      case SampleFormat::kFloat32:
        sub = SF_FORMAT_FLOAT;
        break;
      case SampleFormat::kPcm16:
        sub = SF_FORMAT_PCM_16;
        break;
      case SampleFormat::kPcm24:
        sub = SF_FORMAT_PCM_24;
        break;
      case SampleFormat::kPcm32:
        sub = SF_FORMAT_PCM_32;
        break;
      case SampleFormat::kLossy:
        break;
    }
  }
  return major | sub;
}

SF_INFO sf_info_for(const WriteSpec& spec) {
  SF_INFO sfinfo{};
  sfinfo.samplerate = spec.sample_rate_hz;
  sfinfo.channels = spec.channels;
  sfinfo.format = sf_format_for(spec);
  return sfinfo;
}

}  // namespace

struct Writer::Handle {
  SNDFILE* file = nullptr;
  ~Handle() {
    if (file) sf_close(file);
  }
};

void check_write_spec(const WriteSpec& spec, const std::filesystem::path& path) {
  if (!container_supports(spec.container, spec.sample_format)) {
    throw UsageError(
        describe("unsupported sample format", path.string(),
                 to_string(spec.sample_format) + " cannot be stored in " + spec.container));
  }
  if (spec.container == "opus") {
    const int r = spec.sample_rate_hz;
    if (r != 8000 && r != 12000 && r != 16000 && r != 24000 && r != 48000) {
      throw UsageError(describe("cannot write", path.string(),
                                "Opus takes 8, 12, 16, 24 or 48 kHz, not " + std::to_string(r) +
                                    " Hz (ingest with --rate 48000, or write .ogg)"));
    }
  }
  SF_INFO sfinfo = sf_info_for(spec);
  if (!sf_format_check(&sfinfo)) {
    throw UsageError(describe("cannot write", path.string(),
                              "libsndfile cannot write " + spec.container + "/" +
                                  to_string(spec.sample_format) + " at " +
                                  std::to_string(spec.sample_rate_hz) + " Hz with " +
                                  std::to_string(spec.channels) + " channels"));
  }
}

Writer::Writer(const std::filesystem::path& path, const WriteSpec& spec)
    : path_(path), spec_(spec), handle_(new Handle) {
  check_write_spec(spec, path);
  SF_INFO sfinfo = sf_info_for(spec);
  handle_->file = sf_open(path.c_str(), SFM_WRITE, &sfinfo);
  if (!handle_->file) throw IoError("cannot create", path.string(), sf_strerror(nullptr));
  if (spec.container == "wav") sf_command(handle_->file, SFC_RF64_AUTO_DOWNGRADE, nullptr, SF_TRUE);
  if (spec.sample_format == SampleFormat::kLossy) {
    // The mode first: libsndfile re-reads the quality for the mode (for LAME's VBR the quality
    // scale differs, and 0 is refused there).
    if (spec.constant_bitrate && (spec.container == "mp3" || spec.container == "opus")) {
      int mode = SF_BITRATE_MODE_CONSTANT;
      sf_command(handle_->file, SFC_SET_BITRATE_MODE, &mode, sizeof(mode));
    }
    double q = spec.lossy_quality;
    sf_command(handle_->file, SFC_SET_VBR_ENCODING_QUALITY, &q, sizeof(q));
  }
  // Lossy encoders take floats: clip rather than wrap past full scale. (Integer PCM is quantised
  // by write() itself.)
  if (spec.sample_format == SampleFormat::kLossy)
    sf_command(handle_->file, SFC_SET_CLIPPING, nullptr, SF_TRUE);
}

Writer::~Writer() = default;
Writer::Writer(Writer&&) noexcept = default;
Writer& Writer::operator=(Writer&&) noexcept = default;

void Writer::write(const float* interleaved, size_t frames) {
  if (!handle_->file) throw IoError("cannot write", path_.string(), "file already closed");
  const int bits = pcm_bits(spec_.sample_format);
  if (bits > 0) {
    // Integer PCM: quantise here, round to nearest and clamp, with the same 2^(bits-1) scale that
    // reading uses, so a round trip is exact. (libsndfile's own conversion with clipping enabled
    // truncates towards minus infinity in 1.2.0: a -0.5 LSB bias.)
    const double scale = pcm_scale(bits);
    const size_t n = frames * static_cast<size_t>(spec_.channels);
    quantised_.resize(n);
    for (size_t i = 0; i < n; ++i) quantised_[i] = pcm_left_justified(interleaved[i] * scale, bits);
    write_int(quantised_.data(), frames);
    return;
  }
  sf_count_t n = sf_writef_float(handle_->file, interleaved, static_cast<sf_count_t>(frames));
  if (n != static_cast<sf_count_t>(frames)) {
    throw IoError("cannot write", path_.string(), sf_strerror(handle_->file));
  }
  frames_written_ += n;
}

void Writer::write_int(const int32_t* interleaved, size_t frames) {
  if (!handle_->file) throw IoError("cannot write", path_.string(), "file already closed");
  sf_count_t n = sf_writef_int(handle_->file, interleaved, static_cast<sf_count_t>(frames));
  if (n != static_cast<sf_count_t>(frames)) {
    throw IoError("cannot write", path_.string(), sf_strerror(handle_->file));
  }
  frames_written_ += n;
}

void Writer::close() {
  if (!handle_->file) return;
  sf_write_sync(handle_->file);
  int err = sf_error(handle_->file);
  std::string why = err ? sf_strerror(handle_->file) : "";
  int rc = sf_close(handle_->file);
  handle_->file = nullptr;
  if (err || rc != 0) {
    throw IoError("cannot write", path_.string(), why.empty() ? sf_error_number(rc) : why);
  }
}

void check_finite(const float* interleaved, size_t frames, int channels, int64_t first_frame,
                  int sample_rate_hz, const std::filesystem::path& file) {
  const size_t n = frames * static_cast<size_t>(channels);
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(interleaved[i])) {
      const int64_t frame = first_frame + static_cast<int64_t>(i / static_cast<size_t>(channels));
      throw InputError("non-finite audio", file.string(),
                       "NaN or infinity at " +
                           fixed(static_cast<double>(frame) / sample_rate_hz, 3) + " s");
    }
  }
}

std::string library_versions() {
  char buf[128] = {};
  sf_command(nullptr, SFC_GET_LIB_VERSION, buf, sizeof(buf));
  return std::string(buf);
}

}  // namespace rz::audio
