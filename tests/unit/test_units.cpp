// SoX-style quantities on the command line (rz/cli/units.hpp).
#include <catch2/catch.hpp>

#include "rz/cli/units.hpp"

using rz::cli::parse_quantity;
using rz::cli::Unit;

namespace {

// Values are exact decimal scalings of what was typed; a double product may differ from the
// written result in its last bit.
constexpr double kRelTolerance = 1e-12;

void is(const char* text, Unit unit, double want) {
  INFO(text);
  const auto got = parse_quantity(text, unit);
  REQUIRE(got.has_value());
  CHECK(*got == Approx(want).epsilon(kRelTolerance).margin(kRelTolerance));
}

void refused(const char* text, Unit unit) {
  INFO(text);
  CHECK_FALSE(parse_quantity(text, unit).has_value());
}

}  // namespace

TEST_CASE("units: rates and frequencies take k, Hz and kHz", "[units]") {
  is("48000", Unit::kHz, 48000);
  is("48k", Unit::kHz, 48000);
  is("44.1k", Unit::kHz, 44100);
  is("44.1kHz", Unit::kHz, 44100);
  is("80Hz", Unit::kHz, 80);
  is("80hz", Unit::kHz, 80);
  is("1.5KHZ", Unit::kHz, 1500);
  is(" 80 Hz ", Unit::kHz, 80);
  refused("80dB", Unit::kHz);
  refused("k", Unit::kHz);
  refused("48kk", Unit::kHz);
  refused("0x10", Unit::kHz);
  refused("inf", Unit::kHz);
  refused("nan", Unit::kHz);
  refused("", Unit::kHz);
  refused("1:00", Unit::kHz);
}

TEST_CASE("units: gains and levels take dB, a sign, LUFS and dBTP", "[units]") {
  is("-3dB", Unit::kDb, -3);
  is("+3", Unit::kDb, 3);
  is("+3dB", Unit::kDb, 3);
  is("-1.5e0dB", Unit::kDb, -1.5);
  is("-14LUFS", Unit::kLufs, -14);
  is("-14", Unit::kLufs, -14);
  is("-1dBTP", Unit::kDbtp, -1);
  is("-1dB", Unit::kDbtp, -1);
  is("-90dBFS", Unit::kDbfs, -90);
  is("3dB/s", Unit::kDbPerS, 3);
  refused("-3Hz", Unit::kDb);
  refused("-14dBTP", Unit::kLufs);
  refused("3dB/s", Unit::kDb);
  refused("--3", Unit::kDb);
}

TEST_CASE("units: times take s, ms, min and clock times", "[units]") {
  is("20", Unit::kSeconds, 20);
  is("20s", Unit::kSeconds, 20);
  is("250ms", Unit::kSeconds, 0.25);
  is("2min", Unit::kSeconds, 120);
  is("0:30", Unit::kSeconds, 30);
  is("1:02.5", Unit::kSeconds, 62.5);
  is("1:00:00", Unit::kSeconds, 3600);
  is("5", Unit::kMilliseconds, 5);
  is("5ms", Unit::kMilliseconds, 5);
  is("0.005s", Unit::kMilliseconds, 5);
  is("0:01", Unit::kMilliseconds, 1000);
  refused("1:60", Unit::kSeconds);    // seconds below 60 after a colon
  refused("1.5:00", Unit::kSeconds);  // only the last field has a fraction
  refused("-0:30", Unit::kSeconds);
  refused("1:2:3:4", Unit::kSeconds);
  refused(":30", Unit::kSeconds);
  refused("20dB", Unit::kSeconds);
  refused("20h", Unit::kSeconds);
}

TEST_CASE("units: an option with a unit rewrites its value before CLI11 converts it", "[units]") {
  CLI::App app;
  int rate = 0;
  double gain = 0, time = 0;
  std::vector<std::string> gains;
  rz::cli::with_unit(app.add_option("--rate", rate), Unit::kHz);
  rz::cli::with_unit(app.add_option("--gain", gain), Unit::kDb);
  rz::cli::with_unit(app.add_option("--time", time), Unit::kSeconds);
  rz::cli::with_named_unit(app.add_option("--stem-gain", gains), Unit::kDb);
  app.parse("--rate 44.1k --gain -3dB --time 0:30 --stem-gain vocals=+3dB --stem-gain x=-1.5dB",
            false);
  CHECK(rate == 44100);
  CHECK(gain == -3);
  CHECK(time == 30);
  CHECK(gains == std::vector<std::string>{"vocals=3", "x=-1.5"});
  CHECK(rz::cli::takes_units(app));
  CLI::App bad;
  rz::cli::with_unit(bad.add_option("--rate", rate), Unit::kHz);
  CHECK_THROWS_AS(bad.parse("--rate 48x", false), CLI::ValidationError);
  CLI::App none;
  none.add_option("--n", rate);
  CHECK_FALSE(rz::cli::takes_units(none));
}
