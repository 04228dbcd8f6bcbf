// rz-master -o - (rz/cli/master.hpp).
#include "rz/cli/master.hpp"

#include <unistd.h>

#include "rz/error.hpp"

namespace rz::cli {

Result master_to_stdout(const Context& ctx, const stems::StemDir& in, const std::string& format,
                        const master::Options& options) {
  if (ctx.json()) throw UsageError("--json and -o - both want stdout: choose one");
  if (isatty(STDOUT_FILENO))
    throw UsageError("-o - writes audio to stdout, which is a terminal: pipe it or redirect it");
  const auto rep = master::master_to_fd(in, STDOUT_FILENO, format.empty() ? "wav" : format, options,
                                        ctx.provenance(), ctx.progress());
  for (const auto& w : rep.warnings) ctx.warn(w);
  for (const auto& n : rep.notes) ctx.note(n);
  for (const auto& d : rep.details) ctx.info(d);
  return Result{};
}

}  // namespace rz::cli
