// Decibel conversions, order statistics and the confidence ramp shared by the dsp blocks and the
// metrics layer.
//
// Floor policy (one for the whole library): the conversions to dB have no hidden floor. A level of
// nothing (0, or a negative power) reads -infinity, as the level of silence is; a caller that
// needs a finite number passes its floor explicitly (the two-argument forms: the input is raised
// to the floor before the logarithm, so the result is never below 10 log10(floor) resp.
// 20 log10(floor)), as a named constant at the call site with the reason beside it. JSON has no
// infinities: levels written to a manifest or report go through json_level(), which writes
// -infinity as kJsonSilenceDb (-200).
//
// All functions work in double; a block that computes a level in float keeps its own formula (the
// float logarithm rounds differently).
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>

namespace rz::dsp {

// What json_level() writes for -infinity (and, negated, for +infinity).
constexpr double kJsonSilenceDb = -200.0;

// 20 log10(a): amplitude ratio to dB; -inf for a <= 0 (and for NaN).
inline double amplitude_to_db(double a) {
  return a > 0 ? 20.0 * std::log10(a) : -std::numeric_limits<double>::infinity();
}
// 10 log10(p): power ratio to dB; -inf for p <= 0 (and for NaN).
inline double power_to_db(double p) {
  return p > 0 ? 10.0 * std::log10(p) : -std::numeric_limits<double>::infinity();
}
// 10 log10(max(p, floor_power)), floor_power > 0: never below 10 log10(floor_power).
inline double power_to_db(double p, double floor_power) {
  return 10.0 * std::log10(std::max(p, floor_power));
}
// dB to amplitude ratio, 10^(db / 20), and to power ratio, 10^(db / 10).
inline double db_to_amplitude(double db) { return std::pow(10.0, db / 20.0); }
inline double db_to_power(double db) { return std::pow(10.0, db / 10.0); }

// A level in dB for JSON: -inf -> -200, +inf -> +200, NaN -> 0, finite values unchanged.
inline double json_level(double db) {
  if (std::isnan(db)) return 0.0;
  if (std::isinf(db)) return db < 0 ? kJsonSilenceDb : -kJsonSilenceDb;
  return db;
}

// Confidence ramp: 0 at `zero`, 1 at `full`, linear between and clamped outside (either
// direction: full < zero gives a falling ramp). The decisions' evidence (issue 13) is scaled by it.
inline double ramp(double x, double zero, double full) {
  return std::clamp((x - zero) / (full - zero), 0.0, 1.0);
}

// Median of [first, last) (not empty), reordering the range (std::nth_element): the element of
// rank size / 2, i.e. the upper median for an even count (no averaging).
template <typename It>
auto median_in_place(It first, It last) {
  const auto mid = first + (last - first) / 2;
  std::nth_element(first, mid, last);
  return *mid;
}

}  // namespace rz::dsp
