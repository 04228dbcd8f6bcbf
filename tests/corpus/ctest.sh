#!/usr/bin/env bash
# ctest entry of the no-harm corpus (label corpus): builds the corpus (tests/corpus/build.sh) in
# WORK/corpus, once, and checks the stages on it (tests/corpus/check.sh).
#
#   tests/corpus/ctest.sh BIN_DIR WORK_DIR SPLIT REQUIRED_BARS
#
# The required bars fail the test (exit 3); the others are reported in the log (issue 13 lists the
# ones that do not hold yet). A missing fluidsynth, SoundFont, ffmpeg or jq skips it (exit 77,
# which ctest shows as skipped): scripts/install-deps.sh --test installs them. On the 2-core CI
# machine the corpus takes about a minute to render and the validation part two to check.
set -euo pipefail
bin=$1 work=$2 split=$3 required=$4
top=$(cd "$(dirname "$0")/../.." && pwd)
sf2=${RZ_SF2:-/usr/share/sounds/sf2/FluidR3_GM.sf2}
for tool in fluidsynth ffmpeg jq; do
  command -v "$tool" >/dev/null || { echo "corpus: skipped: no '$tool' (scripts/install-deps.sh --test)"; exit 77; }
done
[ -f "$sf2" ] || { echo "corpus: skipped: no SoundFont '$sf2' (fluid-soundfont-gm)"; exit 77; }
shared=${RZ_SHARED_DIR:-$top/../shared}
[ -d "$shared/audio" ] || { echo "corpus: skipped: no shared recordings in '$shared'"; exit 77; }
mkdir -p "$work"
BUILD_DIR=$(dirname "$bin") "$top/tests/corpus/build.sh" "$work/corpus" >/dev/null
rm -rf "$work/check"
BUILD_DIR=$(dirname "$bin") "$top/tests/corpus/check.sh" --corpus "$work/corpus" --split "$split" \
  --work "$work/check" --require-bars "$required"
