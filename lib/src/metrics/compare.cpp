// SDR, SI-SDR and log-spectral distance from running sums and a lock-step STFT of both signals.
#include "rz/metrics/compare.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "rz/dsp/fft.hpp"

namespace rz::metrics {

namespace {
constexpr int kLsdBins = kLsdFftSize / 2 + 1;  // hop kLsdHop: 75 % overlap
constexpr double kMaxRatioDb = 300.0;          // report identity as +300 dB rather than infinity

double db_ratio(double level, double reference) { return std::pow(10.0, level / 10.0) * reference; }

// The mono sum of interleaved input, cut into Hann frames; each frame's power spectrum goes to
// `on_frame`.
class MonoSpectra {
 public:
  explicit MonoSpectra(int channels) : channels_(channels), stream_(kLsdFftSize, kLsdHop) {}
  template <class F>
  void push(const float* x, size_t n, F&& on_frame) {
    mono_.resize(n);
    for (size_t i = 0; i < n; ++i) {
      double sum = 0;
      for (int c = 0; c < channels_; ++c) sum += x[i * channels_ + c];
      mono_[i] = static_cast<float>(sum);
    }
    stream_.push(mono_.data(), n, 1, on_frame);
  }
  template <class F>
  void flush(F&& on_frame) {
    stream_.flush(on_frame);
  }

 private:
  int channels_;
  dsp::PowerSpectrumStream stream_;
  std::vector<float> mono_;
};

double frame_energy(const float* p) {
  double e = 0;
  for (int k = 0; k < kLsdBins; ++k) e += p[k];
  return e;
}
}  // namespace

struct LsdLevelScan::Impl {
  MonoSpectra spectra;
  LsdLevels levels;
  explicit Impl(int channels) : spectra(channels) {}
  void on_frame(const float* p) {
    for (int k = 0; k < kLsdBins; ++k)
      levels.loudest_bin_power = std::max<double>(levels.loudest_bin_power, p[k]);
    levels.loudest_frame_energy = std::max(levels.loudest_frame_energy, frame_energy(p));
  }
};

LsdLevelScan::LsdLevelScan(int channels) : impl_(new Impl(channels)) {}
LsdLevelScan::~LsdLevelScan() = default;
LsdLevelScan::LsdLevelScan(LsdLevelScan&&) noexcept = default;
LsdLevelScan& LsdLevelScan::operator=(LsdLevelScan&&) noexcept = default;
void LsdLevelScan::add(const float* reference, size_t frames) {
  impl_->spectra.push(reference, frames, [this](const float* p) { impl_->on_frame(p); });
}
LsdLevels LsdLevelScan::finish() {
  impl_->spectra.flush([this](const float* p) { impl_->on_frame(p); });
  return impl_->levels;
}

struct Comparator::Impl {
  int channels;
  int64_t frames = 0;
  double xx = 0, yy = 0, xy = 0, ee = 0;
  MonoSpectra ref_spectra, est_spectra;
  std::vector<float> ref_frames, est_frames;  // spectra not yet paired
  double floor_power;                         // bin powers below this count as this
  double gate_energy;                         // reference frames below this are skipped
  double lsd_sum = 0;
  int64_t lsd_frames = 0;

  Impl(int c, const LsdLevels& levels)
      : channels(c),
        ref_spectra(c),
        est_spectra(c),
        floor_power(db_ratio(kLsdFloorDb, levels.loudest_bin_power)),
        gate_energy(db_ratio(kLsdFrameGateDb, levels.loudest_frame_energy)) {}

  void spectral(const float* ref, const float* est, size_t n, bool last) {
    auto collect_r = [this](const float* p) {
      ref_frames.insert(ref_frames.end(), p, p + kLsdBins);
    };
    auto collect_e = [this](const float* p) {
      est_frames.insert(est_frames.end(), p, p + kLsdBins);
    };
    if (!last) {
      ref_spectra.push(ref, n, collect_r);
      est_spectra.push(est, n, collect_e);
    } else {
      ref_spectra.flush(collect_r);
      est_spectra.flush(collect_e);
    }
    // Both streams see the same lengths, so they emit the same frames.
    const size_t count = ref_frames.size() / kLsdBins;
    for (size_t f = 0; f < count; ++f) {
      const float* r = &ref_frames[f * kLsdBins];
      const float* e = &est_frames[f * kLsdBins];
      const double energy = frame_energy(r);
      if (!(energy > 0) || energy < gate_energy) continue;
      lsd_sum += lsd_frame_db(r, e, kLsdBins, floor_power);
      ++lsd_frames;
    }
    ref_frames.clear();
    est_frames.clear();
  }
};

double lsd_frame_db(const float* reference, const float* estimate, int bins, double floor_power) {
  double acc = 0;
  for (int k = 0; k < bins; ++k) {
    const double d = 10.0 * std::log10(std::max<double>(reference[k], floor_power) /
                                       std::max<double>(estimate[k], floor_power));
    acc += d * d;
  }
  return std::sqrt(acc / bins);
}

Comparator::Comparator(int channels, const LsdLevels& reference_levels)
    : impl_(new Impl(channels, reference_levels)) {}
Comparator::~Comparator() = default;
Comparator::Comparator(Comparator&&) noexcept = default;
Comparator& Comparator::operator=(Comparator&&) noexcept = default;

void Comparator::add(const float* x, const float* y, size_t frames) {
  Impl& s = *impl_;
  const size_t n = frames * static_cast<size_t>(s.channels);
  for (size_t i = 0; i < n; ++i) {
    const double a = x[i], b = y[i];
    s.xx += a * a;
    s.yy += b * b;
    s.xy += a * b;
    s.ee += (a - b) * (a - b);
  }
  s.frames += static_cast<int64_t>(frames);
  s.spectral(x, y, frames, false);
}

namespace {
double ratio_db(double num, double den) {
  if (den <= 0) return num > 0 ? kMaxRatioDb : 0.0;
  if (num <= 0) return -kMaxRatioDb;
  return std::min(kMaxRatioDb, 10.0 * std::log10(num / den));
}
}  // namespace

Comparison Comparator::finish() {
  Impl& s = *impl_;
  s.spectral(nullptr, nullptr, 0, true);
  Comparison c;
  c.frames = s.frames;
  c.sdr_db = ratio_db(s.xx, s.ee);
  if (s.xx > 0) {
    const double a = s.xy / s.xx;
    const double target = a * a * s.xx;
    const double residual = std::max(0.0, target - 2 * a * s.xy + s.yy);
    c.si_sdr_db = ratio_db(target, residual);
  }
  c.lsd_db = s.lsd_frames > 0 ? s.lsd_sum / s.lsd_frames : 0.0;
  return c;
}

nlohmann::json Comparison::to_json() const {
  return {
      {"aligned_frames", frames}, {"sdr_db", sdr_db}, {"si_sdr_db", si_sdr_db}, {"lsd_db", lsd_db}};
}

Comparison compare(const float* reference, const float* estimate, size_t frames, int channels) {
  LsdLevelScan scan(channels);
  scan.add(reference, frames);
  Comparator c(channels, scan.finish());
  c.add(reference, estimate, frames);
  return c.finish();
}

}  // namespace rz::metrics
