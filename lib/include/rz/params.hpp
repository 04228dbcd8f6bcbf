// One declaration per parameter. A settings struct lists its fields once, each with its JSON key,
// member, unit, valid range, meaning and (when the command line sets it) its flag. Validation,
// JSON out and in, command-line options (rz/cli/params.hpp) and the parameter listings are
// derived from that list, so a range or a unit is written in one place.
#pragma once

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <variant>
#include <vector>

namespace rz::params {

template <class S>
struct Field {
  const char* key;  // JSON and manifest name, e.g. "tonal_max_reduction_db"
  std::variant<double S::*, int S::*> member;
  const char* unit;  // "dB", "Hz", "s", "ms", "dB/s", or "" for a ratio or a count
  double min, max;   // the valid range
  const char* meaning;
  const char* flag = nullptr;  // the command-line option that sets it ("--tonal-max-cut")
  bool min_exclusive = false;  // (min, max] instead of [min, max]
};

template <class S>
using Fields = std::vector<Field<S>>;

// GCC 12 warns that a settings struct without int members may be read uninitialized through the
// variant's int alternative, which such a struct's table never holds (a false positive).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
template <class S>
double get(const S& s, const Field<S>& f) {
  return std::visit([&s](auto m) { return static_cast<double>(s.*m); }, f.member);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

template <class S>
bool is_integer(const Field<S>& f) {
  return std::holds_alternative<int S::*>(f.member);
}

// "use 0..60 dB", "use more than 1, up to 100", "use 1..16".
std::string range_text(double min, double max, bool min_exclusive, const std::string& unit);

// Throws UsageError "bad <what> '<value>': <range_text>" (an integer's value without decimals).
[[noreturn]] void throw_out_of_range(const std::string& what, double value, double min, double max,
                                     bool min_exclusive, const std::string& unit,
                                     bool integer = false);

// Throws UsageError "bad <what> '<value>': use <min>..<max> <unit>" unless min <= value <= max
// (NaN fails): a range check for a value that is not a field (a rate, an intensity).
void check_range(const std::string& what, double value, double min, double max,
                 const std::string& unit = "");

// min <= v <= max (min < v with min_exclusive); false for NaN.
inline bool in_range(double v, double min, double max, bool min_exclusive = false) {
  return (min_exclusive ? v > min : v >= min) && v <= max;
}

// How a failing field is named: by its flag where it has one (the settings came from the command
// line), else by `prefix` and its key (they came from a settings file or the library).
enum class Naming { kFlag, kKey };

// Checks every field of `s` against its range (NaN fails). Throws UsageError naming the first
// field outside, as `naming` says ("bad --tonal-max-cut '70': use 0..60 dB" or
// "bad dereverb tonal_max_reduction_db '70': use 0..60 dB" with prefix "dereverb ").
template <class S>
void check(const S& s, const Fields<S>& fields, const std::string& prefix,
           Naming naming = Naming::kKey) {
  for (const auto& f : fields) {
    const double v = get(s, f);
    if (in_range(v, f.min, f.max, f.min_exclusive)) continue;
    const std::string what =
        naming == Naming::kFlag && f.flag ? std::string(f.flag) : prefix + f.key;
    throw_out_of_range(what, v, f.min, f.max, f.min_exclusive, f.unit, is_integer(f));
  }
}

// {key: value} of every field, in the order of `fields` (JSON objects sort their keys).
template <class S>
nlohmann::json to_json(const S& s, const Fields<S>& fields) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& f : fields) std::visit([&](auto m) { j[f.key] = s.*m; }, f.member);
  return j;
}

// Sets each field whose key `j` holds (a JSON object; other keys are left to the caller). Throws
// UsageError naming `subject` and the key for a value that is not a number, or not a whole
// number for an integer field. Ranges are check()'s.
template <class S>
void from_json(S& s, const Fields<S>& fields, const nlohmann::json& j, const std::string& subject);

// The field of `fields` with `key`, or nullptr.
template <class S>
const Field<S>* find(const Fields<S>& fields, const std::string& key) {
  for (const auto& f : fields)
    if (key == f.key) return &f;
  return nullptr;
}

// Throws UsageError "bad value '<subject>': must be a number" (or "a whole number").
[[noreturn]] void throw_not_a_number(const std::string& subject, bool integer);

template <class S>
void from_json(S& s, const Fields<S>& fields, const nlohmann::json& j, const std::string& subject) {
  for (const auto& f : fields) {
    if (!j.is_object() || !j.contains(f.key)) continue;
    const nlohmann::json& v = j.at(f.key);
    if (!v.is_number()) throw_not_a_number(subject + "." + f.key, is_integer(f));
    if (auto m = std::get_if<double S::*>(&f.member)) {
      s.** m = v.get<double>();
    } else {
      const double d = v.get<double>();
      if (!(std::floor(d) == d && std::fabs(d) < 1e9))
        throw_not_a_number(subject + "." + f.key, true);
      s.*std::get<int S::*>(f.member) = static_cast<int>(d);
    }
  }
}

}  // namespace rz::params
