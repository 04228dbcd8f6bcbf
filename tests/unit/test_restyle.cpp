// rz-restyle's mechanics on synthetic material (rz/restyle/restyle.hpp): a stem of harmonic notes
// with known onsets and pitches, a style of tones at known distinct pitches separated by silence.
// Checked: the grain library, onsets found, the nearest-pitch grain chosen, no clicks at the
// seams, the level (and a stereo stem's panning) kept, silence kept, determinism for a seed,
// --no-pitch-map and --no-envelope.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <set>
#include <vector>

#include "rz/restyle/restyle.hpp"

using namespace rz::restyle;

namespace {

constexpr int kRate = 44100;
constexpr double kPi = 3.14159265358979323846;
// Onsets: aubio reports a sharp attack within a hop or two of its start (5.8 ms), and segment
// boundaries sit on the 2.5 ms envelope grid.
constexpr double kOnsetToleranceS = 0.02;
// Pitch of a steady harmonic tone: rz-analyze's pitch track is within 10 cents on such notes
// (README, issue 16).
constexpr double kPitchToleranceCents = 10.0;
// Level: the gain curve is matched per segment on the hop grid; the seams' crossfades (5 ms of a
// segment of 0.5 s, two uncorrelated sounds) and the linear interpolation of the gains between
// hop centres move the measured RMS a little (measured: at most 0.015 dB).
constexpr double kLevelToleranceDb = 0.1;
// Clicks: the largest second difference (a high-pass that a step or a kink sets off) within a
// seam's crossfade is at most this much over the largest one anywhere away from the seams. A cut
// without a crossfade (the control below) reads 3 to 30 times over.
constexpr double kClickMargin = 1.25;

// The style's tones (Hz), 0.36 s each (three grains of 120 ms), 0.2 s of silence between them.
const std::vector<double> kStylePitches = {220.0, 277.18, 329.63, 392.0, 440.0, 523.25};
constexpr double kStyleToneS = 0.36, kStyleGapS = 0.2, kStyleLeadS = 0.1;

struct Note {
  double start_s, length_s, pitch_hz, amplitude;
};
// Near the style's pitches but on none: each has one nearest tone, 20 to 90 cents away. The
// third runs into the fourth (legato).
const std::vector<Note> kNotes = {{0.30, 0.40, 225.0, 0.30}, {0.80, 0.40, 335.0, 0.20},
                                  {1.30, 0.55, 445.0, 0.35}, {1.85, 0.40, 290.0, 0.25},
                                  {2.35, 0.40, 230.0, 0.30}, {2.85, 0.45, 515.0, 0.20},
                                  {3.40, 0.40, 400.0, 0.30}};
constexpr double kStemS = 4.0;

double cents(double a, double b) { return std::fabs(1200.0 * std::log2(a / b)); }

// Harmonic notes (4 harmonics, 1/h) with a 5 ms attack, an exponential decay at `decay_per_s`
// and a 10 ms release; channel c scaled by pan[c].
std::vector<float> render_stem(const std::vector<double>& pan, double decay_per_s = 3.0) {
  const size_t ch = pan.size();
  std::vector<float> x(static_cast<size_t>(kStemS * kRate) * ch, 0.f);
  for (const Note& n : kNotes) {
    const auto s0 = static_cast<int64_t>(n.start_s * kRate);
    const auto len = static_cast<int64_t>(n.length_s * kRate);
    for (int64_t i = 0; i < len; ++i) {
      const double t = static_cast<double>(i) / kRate;
      const double env = std::min(1.0, t / 0.005) * std::exp(-decay_per_s * t) *
                         std::min(1.0, (n.length_s - t) / 0.01);
      double v = 0;
      for (int h = 1; h <= 4; ++h) v += std::sin(2 * kPi * h * n.pitch_hz * t) / h;
      for (size_t c = 0; c < ch; ++c)
        x[static_cast<size_t>(s0 + i) * ch + c] +=
            static_cast<float>(pan[c] * n.amplitude * env * v * 0.6);
    }
  }
  return x;
}

// Steady tones of another timbre (3 harmonics, 1/h^2) with 5 ms fades, mono.
std::vector<float> render_style() {
  const double total = kStyleLeadS + kStylePitches.size() * (kStyleToneS + kStyleGapS);
  std::vector<float> x(static_cast<size_t>(total * kRate), 0.f);
  for (size_t k = 0; k < kStylePitches.size(); ++k) {
    const auto s0 = static_cast<int64_t>(
        (kStyleLeadS + static_cast<double>(k) * (kStyleToneS + kStyleGapS)) * kRate);
    const auto len = static_cast<int64_t>(kStyleToneS * kRate);
    for (int64_t i = 0; i < len; ++i) {
      const double t = static_cast<double>(i) / kRate;
      const double env = std::min({1.0, t / 0.005, (kStyleToneS - t) / 0.005});
      double v = 0;
      for (int h = 1; h <= 3; ++h) v += std::sin(2 * kPi * h * kStylePitches[k] * t) / (h * h);
      x[static_cast<size_t>(s0 + i)] = static_cast<float>(0.3 * env * v);
    }
  }
  return x;
}

const GrainLibrary& style_library() {
  static const GrainLibrary lib = build_grain_library(render_style(), kRate, 120.0);
  return lib;
}

double nearest_style_pitch(double hz) {
  double best = kStylePitches.front();
  for (double p : kStylePitches)
    if (cents(p, hz) < cents(best, hz)) best = p;
  return best;
}

// RMS in dB of channel c of interleaved x over frames [b, e).
double rms_db(const std::vector<float>& x, size_t ch, size_t c, int64_t b, int64_t e) {
  double s = 0;
  for (int64_t i = b; i < e; ++i) {
    const double v = x[static_cast<size_t>(i) * ch + c];
    s += v * v;
  }
  return 10 * std::log10(s / static_cast<double>(e - b) + 1e-30);
}

int64_t begin_frame(const StemPlan& p, const Segment& s) { return s.begin_hop * p.hop_frames; }
int64_t end_frame(const StemPlan& p, const Segment& s) {
  return std::min(p.frames, s.end_hop * p.hop_frames);
}

// Largest |second difference| of channel c over frames [b, e).
double max_d2(const std::vector<float>& x, size_t ch, size_t c, int64_t b, int64_t e) {
  double m = 0;
  for (int64_t i = std::max<int64_t>(b, 2); i < e; ++i) {
    const double d = x[static_cast<size_t>(i) * ch + c] -
                     2.0 * x[static_cast<size_t>(i - 1) * ch + c] +
                     x[static_cast<size_t>(i - 2) * ch + c];
    m = std::max(m, std::fabs(d));
  }
  return m;
}

// The largest second difference within a crossfade's reach of the frames `seams` over the
// largest one away from them (channel 0 of mono y).
double seam_ratio(const std::vector<float>& y, const std::vector<int64_t>& seams) {
  const auto frames = static_cast<int64_t>(y.size());
  const int64_t half = static_cast<int64_t>(kSeamS * kRate / 2) + 2;
  std::vector<char> near(y.size(), 0);
  double at_seams = 0;
  for (int64_t at : seams) {
    const int64_t b = std::max<int64_t>(0, at - half), e = std::min(frames, at + half);
    std::fill(near.begin() + b, near.begin() + e, 1);
    at_seams = std::max(at_seams, max_d2(y, 1, 0, b, e));
  }
  double away = 0;
  for (int64_t i = 2; i < frames; ++i)
    if (!near[static_cast<size_t>(i)]) away = std::max(away, max_d2(y, 1, 0, i, i + 1));
  return at_seams / away;
}

}  // namespace

TEST_CASE("restyle: the style is split on silence into grains with their pitch",
          "[unit][restyle]") {
  const GrainLibrary& lib = style_library();
  CHECK(lib.regions == static_cast<int>(kStylePitches.size()));
  // 0.36 s per tone: three grains of 120 ms (a remainder under half a grain joins the last).
  REQUIRE(lib.grains.size() == 3 * kStylePitches.size());
  for (size_t i = 0; i < lib.grains.size(); ++i) {
    const Grain& g = lib.grains[i];
    INFO("grain " << i << " at " << g.start / double(kRate) << " s, " << g.pitch_hz << " Hz");
    CHECK(g.frames >= static_cast<int64_t>(0.12 * kRate));
    CHECK(g.frames < static_cast<int64_t>(0.18 * kRate));
    REQUIRE(g.pitch_hz > 0);
    CHECK(cents(g.pitch_hz, kStylePitches[i / 3]) < kPitchToleranceCents);
    CHECK(g.level_dbfs > -20);
  }
  // Silence and too little sound make no grain.
  CHECK(build_grain_library(std::vector<float>(kRate, 0.f), kRate, 120).grains.empty());
  std::vector<float> blip(kRate, 0.f);
  for (int i = 0; i < kRate / 200; ++i) blip[static_cast<size_t>(kRate / 2 + i)] = 0.5f;  // 5 ms
  CHECK(build_grain_library(blip, kRate, 120).grains.empty());
}

TEST_CASE("restyle: onsets found and each note takes a grain of the nearest pitch",
          "[unit][restyle]") {
  const auto x = render_stem({1.0});
  const Restyled r = restyle_audio(x, 1, kRate, style_library(), Options{}, "vocals");
  const StemPlan& p = r.plan;
  REQUIRE(r.audio.size() == x.size());
  std::vector<const Segment*> onsets;
  for (const auto& s : p.segments)
    if (s.onset) onsets.push_back(&s);
  REQUIRE(onsets.size() == kNotes.size());
  for (size_t i = 0; i < kNotes.size(); ++i) {
    const Segment& s = *onsets[i];
    const double onset_s = static_cast<double>(begin_frame(p, s)) / kRate;
    INFO("note " << i << ": onset " << onset_s << " s, pitch " << s.pitch_hz << " Hz");
    CHECK(std::fabs(onset_s - kNotes[i].start_s) <= kOnsetToleranceS);
    REQUIRE(s.pitch_hz > 0);
    CHECK(cents(s.pitch_hz, kNotes[i].pitch_hz) < kPitchToleranceCents);
    REQUIRE(s.grain >= 0);
    const double grain_hz = style_library().grains[static_cast<size_t>(s.grain)].pitch_hz;
    CHECK(cents(grain_hz, nearest_style_pitch(kNotes[i].pitch_hz)) < kPitchToleranceCents);
  }
  // The silent stretch before the first note is a segment of its own and stays digital silence
  // up to the first seam's crossfade.
  REQUIRE(!p.segments.front().onset);
  CHECK(p.segments.front().grain == -1);
  const int64_t quiet_until = begin_frame(p, *onsets.front()) - p.hop_frames;
  CHECK(std::all_of(r.audio.begin(), r.audio.begin() + quiet_until,
                    [](float v) { return v == 0.f; }));
  // The record: one entry per segment, the lead-in marked, choices and gains as planned.
  const auto j = p.to_json();
  CHECK(j.at("onsets") == kNotes.size());
  CHECK(j.at("segments").size() == p.segments.size());
  CHECK(j.at("segments")[0].at("lead_in") == true);
  CHECK(j.at("segments")[0].at("grain").is_null());
  CHECK(j.at("segments")[1].at("grain") == onsets[0]->grain);
}

TEST_CASE("restyle: no clicks at the seams", "[unit][restyle]") {
  const auto x = render_stem({1.0});
  // Without the envelope each grain plays at its segment's level up to the seam: the seams
  // crossfade between two sounding grains there.
  std::vector<float> out;
  for (bool envelope : {true, false}) {
    Options o;
    o.envelope = envelope;
    const Restyled r = restyle_audio(x, 1, kRate, style_library(), o, "vocals");
    std::vector<int64_t> seams;
    for (size_t k = 1; k < r.plan.segments.size(); ++k)
      seams.push_back(begin_frame(r.plan, r.plan.segments[k]));
    const double ratio = seam_ratio(r.audio, seams);
    INFO("envelope " << envelope << ": largest second difference at the seams over that away "
                     << "from them: " << ratio);
    CHECK(ratio <= kClickMargin);
    if (envelope) out = r.audio;
  }
  // Control: the output with its polarity flipped from the middle of each note on (a cut without
  // a crossfade where the sound is loud) is caught.
  std::vector<float> cut = out;
  std::vector<int64_t> cuts;
  for (const Note& n : kNotes)
    cuts.push_back(static_cast<int64_t>((n.start_s + n.length_s / 2) * kRate));
  for (size_t k = 0; k < cuts.size(); k += 2) {
    const int64_t end = k + 1 < cuts.size() ? cuts[k + 1] : static_cast<int64_t>(cut.size());
    for (int64_t i = cuts[k]; i < end; ++i)
      cut[static_cast<size_t>(i)] = -cut[static_cast<size_t>(i)];
  }
  CHECK(seam_ratio(cut, cuts) > 2 * kClickMargin);
}

TEST_CASE("restyle: each segment keeps its level on each channel, so a stereo stem keeps its pan",
          "[unit][restyle]") {
  const std::vector<double> pan = {1.0, 0.5};  // right 6 dB down
  const auto x = render_stem(pan);
  for (bool envelope : {true, false}) {
    Options o;
    o.envelope = envelope;
    const Restyled r = restyle_audio(x, 2, kRate, style_library(), o, "other");
    for (const auto& s : r.plan.segments) {
      if (s.grain < 0) continue;
      const int64_t b = begin_frame(r.plan, s), e = end_frame(r.plan, s);
      for (size_t c = 0; c < 2; ++c) {
        INFO("envelope " << envelope << ", segment at " << b / double(kRate) << " s, channel "
                         << c);
        CHECK(std::fabs(rms_db(r.audio, 2, c, b, e) - rms_db(x, 2, c, b, e)) <= kLevelToleranceDb);
      }
    }
  }
}

TEST_CASE("restyle: the envelope follows the original's, and --no-envelope keeps the grain's",
          "[unit][restyle]") {
  // Notes that fall by 5 dB over their first and last quarters (decay 6/s over 0.4 s), grains
  // that are flat: with the envelope the output falls like the note, without it stays flat.
  const auto x = render_stem({1.0}, 6.0);
  // The envelopes are smoothed over 30 ms, measured here on quarters of 100 ms (measured: at
  // most 0.26 dB apart).
  constexpr double kEnvelopeToleranceDb = 1.0;
  for (bool envelope : {true, false}) {
    Options o;
    o.envelope = envelope;
    const Restyled r = restyle_audio(x, 1, kRate, style_library(), o, "vocals");
    size_t k = 0;
    for (const auto& s : r.plan.segments) {
      if (!s.onset) continue;
      const Note& n = kNotes[k++];
      const auto b = static_cast<int64_t>(n.start_s * kRate);
      const auto q = static_cast<int64_t>(n.length_s / 4 * kRate);
      // First and last quarter of the note, the attack and the release left out.
      const double fall_in =
          rms_db(x, 1, 0, b + q / 4, b + q) - rms_db(x, 1, 0, b + 3 * q, b + 4 * q - q / 4);
      const double fall_out = rms_db(r.audio, 1, 0, b + q / 4, b + q) -
                              rms_db(r.audio, 1, 0, b + 3 * q, b + 4 * q - q / 4);
      INFO("envelope " << envelope << ", note " << k - 1 << ": input falls " << fall_in
                       << " dB, output " << fall_out << " dB");
      REQUIRE(fall_in > 4);
      if (envelope)
        CHECK(std::fabs(fall_out - fall_in) <= kEnvelopeToleranceDb);
      else
        CHECK(std::fabs(fall_out) <= kEnvelopeToleranceDb);
    }
  }
}

TEST_CASE("restyle: the same seed gives the same output, another seed other grains",
          "[unit][restyle]") {
  const auto x = render_stem({1.0});
  Options o;
  const Restyled a = restyle_audio(x, 1, kRate, style_library(), o, "vocals");
  const Restyled b = restyle_audio(x, 1, kRate, style_library(), o, "vocals");
  CHECK(a.audio == b.audio);
  // Three grains per tone are equally near: other seeds pick others, at the same pitch.
  bool differs = false;
  for (uint64_t seed = 1; seed <= 4 && !differs; ++seed) {
    o.seed = seed;
    const Restyled c = restyle_audio(x, 1, kRate, style_library(), o, "vocals");
    for (size_t k = 0; k < a.plan.segments.size(); ++k) {
      const int ga = a.plan.segments[k].grain, gc = c.plan.segments[k].grain;
      if (ga < 0) continue;
      differs |= ga != gc;
      CHECK(gc / 3 == ga / 3);  // the same tone
    }
  }
  CHECK(differs);
  // The generator and the index are the standard's: the same numbers on every library.
  auto rng = stem_generator(0, "vocals");
  auto again = stem_generator(0, "vocals");
  CHECK(rng() == again());
  auto other = stem_generator(0, "bass");
  CHECK(stem_generator(0, "vocals")() != other());
  std::vector<int> counts(3, 0);
  for (int i = 0; i < 3000; ++i) ++counts[pick_index(rng, 3)];
  for (int c : counts) CHECK(std::abs(c - 1000) < 150);  // 1000 +- 4.7 sigma
}

TEST_CASE("restyle: --no-pitch-map picks grains at random, whatever their pitch",
          "[unit][restyle]") {
  const auto x = render_stem({1.0});
  Options o;
  o.pitch_map = false;
  std::set<int> tones;
  bool off_pitch = false;
  for (uint64_t seed = 0; seed < 3; ++seed) {
    o.seed = seed;
    const Restyled r = restyle_audio(x, 1, kRate, style_library(), o, "vocals");
    size_t k = 0;
    for (const auto& s : r.plan.segments) {
      if (!s.onset) continue;
      REQUIRE(s.grain >= 0);
      tones.insert(s.grain / 3);
      const double g = style_library().grains[static_cast<size_t>(s.grain)].pitch_hz;
      off_pitch |= cents(g, nearest_style_pitch(kNotes[k++].pitch_hz)) > 50;
    }
    CHECK(restyle_audio(x, 1, kRate, style_library(), o, "vocals").audio == r.audio);
  }
  CHECK(off_pitch);
  CHECK(tones.size() >= 4);
}

TEST_CASE("restyle: options are checked", "[unit][restyle]") {
  Options o;
  o.grain_ms = 5;
  CHECK_THROWS_WITH(rz::params::check(o, Options::fields(), "", rz::params::Naming::kFlag),
                    Catch::Contains("bad --grain-ms '5.00': use 20..2000 ms"));
}
