// Blind T60 from the steep end of the short-window decay rates of octave-band envelopes.
#include "rz/dsp/reverb_time.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "rz/dsp/units.hpp"
#include "rz/error.hpp"

namespace rz::dsp {

namespace {

double log_min() { return std::log(ReverbTimeEstimator::kMinT60S); }
double log_step() {
  return (std::log(ReverbTimeEstimator::kMaxT60S) - log_min()) /
         ReverbTimeEstimator::kHistogramBins;
}

// The percentile q of a histogram, interpolated inside the bin where the cumulative count
// reaches it (log-spaced bins).
double histogram_percentile(const std::vector<int64_t>& histogram, double q) {
  int64_t total = 0;
  for (int64_t n : histogram) total += n;
  if (total == 0) return 0;
  const double want = q * static_cast<double>(total);
  double cumulative = 0;
  for (size_t i = 0; i < histogram.size(); ++i) {
    const double next = cumulative + static_cast<double>(histogram[i]);
    if (next >= want && histogram[i] > 0) {
      const double frac =
          std::clamp((want - cumulative) / static_cast<double>(histogram[i]), 0.0, 1.0);
      return std::exp(log_min() + (static_cast<double>(i) + frac) * log_step());
    }
    cumulative = next;
  }
  return std::exp(log_min() + static_cast<double>(histogram.size()) * log_step());
}

}  // namespace

nlohmann::json ReverbTime::to_json() const {
  return {{"valid", valid},
          {"t60_s", t60_s},
          {"decays_used", decays_used},
          {"band_t60_s", band_t60_s},
          {"band_centres_hz", ReverbTimeEstimator::kBandCentresHz},
          {"window_s", ReverbTimeEstimator::kWindowS},
          {"percentile", ReverbTimeEstimator::kPercentile},
          {"method",
           "blind: 20th percentile (steep end) of the decay rates of octave-band envelopes "
           "(500-4000 Hz) fitted over 0.1 s windows after each onset, -60 dB / rate"}};
}

ReverbTimeEstimator::ReverbTimeEstimator(int channels, int sample_rate_hz)
    : channels_(channels), rate_(sample_rate_hz) {
  if (channels < 1)
    throw UsageError(describe("bad channel count", std::to_string(channels), ">= 1"));
  if (sample_rate_hz < 8000 || sample_rate_hz > 768000)
    throw UsageError(
        describe("bad sample rate", std::to_string(sample_rate_hz), "use 8000..768000 Hz"));
  // The bands end below 6 kHz: at 32 kHz and above the channel mean is decimated by 2 first (half
  // the STFT's cost, the same bins and frames in Hz and seconds).
  decimate_ = sample_rate_hz >= kDecimateFromHz;
  const double analysis_rate_hz = decimate_ ? sample_rate_hz / 2.0 : sample_rate_hz;
  int n = 256;
  while (n < kFrameS * analysis_rate_hz) n *= 2;
  const int hop = n / 4;
  frames_per_s_ = analysis_rate_hz / hop;
  smooth_coeff_ = std::exp(-1.0 / (kSmoothS * frames_per_s_));
  window_ = std::max(4, static_cast<int>(std::lround(kWindowS * frames_per_s_)));
  // Least-squares slope over t = 0..W-1: slope = sum((t - mean_t) l_t) / sum((t - mean_t)^2).
  const double mean_t = (window_ - 1) / 2.0;
  sxx_ = 0;
  for (int t = 0; t < window_; ++t) sxx_ += (t - mean_t) * (t - mean_t);
  stream_ = std::make_unique<PowerSpectrumStream>(n, hop);
  for (double fc : kBandCentresHz) {
    Band b;
    b.lo = std::max(1, static_cast<int>(std::lround(fc / std::sqrt(2.0) * n / analysis_rate_hz)));
    b.hi =
        std::min(n / 2, static_cast<int>(std::lround(fc * std::sqrt(2.0) * n / analysis_rate_hz)));
    b.ring.assign(static_cast<size_t>(window_), 0.0);
    b.histogram.assign(kHistogramBins, 0);
    bands_.push_back(b);
  }
}

ReverbTimeEstimator::~ReverbTimeEstimator() = default;
ReverbTimeEstimator::ReverbTimeEstimator(ReverbTimeEstimator&&) noexcept = default;

void ReverbTimeEstimator::add(const float* interleaved, size_t frames) {
  constexpr size_t kChunk = 4096;  // bounds the downmix buffer
  mono_.resize(kChunk);
  for (size_t pos = 0; pos < frames; pos += kChunk) {
    const size_t count = std::min(kChunk, frames - pos);
    for (size_t i = 0; i < count; ++i) {
      float sum = 0;
      for (int c = 0; c < channels_; ++c) sum += interleaved[(pos + i) * channels_ + c];
      mono_[i] = sum / channels_;
    }
    size_t out = count;
    if (decimate_) {
      // Half-band low-pass (-1, 0, 9, 16, 9, 0, -1) / 32 (-0.6 dB at 5.7 kHz, below -24 dB from
      // 16.4 kHz at 44.1 kHz, the band that would alias into the octave bands), every other output.
      out = 0;
      for (size_t i = 0; i < count; ++i) {
        std::copy(history_.begin() + 1, history_.end(), history_.begin());
        history_.back() = mono_[i];
        odd_ = !odd_;
        if (odd_) continue;
        const std::array<float, 7>& h = history_;
        mono_[out++] = (16 * h[3] + 9 * (h[2] + h[4]) - (h[0] + h[6])) / 32;
      }
    }
    stream_->push(mono_.data(), out, 1, [this](const float* power) { on_frame(power); });
  }
}

void ReverbTimeEstimator::on_frame(const float* power) {
  const double mean_t = (window_ - 1) / 2.0;
  for (Band& b : bands_) {
    double sum = 0;
    for (int k = b.lo; k < b.hi; ++k) sum += power[k];
    const double db = 10 * std::log10(sum + 1e-30);
    b.smooth_db = b.frames ? smooth_coeff_ * b.smooth_db + (1 - smooth_coeff_) * db : db;
    const double level = b.smooth_db;
    b.max_db = b.frames ? std::max(b.max_db, level) : level;
    // A rise of more than kRiseToleranceDb marks new sound (a local maximum follows).
    if (b.frames && level > b.prev_db + kRiseToleranceDb) b.since_rise = 0;
    b.prev_db = level;
    b.ring[static_cast<size_t>(b.frames % window_)] = level;
    ++b.frames;
    ++b.since_rise;
    bool clean = false;  // this window is a clean decay (counts towards decays_used)
    if (b.frames >= window_ && b.since_rise >= window_ + skip_frames()) {
      // The window holds the last W levels, oldest at index frames % W.
      double sl = 0, stl = 0, lo = 1e300;
      for (int t = 0; t < window_; ++t) {
        const double l = b.ring[static_cast<size_t>((b.frames + t) % window_)];
        sl += l;
        stl += (t - mean_t) * l;
        lo = std::min(lo, l);
      }
      const double slope = stl / sxx_;  // dB per frame
      if (slope < 0 && lo >= b.max_db - kRangeDb) {
        const double t60 = -60.0 / (slope * frames_per_s_) * kCalibration;
        if (t60 >= kMinT60S && t60 < kMaxT60S) {
          const int i = static_cast<int>((std::log(t60) - log_min()) / log_step());
          ++b.histogram[std::clamp(i, 0, kHistogramBins - 1)];
        }
        // A clean decay: a drop of kMinDropDb that the straight line explains (R^2).
        const double mean = sl / window_;
        double sse = 0, sst = 0;
        for (int t = 0; t < window_; ++t) {
          const double l = b.ring[static_cast<size_t>((b.frames + t) % window_)];
          const double fit = mean + slope * (t - mean_t);
          sse += (l - fit) * (l - fit);
          sst += (l - mean) * (l - mean);
        }
        clean = -slope * (window_ - 1) >= kMinDropDb && sst > 0 && 1 - sse / sst >= kMinR2;
      }
    }
    if (clean && !b.in_run) ++b.runs;
    b.in_run = clean;
  }
}

ReverbTime ReverbTimeEstimator::finish() const {
  std::vector<int64_t> pooled(kHistogramBins, 0);
  ReverbTime result;
  for (const Band& b : bands_) {
    int64_t count = 0;
    for (int i = 0; i < kHistogramBins; ++i) {
      pooled[i] += b.histogram[i];
      count += b.histogram[i];
    }
    result.band_t60_s.push_back(count ? histogram_percentile(b.histogram, kPercentile) : 0.0);
    result.decays_used += b.runs;
  }
  result.valid = result.decays_used >= kMinDecays;
  result.t60_s = result.valid ? histogram_percentile(pooled, kPercentile) : 0.0;
  return result;
}

double reverberation_confidence(const ReverbTime& t, double blind_snr_db) {
  if (!t.valid) return 0.0;
  return ramp(t.t60_s, kDryT60S, kReverberantT60S) *
         ramp(blind_snr_db, kAudienceSnrDb, kAudienceSnrDb - kAudienceRampDb);
}

}  // namespace rz::dsp
