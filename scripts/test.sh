#!/usr/bin/env bash
# Installs what the tests need, builds, and runs the whole test suite (unit, cli) with ctest, then
# a short run of every fuzz harness (scripts/fuzz.sh: its own clang build in build-fuzz/, 20 s
# each). Real recordings are read from ../shared (override with RZ_SHARED_DIR); tests needing them
# skip visibly when it is absent.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh" --test
"$top/scripts/build.sh" -DRZ_WERROR=ON
cd "$top/build"
ctest --output-on-failure -j"$(nproc)" "$@"
"$top/scripts/fuzz.sh" --time 20
