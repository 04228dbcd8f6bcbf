#!/usr/bin/env bash
# Speed of rz-transform (issue: >= 20x real time per stereo stem) on generated stems: the four
# clean stems of an rz-make-example concert (48 kHz stereo float).
#
# Prints the machine (cores, CPU model, load average), then per window (standard, the default;
# short):
#   - one stereo stem shifted by 2 semitones (`--stems bass`: one stretcher on one core): its x
#     real time, beside the reference measured in the same run on the same file, Rubber Band's own
#     program (`rubberband -3 --centre-focus`, the same engine, window and channel option: Debian's
#     rubberband-cli), and rz's time as a ratio of it;
#   - the whole band, +2 semitones at tempo 1.1 (four stretchers, one per core): audio seconds times
#     stems per wall second, and peak RSS.
# The 20x bar is judged per stem on the one-stem run. The last line names the windows that meet it;
# the exit status is 1 when none does.
#
# Usage: bench/transform.sh [MINUTES]   (default: 2); WORK=/path keeps the files elsewhere.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tests/cli/lib.sh
. "$top/tests/cli/lib.sh"
bin="$top/build/bin"
[ -x "$bin/rz-transform" ] || { echo "transform.sh: error: build first (scripts/build.sh)" >&2; exit 1; }
for p in rubberband /usr/bin/time; do
  command -v "$p" >/dev/null ||
    { echo "transform.sh: error: $p missing (scripts/install-deps.sh --bench)" >&2; exit 1; }
done
work=${WORK:-$(mktemp -d /tmp/rz-bench-XXXXXX)}
mkdir -p "$work"
trap '[ -z "${WORK:-}" ] && rm -rf "$work"' EXIT
minutes=${1:-2}
s=$((minutes * 60))
kBar=20

echo "machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
"$bin/rz-make-example" --duration "$s" --clean-dir "$work/stems" "$work/gig.wav" >/dev/null
make_band "$work/stems" "$work/band" $((s * 48000))
echo "input: 4 stereo stems of $s s, 48 kHz float"

# timed OUT_FILE CMD...: runs CMD quietly under /usr/bin/time, leaving "seconds peak_kb" in OUT_FILE.
timed() {
  local out=$1
  shift
  if ! /usr/bin/time -f '%e %M' -o "$out" "$@" >/dev/null 2>"$work/stderr.txt"; then
    echo "transform.sh: error: '$*' failed: $(tail -n 1 "$work/stderr.txt")" >&2
    exit 1
  fi
}

meets=()
for window in standard short; do
  rb_window=()
  [ "$window" = short ] && rb_window=(--window-short)
  rm -rf "$work/one" "$work/all" "$work/rb.wav"
  timed "$work/one.txt" "$bin/rz-transform" -q "$work/band" --pitch 2 --stems bass \
    --window "$window" -o "$work/one"
  timed "$work/rb.txt" rubberband -q -3 --centre-focus "${rb_window[@]}" -p 2 \
    "$work/band/bass.wav" "$work/rb.wav"
  timed "$work/all.txt" "$bin/rz-transform" -q "$work/band" --pitch 2 --tempo 1.1 \
    --window "$window" -o "$work/all"
  read -r one _ <"$work/one.txt"
  read -r rb _ <"$work/rb.txt"
  read -r all rss <"$work/all.txt"
  x=$(awk -v a="$s" -v w="$one" 'BEGIN { printf "%.1f", (w > 0 ? a / w : 0) }')
  awk -v win="$window" -v a="$s" -v one="$one" -v rb="$rb" -v all="$all" -v rss="$rss" -v x="$x" -v bar="$kBar" 'BEGIN {
    printf "%s window:\n", win
    printf "  one stem:  %6.2f s, %5.1fx real time (bar %dx: %s); rubberband -3: %6.2f s, %5.1fx; rz / rubberband = %.2f\n",
      one, x, bar, (x >= bar ? "ok" : "below"), rb, (rb > 0 ? a / rb : 0), (rb > 0 ? one / rb : 0)
    printf "  the band:  %6.2f s wall for 4 stems, %5.1fx real time per stem, %.0f MB peak\n",
      all, (all > 0 ? 4 * a / all : 0), rss / 1024 }'
  awk -v x="$x" -v b="$kBar" 'BEGIN { exit !(x >= b) }' && meets+=("$window")
done
if [ ${#meets[@]} -eq 0 ]; then
  echo "transform.sh: no window reaches ${kBar}x real time per stereo stem" >&2
  exit 1
fi
echo "windows at ${kBar}x real time per stereo stem or more: ${meets[*]}"
