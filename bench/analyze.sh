#!/usr/bin/env bash
# Speed of rz-analyze and rz-report (issue 16: rz-analyze >= 50x real time on a 10-minute stereo
# input, rz-report >= 20x per version) on a generated concert:
# - rz-analyze on the recording itself (one stem) and on its four clean stems as a stem directory
#   (the programme pass over their sum plus one pass per stem, vocals and bass pitch-tracked);
# - rz-report on a page of two one-stem versions (the recording and its rz-ingest stem directory)
#   and on a page of one version that is the four-stem directory (five passes).
#
# Prints per case: audio seconds (times versions, for rz-report) per wall second (x real time)
# and peak RSS, and beside it rz-metrics on the same inputs in the same run as a reference
# (--no-spectral beside rz-analyze; with its spectral measurements, which rz-report also makes,
# beside rz-report): the ratio to it is comparable across machines.
#
# Usage: bench/analyze.sh [MINUTES...]   (default: 10); WORK=/path keeps the files elsewhere.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tests/cli/lib.sh
. "$top/tests/cli/lib.sh"
bin="$top/build/bin"
[ -x "$bin/rz-analyze" ] || { echo "analyze.sh: error: build first (scripts/build.sh)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "analyze.sh: error: /usr/bin/time missing (scripts/install-deps.sh --bench)" >&2; exit 1; }
work=${WORK:-$(mktemp -d /tmp/rz-bench-XXXXXX)}
mkdir -p "$work"
trap '[ -z "${WORK:-}" ] && rm -rf "$work"' EXIT
minutes=("$@")
[ ${#minutes[@]} -eq 0 ] && minutes=(10)

# run LABEL SECONDS_OF_AUDIO COMMAND...: prints one result line; WALL holds the wall time.
run() {
  local label=$1 audio_s=$2
  shift 2
  if ! /usr/bin/time -f '%e %M' -o "$work/time.txt" "$@" >/dev/null 2>"$work/stderr.txt"; then
    echo "analyze.sh: error: $label failed: $(tail -n 1 "$work/stderr.txt")" >&2
    exit 1
  fi
  local stats rss_kb
  stats=$(tail -n 1 "$work/time.txt")
  WALL=${stats% *}
  rss_kb=${stats#* }
  awk -v l="$label" -v a="$audio_s" -v w="$WALL" -v r="$rss_kb" \
    'BEGIN { printf "%-28s %7.1f s audio %7.2f s wall %7.1fx real time %7.1f MB peak\n", l, a, w, (w > 0 ? a / w : 0), r / 1024 }'
}

# ratio REF: the last case's wall time over REF's.
ratio() {
  awk -v a="$WALL" -v r="$1" 'BEGIN { printf "  ratio to rz-metrics: %.2f\n", (r > 0 ? a / r : 0) }'
}

echo "machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
for m in "${minutes[@]}"; do
  s=$((m * 60))
  rm -rf "$work/stems" "$work/band" "$work/gig.ingest"
  run "(generate ${m}min)" "$s" "$bin/rz-make-example" --duration "$s" --clean-dir "$work/stems" "$work/gig.wav"
  run "(rz-ingest ${m}min)" "$s" "$bin/rz-ingest" -f "$work/gig.wav" -o "$work/gig.ingest"
  make_band "$work/stems" "$work/band" $((s * 48000))
  run "rz-metrics file ${m}min (ref)" "$s" "$bin/rz-metrics" --no-spectral "$work/gig.wav"
  ref=$WALL
  run "rz-analyze file ${m}min" "$s" "$bin/rz-analyze" -f "$work/gig.wav" -o "$work/gig.json"
  ratio "$ref"
  run "rz-metrics stems ${m}min (ref)" "$s" "$bin/rz-metrics" --no-spectral "$work/band"
  ref=$WALL
  run "rz-analyze stems ${m}min" "$s" "$bin/rz-analyze" -f "$work/band" -o "$work/band.json"
  ratio "$ref"
  run "rz-metrics 2 x 1 stem (ref)" "$((2 * s))" bash -c "'$bin/rz-metrics' '$work/gig.wav' && '$bin/rz-metrics' '$work/gig.ingest'"
  ref=$WALL
  run "rz-report 2 versions" "$((2 * s))" "$bin/rz-report" -f "$work/gig.wav" "$work/gig.ingest" -o "$work/page2"
  ratio "$ref"
  run "rz-metrics 4 stems (ref)" "$s" "$bin/rz-metrics" "$work/band"
  ref=$WALL
  run "rz-report 1 version, 4 stems" "$s" "$bin/rz-report" -f "$work/band" -o "$work/page1"
  ratio "$ref"
done
