// rz-make-midi: compose the clean-corpus pieces and write them as Standard MIDI Files.
//
// Usage: rz-make-midi -o DIR [--keys]
//
// --keys writes the key-detection pieces instead (key_pieces(): 24 keys x 3 renderings), with
// one TSV line each: `piece<TAB>tonic pitch class<TAB>major|minor<TAB>description`.
//
// For every piece it writes DIR/<piece>.mid (all tracks) and DIR/<piece>.<stem>.mid (one
// instrument track each, same tempo, same channel and program, same length), so that rendering
// the stems with a dry synthesiser and summing them gives the mix: ground-truth stems. stdout gets
// one TSV line per piece: `piece<TAB>stems (comma-separated)<TAB>description`.
//
// The files are Standard MIDI Files format 1, 480 ticks per quarter note: track 0 carries the
// time signature and the tempo, each further track one instrument (track name, program change on
// its channel, CC7 volume, CC10 pan, notes, end of track). GM drums play on channel 10 (index 9).
// Every file of a piece ends at the same tick: the musical content runs from about 0.2 s to
// 13.2 s (tests/corpus/build.sh trims the renderings to 12 s), then 0.6 s of release.
//
// The music is composed here, deterministically: each piece has its own fixed seed for a
// std::mt19937, and every distribution is written out by hand (unit(), range(), chance()) so that
// the notes do not depend on the standard library's distribution implementations. The material
// is simple but musical on purpose: scales, arpeggios and melodies inside each instrument's real
// range, chord progressions, rhythm patterns with velocity variation, legato and staccato, and
// rests (quiet frames are evidence the restoration stages use). GM program numbers below are the
// 1-based numbers of the General MIDI list (Violin = 41); the program change byte is that minus 1.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

constexpr char kProg[] = "rz-make-midi";
constexpr int kPpq = 480;            // ticks per quarter note
constexpr double kLeadInS = 0.2;     // silence before the first note
constexpr double kContentS = 13.0;   // musical content after the lead-in
constexpr double kTailS = 0.6;       // release after the last note off
constexpr int kDrumChannel = 9;      // GM percussion channel (channel 10 counted from 1)
constexpr int kDefaultVolume = 100;  // CC7

// ---------------------------------------------------------------------------------------------
// Random numbers: the raw 32-bit output of std::mt19937 (fully specified by the standard) and
// hand-written distributions on top of it.
class Rng {
 public:
  explicit Rng(std::uint32_t seed) : gen_(seed) {}
  double unit() { return static_cast<double>(gen_() & 0xffffffffu) / 4294967296.0; }  // [0, 1)
  int range(int lo, int hi) {                                                         // inclusive
    return lo + static_cast<int>(unit() * static_cast<double>(hi - lo + 1));
  }
  bool chance(double p) { return unit() < p; }
  int jitter(int spread) { return range(-spread, spread); }
  template <class T>
  const T& pick(const std::vector<T>& v) {
    return v[static_cast<std::size_t>(range(0, static_cast<int>(v.size()) - 1))];
  }

 private:
  std::mt19937 gen_;
};

// ---------------------------------------------------------------------------------------------
// Score model: times in beats (quarter notes) from the end of the lead-in.
struct Note {
  double beat;
  double len_beats;
  int key;
  int vel;
};

struct Track {
  std::string stem;
  int gm_program;  // 1-based GM number; 0 for the drum channel
  int channel;
  int volume;
  int pan;  // 0 left, 64 centre, 127 right
  std::vector<Note> notes;
};

struct Piece {
  std::string name;
  std::string description;
  double bpm;
  int beats_per_bar;  // time signature numerator over 4
  std::uint32_t seed;
  std::vector<Track> tracks;

  int bars() const { return static_cast<int>(std::ceil(kContentS * bpm / 60.0 / beats_per_bar)); }
  double total_beats() const { return kContentS * bpm / 60.0; }
  Track& add(const std::string& stem, int gm_program, int pan, int volume = kDefaultVolume) {
    int channel = kDrumChannel;
    if (gm_program != 0) {
      channel = 0;
      for (const Track& t : tracks) {
        if (t.channel != kDrumChannel && t.channel >= channel) channel = t.channel + 1;
      }
      if (channel == kDrumChannel) ++channel;
    }
    tracks.push_back(Track{stem, gm_program, channel, volume, pan, {}});
    return tracks.back();
  }
};

void add_note(Track& t, double beat, double len_beats, int key, int vel) {
  t.notes.push_back(Note{beat, len_beats, std::clamp(key, 0, 127), std::clamp(vel, 1, 127)});
}

// Keeps, of the notes from index `first` on, only those that start in [from_beat, to_beat): lets
// a pattern generator fill part of a piece.
void window(Track& t, std::size_t first, double from_beat, double to_beat) {
  std::vector<Note> kept(t.notes.begin(), t.notes.begin() + static_cast<std::ptrdiff_t>(first));
  for (std::size_t i = first; i < t.notes.size(); ++i) {
    if (t.notes[i].beat >= from_beat && t.notes[i].beat < to_beat) kept.push_back(t.notes[i]);
  }
  t.notes = kept;
}

// ---------------------------------------------------------------------------------------------
// Harmony: a key is a tonic MIDI note and a scale; degrees count scale steps from the tonic
// (negative below it), chords are triads (or sevenths) stacked in thirds on a degree.
const std::vector<int> kMajor{0, 2, 4, 5, 7, 9, 11};
const std::vector<int> kMinor{0, 2, 3, 5, 7, 8, 10};
const std::vector<int> kDorian{0, 2, 3, 5, 7, 9, 10};
const std::vector<int> kMixolydian{0, 2, 4, 5, 7, 9, 10};
const std::vector<int> kHarmonicMinor{0, 2, 3, 5, 7, 8, 11};

struct Key {
  int tonic;
  std::vector<int> scale;

  int pitch(int degree) const {
    const int n = static_cast<int>(scale.size());
    const int octave = degree >= 0 ? degree / n : -((-degree + n - 1) / n);
    return tonic + 12 * octave + scale[static_cast<std::size_t>(degree - octave * n)];
  }
  int lowest_degree_at_or_above(int key) const {
    int d = -100;
    while (pitch(d) < key) ++d;
    return d;
  }
  int highest_degree_at_or_below(int key) const {
    int d = 100;
    while (pitch(d) > key) --d;
    return d;
  }
  // Chord tones of the chord on `root_degree`, ascending from the lowest at or above `lo`.
  std::vector<int> voicing(int root_degree, int lo, int count, bool seventh = false) const {
    std::vector<int> out;
    const int tones = seventh ? 4 : 3;
    for (int d = lowest_degree_at_or_above(lo) - 7; static_cast<int>(out.size()) < count; ++d) {
      const int rel = ((d - root_degree) % 7 + 7) % 7;
      const bool chord_tone = rel % 2 == 0 && rel / 2 < tones;
      if (chord_tone && pitch(d) >= lo) out.push_back(pitch(d));
    }
    return out;
  }
  int root_at_or_above(int root_degree, int lo) const { return voicing(root_degree, lo, 1)[0]; }
  int bass_root(int root_degree, int lo) const {  // the chord's root itself, lowest >= lo
    int d = lowest_degree_at_or_above(lo);
    while (((d - root_degree) % 7 + 7) % 7 != 0) ++d;
    return pitch(d);
  }
};

using Progression = std::vector<int>;  // one chord root degree per bar (cycled)

int chord_at(const Progression& prog, int bar) {
  return prog[static_cast<std::size_t>(bar) % prog.size()];
}

// ---------------------------------------------------------------------------------------------
// Melody: a random walk over scale degrees inside [lo, hi], chord tones on the bar's downbeat,
// rhythm from one-beat cells, phrases of `phrase_bars` that end on a held note and a rest.
struct MelodyStyle {
  int lo;
  int hi;
  double subdivide = 0.4;  // chance that a beat is split into shorter notes
  double legato = 0.95;    // sounding share of each note's slot (0.4 = staccato)
  double rest = 0.08;      // chance that a slot is a rest
  int vel = 88;
  int vel_spread = 10;
  int max_step = 2;
  int phrase_bars = 2;
  bool triplets = false;
};

void melody(Track& t, Rng& r, const Key& k, const Progression& prog, const Piece& p,
            const MelodyStyle& s, int from_bar = 0, int to_bar = -1) {
  const int bpb = p.beats_per_bar;
  const int last_bar = to_bar < 0 ? p.bars() : to_bar;
  const int dlo = k.lowest_degree_at_or_above(s.lo);
  const int dhi = k.highest_degree_at_or_below(s.hi);
  // The line's contour: a target that starts a third above the bottom of the range, rises to
  // near its top halfway through and comes back, so that a melody uses its instrument's range.
  const int span = std::max(1, last_bar - from_bar);
  int deg = dlo + 2;
  for (int bar = from_bar; bar < last_bar; ++bar) {
    const bool phrase_end = (bar + 1) % s.phrase_bars == 0;
    const double arch = 0.5 - 0.5 * std::cos(2.0 * 3.14159265358979 * (bar - from_bar) / span);
    const int target = dlo + 2 + static_cast<int>(std::lround(arch * (dhi - dlo - 3)));
    for (int beat = 0; beat < bpb; ++beat) {
      const double b0 = bar * bpb + beat;
      if (phrase_end && beat == bpb - 1) break;  // breathe: the phrase's last beat is a rest
      std::vector<double> cell{1.0};
      if (phrase_end && beat == bpb - 2) {
        cell = {1.0};
      } else if (r.chance(s.subdivide)) {
        if (s.triplets && r.chance(0.5)) {
          cell = {1.0 / 3, 1.0 / 3, 1.0 / 3};
        } else {
          cell = r.pick(std::vector<std::vector<double>>{
              {0.5, 0.5}, {0.5, 0.5}, {0.75, 0.25}, {0.25, 0.25, 0.5}, {0.25, 0.25, 0.25, 0.25}});
        }
      } else if (beat + 1 < bpb - (phrase_end ? 1 : 0) && r.chance(0.25)) {
        cell = {2.0};  // a longer note over two beats
      }
      double at = b0;
      for (double len : cell) {
        if (beat == 0 && at == b0) {  // downbeat: the nearest chord tone
          const int root = chord_at(prog, bar);
          int best = deg;
          int best_dist = 1000;
          for (int c = deg - 3; c <= deg + 3; ++c) {
            const int rel = ((c - root) % 7 + 7) % 7;
            if ((rel == 0 || rel == 2 || rel == 4) && c >= dlo && c <= dhi &&
                std::abs(c - deg) < best_dist) {
              best = c;
              best_dist = std::abs(c - deg);
            }
          }
          deg = best;
        } else {
          int step = r.range(-s.max_step, s.max_step);
          if (step == 0 && r.chance(0.6)) step = r.chance(0.5) ? 1 : -1;
          if (std::abs(deg - target) > 2 && (step > 0) != (target > deg) && r.chance(0.7)) {
            step = -step;  // lean towards the contour
          }
          deg += step;
          if (deg < dlo) deg = dlo + (dlo - deg);
          if (deg > dhi) deg = dhi - (deg - dhi);
          deg = std::clamp(deg, dlo, dhi);
        }
        const bool rest = !(beat == 0 && at == b0) && r.chance(s.rest);
        if (!rest) {
          const double sounding = phrase_end && beat == bpb - 2 ? len * 0.9 : len * s.legato;
          const int accent = (at == b0) ? (beat == 0 ? 8 : 3) : 0;
          add_note(t, at, sounding, k.pitch(deg), s.vel + accent + r.jitter(s.vel_spread));
        }
        at += len;
      }
      if (cell.size() == 1 && cell[0] == 2.0) ++beat;
    }
  }
}

// Block chords, one per bar (or `per_bar` per bar), voiced from `lo` upwards.
void pads(Track& t, Rng& r, const Key& k, const Progression& prog, const Piece& p, int lo,
          int voices, int vel, double legato = 0.97, int per_bar = 1, bool seventh = false) {
  const double len = static_cast<double>(p.beats_per_bar) / per_bar;
  for (int bar = 0; bar < p.bars(); ++bar) {
    for (int i = 0; i < per_bar; ++i) {
      for (int key : k.voicing(chord_at(prog, bar), lo, voices, seventh)) {
        add_note(t, bar * p.beats_per_bar + i * len, len * legato, key, vel + r.jitter(6));
      }
    }
  }
}

// Broken chords: `pattern` indexes into the voicing (ascending), one entry per `step` beats.
void arpeggio(Track& t, Rng& r, const Key& k, const Progression& prog, const Piece& p, int lo,
              const std::vector<int>& pattern, double step, int vel, double legato = 0.9,
              bool seventh = false) {
  int top = 0;
  for (int i : pattern) top = std::max(top, i);
  const int per_bar = static_cast<int>(std::lround(p.beats_per_bar / step));
  for (int bar = 0; bar < p.bars(); ++bar) {
    const std::vector<int> v = k.voicing(chord_at(prog, bar), lo, top + 1, seventh);
    for (int i = 0; i < per_bar; ++i) {
      const int key =
          v[static_cast<std::size_t>(pattern[static_cast<std::size_t>(i) % pattern.size()])];
      add_note(t, bar * p.beats_per_bar + i * step, step * legato, key,
               vel + (i == 0 ? 10 : 0) + r.jitter(7));
    }
  }
}

// Bass line: root on the downbeat, then fifths, octaves and stepwise approaches to the next root.
void bass_line(Track& t, Rng& r, const Key& k, const Progression& prog, const Piece& p, int lo,
               double step, double legato, int vel, bool walking = false) {
  const int per_bar = static_cast<int>(std::lround(p.beats_per_bar / step));
  for (int bar = 0; bar < p.bars(); ++bar) {
    const int root = k.bass_root(chord_at(prog, bar), lo);
    const int next = k.bass_root(chord_at(prog, bar + 1), lo);
    for (int i = 0; i < per_bar; ++i) {
      int key = root;
      if (walking) {
        const int d0 = k.lowest_degree_at_or_above(root);
        const int d1 = k.lowest_degree_at_or_above(next);
        const int dir = d1 >= d0 ? 1 : -1;
        key =
            i == 0 ? root : (i == per_bar - 1 ? next + (dir > 0 ? -1 : 1) : k.pitch(d0 + dir * i));
      } else if (i > 0) {
        const int choice = r.range(0, 5);
        if (choice == 0) key = root + 7;
        if (choice == 1) key = root + 12;
        if (choice == 2 && i == per_bar - 1) key = next - 1;
        if (choice == 3 && r.chance(0.5)) continue;  // a rest
      }
      add_note(t, bar * p.beats_per_bar + i * step, step * legato, key,
               vel + (i == 0 ? 10 : 0) + r.jitter(8));
    }
  }
}

// Drum voices from step patterns: 'X' accent, 'x' normal, 'g' ghost, '.' rest; the pattern
// covers one bar. Every fourth bar ends with a snare fill when `fill_key` is set.
struct DrumVoice {
  int key;
  std::string pattern;
};

void drums(Track& t, Rng& r, const Piece& p, const std::vector<DrumVoice>& voices, int fill_key = 0,
           int vel_scale = 100, int from_bar = 0) {
  for (int bar = from_bar; bar < p.bars(); ++bar) {
    const bool fill = fill_key != 0 && bar % 4 == 3;
    for (const DrumVoice& v : voices) {
      const int n = static_cast<int>(v.pattern.size());
      const double step = static_cast<double>(p.beats_per_bar) / n;
      for (int i = 0; i < n; ++i) {
        const double beat = bar * p.beats_per_bar + i * step;
        if (fill && beat >= bar * p.beats_per_bar + p.beats_per_bar - 1 && v.key != 36 &&
            v.key != 35)
          continue;  // leave the last beat to the fill (kicks stay)
        const char c = v.pattern[static_cast<std::size_t>(i)];
        if (c == '.') continue;
        const int vel = c == 'X' ? 112 : (c == 'x' ? 88 : 46);
        add_note(t, beat, step * 0.5, v.key, (vel + r.jitter(9)) * vel_scale / 100);
      }
    }
    if (fill) {
      for (int i = 0; i < 4; ++i) {
        add_note(t, bar * p.beats_per_bar + p.beats_per_bar - 1 + i * 0.25, 0.2, fill_key,
                 (70 + 12 * i + r.jitter(6)) * vel_scale / 100);
      }
    }
  }
}

// Guitar strum: the voicing's notes a few milliseconds apart (down: low to high, up: reverse).
void strum(Track& t, Rng& r, const Key& k, const Progression& prog, const Piece& p, int lo,
           int strings, const std::string& pattern, int vel, double legato = 0.95) {
  const int n = static_cast<int>(pattern.size());
  const double step = static_cast<double>(p.beats_per_bar) / n;
  const double spread = 0.012 * p.bpm / 60.0;  // 12 ms between strings
  for (int bar = 0; bar < p.bars(); ++bar) {
    const std::vector<int> v = k.voicing(chord_at(prog, bar), lo, strings);
    for (int i = 0; i < n; ++i) {
      const char c = pattern[static_cast<std::size_t>(i)];
      if (c == '.') continue;
      int len = 1;
      while (i + len < n && pattern[static_cast<std::size_t>(i + len)] == '-') ++len;
      if (c == '-') continue;
      const bool up = c == 'U' || c == 'u';
      const int base = (c == 'D' || c == 'U') ? vel : vel - 18;
      for (int s = 0; s < strings; ++s) {
        const int idx = up ? strings - 1 - s : s;
        if (up && s >= strings - 2) break;  // up strokes catch the top strings only
        add_note(t, bar * p.beats_per_bar + i * step + s * spread, len * step * legato,
                 v[static_cast<std::size_t>(idx)], base + r.jitter(6));
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Pieces. Each function fills one Piece; the seed is fixed per piece.
using Composer = std::function<void(Piece&, Rng&)>;

struct Entry {
  Piece piece;
  Composer compose;
};

Piece piece(const std::string& name, const std::string& description, double bpm, int beats_per_bar,
            std::uint32_t seed) {
  return Piece{name, description, bpm, beats_per_bar, seed, {}};
}

// A solo melody over a progression, with the given style.
Composer solo(int gm, Key key, Progression prog, MelodyStyle style, int pan = 64) {
  return [=](Piece& p, Rng& r) {
    Track& t = p.add("solo", gm, pan);
    melody(t, r, key, prog, p, style);
  };
}

std::vector<Entry> catalogue() {
  std::vector<Entry> e;
  const Progression pop{0, 5, 3, 4};         // I vi IV V
  const Progression minor_prog{0, 5, 2, 4};  // i VI III V (harmonic minor gives a major V)
  const Progression blues{0, 0, 3, 0, 4, 3, 0, 4};
  const Progression circle{0, 3, 6, 2, 5, 1, 4, 0};

  // --- solos without bass or highs below 100 Hz ---------------------------------------------
  e.push_back({piece("violin", "solo violin: legato melody with slurred runs", 92, 4, 101),
               solo(41, {67, kMajor}, pop, {60, 88, 0.7, 0.98, 0.05, 84, 12, 3, 2})});
  e.push_back({piece("flute", "solo flute: lyrical melody with staccato figures", 96, 4, 102),
               solo(74, {74, kMajor}, circle, {67, 93, 0.5, 0.75, 0.08, 86, 10, 3, 2})});
  e.push_back({piece("piccolo", "solo piccolo: bright march tune, high register", 112, 4, 103),
               solo(73, {79, kMajor}, pop, {81, 103, 0.45, 0.55, 0.06, 90, 10, 2, 2})});
  e.push_back({piece("accordion-waltz",
                     "accordion waltz in 3/4: right-hand melody and a high-register left-hand "
                     "oom-pah (nothing below 150 Hz)",
                     150, 3, 104),
               [](Piece& p, Rng& r) {
                 const Key k{67, kMajor};
                 const Progression prog{0, 0, 4, 4, 4, 4, 0, 0, 3, 3, 0, 0, 4, 4, 0, 0};
                 Track& rh = p.add("right", 22, 72);
                 melody(rh, r, k, prog, p, {67, 88, 0.35, 0.9, 0.04, 88, 8, 2, 4});
                 Track& lh = p.add("left", 22, 56, 84);
                 for (int bar = 0; bar < p.bars(); ++bar) {
                   const int c = chord_at(prog, bar);
                   add_note(lh, bar * 3.0, 0.6, k.bass_root(c, 52), 84 + r.jitter(6));
                   for (int beat = 1; beat < 3; ++beat) {
                     for (int key : k.voicing(c, 60, 3)) {
                       add_note(lh, bar * 3.0 + beat, 0.45, key, 66 + r.jitter(6));
                     }
                   }
                 }
               }});
  e.push_back(
      {piece("harpsichord", "harpsichord: two-voice baroque invention, G3 upwards", 100, 4, 105),
       [](Piece& p, Rng& r) {
         const Key k{62, kMinor};
         const Progression prog{0, 3, 4, 0, 5, 1, 4, 0};
         Track& t = p.add("solo", 7, 64);
         melody(t, r, k, prog, p, {69, 91, 0.8, 0.85, 0.02, 90, 8, 2, 4});
         arpeggio(t, r, k, prog, p, 55, {0, 1, 2, 1}, 1.0, 78, 0.8);
       }});
  e.push_back(
      {piece("trumpet", "solo trumpet: fanfare-like melody, repeated notes and leaps", 108, 4, 106),
       solo(57, {65, kMajor}, pop, {60, 82, 0.4, 0.7, 0.08, 92, 12, 3, 2})});
  e.push_back({piece("oboe", "solo oboe: pastoral minor melody, legato", 76, 4, 107),
               solo(69, {69, kMinor}, minor_prog, {62, 86, 0.35, 0.98, 0.05, 82, 10, 2, 2})});
  e.push_back(
      {piece("clarinet",
             "solo clarinet: arpeggiated runs through the chalumeau to the clarion register", 92, 4,
             108),
       [](Piece& p, Rng& r) {
         const Key k{58, kMajor};
         const Progression prog{0, 3, 4, 0};
         Track& t = p.add("solo", 72, 64);
         melody(t, r, k, prog, p, {55, 84, 0.5, 0.92, 0.06, 84, 10, 2, 2}, 0, 4);
         const std::size_t first = t.notes.size();
         arpeggio(t, r, k, prog, p, 55, {0, 1, 2, 3, 4, 3, 2, 1}, 0.5, 80, 0.95);
         window(t, first, 4.0 * p.beats_per_bar, 1e9);  // runs in the second half
       }});
  e.push_back({piece("glockenspiel", "glockenspiel: bell-like staccato melody, G5-C8", 104, 4, 109),
               [pop](Piece& p, Rng& r) {
                 const Key k{84, kMajor};
                 Track& t = p.add("solo", 10, 64);
                 melody(t, r, k, pop, p, {79, 106, 0.3, 0.5, 0.15, 80, 12, 3, 2});
               }});
  e.push_back({piece("soprano-sax", "soprano saxophone: bluesy solo line, mixolydian", 120, 4, 110),
               solo(65, {63, kMixolydian}, blues, {60, 86, 0.55, 0.85, 0.07, 88, 14, 2, 2, true})});
  e.push_back(
      {piece("muted-trumpet", "muted trumpet: cool jazz phrases with space between", 100, 4, 111),
       solo(60, {65, kDorian}, {0, 3, 0, 4}, {60, 80, 0.5, 0.8, 0.15, 80, 12, 2, 2, true})});
  e.push_back(
      {piece("pan-flute", "pan flute: slow breathy melody in a pentatonic colour", 70, 4, 112),
       solo(76, {67, kMajor}, {0, 5, 3, 0}, {67, 91, 0.25, 0.98, 0.05, 84, 8, 2, 2})});
  e.push_back({piece("ocarina", "ocarina: simple folk tune, high and pure", 96, 3, 113),
               solo(80, {72, kMajor}, {0, 3, 4, 0}, {72, 93, 0.3, 0.9, 0.05, 86, 8, 2, 2})});

  // --- instruments with real low end ----------------------------------------------------------
  e.push_back({piece("cello", "solo cello: singing melody over low bass notes down to C2 (65 Hz)",
                     72, 4, 201),
               [](Piece& p, Rng& r) {
                 const Key k{48, kMinor};
                 const Progression prog{0, 5, 3, 4};
                 Track& t = p.add("solo", 43, 64);
                 melody(t, r, k, prog, p, {48, 69, 0.35, 0.97, 0.04, 88, 10, 3, 2});
                 for (int bar = 0; bar < p.bars(); bar += 2) {  // a low root under every other bar
                   add_note(t, bar * 4.0, 1.0, k.bass_root(chord_at(prog, bar), 36),
                            84 + r.jitter(5));
                 }
               }});
  e.push_back(
      {piece("contrabass-pizz", "contrabass pizzicato (GM pizzicato strings): walking line from E1",
             116, 4, 202),
       [](Piece& p, Rng& r) {
         const Key k{40, kDorian};
         Track& t = p.add("solo", 46, 64, 120);
         bass_line(t, r, k, {0, 3, 4, 0, 5, 1, 4, 0}, p, 28, 1.0, 0.5, 96, true);
       }});
  e.push_back(
      {piece("electric-bass", "electric bass (finger): syncopated groove from E1", 100, 4, 203),
       [](Piece& p, Rng& r) {
         const Key k{40, kMinor};
         Track& t = p.add("solo", 34, 64, 115);
         bass_line(t, r, k, {0, 0, 5, 6}, p, 28, 0.5, 0.8, 92);
       }});
  e.push_back(
      {piece("fretless-bass", "fretless bass: melodic legato line in the low register", 88, 4, 204),
       solo(36, {38, kDorian}, {0, 3, 6, 4}, {28, 55, 0.3, 1.0, 0.05, 92, 8, 2, 2})});
  e.push_back({piece("tuba", "solo tuba: oom-pah march bass and a short melody", 104, 4, 205),
               [](Piece& p, Rng& r) {
                 const Key k{34, kMajor};
                 const Progression prog{0, 4, 0, 4, 3, 0, 4, 0};
                 Track& t = p.add("solo", 59, 64, 115);
                 bass_line(t, r, k, prog, p, 29, 2.0, 0.55, 92);
                 const int half = p.bars() / 2;
                 window(t, 0, 0, half * p.beats_per_bar);
                 melody(t, r, k, prog, p, {34, 58, 0.3, 0.9, 0.05, 90, 8, 2, 2}, half);
               }});
  e.push_back(
      {piece("timpani", "timpani: tonic-dominant strokes and short rolls on D2 and A2", 96, 4, 206),
       [](Piece& p, Rng& r) {
         Track& t = p.add("solo", 48, 64, 120);
         for (int bar = 0; bar < p.bars(); ++bar) {
           const double b = bar * 4.0;
           const int key = bar % 2 == 0 ? 38 : 45;
           if (bar % 4 == 3) {
             for (int i = 0; i < 12; ++i) {
               add_note(t, b + i / 6.0, 0.15, 45, 50 + 5 * i + r.jitter(5));
             }
             add_note(t, b + 2.0, 1.0, 38, 120);
           } else {
             add_note(t, b, 0.9, key, 110 + r.jitter(6));
             add_note(t, b + 1.5, 0.4, key, 70 + r.jitter(8));
             add_note(t, b + 2.0, 0.9, key == 38 ? 45 : 38, 96 + r.jitter(6));
           }
         }
       }});
  e.push_back({piece("church-organ",
                     "church organ: chorale in four parts with pedal notes down to C1", 60, 4, 207),
               [](Piece& p, Rng& r) {
                 const Key k{48, kMajor};
                 const Progression prog{0, 3, 4, 0};
                 Track& m = p.add("manual", 20, 64, 95);
                 for (int beat = 0; beat < static_cast<int>(p.total_beats()) + 1; ++beat) {
                   const int c = prog[static_cast<std::size_t>(beat / 2) % prog.size()];
                   if (beat % 8 == 7) continue;  // a breath at the end of each phrase
                   for (int key : k.voicing(c, 55, 4)) add_note(m, beat, 0.92, key, 90);
                 }
                 Track& ped = p.add("pedal", 20, 64, 95);
                 for (int half = 0; half < static_cast<int>(p.total_beats() / 2) + 1; ++half) {
                   const int c = prog[static_cast<std::size_t>(half) % prog.size()];
                   if (half % 4 == 3) {
                     add_note(ped, half * 2.0, 0.95, k.bass_root(c, 24), 90);
                     continue;
                   }
                   add_note(ped, half * 2.0, 1.9, k.bass_root(c, 24), 90 + r.jitter(3));
                 }
               }});
  e.push_back({piece("piano",
                     "piano, both hands: left-hand octaves from C1 and Alberti bass, "
                     "right-hand melody up to C8",
                     96, 4, 208),
               [](Piece& p, Rng& r) {
                 const Key k{60, kMajor};
                 const Progression prog{0, 5, 1, 4, 0, 3, 4, 0};
                 Track& rh = p.add("right", 1, 64);
                 melody(rh, r, k, prog, p, {67, 96, 0.5, 0.9, 0.05, 86, 12, 3, 2});
                 for (int bar = 0; bar < p.bars(); bar += 4) {  // a sparkling run to the top
                   for (int i = 0; i < 8; ++i) {
                     add_note(rh, bar * 4.0 + 3.0 + i * 0.125, 0.12, k.pitch(21 + i), 70 + 3 * i);
                   }
                 }
                 Track& lh = p.add("left", 1, 64);
                 for (int bar = 0; bar < p.bars(); ++bar) {
                   const int c = chord_at(prog, bar);
                   if (bar % 2 == 0) {
                     const int low = k.bass_root(c, 21);
                     add_note(lh, bar * 4.0, 1.9, low, 92 + r.jitter(5));
                     add_note(lh, bar * 4.0, 1.9, low + 12, 84 + r.jitter(5));
                     for (int key : k.voicing(c, 48, 3)) add_note(lh, bar * 4.0 + 2, 1.8, key, 70);
                   } else {
                     const std::vector<int> v = k.voicing(c, 43, 3);
                     const int order[] = {0, 2, 1, 2};
                     for (int i = 0; i < 8; ++i) {
                       add_note(lh, bar * 4.0 + i * 0.5, 0.48, v[order[i % 4]], 68 + r.jitter(6));
                     }
                   }
                 }
               }});

  // --- electronic with sub-bass ---------------------------------------------------------------
  e.push_back({piece("synth-bass-groove",
                     "electronic: synth bass down to B0 (31 Hz), GM kit with deep kicks, claps "
                     "and hats, sawtooth lead",
                     124, 4, 301),
               [](Piece& p, Rng& r) {
                 const Key k{35, kMinor};  // B minor
                 const Progression prog{0, 0, 5, 3};
                 Track& bass = p.add("bass", 39, 64, 112);
                 for (int bar = 0; bar < p.bars(); ++bar) {
                   const int root = k.bass_root(chord_at(prog, bar), 23);
                   const std::string pat = "X..x..X...x.X..x";
                   for (int i = 0; i < 16; ++i) {
                     if (pat[static_cast<std::size_t>(i)] == '.') continue;
                     const int key = (i == 10 && bar % 2 == 1) ? root + 12 : root;
                     add_note(bass, bar * 4.0 + i * 0.25, i % 4 == 0 ? 0.45 : 0.2, key,
                              (pat[static_cast<std::size_t>(i)] == 'X' ? 110 : 90) + r.jitter(6));
                   }
                 }
                 Track& d = p.add("drums", 0, 64, 110);
                 drums(d, r, p,
                       {{35, "X...X...X...X..."},
                        {36, "x...x...x...x..x"},
                        {39, "....X.......X..."},
                        {38, "............g..."},
                        {42, "x.x.x.x.x.x.x.x."},
                        {46, ".......x.......x"}},
                       39);
                 Track& lead = p.add("lead", 82, 76, 90);
                 melody(lead, r, {71, kMinor}, prog, p, {66, 86, 0.5, 0.6, 0.15, 84, 10, 2, 2}, 2);
               }});

  e.push_back({piece("electro-pulse",
                     "electronic: Synth Bass 2 eighth-note pulse at 31-46 Hz, four-on-the-floor "
                     "kick, claps, open hats, sawtooth lead with rests",
                     128, 4, 302),
               [](Piece& p, Rng& r) {
                 const Key k{30, kMinor};  // F# minor: roots F#1 (46 Hz) down to B0 (31 Hz)
                 const Progression prog{0, 5, 3, 4};
                 Track& bass = p.add("bass", 40, 64, 112);
                 for (int bar = 0; bar < p.bars(); ++bar) {
                   const int root = k.bass_root(chord_at(prog, bar), 23);
                   for (int i = 0; i < 8; ++i) {
                     if (i == 0 && bar % 4 == 0) {
                       add_note(bass, bar * 4.0, 0.9, root, 112);  // a long sub note
                       ++i;
                       continue;
                     }
                     add_note(bass, bar * 4.0 + i * 0.5, 0.3, i % 2 == 1 ? root + 12 : root,
                              (i % 2 == 1 ? 84 : 100) + r.jitter(6));
                   }
                 }
                 drums(p.add("drums", 0, 64, 110), r, p,
                       {{36, "X...X...X...X..."},
                        {35, "X..............."},
                        {39, "....X.......X..."},
                        {46, "..x...x...x...x."},
                        {42, "x...x...x...x..x"}},
                       0, 100, 1);  // the drums enter after one bar of bass alone
                 melody(p.add("lead", 82, 50, 88), r, {66, kMinor}, prog, p,
                        {66, 85, 0.3, 0.5, 0.2, 82, 10, 3, 2}, 4);
               }});

  // --- percussion alone ------------------------------------------------------------------------
  e.push_back({piece("drum-kit",
                     "GM drum kit groove: kick, snare with ghost notes, hats, crash, "
                     "tom fills",
                     96, 4, 401),
               [](Piece& p, Rng& r) {
                 Track& d = p.add("drums", 0, 64, 115);
                 drums(d, r, p,
                       {{36, "X......x..X....."},
                        {38, "....X..g.g..X..g"},
                        {42, "x.x.x.x.x.x.x.X."},
                        {46, "..............x."}},
                       45);
                 for (int bar = 0; bar < p.bars(); bar += 4) add_note(d, bar * 4.0, 1.0, 49, 100);
               }});
  e.push_back(
      {piece("hand-percussion",
             "castanets, tambourine and claves only: no low end, bright transients", 112, 4, 402),
       [](Piece& p, Rng& r) {
         Track& d = p.add("percussion", 0, 64, 115);
         drums(d, r, p,
               {{85, "X.xxX.x.X.xxX.x."}, {54, "..x...x...x...xx"}, {75, "X..x..x...x.x..."}});
       }});
  e.push_back(
      {piece("timpani-roll", "timpani rolls: crescendo and diminuendo on A2 and D2, with silences",
             80, 4, 403),
       [](Piece& p, Rng& r) {
         Track& t = p.add("timpani", 48, 64, 120);
         const double end = p.total_beats();
         double b = 0;
         int key = 45;
         while (b + 3.5 < end) {
           const int strokes = 36;
           for (int i = 0; i < strokes; ++i) {
             const double env = std::sin(3.14159265 * (i + 0.5) / strokes);
             add_note(t, b + i / 12.0, 0.08, key, 30 + static_cast<int>(80 * env) + r.jitter(4));
           }
           add_note(t, b + 3.0, 0.5, key, 110);
           b += 5.0;  // 2 beats of silence and decay
           key = key == 45 ? 38 : 45;
         }
       }});

  // --- voice-like ------------------------------------------------------------------------------
  e.push_back({piece("choir-aahs", "choir aahs: four-part chords with a soprano line", 66, 4, 501),
               [](Piece& p, Rng& r) {
                 const Key k{57, kMinor};
                 const Progression prog{0, 5, 3, 4};
                 Track& lower = p.add("lower", 53, 56, 90);
                 pads(lower, r, k, prog, p, 48, 3, 78, 0.9, 2);
                 Track& sop = p.add("soprano", 53, 72, 100);
                 melody(sop, r, k, prog, p, {69, 81, 0.1, 0.98, 0.03, 84, 6, 1, 2});
               }});
  e.push_back(
      {piece("voice-oohs", "voice oohs: solo vocal-like melody, legato, mid register", 80, 4, 502),
       solo(54, {62, kMajor}, pop, {57, 76, 0.25, 1.0, 0.05, 90, 8, 2, 2})});

  // --- ensembles with stems --------------------------------------------------------------------
  e.push_back(
      {piece("string-quartet", "string quartet: two violins, viola, cello", 88, 4, 601),
       [](Piece& p, Rng& r) {
         const Key k{62, kMajor};
         const Progression prog{0, 4, 5, 2, 3, 0, 3, 4};
         melody(p.add("violin1", 41, 40), r, k, prog, p, {69, 93, 0.45, 0.95, 0.04, 88, 10, 2, 2});
         arpeggio(p.add("violin2", 41, 56, 90), r, k, prog, p, 62, {1, 2, 1, 2}, 1.0, 72, 0.7);
         pads(p.add("viola", 42, 76, 90), r, k, prog, p, 53, 2, 70, 0.95);
         bass_line(p.add("cello", 43, 92), r, k, prog, p, 36, 2.0, 0.95, 84);
       }});
  e.push_back(
      {piece("brass-section", "brass section: trumpet, french horn, trombone, tuba", 100, 4, 602),
       [](Piece& p, Rng& r) {
         const Key k{58, kMajor};
         const Progression prog{0, 3, 4, 0, 5, 3, 4, 0};
         melody(p.add("trumpet", 57, 52), r, k, prog, p, {65, 82, 0.35, 0.8, 0.05, 92, 10, 2, 2});
         pads(p.add("horn", 61, 70, 95), r, k, prog, p, 55, 2, 80, 0.9, 2);
         pads(p.add("trombone", 58, 84, 95), r, k, prog, p, 46, 2, 80, 0.85, 2);
         bass_line(p.add("tuba", 59, 64, 110), r, k, prog, p, 29, 1.0, 0.6, 88);
       }});
  e.push_back({piece("jazz-trio",
                     "jazz trio: piano comping and melody, walking acoustic bass, "
                     "drums with swung ride",
                     132, 4, 603),
               [](Piece& p, Rng& r) {
                 const Key k{53, kMajor};
                 const Progression prog{1, 4, 0, 0, 1, 4, 0, 5};  // ii V I
                 Track& piano = p.add("piano", 1, 70);
                 melody(piano, r, k, prog, p, {65, 84, 0.5, 0.8, 0.12, 80, 12, 2, 2, true});
                 for (int bar = 0; bar < p.bars(); ++bar) {
                   const double at = bar * 4.0 + (bar % 2 == 0 ? 1.667 : 0.0);
                   for (int key : k.voicing(chord_at(prog, bar), 52, 4, true)) {
                     add_note(piano, at, 0.6, key, 62 + r.jitter(6));
                   }
                 }
                 bass_line(p.add("bass", 33, 56, 115), r, k, prog, p, 29, 1.0, 0.85, 92, true);
                 drums(p.add("drums", 0, 64, 100), r, p,
                       {{51, "X..x.xX..x.x"},
                        {44, "...x.....x.."},
                        {38, "..........g."},
                        {36, "g..........."}});
               }});
  e.push_back(
      {piece("rock-band",
             "rock band: distorted rhythm guitar, electric bass, drums, "
             "overdriven lead guitar",
             120, 4, 604),
       [](Piece& p, Rng& r) {
         const Key k{40, kMinor};
         const Progression prog{0, 5, 2, 6};
         Track& rhythm = p.add("rhythm", 31, 36, 88);
         for (int bar = 0; bar < p.bars(); ++bar) {
           const int root = k.bass_root(chord_at(prog, bar), 40);
           for (int i = 0; i < 8; ++i) {
             const double len = i % 4 == 3 ? 0.2 : 0.45;  // palm-muted feel
             for (int key : {root, root + 7, root + 12}) {
               add_note(rhythm, bar * 4.0 + i * 0.5, len, key, 90 + r.jitter(6));
             }
           }
         }
         bass_line(p.add("bass", 34, 64, 110), r, k, prog, p, 28, 0.5, 0.85, 92);
         drums(p.add("drums", 0, 64, 110), r, p,
               {{36, "X.....x.X.x....."}, {38, "....X.......X..."}, {42, "x.x.x.x.x.x.x.x."}}, 38);
         melody(p.add("lead", 30, 92, 95), r, {64, kMinor}, prog, p,
                {64, 88, 0.5, 0.9, 0.08, 96, 10, 2, 2}, 2);
       }});
  e.push_back(
      {piece("orchestra-tutti",
             "orchestra tutti: string ensemble, brass, woodwinds, timpani, contrabasses", 92, 4,
             605),
       [](Piece& p, Rng& r) {
         const Key k{50, kMajor};
         const Progression prog{0, 3, 4, 0, 5, 1, 4, 0};
         pads(p.add("strings", 49, 64, 95), r, k, prog, p, 55, 4, 84, 0.95, 2);
         pads(p.add("brass", 62, 72, 90), r, k, prog, p, 58, 3, 82, 0.8, 1);
         melody(p.add("woodwinds", 74, 52), r, k, prog, p, {74, 93, 0.4, 0.9, 0.04, 90, 10, 2, 2});
         Track& tim = p.add("timpani", 48, 64, 110);
         for (int bar = 0; bar < p.bars(); ++bar) {
           add_note(tim, bar * 4.0, 0.9, chord_at(prog, bar) == 4 ? 45 : 38, 100 + r.jitter(6));
         }
         bass_line(p.add("contrabass", 44, 64, 110), r, k, prog, p, 28, 2.0, 0.95, 88);
       }});
  e.push_back(
      {piece("folk", "folk trio: nylon guitar arpeggios, flute melody, accordion chords", 104, 3,
             606),
       [](Piece& p, Rng& r) {
         const Key k{62, kMajor};
         const Progression prog{0, 0, 4, 4, 3, 0, 4, 0};
         arpeggio(p.add("guitar", 25, 48), r, k, prog, p, 45, {0, 2, 3, 4, 3, 2}, 0.5, 76, 1.6);
         melody(p.add("flute", 74, 80), r, k, prog, p, {69, 91, 0.4, 0.85, 0.06, 84, 10, 2, 4});
         pads(p.add("accordion", 22, 64, 70), r, k, prog, p, 60, 3, 60, 0.7, 3);
       }});

  // --- more timbres ----------------------------------------------------------------------------
  e.push_back({piece("clavinet-funk", "clavinet: sixteenth-note funk riff, muted and accented", 104,
                     4, 701),
               [](Piece& p, Rng& r) {
                 const Key k{52, kDorian};
                 Track& t = p.add("solo", 8, 64);
                 const std::string pat = "X.xgx.Xgx.xX.gx.";
                 for (int bar = 0; bar < p.bars(); ++bar) {
                   const int c = bar % 4 == 3 ? 3 : 0;
                   const std::vector<int> v = k.voicing(c, 52, 4);
                   for (int i = 0; i < 16; ++i) {
                     const char ch = pat[static_cast<std::size_t>(i)];
                     if (ch == '.') continue;
                     const int vel = ch == 'X' ? 108 : (ch == 'x' ? 86 : 50);
                     const int key = v[static_cast<std::size_t>((i * 3 + bar) % 4)];
                     add_note(t, bar * 4.0 + i * 0.25, ch == 'g' ? 0.06 : 0.16, key,
                              vel + r.jitter(6));
                     if (ch == 'X') add_note(t, bar * 4.0 + i * 0.25, 0.16, key + 12, vel - 20);
                   }
                 }
               }});
  e.push_back(
      {piece("lead-guitar", "overdriven lead guitar solo: pentatonic licks over a minor groove",
             112, 4, 702),
       solo(30, {57, kDorian}, {0, 3, 0, 4}, {57, 86, 0.6, 0.85, 0.08, 96, 12, 2, 2, true})});
  e.push_back(
      {piece("steel-guitar", "steel-string acoustic guitar strumming open chords", 100, 4, 703),
       [](Piece& p, Rng& r) {
         const Key k{55, kMajor};
         strum(p.add("solo", 26, 64), r, k, {0, 4, 5, 3}, p, 43, 6, "D-D-.UDU-UDU.U--", 96);
       }});
  e.push_back(
      {piece("marimba", "marimba: rolling arpeggios and a melody, four mallets", 112, 4, 704),
       [](Piece& p, Rng& r) {
         const Key k{60, kMajor};
         const Progression prog{0, 5, 3, 4};
         Track& t = p.add("solo", 13, 64);
         arpeggio(t, r, k, prog, p, 48, {0, 1, 2, 3, 4, 3, 2, 1}, 0.5, 72, 0.9);
         melody(t, r, k, prog, p, {74, 93, 0.3, 0.6, 0.1, 90, 8, 2, 2});
       }});
  e.push_back(
      {piece("harp", "harp: glissando-like arpeggios over the whole range, from C2", 76, 4, 705),
       [](Piece& p, Rng& r) {
         const Key k{48, kMajor};
         const Progression prog{0, 3, 5, 4};
         Track& t = p.add("solo", 47, 64);
         for (int bar = 0; bar < p.bars(); ++bar) {
           const std::vector<int> v = k.voicing(chord_at(prog, bar), 36, 10);
           for (int i = 0; i < 10; ++i) {
             add_note(t, bar * 4.0 + i * 0.2, 3.0 - i * 0.2, v[static_cast<std::size_t>(i)],
                      66 + 3 * i + r.jitter(5));
           }
           add_note(t, bar * 4.0 + 2.5, 1.0, v[9] + 12, 70);
         }
       }});
  for (Entry& x : e) {
    Rng r(x.piece.seed);
    x.compose(x.piece, r);
  }
  return e;
}

// ---------------------------------------------------------------------------------------------
// Standard MIDI File writer.
class Chunk {
 public:
  void byte(int b) { data_.push_back(static_cast<unsigned char>(b)); }
  void vlq(std::uint32_t v) {  // variable-length quantity: 7 bits per byte, high bit = more
    unsigned char buf[5];
    int n = 0;
    buf[n++] = static_cast<unsigned char>(v & 0x7f);
    while ((v >>= 7) != 0) buf[n++] = static_cast<unsigned char>((v & 0x7f) | 0x80);
    while (n > 0) data_.push_back(buf[--n]);
  }
  void event(std::int64_t tick, std::initializer_list<int> bytes) {
    vlq(static_cast<std::uint32_t>(tick - last_tick_));
    last_tick_ = tick;
    for (int b : bytes) byte(b);
  }
  void meta(std::int64_t tick, int type, const std::string& payload) {
    vlq(static_cast<std::uint32_t>(tick - last_tick_));
    last_tick_ = tick;
    byte(0xff);
    byte(type);
    vlq(static_cast<std::uint32_t>(payload.size()));
    for (char c : payload) byte(static_cast<unsigned char>(c));
  }
  void write(std::ofstream& out) const {
    const std::uint32_t n = static_cast<std::uint32_t>(data_.size());
    out.write("MTrk", 4);
    const char len[4] = {static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                         static_cast<char>(n >> 8), static_cast<char>(n)};
    out.write(len, 4);
    out.write(reinterpret_cast<const char*>(data_.data()), static_cast<std::streamsize>(n));
  }

 private:
  std::vector<unsigned char> data_;
  std::int64_t last_tick_ = 0;
};

struct Timing {
  double ticks_per_s;
  std::int64_t lead_in;
  std::int64_t content_end;
  std::int64_t end;
  std::int64_t tick(double beat) const { return lead_in + std::llround(beat * kPpq); }
};

Timing timing(const Piece& p) {
  const double tps = p.bpm / 60.0 * kPpq;
  return Timing{tps, std::llround(kLeadInS * tps), std::llround((kLeadInS + kContentS) * tps),
                std::llround((kLeadInS + kContentS + kTailS) * tps)};
}

Chunk conductor(const Piece& p, const Timing& tm) {
  Chunk c;
  c.meta(0, 0x03, p.name);
  c.meta(0, 0x58, std::string{static_cast<char>(p.beats_per_bar), 2, 24, 8});  // n/4
  const std::uint32_t us_per_quarter = static_cast<std::uint32_t>(std::lround(60e6 / p.bpm));
  c.meta(0, 0x51,
         std::string{static_cast<char>(us_per_quarter >> 16),
                     static_cast<char>(us_per_quarter >> 8), static_cast<char>(us_per_quarter)});
  c.meta(tm.end, 0x2f, "");
  return c;
}

Chunk track_chunk(const Track& t, const Timing& tm) {
  struct Ev {
    std::int64_t tick;
    int order;  // note offs before note ons at the same tick
    int status;
    int key;
    int vel;
  };
  std::vector<Note> notes = t.notes;
  std::sort(notes.begin(), notes.end(), [](const Note& a, const Note& b) {
    return a.beat < b.beat || (a.beat == b.beat && a.key < b.key);
  });
  std::vector<Ev> evs;
  for (std::size_t i = 0; i < notes.size(); ++i) {
    const Note& n = notes[i];
    const std::int64_t on = tm.tick(n.beat);
    if (on >= tm.content_end) continue;
    std::int64_t off = std::min(tm.tick(n.beat + n.len_beats), tm.content_end);
    // A later note on the same key ends this one first (the channel has one voice per key).
    for (std::size_t j = i + 1; j < notes.size(); ++j) {
      if (notes[j].key == n.key && tm.tick(notes[j].beat) > on) {
        off = std::min(off, tm.tick(notes[j].beat));
        break;
      }
    }
    if (off <= on) off = on + 1;
    evs.push_back(Ev{on, 1, 0x90 | t.channel, n.key, n.vel});
    evs.push_back(Ev{off, 0, 0x80 | t.channel, n.key, 64});
  }
  std::stable_sort(evs.begin(), evs.end(), [](const Ev& a, const Ev& b) {
    return a.tick < b.tick || (a.tick == b.tick && a.order < b.order);
  });
  Chunk c;
  c.meta(0, 0x03, t.stem);
  if (t.gm_program != 0) c.event(0, {0xc0 | t.channel, t.gm_program - 1});
  c.event(0, {0xb0 | t.channel, 7, t.volume});
  c.event(0, {0xb0 | t.channel, 10, t.pan});
  for (const Ev& e : evs) c.event(e.tick, {e.status, e.key, e.vel});
  c.meta(tm.end, 0x2f, "");
  return c;
}

void write_smf(const std::filesystem::path& path, const std::vector<Chunk>& chunks) {
  std::ofstream out(path, std::ios::binary);
  const int ntracks = static_cast<int>(chunks.size());
  const char header[14] = {'M',
                           'T',
                           'h',
                           'd',
                           0,
                           0,
                           0,
                           6,
                           0,
                           1,
                           static_cast<char>(ntracks >> 8),
                           static_cast<char>(ntracks),
                           static_cast<char>(kPpq >> 8),
                           static_cast<char>(kPpq & 0xff)};
  out.write(header, sizeof header);
  for (const Chunk& c : chunks) c.write(out);
  out.close();
  if (!out) {
    throw std::runtime_error("cannot write '" + path.string() + "'");
  }
}

// ---------------------------------------------------------------------------------------------
// --keys: ground truth for rz-analyze's key detection (tests/cli/key_fluidsynth.sh). Each of the
// 24 keys in three renderings, two beats per chord at 100 BPM, triads over the root an octave
// down: renderings 0 and 1 (the tuning set) play I-IV-V-I (major) or i-iv-V-i (minor, with
// harmonic minor's raised leading tone in V) in close position from C3 and from C4; rendering 2
// (the validation set) other instruments and another progression (key_pieces()). Instruments
// rotate over the keys, so each plays major and minor keys on several tonics. The description
// column says "tune" or "validate" first.
struct KeyPiece {
  Piece piece;
  int tonic;  // pitch class, 0 = C
  bool minor;
};

std::vector<KeyPiece> key_pieces() {
  // GM 1-based. Renderings 0 and 1 (tuning): Acoustic Grand Piano, Electric Piano 1, Church
  // Organ, Acoustic Guitar (nylon), String Ensemble 1, Brass Section. Rendering 2 (validation):
  // Harpsichord, Vibraphone, Accordion, Choir Aahs, Flute, Pad 2 (warm), playing I-vi-IV-V (major)
  // or i-VI-iv-V (minor) in first inversion.
  const int tuning_programs[] = {1, 5, 20, 25, 49, 62};
  const int validation_programs[] = {7, 12, 22, 53, 74, 90};
  std::vector<KeyPiece> out;
  for (int variant = 0; variant < 3; ++variant) {
    const int* programs = variant < 2 ? tuning_programs : validation_programs;
    for (int minor = 0; minor < 2; ++minor) {
      for (int tonic = 0; tonic < 12; ++tonic) {
        const int program = programs[(tonic + 5 * minor + 3 * variant) % 6];
        const std::string name = "key-" + std::to_string(tonic) + (minor ? "-minor-" : "-major-") +
                                 std::to_string(variant);
        KeyPiece kp{
            piece(name,
                  std::string(variant < 2 ? "tune" : "validate") + " GM program " +
                      std::to_string(program),
                  100, 4, static_cast<std::uint32_t>(1000 + tonic + 12 * minor + 24 * variant)),
            tonic, minor != 0};
        Track& t = kp.piece.add("chords", program, 64);
        const int third = minor ? 3 : 4;
        std::vector<std::vector<int>> chords = {
            {0, third, 7}, {5, 5 + third, 12}, {7, 11, 14}, {0, third, 7}};
        if (variant == 2) {  // I-vi-IV-V / i-VI-iv-V, first inversion (the third lowest)
          const std::vector<int> six =
              minor ? std::vector<int>{8, 12, 15} : std::vector<int>{9, 12, 16};
          chords = {
              {third, 7, 12}, {six[1], six[2], six[0] + 12}, {5 + third, 12, 17}, {11, 14, 19}};
        }
        const int base = (variant == 1 ? 60 : 48) + tonic;  // tonic from C4 or from C3
        for (double beat = 0; beat + 2 <= kp.piece.total_beats(); beat += 2) {
          const auto& c = chords[static_cast<size_t>(std::lround(beat / 2)) % chords.size()];
          for (int iv : c) add_note(t, beat, 1.9, base + iv, 80);
          // The root an octave under the chord's lowest tone.
          const int root = variant == 2
                               ? std::vector<int>{0, minor ? 8 : 9, 5,
                                                  7}[static_cast<size_t>(std::lround(beat / 2)) % 4]
                               : c[0];
          add_note(t, beat, 1.9, base + root - 12, 90);
        }
        out.push_back(std::move(kp));
      }
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Write the clean-corpus compositions as Standard MIDI Files (mix and one file per "
      "stem) and list them as TSV on stdout.\n\nExample:\n  rz-make-midi -o midi/ > "
      "pieces.tsv\n  fluidsynth -ni -R 0 -C 0 -F violin.wav FluidR3_GM.sf2 "
      "midi/violin.mid",
      kProg};
  std::string out_dir;
  app.add_option("-o,--output", out_dir, "directory to write the .mid files into (created)")
      ->required();
  bool keys = false;
  app.add_flag("--keys", keys,
               "write the key-detection pieces instead (24 keys x 3 renderings; TSV: piece, "
               "tonic pitch class, mode, description)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  try {
    std::filesystem::create_directories(out_dir);
    if (keys) {
      for (const KeyPiece& k : key_pieces()) {
        const Timing tm = timing(k.piece);
        write_smf(std::filesystem::path(out_dir) / (k.piece.name + ".mid"),
                  {conductor(k.piece, tm), track_chunk(k.piece.tracks[0], tm)});
        std::printf("%s\t%d\t%s\t%s\n", k.piece.name.c_str(), k.tonic, k.minor ? "minor" : "major",
                    k.piece.description.c_str());
      }
      if (std::fflush(stdout) != 0) throw std::runtime_error("cannot write to stdout");
      return 0;
    }
    for (const Entry& x : catalogue()) {
      const Piece& p = x.piece;
      const Timing tm = timing(p);
      std::vector<Chunk> all{conductor(p, tm)};
      std::string stems;
      for (const Track& t : p.tracks) {
        all.push_back(track_chunk(t, tm));
        write_smf(std::filesystem::path(out_dir) / (p.name + "." + t.stem + ".mid"),
                  {conductor(p, tm), track_chunk(t, tm)});
        stems += (stems.empty() ? "" : ",") + t.stem;
      }
      write_smf(std::filesystem::path(out_dir) / (p.name + ".mid"), all);
      std::printf("%s\t%s\t%s\n", p.name.c_str(), stems.c_str(), p.description.c_str());
    }
    if (std::fflush(stdout) != 0) throw std::runtime_error("cannot write to stdout");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", kProg, e.what());
    return 1;
  }
  return 0;
}
