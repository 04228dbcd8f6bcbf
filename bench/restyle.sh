#!/usr/bin/env bash
# Speed of rz-restyle (issue: >= 10x real time per stereo stem) on generated stems: the four
# clean stems of an rz-make-example concert (48 kHz stereo float) re-styled with the grains of the
# "other" stem of a shorter concert (another seed).
#
# Prints the machine (cores, CPU model), then per length: the whole run (every stem re-styled:
# audio seconds times stems per wall second, peak RSS) and per stem the x real time from its
# elapsed_s in the manifest (analysis pass, choices and rendering pass, reading and writing
# included), and the slowest stem against the 10x bar.
#
# Usage: bench/restyle.sh [MINUTES...]   (default: 3); WORK=/path keeps the files elsewhere.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tests/cli/lib.sh
. "$top/tests/cli/lib.sh"
bin="$top/build/bin"
[ -x "$bin/rz-restyle" ] || { echo "restyle.sh: error: build first (scripts/build.sh)" >&2; exit 1; }
command -v jq >/dev/null || { echo "restyle.sh: error: jq missing (scripts/install-deps.sh --bench)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "restyle.sh: error: /usr/bin/time missing (scripts/install-deps.sh --bench)" >&2; exit 1; }
work=${WORK:-$(mktemp -d /tmp/rz-bench-XXXXXX)}
mkdir -p "$work"
trap '[ -z "${WORK:-}" ] && rm -rf "$work"' EXIT
minutes=("$@")
[ ${#minutes[@]} -eq 0 ] && minutes=(3)
kBar=10

echo "machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
"$bin/rz-make-example" --duration 20 --seed 2 --clean-dir "$work/style" "$work/style.wav" >/dev/null
worst_all=""
for m in "${minutes[@]}"; do
  s=$((m * 60))
  rm -rf "$work/stems" "$work/band" "$work/band.sty"
  "$bin/rz-make-example" --duration "$s" --clean-dir "$work/stems" "$work/gig.wav" >/dev/null
  make_band "$work/stems" "$work/band" $((s * 48000))
  if ! /usr/bin/time -f '%e %M' -o "$work/time.txt" "$bin/rz-restyle" -q "$work/band" \
    --style "$work/style/other.wav" -o "$work/band.sty" >/dev/null 2>"$work/stderr.txt"; then
    echo "restyle.sh: error: rz-restyle failed: $(tail -n 1 "$work/stderr.txt")" >&2
    exit 1
  fi
  read -r wall rss_kb <"$work/time.txt"
  awk -v m="$m" -v a="$s" -v w="$wall" -v r="$rss_kb" 'BEGIN {
    printf "%d min, 4 stereo stems: %.2f s wall, %.1fx real time per stem (4 x %d s / wall), %.1f MB peak\n",
      m, w, (w > 0 ? 4 * a / w : 0), a, r / 1024 }'
  worst=$(jq -r --argjson a "$s" '.history[-1].stems | to_entries[] |
    "\(.key) \(.value.elapsed_s) \($a / .value.elapsed_s) \(.value.onsets) \(.value.grains_used)"' \
    "$work/band.sty/manifest.json" | while read -r name el x onsets grains; do
    printf '  %-8s %7.2f s  %7.1fx real time  %5d onsets  %3d grains used\n' "$name" "$el" "$x" "$onsets" "$grains" >&2
    echo "$x"
  done | sort -g | head -n 1)
  awk -v w="$worst" -v b="$kBar" 'BEGIN { printf "  slowest stem: %.1fx real time (bar: %dx): %s\n", w, b, (w >= b ? "ok" : "BELOW") }'
  worst_all=$(printf '%s\n%s\n' "$worst_all" "$worst" | sed '/^$/d' | sort -g | head -n 1)
done 2>&1
awk -v w="$worst_all" -v b="$kBar" 'BEGIN { exit !(w >= b) }' || { echo "restyle.sh: below ${kBar}x real time" >&2; exit 1; }
