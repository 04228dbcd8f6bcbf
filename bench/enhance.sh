#!/usr/bin/env bash
# Throughput and peak memory of rz-enhance on a long stereo stem (issue #4: >= 20x real time per
# stereo stem for the balanced preset on this machine).
#
# Builds SECONDS of real music (the song from ../shared/audio looped) with concert-crowd noise at
# 5 dB SNR through rz-phone-sim, ingests it (one stereo stem, 44.1 kHz float), then times:
#   balanced   rz-enhance with the balanced preset (the mix chain: rumble high-pass, noise
#              reduction, dynamic low-mid cut, each when measured to be needed)
#   all-blocks every one of the nine blocks forced on (a config whose decision thresholds always
#              pass): the heaviest chain any stem can get, for the worst case
# Each run includes the measuring pass, the processing pass with the before/after comparison, and
# any rollback retry. Prints per run: audio seconds, wall seconds, x real time, peak RSS (MiB),
# what ran (from the manifest), then one JSON line.
#
# Usage: bench/enhance.sh [SECONDS]   (default 600); WORK=/path keeps the files.
# Needs: a build (scripts/build.sh), /usr/bin/time, ffmpeg and jq (scripts/install-deps.sh --bench).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
prog=enhance.sh
bin="${BUILD_DIR:-$top/build}/bin"
shared=${RZ_SHARED_DIR:-$top/../shared}
die() { echo "$prog: error: $*" >&2; exit 1; }
seconds=${1:-600}
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "$prog: error: bad length '$seconds': whole seconds" >&2; exit 2; }
for tool in rz-enhance rz-ingest rz-phone-sim; do
  [ -x "$bin/$tool" ] || die "no build '$bin/$tool': run scripts/build.sh"
done
[ -x /usr/bin/time ] || die "missing '/usr/bin/time': run scripts/install-deps.sh --bench"
command -v ffmpeg >/dev/null || die "missing 'ffmpeg': run scripts/install-deps.sh --bench"
command -v jq >/dev/null || die "missing 'jq': run scripts/install-deps.sh --bench"
song="$shared/audio/music/Karissa_Hobbs_-_Lets_Go_Fishin.hq.ogg"
crowd="$shared/audio/noise/concert-crowd.ogg"
[ -f "$song" ] && [ -f "$crowd" ] || die "no recordings in '$shared/audio': set RZ_SHARED_DIR"
work=${WORK:-$(mktemp -d /tmp/rz-bench-enhance-XXXXXX)}
mkdir -p "$work"
trap '[ -z "${WORK:-}" ] && rm -rf "$work"' EXIT

ffmpeg -loglevel error -y -stream_loop -1 -i "$song" -t "$seconds" -c:a pcm_f32le "$work/clean.wav"
"$bin/rz-phone-sim" -q "$work/clean.wav" --noise "$crowd" --snr 5 --seed 1 -o "$work/sim.wav" -f >/dev/null
rm -rf "$work/sim.ingest"
"$bin/rz-ingest" -q "$work/sim.wav" -o "$work/sim.ingest" >/dev/null
cat >"$work/all-blocks.json" <<'JSON'
{"*": {"highpass": {"enabled": true, "min_energy_db": -300},
       "denoise": {"enabled": true, "max_snr_db": 300},
       "demud": {"enabled": true, "min_excess_db": -300},
       "low_focus": {"enabled": true, "max_balance_db": 300},
       "presence": {"enabled": true, "max_centroid_hz": 1e9},
       "deess": {"enabled": true, "min_sibilance_db": -300},
       "transient": {"enabled": true, "max_crest_db": 300},
       "compress": {"enabled": true, "min_spread_db": -300},
       "exciter": {"enabled": true, "max_rolloff_hz": 1e9}}}
JSON

results=()
printf '%-11s %8s %8s %10s %9s  %s\n' run audio_s wall_s x_realtime rss_mib "blocks run (result)"
for run in balanced all-blocks; do
  args=()
  [ "$run" = all-blocks ] && args=(--config "$work/all-blocks.json")
  out="$work/$run.enh"
  rm -rf "$out"
  if ! /usr/bin/time -f '%e %M' -o "$work/time.txt" "$bin/rz-enhance" -q "${args[@]}" \
    "$work/sim.ingest" -o "$out" >/dev/null 2>"$work/stderr.txt"; then
    die "rz-enhance failed ($run): $(tail -n 1 "$work/stderr.txt")"
  fi
  read -r wall rss_kb <"$work/time.txt"
  ran=$(jq -r '.history[-1].stems.mix | ([.decisions[] | select(.applied) | .block] | join(",")) + " (" + .result + ")"' "$out/manifest.json")
  x=$(awk -v a="$seconds" -v w="$wall" 'BEGIN { printf "%.1f", (w > 0 ? a / w : 0) }')
  mib=$(awk -v k="$rss_kb" 'BEGIN { printf "%.0f", k / 1024 }')
  printf '%-11s %8s %8s %10s %9s  %s\n' "$run" "$seconds" "$wall" "$x" "$mib" "$ran"
  results+=("$(jq -cn --arg run "$run" --argjson a "$seconds" --argjson w "$wall" --argjson x "$x" \
    --argjson m "$mib" --arg ran "$ran" '{run: $run, audio_s: $a, wall_s: $w, x_realtime: $x, peak_rss_mib: $m, ran: $ran}')")
done
echo "target: >= 20x real time per stereo stem (balanced)"
printf '%s\n' "${results[@]}" | jq -cs '{bench: "enhance", target_x_realtime: 20, runs: .}'
