// Quantities as people type them, SoX-style: "48k", "44.1kHz", "80Hz", "-3dB", "+3", "0:30",
// "1:02.5", "20s", "250ms". Every command-line option that takes a rate, a frequency, a gain or a
// time accepts these forms (a plain number keeps meaning the option's own unit), and --help
// shows them. Written here because CLI11 has no unit suffixes beyond its AsNumberWithUnit, which
// knows neither "k" as a thousand nor clock times.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

namespace rz::cli {

// The unit an option's plain number is in. kHz and kDb also take kilo ("48k", "1.5kHz") resp.
// "dB"; kSeconds and kMilliseconds take "s", "ms", "min" and clock times "M:SS", "H:MM:SS".
enum class Unit { kNone, kHz, kDb, kDbPerS, kLufs, kDbtp, kDbfs, kSeconds, kMilliseconds };

// The unit named by a parameter table's unit string ("Hz", "dB", "s", "ms", "dB/s", "LUFS",
// "dBTP", "dBFS"); kNone for "" and anything else.
Unit unit_from_name(const std::string& name);

// `text` in `unit`, or nullopt when it is not a number in a form that unit takes ("80Hz" is not
// a gain, "3dB" not a time).
std::optional<double> parse_quantity(const std::string& text, Unit unit);

// How --help shows the option's value: "HZ", "DB", "SECONDS", ...
std::string unit_type_name(Unit unit);

// The forms the option takes, for --help: "48k, 80Hz, 1.5kHz", "-3dB, +3", "20s, 0:30, 250ms".
std::string unit_examples(Unit unit);

// Makes `option` take `unit`'s forms: a CLI11 transform that rewrites the value to a plain
// number in the option's unit before CLI11 converts it (an integer option gets a whole number,
// and "44.1k" for one is 44100), with the type name and forms in --help. A value in no form of
// the unit fails the parse with "bad <flag> '<value>': use a <kind> such as <examples>".
CLI::Option* with_unit(CLI::Option* option, Unit unit);

// The same for an option that takes NAME=VALUE (rz-mix --gain vocals=+3dB): VALUE in `unit`.
CLI::Option* with_named_unit(CLI::Option* option, Unit unit);

// The footer line the --help of a tool with such options ends with, naming the forms.
std::string units_help();

// True when an option of `app` was given a unit by with_unit() or with_named_unit().
bool takes_units(const CLI::App& app);

}  // namespace rz::cli
