// High-frequency regeneration by STFT band replication (see bandwidth.hpp).
#include "rz/dsp/bandwidth.hpp"

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "rz/dsp/fft.hpp"
#include "rz/dsp/units.hpp"
#include "rz/error.hpp"

namespace rz::dsp {

namespace {

constexpr double kPi = 3.14159265358979323846;
// The Hann analysis and synthesis windows' product, overlap-added at hop n/4, sums to 1.5.
constexpr double kHannSquaredOverlap = 1.5;
constexpr int kHopDivisor = 4;
// Below this source-octave level (dB re the per-bin unit of level_db) a frame is digital silence.
constexpr double kSilentDb = -250.0;
// Floor of the band powers' logarithms (-3000 dB): it only keeps log10 finite on digital silence,
// far under kSilentDb, so it never decides anything.
constexpr double kLogGuardPower = 1e-300;
constexpr int kGateSubWindows = 8;
// Target bands are a sixth of an octave wide, at least kMinBandBins bins.
constexpr double kBandOctaves = 1.0 / 6.0;
constexpr int kMinBandBins = 2;
// Fade-in of the added band above the cutoff.
constexpr double kCrossfadeOctaves = 1.0 / 12.0;
// Ranges of the band settings (HfRegenSettings::has_band and validate).
constexpr double kMinMaxFreqHz = 2000, kMaxMaxFreqHz = 100000;
constexpr double kMinCutoffHz = 1000;
constexpr double kMaxCutoffNyquistShare = 0.45;  // of the sample rate: 0.9 Nyquist
// The envelope's octave ends this far below the cutoff, out of the low-pass's skirt.
constexpr double kSkirtOctaves = 0.25;

int regen_fft_size(int sample_rate_hz) {
  const double ideal = 2048.0 * sample_rate_hz / 44100.0;
  int n = 256;
  while (n < ideal / std::sqrt(2.0)) n *= 2;
  return n;
}

double effective_max_hz(const HfRegenSettings& s, int sample_rate_hz) {
  return std::min(s.max_freq_hz, 0.5 * sample_rate_hz);
}

}  // namespace

bool HfRegenSettings::has_band(int sample_rate_hz) const {
  return max_freq_hz >= kMinMaxFreqHz && max_freq_hz <= kMaxMaxFreqHz &&
         cutoff_hz >= kMinCutoffHz && cutoff_hz <= kMaxCutoffNyquistShare * sample_rate_hz &&
         cutoff_hz * std::pow(2.0, kCrossfadeOctaves) <= effective_max_hz(*this, sample_rate_hz);
}

const params::Fields<HfRegenSettings>& HfRegenSettings::fields() {
  using S = HfRegenSettings;
  static const params::Fields<S> f = {
      {"cutoff_hz", &S::cutoff_hz, "Hz", kMinCutoffHz, kMaxCutoffNyquistShare * 768000,
       "bandwidth cutoff of the input (up to 0.9 Nyquist)"},
      {"max_freq_hz", &S::max_freq_hz, "Hz", kMinMaxFreqHz, kMaxMaxFreqHz,
       "top of the regenerated band (clamped to Nyquist)"},
      {"min_tilt_db_per_octave", &S::min_tilt_db_per_octave, "dB", -40, 0,
       "lower clamp of the tilt"},
      {"max_tilt_db_per_octave", &S::max_tilt_db_per_octave, "dB", -40, 0,
       "upper clamp of the tilt (at least the lower)"},
      {"rolloff_knee_hz", &S::rolloff_knee_hz, "Hz", 1000, 100000,
       "above it the envelope falls by rolloff_db_per_octave more"},
      {"rolloff_db_per_octave", &S::rolloff_db_per_octave, "dB", -60, 0, "fall above the knee"},
      {"fine_structure", &S::fine_structure, "", 0, 1,
       "share of the copied bins' fine structure the added band keeps"},
      {"tilt_extrapolation", &S::tilt_extrapolation, "", 0, 1.5,
       "share of the measured tilt carried above the cutoff over noise-like sound"},
      {"tonal_tilt_extrapolation", &S::tonal_tilt_extrapolation, "", 0, 1.5,
       "share of the measured tilt carried above the cutoff over tonal sound"},
      {"tonal_flatness_db", &S::tonal_flatness_db, "dB", -60, 0,
       "spectral flatness of the source octave at and under which it counts as tonal"},
      {"noisy_flatness_db", &S::noisy_flatness_db, "dB", -60, 0,
       "spectral flatness at and over which it counts as noise-like (above the tonal point)"},
      {"tilt_smoothing_s", &S::tilt_smoothing_s, "s", 0.05, 30,
       "time constant of the band powers the tilt is fitted to"},
      {"steady_gain_db", &S::steady_gain_db, "dB", -30, 0,
       "level of frames without an onset re the envelope"},
      {"transient_jump_db", &S::transient_jump_db, "dB", 0.5, 30,
       "jump over the average level that gets the full envelope"},
      {"transient_smoothing_s", &S::transient_smoothing_s, "s", 0.02, 10,
       "time constant of that average"},
      {"gate_snr_db", &S::gate_snr_db, "dB", 0, 40, "level over floor where the added band starts"},
      {"gate_range_db", &S::gate_range_db, "dB", 1, 40, "range over which it fades in"},
      {"gate_window_s", &S::gate_window_s, "s", 0.5, 60, "the floor's minimum-statistics window"},
      {"floor_below_loud_db", &S::floor_below_loud_db, "dB", 3, 80,
       "the floor is at least this far under the loud level"},
      {"loud_release_db_per_s", &S::loud_release_db_per_s, "dB/s", 0.1, 60,
       "fall of the loud level"},
  };
  return f;
}

void HfRegenSettings::validate(int sample_rate_hz) const {
  if (!(sample_rate_hz >= 8000 && sample_rate_hz <= 768000))
    params::throw_out_of_range("hf-regen sample rate", sample_rate_hz, 8000, 768000, false, "Hz",
                               true);
  params::check(*this, fields(), "hf-regen ");
  if (!(cutoff_hz <= kMaxCutoffNyquistShare * sample_rate_hz))
    params::throw_out_of_range("hf-regen cutoff_hz", cutoff_hz, kMinCutoffHz,
                               kMaxCutoffNyquistShare * sample_rate_hz, false, "Hz");
  if (!has_band(sample_rate_hz)) {
    const double top = effective_max_hz(*this, sample_rate_hz);
    throw UsageError(describe(
        "bad hf-regen cutoff_hz", fixed(cutoff_hz),
        "must lie at least 1/12 octave below max_freq_hz and Nyquist (" + fixed(top, 0) + " Hz)"));
  }
  if (!(max_tilt_db_per_octave >= min_tilt_db_per_octave))
    params::throw_out_of_range("hf-regen max_tilt_db_per_octave", max_tilt_db_per_octave,
                               min_tilt_db_per_octave, 0, false, "dB");
  if (!(noisy_flatness_db > tonal_flatness_db))
    params::throw_out_of_range("hf-regen noisy_flatness_db", noisy_flatness_db, tonal_flatness_db,
                               0, true, "dB");
}

nlohmann::json HfRegenSettings::to_json() const { return params::to_json(*this, fields()); }

struct HfRegenerator::State {
  int channels;
  int rate;
  HfRegenSettings settings;
  double intensity;
  int n, hop, bins;
  RealFft fft;
  std::vector<float> window;
  // Bins: source [src_lo, kc), shift d per patch, target [kc, k_end), fade [kc, k_fade).
  int kc, d, src_lo, k_end, k_fade, env_lo;
  std::vector<int> src_edges;     // kSourceBands + 1
  std::vector<double> src_log2f;  // log2 of each source band's centre, Hz
  std::vector<int> tgt_edges;     // target bands
  std::vector<double> tgt_centre_bin, tgt_log2_re_cut, tgt_log2_re_knee, tgt_gain;
  std::vector<double> fade;                 // per bin of [kc, k_fade)
  std::vector<double> tgt_log_mean_source;  // mean of ln(source power) per target band
  std::vector<double> log_src;              // ln(source power) per bin of [kc, k_end)
  std::vector<int> band_of_bin;             // target band of each bin of [kc, k_end)
  double flatten_exponent;
  // Streaming buffers.
  std::vector<float> in;  // [channel][n]: the frame being collected; its oldest hop are the dry out
  std::vector<float> acc;    // [channel][n]: overlap-add of the added band
  std::vector<float> ready;  // [hop][channel]
  int pos = 0;
  std::vector<float> frame;
  std::vector<std::complex<float>> spectra;  // [channel][bins]
  std::vector<std::complex<float>> y;        // synthesis spectrum (zero outside the target)
  std::vector<double> power;                 // channel-mean power per bin
  std::vector<double> gain;                  // per bin of [kc, k_end)
  // Trackers.
  bool started = false;
  std::vector<double> smooth_band;  // tilt's smoothed band powers
  double a_tilt, a_trans, loud_release_db;
  double avg_db = 0, loud_db = 0;
  int sub_length;
  std::vector<double> sub_min;
  int filled_subs = 0, sub_pos = 0, in_sub = 0;
  double current_min = std::numeric_limits<double>::infinity();
  bool acc_live = false;  // acc holds anything non-zero
  int quiet_hops = 0;     // hops since the last addition
  // Statistics.
  double in_energy = 0, added_energy = 0, tilt_sum = 0, flatness_sum = 0;
  double smooth_flatness_db = 0;
  int64_t frames_run = 0, active_frames = 0, tilt_frames = 0;

  State(int c, int r, const HfRegenSettings& s, double i)
      : channels(c),
        rate(r),
        settings(s),
        intensity(i),
        n(regen_fft_size(r)),
        hop(n / kHopDivisor),
        bins(n / 2 + 1),
        fft(n),
        window(hann_window(n)) {
    const double bin_hz = static_cast<double>(rate) / n;
    kc = static_cast<int>(std::lround(s.cutoff_hz / bin_hz));
    d = std::max(kHopDivisor, (kc - kc / 2) / kHopDivisor * kHopDivisor);
    src_lo = kc - d;
    const double top = effective_max_hz(s, rate);
    k_end = std::min(static_cast<int>(std::floor(top / bin_hz)) + 1, n / 2);
    k_fade = std::min(
        k_end,
        std::max(kc + 1, static_cast<int>(std::ceil(kc * std::pow(2.0, kCrossfadeOctaves)))));
    // The envelope is measured an octave wide, kSkirtOctaves below the cutoff.
    const double env_top = kc * std::pow(2.0, -kSkirtOctaves);
    for (int b = 0; b <= kSourceBands; ++b) {
      const int e =
          static_cast<int>(std::lround(env_top * std::pow(2.0, 1.0 * b / kSourceBands - 1.0)));
      src_edges.push_back(b == 0 ? e : std::max(e, src_edges.back() + 1));
    }
    env_lo = src_edges.front();
    for (int b = 0; b < kSourceBands; ++b) {
      src_log2f.push_back(
          0.5 * (std::log2(src_edges[b] * bin_hz) + std::log2(src_edges[b + 1] * bin_hz)));
    }
    for (int e = kc;;) {
      tgt_edges.push_back(e);
      if (e >= k_end) break;
      int next = std::max(e + kMinBandBins,
                          static_cast<int>(std::lround(e * std::pow(2.0, kBandOctaves))));
      if (k_end - next < kMinBandBins) next = k_end;
      e = std::min(next, k_end);
    }
    for (size_t b = 0; b + 1 < tgt_edges.size(); ++b) {
      const double centre = 0.5 * (tgt_edges[b] + tgt_edges[b + 1] - 1);
      tgt_centre_bin.push_back(centre);
      tgt_log2_re_cut.push_back(std::log2(std::max(centre, 0.5) / kc));
      tgt_log2_re_knee.push_back(std::max(0.0, std::log2(centre * rate / n / s.rolloff_knee_hz)));
    }
    tgt_gain.assign(tgt_centre_bin.size(), 0.0);
    tgt_log_mean_source.assign(tgt_centre_bin.size(), 0.0);
    flatten_exponent = 0.5 * (1.0 - s.fine_structure);
    for (size_t b = 0; b + 1 < tgt_edges.size(); ++b) {
      for (int k = tgt_edges[b]; k < tgt_edges[b + 1]; ++k)
        band_of_bin.push_back(static_cast<int>(b));
    }
    for (int k = kc; k < k_fade; ++k) {
      fade.push_back(0.5 - 0.5 * std::cos(kPi * (k - kc + 0.5) / (k_fade - kc)));
    }
    in.assign(static_cast<size_t>(channels) * n, 0.0f);
    acc.assign(static_cast<size_t>(channels) * n, 0.0f);
    ready.assign(static_cast<size_t>(channels) * hop, 0.0f);
    frame.assign(n, 0.0f);
    spectra.assign(static_cast<size_t>(channels) * bins, {});
    y.assign(bins, {});
    power.assign(bins, 0.0);
    gain.assign(std::max(0, k_end - kc), 0.0);
    log_src.assign(std::max(0, k_end - kc), 0.0);
    smooth_band.assign(kSourceBands, 0.0);
    const double frame_rate = static_cast<double>(rate) / hop;
    a_tilt = std::exp(-1.0 / (s.tilt_smoothing_s * frame_rate));
    a_trans = std::exp(-1.0 / (s.transient_smoothing_s * frame_rate));
    loud_release_db = s.loud_release_db_per_s / frame_rate;
    sub_length =
        std::max(1, static_cast<int>(std::lround(s.gate_window_s * frame_rate / kGateSubWindows)));
    sub_min.assign(kGateSubWindows, 0.0);
  }

  // Updates the gate's floor with this frame's level and returns the floor, dB.
  double update_floor(double level_db) {
    current_min = std::min(current_min, level_db);
    double floor_db = current_min;
    for (int i = 0; i < filled_subs; ++i) floor_db = std::min(floor_db, sub_min[i]);
    if (++in_sub == sub_length) {
      sub_min[sub_pos] = current_min;
      sub_pos = (sub_pos + 1) % kGateSubWindows;
      filled_subs = std::min(filled_subs + 1, kGateSubWindows);
      current_min = std::numeric_limits<double>::infinity();
      in_sub = 0;
    }
    return floor_db;
  }

  // Computes the per-bin gains of the added band for the spectra of this frame; false when
  // nothing is to be added.
  bool analyse() {
    ++frames_run;
    const double inv_c = 1.0 / channels;
    for (int k = std::min(src_lo, env_lo); k < k_end; ++k) {
      double p = 0;
      for (int c = 0; c < channels; ++c) p += std::norm(spectra[static_cast<size_t>(c) * bins + k]);
      power[k] = p * inv_c;
    }
    double band_power[kSourceBands];
    double total = 0;
    for (int b = 0; b < kSourceBands; ++b) {
      double sum = 0;
      for (int k = src_edges[b]; k < src_edges[b + 1]; ++k) sum += power[k];
      total += sum;
      band_power[b] = sum / (src_edges[b + 1] - src_edges[b]);
    }
    // Level per bin re the window's energy (only differences and the silence test use it).
    const double level_db = power_to_db(total / (src_edges.back() - env_lo) / n);
    if (!(level_db > kSilentDb)) return false;

    if (!started) {
      started = true;
      for (int b = 0; b < kSourceBands; ++b) smooth_band[b] = band_power[b];
      avg_db = level_db;
      loud_db = level_db;
    }
    // Tilt from the smoothed band powers.
    double xm = 0, ym = 0, yb[kSourceBands];
    for (int b = 0; b < kSourceBands; ++b) {
      smooth_band[b] = a_tilt * smooth_band[b] + (1 - a_tilt) * band_power[b];
      yb[b] = power_to_db(smooth_band[b], kLogGuardPower);
      xm += src_log2f[b];
      ym += yb[b];
    }
    xm /= kSourceBands;
    ym /= kSourceBands;
    double sxy = 0, sxx = 0;
    for (int b = 0; b < kSourceBands; ++b) {
      sxy += (src_log2f[b] - xm) * (yb[b] - ym);
      sxx += (src_log2f[b] - xm) * (src_log2f[b] - xm);
    }
    const double fit = sxy / sxx;
    tilt_sum += std::clamp(fit, settings.min_tilt_db_per_octave, settings.max_tilt_db_per_octave);
    // Spectral flatness of the source octave (geometric over arithmetic mean of its bin powers),
    // smoothed like the band powers: noise-like (cymbals, breath, sibilance) near -2.5 dB, a
    // harmonic instrument's partials far under it.
    double log_sum = 0;
    for (int k = src_edges[0]; k < src_edges.back(); ++k)
      log_sum += std::log(std::max(power[k], kLogGuardPower));
    const int src_bins = src_edges.back() - src_edges[0];
    const double flatness_db =
        10.0 / std::log(10.0) *
        (log_sum / src_bins - std::log(std::max(total / src_bins, kLogGuardPower)));
    smooth_flatness_db =
        tilt_frames == 0 ? flatness_db : a_tilt * smooth_flatness_db + (1 - a_tilt) * flatness_db;
    flatness_sum += smooth_flatness_db;
    const double noisy =
        ramp(smooth_flatness_db, settings.tonal_flatness_db, settings.noisy_flatness_db);
    const double extrapolation =
        settings.tonal_tilt_extrapolation +
        noisy * (settings.tilt_extrapolation - settings.tonal_tilt_extrapolation);
    const double tilt = std::clamp(extrapolation * fit, settings.min_tilt_db_per_octave,
                                   settings.max_tilt_db_per_octave);
    ++tilt_frames;

    // Transient-aware gain.
    const double jump_db = level_db - avg_db;
    avg_db = a_trans * avg_db + (1 - a_trans) * level_db;
    const double onset = std::clamp(jump_db / settings.transient_jump_db, 0.0, 1.0);
    const double trans_db = settings.steady_gain_db * (1.0 - onset);

    // Gate.
    loud_db = std::max(level_db, loud_db - loud_release_db);
    const double floor_db =
        std::min(update_floor(level_db), loud_db - settings.floor_below_loud_db);
    const double open =
        std::clamp((level_db - floor_db - settings.gate_snr_db) / settings.gate_range_db, 0.0, 1.0);
    const double amplitude = intensity * open * db_to_amplitude(trans_db);
    if (amplitude <= 0) return false;

    // Envelope: level at the cutoff (per-bin power, dB) from every source band along the tilt.
    const double log2_cut = std::log2(static_cast<double>(kc) * rate / n);
    double cut_db = 0;
    for (int b = 0; b < kSourceBands; ++b) {
      cut_db += power_to_db(band_power[b], kLogGuardPower) + tilt * (log2_cut - src_log2f[b]);
    }
    cut_db /= kSourceBands;
    const double max_gain = db_to_amplitude(kMaxPatchGainDb);
    bool any = false;
    for (size_t t = 0; t + 1 < tgt_edges.size(); ++t) {
      double present = 0, source = 0, log_source = 0;
      for (int k = tgt_edges[t]; k < tgt_edges[t + 1]; ++k) {
        present += power[k];
        const double ps = power[k - ((k - kc) / d + 1) * d];
        source += ps;
        log_src[k - kc] = std::log(std::max(ps, 1e-300));
        log_source += log_src[k - kc];
      }
      const int width = tgt_edges[t + 1] - tgt_edges[t];
      present /= width;
      source /= width;
      const double target = db_to_power(cut_db + tilt * tgt_log2_re_cut[t] +
                                        settings.rolloff_db_per_octave * tgt_log2_re_knee[t]);
      double g = 0;
      if (target > present && source > 0)
        g = std::min(max_gain, std::sqrt((target - present) / source));
      tgt_gain[t] = g * amplitude;
      tgt_log_mean_source[t] = log_source / width;
      any = any || g > 0;
    }
    if (!any) return false;
    // Per bin: linear between band centres, constant beyond the outer ones, faded in.
    size_t t = 0;
    const size_t last = tgt_centre_bin.size() - 1;
    for (int k = kc; k < k_end; ++k) {
      while (t < last && tgt_centre_bin[t + 1] <= k) ++t;
      double g;
      if (k <= tgt_centre_bin[0]) {
        g = tgt_gain[0];
      } else if (t == last) {
        g = tgt_gain[last];
      } else {
        const double u = (k - tgt_centre_bin[t]) / (tgt_centre_bin[t + 1] - tgt_centre_bin[t]);
        g = tgt_gain[t] + u * (tgt_gain[t + 1] - tgt_gain[t]);
      }
      if (k < k_fade) g *= fade[k - kc];
      // Fine structure: the copy's bin-to-bin contrast, compressed towards its band's mean.
      if (flatten_exponent != 0 && g > 0) {
        // Bounded like the band gains: a near-empty source bin is not raised by more.
        g *= std::min(max_gain,
                      std::exp(flatten_exponent *
                               (tgt_log_mean_source[band_of_bin[k - kc]] - log_src[k - kc])));
      }
      gain[k - kc] = g;
    }
    ++active_frames;
    return true;
  }

  // Its own framer, not dsp/stft.hpp (yet): the ring `in` is also the dry delay line (its oldest
  // hop is the output's dry part), the forward FFT is skipped at intensity 0, and the accumulator
  // is left unshifted while it holds nothing (acc_live). StftAnalysis::samples() and a synthesis
  // step without a frame would carry all three bit for bit; the move was not made in issue 12.
  void run_frame() {
    bool added = false;
    if (intensity > 0) {
      for (int c = 0; c < channels; ++c) {
        const float* x = &in[static_cast<size_t>(c) * n];
        for (int j = 0; j < n; ++j) frame[j] = x[j] * window[j];
        fft.forward(frame.data(), &spectra[static_cast<size_t>(c) * bins]);
      }
      added = analyse();
    } else {
      ++frames_run;
    }
    if (added) {
      const float norm = static_cast<float>(1.0 / kHannSquaredOverlap);
      for (int c = 0; c < channels; ++c) {
        const std::complex<float>* xc = &spectra[static_cast<size_t>(c) * bins];
        for (int k = kc; k < k_end; ++k) {
          y[k] = static_cast<float>(gain[k - kc]) * xc[k - ((k - kc) / d + 1) * d];
        }
        fft.inverse(y.data(), frame.data());
        float* a = &acc[static_cast<size_t>(c) * n];
        for (int j = 0; j < n; ++j) a[j] += frame[j] * window[j] * norm;
      }
      acc_live = true;
    }
    for (int c = 0; c < channels; ++c) {
      float* x = &in[static_cast<size_t>(c) * n];
      float* a = &acc[static_cast<size_t>(c) * n];
      for (int j = 0; j < hop; ++j) {
        const float wet = a[j];
        const float out = x[j] + wet;
        ready[static_cast<size_t>(j) * channels + c] = out;
        const double added_part = static_cast<double>(out) - x[j];
        added_energy += added_part * added_part;
      }
      std::memmove(x, x + hop, sizeof(float) * (n - hop));
      if (acc_live) {
        std::memmove(a, a + hop, sizeof(float) * (n - hop));
        std::fill(a + (n - hop), a + n, 0.0f);
      }
    }
    // acc stays live until a whole frame length has passed without additions.
    if (added) {
      quiet_hops = 0;
    } else if (acc_live && ++quiet_hops >= kHopDivisor) {
      acc_live = false;
    }
  }
};

HfRegenerator::HfRegenerator(int channels, int sample_rate_hz, const HfRegenSettings& settings,
                             double intensity) {
  if (channels < 1) throw UsageError("hf-regen: channels must be at least 1");
  settings.validate(sample_rate_hz);
  params::check_range("hf-regen intensity", intensity, 0, 2);
  state_ = std::make_unique<State>(channels, sample_rate_hz, settings, intensity);
}

HfRegenerator::~HfRegenerator() = default;
HfRegenerator::HfRegenerator(HfRegenerator&&) noexcept = default;
HfRegenerator& HfRegenerator::operator=(HfRegenerator&&) noexcept = default;

void HfRegenerator::process(const float* in, float* out, size_t frames) {
  State& s = *state_;
  const int ch = s.channels;
  size_t i = 0;
  while (i < frames) {
    const size_t m = std::min(frames - i, static_cast<size_t>(s.hop - s.pos));
    for (size_t j = 0; j < m; ++j) {
      const size_t src = (i + j) * ch;
      const size_t slot = static_cast<size_t>(s.pos) + j;
      for (int c = 0; c < ch; ++c) {
        // Read before writing: `in` and `out` may be one buffer.
        const float x = in[src + c];
        out[src + c] = s.ready[slot * ch + c];
        s.in[static_cast<size_t>(c) * s.n + (s.n - s.hop) + slot] = x;
        s.in_energy += static_cast<double>(x) * x;
      }
    }
    i += m;
    s.pos += static_cast<int>(m);
    if (s.pos == s.hop) {
      s.run_frame();
      s.pos = 0;
    }
  }
}

size_t HfRegenerator::latency_frames() const { return static_cast<size_t>(state_->n); }
int HfRegenerator::channels() const { return state_->channels; }
int HfRegenerator::fft_size() const { return state_->n; }

double HfRegenerator::added_energy_db() const {
  const State& s = *state_;
  if (s.added_energy <= 0) return -std::numeric_limits<double>::infinity();
  return power_to_db(s.added_energy / std::max(s.in_energy, 1e-300));
}

double HfRegenerator::active_ratio() const {
  const State& s = *state_;
  return s.frames_run > 0 ? static_cast<double>(s.active_frames) / s.frames_run : 0.0;
}

double HfRegenerator::tilt_db_per_octave() const {
  const State& s = *state_;
  return s.tilt_frames > 0 ? s.tilt_sum / s.tilt_frames : 0.0;
}

double HfRegenerator::flatness_db() const {
  const State& s = *state_;
  return s.tilt_frames > 0 ? s.flatness_sum / s.tilt_frames : 0.0;
}

nlohmann::json HfRegenerator::statistics() const {
  return {{"added_energy_db", json_level(added_energy_db())},
          {"active_ratio", active_ratio()},
          {"tilt_db_per_octave", tilt_db_per_octave()},
          {"flatness_db", flatness_db()}};
}

}  // namespace rz::dsp
