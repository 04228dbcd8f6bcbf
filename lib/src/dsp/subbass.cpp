// Sub-bass restoration: harmonic-sieve pitch, per-channel partial phasors compensated for the
// recorder's high-pass, fundamental re-synthesized by overlap-add. Method in subbass.hpp.
#include "rz/dsp/subbass.hpp"

#include <algorithm>
#include <cmath>
#include <complex>
#include <limits>
#include <string>
#include <vector>

#include "rz/dsp/biquad.hpp"
#include "rz/dsp/fft.hpp"
#include "rz/dsp/units.hpp"
#include "rz/error.hpp"

namespace rz::dsp {

namespace {

using cd = std::complex<double>;

constexpr double kSilentMeanSquare = 1e-20;  // a frame quieter than this is digital silence
constexpr int kProminenceBins = 3;           // a peak's prominence is judged over +-3 bins
constexpr size_t kMaxPeaks = 16;             // strongest partials kept per frame
constexpr int kMedianBins = 8;               // a peak's local median: over +-8 bins (+-43 Hz)

// Complex response of a biquad cascade at freq_hz.
cd response(const std::vector<BiquadCoeffs>& chain, double sample_rate_hz, double freq_hz) {
  const cd z1 = std::polar(1.0, -2.0 * M_PI * freq_hz / sample_rate_hz);
  const cd z2 = z1 * z1;
  cd h = 1.0;
  for (const BiquadCoeffs& s : chain)
    h *= (s.b0 + s.b1 * z1 + s.b2 * z2) / (1.0 + s.a1 * z1 + s.a2 * z2);
  return h;
}

struct Peak {
  double freq_hz;
  double energy;
};

}  // namespace

const params::Fields<SubBassSettings>& SubBassSettings::fields() {
  using S = SubBassSettings;
  static const params::Fields<S> f = {
      {"low_cut_hz", &S::low_cut_hz, "Hz", kMinLowCutHz, kMaxLowCutHz,
       "the recorder's high-pass corner (-3 dB), as the analysis found it"},
      {"low_cut_order", &S::low_cut_order, "", 2, 8, "order of that high-pass (even)"},
      {"search_low_hz", &S::search_low_hz, "Hz", SubBassSynth::kMinF0Hz, kMaxLowCutHz,
       "bottom of the band searched for partials (up to low_cut_hz)"},
      {"search_high_hz", &S::search_high_hz, "Hz", 1.5 * kMinLowCutHz, 96000,
       "top of the band searched for partials (1.5 low_cut_hz .. an eighth of the rate)"},
      {"max_added_db", &S::max_added_db, "dB", -20, 20,
       "limit of the added power re the note's harmonics above the cut"},
  };
  return f;
}

void SubBassSettings::validate(int sample_rate_hz) const {
  if (!(sample_rate_hz >= 8000 && sample_rate_hz <= 192000))
    params::throw_out_of_range("subbass sample rate", sample_rate_hz, 8000, 192000, false, "Hz",
                               true);
  params::check(*this, fields(), "subbass ");
  if (low_cut_order % 2 != 0)
    throw UsageError(describe("bad subbass low_cut_order", std::to_string(low_cut_order),
                              "use an even order, 2..8"));
  if (!(search_low_hz <= low_cut_hz))
    params::throw_out_of_range("subbass search_low_hz", search_low_hz, SubBassSynth::kMinF0Hz,
                               low_cut_hz, false, "Hz");
  if (!(search_high_hz >= 1.5 * low_cut_hz && search_high_hz <= sample_rate_hz / 8.0))
    params::throw_out_of_range("subbass search_high_hz", search_high_hz, 1.5 * low_cut_hz,
                               sample_rate_hz / 8.0, false, "Hz");
}

nlohmann::json SubBassSettings::to_json() const { return params::to_json(*this, fields()); }

struct SubBassSynth::State {
  int ch;
  double rate;
  SubBassSettings set;
  double intensity;
  static constexpr size_t kN = kFftSize;
  static constexpr size_t kH = kHopFrames;
  static constexpr size_t kAcc = 4 * kHopFrames;  // synthesis ring: pending span is <= 2H + 1
  std::vector<float> window;                      // Hann, kN
  double window_sum = 0;
  std::vector<float> synth_window;  // periodic Hann of 2H, peak 1 at the frame centre
  RealFft fft{static_cast<int>(kN)};
  std::vector<float> frame;
  std::vector<std::complex<float>> spectrum;
  std::vector<double> power;
  double peak_floor = 0;  // find_f0's floor for partials: kPeakRangeDb under the strongest
  const double prominence = db_to_power(kPeakProminenceDb);  // is_peak's ratios, as powers
  const double over_median = db_to_power(kPeakOverMedianDb);
  std::vector<float> ring;   // [kN][channel]: the last kN input frames, interleaved
  std::vector<double> acc;   // [kAcc][channel]: added signal before the low-pass, by time
  std::vector<double> lp_z;  // [channel][stage][2] low-pass state
  std::vector<BiquadCoeffs> highpass, lowpass;
  size_t pos = 0;    // next write index in ring
  int64_t n_in = 0;  // input frames so far
  // Statistics.
  double energy_in = 0, energy_added = 0;
  int64_t frames_sounding = 0, frames_active = 0;
  int64_t frames_with_note = 0, frames_contradicted = 0;  // a note under the cut; its f0 too strong
  int64_t frames_dyad = 0;  // an f0 under the cut from a pair a chord could make (kDyadHarmonic)
  double f0_sum = 0;
  std::vector<Peak> peaks;
  std::vector<double> sorted;  // scratch for a peak's local median
  std::vector<int> numbers;    // harmonic numbers of the partials f0 explains
  std::vector<float> chan;     // one channel's frame, Hann-windowed

  State(int channels, int sample_rate_hz, const SubBassSettings& s, double intens)
      : ch(channels), rate(sample_rate_hz), set(s), intensity(intens) {
    window = hann_window(static_cast<int>(kN));
    for (float w : window) window_sum += w;
    synth_window.resize(2 * kH);
    for (size_t n = 0; n < 2 * kH; ++n) {
      synth_window[n] = static_cast<float>(0.5 - 0.5 * std::cos(M_PI * n / kH));
    }
    frame.resize(kN);
    spectrum.resize(kN / 2 + 1);
    power.resize(kN / 2 + 1);
    ring.assign(kN * ch, 0.0f);
    acc.assign(kAcc * ch, 0.0);
    highpass = butterworth_highpass(rate, s.low_cut_hz, s.low_cut_order);
    lowpass = butterworth_lowpass(rate, s.low_cut_hz, s.low_cut_order);
    lp_z.assign(lowpass.size() * 2 * ch, 0.0);
    chan.resize(kN);
  }

  // Complex amplitude (A/2 e^{i phi} for A cos(2 pi f (t - centre) + phi)) at freq_hz of one
  // channel's Hann-windowed frame `x` (kN frames, oldest first), phase referenced to the centre.
  cd phasor(const std::vector<float>& x, double freq_hz) const {
    // Rotating phasors in plain doubles (std::complex multiplication checks for NaNs and
    // infinities on every product): kLanes of them, each kLanes samples apart, so that the
    // recurrences run side by side; restarted from cos/sin every kRestart samples against drift.
    constexpr size_t kLanes = 4;
    constexpr size_t kRestart = 1024;
    const double w = 2.0 * M_PI * freq_hz / rate;
    const double sc = std::cos(w * kLanes), ss = -std::sin(w * kLanes);
    double sum_re[kLanes] = {}, sum_im[kLanes] = {};
    for (size_t start = 0; start < kN; start += kRestart) {
      double re[kLanes], im[kLanes];
      for (size_t l = 0; l < kLanes; ++l) {
        const double angle = -w * (static_cast<double>(start + l) - static_cast<double>(kN / 2));
        re[l] = std::cos(angle);
        im[l] = std::sin(angle);
      }
      for (size_t n = start; n < start + kRestart; n += kLanes) {
        for (size_t l = 0; l < kLanes; ++l) {
          const double v = x[n + l];
          sum_re[l] += v * re[l];
          sum_im[l] += v * im[l];
          const double t = re[l] * sc - im[l] * ss;
          im[l] = re[l] * ss + im[l] * sc;
          re[l] = t;
        }
      }
    }
    double total_re = 0, total_im = 0;
    for (size_t l = 0; l < kLanes; ++l) {
      total_re += sum_re[l];
      total_im += sum_im[l];
    }
    return cd(total_re, total_im) / window_sum;
  }

  // Whether bin k is a partial: a local maximum at least peak_floor, kPeakProminenceDb over the
  // lowest bin within kProminenceBins and kPeakOverMedianDb over the median of the 2 kMedianBins +
  // 1 bins around it. k must lie kMedianBins inside the spectrum.
  bool is_peak(int k) {
    const double p = power[k];
    if (!(p > power[k - 1] && p >= power[k + 1]) || p < peak_floor) return false;
    double low = p;
    for (int j = k - kProminenceBins; j <= k + kProminenceBins; ++j) low = std::min(low, power[j]);
    if (p < prominence * low) return false;
    sorted.assign(power.begin() + (k - kMedianBins), power.begin() + (k + kMedianBins + 1));
    return p >= over_median * median_in_place(sorted.begin(), sorted.end());
  }

  // Whether a partial lies within kHarmonicTolerance of freq_hz (anywhere in the spectrum).
  bool partial_near(double freq_hz) {
    const double bin_hz = rate / kN;
    const int lo = std::max(
        kMedianBins, static_cast<int>(std::ceil(freq_hz * (1 - kHarmonicTolerance) / bin_hz)));
    const int hi =
        std::min(static_cast<int>(power.size()) - 1 - kMedianBins,
                 static_cast<int>(std::floor(freq_hz * (1 + kHarmonicTolerance) / bin_hz)));
    for (int k = lo; k <= hi; ++k)
      if (is_peak(k)) return true;
    return false;
  }

  // Harmonic-sieve f0 of the channel mean's power spectrum; 0 when the partials do not prove one.
  // `harmonic_numbers` receives the harmonic numbers of the explained partials, ascending.
  double find_f0(std::vector<int>* harmonic_numbers) {
    const double bin_hz = rate / kN;
    const int kl = std::max(kMedianBins, static_cast<int>(std::ceil(set.search_low_hz / bin_hz)));
    const int kh = static_cast<int>(std::floor(set.search_high_hz / bin_hz));
    peaks.clear();
    double strongest = 0;
    for (int k = kl; k <= kh; ++k) strongest = std::max(strongest, power[k]);
    if (strongest <= 0) return 0;
    peak_floor = strongest * db_to_power(-kPeakRangeDb);
    for (int k = kl; k <= kh; ++k) {
      const double p = power[k];
      if (!is_peak(k)) continue;
      const double a = std::log(power[k - 1] + 1e-300), b = std::log(p),
                   c = std::log(power[k + 1] + 1e-300);
      const double den = a - 2 * b + c;
      const double delta = den < 0 ? std::clamp(0.5 * (a - c) / den, -0.5, 0.5) : 0.0;
      peaks.push_back({(k + delta) * bin_hz, power[k - 1] + p + power[k + 1]});
    }
    if (peaks.size() < 2) return 0;
    if (peaks.size() > kMaxPeaks) {
      std::nth_element(peaks.begin(), peaks.begin() + kMaxPeaks, peaks.end(),
                       [](const Peak& x, const Peak& y) { return x.energy > y.energy; });
      peaks.resize(kMaxPeaks);
    }
    double total = 0;
    for (const Peak& p : peaks) total += p.energy;
    double best = 0;
    for (const Peak& p : peaks) {
      for (int h = 1; p.freq_hz / h >= kMinF0Hz; ++h) {
        const double cand = p.freq_hz / h;
        if (cand <= best || cand > set.search_high_hz) continue;
        double explained = 0;
        int lowest = 0, distinct_high = 0;
        for (const Peak& q : peaks) {
          const long r = std::lround(q.freq_hz / cand);
          if (r >= 1 && std::fabs(q.freq_hz - r * cand) <= kHarmonicTolerance * q.freq_hz) {
            explained += q.energy;
            if (lowest == 0) lowest = static_cast<int>(r);
            if (r != lowest) distinct_high = 1;
          }
        }
        if (distinct_high && explained >= kMinExplained * total) best = cand;
      }
    }
    if (best <= 0) return 0;
    // Least-squares refinement over the partials it explains.
    double num = 0, den = 0;
    harmonic_numbers->clear();
    for (const Peak& q : peaks) {
      const long r = std::lround(q.freq_hz / best);
      if (r >= 1 && std::fabs(q.freq_hz - r * best) <= kHarmonicTolerance * q.freq_hz) {
        num += r * q.freq_hz;
        den += static_cast<double>(r) * r;
        harmonic_numbers->push_back(static_cast<int>(r));
      }
    }
    std::sort(harmonic_numbers->begin(), harmonic_numbers->end());
    harmonic_numbers->erase(std::unique(harmonic_numbers->begin(), harmonic_numbers->end()),
                            harmonic_numbers->end());
    return num / den;
  }

  // Analyses the frame centred on time `centre` (the last kN input frames) and adds its
  // synthesized fundamental to acc.
  // Not on dsp/stft.hpp: the FFT is of the channel mean, formed here in double from the
  // multichannel ring, and the silence gate reads that double mean before it is rounded to float
  // (a mono float stream into StftAnalysis would round first and could flip the gate); the same
  // ring serves the per-channel single-frequency DFTs and the dry path, and the synthesis adds
  // windowed sinusoids, not inverse FFTs.
  void analyse(int64_t centre) {
    // Channel mean, windowed.
    double mean_square = 0;
    for (size_t n = 0; n < kN; ++n) {
      const size_t r = (pos + n) % kN;
      double v = 0;
      for (int c = 0; c < ch; ++c) v += ring[r * ch + c];
      v /= ch;
      mean_square += v * v;
      frame[n] = static_cast<float>(v) * window[n];
    }
    if (mean_square / kN < kSilentMeanSquare) return;
    ++frames_sounding;
    fft.forward(frame.data(), spectrum.data());
    for (size_t k = 0; k < power.size(); ++k) power[k] = std::norm(spectrum[k]);
    const double f0 = find_f0(&numbers);
    if (f0 < kMinF0Hz || f0 >= set.low_cut_hz) return;
    // The lowest pair of consecutive explained harmonics that the high-pass leaves within
    // kMaxCompensationDb.
    const double min_gain = db_to_amplitude(-kMaxCompensationDb);
    int k = 0;
    for (size_t i = 0; i + 1 < numbers.size(); ++i) {
      const int j = numbers[i];
      if (numbers[i + 1] != j + 1 || (j + 1) * f0 > set.search_high_hz) continue;
      if (std::abs(response(highpass, rate, j * f0)) < min_gain) continue;
      k = j;
      break;
    }
    if (k == 0) return;
    // From kDyadHarmonic on, the pair alone is as likely two notes of a chord: harmonic k + 2 must
    // be a partial too (explained, or found by the same tests above the searched band).
    if (k >= kDyadHarmonic && !std::binary_search(numbers.begin(), numbers.end(), k + 2) &&
        !partial_near((k + 2) * f0)) {
      ++frames_dyad;
      return;
    }
    const cd hk = response(highpass, rate, k * f0);
    const cd hk1 = response(highpass, rate, (k + 1) * f0);
    const cd lp = response(lowpass, rate, f0);
    const double h0 = std::abs(response(highpass, rate, f0));
    const double max_excess = db_to_amplitude(kMaxExcessOverCutDb);
    const double limit = db_to_power(set.max_added_db);
    bool added = false, contradicted = false;
    ++frames_with_note;
    for (int c = 0; c < ch; ++c) {
      for (size_t n = 0; n < kN; ++n) chan[n] = window[n] * ring[((pos + n) % kN) * ch + c];
      const cd ak = 2.0 * phasor(chan, k * f0), ak1 = 2.0 * phasor(chan, (k + 1) * f0);
      const cd tk = ak / hk, tk1 = ak1 / hk1;  // before the recorder's high-pass
      const double mk = std::abs(tk), mk1 = std::abs(tk1);
      if (!(mk > 0 && mk1 > 0)) continue;
      const double p = std::clamp(std::log(mk / mk1) / std::log((k + 1.0) / k), 0.0, 2.0);
      const double amplitude = mk * std::pow(k, p);
      const double phase = k * std::arg(tk) - (k - 1) * std::arg(tk1);
      const cd target = std::polar(amplitude, phase);
      const cd present = 2.0 * phasor(chan, f0);
      if (std::abs(present) >= amplitude) continue;
      if (std::abs(present) > max_excess * h0 * amplitude) {
        contradicted = true;
        continue;
      }
      cd add = target - present;
      // Power of the note's harmonics in [low_cut, search_high] in this channel.
      double harmonics = 0;
      for (int j : numbers) {
        const double f = j * f0;
        if (f < set.low_cut_hz || f > set.search_high_hz) continue;
        const cd a = j == k ? ak : j == k + 1 ? ak1 : 2.0 * phasor(chan, f);
        harmonics += 0.5 * std::norm(a);
      }
      const double add_power = 0.5 * std::norm(add);
      if (add_power > limit * harmonics) add *= std::sqrt(limit * harmonics / add_power);
      add *= intensity / lp;
      // Overlap-add the windowed sinusoid over [centre - H, centre + H).
      // add * e^{i w (n - H)} by a rotating phasor (2 kH steps: rounding drift stays near 1e-13).
      const double w = 2.0 * M_PI * f0 / rate;
      const double sc = std::cos(w), ss = std::sin(w);
      double re = add.real() * std::cos(w * kH) + add.imag() * std::sin(w * kH);
      double im = add.imag() * std::cos(w * kH) - add.real() * std::sin(w * kH);
      for (size_t n = 0; n < 2 * kH; ++n) {
        const int64_t t = centre - static_cast<int64_t>(kH) + static_cast<int64_t>(n);
        if (t >= 0) acc[(static_cast<size_t>(t) % kAcc) * ch + c] += synth_window[n] * re;
        const double next = re * sc - im * ss;
        im = re * ss + im * sc;
        re = next;
      }
      added = true;
    }
    if (added) {
      ++frames_active;
      f0_sum += f0;
    } else if (contradicted) {
      ++frames_contradicted;
    }
  }
};

SubBassSynth::SubBassSynth(int channels, int sample_rate_hz, const SubBassSettings& settings,
                           double intensity)
    : channels_(channels) {
  settings.validate(sample_rate_hz);
  if (channels < 1) throw UsageError("subbass: channels " + std::to_string(channels) + " < 1");
  params::check_range("subbass intensity", intensity, 0.0, 1.0);
  state_ = std::make_unique<State>(channels, sample_rate_hz, settings, intensity);
}

SubBassSynth::~SubBassSynth() = default;
SubBassSynth::SubBassSynth(SubBassSynth&&) noexcept = default;
SubBassSynth& SubBassSynth::operator=(SubBassSynth&&) noexcept = default;

void SubBassSynth::process(const float* in, float* out, size_t frames) {
  State& s = *state_;
  const int ch = channels_;
  const size_t latency = latency_frames();
  const size_t stages = s.lowpass.size();
  for (size_t i = 0; i < frames; ++i) {
    for (int c = 0; c < ch; ++c) {
      const float v = in[i * ch + c];
      s.energy_in += static_cast<double>(v) * v;
      s.ring[s.pos * ch + c] = v;
    }
    s.pos = (s.pos + 1) % State::kN;
    ++s.n_in;
    const int64_t since = s.n_in - static_cast<int64_t>(State::kN / 2);
    if (since >= 0 && since % static_cast<int64_t>(State::kH) == 0 && s.intensity > 0) {
      s.analyse(since);
    }
    // Emit time n_in - 1 - latency: the dry sample is still in the ring (latency < kN).
    const size_t dry = (s.pos + State::kN - 1 - latency) % State::kN;
    const int64_t t = s.n_in - 1 - static_cast<int64_t>(latency);
    for (int c = 0; c < ch; ++c) {
      float y = s.ring[dry * ch + c];
      if (s.intensity > 0 && t >= 0) {
        double& slot = s.acc[(static_cast<size_t>(t) % State::kAcc) * ch + c];
        double v = slot;
        slot = 0;
        double* z = &s.lp_z[c * stages * 2];
        for (size_t k = 0; k < stages; ++k) v = s.lowpass[k].step(v, z + 2 * k);
        if (v != 0) {
          s.energy_added += v * v;
          y += static_cast<float>(v);
        }
      }
      out[i * ch + c] = y;
    }
  }
}

double SubBassSynth::added_energy_db() const {
  const State& s = *state_;
  if (s.energy_added <= 0) return -std::numeric_limits<double>::infinity();
  return power_to_db(s.energy_added / std::max(s.energy_in, 1e-300));
}

double SubBassSynth::active_ratio() const {
  const State& s = *state_;
  return s.frames_sounding > 0 ? static_cast<double>(s.frames_active) / s.frames_sounding : 0.0;
}

double SubBassSynth::mean_f0_hz() const {
  const State& s = *state_;
  return s.frames_active > 0 ? s.f0_sum / s.frames_active : 0.0;
}

double SubBassSynth::contradicted_ratio() const {
  const State& s = *state_;
  return s.frames_with_note > 0 ? static_cast<double>(s.frames_contradicted) / s.frames_with_note
                                : 0.0;
}

double SubBassSynth::dyad_ratio() const {
  const State& s = *state_;
  return s.frames_sounding > 0 ? static_cast<double>(s.frames_dyad) / s.frames_sounding : 0.0;
}

nlohmann::json SubBassSynth::statistics() const {
  return {{"added_energy_db", json_level(added_energy_db())},
          {"active_ratio", active_ratio()},
          {"mean_f0_hz", mean_f0_hz()},
          {"contradicted_ratio", contradicted_ratio()},
          {"dyad_ratio", dyad_ratio()}};
}

}  // namespace rz::dsp
