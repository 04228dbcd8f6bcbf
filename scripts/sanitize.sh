#!/usr/bin/env bash
# The sanitizer job: builds everything with AddressSanitizer and UBSan (RZ_SANITIZE: no recovery,
# float-cast-overflow included) into build-asan/ and runs the tests with it. The CLI tests run the
# sanitized tools, so a report in a tool is a stderr line its test refuses. Left out, to keep CI
# well inside its time (ASan runs libtorch 3-5x slower): the fault-injection suite (its kill
# points are timing, which the slowdown only stretches; the release job runs it), the full-size
# model's separations (parity and Ctrl-C: minutes of libtorch arithmetic per run, for code the
# tiny models' runs go through as well), and the RoFormer parity cases on the whole 7 s input
# and TINY-BS's 2 s case (2 minutes under ASan; the 2 s Mel cases run the same demix and the crowd
# chain test runs TINY-BS through rz-separate), the batch tests but one (tiny4's parity at --batch 8
# runs the batched path; batch invariance is arithmetic, 100 s under ASan), and the two CLI suites
# of 3.5 minutes each that feed rz-separate broken checkpoints and cache entries (the release job
# runs them; the fuzz job runs the checkpoint, pickle and bag readers under ASan and UBSan), and the
# three measuring tests of rz-transform (attack slopes over a grid of ratios, the held-out drum
# loop, a band's stems against its mix: 46 s of Rubber Band arithmetic in the release job, in a
# library ASan does not instrument, over the same stretch() the other transform tests and
# cli.transform run here). Speed floors in unit tests are skipped (RZ_CHECK_SPEED).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build="$top/build-asan"
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Release -DRZ_SANITIZE=ON -DRZ_WERROR=ON "$@" >&2
cmake --build "$build" -j"$(nproc)" >&2
cd "$build"
# halt_on_error: the first report ends the process; detect_leaks: a leak is a finding too.
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:abort_on_error=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
ctest --output-on-failure -j"$(nproc)" -L 'unit|cli|model' \
  -E 'faults:|FULL-model separation|matches demucs on full|matches demucs on bag|RoFormer parity: tiny_([a-z]+_80srock$|bs_)|tiny6_80srock_ov025_seg3 with --batch|same stems for any --batch|refuses broken checkpoints|damaged or hostile cache entry|transform: (attacks stay sharp|a real drum loop|a band.s stems)'
