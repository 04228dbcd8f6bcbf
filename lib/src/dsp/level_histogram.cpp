// Fixed-bin level histogram (see level_histogram.hpp).
#include "rz/dsp/level_histogram.hpp"

#include <algorithm>
#include <cmath>

namespace rz::dsp {

namespace {
constexpr size_t kBins = static_cast<size_t>((LevelHistogram::kMaxDb - LevelHistogram::kMinDb) /
                                             LevelHistogram::kStepDb) + 1;
}  // namespace

LevelHistogram::LevelHistogram() : bins_(kBins, 0) {}

void LevelHistogram::add(double level_db) {
  const double x = std::clamp(level_db, kMinDb, kMaxDb);  // NaN never reaches here: inputs are checked
  const size_t bin = std::min(kBins - 1, static_cast<size_t>(std::lround((x - kMinDb) / kStepDb)));
  ++bins_[bin];
  ++count_;
}

double LevelHistogram::percentile(double p) const {
  if (count_ == 0) return kMinDb;
  const int64_t rank = std::min<int64_t>(
      count_ - 1, static_cast<int64_t>(std::clamp(p, 0.0, 1.0) * static_cast<double>(count_ - 1) + 0.5));
  int64_t seen = 0;
  for (size_t b = 0; b < kBins; ++b) {
    seen += bins_[b];
    if (seen > rank) return kMinDb + static_cast<double>(b) * kStepDb;
  }
  return kMaxDb;
}

}  // namespace rz::dsp
