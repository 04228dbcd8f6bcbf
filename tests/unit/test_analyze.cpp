// rz-analyze's analysers against ground truth synthesised here (issue 16's bars):
// - tempo and beats on click tracks and three synthetic drum kits at 60-200 BPM: tempo within
//   kTempoTolBpm, beat F-measure >= kMinBeatF at +-70 ms;
// - onsets of synthetic notes: F-measure >= kMinOnsetF at +-50 ms;
// - pitch of synthetic notes within kPitchTolCents;
// - key of chord progressions in all 24 keys, several additive timbres: >= kMinKeyAccuracy.
//
// Tuning/validation splits:
// - tempo: rhythm.cpp's measured constants (kCompression, kOctaveRatio, kMinAlternation) were
//   chosen on the "tune" cases, tempos that are multiples of 10 BPM with clicks and kits A and C
//   (kMinAlternation also on tests/cli/tempo_concert.sh's tuning seeds; kSilentShare was set
//   before measuring); the "validate" cases (tempos off that grid; kit B with its own sounds,
//   levels, a sustained pad and a noise floor) were not looked at while choosing;
// - onsets: the detection settings were chosen on the tuning cases (below);
// - key: the additive progressions here are tuning material for the choice of key profiles
//   (key.hpp); the held-out validation is fluidsynth's, in tests/cli/key_fluidsynth.sh;
// - pitch: aubio's yinfast with its defaults, compared with yinfft on these notes (notes.hpp).
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <initializer_list>
#include <random>
#include <string>
#include <vector>

#include "rz/analyze/key.hpp"
#include "rz/analyze/notes.hpp"
#include "rz/analyze/rhythm.hpp"
#include "rz/error.hpp"

using namespace rz::analyze;

namespace {

constexpr int kRate = 44100;
constexpr double kTempoTolBpm = 1.0;    // issue 16
constexpr double kMinBeatF = 0.9;       // issue 16
constexpr double kBeatWindowS = 0.07;   // the usual beat-tracking window (MIREX)
constexpr double kMinOnsetF = 0.9;      // issue 16
constexpr double kOnsetWindowS = 0.05;  // issue 16
constexpr double kPitchTolCents = 10;   // issue 16
// Share of the frames inside notes that must be voiced, and of those within kPitchTolCents: the
// raw pitch accuracy of melody extraction (MIREX), at a 10-cent tolerance instead of its 50.
constexpr double kMinShare = 0.95;
constexpr double kMinKeyAccuracy = 0.9;
// Frames this close to a note's start or end mix two states (the pitch window is 46 ms).
constexpr double kPitchGuardS = 0.06;
constexpr double kPi = 3.14159265358979323846;

// F-measure of detections against truth, each truth event matched once within `window`.
double f_measure(const std::vector<double>& det, const std::vector<double>& truth, double window) {
  if (det.empty() || truth.empty()) return 0;
  std::vector<bool> used(truth.size(), false);
  size_t hit = 0;
  for (double d : det) {
    for (size_t k = 0; k < truth.size(); ++k) {
      if (!used[k] && std::fabs(d - truth[k]) <= window) {
        used[k] = true;
        ++hit;
        break;
      }
    }
  }
  const double p = double(hit) / det.size(), r = double(hit) / truth.size();
  return hit ? 2 * p * r / (p + r) : 0;
}

void add_decay(std::vector<float>& x, double t, double dur,
               const std::function<double(double)>& f) {
  const auto s = static_cast<size_t>(t * kRate);
  for (size_t i = 0; i < static_cast<size_t>(dur * kRate) && s + i < x.size(); ++i) {
    x[s + i] += static_cast<float>(f(static_cast<double>(i) / kRate));
  }
}

enum class Material { kClicks, kKitA, kKitB, kKitC };

// 30 s at `bpm`, first beat at 0.37 s; returns the beat times.
std::vector<double> render_beats(std::vector<float>& x, double bpm, Material m, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0, 1);
  x.assign(static_cast<size_t>(30.0 * kRate), 0.f);
  const double period = 60 / bpm;
  std::vector<double> beats;
  int k = 0;
  for (double t = 0.37; t < 29.8; t += period, ++k) {
    beats.push_back(t);
    switch (m) {
      case Material::kClicks:
        add_decay(x, t, 0.05,
                  [](double u) { return 0.5 * std::exp(-u * 220) * std::sin(2 * kPi * 1500 * u); });
        break;
      case Material::kKitA:  // kick 1 and 3, snare 2 and 4, hi-hat eighths
        if (k % 2 == 0) {
          add_decay(x, t, 0.2, [](double u) {
            return 0.7 * std::exp(-u * 20) * std::sin(2 * kPi * (50 + 100 * std::exp(-u * 40)) * u);
          });
        } else {
          add_decay(x, t, 0.15, [&](double u) {
            return 0.4 * std::exp(-u * 25) * noise(rng) +
                   0.2 * std::exp(-u * 30) * std::sin(2 * kPi * 200 * u);
          });
        }
        for (int h = 0; h < 2; ++h) {
          add_decay(x, t + h * period / 2, 0.05,
                    [&](double u) { return 0.12 * std::exp(-u * 80) * noise(rng); });
        }
        break;
      case Material::kKitB:  // kick on 1 and the "and" of 2, rim on 2 and 4, shaker on eighths
        if (k % 2 == 0) {
          add_decay(x, t, 0.3, [](double u) {
            return 0.6 * std::exp(-u * 12) * std::sin(2 * kPi * (42 + 60 * std::exp(-u * 30)) * u);
          });
        } else {
          add_decay(x, t, 0.08, [&](double u) {
            return 0.3 * std::exp(-u * 60) * (std::sin(2 * kPi * 820 * u) + 0.5 * noise(rng));
          });
          add_decay(x, t + period / 2, 0.2, [](double u) {
            return 0.35 * std::exp(-u * 15) * std::sin(2 * kPi * (45 + 50 * std::exp(-u * 30)) * u);
          });
        }
        for (int h = 0; h < 2; ++h) {
          add_decay(x, t + h * period / 2, 0.04,
                    [&](double u) { return (h ? 0.05 : 0.08) * std::exp(-u * 120) * noise(rng); });
        }
        break;
      case Material::kKitC:  // kick on 1, the "and" of 3 and of 4, snare on 2 and 4, soft hi-hats
        if (k % 4 == 0 || k % 4 >= 2) {
          add_decay(x, t + (k % 4 == 0 ? 0 : period / 2), 0.25, [](double u) {
            return 0.65 * std::exp(-u * 16) * std::sin(2 * kPi * (55 + 80 * std::exp(-u * 35)) * u);
          });
        }
        if (k % 2 == 1) {
          add_decay(x, t, 0.12, [&](double u) {
            return 0.35 * std::exp(-u * 30) * noise(rng) +
                   0.15 * std::exp(-u * 35) * std::sin(2 * kPi * 180 * u);
          });
        }
        for (int h = 0; h < 2; ++h) {
          add_decay(x, t + h * period / 2, 0.03,
                    [&](double u) { return 0.07 * std::exp(-u * 150) * noise(rng); });
        }
        break;
    }
  }
  if (m == Material::kKitB) {  // a sustained A minor pad and a noise floor at about -60 dBFS
    for (size_t i = 0; i < x.size(); ++i) {
      const double u = static_cast<double>(i) / kRate;
      x[i] +=
          static_cast<float>(0.03 * (std::sin(2 * kPi * 220 * u) + std::sin(2 * kPi * 261.63 * u) +
                                     std::sin(2 * kPi * 329.63 * u)) +
                             0.001 * noise(rng));
    }
  }
  return beats;
}

// Whether the tempo is within kTempoTolBpm and the beats reach kMinBeatF (logged when not).
bool run_tempo(double bpm, Material m) {
  std::vector<float> x;
  const auto truth = render_beats(x, bpm, m, static_cast<unsigned>(bpm * 10));
  OnsetEnvelope env(kRate);
  env.push(x.data(), x.size());
  env.finish();
  const auto t = track_tempo(env, {});
  const double f = f_measure(t.beats_s, truth, kBeatWindowS);
  const bool pass = std::fabs(t.bpm - bpm) <= kTempoTolBpm && f >= kMinBeatF;
  CHECK(t.confidence >= 0);
  CHECK(t.confidence <= 1);
  if (!pass) {
    UNSCOPED_INFO("bpm " << bpm << " material " << int(m) << ": estimated " << t.bpm << ", beat F "
                         << f << ", confidence " << t.confidence << ", alternation "
                         << t.alternation);
  }
  return pass;
}

// Harmonic notes: random pitch (MIDI 40..84), length, level; 30 % legato (no gap).
struct Notes {
  std::vector<float> x;
  std::vector<double> start, end, f0;
};

Notes render_notes(unsigned seed, double seconds) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  Notes n;
  n.x.assign(static_cast<size_t>(seconds * kRate), 0.f);
  double t = 0.3;
  while (t < seconds - 1) {
    const double len = 0.15 + 0.5 * u(rng);
    const double f = 440 * std::pow(2, (40 + 44 * u(rng) - 69) / 12);
    const double amp = 0.1 + 0.3 * u(rng);
    const int harmonics = 1 + static_cast<int>(7 * u(rng));
    const bool legato = u(rng) < 0.3;
    n.start.push_back(t);
    n.end.push_back(t + len);
    n.f0.push_back(f);
    add_decay(n.x, t, len, [&](double s) {
      const double env =
          std::min(1.0, s / 0.005) * std::exp(-s * 2) * std::min(1.0, (len - s) / 0.01);
      double v = 0;
      for (int h = 1; h <= harmonics; ++h) {
        if (h * f < kRate / 2.0) v += std::sin(2 * kPi * h * f * s) / h;
      }
      return amp * env * v * 0.5;
    });
    t += len + (legato ? 0 : 0.05 + 0.2 * u(rng));
  }
  return n;
}

// A I-IV-V-I (major) or i-iv-V-i (minor, harmonic minor's major V) progression in close
// position with the root doubled an octave down, 1 s per chord, twice; `timbre` picks the
// partials.
std::vector<float> render_progression(int tonic, bool minor, int timbre) {
  const int third = minor ? 3 : 4;
  const std::vector<std::vector<int>> chords = {
      {0, third, 7}, {5, 5 + (minor ? 3 : 4), 12}, {7, 11, 14}, {0, third, 7}};
  std::vector<float> x(static_cast<size_t>(8.5 * kRate), 0.f);
  for (int rep = 0; rep < 2; ++rep) {
    for (size_t c = 0; c < chords.size(); ++c) {
      const double t = 0.1 + rep * 4.0 + static_cast<double>(c);
      std::vector<int> notes = chords[c];
      notes.push_back(chords[c][0] - 12);
      for (int iv : notes) {
        const double f = 440 * std::pow(2, (60 + tonic + iv - 69) / 12.0);
        add_decay(x, t, 0.95, [&](double s) {
          const double env = std::min(1.0, s / 0.01) * (timbre == 2 ? std::exp(-s * 3) : 1.0) *
                             std::min(1.0, (0.95 - s) / 0.02);
          double v = 0;
          for (int h = 1; h <= 12; ++h) {
            double a = 0;
            switch (timbre) {
              case 0:
                a = 1.0 / h;
                break;  // sawtooth-like
              case 1:
                a = h % 2 ? 1.0 / h : 0;
                break;  // clarinet-like (odd)
              case 2:
                a = std::exp(-0.5 * (h - 1));
                break;  // plucked, dark
              case 3:
                a = (h == 1 || h == 2 || h == 4 || h == 8) ? 1.0 / std::sqrt(h) : 0;
                break;  // organ
            }
            if (a > 0 && h * f < kRate / 2.0) v += a * std::sin(2 * kPi * h * f * s);
          }
          return 0.05 * env * v;
        });
      }
    }
  }
  return x;
}

}  // namespace

TEST_CASE("tempo and beats: tuning tempos (multiples of 10 BPM, clicks, kits A and C)",
          "[analyze]") {
  for (int bpm = 60; bpm <= 200; bpm += 10) {
    for (auto m : {Material::kClicks, Material::kKitA, Material::kKitC}) CHECK(run_tempo(bpm, m));
  }
}

// Every case passes (measured 2026-12-06: 56 of 56). Kit C's pattern was tuning material; its
// tempos here were not. Before the metrical level's bar-of-four term and silent-region guard
// (rhythm.cpp, alternation()), kit B at 198.5 BPM read half the tempo, and kit C at 70 and 80
// (tuning tempos) twice it.
TEST_CASE("tempo and beats: validation (off-grid tempos, kit B with a pad and noise, kit C)",
          "[analyze]") {
  for (double bpm : {61.5, 67.0, 73.0, 84.0, 96.5, 103.0, 117.0, 128.0, 139.0, 152.0, 166.0, 174.0,
                     187.0, 198.5}) {
    for (auto m : {Material::kClicks, Material::kKitA, Material::kKitB, Material::kKitC}) {
      CHECK(run_tempo(bpm, m));
    }
  }
}

TEST_CASE("tempo: silence and too little audio give no beats", "[analyze]") {
  OnsetEnvelope env(kRate);
  std::vector<float> x(static_cast<size_t>(5 * kRate), 0.f);
  env.push(x.data(), x.size());
  env.finish();
  const auto t = track_tempo(env, {});
  CHECK(t.bpm == 0);
  CHECK(t.beats_s.empty());
  CHECK_THROWS_AS(track_tempo(env, {150, 100}), rz::UsageError);
}

// Onset settings (notes.hpp: aubio's "mkl" without adaptive whitening and log compression):
// chosen on the tuning cases below alone, by a sweep over aubio's methods, whitening, compression
// and threshold. With aubio's defaults for "mkl" the notes read 1.0 and the plucked strings
// 0.73-0.74 (the beating of their ringing partials taken for onsets); without whitening, the notes
// 0.965-1.0 and the strings 0.975-0.98. The validation cases were measured after the choice.
void check_onsets(const std::vector<float>& x, const std::vector<double>& truth,
                  const std::string& what, double min_f = kMinOnsetF) {
  OnsetDetector d(kRate);
  d.push(x.data(), x.size());
  const auto on = d.finish();
  const double f = f_measure(on, truth, kOnsetWindowS);
  INFO(what << ": " << on.size() << " onsets for " << truth.size() << " notes, F " << f);
  CHECK(f >= min_f);
}

// 30 s of plucked strings, ringing into each other (2 s decays, stretched partials), a note every
// 0.12-0.62 s; returns the onsets.
std::vector<double> render_plucked(std::vector<float>& x, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  x.assign(static_cast<size_t>(30 * kRate), 0.f);
  std::vector<double> on;
  for (double t = 0.4; t < 29; t += 0.12 + 0.5 * u(rng)) {
    on.push_back(t);
    const double f = 440 * std::pow(2, (36 + 40 * u(rng) - 69) / 12), amp = 0.05 + 0.3 * u(rng);
    add_decay(x, t, 2.0, [&](double s) {
      double v = 0;
      for (int h = 1; h <= 10; ++h) {
        const double fh = h * f * std::sqrt(1 + 0.0004 * h * h);  // a string's stretched partials
        if (fh < kRate / 2.0) v += std::sin(2 * kPi * fh * s) * std::exp(-s * (1.5 + h)) / h;
      }
      return amp * std::min(1.0, s / 0.002) * v;
    });
  }
  return on;
}

// 30 s of noise hits of varied colour, level and decay, one every 0.1-0.5 s; returns the onsets.
std::vector<double> render_hits(std::vector<float>& x, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::normal_distribution<double> noise(0, 1);
  x.assign(static_cast<size_t>(30 * kRate), 0.f);
  std::vector<double> on;
  for (double t = 0.3; t < 29; t += 0.1 + 0.4 * u(rng)) {
    on.push_back(t);
    const double amp = 0.05 + 0.4 * u(rng), decay = 10 + 60 * u(rng);
    double lp = 0;
    const double a = u(rng);
    add_decay(x, t, 0.3, [&](double s) {
      lp = a * lp + (1 - a) * noise(rng);
      return amp * std::exp(-s * decay) * lp;
    });
  }
  return on;
}

// 30 s of sustained major and minor triads with the octave (equal temperament, 1-8 harmonics),
// 0.3-1.2 s each, 40 % legato; returns the chord onsets.
std::vector<double> render_triads(std::vector<float>& x, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  x.assign(static_cast<size_t>(30 * kRate), 0.f);
  std::vector<double> on;
  for (double t = 0.3; t < 28.5;) {
    const double len = 0.3 + 0.9 * u(rng);
    const bool legato = u(rng) < 0.4;
    const bool minor = on.size() % 2 == 1;
    on.push_back(t);
    const int root = 45 + static_cast<int>(24 * u(rng));
    const int notes = u(rng) < 0.5 ? 3 : 4;
    const double amp = 0.05 + 0.15 * u(rng), decay = 3 * u(rng);
    const int harmonics = 1 + static_cast<int>(8 * u(rng));
    for (int k = 0; k < notes; ++k) {
      const int interval[4] = {0, minor ? 3 : 4, 7, 12};
      const double f = 440 * std::pow(2, (root + interval[k] - 69) / 12.0);
      add_decay(x, t, len, [&](double s) {
        double v = 0;
        for (int h = 1; h <= harmonics; ++h) {
          if (h * f < kRate / 2.0) v += std::sin(2 * kPi * h * f * s) / h;
        }
        return amp * std::min(1.0, s / 0.01) * std::exp(-s * decay) *
               std::min(1.0, (len - s) / 0.01) * v;
      });
    }
    t += len + (legato ? 0 : 0.05 + 0.3 * u(rng));
  }
  return on;
}

// Sustained triads fall short of the bar (their partials beat: equal temperament's thirds and
// fifths are not pure), mostly with extra onsets: seeds 1-6 measured F 0.75-1.0 (mean 0.88) with
// the settings chosen, 0.71-0.93 (mean 0.81) with aubio's defaults for "mkl". Asserted at what
// holds, so that it cannot get worse unnoticed; issue 16's bar (synthetic notes) is the one above.
constexpr double kTriadsFloorF = 0.7;

// check_onsets() on each seed's rendering; `render` fills x and returns the onsets.
void check_seeds(const std::string& what, std::initializer_list<unsigned> seeds,
                 const std::function<std::vector<double>(std::vector<float>&, unsigned)>& render,
                 double min_f = kMinOnsetF) {
  std::vector<float> x;
  for (unsigned seed : seeds) {
    const auto on = render(x, seed);
    check_onsets(x, on, what + ", seed " + std::to_string(seed), min_f);
  }
}

std::vector<double> render_notes_into(std::vector<float>& x, unsigned seed) {
  auto n = render_notes(seed, 30);
  x = std::move(n.x);
  return n.start;
}

TEST_CASE("onsets: tuning (synthetic notes, plucked strings, noise hits)", "[analyze]") {
  check_seeds("notes", {1u, 2u, 3u, 11u, 12u, 13u, 14u, 15u}, render_notes_into);
  check_seeds("plucked", {31u, 41u}, render_plucked);
  check_seeds("hits", {7u}, render_hits);
}

TEST_CASE("onsets: validation (other seeds, sustained triads)", "[analyze]") {
  check_seeds("notes", {21u, 22u, 23u, 24u, 25u, 26u}, render_notes_into);
  check_seeds("plucked", {51u, 52u}, render_plucked);
  check_seeds("hits", {51u, 52u}, render_hits);
  check_seeds("triads", {1u, 2u}, render_triads, kTriadsFloorF);
}

TEST_CASE("pitch track of synthetic notes", "[analyze]") {
  for (unsigned seed : {4u, 5u}) {
    const auto n = render_notes(seed, 30);
    PitchTracker p(kRate);
    p.push(n.x.data(), n.x.size());
    const auto t = p.finish();
    size_t inside = 0, voiced = 0, within = 0;
    std::vector<double> errors;
    for (size_t i = 0; i < t.f0_hz.size(); ++i) {
      const double at = t.first_s + static_cast<double>(i) * t.hop_s;
      for (size_t k = 0; k < n.start.size(); ++k) {
        if (at < n.start[k] + kPitchGuardS || at > n.end[k] - kPitchGuardS) continue;
        ++inside;
        if (t.f0_hz[i] > 0) {
          ++voiced;
          const double cents = std::fabs(1200 * std::log2(t.f0_hz[i] / n.f0[k]));
          errors.push_back(cents);
          if (cents <= kPitchTolCents) ++within;
        }
      }
    }
    std::sort(errors.begin(), errors.end());
    INFO("seed " << seed << ": " << voiced << " of " << inside << " frames voiced, " << within
                 << " within " << kPitchTolCents << " cents; median "
                 << (errors.empty() ? 0 : errors[errors.size() / 2]) << " cents");
    CHECK(inside > 1000);
    CHECK(voiced >= kMinShare * inside);
    CHECK(within >= kMinShare * voiced);
  }
}

TEST_CASE("note names and the Camelot wheel", "[analyze]") {
  CHECK(note_name(440) == "A4");
  CHECK(note_name(261.63) == "C4");
  CHECK(note_name(0).empty());
  CHECK(camelot(0, false) == "8B");   // C major
  CHECK(camelot(9, true) == "8A");    // A minor
  CHECK(camelot(7, false) == "9B");   // G major
  CHECK(camelot(4, true) == "9A");    // E minor
  CHECK(camelot(11, false) == "1B");  // B major
  CHECK(camelot(8, true) == "1A");    // G# minor
  CHECK(camelot(5, false) == "7B");   // F major
  CHECK(camelot(2, true) == "7A");    // D minor
  CHECK(camelot(3, false) == "5B");   // Eb major
  CHECK(camelot(0, true) == "5A");    // C minor
  CHECK(key_name(10, true) == "Bb minor");
  CHECK(key_name(1, false) == "Db major");
}

TEST_CASE("key of chord progressions in all 24 keys, four timbres", "[analyze]") {
  int right = 0, relative = 0, fifth = 0, other = 0, total = 0;
  for (int timbre = 0; timbre < 4; ++timbre) {
    for (int minor = 0; minor < 2; ++minor) {
      for (int tonic = 0; tonic < 12; ++tonic) {
        const auto x = render_progression(tonic, minor != 0, timbre);
        KeyDetector d(kRate);
        d.push(x.data(), x.size());
        const auto k = d.finish();
        ++total;
        if (k.tonic == tonic && k.minor == (minor != 0)) {
          ++right;
        } else if (k.minor != (minor != 0) &&
                   k.tonic == (minor ? (tonic + 3) % 12 : (tonic + 9) % 12)) {
          ++relative;
        } else if (k.minor == (minor != 0) &&
                   (k.tonic == (tonic + 7) % 12 || k.tonic == (tonic + 5) % 12)) {
          ++fifth;
        } else {
          ++other;
          UNSCOPED_INFO("timbre " << timbre << ": " << key_name(tonic, minor) << " read as "
                                  << k.name());
        }
      }
    }
  }
  INFO(right << " of " << total << " right; relative " << relative << ", fifth " << fifth
             << ", other " << other);
  CHECK(right >= kMinKeyAccuracy * total);
}
