// rz-master -o -: the master on stdout, with the checks a pipe needs.
#pragma once

#include <string>

#include "rz/cli/tool.hpp"
#include "rz/master/master.hpp"

namespace rz::cli {

// Masters `in` onto stdout in `format` ("" = wav) with master::master_to_fd, its warnings, notes
// and (-v) details on stderr. UsageError with --json (both want stdout) or when stdout is a
// terminal. The result has no output path to print.
Result master_to_stdout(const Context& ctx, const stems::StemDir& in, const std::string& format,
                        const master::Options& options);

}  // namespace rz::cli
