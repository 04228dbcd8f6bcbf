// Comparison of an estimate with a reference: SDR, SI-SDR and log-spectral distance, streaming.
//
// Definitions (x: reference, y: estimate, all channels stacked, sums over the aligned length):
//   sdr_db    = 10 log10( sum x^2 / sum (x - y)^2 )                  (signal-to-distortion ratio)
//   si_sdr_db = 10 log10( |a x|^2 / |a x - y|^2 ),  a = <y,x> / <x,x> (scale-invariant SDR)
//   lsd_db    = mean over STFT frames (2048, hop 512, of the channel mean) of
//               sqrt( mean over bins of (10 log10 (P_x + e) / (P_y + e))^2 ), e = 1e-10, counting
//               only frames where the reference is not silent.
// Alignment: the caller trims both to the shorter length (no delay search).
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>

namespace rz::metrics {

struct Comparison {
  int64_t frames = 0;
  double sdr_db = 0;
  double si_sdr_db = 0;
  double lsd_db = 0;
  nlohmann::json to_json() const;
};

class Comparator {
 public:
  explicit Comparator(int channels);
  ~Comparator();
  Comparator(Comparator&&) noexcept;
  Comparator& operator=(Comparator&&) noexcept;
  void add(const float* reference, const float* estimate, size_t frames);
  Comparison finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rz::metrics
