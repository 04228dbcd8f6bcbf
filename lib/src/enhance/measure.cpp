// rz-enhance's measurements of a stem.
#include "rz/enhance/measure.hpp"

#include <memory>

#include "rz/audio/file.hpp"
#include "rz/dsp/biquad.hpp"
#include "rz/dsp/level_histogram.hpp"
#include "rz/metrics/analysis.hpp"
#include "rz/metrics/loudness.hpp"
#include "rz/stems/process.hpp"

namespace rz::enhance {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr double kPeakWindowS = 0.010;  // 10 ms peak levels for dynamic thresholds
constexpr double kSpreadWindowS = 0.4;  // 400 ms RMS levels for the spread
constexpr int kFineLtasFft = 16384;     // rumble shape: 2.7 Hz bins at 44.1 kHz
constexpr int kFineLowestBin = 2;       // bins 0 and 1 hold the DC offset's Hann leakage

// Linked peak level (max over channels of |x|) per window, in dBFS, kept as a histogram.
class PeakLevels {
 public:
  PeakLevels(int channels, size_t window) : channels_(channels), window_(window) {}
  void add_frame_peak(double peak) {
    max_ = std::max(max_, peak);
    if (++count_ == window_) {
      if (max_ > 0) levels_.add(db20(max_));
      max_ = 0;
      count_ = 0;
    }
  }
  // The p-percentile (0..1) of the window levels; -200 when there were none.
  double percentile(double p) const { return levels_.percentile(p); }
  int channels() const { return channels_; }

 private:
  int channels_;
  size_t window_;
  size_t count_ = 0;
  double max_ = 0;
  dsp::LevelHistogram levels_;
};

// Band-pass peak levels per 10 ms: what a DynamicEq's detector sees.
class BandPeaks {
 public:
  BandPeaks(int channels, double rate, double freq_hz, double q)
      : coeffs_(dsp::BiquadCoeffs::bandpass(rate, freq_hz, q)),
        state_(static_cast<size_t>(channels) * 2, 0.0),
        peaks_(channels, static_cast<size_t>(std::lround(kPeakWindowS * rate))),
        channels_(channels) {}
  void add(const float* x, size_t frames) {
    for (size_t i = 0; i < frames; ++i) {
      double m = 0;
      for (int c = 0; c < channels_; ++c)
        m = std::max(m, std::abs(coeffs_.step(x[i * channels_ + c], &state_[2 * c])));
      peaks_.add_frame_peak(m);
    }
  }
  double median_db() const { return peaks_.percentile(0.5); }

 private:
  dsp::BiquadCoeffs coeffs_;
  std::vector<double> state_;
  PeakLevels peaks_;
  int channels_;
};

}  // namespace

json Measurements::to_json() const {
  json j = {{"rms_dbfs", metrics::json_level(rms_dbfs)},
            {"peak_dbfs", metrics::json_level(peak_dbfs)},
            {"crest_db", crest_db},
            {"spread_db", spread_db},
            {"integrated_lufs", metrics::json_level(integrated_lufs)},
            {"centroid_hz", centroid_hz},
            {"rolloff_hz", rolloff_hz},
            {"low_energy_db", metrics::json_level(low_energy_db)},
            {"low_share_db", metrics::json_level(low_share_db)},
            {"low_shape_db", metrics::json_level(low_shape_db)},
            {"reverb", reverb.to_json()},
            {"reverb_confidence", reverb_confidence},
            {"mud_excess_db", mud_excess_db},
            {"low_balance_db", low_balance_db},
            {"sibilance_db", metrics::json_level(sibilance_db)},
            {"bandwidth_hz", bandwidth_hz},
            {"band_limited", band_limited}};
  if (noise_measured) j["noise"] = noise.to_json();
  return j;
}

// The band a stem kind should own (Hz): where its energy must not go missing.
std::pair<double, double> owned_band(StemKind k) {
  switch (k) {
    case StemKind::kVocals:
      return {200, 5000};
    case StemKind::kDrums:
      return {40, 10000};
    case StemKind::kBass:
      return {40, 300};
    case StemKind::kOther:
      return {150, 6000};
    case StemKind::kMix:
      break;
  }
  return {60, 8000};
}

Measurements measure(const fs::path& file, const ChainParams& chain,
                     const std::pair<double, double>& band, const std::string& stage,
                     const Progress& progress) {
  const audio::FileInfo info = audio::Reader(file).info();
  const int ch = info.channels;
  const double rate = info.sample_rate_hz;
  Ltas ltas(ch, kLtasFft);
  // The rumble's shape below a corner of 20-90 Hz needs finer bins (2.7 Hz at 44.1 kHz).
  Ltas fine(ch, kFineLtasFft);
  PeakLevels peaks(ch, static_cast<size_t>(std::lround(kPeakWindowS * rate)));
  BandPeaks demud(ch, rate, num(chain["demud"], "freq_hz"), num(chain["demud"], "q"));
  BandPeaks deess(ch, rate, std::min(num(chain["deess"], "freq_hz"), 0.45 * rate),
                  num(chain["deess"], "q"));
  metrics::LoudnessMeter loud(ch, static_cast<int>(rate), metrics::LoudnessMeter::kIntegrated);
  dsp::ReverbTimeEstimator reverb(ch, static_cast<int>(rate));
  std::unique_ptr<dsp::NoiseAnalyzer> noise;
  // The noise analysis serves the reducer's decision and the de-mudder's (the audience floor of
  // dsp::reverberation_confidence).
  if (on(chain["denoise"]) || on(chain["demud"])) {
    dsp::DenoiseSettings s;
    s.tracker_window_s = num(chain["denoise"], "tracker_window_s");
    s.low_cap_hz = num(chain["denoise"], "low_cap_hz");
    noise = std::make_unique<dsp::NoiseAnalyzer>(ch, rate, s);
  }
  const size_t spread_window = static_cast<size_t>(std::lround(kSpreadWindowS * rate));
  dsp::LevelHistogram spread_levels;
  double spread_sum = 0;
  size_t spread_count = 0;
  double sumsq = 0, peak = 0;
  const auto on_block = [&](const float* buf, size_t n) {
    for (size_t i = 0; i < n; ++i) {
      double fp = 0, fs2 = 0;
      for (int c = 0; c < ch; ++c) {
        const double v = buf[i * ch + c];
        fp = std::max(fp, std::abs(v));
        fs2 += v * v;
      }
      peaks.add_frame_peak(fp);
      peak = std::max(peak, fp);
      sumsq += fs2;
      spread_sum += fs2 / ch;
      if (++spread_count == spread_window) {
        const double l = db10(spread_sum / spread_window);
        if (l > kSilentDbfs) spread_levels.add(l);
        spread_sum = 0;
        spread_count = 0;
      }
    }
    ltas.add(buf, n);
    fine.add(buf, n);
    demud.add(buf, n);
    deess.add(buf, n);
    loud.add(buf, n);
    reverb.add(buf, n);
    if (noise) noise->add(buf, n);
  };
  const int64_t done = stems::scan_file(file, on_block, stage, progress);
  Measurements m;
  const double frames = static_cast<double>(std::max<int64_t>(done, 1));
  m.rms_dbfs = db10(sumsq / (frames * ch));
  m.peak_dbfs = db20(peak);
  m.crest_db = peak > 0 ? m.peak_dbfs - m.rms_dbfs : 0.0;
  m.spread_db = spread_levels.count() >= 2
                    ? spread_levels.percentile(0.95) - spread_levels.percentile(0.10)
                    : 0.0;
  m.integrated_lufs = loud.integrated_lufs();
  m.peak_median_db = peaks.percentile(0.5);
  m.demud_median_db = demud.median_db();
  m.deess_median_db = deess.median_db();
  const auto ms = ltas.mean_square();
  const int n = ltas.fft_size();
  double total_ms = 0, moment = 0;
  for (size_t k = 0; k < ms.size(); ++k) {
    total_ms += ms[k];
    moment += ms[k] * static_cast<double>(k) * rate / n;
  }
  if (total_ms > 0) {
    m.centroid_hz = moment / total_ms;
    double acc = 0;
    for (size_t k = 0; k < ms.size(); ++k) {
      acc += ms[k];
      if (acc >= 0.85 * total_ms) {
        m.rolloff_hz = static_cast<double>(k) * rate / n;
        break;
      }
    }
    m.owned_band_ms = band_sum(ms, n, rate, band.first, band.second);
    m.bandwidth_hz = metrics::estimate_bandwidth_hz(ms, n, static_cast<int>(rate), &m.band_limited);
    // Rumble: energy below the corner against the octave above it (music's own low end falls off
    // below its lowest fundamentals; rumble, wind and handling noise rise there).
    const double fc = num(chain["highpass"], "freq_hz");
    m.low_energy_db = db10(band_sum(ms, n, rate, 0, fc)) - db10(band_sum(ms, n, rate, fc, 2 * fc));
    // DC (the first bins) is an offset, not rumble: the shape and share start above them.
    const auto fine_ms = fine.mean_square();
    const int fn = fine.fft_size();
    const double first_hz = kFineLowestBin * rate / fn;
    m.low_share_db = db10(band_sum(fine_ms, fn, rate, first_hz, fc)) - db10(total_ms);
    m.low_shape_db = db10(band_sum(fine_ms, fn, rate, first_hz, fc / 2)) -
                     db10(band_sum(fine_ms, fn, rate, fc / 2, fc));
    const double f = num(chain["demud"], "freq_hz");
    const double r2 = std::sqrt(2.0);
    const double mid = band_sum(ms, n, rate, f / r2, f * r2);
    const double below = band_sum(ms, n, rate, f / 2 / r2, f / r2);
    const double above = band_sum(ms, n, rate, f * r2, f * 2 * r2);
    m.mud_excess_db = db10(mid) - 0.5 * (db10(below) + db10(above));
    m.low_balance_db = db10(band_sum(ms, n, rate, 40, 100)) - db10(band_sum(ms, n, rate, 150, 400));
    const double fs = std::min(num(chain["deess"], "freq_hz"), 0.45 * rate / 1.5);
    m.sibilance_db =
        db10(band_sum(ms, n, rate, fs / 1.5, fs * 1.5)) - db10(band_sum(ms, n, rate, 1000, 4000));
  }
  m.reverb = reverb.finish();
  if (noise) {
    m.noise = noise->finish();
    m.noise_measured = true;
    m.reverb_confidence = dsp::reverberation_confidence(m.reverb, m.noise.snr_db);
  }
  return m;
}

}  // namespace rz::enhance
