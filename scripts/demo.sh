#!/usr/bin/env bash
# Installs, builds, makes the bundled example (a synthesised concert recorded by a phone in the
# crowd) and runs the main job on it: ingest | restore | dereverb | separate | enhance | mix |
# master when the htdemucs weights are installed (scripts/fetch-models.sh), else the same without
# separate; then measures before and after.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
"$top/scripts/build.sh"
source "$top/scripts/model-dir.sh"
bin="$top/build/bin"
out="$top/examples/out"
mkdir -p "$out"
echo "demo: synthesising the example recording" >&2
"$bin/rz-make-example" --duration 30 --clean-dir "$out/clean" "$out/concert-phone.wav" >/dev/null
if rz_model_present htdemucs; then
  echo "demo: separating with htdemucs (from $(rz_model_dir)); on a CPU this takes a while" >&2
  "$bin/rz-ingest" --force "$out/concert-phone.wav" \
    | "$bin/rz-restore" --force \
    | "$bin/rz-dereverb" --force \
    | "$bin/rz-separate" --force \
    | "$bin/rz-enhance" --force \
    | "$bin/rz-mix" --force \
    | "$bin/rz-master" --force -o "$out/concert-master.flac" >/dev/null
else
  echo "demo: skipping separation: the htdemucs weights are not in $(rz_model_dir)" \
    "(get them with scripts/fetch-models.sh); mastering the whole mix as one stem" >&2
  "$bin/rz-ingest" --force "$out/concert-phone.wav" \
    | "$bin/rz-restore" --force \
    | "$bin/rz-dereverb" --force \
    | "$bin/rz-enhance" --force \
    | "$bin/rz-mix" --force \
    | "$bin/rz-master" --force -o "$out/concert-master.flac" >/dev/null
fi
echo "demo: phone recording as ingested:" >&2
"$bin/rz-metrics" "$out/concert-phone.ingest" >&2
echo "demo: mastered result:" >&2
"$bin/rz-metrics" "$out/concert-master.flac" \
  --require 'integrated_lufs>=-14.2' --require 'integrated_lufs<=-13.8' --require 'true_peak_dbtp<=-1' >&2
echo "$out/concert-master.flac"
