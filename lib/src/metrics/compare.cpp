// SDR, SI-SDR and log-spectral distance from running sums and a lock-step STFT of both signals.
#include "rz/metrics/compare.hpp"

#include <cmath>
#include <vector>

#include "rz/dsp/fft.hpp"
#include "rz/metrics/loudness.hpp"

namespace rz::metrics {

namespace {
constexpr int kLsdFft = 2048;
constexpr int kLsdHop = 512;
constexpr double kLsdEpsilon = 1e-10;      // power floor inside the log (about -100 dB per bin)
constexpr double kLsdSilentFrame = 1e-12;  // reference frames quieter than this are skipped
constexpr double kMaxRatioDb = 300.0;      // report identity as +300 dB rather than infinity
}  // namespace

struct Comparator::Impl {
  int channels;
  int64_t frames = 0;
  double xx = 0, yy = 0, xy = 0, ee = 0;
  std::vector<dsp::PowerSpectrumStream> ref_streams, est_streams;  // one each (mid signal)
  std::vector<float> ref_mono, est_mono;
  double lsd_sum = 0;
  int64_t lsd_frames = 0;

  explicit Impl(int c) : channels(c) {
    ref_streams.emplace_back(kLsdFft, kLsdHop);
    est_streams.emplace_back(kLsdFft, kLsdHop);
  }

  void spectral(const float* ref, const float* est, size_t n) {
    // Channel-averaged power is approximated by the spectrum of the channel mean (mid): cheaper,
    // and the same for mono; for stereo it weights what both speakers share.
    ref_mono.resize(n);
    est_mono.resize(n);
    for (size_t i = 0; i < n; ++i) {
      double r = 0, e = 0;
      for (int c = 0; c < channels; ++c) {
        r += ref[i * channels + c];
        e += est[i * channels + c];
      }
      ref_mono[i] = static_cast<float>(r / channels);
      est_mono[i] = static_cast<float>(e / channels);
    }
    feed(n);
  }

  void feed(size_t n) {
    constexpr int bins = kLsdFft / 2 + 1;
    std::vector<float> rf, ef;
    auto collect_r = [&rf](const float* p) { rf.insert(rf.end(), p, p + bins); };
    auto collect_e = [&ef](const float* p) { ef.insert(ef.end(), p, p + bins); };
    if (n > 0) {
      ref_streams[0].push(ref_mono.data(), n, 1, collect_r);
      est_streams[0].push(est_mono.data(), n, 1, collect_e);
    } else {
      ref_streams[0].flush(collect_r);
      est_streams[0].flush(collect_e);
    }
    const double scale = ref_streams[0].power_scale();
    for (size_t f = 0; f * bins < rf.size(); ++f) {
      const float* r = &rf[f * bins];
      const float* e = &ef[f * bins];
      double energy = 0;
      for (int k = 0; k < bins; ++k) energy += r[k] / scale;
      if (energy < kLsdSilentFrame) continue;
      double acc = 0;
      for (int k = 0; k < bins; ++k) {
        const double d =
            10.0 * std::log10((r[k] / scale + kLsdEpsilon) / (e[k] / scale + kLsdEpsilon));
        acc += d * d;
      }
      lsd_sum += std::sqrt(acc / bins);
      ++lsd_frames;
    }
  }
};

Comparator::Comparator(int channels) : impl_(new Impl(channels)) {}
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
  s.spectral(x, y, frames);
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
  s.feed(0);
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

}  // namespace rz::metrics
