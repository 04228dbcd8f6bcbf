// True-peak estimation (4x oversampling) and a look-ahead true-peak limiter.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

namespace rz::dsp {

// Estimates the peak of the band-limited signal between samples with a 4x polyphase
// interpolator (Kaiser-windowed sinc, 16 taps per phase). Output is delayed by latency() frames.
class TruePeakDetector {
 public:
  static constexpr int kOversample = 4;
  static constexpr int kTapsPerPhase = 16;
  explicit TruePeakDetector(int channels);
  // For each input frame returns, delayed by latency(), the largest absolute value over channels of
  // the sample and the interpolated points between it and the next sample.
  float push(const float* frame);
  static constexpr int latency() { return kTapsPerPhase / 2; }

 private:
  int channels_;
  std::vector<float> coeffs_;   // [phase][tap]
  std::vector<float> history_;  // per channel, 2 * kTapsPerPhase (doubled ring for contiguity)
  int pos_ = 0;
};

struct LimiterSettings {
  double ceiling_dbtp = -1.0;
  double lookahead_ms = 5.0;
  double release_ms = 80.0;
};

// Look-ahead limiter whose gain never lets an estimated true peak exceed the ceiling. The gain is a
// sliding minimum of the required gain, released exponentially and smoothed by a moving average as
// long as the look-ahead, so it reaches each peak's gain before the peak and without clicks.
class TruePeakLimiter {
 public:
  TruePeakLimiter(int channels, int sample_rate_hz, const LimiterSettings& settings);
  // Appends processed frames to `out` (latency() frames behind the input).
  void process(const float* in, size_t frames, std::vector<float>& out);
  // Pushes silence through to emit the last latency() frames.
  void flush(std::vector<float>& out);
  size_t latency() const { return latency_; }
  double max_reduction_db() const;  // deepest gain reduction so far (positive dB)
  int64_t limited_frames() const { return limited_frames_; }

 private:
  void push_frame(const float* frame, std::vector<float>& out);
  int channels_;
  double ceiling_;
  size_t lookahead_;
  size_t hold_;  // sliding-minimum window: look-ahead plus the interpolator's reach on each side
  size_t latency_;
  double release_coeff_;
  TruePeakDetector detector_;
  std::deque<std::pair<int64_t, float>> min_queue_;  // (index, required gain), increasing gains
  std::vector<float> average_ring_;                  // last lookahead_ released gains
  size_t average_pos_ = 0;
  double average_sum_ = 0;
  double released_ = 1.0;
  std::vector<float> delay_;  // latency_ frames of audio
  size_t delay_pos_ = 0;
  int64_t index_ = 0;
  float min_gain_ = 1.0f;
  int64_t limited_frames_ = 0;
};

// TPDF dither and quantisation to `bits`-bit integers, seeded for reproducible output.
class TpdfDither {
 public:
  TpdfDither(int bits, uint64_t seed, bool enabled = true);
  // Quantises interleaved floats (full scale +/-1.0) to left-justified int32 (libsndfile's int
  // API) and writes the value a reader will decode into `decoded` (same length) for measuring.
  void quantise(const float* in, size_t samples, int32_t* out, float* decoded);
  int bits() const { return bits_; }

 private:
  double uniform();
  int bits_;
  bool enabled_;
  uint64_t state_;
};

}  // namespace rz::dsp
