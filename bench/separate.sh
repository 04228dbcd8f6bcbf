#!/usr/bin/env bash
# Speed and peak memory of rz-separate with the full-size HTDemucs on real music (issue #3).
#
# For each length it separates that many seconds of real music (recordings from ../shared/audio
# joined end to end, and looped when they are too short) with threads=2, shifts=1, overlap 0.25,
# --no-cache, and prints: audio seconds, wall seconds, wall seconds per audio second, peak RSS,
# model forwards (from the output manifest), achieved GFLOP/s (forwards x 339 GFLOP, the cost of
# one htdemucs forward on a 7.8 s segment, divided by the wall time) and that rate as a fraction
# of this machine's fp32 matrix-multiply peak (bench/gemm_peak.cpp: 2048x2048, the faster of
# torch::mm and the oneDNN route of rz/nn/gemm.hpp, same thread count). Then the peak-memory
# ratio of the longest to the shortest run, the targets, and
# one JSON line with everything.
# Targets (issue #3): <= 0.40 s per audio second (aim 0.32) on 2 cores; peak RSS <= 1.5 GB; the
# 600 s peak within 15 % of the 60 s peak.
#
# Model: the official htdemucs when rz-separate finds it in the model directory
# (scripts/fetch-models.sh), else the shared rand0000-dc06c826.th: htdemucs' exact architecture
# with random weights, so the same work. The speed does not depend on the weights.
#
# --batch LIST runs every length once per batch size in the comma-separated LIST (default 1:
# segments per model call, rz-separate --batch), and --precision LIST once per precision in it
# (default fp32; rz-separate --precision); --device cpu|cuda (default cpu) picks the device. Every
# run after the first of a length is compared with that first one (rz-metrics): sdr_vs_first is
# the lowest SDR over the stems, in dB (so put fp32 and batch 1 first).
# On CUDA, with nvidia-smi, the most device memory in use during each run (above what was in use
# before it) is printed as gpu_MiB; of_peak still divides by the CPU's matrix-multiply peak there.
#
# Usage: bench/separate.sh [--batch LIST] [--precision LIST] [--device cpu|cuda] [SECONDS...]
#        (default lengths: 60 600)
# Environment: THREADS (2); WORK=/path keeps the files there; BUILD_DIR (default build/);
# RZ_SHARED_DIR (default ../shared beside the source tree); RZ_MODEL_DIR as for rz-separate.
# Needs: a build (scripts/build.sh), /usr/bin/time and ffmpeg (scripts/install-deps.sh --bench).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
prog=separate.sh
build=${BUILD_DIR:-$top/build}
bin="$build/bin"
shared=${RZ_SHARED_DIR:-$top/../shared}
threads=${THREADS:-2}
gflop_per_forward=339
die() { echo "$prog: error: $*" >&2; exit 1; }

for tool in rz-separate rz-ingest; do
  [ -x "$bin/$tool" ] || die "no build '$bin/$tool': run scripts/build.sh"
done
[ -x /usr/bin/time ] || die "missing '/usr/bin/time': run scripts/install-deps.sh --bench"
command -v ffmpeg >/dev/null || die "missing 'ffmpeg': run scripts/install-deps.sh --bench"
[ -d "$shared/audio/music" ] || die "no recordings '$shared/audio': set RZ_SHARED_DIR"
batches=(1)
precisions=(fp32)
device=cpu
lengths=()
while [ $# -gt 0 ]; do
  case "$1" in
    --batch)
      [ $# -ge 2 ] || { echo "$prog: error: --batch needs a list" >&2; exit 2; }
      IFS=, read -r -a batches <<<"$2"
      shift 2 ;;
    --precision)
      [ $# -ge 2 ] || { echo "$prog: error: --precision needs a list" >&2; exit 2; }
      IFS=, read -r -a precisions <<<"$2"
      shift 2 ;;
    --device)
      [ $# -ge 2 ] || { echo "$prog: error: --device needs cpu or cuda" >&2; exit 2; }
      device=$2
      shift 2 ;;
    *) lengths+=("$1"); shift ;;
  esac
done
[ ${#lengths[@]} -gt 0 ] || lengths=(60 600)
for s in "${lengths[@]}"; do
  [[ "$s" =~ ^[1-9][0-9]*$ ]] || { echo "$prog: error: bad length '$s': whole seconds" >&2; exit 2; }
done
for b in "${batches[@]}"; do
  [[ "$b" =~ ^[1-9][0-9]*$ ]] || { echo "$prog: error: bad batch '$b': a whole number" >&2; exit 2; }
done
for p in "${precisions[@]}"; do
  case "$p" in
    fp32 | tf32 | bf16 | fp16) ;;
    *) echo "$prog: error: bad precision '$p': fp32, tf32, bf16 or fp16" >&2; exit 2 ;;
  esac
done
if [ $((${#batches[@]} * ${#precisions[@]})) -gt 1 ]; then
  command -v jq >/dev/null || die "missing 'jq': run scripts/install-deps.sh --bench"
fi
case "$device" in
  cpu | cuda | cuda:[0-9]*) ;;
  *) echo "$prog: error: bad device '$device': cpu or cuda" >&2; exit 2 ;;
esac
gpu_poll=false
if [ "$device" != cpu ] && command -v nvidia-smi >/dev/null; then gpu_poll=true; fi

source "$top/scripts/model-dir.sh"
if rz_model_present htdemucs; then
  model=htdemucs
  model_note="htdemucs (official weights from $(rz_model_dir))"
else
  model="$shared/demucs/models/rand0000-dc06c826.th"
  [ -f "$model" ] || die "no model 'htdemucs': neither the official weights nor '$model'"
  model_note="rand0000-dc06c826.th (htdemucs architecture, random weights; official ones absent)"
fi

work=${WORK:-$(mktemp -d /tmp/rz-bench-separate-XXXXXX)}
mkdir -p "$work"
trap '[ -z "${WORK:-}" ] && rm -rf "$work"' EXIT

# --- the matrix-multiply peak ------------------------------------------------------------------
# bench/ is also a CMake project of its own (kept out of normal builds), built here in the build
# directory against the libtorch that the build found.
gemm="$build/gemm-peak/rz-gemm-peak"
if [ ! -f "$build/gemm-peak/CMakeCache.txt" ]; then
  torch_dir=$(sed -n 's/^Torch_DIR:PATH=//p' "$build/CMakeCache.txt" 2>/dev/null || true)
  echo "$prog: configuring rz-gemm-peak (once)" >&2
  if ! cmake -S "$top/bench" -B "$build/gemm-peak" -DCMAKE_BUILD_TYPE=Release \
    ${torch_dir:+-DTorch_DIR="$torch_dir"} >"$work/gemm-build.log" 2>&1; then
    die "cannot configure rz-gemm-peak: $(tail -n 1 "$work/gemm-build.log")"
  fi
fi
cmake --build "$build/gemm-peak" >"$work/gemm-build.log" 2>&1 \
  || die "cannot build rz-gemm-peak: $(grep -m 1 -i error "$work/gemm-build.log")"
# The peak is measured before and after the runs and the higher one kept: other load on the
# machine lowers it as much as it slows rz-separate, and the fraction would then flatter.
gemm_rate() { sed -n 's/.*"gflops": \([0-9.]*\).*/\1/p' <<<"$1"; }
gemm_before=$("$gemm" "$threads")

# --- real music, as long as needed --------------------------------------------------------------
# The recordings of ../shared/audio (see its README for credits and licences), in this order.
sources=(
  "music/Karissa_Hobbs_-_Lets_Go_Fishin.hq.ogg"                                # song, 133 s
  "stems/musdb7-80srock/mixture.wav"                                           # rock band, 7 s
  "music/442789__lena-orsa__happy-music-pistachio-ice-cream-ragtime.hq.ogg"    # piano, 71 s
  "drums/break12.wav"                                                          # drums, 8 s
  "music/sorohanro_-_solo-trumpet-06.hq.ogg"                                   # trumpet, 5 s
)
pieces=()
total=0
for i in "${!sources[@]}"; do
  f="$shared/audio/${sources[$i]}"
  [ -f "$f" ] || die "missing recording '$f'"
  p="$work/piece-$i.wav"
  ffmpeg -nostdin -v error -y -i "$f" -ar 44100 -ac 2 -c:a pcm_f32le "$p" \
    || die "cannot decode '$f': ffmpeg failed"
  pieces+=("$p")
  d=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$p")
  total=$(awk -v a="$total" -v b="$d" 'BEGIN { print a + b }')
done
# make_input SECONDS OUT: the pieces end to end, repeated as needed, cut to SECONDS.
make_input() {
  local want=$1 out=$2 list="$work/list.txt" have=0 p d
  : >"$list"
  while awk -v h="$have" -v w="$want" 'BEGIN { exit !(h < w) }'; do
    for p in "${pieces[@]}"; do
      echo "file '$p'" >>"$list"
    done
    have=$(awk -v h="$have" -v t="$total" 'BEGIN { print h + t }')
  done
  ffmpeg -nostdin -v error -y -f concat -safe 0 -i "$list" -t "$want" -c:a pcm_f32le "$out" \
    || die "cannot join the recordings: ffmpeg failed"
}

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
echo "machine: $(nproc) cores ($cpu), $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo), load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
echo "model: $model_note"
echo "input: real music from $shared/audio joined in this order and looped (about $(printf '%.0f' "$total") s per round):"
echo "  Karissa Hobbs \"Let's Go Fishin'\" (CC BY 3.0); MUSDB18 \"Music Delta - 80s Rock\" 7 s preview (CC BY-NC-SA);"
echo "  Lena Orsa, ragtime piano (CC BY-NC 3.0); break12 drum loop (Apache-2.0); Mihai Sorohan, solo trumpet (CC BY 3.0)"
echo "settings: --threads $threads --shifts 1 --overlap 0.25 --no-cache -d $device, --batch ${batches[*]}, --precision ${precisions[*]}; $gflop_per_forward GFLOP per forward"
echo "fp32 matrix-multiply peak before the runs: $(gemm_rate "$gemm_before") GFLOP/s (2048x2048, the faster of torch::mm and oneDNN, $threads threads)"
runs=()
peaks=()
# gpu_used_mib: MiB in use on the device now (the first GPU nvidia-smi lists).
gpu_used_mib() { nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -n 1; }
for s in "${lengths[@]}"; do
  make_input "$s" "$work/music-$s.wav"
  "$bin/rz-ingest" -q -f "$work/music-$s.wav" -o "$work/music-$s.ingest" >/dev/null \
    || die "rz-ingest failed on '$work/music-$s.wav'"
  first=""
  for b in "${batches[@]}"; do
  for prec in "${precisions[@]}"; do
    out="$work/music-$s-$b-$prec.sep"
    if $gpu_poll; then
      gpu_base=$(gpu_used_mib)
      nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 \
        >"$work/gpu.txt" 2>/dev/null &
      poll_pid=$!
    fi
    if ! /usr/bin/time -f '%e %M %P' -o "$work/time.txt" "$bin/rz-separate" -q -f --no-cache \
      --model "$model" --threads "$threads" --shifts 1 --overlap 0.25 -d "$device" --batch "$b" \
      --precision "$prec" "$work/music-$s.ingest" -o "$out" >/dev/null 2>"$work/stderr.txt"; then
      die "rz-separate failed on $s s, batch $b, $prec: $(tail -n 1 "$work/stderr.txt")"
    fi
    gpu_mib=-1
    if $gpu_poll; then
      kill "$poll_pid" 2>/dev/null || true
      wait "$poll_pid" 2>/dev/null || true
      gpu_mib=$(awk -v b="$gpu_base" '$1 + 0 > m { m = $1 + 0 } END { print m - b }' "$work/gpu.txt")
    fi
    read -r wall rss_kb cpu_pct < <(tail -n 1 "$work/time.txt")
    manifest="$out/manifest.json"
    # The manifest is indented JSON with sorted keys; the last rz-separate entry is the last match.
    forwards=$(grep -o '"forwards": [0-9]*' "$manifest" | tail -n 1 | grep -o '[0-9]*$')
    spas=$(grep -o '"seconds_per_audio_second": [0-9.e+-]*' "$manifest" | tail -n 1 | awk '{ print $2 }')
    sdr=none
    if [ -z "$first" ]; then
      first=$out
      peaks+=("$rss_kb")
    else
      sdr=$("$bin/rz-metrics" --json --no-spectral "$out" --reference "$first" 2>/dev/null |
        jq '[.stems[].sdr_db] | min | . * 100 | round / 100') || die "rz-metrics failed on $out"
      rm -rf "$out"
    fi
    echo "$prog: $s s, batch $b, $prec done in $wall s" >&2
    runs+=("$s $wall $rss_kb $forwards ${cpu_pct%\%} $spas $b $gpu_mib $prec $sdr")
  done
  done
  rm -rf "$first"
  rm -rf "$work/music-$s.wav" "$work/music-$s.ingest"
done
gemm_after=$("$gemm" "$threads")
echo "fp32 matrix-multiply peak after the runs: $(gemm_rate "$gemm_after") GFLOP/s; load average $(cut -d" " -f1-3 /proc/loadavg) at the end"
peak_gflops=$(awk -v a="$(gemm_rate "$gemm_before")" -v b="$(gemm_rate "$gemm_after")" \
  'BEGIN { print (a > b ? a : b) }')
echo "fraction of peak below: of $peak_gflops GFLOP/s, the higher of the two"
printf '%8s %6s %5s %9s %9s %9s %8s %10s %8s %8s %8s %12s\n' audio_s batch prec wall_s s/audio_s peak_MiB forwards GFLOP/s of_peak cpu_% gpu_MiB sdr_vs_first
rows=$(printf '%s\n' "${runs[@]}" | awk -v g="$gflop_per_forward" -v p="$peak_gflops" '{
  a = $1; w = $2; r = $3; f = $4; c = $5; m = $6; b = $7; gm = $8; pr = $9; sd = $10; gf = f * g / w
  printf "%8.1f %6d %5s %9.2f %9.3f %9.1f %8d %10.1f %8.3f %8s %8s %12s\n", a, b, pr, w, w / a, r / 1024, f, gf, gf / p, c, gm < 0 ? "-" : gm, sd == "none" ? "-" : sd
  printf "{\"audio_s\": %d, \"batch\": %d, \"precision\": \"%s\", \"wall_s\": %.2f, \"wall_s_per_audio_s\": %.4f, \"manifest_s_per_audio_s\": %.4f, \"peak_rss_mib\": %.1f, \"gpu_mib\": %s, \"forwards\": %d, \"gflops\": %.1f, \"peak_fraction\": %.4f, \"cpu_percent\": %s, \"sdr_vs_first_db\": %s}\n", a, b, pr, w, w / a, m, r / 1024, gm < 0 ? "null" : gm, f, gf, gf / p, c, sd == "none" ? "null" : sd
}')
awk 'NR % 2 == 1' <<<"$rows"
runs=()
while IFS= read -r line; do runs+=("$line"); done < <(awk 'NR % 2 == 0' <<<"$rows")

# --- targets ------------------------------------------------------------------------------------
first=${peaks[0]} last=${peaks[$((${#peaks[@]} - 1))]}
ratio=$(awk -v a="$first" -v b="$last" 'BEGIN { printf "%.3f", b / a }')
summary=$(printf '%s\n' "${runs[@]}" | awk -v ratio="$ratio" -v n="${#lengths[@]}" '
  { match($0, /"wall_s_per_audio_s": [0-9.]+/); s = substr($0, RSTART + 22, RLENGTH - 22) + 0
    match($0, /"peak_rss_mib": [0-9.]+/); m = substr($0, RSTART + 16, RLENGTH - 16) + 0
    if (s > worst_s) worst_s = s; if (m > worst_m) worst_m = m }
  END {
    ok_s = worst_s <= 0.40; ok_m = worst_m * 1048576 <= 1.5e9; ok_r = (n < 2) || ratio <= 1.15
    printf "target: <= 0.40 s per audio second (aim 0.32): worst %.3f: %s\n", worst_s, ok_s ? "met" : "MISSED"
    printf "target: peak RSS <= 1.5 GB (1430.5 MiB): worst %.1f MiB: %s\n", worst_m, ok_m ? "met" : "MISSED"
    if (n >= 2) printf "target: longest run peak within 15 %% of the shortest: ratio %s: %s\n", ratio, ok_r ? "met" : "MISSED"
    printf "{\"s_per_audio_s\": %s, \"peak_rss\": %s, \"peak_ratio\": %s}\n", ok_s ? "true" : "false", ok_m ? "true" : "false", (n < 2) ? "null" : (ok_r ? "true" : "false")
  }')
[ ${#lengths[@]} -lt 2 ] ||
  echo "peak memory, ${lengths[$((${#lengths[@]} - 1))]} s vs ${lengths[0]} s: ratio $ratio"
head -n -1 <<<"$summary"
runs_json=$(IFS=,; echo "${runs[*]}")
echo "{\"bench\": \"rz-separate\", \"model\": \"$(basename "$model")\", \"device\": \"$device\", \"threads\": $threads, \"shifts\": 1, \"overlap\": 0.25, \"gflop_per_forward\": $gflop_per_forward, \"cores\": $(nproc), \"gemm_peak_before\": $gemm_before, \"gemm_peak_after\": $gemm_after, \"gemm_peak_gflops\": $peak_gflops, \"runs\": [$runs_json], \"peak_rss_ratio\": $([ ${#lengths[@]} -lt 2 ] && echo null || echo "$ratio"), \"targets_met\": $(tail -n 1 <<<"$summary")}"
