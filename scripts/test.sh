#!/usr/bin/env bash
# Installs what the tests need, builds, and runs the test jobs CI runs:
#   0. the aarch64 check (scripts/check-aarch64.sh: the library's sources compiled for 64-bit ARM
#      with the cross compiler, about a minute of CPU), first: it is short and needs no build;
#   1. the whole test suite (unit, model, cli; gpu, which skips without a CUDA device) with ctest
#      in build/ (arguments go to this ctest);
#   2. the sanitizer job: an ASan + UBSan build in build-asan/ running the unit and CLI tests
#      (scripts/sanitize.sh);
#   3. a short run of every fuzz harness (scripts/fuzz.sh: its own clang build in build-fuzz/,
#      20 s each).
# --quick runs job 1 only. Real recordings are read from ../shared (override with RZ_SHARED_DIR);
# tests needing them skip visibly when it is absent.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
quick=false
if [ "${1:-}" = "--quick" ]; then
  quick=true
  shift
fi
# job NAME COMMAND...: runs one step and says on stderr how long it took, so that a CI log shows
# where its time went (the whole must stay well inside CI's 90 minutes).
job() {
  local name=$1 start=$SECONDS
  shift
  "$@" || return  # (set -e does not reach inside a function called after ||)
  echo "test.sh: $name took $((SECONDS - start)) s (total $SECONDS s)" >&2
}
job install-deps "$top/scripts/install-deps.sh" --test
$quick || job aarch64 "$top/scripts/check-aarch64.sh"
job build "$top/scripts/build.sh" -DRZ_WERROR=ON
run_tests() { (cd "$top/build" && ctest --output-on-failure -j"$(nproc)" "$@"); }
job tests run_tests "$@"
$quick && exit 0
job sanitizer "$top/scripts/sanitize.sh"
job fuzz "$top/scripts/fuzz.sh" --time 20
