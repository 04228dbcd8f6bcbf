// Command-line options derived from a parameter table (rz/params.hpp): one option per field that
// names a flag, bound to the field, with the table's meaning as its help and the struct's value
// as the shown default. Ranges are checked by the settings' own validate(), naming the flag.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <variant>

#include "rz/params.hpp"

namespace rz::cli {

template <class S>
void add_options(CLI::App& app, S& settings, const params::Fields<S>& fields) {
  for (const auto& f : fields) {
    if (!f.flag) continue;
    std::visit(
        [&](auto member) {
          app.add_option(f.flag, settings.*member, f.meaning)->capture_default_str();
        },
        f.member);
  }
}

}  // namespace rz::cli
