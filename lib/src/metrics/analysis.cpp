// Streaming analysis: time-domain statistics per sample, spectral statistics per STFT frame.
// The methods and their constants are described in analysis.hpp.
#include "rz/metrics/analysis.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "rz/dsp/fft.hpp"
#include "rz/dsp/units.hpp"
#include "rz/metrics/loudness.hpp"

namespace rz::metrics {

namespace {

constexpr int kFftSize = 2048;
constexpr int kHop = 1024;
constexpr double kHistMinDb = -220.0;  // per-bin power range kept in the noise histogram
constexpr double kHistMaxDb = 20.0;
constexpr double kHistStepDb = 0.25;
constexpr int kHistBins = static_cast<int>((kHistMaxDb - kHistMinDb) / kHistStepDb);
constexpr double kNoisePercentile = 0.10;
// Mean / 10th percentile of an exponential distribution (periodogram of Gaussian noise).
const double kPercentileBias = 1.0 / -std::log(1.0 - kNoisePercentile);
constexpr int kNoiseMedianBins = 33;
constexpr double kSilentFramePower = 1e-20;  // mean square below this: digital silence, skipped
// Plateau (flat-top) clipping: runs of equal samples louder than -20 dBFS, kept in 0.01 dB bins;
// those within 0.05 dB of the recording's peak are clipping.
constexpr double kPlateauMinDb = -20.0;
const double kPlateauMinLevel = std::pow(10.0, kPlateauMinDb / 20.0);
constexpr double kPlateauStepDb = 0.01;
constexpr int kPlateauBins = static_cast<int>(26.0 / kPlateauStepDb);  // up to +6 dBFS
constexpr double kPlateauPeakToleranceDb = 0.05;
constexpr int kMinPlateauRun = 3;  // one or two equal samples happen naturally at a slow crest
constexpr double kMinCutoffDropDb = 15.0;
// Band limits below this are programme, not the recorder (a solo bass has nothing above 1 kHz);
// phones and codecs cut at 3.4 kHz and up.
constexpr double kMinCutoffHz = 2000.0;
// A band more than this over the skirt of a cliff, anywhere above it, shows the cliff is the
// programme's (see estimate_bandwidth_hz).
constexpr double kRefillDb = 6.0;
// Steeper than this (dB/octave) is a filter skirt, not programme: music rarely falls faster than
// 12 dB/octave; phone and codec low-passes fall at 48 dB/octave and more, and an 8th-order
// Butterworth falls at exactly 24 dB/octave at its -3 dB corner.
constexpr double kSkirtSlopeDbPerOctave = -24.0;
// The corner lies no more than this under the passband's level (a zero-phase 16th-order low-pass
// is 6 dB down at its corner).
constexpr double kCornerBelowPassbandDb = 6.0;
constexpr double kDeepInSkirtDb = 20.0;
// Low cut: a recorder's high-pass (2nd to 4th order) makes the level rise by 12 to 24 dB per octave
// below its corner, down to the lowest bins. Music's own low end is rarely that steep over two
// octaves above 90 Hz: a bass line's notes fill the octaves below 100 Hz, a kick drum peaks near
// 50 Hz, and a programme without bass leaves the bins below its lowest note filled by the window's
// leakage and by room and microphone rumble. A clean bass stem does fall that steeply below its
// lowest note (41 Hz), but its skirt tops out at 86 Hz, below kLowCutMinTopHz.
constexpr double kLowCutSearchHz = 60.0;     // skirt tops searched from here ...
constexpr double kLowCutMaxHz = 400.0;       // ... to here
constexpr double kLowCutOctaveRiseDb = 8.0;  // each of the two octaves below the skirt's top
constexpr double kLowCutTotalRiseDb = 20.0;  // over both octaves
constexpr double kLowCutMinTopHz = 90.0;     // lower skirt tops are the programme's own
// Top over corner. On flat programme a 4th-order Butterworth high-pass's octave rise falls to 8 dB
// at 1.6 corners, a 2nd-order one's at 1.1 corners; measured on real programme (bass, drums, mix,
// song, piano, drum loop) high-passed 4th order at 100 and 150 Hz the tops lay at 0.8 to 1.7
// corners.
constexpr double kLowCutTopPerCorner = 1.25;
constexpr double kRolloffFraction = 0.85;
// The band over the low cut whose steady floor is measured: [corner, 2.5 corners].
constexpr double kLowFloorBandTop = 2.5;
constexpr double kMonoCorrelation = 0.9999;

}  // namespace

struct Analyzer::Impl {
  int rate;
  int channels;
  AnalysisOptions opt;
  LoudnessMeter meter;
  int64_t frames = 0;
  std::vector<double> sum, sum_sq, peak;
  std::vector<int64_t> run;  // current clipped-run length per channel
  int64_t nonfinite = 0, clipped = 0, clipped_runs = 0, longest_run = 0;
  // Flat tops below full scale: per channel the value of the current run of equal samples and its
  // length; finished runs of min_clip_run or more, loud enough, are counted by level.
  std::vector<float> plateau_value;
  std::vector<int64_t> plateau_length;
  std::vector<int64_t> plateau_samples = std::vector<int64_t>(kPlateauBins, 0);
  std::vector<int64_t> plateau_runs = std::vector<int64_t>(kPlateauBins, 0);
  std::vector<int64_t> plateau_longest = std::vector<int64_t>(kPlateauBins, 0);

  void end_plateau(int c) {
    const int64_t len = plateau_length[c];
    const double level = std::fabs(plateau_value[c]);
    if (len >= std::max<int64_t>(opt.min_clip_run, kMinPlateauRun) && level >= kPlateauMinLevel) {
      const int bin =
          std::min(kPlateauBins - 1,
                   static_cast<int>((20.0 * std::log10(level) - kPlateauMinDb) / kPlateauStepDb));
      plateau_samples[bin] += len;
      plateau_runs[bin] += 1;
      plateau_longest[bin] = std::max(plateau_longest[bin], len);
    }
  }
  double sum_lr = 0, sum_mid = 0, sum_side = 0;
  // Spectral state.
  std::vector<dsp::PowerSpectrumStream> streams;
  std::vector<std::vector<float>> channel_power;  // per channel: this block's frames, concatenated
  std::vector<double> ltas;                       // sum of frame powers per bin
  std::vector<double> frame_power;                // scratch: one frame, channel-averaged
  int64_t spectral_frames = 0;
  std::vector<uint32_t> histogram;  // [bin][hist]
  std::vector<float> clean;

  Impl(int r, int c, const AnalysisOptions& o)
      : rate(r),
        channels(c),
        opt(o),
        meter(c, r, LoudnessMeter::kAll),
        sum(c, 0.0),
        sum_sq(c, 0.0),
        peak(c, 0.0),
        run(c, 0),
        plateau_value(c, 0.0f),
        plateau_length(c, 0) {
    if (opt.spectral) {
      for (int i = 0; i < c; ++i) streams.emplace_back(kFftSize, kHop);
      channel_power.assign(c, {});
      ltas.assign(kFftSize / 2 + 1, 0.0);
      histogram.assign(static_cast<size_t>(kFftSize / 2 + 1) * kHistBins, 0);
    }
  }

  // Runs every channel's STFT over the block (frames == 0: flush the tails), then combines the
  // frames the channels produced, which come in lock-step.
  void push_spectral(const float* data, size_t count_frames) {
    constexpr int bins = kFftSize / 2 + 1;
    for (int c = 0; c < channels; ++c) {
      auto& out = channel_power[c];
      out.clear();
      auto collect = [&out](const float* power) { out.insert(out.end(), power, power + bins); };
      if (count_frames > 0) {
        streams[c].push(data + c, count_frames, static_cast<size_t>(channels), collect);
      } else {
        streams[c].flush(collect);
      }
    }
    const size_t count = channel_power[0].size() / bins;
    for (size_t f = 0; f < count; ++f) on_spectrum_frame(f * bins);
  }

  void on_spectrum_frame(size_t offset) {
    const int bins = kFftSize / 2 + 1;
    const double scale = streams[0].power_scale();
    double total = 0;
    std::vector<double>& p = frame_power;
    p.resize(bins);
    for (int k = 0; k < bins; ++k) {
      double s = 0;
      for (int c = 0; c < channels; ++c) s += channel_power[c][offset + k];
      const double weight = (k == 0 || k == bins - 1) ? 1.0 : 2.0;  // one-sided spectrum
      p[k] = weight * s / (channels * scale);
      total += p[k];
    }
    if (total < kSilentFramePower) return;
    ++spectral_frames;
    for (int k = 0; k < bins; ++k) {
      ltas[k] += p[k];
      const double db = p[k] > 0 ? 10.0 * std::log10(p[k]) : kHistMinDb;
      const int h = std::clamp(static_cast<int>((db - kHistMinDb) / kHistStepDb), 0, kHistBins - 1);
      ++histogram[static_cast<size_t>(k) * kHistBins + h];
    }
  }

  double percentile_power(int k, double q) const {
    const uint32_t* h = &histogram[static_cast<size_t>(k) * kHistBins];
    const double target = q * static_cast<double>(spectral_frames);
    double acc = 0;
    for (int i = 0; i < kHistBins; ++i) {
      if (h[i] == 0) continue;
      if (acc + h[i] >= target) {
        const double frac = (target - acc) / h[i];
        const double db = kHistMinDb + (i + frac) * kHistStepDb;
        return std::pow(10.0, db / 10.0);
      }
      acc += h[i];
    }
    return std::pow(10.0, kHistMaxDb / 10.0);
  }
};

Analyzer::Analyzer(int sample_rate_hz, int channels, const AnalysisOptions& options)
    : impl_(new Impl(sample_rate_hz, channels, options)) {}
Analyzer::~Analyzer() = default;
Analyzer::Analyzer(Analyzer&&) noexcept = default;
Analyzer& Analyzer::operator=(Analyzer&&) noexcept = default;

void Analyzer::add(const float* x, size_t frames) {
  Impl& s = *impl_;
  const int ch = s.channels;
  const float* data = x;
  // Non-finite samples are counted and measured as zero so one bad sample cannot poison the rest.
  size_t bad = 0;
  for (size_t i = 0; i < frames * ch; ++i) bad += !std::isfinite(x[i]);
  if (bad > 0) {
    s.nonfinite += static_cast<int64_t>(bad);
    s.clean.assign(x, x + frames * ch);
    for (float& v : s.clean) {
      if (!std::isfinite(v)) v = 0.0f;
    }
    data = s.clean.data();
  }
  const float threshold = static_cast<float>(s.opt.clip_threshold);
  for (size_t i = 0; i < frames; ++i) {
    const float* f = data + i * ch;
    for (int c = 0; c < ch; ++c) {
      const double v = f[c];
      s.sum[c] += v;
      s.sum_sq[c] += v * v;
      const double a = std::fabs(v);
      if (a > s.peak[c]) s.peak[c] = a;
      if (a >= threshold) {
        ++s.clipped;
        if (++s.run[c] == s.opt.min_clip_run) ++s.clipped_runs;
        s.longest_run = std::max(s.longest_run, s.run[c]);
      } else {
        s.run[c] = 0;
      }
      if (f[c] == s.plateau_value[c]) {
        ++s.plateau_length[c];
      } else {
        s.end_plateau(c);
        s.plateau_value[c] = f[c];
        s.plateau_length[c] = 1;
      }
    }
    if (ch >= 2) {
      const double l = f[0], r = f[1];
      s.sum_lr += l * r;
      s.sum_mid += 0.25 * (l + r) * (l + r);
      s.sum_side += 0.25 * (l - r) * (l - r);
    }
  }
  // The loudness meter is the costliest part: it runs beside the rest (two cores).
  s.meter.add_async(data, frames);
  s.frames += static_cast<int64_t>(frames);
  if (s.opt.spectral) s.push_spectral(data, frames);
}

double estimate_bandwidth_hz(const std::vector<double>& ltas, int fft_size, int sample_rate_hz,
                             bool* band_limited) {
  const int bins = static_cast<int>(ltas.size());
  const double bin_hz = static_cast<double>(sample_rate_hz) / fft_size;
  const double nyquist = sample_rate_hz / 2.0;
  *band_limited = false;
  std::vector<double> db(bins), smooth(bins);
  for (int k = 0; k < bins; ++k) db[k] = 10.0 * std::log10(ltas[k] + 1e-30);
  for (int k = 0; k < bins; ++k) {
    double acc = 0;
    int n = 0;
    for (int j = std::max(0, k - 3); j <= std::min(bins - 1, k + 3); ++j, ++n) acc += db[j];
    smooth[k] = acc / n;
  }
  auto mean_db = [&](double f_lo, double f_hi) {
    const int a = std::max(0, static_cast<int>(std::ceil(f_lo / bin_hz)));
    const int b = std::min(bins - 1, static_cast<int>(std::floor(f_hi / bin_hz)));
    double acc = 0;
    for (int k = a; k <= b; ++k) acc += smooth[k];
    return b >= a ? acc / (b - a + 1) : std::numeric_limits<double>::quiet_NaN();
  };
  double best_drop = 0, best_f = nyquist;
  bool settled = false;  // best_f is a cliff that refilled() cleared
  const double top = nyquist * 0.995;
  // Whether the spectrum comes back above the cliff at f: a sixth-octave band above its skirt
  // more than kRefillDb over the skirt's mean level. A low-pass leaves nothing above that
  // rises again (distortion and noise added after it lie under its skirt); a resonance of the
  // programme (castanets ring at 2.2 kHz over a dip, and sound again from 5 kHz) does.
  auto refilled = [&](double f) {
    const double skirt = mean_db(1.05 * f, std::min(1.25 * f, top));
    for (double lo = 1.25 * f; lo * std::pow(2.0, 1.0 / 6) <= top; lo *= std::pow(2.0, 1.0 / 12)) {
      if (mean_db(lo, lo * std::pow(2.0, 1.0 / 6)) > skirt + kRefillDb) return true;
    }
    return false;
  };
  for (int k = static_cast<int>(kMinCutoffHz / bin_hz); k < bins; ++k) {
    const double f = k * bin_hz;
    const double above_hi = std::min(1.25 * f, top);
    if ((above_hi - 1.05 * f) < 3 * bin_hz) break;  // too close to Nyquist to judge
    const double drop = mean_db(f / 1.25, f / 1.05) - mean_db(1.05 * f, above_hi);
    // The lowest cliff is the recorder's band limit: a later resampler or codec may add a deeper
    // one higher up (its own anti-alias edge), above whatever distortion refilled the band. A
    // cliff that the spectrum climbs back from is the programme's, and the search goes on.
    if (drop < kMinCutoffDropDb && best_drop >= kMinCutoffDropDb) {
      if (!refilled(best_f)) {
        settled = true;
        break;
      }
      best_drop = 0;
      best_f = nyquist;
    }
    if (drop > best_drop) {
      best_drop = drop;
      best_f = f;
    }
  }
  // A cliff the search ran into the top of the band with has not been checked yet.
  if (best_drop < kMinCutoffDropDb || (!settled && refilled(best_f))) return nyquist;
  *band_limited = true;
  // The largest drop finds the transition band, not its corner: walk down the filter skirt from
  // its steepest point until the slope just below is gentler than kSkirtSlopeDbPerOctave. For
  // 8th- and 16th-order Butterworth low-passes that lands within 5 % of the -3 dB corner.
  auto slope_at = [&](double f) {  // dB per octave over the 1/24 octave below f
    const int khi = std::min(bins - 1, static_cast<int>(std::lround(f / bin_hz)));
    const int klo =
        std::max(1, static_cast<int>(std::lround(f * std::pow(2.0, -1.0 / 24) / bin_hz)));
    if (khi <= klo) return 0.0;
    return (smooth[khi] - smooth[klo]) / std::log2(static_cast<double>(khi) / klo);
  };

  int k = static_cast<int>(best_f / bin_hz);
  double steepest = 0;
  for (int j = static_cast<int>(best_f / 1.25 / bin_hz);
       j <= static_cast<int>(1.05 * best_f / bin_hz) && j < bins; ++j) {
    const double sl = slope_at(j * bin_hz);
    if (sl < steepest) {
      steepest = sl;
      k = j;
    }
  }
  while (k > 1 && slope_at(k * bin_hz) < kSkirtSlopeDbPerOctave) --k;
  // On tonal programme the smoothed spectrum is bumpy, and the walk can stop on a bump far down
  // the skirt: where it stopped more than kDeepInSkirtDb under the passband (the mean level of
  // the octave [f/2, f/1.25] under the cliff), walk on while the level lies more than
  // kCornerBelowPassbandDb under it.
  const double passband = mean_db(best_f / 2, best_f / 1.25);
  if (smooth[k] < passband - kDeepInSkirtDb) {
    while (k > 1 && k * bin_hz > kMinCutoffHz && smooth[k] < passband - kCornerBelowPassbandDb) --k;
  }
  return k * bin_hz;
}

double estimate_low_cutoff_hz(const std::vector<double>& ltas, int fft_size, int sample_rate_hz,
                              bool* band_limited) {
  *band_limited = false;
  const int bins = static_cast<int>(ltas.size());
  const double bin_hz = static_cast<double>(sample_rate_hz) / fft_size;
  if (bins < 4) return 0.0;
  std::vector<double> db(bins);
  for (int k = 0; k < bins; ++k) db[k] = 10.0 * std::log10(ltas[k] + 1e-30);
  // Level at f by linear interpolation between bins (bin 0, DC, is never used).
  auto level = [&](double f) {
    const double x = std::clamp(f / bin_hz, 1.0, bins - 1.0);
    const int k = std::min(bins - 2, static_cast<int>(x));
    return db[k] + (x - k) * (db[k + 1] - db[k]);
  };
  // The skirt's top: the highest f whose two octaves below both rise steeply towards f.
  double top = 0;
  const double step = bin_hz / 4;
  for (double f = std::max(kLowCutSearchHz, 4 * bin_hz);
       f <= std::min(kLowCutMaxHz, 0.25 * bins * bin_hz); f += step) {
    const double upper = level(f) - level(f / 2), lower = level(f / 2) - level(f / 4);
    if (upper >= kLowCutOctaveRiseDb && lower >= kLowCutOctaveRiseDb &&
        upper + lower >= kLowCutTotalRiseDb) {
      top = f;
    }
  }
  if (top < kLowCutMinTopHz) return 0.0;
  *band_limited = true;
  return top / kLowCutTopPerCorner;
}

double band_below_cut_re_peak_db(const std::vector<double>& ltas, int fft_size, int sample_rate_hz,
                                 double cutoff_hz) {
  const int bins = static_cast<int>(ltas.size());
  const double bin_hz = static_cast<double>(sample_rate_hz) / fft_size;
  const int lo = std::max(1, static_cast<int>(std::ceil(cutoff_hz / std::sqrt(2.0) / bin_hz)));
  const int hi = std::min(bins - 1, static_cast<int>(std::floor(cutoff_hz / 1.05 / bin_hz)));
  double peak = 0, sum = 0;
  for (int k = 1; k < bins; ++k) peak = std::max(peak, ltas[k]);
  for (int k = lo; k <= hi; ++k) sum += ltas[k];
  if (hi < lo || !(peak > 0) || !(sum > 0)) return 0.0;
  return power_to_db(sum / (hi - lo + 1) / peak);
}

Analysis Analyzer::finish() {
  Impl& s = *impl_;
  if (s.opt.spectral) s.push_spectral(nullptr, 0);
  Analysis a;
  a.sample_rate_hz = s.rate;
  a.channels = s.channels;
  a.frames = s.frames;
  a.duration_s = static_cast<double>(s.frames) / s.rate;
  const double n = std::max<int64_t>(1, s.frames);
  double peak = 0, mean_sq = 0;
  for (int c = 0; c < s.channels; ++c) {
    peak = std::max(peak, s.peak[c]);
    mean_sq += s.sum_sq[c] / n;
    a.dc_offset.push_back(s.sum[c] / n);
  }
  mean_sq /= s.channels;
  a.peak_dbfs = to_db(peak);
  a.rms_dbfs = power_to_db(mean_sq);
  a.crest_db = a.peak_dbfs - a.rms_dbfs;
  a.true_peak_dbtp = s.meter.true_peak_dbtp();
  a.integrated_lufs = s.meter.integrated_lufs();
  a.loudness_range_lu = s.meter.range_lu();
  a.max_short_term_lufs = s.meter.max_short_term_lufs();
  a.max_momentary_lufs = s.meter.max_momentary_lufs();
  a.nonfinite_samples = s.nonfinite;
  a.clipped_samples = s.clipped;
  a.clipped_runs = s.clipped_runs;
  a.longest_clipped_run = s.longest_run;
  // Flat tops at the recording's own peak level are clipping too (a phone or interface that clips
  // below full scale); take them when they account for more than the full-scale rule.
  for (int c = 0; c < s.channels; ++c) s.end_plateau(c);
  a.clip_level_dbfs = a.clipped_samples > 0 ? 0.0 : -std::numeric_limits<double>::infinity();
  for (int top = kPlateauBins - 1; top >= 0; --top) {
    if (s.plateau_samples[top] == 0) continue;
    const double top_db = kPlateauMinDb + (top + 1) * kPlateauStepDb;
    if (top_db < a.peak_dbfs - kPlateauPeakToleranceDb) break;  // flat, but not at the peak
    int64_t samples = 0, runs = 0, longest = 0;
    for (int b = top;
         b >= 0 && kPlateauMinDb + (b + 1) * kPlateauStepDb >= top_db - kPlateauPeakToleranceDb;
         --b) {
      samples += s.plateau_samples[b];
      runs += s.plateau_runs[b];
      longest = std::max(longest, s.plateau_longest[b]);
    }
    if (samples > a.clipped_samples) {
      a.clipped_samples = samples;
      a.clipped_runs = runs;
      a.longest_clipped_run = longest;
      a.clip_level_dbfs = std::min(0.0, a.peak_dbfs);
    }
    break;
  }
  a.clipped_ratio = static_cast<double>(a.clipped_samples) / (n * s.channels);
  if (s.channels >= 2) {
    const double denom = std::sqrt(s.sum_sq[0] * s.sum_sq[1]);
    a.stereo_correlation = denom > 0 ? s.sum_lr / denom : 1.0;
    const double ms = s.sum_mid + s.sum_side;
    a.stereo_width = ms > 0 ? s.sum_side / ms : 0.0;
    a.mono = a.stereo_correlation > kMonoCorrelation;
  } else {
    a.mono = true;
    a.stereo_correlation = 1.0;
    a.stereo_width = 0.0;
  }
  a.bandwidth_hz = s.rate / 2.0;
  if (s.opt.spectral && s.spectral_frames > 0) {
    a.spectral = true;
    const int bins = kFftSize / 2 + 1;
    const double bin_hz = static_cast<double>(s.rate) / kFftSize;
    std::vector<double> mean(bins), noise(bins), floor(bins);
    double total = 0, weighted = 0;
    for (int k = 0; k < bins; ++k) {
      mean[k] = s.ltas[k] / s.spectral_frames;
      total += mean[k];
      weighted += mean[k] * k * bin_hz;
      noise[k] = s.percentile_power(k, kNoisePercentile) * kPercentileBias;
    }
    // Median across frequency removes steady tones from the per-bin floor.
    const int half = kNoiseMedianBins / 2;
    std::vector<double> window;
    double noise_total = 0;
    for (int k = 0; k < bins; ++k) {
      window.assign(noise.begin() + std::max(0, k - half),
                    noise.begin() + std::min(bins, k + half + 1));
      floor[k] = std::min(dsp::median_in_place(window.begin(), window.end()), mean[k]);
      noise_total += floor[k];
    }
    a.noise_floor_dbfs = power_to_db(noise_total);
    a.snr_db =
        noise_total > 0 ? power_to_db(std::max(total - noise_total, 1e-30) / noise_total) : 200.0;
    a.spectral_centroid_hz = total > 0 ? weighted / total : 0.0;
    double acc = 0;
    for (int k = 0; k < bins; ++k) {
      acc += mean[k];
      if (acc >= kRolloffFraction * total) {
        a.spectral_rolloff_hz = k * bin_hz;
        break;
      }
    }
    a.bandwidth_hz = estimate_bandwidth_hz(mean, kFftSize, s.rate, &a.band_limited);
    a.low_cutoff_hz = estimate_low_cutoff_hz(mean, kFftSize, s.rate, &a.low_band_limited);
    if (a.band_limited)
      a.below_cut_re_peak_db = band_below_cut_re_peak_db(mean, kFftSize, s.rate, a.bandwidth_hz);
    if (a.low_band_limited) {
      // The steady floor's share of the band over the low cut, per bin (before the median
      // across frequency, which would smear the low end).
      std::vector<double> share;
      const int lo = std::max(1, static_cast<int>(std::lround(a.low_cutoff_hz / bin_hz)));
      const int hi = std::min(
          bins - 1, static_cast<int>(std::lround(kLowFloorBandTop * a.low_cutoff_hz / bin_hz)));
      for (int k = lo; k <= hi; ++k)
        if (mean[k] > 0) share.push_back(noise[k] / mean[k]);
      if (!share.empty())
        a.low_floor_share_db = power_to_db(dsp::median_in_place(share.begin(), share.end()));
    }
  } else {
    a.noise_floor_dbfs = -std::numeric_limits<double>::infinity();
    a.snr_db = 0;
  }
  return a;
}

nlohmann::json Analysis::to_json() const {
  nlohmann::json j;
  j["sample_rate_hz"] = sample_rate_hz;
  j["channels"] = channels;
  j["frames"] = frames;
  j["duration_s"] = duration_s;
  j["peak_dbfs"] = json_level(peak_dbfs);
  j["true_peak_dbtp"] = json_level(true_peak_dbtp);
  j["rms_dbfs"] = json_level(rms_dbfs);
  j["crest_db"] = json_level(crest_db);
  j["integrated_lufs"] = json_level(integrated_lufs);
  j["loudness_range_lu"] = json_level(loudness_range_lu);
  j["max_short_term_lufs"] = json_level(max_short_term_lufs);
  j["max_momentary_lufs"] = json_level(max_momentary_lufs);
  j["dc_offset"] = dc_offset;
  j["nonfinite_samples"] = nonfinite_samples;
  j["clipped_samples"] = clipped_samples;
  j["clipped_ratio"] = clipped_ratio;
  j["clipped_runs"] = clipped_runs;
  j["longest_clipped_run"] = longest_clipped_run;
  j["clip_level_dbfs"] = json_level(clip_level_dbfs);
  if (spectral) {  // absent rather than placeholders when not measured (--no-spectral, silence)
    j["noise_floor_dbfs"] = json_level(noise_floor_dbfs);
    j["snr_db"] = json_level(snr_db);
    j["bandwidth_hz"] = bandwidth_hz;
    j["band_limited"] = band_limited;
    if (band_limited) j["below_cut_re_peak_db"] = below_cut_re_peak_db;
    if (low_band_limited) j["low_floor_share_db"] = low_floor_share_db;
    j["low_cutoff_hz"] = low_cutoff_hz;
    j["low_band_limited"] = low_band_limited;
    j["spectral_centroid_hz"] = spectral_centroid_hz;
    j["spectral_rolloff_hz"] = spectral_rolloff_hz;
  }
  j["mono"] = mono;
  j["stereo_correlation"] = stereo_correlation;
  j["stereo_width"] = stereo_width;
  return j;
}

}  // namespace rz::metrics
