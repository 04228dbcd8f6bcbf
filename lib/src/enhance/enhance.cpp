// rz-enhance: measure each stem, decide its chain, process, compare with the input, roll back.
#include "rz/enhance/enhance.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <sstream>

#include "rz/audio/decode.hpp"
#include "rz/audio/file.hpp"
#include "rz/audio/resample.hpp"
#include "rz/dsp/biquad.hpp"
#include "rz/dsp/denoise.hpp"
#include "rz/dsp/dynamics.hpp"
#include "rz/dsp/exciter.hpp"
#include "rz/dsp/fft.hpp"
#include "rz/dsp/fir.hpp"
#include "rz/dsp/level_histogram.hpp"
#include "rz/error.hpp"
#include "rz/io/file.hpp"
#include "rz/metrics/analysis.hpp"
#include "rz/metrics/loudness.hpp"
#include "rz/stage/run_stems.hpp"
#include "rz/stems/process.hpp"
#include "rz/stems/sha256.hpp"

namespace rz::enhance {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr size_t kBlockFrames = 8192;
// Long-term spectrum: 4096-point frames (10.8 Hz bins at 44.1 kHz resolve the bass), half overlap.
constexpr int kLtasFft = 4096;
constexpr double kPeakWindowS = 0.010;   // 10 ms peak levels for dynamic thresholds
constexpr double kSpreadWindowS = 0.4;   // 400 ms RMS levels for the spread
// A tonal peak: a long-term-spectrum bin at least this far above the median of its neighbours
// (+-kTonalNeighbours bins) and within kTonalRangeDb of the loudest bin.
constexpr double kTonalProminenceDb = 10.0;
constexpr int kTonalNeighbours = 8;
constexpr double kTonalRangeDb = 40.0;
// The blind tracker's median reading under stationary noise (tests/unit/test_denoise.cpp measures
// -2.78 dB on white noise with the default window).
constexpr double kTrackerBiasDb = 2.8;
// Whatever the noise estimate says, at least this share of a peak's energy counts as music.
constexpr double kTonalKeepShare = 0.05;
constexpr double kSilentDbfs = -120.0;

double db10(double p) { return 10.0 * std::log10(std::max(p, 1e-30)); }
double db20(double a) { return 20.0 * std::log10(std::max(a, 1e-15)); }
double num(const json& b, const char* key) { return b.at(key).get<double>(); }
bool on(const json& b) { return b.at("enabled").get<bool>(); }

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

// Channel-mean long-term power spectrum (PowerSpectrumStream per channel).
class Ltas {
 public:
  Ltas(int channels, int n)
      : channels_(channels), sum_(static_cast<size_t>(n / 2 + 1), 0.0) {
    for (int c = 0; c < channels; ++c) streams_.emplace_back(n, n / 2);
  }
  void add(const float* x, size_t frames) {
    for (int c = 0; c < channels_; ++c)
      streams_[c].push(x + c, frames, static_cast<size_t>(channels_), [&](const float* p) {
        for (size_t k = 0; k < sum_.size(); ++k) sum_[k] += p[k];
        ++spectra_;
      });
  }
  // Mean square per bin (one-sided, so bins sum to the signal's mean square).
  std::vector<double> mean_square() const {
    std::vector<double> ms(sum_.size(), 0.0);
    if (spectra_ == 0) return ms;
    const double scale = streams_.front().power_scale() * static_cast<double>(spectra_);
    for (size_t k = 0; k < ms.size(); ++k)
      ms[k] = (k == 0 || k + 1 == ms.size() ? 1.0 : 2.0) * sum_[k] / scale;
    return ms;
  }
  int fft_size() const { return static_cast<int>(sum_.size() - 1) * 2; }

 private:
  int channels_;
  std::vector<dsp::PowerSpectrumStream> streams_;
  std::vector<double> sum_;
  int64_t spectra_ = 0;
};

double band_sum(const std::vector<double>& ms, int n, double rate, double lo, double hi) {
  double s = 0;
  for (size_t k = 0; k < ms.size(); ++k) {
    const double f = static_cast<double>(k) * rate / n;
    if (f >= lo && f < hi) s += ms[k];
  }
  return s;
}

struct Measurements {
  double rms_dbfs = -200, peak_dbfs = -200, crest_db = 0, spread_db = 0, integrated_lufs = -200;
  double centroid_hz = 0, rolloff_hz = 0;
  double low_energy_db = -200, mud_excess_db = 0, low_balance_db = 0, sibilance_db = -200;
  double demud_median_db = -200, deess_median_db = -200, peak_median_db = -200;
  double owned_band_ms = 0;  // mean square in the band the stem should own
  double bandwidth_hz = 0;   // metrics::estimate_bandwidth_hz on the long-term spectrum
  bool band_limited = false;
  dsp::NoiseAnalysis noise;
  bool noise_measured = false;
  json to_json() const {
    json j = {{"rms_dbfs", metrics::json_level(rms_dbfs)},
              {"peak_dbfs", metrics::json_level(peak_dbfs)},
              {"crest_db", crest_db},
              {"spread_db", spread_db},
              {"integrated_lufs", metrics::json_level(integrated_lufs)},
              {"centroid_hz", centroid_hz},
              {"rolloff_hz", rolloff_hz},
              {"low_energy_db", metrics::json_level(low_energy_db)},
              {"mud_excess_db", mud_excess_db},
              {"low_balance_db", low_balance_db},
              {"sibilance_db", metrics::json_level(sibilance_db)},
              {"bandwidth_hz", bandwidth_hz},
              {"band_limited", band_limited}};
    if (noise_measured) j["noise"] = noise.to_json();
    return j;
  }
};

Measurements measure(const fs::path& file, const ChainParams& chain,
                     const std::pair<double, double>& band, const std::string& stage,
                     const Progress& progress) {
  const audio::FileInfo info = audio::Reader(file).info();
  const int ch = info.channels;
  const double rate = info.sample_rate_hz;
  Ltas ltas(ch, kLtasFft);
  PeakLevels peaks(ch, static_cast<size_t>(std::lround(kPeakWindowS * rate)));
  BandPeaks demud(ch, rate, num(chain["demud"], "freq_hz"), num(chain["demud"], "q"));
  BandPeaks deess(ch, rate, std::min(num(chain["deess"], "freq_hz"), 0.45 * rate), num(chain["deess"], "q"));
  metrics::LoudnessMeter loud(ch, static_cast<int>(rate), metrics::LoudnessMeter::kIntegrated);
  std::unique_ptr<dsp::NoiseAnalyzer> noise;
  if (on(chain["denoise"])) {
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
    demud.add(buf, n);
    deess.add(buf, n);
    loud.add(buf, n);
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
    const double f = num(chain["demud"], "freq_hz");
    const double r2 = std::sqrt(2.0);
    const double mid = band_sum(ms, n, rate, f / r2, f * r2);
    const double below = band_sum(ms, n, rate, f / 2 / r2, f / r2);
    const double above = band_sum(ms, n, rate, f * r2, f * 2 * r2);
    m.mud_excess_db = db10(mid) - 0.5 * (db10(below) + db10(above));
    m.low_balance_db = db10(band_sum(ms, n, rate, 40, 100)) - db10(band_sum(ms, n, rate, 150, 400));
    const double fs = std::min(num(chain["deess"], "freq_hz"), 0.45 * rate / 1.5);
    m.sibilance_db = db10(band_sum(ms, n, rate, fs / 1.5, fs * 1.5)) - db10(band_sum(ms, n, rate, 1000, 4000));
  }
  if (noise) {
    m.noise = noise->finish();
    m.noise_measured = true;
  }
  return m;
}

struct Decision {
  std::string block;
  bool applied = false;
  std::string measure;
  double value = 0;
  std::string rule;  // "<" or ">"
  double threshold = 0;
  std::string note;
  json to_json() const {
    json j = {{"block", block},
              {"applied", applied},
              {"measure", measure},
              {"value", value},
              {"rule", rule},
              {"threshold", threshold}};
    if (!note.empty()) j["note"] = note;
    return j;
  }
};

// What the noise reducer works from.
struct NoisePlan {
  dsp::NoiseSource source = dsp::NoiseSource::kBlind;
  const dsp::NoiseProfile* profile = nullptr;
  std::string description;  // "blind", "profile FILE", "auto (3.5 s crowd-only)"
  double snr_db = 120;
};

NoisePlan plan_noise(const Measurements& m, const std::string& mode, const dsp::NoiseProfile* file_profile,
                     const std::string& file_name) {
  NoisePlan p;
  p.snr_db = m.noise.snr_db;
  p.description = "blind";
  if (mode == "auto") {
    if (m.noise.found_noise_only) {
      p.source = dsp::NoiseSource::kProfile;
      p.profile = &m.noise.auto_profile;
      p.description = "auto: learnt from " + fixed(m.noise.noise_only_s, 1) + " s of crowd-only stretches";
    } else {
      p.description = "auto: no crowd-only stretch found, blind tracking";
    }
  } else if (file_profile) {
    p.source = dsp::NoiseSource::kProfile;
    p.profile = file_profile;
    p.description = "noise sample " + file_name;
  }
  if (p.profile) p.snr_db = std::clamp(m.noise.signal_dbfs - p.profile->level_dbfs(), -50.0, 120.0);
  return p;
}

std::vector<Decision> decide(const ChainParams& c, const Measurements& m, const NoisePlan& noise) {
  std::vector<Decision> d;
  auto rule = [&](const char* block, const char* measure, double value, bool below, const char* key) {
    if (!on(c[block])) return;
    Decision x;
    x.block = block;
    x.measure = measure;
    x.value = value;
    x.rule = below ? "<" : ">";
    x.threshold = num(c[block], key);
    x.applied = below ? value < x.threshold : value > x.threshold;
    d.push_back(x);
  };
  rule("highpass", "low_energy_db", m.low_energy_db, false, "min_energy_db");
  rule("denoise", "snr_db", noise.snr_db, true, "max_snr_db");
  if (!d.empty() && d.back().block == "denoise") d.back().note = noise.description;
  rule("demud", "mud_excess_db", m.mud_excess_db, false, "min_excess_db");
  rule("low_focus", "low_balance_db", m.low_balance_db, true, "max_balance_db");
  rule("presence", "centroid_hz", m.centroid_hz, true, "max_centroid_hz");
  rule("deess", "sibilance_db", m.sibilance_db, false, "min_sibilance_db");
  rule("transient", "crest_db", m.crest_db, true, "max_crest_db");
  rule("compress", "spread_db", m.spread_db, false, "min_spread_db");
  rule("exciter", "rolloff_hz", m.rolloff_hz, true, "max_rolloff_hz");
  return d;
}

bool applied(const std::vector<Decision>& d, const std::string& block) {
  for (const auto& x : d)
    if (x.block == block) return x.applied;
  return false;
}

// A BiquadChain as a Processor.
class BiquadProcessor : public dsp::Processor {
 public:
  BiquadProcessor(int channels, const std::vector<dsp::BiquadCoeffs>& stages)
      : channels_(channels), chain_(channels) {
    for (const auto& s : stages) chain_.add(s);
  }
  void process(const float* in, float* out, size_t frames) override {
    if (in != out) std::copy(in, in + frames * channels_, out);
    chain_.process(out, frames);
  }
  int channels() const override { return channels_; }

 private:
  int channels_;
  dsp::BiquadChain chain_;
};

double clamp_threshold(double db) { return std::clamp(db, -96.0, 0.0); }

// Builds the processors of the blocks `d` applied, in chain order; `names` gets each one's block.
std::vector<std::unique_ptr<dsp::Processor>> build_chain(const ChainParams& c,
                                                         const std::vector<Decision>& d,
                                                         const Measurements& m,
                                                         const NoisePlan& noise, int ch,
                                                         double rate, json& effective,
                                                         std::vector<std::string>* names) {
  std::vector<std::unique_ptr<dsp::Processor>> chain;
  effective = json::object();
  if (applied(d, "highpass")) {
    const auto& b = c["highpass"];
    // Linear phase: the kick and the bass keep their waveform (a minimum-phase Butterworth at
    // 25 Hz turns the phase of everything up to ~100 Hz, which costs more than the rumble it
    // removes on any waveform measure).
    chain.push_back(std::make_unique<dsp::FirFilter>(
        ch, dsp::linear_phase_highpass(rate, num(b, "freq_hz"), b.at("order").get<int>())));
    names->push_back("highpass");
    effective["highpass"] = b;
  }
  if (applied(d, "denoise")) {
    const auto& b = c["denoise"];
    chain.push_back(std::make_unique<dsp::Denoiser>(ch, rate, denoise_settings(c), noise.source,
                                                    noise.profile));
    names->push_back("denoise");
    effective["denoise"] = b;
    effective["denoise"]["noise"] = noise.description;
  }
  auto dynamic = [&](const char* name, double median_db) {
    const auto& b = c[name];
    dsp::DynamicEqSettings s = dynamic_eq_settings(c, name);
    s.threshold_db = clamp_threshold(median_db + num(b, "above_median_db"));
    chain.push_back(std::make_unique<dsp::DynamicEq>(ch, rate, s));
    names->push_back(name);
    effective[name] = b;
    effective[name]["threshold_db"] = s.threshold_db;
  };
  if (applied(d, "demud")) dynamic("demud", m.demud_median_db);
  for (const char* name : {"low_focus", "presence"}) {
    if (!applied(d, name)) continue;
    const auto& b = c[name];
    chain.push_back(std::make_unique<BiquadProcessor>(
        ch, std::vector<dsp::BiquadCoeffs>{dsp::BiquadCoeffs::peaking(
                rate, num(b, "freq_hz"), num(b, "q"), num(b, "gain_db"))}));
    names->push_back(name);
    effective[name] = b;
  }
  if (applied(d, "deess")) dynamic("deess", m.deess_median_db);
  if (applied(d, "transient")) {
    chain.push_back(std::make_unique<dsp::TransientShaper>(ch, rate, transient_settings(c)));
    names->push_back("transient");
    effective["transient"] = c["transient"];
  }
  if (applied(d, "compress")) {
    const auto& b = c["compress"];
    dsp::CompressorSettings s = compressor_settings(c);
    s.threshold_db = clamp_threshold(m.peak_median_db + num(b, "above_median_db"));
    chain.push_back(std::make_unique<dsp::Compressor>(ch, rate, s));
    names->push_back("compress");
    effective["compress"] = b;
    effective["compress"]["threshold_db"] = s.threshold_db;
  }
  if (applied(d, "exciter")) {
    chain.push_back(std::make_unique<dsp::Exciter>(ch, rate, exciter_settings(c)));
    names->push_back("exciter");
    effective["exciter"] = c["exciter"];
    if (m.band_limited && m.bandwidth_hz < 0.45 * rate) {
      // Reveal, don't fabricate: harmonics above the recording's bandwidth would be invented highs
      // (rz-restore's job, with its own safeguards), so they are cut at the measured corner.
      chain.push_back(std::make_unique<BiquadProcessor>(
          ch, dsp::butterworth_lowpass(rate, m.bandwidth_hz, 8)));
      names->push_back("exciter_band_limit");
      effective["exciter"]["band_limit_hz"] = m.bandwidth_hz;
    }
  }
  return chain;
}

// Before/after comparison, streamed over aligned input and output blocks.
class Comparer {
 public:
  Comparer(int ch, double rate)
      : ch_(ch),
        rate_(rate),
        in_ltas_(ch, kLtasFft),
        out_ltas_(ch, kLtasFft),
        in_loud_(ch, static_cast<int>(rate), metrics::LoudnessMeter::kIntegrated),
        out_loud_(ch, static_cast<int>(rate), metrics::LoudnessMeter::kIntegrated) {}

  void add(const float* in, const float* out, size_t frames) {
    for (size_t i = 0; i < frames * ch_; ++i)
      if (std::abs(out[i]) > 1.0f && std::abs(in[i]) <= 1.0f) ++new_overs_;
    samples_ += static_cast<int64_t>(frames * ch_);
    in_ltas_.add(in, frames);
    out_ltas_.add(out, frames);
    in_loud_.add(in, frames);
    out_loud_.add(out, frames);
  }

  // `flux`: the noise reducer's gain flux (0 without one). `noise`: the noise spectrum the noise
  // reducer worked from (null without one).
  json finish(const std::pair<double, double>& band, double noise_band_share, double flux,
              const dsp::NoiseProfile* noise, double* score, std::vector<std::string>* failures,
              const RollbackLimits& lim) const {
    const auto in = in_ltas_.mean_square();
    const auto out = out_ltas_.mean_square();
    const int n = in_ltas_.fft_size();
    // Owned band.
    const double bin_in = band_sum(in, n, rate_, band.first, band.second);
    const double bin_out = band_sum(out, n, rate_, band.first, band.second);
    const double band_change = bin_in > 0 ? db10(bin_out) - db10(bin_in) : 0.0;
    const double explained = -db10(std::max(1.0 - noise_band_share, 0.05));
    // Tonal peaks of the input's long-term spectrum.
    double peak_in = 0, peak_out = 0, top = 0;
    for (double v : in) top = std::max(top, v);
    int tonal_bins = 0;
    for (int k = kTonalNeighbours; k + kTonalNeighbours < static_cast<int>(in.size()); ++k) {
      if (in[k] < top * std::pow(10.0, -kTonalRangeDb / 10)) continue;
      if (in[k] < in[k - 1] || in[k] < in[k + 1]) continue;
      std::vector<double> nb(in.begin() + k - kTonalNeighbours, in.begin() + k + kTonalNeighbours + 1);
      std::nth_element(nb.begin(), nb.begin() + kTonalNeighbours, nb.end());
      if (db10(in[k]) - db10(nb[kTonalNeighbours]) < kTonalProminenceDb) continue;
      // What the noise reducer may take from a peak: the smooth noise floor around it (the median
      // of the noise spectrum within +-kTonalNeighbours bins). A tone the noise estimate followed
      // (a steady note taken for noise) stands above that floor, so its loss is not excused.
      const double noise_at_peak = noise ? local_noise_floor(*noise, k, n) : 0.0;
      peak_in += std::max(in[k] - noise_at_peak, kTonalKeepShare * in[k]);
      peak_out += out[k];
      ++tonal_bins;
    }
    const double tonal_change = peak_in > 0 ? db10(peak_out) - db10(peak_in) : 0.0;
    const double li = in_loud_.integrated_lufs(), lo = out_loud_.integrated_lufs();
    const double loud_change = std::isfinite(li) && std::isfinite(lo) ? lo - li : 0.0;
    const double overs_ratio = samples_ > 0 ? static_cast<double>(new_overs_) / samples_ : 0.0;
    json j = {{"loudness_change_db", loud_change},
              {"new_overs_ratio", overs_ratio},
              {"band_hz", {band.first, band.second}},
              {"band_change_db", band_change},
              {"band_loss_explained_by_noise_db", explained},
              {"tonal_peaks", tonal_bins},
              {"tonal_change_db", tonal_change},
              {"gain_flux_db", flux}};
    // Each measure as a fraction of its limit; > 1 fails.
    std::vector<std::pair<std::string, double>> parts = {
        {"loudness_change_db", std::max(0.0, std::abs(loud_change) - explained) / lim.max_loudness_change_db},
        {"new_overs_ratio", overs_ratio / lim.max_new_overs_ratio},
        {"band_change_db", std::max(0.0, -band_change - explained) / lim.max_band_loss_db},
        {"tonal_change_db", std::max(0.0, -tonal_change) / lim.max_tonal_loss_db},
        {"gain_flux_db", flux / lim.max_gain_flux_db}};
    double worst = 0;
    json scores = json::object();
    for (const auto& [name, v] : parts) {
      scores[name] = v;
      worst = std::max(worst, v);
      if (v > 1.0) failures->push_back(name);
    }
    j["scores"] = scores;
    j["score"] = worst;
    *score = worst;
    return j;
  }

 private:
  // Noise mean square at LTAS bin k (of an n-point LTAS) from the median noise density around it.
  double local_noise_floor(const dsp::NoiseProfile& p, int k, int n) const {
    const double f = static_cast<double>(k) * rate_ / n;
    const double reach = kTonalNeighbours * rate_ / n;
    const double bin_hz = p.sample_rate_hz / p.fft_size;
    std::vector<double> density;
    for (size_t j = 1; j + 1 < p.power.size(); ++j) {
      const double fj = static_cast<double>(j) * bin_hz;
      if (fj < f - reach || fj > f + reach) continue;
      density.push_back(p.bin_mean_square(j) / bin_hz);
    }
    if (density.empty()) return 0.0;
    std::nth_element(density.begin(), density.begin() + density.size() / 2, density.end());
    return density[density.size() / 2] * rate_ / n;
  }

  int ch_;
  double rate_;
  Ltas in_ltas_, out_ltas_;
  metrics::LoudnessMeter in_loud_, out_loud_;
  int64_t new_overs_ = 0;
  int64_t samples_ = 0;
};

struct Attempt {
  double intensity = 1;
  json effective;
  json comparison;
  double score = 0;
  std::vector<std::string> failures;
  json extra;  // per-block statistics
};

json attempt_json(const Attempt& a) {
  json j = {{"intensity", a.intensity},
            {"parameters", a.effective},
            {"comparison", a.comparison},
            {"accepted", a.failures.empty()}};
  if (!a.failures.empty()) j["failed"] = a.failures;
  if (!a.extra.empty()) j["blocks"] = a.extra;
  return j;
}

dsp::NoiseProfile load_noise_profile(const std::string& path, int rate) {
  io::require_regular_file(path);
  audio::DecodedFile file(path, audio::DecodeOptions{});
  audio::Reader& r = file.reader();
  const int ch = r.info().channels;
  audio::Resampler rs(ch, r.info().sample_rate_hz, rate, audio::ResampleQuality::kMedium);
  dsp::NoiseProfiler prof(ch, rate);
  std::vector<float> buf(kBlockFrames * ch), out;
  for (;;) {
    const size_t n = r.read(buf.data(), kBlockFrames);
    out.clear();
    rs.process(buf.data(), n, n == 0, out);
    if (!out.empty()) prof.add(out.data(), out.size() / ch);
    if (n == 0) break;
  }
  try {
    return prof.finish();
  } catch (const InputError& e) {
    throw InputError(describe("unusable noise profile", path, e.what()));
  }
}

// Decides the blocks for a measured stem, then plans its attempts: the chain as resolved, and,
// with rollback, the same at half its moves; the first that passes the comparison stays.
stage::Plan plan_attempts(stage::Stem& stem, const ChainParams& chain,
                          std::shared_ptr<const Measurements> m, std::pair<double, double> band,
                          const Options& o, std::shared_ptr<const dsp::NoiseProfile> file_profile) {
  // What the attempts share: the plan, and the comparison of the attempt being run.
  struct Work {
    std::shared_ptr<const Measurements> m;
    std::shared_ptr<const dsp::NoiseProfile> file_profile;
    NoisePlan noise;
    std::vector<Decision> decisions;
    std::vector<std::string> taken;
    dsp::NoiseProfile tracker_noise;
    const dsp::NoiseProfile* noise_spectrum = nullptr;
    double noise_share = 0;
    std::vector<double> scales;
    std::unique_ptr<Comparer> cmp;
    json effective;
  };
  auto w = std::make_shared<Work>();
  w->m = std::move(m);
  w->file_profile = std::move(file_profile);
  w->noise = plan_noise(*w->m, o.noise_profile, w->file_profile->empty() ? nullptr : w->file_profile.get(),
                        o.noise_profile);
  w->decisions = decide(chain, *w->m, w->noise);
  json dj = json::array();
  for (const auto& d : w->decisions) {
    dj.push_back(d.to_json());
    if (d.applied) w->taken.push_back(d.block);
  }
  stem.record["decisions"] = dj;
  if (w->taken.empty())
    return stage::Plan::copy("no block called for by the measurements", true,
                             "nothing called for, copied");
  // Noise share of the owned band, for the comparison: the removed noise may take that much.
  if (applied(w->decisions, "denoise")) {
    if (w->noise.profile) {
      w->noise_spectrum = w->noise.profile;
    } else if (!w->m->noise.tracker_floor.empty()) {
      // The blind tracker's floor reads under the noise (a periodogram's minimum without bias
      // compensation); the comparison needs the noise itself.
      w->tracker_noise = w->m->noise.tracker_floor;
      for (double& p : w->tracker_noise.power) p *= std::pow(10.0, kTrackerBiasDb / 10);
      w->noise_spectrum = &w->tracker_noise;
    }
  }
  if (w->noise_spectrum && w->m->owned_band_ms > 0)
    w->noise_share = std::min(
        1.0, w->noise_spectrum->band_mean_square(band.first, band.second) / w->m->owned_band_ms);
  w->scales = {1.0};
  if (o.rollback) w->scales.push_back(0.5);
  stem.record["attempts"] = json::array();

  auto attempt = [&stem, &chain, w](size_t i) -> std::optional<stage::Chain> {
    if (i >= w->scales.size()) return std::nullopt;
    ChainParams c = chain;
    if (w->scales[i] != 1.0) scale_moves(c, w->scales[i]);
    stage::Chain ch;
    ch.blocks = build_chain(c, w->decisions, *w->m, w->noise, stem.channels, stem.sample_rate_hz,
                            w->effective, &ch.names);
    w->cmp = std::make_unique<Comparer>(stem.channels, stem.sample_rate_hz);
    Comparer* cmp = w->cmp.get();
    ch.observer = [cmp](const float* in, const float* out, size_t n) { cmp->add(in, out, n); };
    return ch;
  };
  auto judge = [&stem, &o, band, w](size_t i, const json& statistics) {
    Attempt a;
    const double flux =
        statistics.contains("denoise") ? statistics["denoise"].value("gain_flux_db", 0.0) : 0.0;
    a.comparison = w->cmp->finish(band, w->noise_share, flux, w->noise_spectrum, &a.score,
                                  &a.failures, o.limits);
    a.extra = statistics;
    a.intensity = o.intensity * w->scales[i];
    a.effective = w->effective;
    stem.record["attempts"].push_back(attempt_json(a));
    stage::Verdict v;
    v.keep = a.failures.empty() || !o.rollback;
    if (!v.keep) return v;
    const bool full = w->scales[i] == 1.0;
    v.result = full ? "processed" : "milder";
    v.note = join(w->taken, ", ") + (full ? "" : " (milder: half intensity)");
    if (!a.failures.empty())
      stem.report.warnings.push_back(stem.name() + ": kept although " + join(a.failures, ", ") +
                                     " exceeded the rollback limits (--no-rollback)");
    return v;
  };
  return stage::Plan::process(attempt, judge, "rolled back: every attempt failed the comparison",
                              "rolled back to the unprocessed stem");
}

}  // namespace

json RollbackLimits::to_json() const {
  return {{"max_loudness_change_db", max_loudness_change_db},
          {"max_new_overs_ratio", max_new_overs_ratio},
          {"max_band_loss_db", max_band_loss_db},
          {"max_tonal_loss_db", max_tonal_loss_db},
          {"max_gain_flux_db", max_gain_flux_db}};
}

std::map<std::string, ResolvedChain> Options::resolve(const stems::StemDir& in) const {
  if (!(intensity >= 0.0 && intensity <= 1.0))
    throw UsageError(describe("bad intensity", fixed(intensity), "use 0..1"));
  for (const auto& s : stems) in.stem(s);  // throws listing the stems
  if (!config.is_object())
    throw UsageError(describe("bad enhance settings", config_subject, "must be a JSON object"));
  for (const auto& [key, value] : config.items()) {
    if (key != "*" && !in.manifest().find(key))
      throw UsageError(describe("unknown stem in settings", config_subject + ": " + printable(key),
                                "not in the stem directory (use \"*\" for every stem)"));
    (void)value;
  }
  std::map<std::string, ResolvedChain> chains;
  for (const auto& s : in.manifest().stems) {
    ResolvedChain r = resolve_chain(s.name, *this, in.manifest().sample_rate_hz);
    validate_chain(r.params, s.name, in.manifest().sample_rate_hz);
    chains.emplace(s.name, std::move(r));
  }
  return chains;
}

json Options::to_json() const {
  return {{"preset", to_string(preset)},
          {"intensity", intensity},
          {"config", config},
          {"stems", stems},
          {"only", only},
          {"noise_profile", noise_profile.empty() ? "blind" : noise_profile},
          {"rollback", rollback},
          {"rollback_limits", limits.to_json()}};
}

ResolvedChain resolve_chain(const std::string& stem, const Options& o, double sample_rate_hz) {
  ResolvedChain r;
  ChainParams& c = r.params;
  c = default_chain(stem_kind(stem), o.preset);
  if (o.config.contains("*")) apply_overrides(c, o.config.at("*"), o.config_subject + ": *");
  if (o.config.contains(stem)) apply_overrides(c, o.config.at(stem), o.config_subject + ": " + stem);
  if (!o.only.empty()) restrict_blocks(c, o.only);
  scale_moves(c, o.intensity);
  // A band the user set in --config stays (and validate_chain refuses it if the rate cannot hold
  // it); a default band above what the recording's rate holds means the block has nothing to do.
  auto user_set = [&](const std::string& block) {
    for (const std::string& key : {std::string("*"), stem}) {
      if (o.config.contains(key) && o.config.at(key).is_object() &&
          o.config.at(key).contains(block) && o.config.at(key).at(block).is_object() &&
          o.config.at(key).at(block).contains("freq_hz"))
        return true;
    }
    return false;
  };
  r.out_of_band = disable_out_of_band(c, sample_rate_hz, user_set);
  return r;
}

Report enhance(const stems::StemDir& in, const fs::path& output, bool force, const Options& o,
               const json& provenance, const Progress& progress) {
  const int rate = in.manifest().sample_rate_hz;
  const std::map<std::string, ResolvedChain> chains = o.resolve(in);
  auto file_profile = std::make_shared<dsp::NoiseProfile>();
  std::string profile_sha;
  if (!o.noise_profile.empty() && o.noise_profile != "auto") {
    *file_profile = load_noise_profile(o.noise_profile, rate);
    profile_sha = stems::sha256_file(o.noise_profile);
  }
  stage::StemStage st;
  st.verb = "enhance";
  st.stems = o.stems;
  st.parameters = o.to_json();
  if (!profile_sha.empty()) {
    st.parameters["noise_profile_sha256"] = profile_sha;
    st.parameters["noise_profile_path"] = fs::absolute(o.noise_profile).string();
  }
  st.describe = [](const stems::StemEntry& stem, json& record) {
    record["kind"] = to_string(stem_kind(stem.name));
  };
  st.plan = [&](stage::Stem& stem) {
    const ResolvedChain& resolved = chains.at(stem.name());
    const ChainParams& chain = resolved.params;
    json& sj = stem.record;
    sj["chain"] = chain;
    if (!resolved.out_of_band.empty()) {
      json skipped = json::array();
      for (const auto& b : resolved.out_of_band)
        skipped.push_back({{"block", b.block}, {"why", b.why}});
      sj["out_of_band"] = skipped;
    }
    if (o.intensity == 0.0) return stage::Plan::copy("intensity 0", false, "intensity 0, copied");
    const auto band = owned_band(stem_kind(stem.name()));
    auto m = std::make_shared<const Measurements>(
        measure(stem.path, chain, band, "measure " + stem.name(), stem.progress));
    sj["measurements"] = m->to_json();
    if (m->rms_dbfs <= kSilentDbfs)
      return stage::Plan::copy("digital silence: nothing to repair", true, "silent, copied");
    return plan_attempts(stem, chain, m, band, o, file_profile);
  };
  return stage::run_stems(in, output, force, st, provenance, progress);
}

std::string describe_parameters(Preset preset) {
  std::ostringstream s;
  const auto& docs = parameter_docs();
  s << "# rz-enhance parameters at preset " << to_string(preset)
    << " (defaults per stem kind: vocals drums bass other mix)\n";
  const std::vector<StemKind> kinds = {StemKind::kVocals, StemKind::kDrums, StemKind::kBass,
                                       StemKind::kOther, StemKind::kMix};
  std::vector<ChainParams> chains;
  for (auto k : kinds) chains.push_back(default_chain(k, preset));
  for (const auto& block : block_names()) {
    for (const auto& [key, v] : chains.front()[block].items()) {
      (void)v;
      const std::string full = block + "." + key;
      auto it = docs.find(full);
      if (it == docs.end()) it = docs.find("*." + key);
      s << full;
      for (const auto& c : chains) {
        const json& x = c[block][key];
        s << " " << (x.is_boolean() ? (x.get<bool>() ? "on" : "off") : fixed(x.get<double>(), 3));
      }
      if (it != docs.end()) s << "  [" << (it->second.unit.empty() ? "-" : it->second.unit) << "] " << it->second.meaning;
      s << "\n";
    }
  }
  return s.str();
}

}  // namespace rz::enhance
