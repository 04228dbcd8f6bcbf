// rz-run's frame: each recording through pipeline::run, its directory named from -o, and what
// each stage changed told on stderr as the run goes.
#pragma once

#include "rz/cli/tool.hpp"
#include "rz/pipeline/pipeline.hpp"

namespace rz::cli {

// Runs `options` on every input of `ctx` (run_each_input: a failing recording is reported and the
// others still run). Output: -o with one input is the recording's directory; with several, or
// ending in '/', the directory that receives <name>.rz for each; default <input>.rz beside it.
// Separation is the rz-separate program installed beside the running one (pipeline::
// program_separator), skipped with the reason when it is absent. After each stage, on stderr:
// its warnings and notes (else its details), "<stage>: skipped: <why>" for a skipped one; with
// -v also its time and speed and every decision its history entry recorded.
Result run_recordings(const Context& ctx, const pipeline::Options& options);

}  // namespace rz::cli
