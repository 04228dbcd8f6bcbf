// Range messages of the parameter tables (params.hpp).
#include "rz/params.hpp"

#include <cstdio>

#include "rz/error.hpp"

namespace rz::params {

namespace {

// Shortest form: 0.995, 1000, 1e-06.
std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

}  // namespace

std::string range_text(double min, double max, bool min_exclusive, const std::string& unit) {
  const std::string u = unit.empty() ? "" : " " + unit;
  if (min_exclusive) return "use more than " + number(min) + ", up to " + number(max) + u;
  return "use " + number(min) + ".." + number(max) + u;
}

void throw_out_of_range(const std::string& what, double value, double min, double max,
                        bool min_exclusive, const std::string& unit, bool integer) {
  throw UsageError(describe("bad " + what, fixed(value, integer ? 0 : 2),
                            range_text(min, max, min_exclusive, unit)));
}

void check_range(const std::string& what, double value, double min, double max,
                 const std::string& unit) {
  if (!in_range(value, min, max)) throw_out_of_range(what, value, min, max, false, unit);
}

void throw_not_a_number(const std::string& subject, bool integer) {
  throw UsageError(
      describe("bad value", subject, integer ? "must be a whole number" : "must be a number"));
}

}  // namespace rz::params
