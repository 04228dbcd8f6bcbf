// Compressor, transient shaper and dynamic EQ band: per-frame gain computers on a linked level.
#include "rz/dsp/dynamics.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "rz/dsp/units.hpp"
#include "rz/error.hpp"

namespace rz::dsp {

namespace {

// dB to natural-log units: 10^(g/20) = exp(g * kNeperPerDb), one exp instead of a pow.
constexpr double kNeperPerDb = 2.302585092994046 / 20;
// Envelopes and filter states below this (-500 dBFS) are flushed to 0: nothing audible is lost,
// and a state decaying in digital silence never reaches denormals (slow on x86) or lingers there
// in a rounding limit cycle.
constexpr double kFlushLevel = 1e-25;

void require(bool ok, const char* block, const char* field, double value, const char* range) {
  if (!ok) {
    throw UsageError(describe(std::string("bad ") + block + " " + field, fixed(value), range));
  }
}

void require_stream(const char* block, int channels, double sample_rate_hz) {
  if (channels < 1) {
    throw UsageError(describe(std::string("bad ") + block + " channels", std::to_string(channels),
                              "use 1 or more"));
  }
  require(sample_rate_hz >= 1000 && sample_rate_hz <= 1e6, block, "sample_rate_hz", sample_rate_hz,
          "use 1000..1000000 Hz");
}

// One-pole coefficient of time constant `ms`: the step response reaches 1 - 1/e after ms.
double pole(double sample_rate_hz, double ms) {
  return std::exp(-1.0 / (ms * 1e-3 * sample_rate_hz));
}

float linked_peak(const float* frame, size_t channels) {
  float peak = 0.0f;
  for (size_t c = 0; c < channels; ++c) peak = std::max(peak, std::fabs(frame[c]));
  return peak;
}

}  // namespace

ReductionSmoother::ReductionSmoother(double sample_rate_hz, double attack_ms, double release_ms)
    : attack_(pole(sample_rate_hz, attack_ms)), release_(pole(sample_rate_hz, release_ms)) {}

// ---------------------------------------------------------------------------------------------
// Compressor

const params::Fields<CompressorSettings>& CompressorSettings::fields() {
  using S = CompressorSettings;
  static const params::Fields<S> f = {
      {"threshold_db", &S::threshold_db, "dBFS", -96, 0, "detected peak level where it starts"},
      {"ratio", &S::ratio, "", 1, 100, "compression ratio"},
      {"knee_db", &S::knee_db, "dB", 0, 48, "soft-knee width"},
      {"attack_ms", &S::attack_ms, "ms", 0.01, 1000, "attack time"},
      {"release_ms", &S::release_ms, "ms", 1, 5000, "release time"},
      {"makeup_db", &S::makeup_db, "dB", -24, 24, "make-up gain"},
  };
  return f;
}

void CompressorSettings::validate() const { params::check(*this, fields(), "compressor "); }

double compressor_static_gain_db(double level_db, const CompressorSettings& s) {
  const double over = level_db - s.threshold_db, w = s.knee_db;
  if (2 * over < -w) return 0.0;
  if (w > 0 && 2 * std::fabs(over) <= w) {
    // Inside the knee: a quadratic that meets both straight lines with matching slope, so the
    // curve has no corner.
    const double d = over + w / 2;
    return (1 / s.ratio - 1) * d * d / (2 * w);
  }
  return (1 / s.ratio - 1) * over;
}

Compressor::Compressor(int channels, double sample_rate_hz, const CompressorSettings& settings)
    : channels_(channels),
      settings_(settings),
      knee_start_(db_to_amplitude(settings.threshold_db - settings.knee_db / 2)),
      makeup_(db_to_amplitude(settings.makeup_db)),
      smoother_(sample_rate_hz, settings.attack_ms, settings.release_ms) {
  require_stream("compressor", channels, sample_rate_hz);
  settings.validate();
}

void Compressor::process(const float* in, float* out, size_t frames) {
  const size_t ch = static_cast<size_t>(channels_);
  for (size_t i = 0; i < frames; ++i) {
    const float* x = in + i * ch;
    const float peak = linked_peak(x, ch);
    // Below the knee the static curve is 0: no logarithm for the (common) quiet frames.
    const double target =
        peak > knee_start_ ? -compressor_static_gain_db(20 * std::log10(peak), settings_) : 0.0;
    const double r = smoother_.next(target);
    const double gain = r == 0 ? makeup_ : std::exp((settings_.makeup_db - r) * kNeperPerDb);
    float* y = out + i * ch;
    for (size_t c = 0; c < ch; ++c) y[c] = static_cast<float>(x[c] * gain);
    max_reduction_db_ = std::max(max_reduction_db_, r);
    sum_reduction_db_ += r;
  }
  frames_ += static_cast<int64_t>(frames);
}

double Compressor::mean_reduction_db() const {
  return frames_ > 0 ? sum_reduction_db_ / static_cast<double>(frames_) : 0.0;
}

// ---------------------------------------------------------------------------------------------
// Transient shaper

const params::Fields<TransientShaperSettings>& TransientShaperSettings::fields() {
  using S = TransientShaperSettings;
  static const params::Fields<S> f = {
      {"attack_gain_db", &S::attack_gain_db, "dB", -24, 24, "gain on attacks"},
      {"sustain_gain_db", &S::sustain_gain_db, "dB", -24, 24, "gain on sustains"},
      {"fast_ms", &S::fast_ms, "ms", 0.05, 100, "fast envelope time constant"},
      {"slow_ms", &S::slow_ms, "ms", 0.05, 1000, "slow envelope time constant (more than fast_ms)"},
      {"release_ms", &S::release_ms, "ms", 0.05, 5000,
       "level envelope release (more than slow_ms)"},
      {"hold_ms", &S::hold_ms, "ms", 0, 100, "peak hold before the release"},
      {"max_gain_db", &S::max_gain_db, "dB", 0, 24, "limit of the gain either way"},
  };
  return f;
}

void TransientShaperSettings::validate() const {
  const char* b = "transient shaper";
  params::check(*this, fields(), std::string(b) + " ");
  require(slow_ms > fast_ms, b, "slow_ms", slow_ms, "use more than fast_ms, up to 1000 ms");
  require(release_ms > slow_ms, b, "release_ms", release_ms,
          "use more than slow_ms, up to 5000 ms");
}

TransientShaper::TransientShaper(int channels, double sample_rate_hz,
                                 const TransientShaperSettings& settings)
    : channels_(channels), settings_(settings) {
  require_stream("transient shaper", channels, sample_rate_hz);
  settings.validate();
  fast_ = pole(sample_rate_hz, settings.fast_ms);
  slow_ = pole(sample_rate_hz, settings.slow_ms);
  release_ = pole(sample_rate_hz, settings.release_ms);
  // The attack measure 1 - S/F is largest on the first frame after silence: F and S are then
  // (1 - fast) P and (1 - slow) P, and S/F can never be smaller (it is a ratio of two weighted
  // sums of past P whose weight ratio grows with age; the newest frame has the smallest).
  attack_norm_ = 1 / (1 - (1 - slow_) / (1 - fast_));
  // The sustain measure 1 - F/S is largest when P falls as fast as it can, P[n] = release P[n-1]
  // for ever: F = (1 - fast) P / (1 - fast / release), likewise S, a constant ratio.
  const double steepest =
      (1 - fast_) * (1 - slow_ / release_) / ((1 - slow_) * (1 - fast_ / release_));
  sustain_norm_ = 1 / (1 - steepest);
  hold_frames_ = std::max<size_t>(
      1, static_cast<size_t>(std::lround(settings.hold_ms * 1e-3 * sample_rate_hz)));
  queue_level_.assign(hold_frames_, 0.0f);
  queue_index_.assign(hold_frames_, 0);
}

double TransientShaper::hold_max(float level) {
  // Monotonic queue of decreasing levels: entries expire after hold_frames_, and an entry no
  // larger than a newer one can never be the maximum again. Each level enters and leaves once:
  // O(1) per frame, where rescanning the window would cost hold_frames_ (661 at 15 ms, 44.1 kHz).
  const size_t cap = hold_frames_;
  if (queue_size_ > 0 && queue_index_[queue_head_] + static_cast<int64_t>(cap) <= index_) {
    queue_head_ = (queue_head_ + 1) % cap;
    --queue_size_;
  }
  while (queue_size_ > 0 && queue_level_[(queue_head_ + queue_size_ - 1) % cap] <= level) {
    --queue_size_;
  }
  const size_t back = (queue_head_ + queue_size_) % cap;
  queue_level_[back] = level;
  queue_index_[back] = index_++;
  ++queue_size_;
  return queue_level_[queue_head_];
}

void TransientShaper::process(const float* in, float* out, size_t frames) {
  const size_t ch = static_cast<size_t>(channels_);
  if (settings_.attack_gain_db == 0 && settings_.sustain_gain_db == 0) {
    // The gain would be exactly 0 dB on every frame: skip the envelopes altogether.
    if (in != out) std::memmove(out, in, frames * ch * sizeof(float));
    return;
  }
  const double max_gain = settings_.max_gain_db;
  for (size_t i = 0; i < frames; ++i) {
    const float* x = in + i * ch;
    peak_ = std::max(hold_max(linked_peak(x, ch)), release_ * peak_);
    fast_env_ = fast_ * fast_env_ + (1 - fast_) * peak_;
    slow_env_ = slow_ * slow_env_ + (1 - slow_) * peak_;
    if (slow_env_ < kFlushLevel && fast_env_ < kFlushLevel) {
      peak_ = fast_env_ = slow_env_ = 0;  // digital silence: no measure, no denormals
    }
    double gain_db = 0;
    if (fast_env_ > slow_env_) {
      gain_db =
          settings_.attack_gain_db * std::min(1.0, (1 - slow_env_ / fast_env_) * attack_norm_);
    } else if (slow_env_ > fast_env_) {
      gain_db =
          settings_.sustain_gain_db * std::min(1.0, (1 - fast_env_ / slow_env_) * sustain_norm_);
    }
    gain_db = std::clamp(gain_db, -max_gain, max_gain);
    const double gain = gain_db == 0 ? 1.0 : std::exp(gain_db * kNeperPerDb);
    float* y = out + i * ch;
    for (size_t c = 0; c < ch; ++c) y[c] = static_cast<float>(x[c] * gain);
  }
}

// ---------------------------------------------------------------------------------------------
// Dynamic EQ

const params::Fields<DynamicEqSettings>& DynamicEqSettings::fields() {
  using S = DynamicEqSettings;
  static const params::Fields<S> f = {
      {"freq_hz", &S::freq_hz, "Hz", 20, 20000, "centre of the band"},
      {"q", &S::q, "", 0.1, 20, "band-pass quality of the band"},
      {"threshold_db", &S::threshold_db, "dBFS", -96, 0, "band peak level where the cut starts"},
      {"ratio", &S::ratio, "", 1, 100, "cut slope above the threshold", nullptr, true},
      {"max_cut_db", &S::max_cut_db, "dB", 0, 48, "deepest cut", nullptr, true},
      {"attack_ms", &S::attack_ms, "ms", 0.01, 1000, "cut attack time"},
      {"release_ms", &S::release_ms, "ms", 1, 5000, "cut release time"},
  };
  return f;
}

void DynamicEqSettings::validate() const { params::check(*this, fields(), "dynamic EQ "); }

DynamicEq::DynamicEq(int channels, double sample_rate_hz, const DynamicEqSettings& settings)
    : channels_(channels),
      settings_(settings),
      threshold_(db_to_amplitude(settings.threshold_db)),
      slope_(1 - 1 / settings.ratio),
      smoother_(sample_rate_hz, settings.attack_ms, settings.release_ms),
      state_(2 * static_cast<size_t>(std::max(channels, 0)), 0.0),
      band_(static_cast<size_t>(std::max(channels, 0)), 0.0) {
  require_stream("dynamic EQ", channels, sample_rate_hz);
  settings.validate();
  require(settings.freq_hz < 0.49 * sample_rate_hz, "dynamic EQ", "freq_hz", settings.freq_hz,
          "use less than 0.49 of the sample rate");
  bandpass_ = BiquadCoeffs::bandpass(sample_rate_hz, settings.freq_hz, settings.q);
}

void DynamicEq::process(const float* in, float* out, size_t frames) {
  const size_t ch = static_cast<size_t>(channels_);
  for (size_t i = 0; i < frames; ++i) {
    const float* x = in + i * ch;
    // The band-pass runs on every frame, cut or not, so that a cut starts from a settled filter.
    double level = 0;
    for (size_t c = 0; c < ch; ++c) {
      double* z = &state_[2 * c];
      band_[c] = bandpass_.step(x[c], z);
      if (std::fabs(z[0]) < kFlushLevel) z[0] = 0;
      if (std::fabs(z[1]) < kFlushLevel) z[1] = 0;
      level = std::max(level, std::fabs(band_[c]));
    }
    const double target = level > threshold_
                              ? std::min(settings_.max_cut_db,
                                         (amplitude_to_db(level) - settings_.threshold_db) * slope_)
                              : 0.0;
    const double cut = smoother_.next(target);
    float* y = out + i * ch;
    if (cut == 0) {
      for (size_t c = 0; c < ch; ++c) y[c] = x[c];  // exact pass-through (x may be y)
    } else {
      // y = x - (1 - g) b: subtracting part of the band is the bell; g moves smoothly, the
      // filter never restarts, so there is nothing to click.
      const double g_minus_1 = std::exp(-cut * kNeperPerDb) - 1;
      for (size_t c = 0; c < ch; ++c) y[c] = static_cast<float>(x[c] + g_minus_1 * band_[c]);
    }
    max_cut_db_ = std::max(max_cut_db_, cut);
    if (cut >= kActiveCutDb) ++active_frames_;
  }
  frames_ += static_cast<int64_t>(frames);
}

nlohmann::json Compressor::statistics() const {
  return {{"max_reduction_db", max_reduction_db()}, {"mean_reduction_db", mean_reduction_db()}};
}

double DynamicEq::active_ratio() const {
  return frames_ > 0 ? static_cast<double>(active_frames_) / static_cast<double>(frames_) : 0.0;
}

nlohmann::json DynamicEq::statistics() const {
  return {{"max_cut_db", max_cut_db_applied()}, {"active_ratio", active_ratio()}};
}

}  // namespace rz::dsp
