// Blind T60 from least-squares fits to the free decays of octave-band envelopes.
#include "rz/dsp/reverb_time.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "rz/error.hpp"

namespace rz::dsp {

namespace {

double log_min() { return std::log(ReverbTimeEstimator::kMinT60S); }
double log_step() {
  return (std::log(ReverbTimeEstimator::kMaxT60S) - log_min()) /
         ReverbTimeEstimator::kHistogramBins;
}

// The percentile q of a histogram, at the centre of the bin where the cumulative count reaches it.
double histogram_percentile(const std::vector<int64_t>& histogram, double q) {
  int64_t total = 0;
  for (int64_t n : histogram) total += n;
  if (total == 0) return 0;
  const double want = q * static_cast<double>(total);
  int64_t cumulative = 0;
  for (size_t i = 0; i < histogram.size(); ++i) {
    cumulative += histogram[i];
    if (static_cast<double>(cumulative) >= want && histogram[i] > 0)
      return std::exp(log_min() + (static_cast<double>(i) + 0.5) * log_step());
  }
  return std::exp(log_min() + (static_cast<double>(histogram.size()) - 0.5) * log_step());
}

}  // namespace

nlohmann::json ReverbTime::to_json() const {
  return {{"valid", valid},
          {"t60_s", t60_s},
          {"decays_used", decays_used},
          {"band_t60_s", band_t60_s},
          {"band_centres_hz", ReverbTimeEstimator::kBandCentresHz},
          {"method",
           "blind: least-squares fits to free decays of octave-band envelopes "
           "(500-4000 Hz), median"}};
}

ReverbTimeEstimator::ReverbTimeEstimator(int channels, int sample_rate_hz)
    : channels_(channels), rate_(sample_rate_hz) {
  if (channels < 1)
    throw UsageError(describe("bad channel count", std::to_string(channels), ">= 1"));
  if (sample_rate_hz < 8000 || sample_rate_hz > 768000)
    throw UsageError(
        describe("bad sample rate", std::to_string(sample_rate_hz), "use 8000..768000 Hz"));
  int n = 256;
  while (n < kFrameS * sample_rate_hz) n *= 2;
  const int hop = n / 4;
  frames_per_s_ = static_cast<double>(sample_rate_hz) / hop;
  smooth_coeff_ = std::exp(-1.0 / (kSmoothS * frames_per_s_));
  stream_ = std::make_unique<PowerSpectrumStream>(n, hop);
  for (double fc : kBandCentresHz) {
    Band b;
    b.lo = std::max(1, static_cast<int>(std::lround(fc / std::sqrt(2.0) * n / sample_rate_hz)));
    b.hi = std::min(n / 2, static_cast<int>(std::lround(fc * std::sqrt(2.0) * n / sample_rate_hz)));
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
    stream_->push(mono_.data(), count, 1, [this](const float* power) { on_frame(power); });
  }
}

void ReverbTimeEstimator::close(Band& b, double frames_per_s) {
  if (b.in_decay && b.n >= kMinFitFrames && b.fit_max - b.fit_min >= kMinFitSpanDb) {
    const double denom = b.n * b.stt - b.st * b.st;
    if (denom > 0) {
      const double slope_db_per_frame = (b.n * b.stl - b.st * b.sl) / denom;
      const double slope_db_s = slope_db_per_frame * frames_per_s;
      if (slope_db_s < 0) {
        const double t60 = -60.0 / slope_db_s;
        if (t60 >= kMinT60S && t60 < kMaxT60S) {
          const int i = static_cast<int>((std::log(t60) - log_min()) / log_step());
          ++b.histogram[std::clamp(i, 0, kHistogramBins - 1)];
        }
      }
    }
  }
  b.in_decay = false;
  b.n = b.st = b.stt = b.sl = b.stl = 0;
  b.fit_max = -1e300;
  b.fit_min = 1e300;
  b.frame = 0;
}

void ReverbTimeEstimator::on_frame(const float* power) {
  for (Band& b : bands_) {
    double sum = 0;
    for (int k = b.lo; k < b.hi; ++k) sum += power[k];
    const double db = 10 * std::log10(sum + 1e-30);
    b.smooth_db = b.started ? smooth_coeff_ * b.smooth_db + (1 - smooth_coeff_) * db : db;
    b.started = true;
    const double level = b.smooth_db;
    if (b.in_decay && (level > b.prev_db + kRiseToleranceDb || level > b.start_db))
      close(b, frames_per_s_);
    if (!b.in_decay) {
      b.in_decay = true;
      b.start_db = level;
      b.frame = 0;
    }
    // Inside the fit range: accumulate the regression sums.
    const double below = b.start_db - level;
    if (below >= kFitStartDb && below <= kFitStartDb + kFitRangeDb) {
      const double t = static_cast<double>(b.frame);
      b.n += 1;
      b.st += t;
      b.stt += t * t;
      b.sl += level;
      b.stl += t * level;
      b.fit_max = std::max(b.fit_max, level);
      b.fit_min = std::min(b.fit_min, level);
    }
    b.prev_db = level;
    ++b.frame;
  }
}

ReverbTime ReverbTimeEstimator::finish() const {
  std::vector<Band> bands = bands_;
  std::vector<int64_t> pooled(kHistogramBins, 0);
  ReverbTime result;
  for (Band& b : bands) {
    close(b, frames_per_s_);
    int64_t count = 0;
    for (int i = 0; i < kHistogramBins; ++i) {
      pooled[i] += b.histogram[i];
      count += b.histogram[i];
    }
    result.band_t60_s.push_back(count ? histogram_percentile(b.histogram, kPercentile) : 0.0);
    result.decays_used += static_cast<int>(count);
  }
  result.valid = result.decays_used >= kMinDecays;
  result.t60_s = result.valid ? histogram_percentile(pooled, kPercentile) : 0.0;
  return result;
}

}  // namespace rz::dsp
