// The pictures of one stem of one version in rz-report, from one streamed pass: a spectrogram
// (log frequency, dB colour), a waveform overview and the short-term loudness curve, with the
// momentary loudness kept to pick the preview excerpt.
//
// Spectrogram: Hann frames of 2^k >= 46 ms (2048 at 44.1 kHz) every half frame, channels summed
// to mono; the power of each bin averaged over the frames that fall in each of `width` columns
// spanning the whole recording; rows spaced evenly in log frequency from kLowHz to
// min(kHighHz, Nyquist), each the mean power of the bins in its band (or the nearest bin where a
// band is narrower than a bin). Level in dB re a full-scale sine, kFloorDb (black) to 0 dB
// (pale yellow), heat_colour().
// Waveform: per column the minimum and maximum sample of the mono sum (dim) and its RMS (bright).
// Loudness: BS.1770 short-term (3 s) every kLoudnessStepS, momentary (400 ms) every 100 ms.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "rz/dsp/stft.hpp"
#include "rz/metrics/loudness.hpp"
#include "rz/reporting/image.hpp"

namespace rz::reporting {

inline constexpr double kLowHz = 30;
inline constexpr double kHighHz = 20000;
inline constexpr double kFloorDb = -100;
inline constexpr double kLoudnessStepS = 0.5;

class Overview {
 public:
  // `frames`: the length of the audio that will be pushed (the columns' time base).
  Overview(int channels, int sample_rate_hz, int64_t frames, int width);
  ~Overview();
  Overview(const Overview&) = delete;
  Overview& operator=(const Overview&) = delete;
  void push(const float* interleaved, size_t frames);
  void finish();

  Image spectrogram(int height) const;
  Image waveform(int height) const;
  double top_hz() const;  // the spectrogram's top row
  const std::vector<float>& short_term_lufs() const { return short_term_; }  // every 0.5 s
  const std::vector<float>& momentary_lufs() const { return momentary_; }    // every 100 ms

 private:
  int channels_, rate_, width_;
  int64_t frames_;
  int64_t pushed_ = 0;
  dsp::StftAnalysis stft_;
  std::vector<float> mono_;
  std::vector<double> power_;  // [column][bin]
  std::vector<int> count_;     // frames per column
  std::vector<float> wmin_, wmax_;
  std::vector<double> wsq_;
  std::vector<int64_t> wn_;
  metrics::LoudnessMeter meter_;
  std::vector<float> short_term_, momentary_;  // from meter_, by finish()
  void on_frame();
  int column_of(int64_t frame) const;
};

// Colour bar for the spectrogram's legend: `width` x `height`, kFloorDb on the left to 0 dB on
// the right.
Image legend_bar(int width, int height);

// Start (seconds) of the loudest `length_s` stretch of a momentary loudness series (100 ms steps):
// the window with the largest mean energy; 0 when the series is shorter.
double loudest_start_s(const std::vector<float>& momentary_lufs, double length_s);

}  // namespace rz::reporting
