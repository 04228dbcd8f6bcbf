// libebur128 wrapper; maxima are sampled on the 100 ms grid BS.1770 uses for its blocks.
#include "rz/metrics/loudness.hpp"

#include <ebur128.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "rz/error.hpp"

namespace rz::metrics {

namespace {
constexpr double kNegInf = -std::numeric_limits<double>::infinity();
}

double to_db(double a) { return a > 0 ? 20.0 * std::log10(a) : kNegInf; }
double power_to_db(double p) { return p > 0 ? 10.0 * std::log10(p) : kNegInf; }

double json_level(double db) {
  if (std::isnan(db)) return 0.0;
  if (std::isinf(db)) return db < 0 ? -200.0 : 200.0;
  return db;
}

struct LoudnessMeter::State {
  ebur128_state* st = nullptr;
  ~State() {
    if (st) ebur128_destroy(&st);
  }
};

LoudnessMeter::LoudnessMeter(int channels, int sample_rate_hz, unsigned features)
    : channels_(channels),
      sample_rate_hz_(sample_rate_hz),
      features_(features),
      state_(new State),
      frames_to_boundary_(static_cast<size_t>(sample_rate_hz / 10)),
      max_momentary_(kNegInf),
      max_short_term_(kNegInf) {
  int mode = EBUR128_MODE_M;
  if (features & kIntegrated) mode |= EBUR128_MODE_I;
  if (features & kRange) mode |= EBUR128_MODE_LRA;
  if (features & kMaxima) mode |= EBUR128_MODE_S;
  if (features & kSamplePeak) mode |= EBUR128_MODE_SAMPLE_PEAK;
  if (features & kTruePeak) mode |= EBUR128_MODE_TRUE_PEAK;
  state_->st = ebur128_init(static_cast<unsigned>(channels),
                            static_cast<unsigned long>(sample_rate_hz), mode);
  if (!state_->st) {
    throw Error("cannot measure loudness", std::to_string(sample_rate_hz) + " Hz",
                "libebur128 refused these settings");
  }
  if (channels == 1) ebur128_set_channel(state_->st, 0, EBUR128_DUAL_MONO);
}

LoudnessMeter::~LoudnessMeter() {
  if (job_.valid()) job_.wait();
}

void LoudnessMeter::wait() const {
  if (job_.valid()) job_.get();
}

void LoudnessMeter::add_async(const float* x, size_t frames) {
  wait();
  async_block_.assign(x, x + frames * static_cast<size_t>(channels_));
  job_ = std::async(std::launch::async, [this, frames] { add_now(async_block_.data(), frames); });
}

void LoudnessMeter::add(const float* x, size_t frames) {
  wait();
  add_now(x, frames);
}

void LoudnessMeter::add_now(const float* x, size_t frames) {
  if (!(features_ & kMaxima)) {
    ebur128_add_frames_float(state_->st, x, frames);
    return;
  }
  // Feed up to each 100 ms boundary, then read the momentary and short-term windows there.
  while (frames > 0) {
    const size_t n = std::min(frames, frames_to_boundary_);
    ebur128_add_frames_float(state_->st, x, n);
    x += n * static_cast<size_t>(channels_);
    frames -= n;
    frames_to_boundary_ -= n;
    if (frames_to_boundary_ == 0) {
      frames_to_boundary_ = static_cast<size_t>(sample_rate_hz_ / 10);
      double m = kNegInf, s = kNegInf;
      if (ebur128_loudness_momentary(state_->st, &m) == EBUR128_SUCCESS) {
        max_momentary_ = std::max(max_momentary_, m);
      }
      if (ebur128_loudness_shortterm(state_->st, &s) == EBUR128_SUCCESS) {
        max_short_term_ = std::max(max_short_term_, s);
      }
    }
  }
}

double LoudnessMeter::integrated_lufs() const {
  wait();
  double l = kNegInf;
  if (ebur128_loudness_global(state_->st, &l) != EBUR128_SUCCESS) return kNegInf;
  return l;
}

double LoudnessMeter::range_lu() const {
  wait();
  double l = 0;
  if (ebur128_loudness_range(state_->st, &l) != EBUR128_SUCCESS) return 0;
  return l;
}

double LoudnessMeter::true_peak_dbtp() const {
  wait();
  double peak = 0;
  for (int c = 0; c < channels_; ++c) {
    double p = 0;
    if (ebur128_true_peak(state_->st, static_cast<unsigned>(c), &p) == EBUR128_SUCCESS) {
      peak = std::max(peak, p);
    }
  }
  return to_db(peak);
}

double LoudnessMeter::sample_peak_dbfs() const {
  wait();
  double peak = 0;
  for (int c = 0; c < channels_; ++c) {
    double p = 0;
    if (ebur128_sample_peak(state_->st, static_cast<unsigned>(c), &p) == EBUR128_SUCCESS) {
      peak = std::max(peak, p);
    }
  }
  return to_db(peak);
}

}  // namespace rz::metrics
