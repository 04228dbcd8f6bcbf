// Percentiles of levels (dB) in constant memory.
//
// The measuring passes keep a level per 10 ms window to set thresholds from the stem's own
// percentiles; stored as a list, that grows by 1.2 kB per second of audio per measure (13 MB for
// a 3-hour stem). Counts in fixed 0.01 dB bins take 100 kB whatever the length, and a percentile
// read from them is within half a bin (0.005 dB) of the order statistic of the values.
#pragma once

#include <cstdint>
#include <vector>

namespace rz::dsp {

class LevelHistogram {
 public:
  static constexpr double kMinDb = -200.0;  // levels below count here (the -200 of digital silence)
  static constexpr double kMaxDb = 50.0;    // and above, here
  static constexpr double kStepDb = 0.01;

  LevelHistogram();
  void add(double level_db);
  int64_t count() const { return count_; }
  // The value of nearest rank round(p * (count - 1)) in sorted order (p in 0..1), as the centre of
  // its bin; kMinDb when empty.
  double percentile(double p) const;

 private:
  std::vector<uint32_t> bins_;
  int64_t count_ = 0;
};

}  // namespace rz::dsp
