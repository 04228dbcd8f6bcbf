#!/usr/bin/env bash
# Installs, builds what the demo runs (no tests: they build only in scripts/test.sh), makes the
# bundled example (a synthesised concert recorded by a phone in the crowd) and runs the main job on
# it with rz-run: ingest, restore, dereverb, separate (when the htdemucs weights are installed,
# rz-fetch-models; then rz-separate and its libtorch are built too), enhance, mix, master. Then the
# phone recording and the master side by side, the master checked, and how long it all took.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
start=$SECONDS
"$top/scripts/install-deps.sh"
source "$top/scripts/model-dir.sh"
targets=(rz-run rz-ingest rz-restore rz-dereverb rz-enhance rz-mix rz-master rz-metrics
  rz-make-example)
separate=()
if rz_model_present htdemucs_ft; then
  targets+=(rz-separate)
elif rz_model_present htdemucs; then
  targets+=(rz-separate)
  separate=(--model htdemucs)
fi
cmake -S "$top" -B "$top/build" -DCMAKE_BUILD_TYPE=Release >&2
cmake --build "$top/build" -j"$(nproc)" --target "${targets[@]}" >&2
built=$SECONDS
bin="$top/build/bin"
out="$top/examples/out"
mkdir -p "$out"
echo "demo: synthesising the example recording" >&2
"$bin/rz-make-example" --duration 30 --clean-dir "$out/clean" "$out/concert-phone.wav" >/dev/null
# Without the weights rz-run says in one line that it skips separation, and why.
"$bin/rz-run" --force "${separate[@]}" "$out/concert-phone.wav" -o "$out/concert-phone.rz" >/dev/null
master="$out/concert-phone.rz/concert-phone.flac"
echo "demo: the phone recording (A) and the master (B):" >&2
"$bin/rz-metrics" "$out/concert-phone.wav" "$master" >&2
"$bin/rz-metrics" "$master" \
  --require 'integrated_lufs>=-14.2' --require 'integrated_lufs<=-13.8' --require 'true_peak_dbtp<=-1' >/dev/null
echo "demo: done in $((SECONDS - start)) s ($((built - start)) s installing and building)" >&2
echo "$master"
