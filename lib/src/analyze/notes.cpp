// Onsets and pitch over aubio (rz/analyze/notes.hpp).
#include "rz/analyze/notes.hpp"

#include <aubio/aubio.h>

#include <algorithm>
#include <cmath>
#include <mutex>

#include "rz/dsp/fft.hpp"
#include "rz/error.hpp"

namespace rz::analyze {
namespace {

constexpr double kOnsetFrameS = 0.023;
constexpr double kOnsetHopS = 256.0 / 44100.0;
constexpr double kMinInterOnsetS = 0.05;
constexpr double kPitchFrameS = 0.046;
constexpr double kPitchHopS = 0.01;
constexpr double kYinTolerance = 0.15;  // aubio's own default for yin and yinfast
constexpr double kPitchSilenceDb = -60;

// The library never prints: aubio's messages (errors, warnings) are dropped; failures show as
// null objects, which the callers turn into exceptions.
void quiet_aubio() {
  static std::once_flag once;
  std::call_once(once,
                 [] { aubio_log_set_function([](sint_t, const char_t*, void*) {}, nullptr); });
}

// Feeds a stream to an aubio object in blocks of exactly `hop` samples.
class HopBuffer {
 public:
  explicit HopBuffer(uint_t hop) : vec_(new_fvec(hop)), hop_(hop) {
    if (!vec_) throw Error("aubio: cannot allocate a buffer");
  }
  ~HopBuffer() { del_fvec(vec_); }
  HopBuffer(const HopBuffer&) = delete;
  HopBuffer& operator=(const HopBuffer&) = delete;
  template <typename Fn>
  void push(const float* x, size_t n, Fn&& fn) {
    for (size_t i = 0; i < n; ++i) {
      vec_->data[fill_++] = x[i];
      if (fill_ == hop_) {
        fn(vec_);
        fill_ = 0;
      }
    }
  }
  // Zero-pads a partial last hop.
  template <typename Fn>
  void flush(Fn&& fn) {
    if (fill_ == 0) return;
    std::fill(vec_->data + fill_, vec_->data + hop_, 0.f);
    fn(vec_);
    fill_ = 0;
  }

 private:
  fvec_t* vec_;
  uint_t hop_;
  uint_t fill_ = 0;
};

}  // namespace

struct OnsetDetector::State {
  aubio_onset_t* onset = nullptr;
  fvec_t* out = nullptr;
  HopBuffer buf;
  std::vector<double> times;
  explicit State(uint_t hop) : buf(hop) {}
  ~State() {
    if (onset) del_aubio_onset(onset);
    if (out) del_fvec(out);
  }
  void step(fvec_t* in) {
    aubio_onset_do(onset, in, out);
    if (out->data[0] != 0) times.push_back(aubio_onset_get_last_s(onset));
  }
};

OnsetDetector::OnsetDetector(int rate) {
  quiet_aubio();
  const auto hop = static_cast<uint_t>(std::max(1L, std::lround(rate * kOnsetHopS)));
  const auto win = std::max(static_cast<uint_t>(dsp::fft_size_nearest(rate * kOnsetFrameS)), hop);
  s_ = std::make_unique<State>(hop);
  s_->onset = new_aubio_onset("mkl", win, hop, static_cast<uint_t>(rate));
  s_->out = new_fvec(1);
  if (!s_->onset || !s_->out) throw Error("aubio: cannot create the onset detector");
  aubio_onset_set_minioi_s(s_->onset, static_cast<smpl_t>(kMinInterOnsetS));
  // aubio's defaults for "mkl" whiten the spectrum adaptively and compress it (log(1 + 0.02 |X|)):
  // both off (notes.hpp).
  if (aubio_onset_set_awhitening(s_->onset, 0) != 0 ||
      aubio_onset_set_compression(s_->onset, 0) != 0) {
    throw Error("aubio: cannot configure the onset detector");
  }
}

OnsetDetector::~OnsetDetector() = default;

void OnsetDetector::push(const float* mono, size_t frames) {
  s_->buf.push(mono, frames, [this](fvec_t* in) { s_->step(in); });
}

std::vector<double> OnsetDetector::finish() {
  s_->buf.flush([this](fvec_t* in) { s_->step(in); });
  return std::move(s_->times);
}

struct PitchTracker::State {
  aubio_pitch_t* pitch = nullptr;
  fvec_t* out = nullptr;
  HopBuffer buf;
  PitchTrack track;
  explicit State(uint_t hop) : buf(hop) {}
  ~State() {
    if (pitch) del_aubio_pitch(pitch);
    if (out) del_fvec(out);
  }
  void step(fvec_t* in) {
    aubio_pitch_do(pitch, in, out);
    // yinfft answers 0 itself where its YIN minimum misses the tolerance or the frame is
    // under the silence gate (its confidence reads 0 throughout in aubio 0.4.9: not used).
    const double f0 = out->data[0];
    const bool voiced = f0 > 0 && std::isfinite(f0);
    track.f0_hz.push_back(voiced ? static_cast<float>(f0) : 0.f);
  }
};

PitchTracker::PitchTracker(int rate) {
  quiet_aubio();
  const auto hop = static_cast<uint_t>(std::max(1L, std::lround(rate * kPitchHopS)));
  const auto win = std::max(static_cast<uint_t>(dsp::fft_size_nearest(rate * kPitchFrameS)), hop);
  s_ = std::make_unique<State>(hop);
  s_->pitch = new_aubio_pitch("yinfast", win, hop, static_cast<uint_t>(rate));
  s_->out = new_fvec(1);
  if (!s_->pitch || !s_->out) throw Error("aubio: cannot create the pitch tracker");
  aubio_pitch_set_unit(s_->pitch, "Hz");
  aubio_pitch_set_tolerance(s_->pitch, static_cast<smpl_t>(kYinTolerance));
  aubio_pitch_set_silence(s_->pitch, static_cast<smpl_t>(kPitchSilenceDb));
  s_->track.hop_s = static_cast<double>(hop) / rate;
  // aubio's frame i ends with input sample (i + 1) hop: its window is centred half a window
  // earlier.
  s_->track.first_s = (static_cast<double>(hop) - 0.5 * win) / rate;
}

PitchTracker::~PitchTracker() = default;

void PitchTracker::push(const float* mono, size_t frames) {
  s_->buf.push(mono, frames, [this](fvec_t* in) { s_->step(in); });
}

PitchTrack PitchTracker::finish() {
  s_->buf.flush([this](fvec_t* in) { s_->step(in); });
  PitchTrack t = std::move(s_->track);
  std::vector<float> v;
  for (float f : t.f0_hz) {
    if (f > 0) v.push_back(f);
  }
  if (!v.empty() && !t.f0_hz.empty()) {
    t.voiced_share = static_cast<double>(v.size()) / static_cast<double>(t.f0_hz.size());
    std::sort(v.begin(), v.end());
    auto q = [&](double p) {
      return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))];
    };
    t.median_hz = q(0.5);
    t.low_hz = q(0.05);
    t.high_hz = q(0.95);
  }
  return t;
}

std::string note_name(double hz) {
  if (!(hz > 0)) return "";
  static const char* const kNames[] = {"C",  "C#", "D",  "D#", "E",  "F",
                                       "F#", "G",  "G#", "A",  "A#", "B"};
  const long midi = std::lround(69 + 12 * std::log2(hz / 440.0));
  return std::string(kNames[((midi % 12) + 12) % 12]) + std::to_string(midi / 12 - 1);
}

}  // namespace rz::analyze
