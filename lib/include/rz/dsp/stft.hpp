// One streaming short-time Fourier transform for every block: multichannel windowed analysis of
// interleaved input blocks of any size, and weighted overlap-add synthesis.
//
// Framing (StftAnalysis): frames of fft_size samples per channel every `hop` input frames. Each
// channel keeps the last fft_size samples; a frame is complete when `hop` new input frames have
// arrived. With Start::kPadded (the processing blocks) the history starts as fft_size - hop
// zeros, so frame m (m = 0, 1, ...) holds input frames [m hop + hop - fft_size, m hop + hop) and
// completes with input frame m hop + hop - 1: the first frame overlaps the silence before the
// start. With Start::kAtZero (the analysis passes) frame m holds [m hop, m hop + fft_size): the
// first completes with input frame fft_size - 1, and flush() zero-pads a last partial frame.
// Each complete frame is multiplied by the analysis window and transformed by RealFft::forward
// (n/2+1 bins, unnormalised) per channel; the callback sees all channels' spectra. The frames do
// not depend on how the input is cut into blocks.
//
// Synthesis (StftSynthesis): per channel, RealFft::inverse (scaled 1/n) of a frame's spectrum,
// times the synthesis window and a constant `scale`, overlap-added into an accumulator of
// fft_size samples; each frame finishes the oldest `hop` samples, which are written out and
// shifted away. With the periodic Hann window for both and scale = 1 / sum_j w(j hop + r)^2 (1.5
// at hop n/4: ola_scale()), an unchanged spectrum reproduces the input up to float rounding.
//
// Latency: a block that analyses with Start::kPadded and synthesises every frame as it completes
// outputs, with the hop finished by frame m, the input frames [m hop + hop - fft_size, m hop +
// hop - fft_size + hop): the output lags the input by fft_size - hop frames, and by exactly
// fft_size frames when the finished hop is written out one hop later (the blocks emit it while
// the next hop is collected, as rz::dsp::Processor requires constant latency).
#pragma once

#include <complex>
#include <cstddef>
#include <cstring>
#include <vector>

#include "rz/dsp/fft.hpp"

namespace rz::dsp {

class StftAnalysis {
 public:
  enum class Start { kPadded, kAtZero };
  // Throws Error for an odd or tiny fft_size; hop must be in 1..fft_size and window.size() ==
  // fft_size (UsageError otherwise).
  StftAnalysis(int channels, int fft_size, int hop, std::vector<float> window,
               Start start = Start::kPadded);

  // Appends `frames` interleaved frames of channels() channels; at each complete frame computes
  // every channel's spectrum and calls on_frame() (spectrum(c) and samples(c) are valid during
  // the call; on_frame may modify the spectra).
  template <typename Fn>
  void push(const float* x, size_t frames, Fn&& on_frame) {
    const size_t ch = static_cast<size_t>(channels_);
    for (size_t i = 0; i < frames; ++i) {
      for (size_t c = 0; c < ch; ++c) ring_[c * n_ + pos_] = x[i * ch + c];
      if (++pos_ == static_cast<size_t>(n_)) {
        transform();
        on_frame();
        shift();
      }
    }
  }
  // Start::kAtZero only: zero-pads an incomplete last frame (if any input arrived since the last
  // frame) and hands it to on_frame(). The stream is finished afterwards.
  template <typename Fn>
  void flush(Fn&& on_frame) {
    if (pos_ == (frames_ > 0 ? first_pos_ : start_pos_)) return;  // nothing new since the last
    for (int c = 0; c < channels_; ++c)
      std::memset(&ring_[static_cast<size_t>(c) * n_ + pos_], 0, sizeof(float) * (n_ - pos_));
    pos_ = static_cast<size_t>(n_);
    transform();
    on_frame();
    shift();
  }

  std::complex<float>* spectrum(int c) { return &spectra_[static_cast<size_t>(c) * bins()]; }
  // The current frame's samples of channel c, oldest first, before the window.
  const float* samples(int c) const { return &ring_[static_cast<size_t>(c) * n_]; }
  const std::vector<float>& window() const { return window_; }
  int channels() const { return channels_; }
  int fft_size() const { return n_; }
  int hop() const { return hop_; }
  int bins() const { return n_ / 2 + 1; }
  // Frames completed so far.
  long long frames() const { return frames_; }

 private:
  void transform();  // windows and transforms every channel's frame
  void shift();      // drops the oldest hop
  int channels_;
  int n_;
  int hop_;
  RealFft fft_;
  std::vector<float> window_;
  std::vector<float> ring_;  // [channel][n]: the frame being collected
  size_t start_pos_;         // where the first input is written: n - hop (kPadded) or 0
  size_t first_pos_;         // where new input is written after a frame: n - hop
  size_t pos_;               // next write position in each channel's ring
  long long frames_ = 0;
  std::vector<float> frame_;                  // windowed scratch
  std::vector<std::complex<float>> spectra_;  // [channel][bins]
};

class StftSynthesis {
 public:
  StftSynthesis(int channels, int fft_size, int hop, std::vector<float> window, float scale);

  // Overlap-adds channel c's frame from `spectrum` (n/2+1 bins) and writes that channel's hop
  // finished samples to out[j * stride], j = 0 .. hop - 1.
  void add(int c, const std::complex<float>* spectrum, float* out, size_t stride);
  // The constant sum_j window(j hop + r)^2 computed in double over one period (r = 0), as a float
  // reciprocal: the scale that makes analysis and synthesis with `window` an identity.
  static float ola_scale(const std::vector<float>& window, int hop);

 private:
  int n_;
  int hop_;
  RealFft fft_;
  std::vector<float> window_;
  float scale_;
  std::vector<float> acc_;  // [channel][n] overlap-add accumulator
  std::vector<float> frame_;
};

}  // namespace rz::dsp
