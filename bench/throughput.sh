#!/usr/bin/env bash
# Throughput and peak memory of rz-ingest, rz-mix, rz-master and rz-metrics on generated 10- and
# 60-minute phone recordings (48 kHz stereo 16-bit, so ingest resamples as with real phones).
#
# Prints, per tool and length: audio seconds per wall second (x real time) and peak RSS (MB).
# Targets (issue #2): each >= 50x real time on a 2-core machine; the 60-minute peak within 20 % of
# the 10-minute peak, both under 300 MB.
#
# Usage: bench/throughput.sh [MINUTES...]   (default: 10 60); WORK=/path keeps the files elsewhere.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bin="$top/build/bin"
[ -x "$bin/rz-ingest" ] || { echo "throughput.sh: error: build first (scripts/build.sh)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "throughput.sh: error: /usr/bin/time missing (scripts/install-deps.sh --bench)" >&2; exit 1; }
work=${WORK:-$(mktemp -d /tmp/rz-bench-XXXXXX)}
mkdir -p "$work"
trap '[ -z "${WORK:-}" ] && rm -rf "$work"' EXIT
minutes=("$@")
[ ${#minutes[@]} -eq 0 ] && minutes=(10 60)

# run LABEL SECONDS_OF_AUDIO COMMAND...: prints one result line.
run() {
  local label=$1 audio_s=$2
  shift 2
  if ! /usr/bin/time -f '%e %M' -o "$work/time.txt" "$@" >/dev/null 2>"$work/stderr.txt"; then
    echo "throughput.sh: error: $label failed: $(tail -n 1 "$work/stderr.txt")" >&2
    exit 1
  fi
  local stats wall rss_kb
  stats=$(tail -n 1 "$work/time.txt")
  wall=${stats% *}
  rss_kb=${stats#* }
  awk -v l="$label" -v a="$audio_s" -v w="$wall" -v r="$rss_kb" \
    'BEGIN { printf "%-22s %8.1f s audio %7.2f s wall %7.1fx real time %7.1f MB peak\n", l, a, w, (w > 0 ? a / w : 0), r / 1024 }'
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo)"
for m in "${minutes[@]}"; do
  s=$((m * 60))
  in="$work/phone-${m}min.wav"
  run "(generate ${m}min)" "$s" "$bin/rz-make-example" --duration "$s" --rate 48000 "$in"
  run "rz-ingest ${m}min" "$s" "$bin/rz-ingest" -f "$in" -o "$work/in-$m"
  run "rz-mix ${m}min" "$s" "$bin/rz-mix" -f "$work/in-$m" -o "$work/mix-$m"
  run "rz-master ${m}min" "$s" "$bin/rz-master" -f "$work/mix-$m" -o "$work/master-$m.flac"
  run "rz-metrics ${m}min" "$s" "$bin/rz-metrics" "$work/in-$m"
  rm -rf "$in" "$work/in-$m" "$work/mix-$m" "$work/master-$m.flac" "$work/master-$m.flac.json"
done
