// Key and mode from a chromagram, correlated with published key profiles.
//
// Written here because no Debian library does it: aubio has no key estimation, and the libraries
// that have one (Essentia, libKeyFinder, Vamp plugins) are not packaged for Debian 12 as
// libraries a C++ program links.
//
// Method: mono input, Hann frames of the power of two nearest 0.18 s (8192 at 44.1 and 48 kHz: 5.4
// and 5.9 Hz bins) every half frame. Bins from 65 Hz (C2) to 2.1 kHz (C7) add their amplitude to
// the pitch class of the nearest equal-tempered semitone (A4 = 440 Hz). Each frame's chroma is
// divided by its largest class (a loud chord weighs like a soft one) and summed; frames more than
// 60 dB under the loudest frame's energy are skipped (silence). The sum is correlated (Pearson)
// with the 24 rotations of Temperley's major and minor profiles (Temperley 1999); the best is the
// key.
// Chosen on the tuning material (tests/unit/test_analyze.cpp's additive timbres and the first
// two fluidsynth renderings of tests/cli/key_fluidsynth.sh): the Krumhansl-Kessler profiles
// (Krumhansl 1990) read 7 of those 48 minor progressions as the parallel major (their thirds
// weigh 5.38 against 4.38, so doubled roots and fifths outvote them); Temperley's and Albrecht and
// Shanahan's (2013) read all 48 and all 96 additive ones; Temperley's are the older and simpler.
// confidence = (best - second) / best of those correlations, clamped 0..1: 0 when two keys fit
// alike.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "rz/dsp/stft.hpp"

namespace rz::analyze {

struct Key {
  int tonic = -1;  // pitch class, 0 = C; -1 when nothing was heard
  bool minor = false;
  double correlation = 0;
  double confidence = 0;
  int runner_up_tonic = -1;
  bool runner_up_minor = false;
  std::vector<double> chroma;  // 12 classes from C, normalised to sum 1

  std::string name() const;     // "A minor", "Eb major"; "" when tonic < 0
  std::string camelot() const;  // "8A", "5B"; "" when tonic < 0
  std::string runner_up_name() const;
};

// "C", "Db", ... as major keys are spelled (minor: "C#", "G#", "Bb" ...).
std::string tonic_name(int pitch_class, bool minor);
std::string key_name(int pitch_class, bool minor);
// Camelot wheel code: C major 8B, A minor 8A; each step of a fifth up adds 1 (mod 12).
std::string camelot(int pitch_class, bool minor);

class KeyDetector {
 public:
  explicit KeyDetector(int sample_rate_hz);
  void push(const float* mono, size_t frames);
  Key finish();

 private:
  int rate_;
  dsp::StftAnalysis stft_;
  std::vector<int> bin_class_;               // per bin: pitch class, or -1 outside the range
  std::vector<std::vector<double>> frames_;  // per frame: normalised chroma (12)
  std::vector<double> energy_;               // per frame
  void on_frame();
};

}  // namespace rz::analyze
