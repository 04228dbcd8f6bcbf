// SoX-style quantities on the command line (rz/cli/units.hpp).
#include "rz/cli/units.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace rz::cli {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// A decimal number at the start of `s` ([+-]digits[.digits][e[+-]digits], no hex, no inf or
// nan): its value, and in `rest` what follows it.
std::optional<double> leading_number(const std::string& s, std::string& rest) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  const size_t digits_start = i;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  size_t digits = i - digits_start;
  if (i < s.size() && s[i] == '.') {
    ++i;
    const size_t frac_start = i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    digits += i - frac_start;
  }
  if (digits == 0) return std::nullopt;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    size_t j = i + 1;
    if (j < s.size() && (s[j] == '+' || s[j] == '-')) ++j;
    const size_t exp_start = j;
    while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
    if (j > exp_start) i = j;  // else the 'e' belongs to the suffix
  }
  const double v = std::strtod(s.substr(0, i).c_str(), nullptr);
  if (!std::isfinite(v)) return std::nullopt;
  rest = s.substr(i);
  return v;
}

// "H:MM:SS.frac" or "M:SS.frac" in seconds: every field a non-negative number, the ones after
// the first below 60, only the last with a fraction.
std::optional<double> clock_seconds(const std::string& s) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    const size_t colon = s.find(':', start);
    parts.push_back(s.substr(start, colon == std::string::npos ? colon : colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  if (parts.size() < 2 || parts.size() > 3) return std::nullopt;
  double total = 0;
  for (size_t k = 0; k < parts.size(); ++k) {
    const std::string& p = parts[k];
    const bool last = k + 1 == parts.size();
    if (p.empty() || !std::isdigit(static_cast<unsigned char>(p[0]))) return std::nullopt;
    std::string rest;
    const auto v = leading_number(p, rest);
    if (!v || !rest.empty()) return std::nullopt;
    if (!last && p.find_first_of(".eE") != std::string::npos) return std::nullopt;
    if (k > 0 && *v >= 60) return std::nullopt;
    total = total * 60 + *v;
  }
  return total;
}

// The suffixes each unit takes (lower case) and the factors that take them to the unit.
struct Form {
  Unit unit;
  const char* suffix;
  double factor;
};
constexpr Form kForms[] = {
    {Unit::kNone, "", 1},           {Unit::kHz, "", 1},
    {Unit::kHz, "hz", 1},           {Unit::kHz, "k", 1e3},
    {Unit::kHz, "khz", 1e3},        {Unit::kDb, "", 1},
    {Unit::kDb, "db", 1},           {Unit::kDbPerS, "", 1},
    {Unit::kDbPerS, "db/s", 1},     {Unit::kLufs, "", 1},
    {Unit::kLufs, "lufs", 1},       {Unit::kDbtp, "", 1},
    {Unit::kDbtp, "dbtp", 1},       {Unit::kDbtp, "db", 1},
    {Unit::kDbfs, "", 1},           {Unit::kDbfs, "dbfs", 1},
    {Unit::kDbfs, "db", 1},         {Unit::kSeconds, "", 1},
    {Unit::kSeconds, "s", 1},       {Unit::kSeconds, "ms", 1e-3},
    {Unit::kSeconds, "min", 60},    {Unit::kMilliseconds, "", 1},
    {Unit::kMilliseconds, "ms", 1}, {Unit::kMilliseconds, "s", 1e3},
};

// The factor that takes a value with `suffix` (lower case) to `unit`, or nullopt when that unit
// takes no such suffix.
std::optional<double> suffix_factor(const std::string& suffix, Unit unit) {
  for (const auto& f : kForms)
    if (f.unit == unit && suffix == f.suffix) return f.factor;
  return std::nullopt;
}

// Shortest exact form: "48000", "0.25", "-3".
std::string plain(double v) {
  if (std::floor(v) == v && std::fabs(v) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.0f", v);
    return buf;
  }
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

}  // namespace

Unit unit_from_name(const std::string& name) {
  if (name == "Hz") return Unit::kHz;
  if (name == "dB") return Unit::kDb;
  if (name == "dB/s") return Unit::kDbPerS;
  if (name == "LUFS") return Unit::kLufs;
  if (name == "dBTP") return Unit::kDbtp;
  if (name == "dBFS") return Unit::kDbfs;
  if (name == "s") return Unit::kSeconds;
  if (name == "ms") return Unit::kMilliseconds;
  return Unit::kNone;
}

std::optional<double> parse_quantity(const std::string& text, Unit unit) {
  std::string s = text;
  s.erase(std::remove_if(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c); }),
          s.end());
  if (s.find(':') != std::string::npos) {
    if (unit != Unit::kSeconds && unit != Unit::kMilliseconds) return std::nullopt;
    const auto secs = clock_seconds(s);
    if (!secs) return std::nullopt;
    return unit == Unit::kSeconds ? *secs : *secs * 1e3;
  }
  std::string rest;
  const auto v = leading_number(s, rest);
  if (!v) return std::nullopt;
  const auto factor = suffix_factor(lower(rest), unit);
  if (!factor) return std::nullopt;
  return *v * *factor;
}

std::string unit_type_name(Unit unit) {
  switch (unit) {
    case Unit::kHz:
      return "HZ";
    case Unit::kDb:
      return "DB";
    case Unit::kDbPerS:
      return "DB/S";
    case Unit::kLufs:
      return "LUFS";
    case Unit::kDbtp:
      return "DBTP";
    case Unit::kDbfs:
      return "DBFS";
    case Unit::kSeconds:
      return "SECONDS";
    case Unit::kMilliseconds:
      return "MS";
    case Unit::kNone:
      break;
  }
  return "NUMBER";
}

std::string unit_examples(Unit unit) {
  switch (unit) {
    case Unit::kHz:
      return "48k, 44.1kHz, 80Hz, 80";
    case Unit::kDb:
      return "-3dB, +3";
    case Unit::kDbPerS:
      return "3dB/s, 3";
    case Unit::kLufs:
      return "-14LUFS, -14";
    case Unit::kDbtp:
      return "-1dBTP, -1dB, -1";
    case Unit::kDbfs:
      return "-90dBFS, -90dB, -90";
    case Unit::kSeconds:
      return "20s, 0:30, 1:02.5, 250ms, 2min, 20";
    case Unit::kMilliseconds:
      return "5ms, 0.005s, 5";
    case Unit::kNone:
      break;
  }
  return "a number";
}

namespace {

// Rewrites `value` (or, with `named`, the part after its last '=') to a plain number in `unit`;
// CLI11's error text when it is in no form of that unit.
std::string to_plain(std::string& value, Unit unit, bool named) {
  const size_t eq = named ? value.rfind('=') : std::string::npos;
  if (named && eq == std::string::npos) return "";  // the library says what NAME=VALUE needs
  const size_t start = named ? eq + 1 : 0;
  const auto v = parse_quantity(value.substr(start), unit);
  if (!v)
    return "'" + value.substr(start) + "' is not in " + unit_type_name(unit) + " (use " +
           unit_examples(unit) + ")";
  value = value.substr(0, start) + plain(*v);
  return "";
}

}  // namespace

CLI::Option* with_unit(CLI::Option* option, Unit unit) {
  if (unit == Unit::kNone) return option;
  option->transform(
      CLI::Validator([unit](std::string& value) { return to_plain(value, unit, false); }, ""));
  option->type_name(unit_type_name(unit));
  return option;
}

CLI::Option* with_named_unit(CLI::Option* option, Unit unit) {
  option->transform(
      CLI::Validator([unit](std::string& value) { return to_plain(value, unit, true); }, ""));
  option->type_name("NAME=" + unit_type_name(unit));
  return option;
}

std::string units_help() {
  return "Values take units, SoX-style: HZ 48k, 44.1kHz, 80Hz; DB, DBTP, LUFS -3dB, +3, -1dBTP, "
         "-14LUFS; SECONDS 20s, 0:30, 1:02.5, 250ms, 2min; MS 5ms, 0.005s; a plain number is in "
         "the option's unit.\n";
}

}  // namespace rz::cli

namespace rz::cli {

bool takes_units(const CLI::App& app) {
  for (const CLI::Option* o : app.get_options()) {
    std::string type = o->get_type_name();
    if (type.rfind("NAME=", 0) == 0) type = type.substr(5);
    for (Unit u : {Unit::kHz, Unit::kDb, Unit::kDbPerS, Unit::kLufs, Unit::kDbtp, Unit::kDbfs,
                   Unit::kSeconds, Unit::kMilliseconds})
      if (type.rfind(unit_type_name(u), 0) == 0) return true;
  }
  return false;
}

}  // namespace rz::cli
