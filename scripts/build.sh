#!/usr/bin/env bash
# Configures and builds rz (Release) into build/ at the top of the source tree.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cmake -S "$top" -B "$top/build" -DCMAKE_BUILD_TYPE=Release "$@" >&2
cmake --build "$top/build" -j"$(nproc)" >&2
