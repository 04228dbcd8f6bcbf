// rz-enhance's before/after comparison of an attempt, streamed over aligned input and output
// blocks, and what an attempt records.
#pragma once

#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "rz/dsp/denoise.hpp"
#include "rz/enhance/enhance.hpp"
#include "rz/enhance/measure.hpp"
#include "rz/metrics/loudness.hpp"

namespace rz::enhance {

// Before/after comparison, streamed over aligned input and output blocks.
class Comparer {
 public:
  Comparer(int ch, double rate)
      : ch_(ch),
        rate_(rate),
        in_ltas_(ch, kLtasFft),
        out_ltas_(ch, kLtasFft),
        in_loud_(ch, static_cast<int>(rate), metrics::LoudnessMeter::kIntegrated),
        out_loud_(ch, static_cast<int>(rate), metrics::LoudnessMeter::kIntegrated) {}

  void add(const float* in, const float* out, size_t frames) {
    for (size_t i = 0; i < frames * ch_; ++i)
      if (std::abs(out[i]) > 1.0f && std::abs(in[i]) <= 1.0f) ++new_overs_;
    samples_ += static_cast<int64_t>(frames * ch_);
    in_ltas_.add(in, frames);
    out_ltas_.add(out, frames);
    in_loud_.add(in, frames);
    out_loud_.add(out, frames);
  }

  // `flux`: the noise reducer's gain flux (0 without one). `noise`: the noise spectrum the noise
  // reducer worked from (null without one). Sets *score (the worst margin) and *failures (the
  // limits exceeded) and returns the comparison's record.
  nlohmann::json finish(const std::pair<double, double>& band, double noise_band_share, double flux,
                        const dsp::NoiseProfile* noise, double* score,
                        std::vector<std::string>* failures, const RollbackLimits& lim) const;

 private:
  // Noise mean square at LTAS bin k (of an n-point LTAS) from the median noise density around it.
  double local_noise_floor(const dsp::NoiseProfile& p, int k, int n) const;

  int ch_;
  double rate_;
  Ltas in_ltas_, out_ltas_;
  metrics::LoudnessMeter in_loud_, out_loud_;
  int64_t new_overs_ = 0;
  int64_t samples_ = 0;
};

// One processing attempt of a stem, as recorded in its "attempts".
struct Attempt {
  double intensity = 1;
  nlohmann::json effective;   // the parameters the blocks ran with
  nlohmann::json comparison;  // Comparer::finish
  double score = 0;
  std::vector<std::string> failures;
  nlohmann::json extra;  // per-block statistics
};
nlohmann::json attempt_json(const Attempt& a);

}  // namespace rz::enhance
