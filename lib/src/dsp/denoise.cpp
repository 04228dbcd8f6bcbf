// STFT noise reduction: minimum-statistics tracker with a bass guard, decision-directed LSA gain,
// noise profiles from samples or from the recording's own crowd-only stretches.
#include "rz/dsp/denoise.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <queue>

#include "rz/dsp/units.hpp"
#include "rz/error.hpp"

namespace rz::dsp {

namespace {

// The squared periodic Hann window summed over hops of a quarter frame is 1.5 everywhere.
constexpr double kHannSquaredOverlap = 1.5;
constexpr int kHopDivisor = 4;
// Powers below this (per bin, |X|^2 scale) are digital silence: no noise to estimate or remove.
constexpr double kTinyPower = 1e-20;
// Blocks quieter than this are digital silence and say nothing about the noise floor.
constexpr double kSilentBlockDbfs = -120.0;
constexpr double kMinAutoSeconds = 1.0;

// Levels in this file are floored at kTinyPower (-200 dB): empty bands and blocks of digital
// silence compare as very quiet rather than as -infinity.
double to_db(double power) { return power_to_db(power, kTinyPower); }

// Bin ranges [first, last) of third-octave bands from 100 Hz to 8 kHz (or Nyquist).
std::vector<std::pair<int, int>> third_octave_bands(int n, double rate) {
  std::vector<std::pair<int, int>> bands;
  const double top = std::min(8000.0, 0.45 * rate);
  for (double lo = 100.0; lo * 1.26 <= top; lo *= std::pow(2.0, 1.0 / 3.0)) {
    const int a = static_cast<int>(std::ceil(lo * n / rate));
    const int b =
        std::max(a + 1, static_cast<int>(std::ceil(lo * std::pow(2.0, 1.0 / 3.0) * n / rate)));
    bands.emplace_back(a, b);
  }
  return bands;
}

// Whether a block's spectrum stays within kNoiseOnlyMatchDb of the tracker's long-term floor in
// at least kNoiseOnlyMatchShare of the third-octave bands.
constexpr double kNoiseOnlyMatchDb = 8.0;
constexpr double kNoiseOnlyMatchShare = 0.9;
// Whether a block's spectrum rises more than kStandOutDb over `reference` in at least
// kStandOutShare of the third-octave bands (0.5 s of a crowd stays within about 2 dB of the crowd's
// mean spectrum in most bands; a note does not).
constexpr double kStandOutDb = 3.0;
constexpr double kStandOutShare = 0.2;
bool stands_out(const std::vector<double>& block, const std::vector<double>& reference,
                const std::vector<std::pair<int, int>>& bands) {
  int over = 0;
  for (const auto& [a, b] : bands) {
    double pb = 0, pr = 0;
    for (int k = a; k < b; ++k) {
      pb += block[k];
      pr += reference[k];
    }
    if (to_db(pb) - to_db(pr) > kStandOutDb) ++over;
  }
  return over >= kStandOutShare * static_cast<double>(bands.size());
}

bool matches_floor(const std::vector<double>& block, const std::vector<double>& floor,
                   const std::vector<std::pair<int, int>>& bands) {
  int ok = 0;
  for (const auto& [a, b] : bands) {
    double pb = 0, pf = 0;
    for (int k = a; k < b; ++k) {
      pb += block[k];
      pf += floor[k];
    }
    if (to_db(pb) - to_db(pf) <= kNoiseOnlyMatchDb) ++ok;
  }
  return !bands.empty() && ok >= kNoiseOnlyMatchShare * static_cast<double>(bands.size());
}

// n * sum(w^2) of the periodic Hann window: turns sum_k weight(k) |X_k|^2 into a mean square.
double hann_power_scale(int n) { return static_cast<double>(n) * (3.0 * n / 8.0); }

double bins_mean_square(const std::vector<double>& power, int n) {
  double sum = 0;
  const size_t last = power.size() - 1;
  for (size_t k = 0; k < power.size(); ++k) sum += (k == 0 || k == last ? 1.0 : 2.0) * power[k];
  return sum / hann_power_scale(n);
}

void check_rate(double sample_rate_hz) {
  if (!(sample_rate_hz >= 8000 && sample_rate_hz <= 768000))
    throw UsageError(describe("bad sample rate", fixed(sample_rate_hz, 0), "use 8000..768000 Hz"));
}

void check_channels(int channels) {
  if (channels < 1)
    throw UsageError(describe("bad channel count", std::to_string(channels), ">= 1"));
}

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

// ---------------------------------------------------------------------------------------------
namespace detail {

// One STFT analysis for the denoiser and the analysis passes: every hop (n / kHopDivisor), the
// Hann-windowed spectra of the last n samples of each channel (StftAnalysis, Start::kPadded: zeros
// before the start) and their channel-mean power per bin, the scale of the noise estimates.
class StftFramer {
 public:
  StftFramer(int channels, int n)
      : stft_(channels, n, n / kHopDivisor, hann_window(n)),
        power_(static_cast<size_t>(n / 2 + 1)) {}

  // Appends `frames` interleaved frames; at each hop calls on_frame(power), with spectrum(c)
  // holding that frame's spectra (which on_frame may modify).
  template <typename Fn>
  void push(const float* x, size_t frames, Fn&& on_frame) {
    stft_.push(x, frames, [&] {
      std::fill(power_.begin(), power_.end(), 0.0);
      for (int c = 0; c < stft_.channels(); ++c) {
        const std::complex<float>* X = stft_.spectrum(c);
        for (size_t k = 0; k < power_.size(); ++k) power_[k] += std::norm(X[k]);
      }
      for (double& p : power_) p /= stft_.channels();
      on_frame(power_);
    });
  }
  std::complex<float>* spectrum(int c) { return stft_.spectrum(c); }
  int hop() const { return stft_.hop(); }
  int bins() const { return stft_.bins(); }

 private:
  StftAnalysis stft_;
  std::vector<double> power_;
};

}  // namespace detail

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
       "deepest attenuation of any time-frequency bin"},
      {"smoothing", &S::smoothing, "", 0.5, 0.995,
       "decision-directed weight of the previous frame (0.5..0.995)"},
      {"tracker_window_s", &S::tracker_window_s, "s", 0.5, 10,
       "minimum-statistics window of the blind noise tracker"},
      {"low_cap_hz", &S::low_cap_hz, "Hz", 0, 1000,
       "bass guard: below it the blind noise estimate falls 6 dB/octave in power (0 = off)"},
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

// ---------------------------------------------------------------------------------------------
double expint_e1(double x) {
  if (x <= 0) return std::numeric_limits<double>::infinity();
  if (x <= 1.0) {
    return -std::log(x) - 0.57721566 +
           x * (0.99999193 +
                x * (-0.24991055 + x * (0.05519968 + x * (-0.00976004 + x * 0.00107857))));
  }
  if (x > 700) return 0.0;
  const double num =
      x * (x * (x * (x + 8.5733287401) + 18.0590169730) + 8.6347608925) + 0.2677737343;
  const double den =
      x * (x * (x * (x + 9.5733223454) + 25.6329561486) + 21.0996530827) + 3.9584969228;
  return num / den / (x * std::exp(x));
}

double lsa_gain(double xi, double gamma) {
  const double r = xi / (1.0 + xi);
  const double v = std::max(r * gamma, 1e-10);
  const double e = expint_e1(v);
  // exp(E1/2) grows without bound as v -> 0; the gain is limited to 1 by the caller anyway.
  if (e > 40) return 1e6;
  return r * std::exp(0.5 * e);
}

// ---------------------------------------------------------------------------------------------
Denoiser::Denoiser(int channels, double sample_rate_hz, const DenoiseSettings& settings,
                   NoiseSource source, const NoiseProfile* profile)
    : channels_(channels),
      rate_(sample_rate_hz),
      settings_(settings),
      source_(source),
      n_(denoise_fft_size(sample_rate_hz)),
      hop_(n_ / kHopDivisor),
      bins_(n_ / 2 + 1) {
  check_channels(channels);
  check_rate(sample_rate_hz);
  settings_.validate();
  if (source == NoiseSource::kProfile) {
    if (!profile || profile->empty())
      throw UsageError("denoise: a noise profile is required for the profile mode");
    if (profile->fft_size != n_ || std::abs(profile->sample_rate_hz - sample_rate_hz) > 0.5)
      throw UsageError(describe(
          "noise profile does not match", fixed(profile->sample_rate_hz, 0) + " Hz",
          "measured at another sample rate than the audio (" + fixed(sample_rate_hz, 0) + " Hz)"));
    profile_ = profile->power;
  } else {
    tracker_ =
        std::make_unique<NoiseTracker>(bins_, sample_rate_hz / hop_, settings_, n_, sample_rate_hz);
  }
  framer_ = std::make_unique<detail::StftFramer>(channels_, n_);
  sample_.resize(static_cast<size_t>(channels_));
  synthesis_ = std::make_unique<StftSynthesis>(channels_, n_, hop_, hann_window(n_),
                                               static_cast<float>(1.0 / kHannSquaredOverlap));
  ready_.assign(static_cast<size_t>(channels_) * hop_, 0.0f);
  prev_clean_.assign(static_cast<size_t>(bins_), 0.0);
  gain_db_.assign(static_cast<size_t>(bins_), 0.0);
  gain_floor_ = db_to_amplitude(-settings_.strength_db);
  power_scale_ = hann_power_scale(n_);
}

Denoiser::~Denoiser() = default;

size_t Denoiser::latency_frames() const { return static_cast<size_t>(n_); }

void Denoiser::process(const float* in, float* out, size_t frames) {
  for (size_t i = 0; i < frames; ++i) {
    // The input frame is taken before the output is written: `in` and `out` may be one buffer.
    std::copy(in + i * channels_, in + (i + 1) * channels_, sample_.begin());
    std::copy(&ready_[ready_pos_ * channels_], &ready_[(ready_pos_ + 1) * channels_],
              out + i * channels_);
    ++ready_pos_;
    framer_->push(sample_.data(), 1, [&](const std::vector<double>& power) {
      run_frame(power);
      ready_pos_ = 0;
    });
  }
}

void Denoiser::run_frame(const std::vector<double>& power) {
  // The first frames overlap the zeros before the start: fed to the tracker they would fake a
  // quiet floor that its minimum keeps for a whole window (no reduction for 9/8 tracker_window_s).
  // They pass unchanged instead, as no noise estimate exists yet.
  const bool before_estimate = tracker_ && ++frames_run_ < kHopDivisor;
  const std::vector<double>* noise = before_estimate ? nullptr
                                     : tracker_      ? &tracker_->update(power.data())
                                                     : &profile_;
  const double a = settings_.smoothing;
  double frame_noise = 0;
  for (int k = 0; k < bins_; ++k) {
    const double p = power[k];
    const double lambda = noise ? (*noise)[k] : 0.0;
    frame_noise += (k == 0 || k == bins_ - 1 ? 1.0 : 2.0) * lambda;
    double g = 1.0;
    if (lambda > kTinyPower && p > kTinyPower) {
      const double gamma = p / lambda;
      double xi = a * prev_clean_[k] / lambda + (1 - a) * std::max(gamma - 1.0, 0.0);
      xi = std::max(xi, kMinPrioriSnr);
      g = std::min(1.0, lsa_gain(xi, gamma));
      prev_clean_[k] = g * g * p;
      g = std::max(g, gain_floor_);
    } else {
      prev_clean_[k] = p;
    }
    in_energy_ += p;
    out_energy_ += g * g * p;
    gain_db_[k] = amplitude_to_db(g);
    for (int c = 0; c < channels_; ++c) framer_->spectrum(c)[k] *= static_cast<float>(g);
  }
  if (noise) {
    noise_sum_ += frame_noise / power_scale_;
    ++noise_frames_;
    update_mask_stats();
  }
  for (int c = 0; c < channels_; ++c)
    synthesis_->add(c, framer_->spectrum(c), &ready_[static_cast<size_t>(c)], channels_);
}

void Denoiser::update_mask_stats() {
  const double floor_db = -settings_.strength_db;
  const int lo = std::max(1, static_cast<int>(100.0 * n_ / rate_));
  const int hi = std::min(bins_ - 2, static_cast<int>(16000.0 * n_ / rate_));
  if (!prev_gain_db_.empty() && settings_.strength_db > 0) {
    for (int k = lo; k <= hi; ++k) {
      flux_sum_ += std::abs(gain_db_[k] - prev_gain_db_[k]);
      ++flux_count_;
      const double g = gain_db_[k];
      if (g >= floor_db + 12.0 && gain_db_[k - 1] <= floor_db + 3.5 &&
          gain_db_[k + 1] <= floor_db + 3.5 && prev_gain_db_[k] <= floor_db + 3.5)
        ++isolated_;
      ++mask_bins_;
    }
  }
  prev_gain_db_ = gain_db_;
}

double Denoiser::gain_flux_db() const {
  return flux_count_ > 0 ? flux_sum_ / static_cast<double>(flux_count_) : 0.0;
}

double Denoiser::isolated_peak_ratio() const {
  return mask_bins_ > 0 ? static_cast<double>(isolated_) / static_cast<double>(mask_bins_) : 0.0;
}

double Denoiser::energy_change_db() const {
  if (in_energy_ <= 0) return 0.0;
  return to_db(out_energy_ / in_energy_);
}

double Denoiser::mean_noise_dbfs() const {
  if (noise_frames_ == 0) return -200.0;
  return to_db(noise_sum_ / static_cast<double>(noise_frames_));
}

// ---------------------------------------------------------------------------------------------
nlohmann::json NoiseAnalysis::to_json() const {
  nlohmann::json j = {{"snr_db", snr_db},
                      {"tracker_snr_db", tracker_snr_db},
                      {"floor_snr_db", floor_snr_db},
                      {"signal_dbfs", signal_dbfs},
                      {"noise_only_found", found_noise_only},
                      {"noise_only_s", noise_only_s}};
  if (found_noise_only) j["auto_profile_dbfs"] = auto_profile.level_dbfs();
  return j;
}

struct NoiseAnalyzer::Impl {
  struct Block {
    double level_db;
    std::vector<double> power;
    bool operator<(const Block& o) const { return level_db < o.level_db; }  // max-heap by level
  };
  Impl(int channels, double rate, const DenoiseSettings& settings)
      : rate_hz(rate),
        n(denoise_fft_size(rate)),
        framer(channels, n),
        tracker(framer.bins(), rate / framer.hop(), settings, n, rate),
        block_sum(framer.bins(), 0.0),
        frames_per_block(
            std::max(1, static_cast<int>(std::lround(kBlockSeconds * rate / framer.hop())))) {}
  double rate_hz;
  int n;
  detail::StftFramer framer;
  NoiseTracker tracker;
  double signal_sum = 0;  // sum over STFT frames of the frame's mean square
  double noise_sum = 0;
  int64_t spectra = 0;
  std::vector<double> block_sum;
  int in_block = 0;
  int frames_per_block;
  std::vector<float> block_levels;
  std::vector<double> tracker_sum;      // per bin, over counted frames
  std::priority_queue<Block> quietest;  // the kKeepBlocks quietest, loudest on top
};

NoiseAnalyzer::NoiseAnalyzer(int channels, double sample_rate_hz, const DenoiseSettings& settings) {
  check_channels(channels);
  check_rate(sample_rate_hz);
  settings.validate();
  impl_ = std::make_unique<Impl>(channels, sample_rate_hz, settings);
}

NoiseAnalyzer::~NoiseAnalyzer() = default;

void NoiseAnalyzer::add(const float* interleaved, size_t frames) {
  Impl& m = *impl_;
  m.framer.push(interleaved, frames, [&](const std::vector<double>& p) {
    ++m.spectra;
    // Skip the first frames that overlap the zeros before the start (they would fake a quiet
    // floor).
    if (m.spectra < kHopDivisor) return;
    const double ms = bins_mean_square(p, m.n);
    m.signal_sum += ms;
    const std::vector<double>& est = m.tracker.update(p.data());
    m.noise_sum += bins_mean_square(est, m.n);
    if (m.tracker_sum.empty()) m.tracker_sum.assign(est.size(), 0.0);
    for (size_t k = 0; k < est.size(); ++k) m.tracker_sum[k] += est[k];
    for (size_t k = 0; k < p.size(); ++k) m.block_sum[k] += p[k];
    if (++m.in_block == m.frames_per_block) {
      Impl::Block b;
      b.power.resize(m.block_sum.size());
      for (size_t k = 0; k < b.power.size(); ++k) b.power[k] = m.block_sum[k] / m.frames_per_block;
      b.level_db = to_db(bins_mean_square(b.power, m.n));
      std::fill(m.block_sum.begin(), m.block_sum.end(), 0.0);
      m.in_block = 0;
      if (b.level_db < kSilentBlockDbfs) return;
      m.block_levels.push_back(static_cast<float>(b.level_db));
      if (static_cast<int>(m.quietest.size()) < kKeepBlocks) {
        m.quietest.push(std::move(b));
      } else if (b.level_db < m.quietest.top().level_db) {
        m.quietest.pop();
        m.quietest.push(std::move(b));
      }
    }
  });
}

NoiseAnalysis NoiseAnalyzer::finish() {
  Impl& m = *impl_;
  NoiseAnalysis a;
  const int64_t counted = m.spectra - (kHopDivisor - 1);
  if (counted <= 0 || m.signal_sum <= 0) {
    // Too short or digital silence: there is nothing to remove.
    a.snr_db = a.tracker_snr_db = a.floor_snr_db = 120.0;
    return a;
  }
  const double signal = m.signal_sum / static_cast<double>(counted);
  const double tracker_noise = m.noise_sum / static_cast<double>(counted);
  a.signal_dbfs = to_db(signal);
  auto snr = [&](double noise) { return std::clamp(to_db(signal) - to_db(noise), -50.0, 120.0); };
  a.tracker_snr_db = tracker_noise > 0 ? snr(tracker_noise) : 120.0;
  std::vector<Impl::Block> kept;
  while (!m.quietest.empty()) {
    kept.push_back(m.quietest.top());
    m.quietest.pop();
  }
  std::sort(kept.begin(), kept.end());
  if (kept.empty()) {
    a.floor_snr_db = 120.0;
  } else {
    a.floor_snr_db = std::clamp(a.signal_dbfs - kept.front().level_db, -50.0, 120.0);
  }
  // The quietest block only speaks for a clean recording when it is close to silence: a crowd has
  // quiet moments of its own (10-15 dB under its mean on the recording here), so a moderate floor
  // says nothing, while a stretch kSilenceEvidenceDb under the programme (a clean song's fade-out
  // or gap) rules out a continuous noise above that.
  a.snr_db = a.floor_snr_db >= kSilenceEvidenceDb ? std::max(a.tracker_snr_db, a.floor_snr_db)
                                                  : a.tracker_snr_db;
  if (!kept.empty() && m.block_levels.size() >= 4) {
    std::vector<float> levels = m.block_levels;
    const double median = median_in_place(levels.begin(), levels.end());
    const double quietest = kept.front().level_db;
    // A crowd-only block looks like the long-term noise floor the tracker found in every band; a
    // quiet passage of music stands out of it where its notes are.
    std::vector<double> floor(m.tracker_sum.size());
    for (size_t k = 0; k < floor.size(); ++k)
      floor[k] = m.tracker_sum[k] / static_cast<double>(counted);
    const auto bands = third_octave_bands(m.n, m.rate_hz);
    a.tracker_floor.sample_rate_hz = m.rate_hz;
    a.tracker_floor.fft_size = m.n;
    a.tracker_floor.duration_s = static_cast<double>(counted) * m.framer.hop() / m.rate_hz;
    a.tracker_floor.power = floor;
    // Candidates: quiet blocks (under the median) that look like the floor. They are anchored on
    // their median level rather than on the quietest one, so that a single lull of the crowd
    // (10 dB under its usual level) does not shut out the crowd at its usual level.
    (void)quietest;
    std::vector<const Impl::Block*> candidates;
    for (const auto& b : kept)
      if (b.level_db <= median - kNoiseOnlyBelowMedianDb && matches_floor(b.power, floor, bands))
        candidates.push_back(&b);
    std::vector<double> sum(kept.front().power.size(), 0.0);
    int used = 0;
    if (!candidates.empty()) {
      const double anchor = candidates[candidates.size() / 2]->level_db;  // sorted by level
      std::vector<const Impl::Block*> chosen;
      for (const Impl::Block* b : candidates)
        if (std::abs(b->level_db - anchor) <= kNoiseOnlyRangeDb) chosen.push_back(b);
      // Refinement: against the mean spectrum of the chosen blocks (much closer to the crowd than
      // the tracker's floor), a block with music in it stands out in some bands; it is dropped.
      std::vector<double> mean(sum.size(), 0.0);
      for (const Impl::Block* b : chosen)
        for (size_t k = 0; k < mean.size(); ++k) mean[k] += b->power[k] / chosen.size();
      for (const Impl::Block* b : chosen) {
        if (chosen.size() > 2 && stands_out(b->power, mean, bands)) continue;
        for (size_t k = 0; k < sum.size(); ++k) sum[k] += b->power[k];
        ++used;
      }
    }
    const double seconds =
        used * m.frames_per_block * static_cast<double>(m.framer.hop()) / m.rate_hz;
    if (used > 0 && seconds >= kMinAutoSeconds) {
      a.found_noise_only = true;
      a.noise_only_s = seconds;
      a.auto_profile.sample_rate_hz = m.rate_hz;
      a.auto_profile.fft_size = m.n;
      a.auto_profile.duration_s = seconds;
      a.auto_profile.power.resize(sum.size());
      for (size_t k = 0; k < sum.size(); ++k) a.auto_profile.power[k] = sum[k] / used;
    }
  }
  return a;
}

nlohmann::json Denoiser::statistics() const {
  return {{"energy_change_db", energy_change_db()},
          {"mean_noise_dbfs", json_level(mean_noise_dbfs())},
          {"gain_flux_db", gain_flux_db()},
          {"isolated_peak_ratio", isolated_peak_ratio()}};
}

}  // namespace rz::dsp
