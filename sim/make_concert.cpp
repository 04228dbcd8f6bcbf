// rz-make-example: synthesise a seeded concert (clean stems) and a phone-in-the-crowd take of it.
//
// Everything streams in fixed-size blocks with constant memory, so an hour-long example costs the
// same RAM as a ten-second one. All randomness comes from std::mt19937_64 streams derived from
// --seed, so equal seeds give byte-identical files (for a given build and platform: libm may
// differ in the last bit elsewhere).
#include <sndfile.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <mutex>
#include <random>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#if defined(__SSE2__)
#include <pmmintrin.h>
#include <xmmintrin.h>
#endif

namespace {

constexpr char kProg[] = "rz-make-example";
constexpr double kPi = 3.14159265358979323846;
constexpr double kTwoPi = 2.0 * kPi;
constexpr int kBlockFrames = 4096;
constexpr int kStepsPerBar = 16;  // 16th-note grid
constexpr int kStepsPerLoop = 4 * kStepsPerBar;
constexpr int kCoefEvery = 32;  // samples between filter-coefficient updates of swept filters
constexpr double kClipLevel = 0.89;

// ---------------------------------------------------------------------------------------------
// Small DSP toolkit.

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// Independent streams per purpose, so e.g. --phone-only (no crowd) cannot change the music.
class Rng {
 public:
  Rng(uint64_t seed, uint64_t stream) : engine_(splitmix64(seed ^ splitmix64(stream))) {}
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  // Audio-rate white noise in [-1, 1). Uniform rather than Gaussian because it is cheap and
  // filtering makes it Gaussian anyway. Four 16-bit values per engine call: the generator was the
  // largest single cost, and the noise sources sit far below the output's 16-bit resolution.
  double noise() {
    if (spare_ == 0) bits_ = engine_(), spare_ = 4;
    const auto part = static_cast<uint16_t>(bits_ >> (16 * --spare_));
    return static_cast<double>(part) * 0x1.0p-15 - 1.0;
  }
  double range(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  int below(int n) { return std::min(n - 1, static_cast<int>(uniform() * n)); }
  bool chance(double p) { return uniform() < p; }
  // Own Box-Muller: std::normal_distribution differs between standard libraries.
  double gaussian() {
    const double u1 = 1.0 - uniform();  // (0, 1], keeps log() finite
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(kTwoPi * uniform());
  }

 private:
  std::mt19937_64 engine_;
  uint64_t bits_ = 0;
  int spare_ = 0;
};

// Per-sample coefficient of a one-pole smoother/decay with time constant tau_s.
double pole(double tau_s, double rate_hz) { return std::exp(-1.0 / (tau_s * rate_hz)); }
double midi_to_hz(double midi) { return 440.0 * std::exp2((midi - 69.0) / 12.0); }

// sin(2 pi phase) for phase in [0, 1) from a refined parabola (error < 0.1 %): bass and drum
// bodies do not need libm accuracy, and this runs several times per sample.
double fast_sin(double phase) {
  const double t = 2.0 * phase - 1.0;
  const double y = 4.0 * t * (1.0 - std::abs(t));
  return -(y + 0.225 * (y * std::abs(y) - y));
}

enum class FilterType { kLowPass, kHighPass, kBandPass };

// RBJ-cookbook biquad, transposed direct form II; set() keeps the state so it can be swept.
struct Biquad {
  double b0 = 1.0, b1 = 0.0, b2 = 0.0, a1 = 0.0, a2 = 0.0, z1 = 0.0, z2 = 0.0;

  void set(FilterType type, double freq_hz, double q, double rate_hz) {
    const double w0 = kTwoPi * std::min(freq_hz, 0.45 * rate_hz) / rate_hz;
    const double cos_w0 = std::cos(w0), alpha = std::sin(w0) / (2.0 * q), a0 = 1.0 + alpha;
    switch (type) {
      case FilterType::kLowPass:
        b0 = b2 = 0.5 * (1.0 - cos_w0) / a0;
        b1 = (1.0 - cos_w0) / a0;
        break;
      case FilterType::kHighPass:
        b0 = b2 = 0.5 * (1.0 + cos_w0) / a0;
        b1 = -(1.0 + cos_w0) / a0;
        break;
      case FilterType::kBandPass:  // 0 dB peak gain
        b0 = alpha / a0;
        b1 = 0.0;
        b2 = -alpha / a0;
        break;
    }
    a1 = -2.0 * cos_w0 / a0;
    a2 = (1.0 - alpha) / a0;
  }
  double process(double x) {
    const double y = b0 * x + z1;
    z1 = b1 * x - a1 * y + z2;
    z2 = b2 * x - a2 * y;
    return y;
  }
};

// Butterworth of even order as cascaded biquads: section k has Q = 1 / (2 cos((2k-1) pi / 2n)).
template <int kOrder>
std::array<Biquad, kOrder / 2> butterworth(FilterType type, double freq_hz, double rate_hz) {
  std::array<Biquad, kOrder / 2> sections;
  for (int k = 0; k < kOrder / 2; ++k) {
    const double q = 1.0 / (2.0 * std::cos((2 * k + 1) * kPi / (2.0 * kOrder)));
    sections[k].set(type, freq_hz, q, rate_hz);
  }
  return sections;
}

struct Pan {
  double l, r;
};
// Constant-power pan, position -1 (left) .. +1 (right).
Pan make_pan(double position) {
  const double angle = (position + 1.0) * kPi / 4.0;
  return {std::cos(angle), std::sin(angle)};
}

// Sawtooth with polyBLEP step correction: the naive saw aliases badly on high vocal notes.
struct SawOsc {
  double phase = 0.0;
  double next(double inc) {
    const double t = phase;
    phase += inc;
    if (phase >= 1.0) phase -= 1.0;
    double blep = 0.0;
    if (t < inc) {
      const double x = t / inc;
      blep = x + x - x * x - 1.0;
    } else if (t > 1.0 - inc) {
      const double x = (t - 1.0) / inc;
      blep = x * x + x + x + 1.0;
    }
    return 2.0 * t - 1.0 - blep;
  }
};

// ---------------------------------------------------------------------------------------------
// Song plan: a key, a 4-chord loop, ~120 BPM, sections, and two sung phrases.

enum class Section { kIntro, kVerse, kChorus, kBridge };

// Loop 0 is an intro, then verse verse chorus chorus bridge chorus, repeated forever.
Section section_for_loop(int64_t loop) {
  if (loop == 0) return Section::kIntro;
  constexpr Section kCycle[] = {Section::kVerse,  Section::kVerse,  Section::kChorus,
                                Section::kChorus, Section::kBridge, Section::kChorus};
  return kCycle[(loop - 1) % 6];
}

// Diatonic degree (0 = tonic, may be negative or above 6) to semitones above the tonic.
int degree_semitones(int degree) {
  constexpr int kMajor[] = {0, 2, 4, 5, 7, 9, 11};
  const int octave = degree >= 0 ? degree / 7 : -((-degree + 6) / 7);
  return 12 * octave + kMajor[degree - 7 * octave];
}

// Moves midi into [lo, lo + 12) by octaves.
int into_octave(int midi, int lo) {
  while (midi < lo) midi += 12;
  while (midi >= lo + 12) midi -= 12;
  return midi;
}

struct MelodyNote {
  int length_steps = 0;  // 0: no note starts at this step
  int degree = 0;
  int vowel = 0;
};
using Phrase = std::array<MelodyNote, kStepsPerLoop>;

// Sings over bars 0-2 and breathes in bar 3 (the phrase gap); strong beats land on chord tones.
Phrase make_phrase(Rng& rng, const std::array<int, 4>& chords, int low_degree, int high_degree) {
  constexpr int kLengths[] = {2, 2, 2, 4, 4, 4, 6, 8};
  Phrase phrase{};
  int degree = chords[0] + 7;
  for (int step = rng.chance(0.5) ? 0 : 2; step < 3 * kStepsPerBar;) {
    if (step > 0 && rng.chance(0.12)) {  // a short breath inside the phrase
      step += 2;
      continue;
    }
    const int length = std::min(kLengths[rng.below(8)], 3 * kStepsPerBar - step);
    if (step % 8 == 0) {
      const int aim = degree + rng.below(5) - 2, root = chords[step / kStepsPerBar];
      int best = degree, best_distance = 99;
      for (int tone = root - 14; tone <= root + 14; ++tone) {
        const int in_chord = ((tone - root) % 7 + 7) % 7;
        if (in_chord != 0 && in_chord != 2 && in_chord != 4) continue;  // root, third, fifth
        if (std::abs(tone - aim) < best_distance) best = tone, best_distance = std::abs(tone - aim);
      }
      degree = best;
    } else {
      constexpr int kMoves[] = {-2, -1, -1, 0, 1, 1, 2};
      degree += kMoves[rng.below(7)];
    }
    degree = std::clamp(degree, low_degree, high_degree);
    phrase[step] = {length, degree, rng.below(5)};
    step += length;
  }
  return phrase;
}

struct SongPlan {
  double bpm;
  double samples_per_step;
  int tonic_pc;  // pitch class of the key (major)
  std::array<int, 4> chords, bridge_chords;
  Phrase verse, chorus, bridge;
};

SongPlan make_plan(Rng& rng, double rate_hz) {
  constexpr int kKeys[] = {0, 2, 4, 5, 7, 9};
  constexpr std::array<int, 4> kLoops[] = {{0, 4, 5, 3}, {5, 3, 0, 4}, {0, 5, 3, 4}, {0, 3, 4, 3}};
  SongPlan plan{};
  plan.bpm = std::round(rng.range(116.0, 124.0));
  plan.samples_per_step = rate_hz * 60.0 / plan.bpm / 4.0;
  plan.tonic_pc = kKeys[rng.below(6)];
  plan.chords = kLoops[rng.below(4)];
  plan.bridge_chords = {plan.chords[2], plan.chords[3], plan.chords[0], plan.chords[1]};
  plan.verse = make_phrase(rng, plan.chords, -3, 6);
  plan.chorus = make_phrase(rng, plan.chords, 0, 8);  // the hook sits higher
  plan.bridge = make_phrase(rng, plan.bridge_chords, -1, 7);
  return plan;
}

// ---------------------------------------------------------------------------------------------
// Instruments. Each voice renders one sample per call and costs nothing once it has died away.

// Kick: sine whose pitch sweeps down fast, exponential decay, plus a short click.
struct Kick {
  double amp = 0.0, sweep = 0.0, phase = 0.0, amp_k = 0.0, sweep_k = 0.0, click_k = 0.0;
  double click = 0.0;
  void trigger(double velocity) { amp = velocity, sweep = 1.0, click = 0.3 * velocity; }
  double next(Rng& rng, double rate_hz) {
    if (amp < 1e-4) return 0.0;
    phase += (48.0 + 120.0 * sweep) / rate_hz;
    phase -= std::floor(phase);
    double y = amp * fast_sin(phase);
    if (click > 1e-4) y += click * rng.noise(), click *= click_k;
    amp *= amp_k, sweep *= sweep_k;
    return y;
  }
};

// Filtered noise burst: hi-hats, crash and the snare's rattle.
struct NoiseHit {
  Biquad filter;
  double amp = 0.0, amp_k = 0.0;
  void trigger(double velocity, double decay_s, double rate_hz) {
    amp = velocity, amp_k = pole(decay_s, rate_hz);
  }
  double next(Rng& rng) {
    if (amp < 1e-4) return 0.0;
    const double y = amp * filter.process(rng.noise());
    amp *= amp_k;
    return y;
  }
};

// Snare body: two damped partials of the shell.
struct SnareBody {
  double amp = 0.0, amp_k = 0.0, phase1 = 0.0, phase2 = 0.0;
  double next(double rate_hz) {
    if (amp < 1e-5) return 0.0;
    phase1 += 185.0 / rate_hz, phase2 += 331.0 / rate_hz;
    phase1 -= std::floor(phase1), phase2 -= std::floor(phase2);
    const double y = amp * (fast_sin(phase1) + 0.5 * fast_sin(phase2));
    amp *= amp_k;
    return y;
  }
};

// Bass: saw plus sine sub through a resonant low-pass whose cutoff follows a pluck envelope.
struct Bass {
  SawOsc saw;
  Biquad lowpass;
  double freq_hz = 55.0, sub_phase = 0.0, amp = 0.0, gate = 0.0, filter_env = 0.0;
  int64_t gate_left = 0;
  int coef_countdown = 0;
  void note_on(int midi, double velocity, int64_t length) {
    freq_hz = midi_to_hz(midi), gate = velocity, gate_left = length, filter_env = velocity;
  }
  double next(double rate_hz, double attack_k, double release_k, double filter_k) {
    if (gate_left > 0 && --gate_left == 0) gate = 0.0;
    amp = gate + (amp - gate) * (gate > amp ? attack_k : release_k);
    if (amp < 1e-5 && gate == 0.0) return 0.0;
    if (--coef_countdown <= 0) {
      lowpass.set(FilterType::kLowPass, 160.0 + 1400.0 * filter_env, 1.1, rate_hz);
      coef_countdown = kCoefEvery;
    }
    filter_env *= filter_k;
    sub_phase += freq_hz / rate_hz;
    sub_phase -= std::floor(sub_phase);
    const double src = 0.55 * saw.next(freq_hz / rate_hz) + 0.7 * fast_sin(sub_phase);
    return amp * lowpass.process(src);
  }
};

// Karplus-Strong string, tuned by an all-pass fractional delay so chords stay in tune.
class GuitarString {
 public:
  GuitarString(double rate_hz, double pan)
      : pan_(make_pan(pan)),
        rate_hz_(rate_hz),
        buffer_(static_cast<size_t>(rate_hz / 60.0) + 4, 0.0) {}
  const Pan& pan() const { return pan_; }
  void schedule(int64_t delay, double freq_hz, double velocity, double decay_s) {
    pending_ = delay, pending_hz_ = freq_hz, pending_velocity_ = velocity, decay_s_ = decay_s;
  }
  double next(Rng& rng) {
    if (pending_ >= 0 && pending_-- == 0) pluck(rng);
    if (alive_ <= 0) return 0.0;
    --alive_;
    const double x = buffer_[pos_];
    const double averaged = 0.5 * (x + last_);  // the KS loss filter, half a sample of delay
    last_ = x;
    const double y = ap_c_ * averaged + ap_x1_ - ap_c_ * ap_y1_;
    ap_x1_ = averaged, ap_y1_ = y;
    buffer_[pos_] = loss_ * y;
    if (++pos_ == length_) pos_ = 0;
    return x;
  }

 private:
  void pluck(Rng& rng) {
    const double period = rate_hz_ / pending_hz_;
    length_ = std::min(buffer_.size(), static_cast<size_t>(period - 0.6));
    const double frac = period - 0.5 - static_cast<double>(length_);
    ap_c_ = (1.0 - frac) / (1.0 + frac);
    loss_ = std::pow(10.0, -3.0 / (pending_hz_ * decay_s_));
    // Low-passed noise burst with its mean removed (a DC offset would ring for seconds).
    double state = 0.0, sum = 0.0;
    for (size_t i = 0; i < length_; ++i) {
      state += 0.3 * (rng.noise() - state);
      buffer_[i] = pending_velocity_ * state;
      sum += buffer_[i];
    }
    for (size_t i = 0; i < length_; ++i) buffer_[i] -= sum / static_cast<double>(length_);
    pos_ = 0, last_ = ap_x1_ = ap_y1_ = 0.0;
    alive_ = static_cast<int64_t>(1.2 * decay_s_ * rate_hz_);
  }

  Pan pan_;
  double rate_hz_;
  std::vector<double> buffer_;
  size_t length_ = 1, pos_ = 0;
  double last_ = 0.0, ap_c_ = 0.0, ap_x1_ = 0.0, ap_y1_ = 0.0, loss_ = 0.0;
  int64_t pending_ = -1, alive_ = 0;
  double pending_hz_ = 110.0, pending_velocity_ = 0.0, decay_s_ = 1.0;
};

// Lead vocal: glottal-like source (polyBLEP saw, spectral tilt, breath) through three formant
// band-passes that glide between vowels, with delayed vibrato and portamento.
class Vocal {
 public:
  explicit Vocal(double rate_hz)
      : rate_hz_(rate_hz),
        attack_k_(pole(0.04, rate_hz)),
        release_k_(pole(0.08, rate_hz)),
        glide_k_(pole(0.03, rate_hz / kCoefEvery)),
        vibrato_k_(pole(0.35, rate_hz / kCoefEvery)),
        formant_k_(pole(0.06, rate_hz / kCoefEvery)),
        tilt_k_(1.0 - pole(1.0 / (kTwoPi * 900.0), rate_hz)) {}

  void note_on(int midi, int64_t length, int vowel, double velocity) {
    if (amp_ < 0.02) semitones_ = midi;  // phrase start: no slide in from the previous note
    target_semitones_ = midi, gate_ = velocity, gate_left_ = length, vibrato_depth_ = 0.0;
    vowel_ = vowel, coef_countdown_ = 0;
  }
  double next(Rng& rng) {
    // Formant frequencies (Hz) of a, e, i, o, u.
    constexpr double kVowels[5][3] = {{800, 1150, 2900},
                                      {450, 1700, 2600},
                                      {330, 2000, 2900},
                                      {480, 850, 2800},
                                      {350, 700, 2600}};
    constexpr double kBandwidthHz[3] = {110, 130, 170};
    constexpr double kGain[3] = {1.0, 0.7, 0.35};
    if (gate_left_ > 0 && --gate_left_ == 0) gate_ = 0.0;
    amp_ = gate_ + (amp_ - gate_) * (gate_ > amp_ ? attack_k_ : release_k_);
    if (amp_ < 1e-5 && gate_ == 0.0) return 0.0;
    if (--coef_countdown_ <= 0) {  // pitch and formants move at a control rate, to save time
      semitones_ = target_semitones_ + (semitones_ - target_semitones_) * glide_k_;
      vibrato_depth_ = 0.3 + (vibrato_depth_ - 0.3) * vibrato_k_;  // vibrato blooms late
      vibrato_phase_ += 5.5 * kCoefEvery / rate_hz_;
      vibrato_phase_ -= std::floor(vibrato_phase_);
      const double midi = semitones_ + jitter_ + vibrato_depth_ * fast_sin(vibrato_phase_);
      phase_inc_ = midi_to_hz(midi) / rate_hz_;
      for (int f = 0; f < 3; ++f) {
        formant_hz_[f] = kVowels[vowel_][f] + (formant_hz_[f] - kVowels[vowel_][f]) * formant_k_;
        formants_[f].set(FilterType::kBandPass, formant_hz_[f], formant_hz_[f] / kBandwidthHz[f],
                         rate_hz_);
      }
      jitter_ += 0.1 * (0.05 * rng.gaussian() - jitter_);  // slow pitch wander
      coef_countdown_ = kCoefEvery;
    }
    const double pulse = glottis_.next(phase_inc_);
    tilt_ += tilt_k_ * (pulse - tilt_);
    const double source = tilt_ + 0.04 * rng.noise();
    double y = 0.15 * source;
    for (int f = 0; f < 3; ++f) y += kGain[f] * formants_[f].process(source);
    return amp_ * y;
  }

 private:
  double rate_hz_, attack_k_, release_k_, glide_k_, vibrato_k_, formant_k_, tilt_k_;
  SawOsc glottis_;
  std::array<Biquad, 3> formants_;
  std::array<double, 3> formant_hz_ = {800, 1150, 2900};
  double tilt_ = 0.0, amp_ = 0.0, gate_ = 0.0, semitones_ = 60.0, target_semitones_ = 60.0;
  double vibrato_depth_ = 0.0, vibrato_phase_ = 0.0, jitter_ = 0.0, phase_inc_ = 0.0;
  int64_t gate_left_ = 0;
  int vowel_ = 0, coef_countdown_ = 0;
};

// ---------------------------------------------------------------------------------------------
// The band: sequences the plan on a 16th-note grid and renders the four stems.

constexpr int kStrings = 5;
constexpr double kStemGain[4] = {0.13, 0.16, 0.22, 0.245};  // drums, bass, other, vocals

struct StemFrame {
  double l[4] = {0, 0, 0, 0}, r[4] = {0, 0, 0, 0};
};

class Band {
 public:
  Band(double rate_hz, uint64_t seed) : rate_hz_(rate_hz), rng_(seed, 1), vocal_(rate_hz) {
    plan_ = make_plan(rng_, rate_hz);
    kick_.amp_k = pole(0.28, rate_hz), kick_.sweep_k = pole(0.03, rate_hz);
    kick_.click_k = pole(0.001, rate_hz);
    hat_.filter.set(FilterType::kHighPass, 7500.0, 0.8, rate_hz);
    crash_.filter.set(FilterType::kHighPass, 4500.0, 0.6, rate_hz);
    snare_noise_.filter.set(FilterType::kHighPass, 1800.0, 0.7, rate_hz);
    snare_body_.amp_k = pole(0.05, rate_hz);
    for (int i = 0; i < kStrings; ++i) strings_.emplace_back(rate_hz, -0.6 + 0.3 * i);
    for (int c = 0; c < 2; ++c) pad_filter_[c].set(FilterType::kLowPass, 1600.0, 0.7, rate_hz);
    bass_k_ = {pole(0.004, rate_hz), pole(0.02, rate_hz), pole(0.12, rate_hz)};
    pad_k_ = pole(0.4, rate_hz);
  }
  const SongPlan& plan() const { return plan_; }

  void next(StemFrame* out) {
    if (frame_ == next_step_frame_) {
      on_step(step_++);
      next_step_frame_ = std::llround(static_cast<double>(step_) * plan_.samples_per_step);
    }
    ++frame_;
    // Drums.
    const double kick = kick_.next(rng_, rate_hz_);
    const double snare = snare_noise_.next(rng_) + snare_body_.next(rate_hz_);
    const double hat = hat_.next(rng_), crash = crash_.next(rng_);
    out->l[0] = kick + 0.95 * snare + 0.80 * hat + 0.93 * crash;
    out->r[0] = kick + 0.87 * snare + 0.60 * hat + 0.37 * crash;
    // Bass, centred.
    out->l[1] = out->r[1] = bass_.next(rate_hz_, bass_k_[0], bass_k_[1], bass_k_[2]);
    // Other: strummed strings spread across the stage, plus a detuned pad in left/right.
    double l = 0.0, r = 0.0;
    for (int i = 0; i < kStrings; ++i) {
      const double s = strings_[i].next(rng_);
      l += strings_[i].pan().l * s, r += strings_[i].pan().r * s;
    }
    pad_amp_ = pad_target_ + (pad_amp_ - pad_target_) * pad_k_;
    if (pad_amp_ > 1e-5) {
      double pad_l = 0.0, pad_r = 0.0;
      for (int n = 0; n < 3; ++n) {
        pad_l += pad_osc_[n][0].next(pad_hz_[n] * 0.996 / rate_hz_);
        pad_r += pad_osc_[n][1].next(pad_hz_[n] * 1.004 / rate_hz_);
      }
      l += pad_amp_ * pad_filter_[0].process(pad_l);
      r += pad_amp_ * pad_filter_[1].process(pad_r);
    }
    out->l[2] = l, out->r[2] = r;
    // Vocals, centred.
    out->l[3] = out->r[3] = vocal_.next(rng_);
    for (int s = 0; s < 4; ++s) out->l[s] *= kStemGain[s], out->r[s] *= kStemGain[s];
  }

 private:
  void on_step(int64_t step) {
    const int64_t loop = step / kStepsPerLoop;
    const int in_loop = static_cast<int>(step % kStepsPerLoop);
    const int bar = in_loop / kStepsPerBar, s = in_loop % kStepsPerBar;
    const Section section = section_for_loop(loop);
    const bool next_differs = section_for_loop(loop + 1) != section;
    const auto& chords = section == Section::kBridge ? plan_.bridge_chords : plan_.chords;
    if (in_loop == 0) variation_ = loop > 2 && rng_.chance(0.6);
    play_drums(section, in_loop == 0 && (section == Section::kChorus || loop == 1),
               bar == 3 && next_differs, s);
    play_bass(section, s, chords[bar], chords[(bar + 1) % 4]);
    play_other(section, s, chords[bar]);
    play_vocal(section, in_loop);
  }

  double humanise(double velocity) { return velocity * rng_.range(0.85, 1.05); }

  void play_drums(Section section, bool crash, bool fill, int s) {
    const bool light = section == Section::kIntro || section == Section::kBridge;
    if (crash) crash_.trigger(humanise(0.5), 1.4, rate_hz_);
    bool kick = s == 0 || (!light && s == 8) || (section == Section::kIntro && s == 8);
    if (section == Section::kChorus && s == 10) kick = true;
    if (section == Section::kVerse && (s == 6 || s == 14)) kick = rng_.chance(0.3);
    if (kick) kick_.trigger(humanise(s == 0 ? 1.0 : 0.9));
    double snare = 0.0;
    if (!light && (s == 4 || s == 12)) snare = 0.9;
    if (!light && (s == 7 || s == 15) && rng_.chance(0.15)) snare = 0.25;  // ghost notes
    if (fill && s >= 8 && (s % 2 == 0 || s >= 12)) snare = 0.35 + 0.05 * s;
    if (snare > 0.0) {
      snare = humanise(snare);
      snare_noise_.trigger(0.6 * snare, 0.13, rate_hz_);
      snare_body_.amp = 0.6 * snare;
    }
    const bool hat = light ? s % 4 == 0 : s % 2 == 0 || rng_.chance(0.08);
    if (section == Section::kChorus && s == 14) {
      hat_.trigger(humanise(0.45), 0.22, rate_hz_);  // open hat on the "and" of four
    } else if (hat && !(fill && s >= 12)) {
      hat_.trigger(humanise(s % 4 == 0 ? 0.45 : s % 2 == 0 ? 0.3 : 0.18), 0.035, rate_hz_);
    }
  }

  void play_bass(Section section, int s, int chord, int next_chord) {
    // Bit s set: a note starts on 16th s. Notes last (almost) until the next one.
    constexpr int kPattern[] = {0x0101, 0x4541, 0x5555, 0x0101};  // intro, verse, chorus, bridge
    const int pattern = kPattern[static_cast<int>(section)];
    if (!(pattern >> s & 1)) return;
    int gap = 1;
    while (s + gap < kStepsPerBar && !(pattern >> (s + gap) & 1)) ++gap;
    int degree = chord;
    if (s == 14 && rng_.chance(0.35)) degree = next_chord + (rng_.chance(0.5) ? 1 : -1);
    int midi = into_octave(plan_.tonic_pc + degree_semitones(degree), 28);
    if (section == Section::kChorus && (s == 6 || s == 14) && rng_.chance(0.5)) midi += 12;
    const auto length = static_cast<int64_t>(0.85 * gap * plan_.samples_per_step);
    bass_.note_on(midi, humanise(s % 4 == 0 ? 1.0 : 0.8), length);
  }

  void play_other(Section section, int s, int chord) {
    constexpr int kStrum[] = {0x0101, 0x5451, 0x5555, 0x0001};  // intro, verse, chorus, bridge
    constexpr double kRingS[] = {2.5, 0.7, 1.8, 4.0};           // verses are palm-muted
    const int index = static_cast<int>(section);
    if (s == 0) {  // pad follows the chord in the big sections only
      const int root = into_octave(plan_.tonic_pc + degree_semitones(chord), 55);
      for (int n = 0; n < 3; ++n) {
        pad_hz_[n] = midi_to_hz(root + degree_semitones(chord + 2 * n) - degree_semitones(chord));
      }
      pad_target_ = section == Section::kChorus || section == Section::kBridge ? 0.12 : 0.0;
    }
    if (!(kStrum[index] >> s & 1)) return;
    const bool down = s % 4 == 0;
    const double velocity = humanise(down ? 0.9 : 0.6);
    const int root = into_octave(plan_.tonic_pc + degree_semitones(chord), 40);
    const int64_t stagger = std::llround(rng_.range(0.008, 0.016) * rate_hz_);
    for (int i = 0; i < kStrings; ++i) {
      if (!down && i < 2) continue;  // up-strums catch only the top strings
      const int order = down ? i : kStrings - 1 - i;
      constexpr int kVoicing[kStrings] = {0, 4, 7, 9, 11};  // root, 5th, octave, 10th, 12th
      const int midi = root + degree_semitones(chord + kVoicing[i]) - degree_semitones(chord);
      const double detune = std::exp2(rng_.range(-4.0, 4.0) / 1200.0);
      strings_[i].schedule(order * stagger, midi_to_hz(midi) * detune, velocity, kRingS[index]);
    }
  }

  void play_vocal(Section section, int in_loop) {
    if (section == Section::kIntro) return;
    const Phrase& phrase = section == Section::kVerse    ? plan_.verse
                           : section == Section::kChorus ? plan_.chorus
                                                         : plan_.bridge;
    const MelodyNote& note = phrase[in_loop];
    if (note.length_steps == 0) return;
    int degree = note.degree;
    if (variation_ && in_loop % 8 != 0 && rng_.chance(0.3)) degree += rng_.chance(0.5) ? 1 : -1;
    const int tonic = into_octave(plan_.tonic_pc, 50);
    const auto length = static_cast<int64_t>((note.length_steps - 0.3) * plan_.samples_per_step);
    vocal_.note_on(tonic + degree_semitones(degree), length, note.vowel, humanise(1.0));
  }

  double rate_hz_;
  Rng rng_;
  SongPlan plan_;
  int64_t frame_ = 0, step_ = 0, next_step_frame_ = 0;
  bool variation_ = false;
  Kick kick_;
  NoiseHit hat_, crash_, snare_noise_;
  SnareBody snare_body_;
  Bass bass_;
  std::array<double, 3> bass_k_;
  std::vector<GuitarString> strings_;
  std::array<std::array<SawOsc, 2>, 3> pad_osc_;
  std::array<double, 3> pad_hz_ = {220, 277, 330};
  std::array<Biquad, 2> pad_filter_;
  double pad_amp_ = 0.0, pad_target_ = 0.0, pad_k_ = 0.0;
  Vocal vocal_;
};

// ---------------------------------------------------------------------------------------------
// The phone in the crowd.

// Hall: pre-delay, two all-pass diffusers, then an 8-line feedback delay network. The Householder
// feedback matrix mixes every line into every other one without loss; each line's gain is set
// from its own length so the whole tail has the same RT60, and a one-pole low-pass in each loop
// makes highs die faster, as air and seats do. 10 delay lines against a stereo Freeverb's 24.
class VenueReverb {
 public:
  VenueReverb(double rate_hz, double rt60_s, double predelay_s) {
    constexpr int kLines[kN] = {1433, 1601, 1867, 2053, 2251, 2399, 2617, 2797};  // at 48 kHz
    constexpr int kDiffusers[2] = {241, 557};
    const double scale = rate_hz / 48000.0;
    predelay_.line.assign(static_cast<size_t>(predelay_s * rate_hz) + 1, 0.0);
    for (int d = 0; d < 2; ++d)
      diffusers_[d].line.assign(static_cast<size_t>(kDiffusers[d] * scale) + 1, 0.0);
    for (int i = 0; i < kN; ++i) {
      const auto n = static_cast<size_t>(kLines[i] * scale);
      lines_[i].line.assign(n, 0.0);
      gains_[i] = std::pow(10.0, -3.0 * static_cast<double>(n) / (rate_hz * rt60_s));
    }
  }
  // Mono in (a hall smears the stage image), decorrelated stereo tail out.
  void process(double in, double* wet_l, double* wet_r) {
    double x = predelay_.read();
    predelay_.write(in);
    for (Delay& diffuser : diffusers_) {
      const double buffered = diffuser.read();
      diffuser.write(x + 0.6 * buffered);
      x = buffered - 0.6 * x;
    }
    double out[kN], sum = 0.0;
    for (int i = 0; i < kN; ++i) {
      out[i] = lines_[i].read();
      damp_[i] = out[i] + kDamp * (damp_[i] - out[i]);
      sum += gains_[i] * damp_[i];
    }
    sum *= 2.0 / kN;
    double l = 0.0, r = 0.0;
    for (int i = 0; i < kN; ++i) {
      lines_[i].write(gains_[i] * damp_[i] - sum + (i % 2 ? -x : x));
      l += i < kN / 2 ? out[i] : -out[i];  // orthogonal sign patterns: decorrelated channels
      r += i % 2 ? -out[i] : out[i];
    }
    *wet_l = l, *wet_r = r;
  }

 private:
  static constexpr int kN = 8;
  static constexpr double kDamp = 0.25;
  struct Delay {
    std::vector<double> line;
    size_t pos = 0;
    double read() const { return line[pos]; }
    void write(double x) {
      line[pos] = x;
      if (++pos == line.size()) pos = 0;
    }
  };
  Delay predelay_;
  std::array<Delay, 2> diffusers_;
  std::array<Delay, kN> lines_;
  std::array<double, kN> gains_{}, damp_{};
};

// Crowd: babble of talkers (noise through wandering formant band-passes, gated at syllable rate,
// band-limited to 200-3000 Hz, slowly swelling) plus occasional cheers with applause.
class Crowd {
 public:
  Crowd(double rate_hz, uint64_t seed)
      : rate_hz_(rate_hz),
        rng_(seed, 2),
        syllable_k_(pole(0.03, rate_hz)),
        swell_k_(pole(1.5, rate_hz)),
        cheer_k_(pole(0.4, rate_hz)),
        clap_k_(pole(0.006, rate_hz)) {
    for (Talker& t : talkers_) t.pan = make_pan(rng_.range(-0.9, 0.9));
    for (int c = 0; c < 2; ++c) {
      band_hp_[c].set(FilterType::kHighPass, 200.0, 0.707, rate_hz);
      band_lp_[c].set(FilterType::kLowPass, 3000.0, 0.707, rate_hz);
      clap_bp_[c].set(FilterType::kBandPass, 1400.0, 0.9, rate_hz);
      cheer_bp_[c].set(FilterType::kBandPass, 1100.0, 0.6, rate_hz);
    }
    next_event_ = static_cast<int64_t>(rng_.range(3.0, 12.0) * rate_hz);
  }

  void next(double* l, double* r) {
    double babble_l = 0.0, babble_r = 0.0;
    for (Talker& t : talkers_) {
      if (--t.syllable_left <= 0) {  // new syllable: new loudness (or a pause) and "vowel"
        t.target = rng_.chance(0.25) ? 0.0 : rng_.range(0.3, 1.0);
        t.formant.set(FilterType::kBandPass, 300.0 * std::pow(8.0, rng_.uniform()), 1.5, rate_hz_);
        t.syllable_left = static_cast<int64_t>(rng_.range(0.12, 0.3) * rate_hz_);
      }
      t.env = t.target + (t.env - t.target) * syllable_k_;
      const double v = t.env * t.formant.process(rng_.noise());
      babble_l += t.pan.l * v, babble_r += t.pan.r * v;
    }
    if (--swell_left_ <= 0) {  // the whole room gets louder and quieter over seconds
      swell_target_ = std::pow(10.0, rng_.range(-4.0, 3.0) / 20.0);
      swell_left_ = static_cast<int64_t>(rng_.range(2.0, 6.0) * rate_hz_);
    }
    swell_ = swell_target_ + (swell_ - swell_target_) * swell_k_;
    double out[2] = {swell_ * band_lp_[0].process(band_hp_[0].process(babble_l)),
                     swell_ * band_lp_[1].process(band_hp_[1].process(babble_r))};
    // Cheers: a few seconds of shouting and clapping every ~25 s on average.
    if (--next_event_ == 0) {
      event_left_ = static_cast<int64_t>(rng_.range(1.5, 5.0) * rate_hz_);
      next_event_ = event_left_ + static_cast<int64_t>(rng_.range(8.0, 40.0) * rate_hz_);
    }
    const double cheer_target = event_left_-- > 0 ? 1.0 : 0.0;
    cheer_ = cheer_target + (cheer_ - cheer_target) * cheer_k_;
    if (cheer_ > 1e-4) {
      for (int c = 0; c < 2; ++c) {
        if (rng_.uniform() < 40.0 * cheer_ / rate_hz_) clap_[c] = rng_.range(0.5, 1.5);
        clap_[c] *= clap_k_;
        out[c] += 3.0 * clap_bp_[c].process(clap_[c] * rng_.noise());
        out[c] += 0.5 * cheer_ * cheer_bp_[c].process(rng_.noise());
      }
    }
    *l = out[0], *r = out[1];
  }

 private:
  struct Talker {
    Biquad formant;
    Pan pan = {0.7, 0.7};
    double env = 0.0, target = 0.0;
    int64_t syllable_left = 0;
  };
  double rate_hz_;
  Rng rng_;
  double syllable_k_, swell_k_, cheer_k_, clap_k_;
  std::array<Talker, 4> talkers_;
  std::array<Biquad, 2> band_hp_, band_lp_, clap_bp_, cheer_bp_;
  double swell_ = 1.0, swell_target_ = 1.0, cheer_ = 0.0, clap_[2] = {0.0, 0.0};
  int64_t swell_left_ = 0, next_event_ = 0, event_left_ = 0;
};

// The whole degradation chain; see the stage comments in process().
class Phone {
 public:
  Phone(double rate_hz, uint64_t seed, bool phone_only)
      : phone_only_(phone_only),
        reverb_(rate_hz, 2.0, 0.03),
        crowd_(rate_hz, seed),
        power_k_(pole(0.3, rate_hz)),
        agc_down_k_(pole(0.5, rate_hz / kCoefEvery)),
        agc_up_k_(pole(4.0, rate_hz / kCoefEvery)) {
    for (int c = 0; c < 2; ++c) {
      high_pass_[c] = butterworth<4>(FilterType::kHighPass, 120.0, rate_hz);
      low_pass_[c] = butterworth<8>(FilterType::kLowPass, 11000.0, rate_hz);
    }
  }

  // Turns interleaved clean stereo into interleaved 16-bit phone samples.
  void process(const float* mix, int frames, short* out) {
    for (int i = 0; i < frames; ++i) {
      double x[2] = {mix[2 * i], mix[2 * i + 1]};
      if (!phone_only_) {
        // (1) Venue: the phone hears the PA largely through the hall.
        double wet[2];
        reverb_.process(kReverbInput * (x[0] + x[1]), &wet[0], &wet[1]);
        // (2) The crowd around the phone, ~15 dB under the music.
        double crowd[2];
        crowd_.next(&crowd[0], &crowd[1]);
        for (int c = 0; c < 2; ++c) x[c] = kDry * x[c] + wet[c] + kCrowdGain * crowd[c];
      }
      // (3) Small MEMS mic and phone codec: no deep bass, nothing above 11 kHz.
      for (int c = 0; c < 2; ++c) {
        for (Biquad& f : high_pass_[c]) x[c] = f.process(x[c]);
        for (Biquad& f : low_pass_[c]) x[c] = f.process(x[c]);
      }
      // (4) AGC: rides the gain slowly towards a loud target, cutting faster than boosting.
      const double power = 0.5 * (x[0] * x[0] + x[1] * x[1]);
      power_ = power + (power_ - power) * power_k_;
      if (--agc_countdown_ <= 0) {
        const double wanted = std::clamp(kAgcTargetRms / std::sqrt(power_ + 1e-12), 0.25, 30.0);
        gain_ = wanted + (gain_ - wanted) * (wanted < gain_ ? agc_down_k_ : agc_up_k_);
        agc_countdown_ = kCoefEvery;
      }
      for (int c = 0; c < 2; ++c) {
        // (5) Analogue stage overloaded by the PA: hard clip just under full scale.
        const double y = std::clamp(kClipDrive * gain_ * x[c], -kClipLevel, kClipLevel);
        // (6) 16-bit PCM, plain rounding as in a phone's codec.
        out[2 * i + c] = static_cast<short>(std::floor(y * 32768.0 + 0.5));
      }
    }
  }

 private:
  static constexpr double kReverbInput = 0.043, kDry = 0.6, kCrowdGain = 0.152;
  static constexpr double kAgcTargetRms = 0.18, kClipDrive = 1.5;
  bool phone_only_;
  VenueReverb reverb_;
  Crowd crowd_;
  std::array<std::array<Biquad, 2>, 2> high_pass_;
  std::array<std::array<Biquad, 4>, 2> low_pass_;
  double power_k_, agc_down_k_, agc_up_k_, power_ = 0.01, gain_ = 2.0;
  int agc_countdown_ = 0;
};

// One block of the clean stems and their sum, interleaved stereo.
using Block = std::array<std::vector<float>, 5>;  // drums, bass, other, vocals, mix

// Fades keep the file edges click-free; applying them to every stem keeps mix == sum of stems.
void render_block(Band* band, int64_t start, int frames, int64_t total_frames, double rate_hz,
                  Block* block) {
  const double fade_in = 0.02 * rate_hz;
  const double fade_out = std::min(2.0 * rate_hz, 0.25 * static_cast<double>(total_frames));
  StemFrame frame;
  for (int i = 0; i < frames; ++i) {
    band->next(&frame);
    const auto t = static_cast<double>(start + i);
    const double fade =
        std::min({1.0, t / fade_in, (static_cast<double>(total_frames) - t) / fade_out});
    float mix_l = 0.0f, mix_r = 0.0f;
    for (int s = 0; s < 4; ++s) {
      (*block)[s][2 * i] = static_cast<float>(fade * frame.l[s]);
      (*block)[s][2 * i + 1] = static_cast<float>(fade * frame.r[s]);
      mix_l += (*block)[s][2 * i], mix_r += (*block)[s][2 * i + 1];
    }
    (*block)[4][2 * i] = mix_l, (*block)[4][2 * i + 1] = mix_r;
  }
}

// Per thread: decaying filter states would otherwise crawl through slow denormals.
void enable_flush_to_zero() {
#if defined(__SSE2__)
  _MM_SET_FLUSH_ZERO_MODE(_MM_FLUSH_ZERO_ON);
  _MM_SET_DENORMALS_ZERO_MODE(_MM_DENORMALS_ZERO_ON);
#endif
}

// ---------------------------------------------------------------------------------------------
// Files and command line.

// A WAV being written; remembers its path so a failed run can delete it.
struct Output {
  std::string path;
  SNDFILE* file = nullptr;
};

bool open_wav(Output* out, int format, double rate_hz, std::string* error) {
  SF_INFO info{};
  info.samplerate = static_cast<int>(rate_hz);
  info.channels = 2;
  info.format = SF_FORMAT_WAV | format;
  out->file = sf_open(out->path.c_str(), SFM_WRITE, &info);
  if (out->file == nullptr) {
    *error = "cannot create " + out->path + ": " + sf_strerror(nullptr);
    return false;
  }
  // The float PEAK chunk carries a time stamp, which would break byte-identical reruns.
  sf_command(out->file, SFC_SET_ADD_PEAK_CHUNK, nullptr, SF_FALSE);
  return true;
}

bool close_all(std::vector<Output>* outputs, std::string* error) {
  bool ok = true;
  for (Output& out : *outputs) {
    if (out.file != nullptr && sf_close(out.file) != 0 && ok) {
      *error = "cannot finish " + out.path + ": " + sf_strerror(nullptr);
      ok = false;
    }
    out.file = nullptr;
  }
  return ok;
}

int fail(std::vector<Output>* outputs, const std::string& error) {
  std::string ignored;
  close_all(outputs, &ignored);
  for (const Output& out : *outputs) {
    std::error_code ec;  // never delete a device such as /dev/null
    if (std::filesystem::is_regular_file(out.path, ec)) std::filesystem::remove(out.path, ec);
  }
  std::fprintf(stderr, "%s: error: %s\n", kProg, error.c_str());
  return 1;
}

struct Options {
  double duration_s = 30.0;
  uint64_t seed = 1;
  int rate_hz = 48000;
  std::string clean_dir, output;
  bool phone_only = false;
};

// Two-stage pipeline: a worker thread renders (and writes) the clean side up to kQueueBlocks
// blocks ahead while the calling thread runs the phone chain, nearly halving the wall time on
// two cores. Each stage runs strictly in order, so the output does not depend on the scheduling.
// Returns "" or an error message; *bpm is the song's tempo.
std::string render_all(const Options& opt, int64_t total_frames, std::vector<Output>* outputs,
                       double* bpm) {
  constexpr int kQueueBlocks = 4;
  std::string error;
  Band band(opt.rate_hz, opt.seed);
  *bpm = band.plan().bpm;
  Phone phone(opt.rate_hz, opt.seed, opt.phone_only);
  std::array<Block, kQueueBlocks> queue;
  for (Block& block : queue) {
    for (auto& buffer : block) buffer.resize(2 * kBlockFrames);
  }
  std::vector<short> pcm(2 * kBlockFrames);
  const int64_t block_count = (total_frames + kBlockFrames - 1) / kBlockFrames;
  auto frames_in = [&](int64_t b) {
    return static_cast<int>(std::min<int64_t>(kBlockFrames, total_frames - b * kBlockFrames));
  };
  std::mutex mutex;
  std::condition_variable changed;
  int64_t produced = 0, consumed = 0;
  bool stop = false;
  std::string worker_error;
  std::thread worker([&] {
    enable_flush_to_zero();
    for (int64_t b = 0; b < block_count; ++b) {
      {
        std::unique_lock<std::mutex> lock(mutex);
        changed.wait(lock, [&] { return stop || b - consumed < kQueueBlocks; });
        if (stop) return;
      }
      Block& block = queue[b % kQueueBlocks];
      const int n = frames_in(b);
      render_block(&band, b * kBlockFrames, n, total_frames, opt.rate_hz, &block);
      std::string write_error;
      for (size_t k = 1; k < outputs->size() && write_error.empty(); ++k) {
        if (sf_writef_float((*outputs)[k].file, block[k - 1].data(), n) != n) {
          write_error =
              "cannot write " + (*outputs)[k].path + ": " + sf_strerror((*outputs)[k].file);
        }
      }
      std::lock_guard<std::mutex> lock(mutex);
      if (!write_error.empty()) worker_error = write_error, stop = true;
      produced = b + 1;
      changed.notify_all();
      if (stop) return;
    }
  });
  enable_flush_to_zero();
  for (int64_t b = 0; b < block_count && error.empty(); ++b) {
    {
      std::unique_lock<std::mutex> lock(mutex);
      changed.wait(lock, [&] { return stop || produced > b; });
      if (stop) break;
    }
    const Block& block = queue[b % kQueueBlocks];
    const int n = frames_in(b);
    phone.process(block[4].data(), n, pcm.data());
    if (sf_writef_short((*outputs)[0].file, pcm.data(), n) != n) {
      error = "cannot write " + (*outputs)[0].path + ": " + sf_strerror((*outputs)[0].file);
    }
    std::lock_guard<std::mutex> lock(mutex);
    consumed = b + 1;
    if (!error.empty()) stop = true;
    changed.notify_all();
  }
  worker.join();
  return worker_error.empty() ? error : worker_error;
}

// CLI11 2.1's own checks accept "-3" for an unsigned option and word their ranges oddly.
std::string positive_seconds(const std::string& value) {
  char* end = nullptr;
  const double seconds = std::strtod(value.c_str(), &end);
  if (!value.empty() && *end == '\0' && std::isfinite(seconds) && seconds > 0.0) return "";
  return "must be a positive number of seconds, got '" + value + "'";
}

std::string unsigned_integer(const std::string& value) {
  char* end = nullptr;
  errno = 0;
  std::strtoull(value.c_str(), &end, 10);
  if (!value.empty() && std::isdigit(static_cast<unsigned char>(value[0])) && *end == '\0' &&
      errno != ERANGE) {
    return "";
  }
  return "must be an integer from 0 to 2^64-1, got '" + value + "'";
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  CLI::App app(
      "Synthesises a concert and writes a phone-in-the-crowd recording of it "
      "(16-bit stereo WAV).",
      kProg);
  app.add_option("--duration", opt.duration_s, "Length in seconds")
      ->check(positive_seconds, "SECONDS")
      ->capture_default_str();
  app.add_option("--seed", opt.seed, "Random seed; equal seeds give identical files")
      ->check(unsigned_integer, "N")
      ->capture_default_str();
  app.add_option("--rate", opt.rate_hz, "Sample rate in Hz")
      ->check(CLI::Range(8000, 192000))
      ->capture_default_str();
  app.add_option("--clean-dir", opt.clean_dir,
                 "Also write the clean stems and their exact sum (drums, bass, other, vocals,\n"
                 "mix.wav: float WAV) and truth.json (the song's tempo, {\"bpm\": N}) into this\n"
                 "directory, created if missing");
  app.add_flag("--phone-only", opt.phone_only,
               "Degrade with the phone stages only: no venue reverb, no crowd");
  app.add_option("output", opt.output, "The phone recording to write (OUTPUT.wav)")->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return 0;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "%s: error: %s\n", kProg, e.what());
    return 2;
  }
  const int64_t total_frames = std::max<int64_t>(1, std::llround(opt.duration_s * opt.rate_hz));
  // RIFF sizes are 32-bit: the float stems are the largest files we write.
  const double largest_bytes =
      static_cast<double>(total_frames) * 2 * (opt.clean_dir.empty() ? 2 : 4);
  if (largest_bytes > 4.0e9) {
    std::fprintf(stderr, "%s: error: --duration too long for a WAV file at this rate\n", kProg);
    return 2;
  }
  std::vector<Output> outputs;
  outputs.reserve(6);
  std::string error;
  outputs.push_back({opt.output});
  if (!open_wav(&outputs.back(), SF_FORMAT_PCM_16, opt.rate_hz, &error)) {
    outputs.pop_back();  // not ours to delete
    return fail(&outputs, error);
  }
  constexpr const char* kStemNames[] = {"drums", "bass", "other", "vocals", "mix"};
  if (!opt.clean_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(opt.clean_dir, ec);
    if (ec) return fail(&outputs, "cannot create " + opt.clean_dir + ": " + ec.message());
    for (const char* name : kStemNames) {
      outputs.push_back(
          {(std::filesystem::path(opt.clean_dir) / (std::string(name) + ".wav")).string()});
      if (!open_wav(&outputs.back(), SF_FORMAT_FLOAT, opt.rate_hz, &error)) {
        outputs.pop_back();
        return fail(&outputs, error);
      }
    }
  }

  double bpm = 0;
  try {
    error = render_all(opt, total_frames, &outputs, &bpm);
  } catch (const std::exception& e) {  // no thread or memory to be had
    error = e.what();
  }
  if (!error.empty()) return fail(&outputs, error);
  if (!close_all(&outputs, &error)) return fail(&outputs, error);
  if (!opt.clean_dir.empty()) {  // the ground truth for the analysis tests: the song's tempo
    const auto path = std::filesystem::path(opt.clean_dir) / "truth.json";
    FILE* f = std::fopen(path.c_str(), "w");
    const bool ok = f && std::fprintf(f, "{\"bpm\": %g}\n", bpm) > 0;
    if (!(f && std::fclose(f) == 0 && ok)) {
      std::fprintf(stderr, "%s: error: cannot write %s\n", kProg, path.c_str());
      return 1;
    }
  }
  std::printf("%s\n", opt.output.c_str());
  return 0;
}
