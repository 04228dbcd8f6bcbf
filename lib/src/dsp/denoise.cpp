// STFT noise reduction: the log-spectral-amplitude gain and the streaming Denoiser.
#include "rz/dsp/denoise.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "denoise_detail.hpp"

namespace rz::dsp {

using namespace detail;  // denoise_detail.hpp

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
  long_power_.assign(static_cast<size_t>(bins_), 0.0);
  long_noise_.assign(static_cast<size_t>(bins_), 0.0);
  long_decay_ = std::exp(-hop_ / (sample_rate_hz * kLongTermS));
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
      g = std::max(g, floor_amplitude(k, p, lambda));
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

double Denoiser::floor_amplitude(int k, double power, double lambda) {
  if (settings_.noise_band_depth_db <= 0) return gain_floor_;
  // Long-term means of the bin's power and of its noise estimate (one pole, kLongTermS), from
  // the first frame that has an estimate.
  const size_t i = static_cast<size_t>(k);
  if (long_noise_[i] <= 0) {
    long_power_[i] = power;
    long_noise_[i] = lambda;
  } else {
    long_power_[i] = long_decay_ * long_power_[i] + (1 - long_decay_) * power;
    long_noise_[i] = long_decay_ * long_noise_[i] + (1 - long_decay_) * lambda;
  }
  const double over_db = to_db(long_power_[i]) - to_db(long_noise_[i]);
  const double w =
      std::clamp((kNoiseBandOverDb + kNoiseBandRangeDb - over_db) / kNoiseBandRangeDb, 0.0, 1.0);
  return db_to_amplitude(-settings_.strength_db - w * settings_.noise_band_depth_db);
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

nlohmann::json Denoiser::statistics() const {
  return {{"energy_change_db", energy_change_db()},
          {"mean_noise_dbfs", json_level(mean_noise_dbfs())},
          {"gain_flux_db", gain_flux_db()},
          {"isolated_peak_ratio", isolated_peak_ratio()}};
}

}  // namespace rz::dsp
