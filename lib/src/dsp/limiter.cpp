// True-peak detector, look-ahead limiter and TPDF dither.
#include "rz/dsp/limiter.hpp"

#include <algorithm>
#include <cmath>

#include "rz/audio/pcm.hpp"
#include "rz/dsp/fft.hpp"
#include "rz/dsp/units.hpp"

namespace rz::dsp {

TruePeakDetector::TruePeakDetector(int channels)
    : channels_(channels),
      coeffs_(kOversample * kTapsPerPhase),
      history_(static_cast<size_t>(channels) * 2 * kTapsPerPhase, 0.0f) {
  // Prototype low-pass at the original Nyquist for the 4x rate, Kaiser beta 8: the interpolated
  // points reproduce the band-limited waveform well enough to find inter-sample overs (the limiter
  // keeps a safety margin and the master stage verifies with libebur128's meter).
  const int total = kOversample * kTapsPerPhase;
  const double beta = 8.0, center = total / 2.0;  // phase 0 = the samples, delayed 8
  for (int i = 0; i < total; ++i) {
    const double t = (i - center) / kOversample;
    const double sinc = t == 0 ? 1.0 : std::sin(M_PI * t) / (M_PI * t);
    const double r = (i - center) / (total / 2.0);
    const double w = kaiser_window_at(r, beta);
    // Polyphase split: phase p uses taps i = p + kOversample * j.
    coeffs_[(i % kOversample) * kTapsPerPhase + i / kOversample] = static_cast<float>(sinc * w);
  }
}

float TruePeakDetector::push(const float* frame) {
  float peak = 0.0f;
  const int n = kTapsPerPhase;
  for (int c = 0; c < channels_; ++c) {
    float* h = &history_[static_cast<size_t>(c) * 2 * n];
    h[pos_] = frame[c];
    h[pos_ + n] = frame[c];
    const float* window = h + pos_ + 1;  // oldest..newest, contiguous
    // The sample 8 frames back (the filter centre) and the 3 points between it and its successor.
    peak = std::max(peak, std::fabs(window[n / 2 - 1]));
    for (int p = 1; p < kOversample; ++p) {
      const float* k = &coeffs_[static_cast<size_t>(p) * n];
      float acc = 0.0f;
      for (int j = 0; j < n; ++j) acc += k[n - 1 - j] * window[j];
      peak = std::max(peak, std::fabs(acc));
    }
  }
  pos_ = (pos_ + 1) % n;
  return peak;
}

TruePeakLimiter::TruePeakLimiter(int channels, int sample_rate_hz, const LimiterSettings& s)
    : channels_(channels),
      ceiling_(db_to_amplitude(s.ceiling_dbtp)),
      lookahead_(std::max<size_t>(1, static_cast<size_t>(s.lookahead_ms * 1e-3 * sample_rate_hz))),
      hold_(lookahead_ + 2 * TruePeakDetector::latency()),
      latency_(TruePeakDetector::latency() + lookahead_ - 1 + TruePeakDetector::latency()),
      release_coeff_(std::exp(-1.0 / (std::max(1e-3, s.release_ms * 1e-3) * sample_rate_hz))),
      detector_(channels),
      average_ring_(lookahead_, 1.0f),
      average_sum_(static_cast<double>(lookahead_)),
      delay_((latency_ + 1) * static_cast<size_t>(channels), 0.0f) {}

void TruePeakLimiter::push_frame(const float* frame, std::vector<float>& out) {
  // 1. Required gain for the detector's (delayed) frame.
  const float peak = detector_.push(frame);
  const float required = peak > ceiling_ ? static_cast<float>(ceiling_ / peak) : 1.0f;
  // 2. Sliding minimum over hold_ frames (monotonic queue).
  while (!min_queue_.empty() && min_queue_.back().second >= required) min_queue_.pop_back();
  min_queue_.emplace_back(index_, required);
  while (min_queue_.front().first <= index_ - static_cast<int64_t>(hold_)) min_queue_.pop_front();
  const double held = min_queue_.front().second;
  // 3. Exponential release towards the held gain, never above it.
  released_ = std::min(held, release_coeff_ * released_ + (1 - release_coeff_) * held);
  // 4. Moving average over the look-ahead: ramps into each minimum without exceeding it.
  average_sum_ += released_ - average_ring_[average_pos_];
  average_ring_[average_pos_] = static_cast<float>(released_);
  average_pos_ = (average_pos_ + 1) % lookahead_;
  if (average_pos_ == 0) {  // re-sum once per cycle so rounding cannot drift
    average_sum_ = 0;
    for (float g : average_ring_) average_sum_ += g;
  }
  const float gain = static_cast<float>(std::min(held, average_sum_ / lookahead_));
  // 5. Delay the audio by latency_ frames and apply.
  const size_t ch = static_cast<size_t>(channels_);
  const size_t slots = latency_ + 1;
  float* slot = &delay_[delay_pos_ * ch];
  std::copy(frame, frame + ch, slot);
  const size_t oldest = (delay_pos_ + 1) % slots;
  delay_pos_ = oldest;
  if (index_ >= static_cast<int64_t>(latency_)) {
    const float* src = &delay_[oldest * ch];
    for (size_t c = 0; c < ch; ++c) out.push_back(src[c] * gain);
    if (gain < 1.0f) ++limited_frames_;
    min_gain_ = std::min(min_gain_, gain);
  }
  ++index_;
}

void TruePeakLimiter::process(const float* in, size_t frames, std::vector<float>& out) {
  out.reserve(out.size() + frames * static_cast<size_t>(channels_));
  for (size_t i = 0; i < frames; ++i) push_frame(in + i * channels_, out);
}

void TruePeakLimiter::flush(std::vector<float>& out) {
  std::vector<float> silence(static_cast<size_t>(channels_), 0.0f);
  for (size_t i = 0; i < latency_; ++i) push_frame(silence.data(), out);
}

double TruePeakLimiter::max_reduction_db() const {
  return min_gain_ < 1.0f ? -20.0 * std::log10(min_gain_) : 0.0;
}

TpdfDither::TpdfDither(int bits, uint64_t seed, bool enabled)
    : bits_(bits), enabled_(enabled), state_(seed ^ 0x9E3779B97F4A7C15ull) {}

double TpdfDither::uniform() {
  // splitmix64: small, fast, reproducible across platforms.
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * (1.0 / 9007199254740992.0);
}

void TpdfDither::quantise(const float* in, size_t samples, int32_t* out, float* decoded) {
  const double scale = audio::pcm_scale(bits_);
  const double to_float = 1.0 / (scale * std::ldexp(1.0, 32 - bits_));
  for (size_t i = 0; i < samples; ++i) {
    // TPDF: difference of two uniforms, +/-1 LSB peak, decorrelates the error from the signal.
    const double d = enabled_ ? uniform() - uniform() : 0.0;
    out[i] = audio::pcm_left_justified(in[i] * scale + d, bits_);
    decoded[i] = static_cast<float>(out[i] * to_float);
  }
}

}  // namespace rz::dsp
