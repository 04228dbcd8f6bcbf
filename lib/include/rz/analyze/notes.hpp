// Onsets and the pitch track, over aubio (Debian's libaubio5, 0.4.9).
//
// Onsets: aubio's "mkl" detection function (modified Kullback-Leibler distance between successive
// spectra) with aubio's threshold (0.05) and silence gate (-70 dBFS) for it, but without the
// adaptive whitening and the log compression that aubio's defaults add; Hann frames of the power of
// two nearest 23 ms (1024 at 44.1 and 48 kHz) every 5.8 ms (256 at 44.1 kHz), at least 50 ms
// between onsets; aubio reports each onset with its own delay taken off. Chosen on the tuning
// material of tests/unit/test_analyze.cpp (notes, dense plucked strings, noise hits), where aubio's
// default "hfc" missed soft notes after loud ones (F 0.85-0.96 on the notes) and "mkl" with its
// defaults took the beating of ringing strings for onsets (F 0.73-0.74 on the plucked strings,
// precision 0.58-0.59): without whitening, every tuning excerpt reads F 0.965 or more (the notes
// lose a little: 0.965-1.0, from 1.0). Held out, measured after the choice (16 note seeds, 10 of
// plucked strings, 10 of hits): notes 0.98-1.0, plucked strings 0.95-0.99, hits 0.98-1.0.
// Sustained triads in equal temperament, whose partials beat, fall short (F 0.75-1.0, mean 0.88;
// with aubio's defaults 0.71-0.93, mean 0.81).
//
// Pitch: aubio's "yinfast" (YIN, de Cheveigne and Kawahara 2002, its difference function computed
// by FFT), frames of the power of two nearest 46 ms (2048 at 44.1 and 48 kHz) every 10 ms; a frame
// is voiced when aubio finds a period (the YIN minimum under aubio's default tolerance, 0.15) and
// it is louder than -60 dBFS. The track's time of frame i is the centre of its window. On the
// synthetic notes of tests/unit/test_analyze.cpp (1 to 7 harmonics, MIDI 40-84) every frame 60 ms
// or more inside a note is voiced and within 10 cents (median 0.05 cents); aubio's "yinfft", its
// default, put only 75-85 % of those frames within 10 cents (median 2-3 cents), and "mcomb"
// 80-93 %.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace rz::analyze {

class OnsetDetector {
 public:
  explicit OnsetDetector(int sample_rate_hz);
  ~OnsetDetector();
  OnsetDetector(const OnsetDetector&) = delete;
  OnsetDetector& operator=(const OnsetDetector&) = delete;
  void push(const float* mono, size_t frames);
  std::vector<double> finish();  // onset times, seconds

 private:
  struct State;
  std::unique_ptr<State> s_;
};

struct PitchTrack {
  double hop_s = 0;
  double first_s = 0;        // time of frame 0
  std::vector<float> f0_hz;  // 0 where unvoiced
  // Summary over voiced frames; 0 when none.
  double voiced_share = 0;
  double median_hz = 0;
  double low_hz = 0, high_hz = 0;  // 5th and 95th percentiles
};

class PitchTracker {
 public:
  explicit PitchTracker(int sample_rate_hz);
  ~PitchTracker();
  PitchTracker(const PitchTracker&) = delete;
  PitchTracker& operator=(const PitchTracker&) = delete;
  void push(const float* mono, size_t frames);
  PitchTrack finish();

 private:
  struct State;
  std::unique_ptr<State> s_;
};

// "A3", "C#5" for a frequency (A4 = 440 Hz); "" for 0.
std::string note_name(double hz);

}  // namespace rz::analyze
