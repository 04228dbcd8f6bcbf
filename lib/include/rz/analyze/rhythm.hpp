// Tempo and beats: an onset-strength envelope (log-magnitude spectral flux), the tempo from its
// autocorrelation, and the beats by dynamic programming (Ellis 2007).
//
// Why not aubio's tracker: aubio 0.4.9 (Debian's) was measured first on click tracks at 60-200
// BPM (30 s each, 44.1 kHz): its tempo is quantised to whole frames of its 512-sample hop (120
// BPM reads 122.0, 150 reads 152.5: outside +-1 BPM), it halves 180-200 BPM, and its beats reach a
// beat F-measure of 0.09-0.79 against the clicks. aubio does the onsets and the pitch track
// (analyze/notes.hpp), where it meets the bars.
//
// Method:
// - Envelope: mono input, frames of the power of two nearest 4 hops (1024 at 44.1 and 48 kHz),
//   every hop of 5.8 ms (256 at 44.1 kHz), Hann window. 40 triangular mel bands from 30 Hz to
//   16 kHz (or Nyquist); per band, L = log(1 + kCompression a) of its amplitude a (1.0 for a
//   full-scale sine); the envelope is the mean over bands of the rise max(0, L_t - L_t-1).
// - Tempo: the envelope less its 1 s moving average; its autocorrelation r(lag), unbiased (divided
//   by the number of terms) and normalised by r(0). Each period P in [60/max_bpm, 60/min_bpm] is
//   scored by the comb mean of r(kP), k = 1..4. The best period P0 may sit on a multiple of the
//   beat (a click at 200 BPM repeats every 0.3, 0.6 and 0.9 s alike), so the fastest of P0/2,
//   P0/3, P0/4 and P0/6 inside the range whose r is at least kOctaveRatio r(P0) replaces it: an
//   off-beat eighth that is weaker than the beat (a hi-hat between kick and snare) stays below.
//   The period is refined to the parabola through r around its peak.
// - Metrical level: the autocorrelation cannot tell a back beat at 120 BPM (kick on one and three,
//   snare on two and four) from a beat at 60 with eighths between: both repeat every half note,
//   and a phone's low cut, reverb and crowd make the half notes the stronger (the demo's concerts
//   read half the tempo in 29 of 48 takes). The back beat shows in the spectrum: its beats
//   alternate between a low sound and a high one at the same overall strength, where an off-beat
//   eighth is simply weaker. Beats are tracked at P, 2P and P/2 (within the range). For each set,
//   the mean onset strengths of its beats are taken per beat class (the beat's number modulo 4)
//   in a low region (bands below 200 Hz), a high one (from 1500 Hz) and the whole envelope; per
//   envelope, c = (|m_even - m_odd| - (|m_0 - m_2| + |m_1 - m_3|) / 2) / (|m_even| + |m_odd|): the
//   contrast between even and odd beats, less what differs between the two halves of a bar of
//   four (read at twice the tempo, a back beat's snare falls on one eighth in four, and its
//   contrast repeats every four beats, not every two). alternation = max(c_low, c_high) -
//   max(0, c_whole). A region that is nearly silent at a set's beats counts as not alternating
//   (rhythm.cpp: kSilentShare). The level with the largest alternation wins if it reaches
//   kMinAlternation; else P stays. (The kick and snare pattern as the cue for the beat level:
//   Goto, "An audio-based real-time beat tracking system for music with or without drum-sounds",
//   JNMR 30(2), 2001.)
// - Beats: the envelope divided by its standard deviation; cumulative score C(t) = e(t) + max over
//   t - 2P <= s <= t - P/2 of C(s) - kTightness (log((t - s) / P))^2, the last beat the best C in
//   the final period, then back along the best predecessors. Leading and trailing beats whose
//   envelope lies under a tenth of the beats' median are dropped (silence before and after the
//   music), and each beat is placed at the parabola's peak through the envelope around it.
// - bpm: 60 over the least-squares slope of beat time on beat number (the mean period of the
//   beats; with fewer than 4 beats, 60 / P). confidence: r(P) of the envelope, 0..1 (1: the same
//   onsets repeat every period; a steady click track reads about 0.9, noise about 0).
#pragma once

#include <array>
#include <cstddef>
#include <utility>
#include <vector>

#include "rz/dsp/stft.hpp"

namespace rz::analyze {

struct TempoOptions {
  double min_bpm = 60;
  double max_bpm = 200;
};

struct Tempo {
  double bpm = 0;          // 0 when no beat was found (silence, too short)
  double confidence = 0;   // 0..1
  double alternation = 0;  // the chosen level's alternation (see above), at most 1
  std::vector<double> beats_s;
};

// Streams mono audio into the onset-strength envelope.
class OnsetEnvelope {
 public:
  explicit OnsetEnvelope(int sample_rate_hz);
  void push(const float* mono, size_t frames);
  void finish();
  const std::vector<float>& values() const { return env_; }
  // The same envelope over the bands of one region only (the mean rise of its bands): low, below
  // 200 Hz (kick, bass), and high, from 1500 Hz (a snare's noise, hi-hats).
  enum class Region { kLow, kHigh };
  const std::vector<float>& region_values(Region r) const {
    return region_env_[static_cast<size_t>(r)];
  }
  double frame_rate_hz() const { return static_cast<double>(rate_) / hop_; }
  // The time of envelope frame i (the centre of its analysis window), seconds.
  double time_s(double i) const;

 private:
  int rate_;
  int hop_;
  dsp::StftAnalysis stft_;
  std::vector<std::vector<std::pair<int, double>>> bands_;  // (bin, weight) per mel band
  double power_scale_ = 1;
  std::vector<float> last_;  // previous frame's band levels, dB
  std::vector<float> env_;
  std::vector<size_t> band_region_;    // Region of each band, or kNoRegion
  std::array<int, 2> region_bands_{};  // bands per region
  std::array<std::vector<float>, 2> region_env_;
  bool have_last_ = false;
  void on_frame();
};

// Tempo and beats of an envelope (see the header comment). Throws UsageError for a range that is
// empty or outside 20..400 BPM.
Tempo track_tempo(const OnsetEnvelope& envelope, const TempoOptions& options);

}  // namespace rz::analyze
