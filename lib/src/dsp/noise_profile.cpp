// Noise spectra for the denoiser: measured profiles and the minimum-statistics tracker.
#include "rz/dsp/noise_profile.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "denoise_detail.hpp"

namespace rz::dsp {

using namespace detail;  // denoise_detail.hpp

namespace {

// Median of 9 values by the 19-exchange network (Paeth; Devillard's opt_med9): the tone guard
// runs it for every bin of every frame, where nth_element cost a third of the denoiser's time.
double median9(const double* v) {
  double p[9];
  std::copy(v, v + 9, p);
  auto sort2 = [](double& a, double& b) {
    const double lo = std::min(a, b);
    b = std::max(a, b);
    a = lo;
  };
  // clang-format off
  sort2(p[1], p[2]); sort2(p[4], p[5]); sort2(p[7], p[8]);
  sort2(p[0], p[1]); sort2(p[3], p[4]); sort2(p[6], p[7]);
  sort2(p[1], p[2]); sort2(p[4], p[5]); sort2(p[7], p[8]);
  sort2(p[0], p[3]); sort2(p[5], p[8]); sort2(p[4], p[7]);
  sort2(p[3], p[6]); sort2(p[1], p[4]); sort2(p[2], p[5]);
  sort2(p[4], p[7]); sort2(p[4], p[2]); sort2(p[6], p[4]);
  // clang-format on
  sort2(p[4], p[2]);
  return p[4];
}

}  // namespace

int denoise_fft_size(double sample_rate_hz) {
  // 46 ms frames: long enough to resolve bass partials (21.5 Hz bins at 44.1 kHz), short enough to
  // follow a drum hit's noise-free decay.
  const double ideal = sample_rate_hz * 2048.0 / 44100.0;
  int n = 256;
  while (n * 2 <= ideal * std::sqrt(2.0)) n *= 2;
  return n;
}

double NoiseProfile::mean_square() const {
  return empty() ? 0.0 : bins_mean_square(power, fft_size);
}

double NoiseProfile::bin_mean_square(size_t k) const {
  return (k == 0 || k + 1 == power.size() ? 1.0 : 2.0) * power[k] / hann_power_scale(fft_size);
}

double NoiseProfile::band_mean_square(double lo_hz, double hi_hz) const {
  double s = 0;
  for (size_t k = 0; k < power.size(); ++k) {
    const double f = static_cast<double>(k) * sample_rate_hz / fft_size;
    if (f >= lo_hz && f < hi_hz) s += bin_mean_square(k);
  }
  return s;
}

double NoiseProfile::level_dbfs() const { return empty() ? -200.0 : to_db(mean_square()); }

// ---------------------------------------------------------------------------------------------
struct NoiseProfiler::Impl {
  Impl(int channels, double rate)
      : rate_hz(rate), framer(channels, denoise_fft_size(rate)), sum(framer.bins(), 0.0) {}
  double rate_hz;
  detail::StftFramer framer;
  std::vector<double> sum;
  int64_t frames = 0;
  int64_t spectra = 0;
};

NoiseProfiler::NoiseProfiler(int channels, double sample_rate_hz) {
  check_channels(channels);
  check_rate(sample_rate_hz);
  impl_ = std::make_shared<Impl>(channels, sample_rate_hz);
}

NoiseProfiler::~NoiseProfiler() = default;

void NoiseProfiler::add(const float* interleaved, size_t frames) {
  Impl& m = *impl_;
  m.frames += static_cast<int64_t>(frames);
  m.framer.push(interleaved, frames, [&](const std::vector<double>& p) {
    // The first frames overlap the zeros before the start: count only full frames.
    const int64_t end = (m.spectra + 1) * m.framer.hop();
    ++m.spectra;
    if (end < static_cast<int64_t>(m.framer.hop()) * kHopDivisor) return;
    for (size_t k = 0; k < p.size(); ++k) m.sum[k] += p[k];
  });
}

NoiseProfile NoiseProfiler::finish() const {
  const Impl& m = *impl_;
  const int64_t full = m.spectra - (kHopDivisor - 1);
  const double seconds = static_cast<double>(m.frames) / m.rate_hz;
  if (seconds < kMinProfileSeconds || full < 1)
    throw InputError(describe("noise sample too short", fixed(seconds, 2) + " s",
                              "need at least " + fixed(kMinProfileSeconds, 1) + " s"));
  NoiseProfile profile;
  profile.sample_rate_hz = m.rate_hz;
  profile.fft_size = denoise_fft_size(m.rate_hz);
  profile.duration_s = seconds;
  profile.power.resize(m.sum.size());
  for (size_t k = 0; k < m.sum.size(); ++k) profile.power[k] = m.sum[k] / static_cast<double>(full);
  if (profile.mean_square() <= 0)
    throw InputError(describe("noise sample is silent", fixed(seconds, 2) + " s",
                              "nothing to learn a noise spectrum from"));
  return profile;
}

// ---------------------------------------------------------------------------------------------
const params::Fields<DenoiseSettings>& DenoiseSettings::fields() {
  using S = DenoiseSettings;
  static const params::Fields<S> f = {
      {"strength_db", &S::strength_db, "dB", 0, 40,
       "deepest attenuation of any time-frequency bin (noise_band_depth_db more where the "
       "long-term spectrum holds nothing but the noise)"},
      {"smoothing", &S::smoothing, "", 0.5, 0.995,
       "decision-directed weight of the previous frame (0.5..0.995)"},
      {"tracker_window_s", &S::tracker_window_s, "s", 0.5, 10,
       "minimum-statistics window of the blind noise tracker"},
      {"low_cap_hz", &S::low_cap_hz, "Hz", 0, 1000,
       "bass guard: below it the blind noise estimate falls 6 dB/octave in power (0 = off)"},
      {"noise_band_depth_db", &S::noise_band_depth_db, "dB", 0, 40,
       "further attenuation where the long-term spectrum holds nothing but the noise"},
  };
  return f;
}

void DenoiseSettings::validate() const { params::check(*this, fields(), "denoise "); }

nlohmann::json DenoiseSettings::to_json() const { return params::to_json(*this, fields()); }

// ---------------------------------------------------------------------------------------------
NoiseTracker::NoiseTracker(int bins, double frames_per_second, const DenoiseSettings& settings,
                           int fft_size, double sample_rate_hz)
    : bins_(bins),
      sub_length_(std::max(1, static_cast<int>(std::lround(settings.tracker_window_s *
                                                           frames_per_second / kSubWindows)))),
      smooth_(static_cast<size_t>(bins), 0.0),
      sub_min_(static_cast<size_t>(bins) * kSubWindows, 0.0),
      current_(static_cast<size_t>(bins), std::numeric_limits<double>::infinity()),
      estimate_(static_cast<size_t>(bins), 0.0),
      guarded_(static_cast<size_t>(bins), 0.0),
      neighbours_(static_cast<size_t>(2 * kToneGuardBins + 1), 0.0) {
  if (settings.low_cap_hz > 0)
    cap_bin_ = static_cast<int>(std::lround(settings.low_cap_hz * fft_size / sample_rate_hz));
  if (cap_bin_ < 2 || cap_bin_ * 3 / 2 >= bins_) cap_bin_ = 0;
}

const std::vector<double>& NoiseTracker::update(const double* power) {
  const double a = kTrackerSmoothing;
  for (int k = 0; k < bins_; ++k) {
    smooth_[k] = frames_ == 0 ? power[k] : a * smooth_[k] + (1 - a) * power[k];
    current_[k] = std::min(current_[k], smooth_[k]);
  }
  ++frames_;
  for (int k = 0; k < bins_; ++k) {
    double m = current_[k];
    for (int s = 0; s < filled_subs_; ++s)
      m = std::min(m, sub_min_[static_cast<size_t>(s) * bins_ + k]);
    estimate_[k] = m;
  }
  if (++in_sub_ == sub_length_) {
    std::copy(current_.begin(), current_.end(),
              sub_min_.begin() + static_cast<size_t>(sub_pos_) * bins_);
    sub_pos_ = (sub_pos_ + 1) % kSubWindows;
    filled_subs_ = std::min(filled_subs_ + 1, kSubWindows);
    std::fill(current_.begin(), current_.end(), std::numeric_limits<double>::infinity());
    in_sub_ = 0;
  }
  // Tone guard: a crowd's spectrum is smooth across a few bins, a held note's partial is a peak
  // two or three bins wide. The estimate may not rise more than kToneGuardDb over the median of
  // its +-kToneGuardBins neighbours, so a note sustained longer than the window is not taken for
  // noise (measured on the MUSDB rock excerpt: held notes at 2.4-3.5 kHz lost 3 dB without it).
  static_assert(kToneGuardBins == 4, "median9 assumes 9 neighbours");
  for (int k = 0; k < bins_; ++k) {
    const int lo = std::max(0, k - kToneGuardBins), hi = std::min(bins_ - 1, k + kToneGuardBins);
    double median;
    if (hi - lo + 1 == 9) {
      median = median9(&estimate_[lo]);
    } else {  // the few bins at the edges
      double* w = neighbours_.data();
      const int count = hi - lo + 1;
      std::copy(estimate_.begin() + lo, estimate_.begin() + hi + 1, w);
      median = median_in_place(w, w + count);
    }
    guarded_[k] = std::min(estimate_[k], kToneGuardRatio * median);
  }
  estimate_.swap(guarded_);
  if (cap_bin_ > 0) {
    // Bass guard: the estimate below the corner may not rise above a 6 dB/octave (power ~ f^2) fall
    // from the median estimate just above it.
    std::vector<double> band(estimate_.begin() + cap_bin_,
                             estimate_.begin() + cap_bin_ * 3 / 2 + 1);
    const double ref = median_in_place(band.begin(), band.end());
    for (int k = 1; k < cap_bin_; ++k) {
      const double r = static_cast<double>(k) / cap_bin_;
      estimate_[k] = std::min(estimate_[k], ref * r * r);
    }
    estimate_[0] = std::min(estimate_[0], estimate_[1]);
  }
  return estimate_;
}

}  // namespace rz::dsp
