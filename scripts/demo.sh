#!/usr/bin/env bash
# Installs, builds, makes the bundled example (a synthesised concert recorded by a phone in the
# crowd) and runs the main job on it: ingest | mix | master, then measures before and after.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
"$top/scripts/build.sh"
bin="$top/build/bin"
out="$top/examples/out"
mkdir -p "$out"
echo "demo: synthesising the example recording" >&2
"$bin/rz-make-example" --duration 30 --clean-dir "$out/clean" "$out/concert-phone.wav" >/dev/null
# Without separation models (rz-separate) the pipeline runs on the whole mix as one stem.
"$bin/rz-ingest" --force "$out/concert-phone.wav" \
  | "$bin/rz-mix" --force \
  | "$bin/rz-master" --force -o "$out/concert-master.flac" >/dev/null
echo "demo: phone recording as ingested:" >&2
"$bin/rz-metrics" "$out/concert-phone.ingest" >&2
echo "demo: mastered result:" >&2
"$bin/rz-metrics" "$out/concert-master.flac" \
  --require 'integrated_lufs>=-14.2' --require 'integrated_lufs<=-13.8' --require 'true_peak_dbtp<=-1' >&2
echo "$out/concert-master.flac"
