// Command-line options derived from a parameter table (rz/params.hpp): one option per field that
// names a flag, bound to the field, with the table's meaning as its help and the struct's value
// as the shown default, taking its unit's forms ("80Hz", "-3dB", "250ms": rz/cli/units.hpp).
// Ranges are checked by the settings' own validate(), naming the flag.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <variant>

#include "rz/cli/units.hpp"
#include "rz/params.hpp"

namespace rz::cli {

template <class S>
void add_options(CLI::App& app, S& settings, const params::Fields<S>& fields) {
  for (const auto& f : fields) {
    if (!f.flag) continue;
    std::visit(
        [&](auto member) {
          with_unit(app.add_option(f.flag, settings.*member, f.meaning)->capture_default_str(),
                    unit_from_name(f.unit));
        },
        f.member);
  }
}

}  // namespace rz::cli
