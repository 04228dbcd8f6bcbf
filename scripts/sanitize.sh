#!/usr/bin/env bash
# The sanitizer job: builds everything with AddressSanitizer and UBSan (RZ_SANITIZE: no recovery,
# float-cast-overflow included) into build-asan/ and runs the unit and CLI tests with it. The CLI
# tests run the sanitized tools, so a report in a tool is a stderr line its test refuses. Left out
# (named in the ctest call below): the fault-injection suite, whose timing the sanitizers' slowdown
# only stretches, and the model tests' parity runs, minutes of libtorch arithmetic under ASan for
# code the unit and CLI tests already exercise.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build="$top/build-asan"
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Release -DRZ_SANITIZE=ON -DRZ_WERROR=ON "$@" >&2
cmake --build "$build" -j"$(nproc)" >&2
cd "$build"
# halt_on_error: the first report ends the process; detect_leaks: a leak is a finding too.
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:abort_on_error=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
ctest --output-on-failure -j"$(nproc)" -L 'unit|cli' -E 'faults:'
ctest --output-on-failure -j"$(nproc)" -L model -R 'checkpoint|bag|TINY|refuses'
