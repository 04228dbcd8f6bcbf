#!/usr/bin/env bash
# Installs what the tests need, builds, and runs the whole test suite (unit, cli) with ctest.
# Real recordings are read from ../shared (override with RZ_SHARED_DIR); tests needing them skip
# visibly when it is absent.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh" --test
"$top/scripts/build.sh" -DRZ_WERROR=ON
cd "$top/build"
ctest --output-on-failure -j"$(nproc)" "$@"
