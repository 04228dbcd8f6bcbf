#!/usr/bin/env bash
# Speed and peak memory of rz-separate with full-size RoFormers on real music (issue #14).
#
# Makes a full-size Mel-Band RoFormer (dim 384, depth 12, 60 bands: the layout of the public
# vocal and crowd models) and a full-size BS-RoFormer (dim 512, depth 12, 62 bands: BS-RoFormer
# viperx ep 317) with random weights (rz-make-roformer, bench/configs/*.yaml: the public configs'
# architecture and inference settings, chunk 8 s, num_overlap 2, batch 4), separates SECONDS of
# real music with each (--threads THREADS, --no-cache, on the CPU, or on CUDA with DEVICE=cuda)
# and prints per model: audio seconds, wall seconds, wall seconds per audio second, peak RSS,
# model calls and chunks (from the output manifest), the work done (chunks x the model's GFLOP
# per chunk, from rz-make-roformer) as GFLOP/s and as a fraction of this machine's fp32
# matrix-multiply peak (bench/gemm_peak.cpp, same thread count, the higher of before and after).
# Then one JSON line with everything.
#
# With MEMORY_SECONDS set (e.g. "60 600"), it also separates those lengths with a micro
# BS-RoFormer (bench/configs/bs-roformer-micro.yaml: 2 bands, dim 8, 1 s chunks, batch 4; the
# same streaming demix at a fraction of the arithmetic) and prints the peak RSS of each and the
# ratio of the longest to the shortest.
#
# Usage: bench/roformer.sh [SECONDS]   (default 8: one batch of two chunks per model)
# Environment: THREADS (2); DEVICE (cpu); MODELS ("mel bs"; "" for none); MEMORY_SECONDS (empty:
# skipped); WORK=/path keeps the files there; BUILD_DIR (default build/); RZ_SHARED_DIR
# (../shared).
# Needs: a build (scripts/build.sh), /usr/bin/time and ffmpeg (scripts/install-deps.sh --bench).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
prog=roformer.sh
build=${BUILD_DIR:-$top/build}
bin="$build/bin"
shared=${RZ_SHARED_DIR:-$top/../shared}
threads=${THREADS:-2}
device=${DEVICE:-cpu}
models=${MODELS-mel bs}
die() { echo "$prog: error: $*" >&2; exit 1; }

for tool in rz-separate rz-ingest rz-make-roformer; do
  [ -x "$bin/$tool" ] || die "no build '$bin/$tool': run scripts/build.sh"
done
[ -x /usr/bin/time ] || die "missing '/usr/bin/time': run scripts/install-deps.sh --bench"
command -v ffmpeg >/dev/null || die "missing 'ffmpeg': run scripts/install-deps.sh --bench"
seconds=${1:-8}
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || { echo "$prog: error: bad length '$seconds': whole seconds" >&2; exit 2; }
music="$shared/audio/music/Karissa_Hobbs_-_Lets_Go_Fishin.hq.ogg"  # CC BY 3.0, 133 s
[ -f "$music" ] || die "missing recording '$music': set RZ_SHARED_DIR"

work=${WORK:-$(mktemp -d /tmp/rz-bench-roformer-XXXXXX)}
mkdir -p "$work"
trap '[ -z "${WORK:-}" ] && rm -rf "$work"' EXIT

# The matrix-multiply peak, built as bench/separate.sh builds it.
gemm="$build/gemm-peak/rz-gemm-peak"
if [ ! -f "$build/gemm-peak/CMakeCache.txt" ]; then
  torch_dir=$(sed -n 's/^Torch_DIR:PATH=//p' "$build/CMakeCache.txt" 2>/dev/null || true)
  cmake -S "$top/bench" -B "$build/gemm-peak" -DCMAKE_BUILD_TYPE=Release \
    ${torch_dir:+-DTorch_DIR="$torch_dir"} >"$work/gemm-build.log" 2>&1 \
    || die "cannot configure rz-gemm-peak: $(tail -n 1 "$work/gemm-build.log")"
fi
cmake --build "$build/gemm-peak" >"$work/gemm-build.log" 2>&1 \
  || die "cannot build rz-gemm-peak: $(grep -m 1 -i error "$work/gemm-build.log")"
gemm_rate() { sed -n 's/.*"gflops": \([0-9.]*\).*/\1/p' <<<"$1"; }
gemm_before=$(gemm_rate "$("$gemm" "$threads")")

# input LENGTH OUT: LENGTH seconds of the song (looped when longer), ingested.
input() {
  ffmpeg -nostdin -v error -y -stream_loop -1 -i "$music" -t "$1" -ar 44100 -ac 2 \
    -c:a pcm_f32le "$work/in.wav" || die "cannot decode '$music'"
  "$bin/rz-ingest" -q -f "$work/in.wav" -o "$2" >/dev/null || die "rz-ingest failed"
  rm -f "$work/in.wav"
}

# run MODEL.ckpt INGEST OUT [ARGS...]: prints "wall rss_kb calls chunks".
run() {
  local ckpt=$1 in=$2 out=$3 m
  shift 3
  /usr/bin/time -f '%e %M' -o "$work/time.txt" "$bin/rz-separate" -q -f --no-cache \
    --model "$ckpt" --threads "$threads" -d "$device" "$@" "$in" -o "$out" >/dev/null \
    2>"$work/stderr.txt" || die "rz-separate failed: $(tail -n 1 "$work/stderr.txt")"
  m="$out/manifest.json"
  echo "$(tail -n 1 "$work/time.txt") $(grep -o '"forwards": [0-9]*' "$m" | tail -n 1 | grep -o '[0-9]*$')" \
    "$(grep -o '"chunks": [0-9]*' "$m" | tail -n 1 | grep -o '[0-9]*$')"
}

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
echo "machine: $(nproc) cores ($cpu), $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo), load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
echo "input: $seconds s of Karissa Hobbs \"Let's Go Fishin'\" (CC BY 3.0); --threads $threads -d $device --no-cache"
echo "fp32 matrix-multiply peak before the runs: $gemm_before GFLOP/s (2048x2048, the faster of torch::mm and oneDNN, $threads threads)"
input "$seconds" "$work/song"
rows=()
printf '%-26s %8s %8s %10s %9s %6s %6s %9s\n' model audio_s wall_s s_per_s peak_MB calls chunks GFLOP/s
for m in $models; do
  case "$m" in
    mel) cfg="$top/bench/configs/mel-roformer-384-12.yaml" ;;
    bs) cfg="$top/bench/configs/bs-roformer-512-12.yaml" ;;
    *) die "unknown model '$m' (mel, bs)" ;;
  esac
  name=$(basename "$cfg" .yaml)
  cp "$cfg" "$work/$name.yaml"
  info=$("$bin/rz-make-roformer" "$work/$name.yaml" "$work/$name.ckpt")
  gflop=$(sed -n 's/.*"gflop_per_chunk": \([0-9.]*\).*/\1/p' <<<"$info")
  params=$(sed -n 's/.*"parameters": \([0-9]*\).*/\1/p' <<<"$info")
  read -r wall rss calls chunks < <(run "$work/$name.ckpt" "$work/song" "$work/$name.sep")
  rate=$(awk -v g="$gflop" -v c="$chunks" -v w="$wall" 'BEGIN { printf "%.1f", g * c / w }')
  printf '%-26s %8d %8.1f %10.2f %9.0f %6d %6d %9s\n' "$name" "$seconds" "$wall" \
    "$(awk -v w="$wall" -v s="$seconds" 'BEGIN { print w / s }')" "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" \
    "$calls" "$chunks" "$rate"
  rows+=("{\"model\": \"$name\", \"parameters\": $params, \"gflop_per_chunk\": $gflop, \"audio_s\": $seconds, \"wall_s\": $wall, \"peak_rss_kb\": $rss, \"calls\": $calls, \"chunks\": $chunks, \"gflops\": $rate}")
  rm -rf "$work/$name.ckpt" "$work/$name.sep"
done
gemm_after=$(gemm_rate "$("$gemm" "$threads")")
peak=$(awk -v a="$gemm_before" -v b="$gemm_after" 'BEGIN { print (a > b ? a : b) }')
echo "fp32 matrix-multiply peak after the runs: $gemm_after GFLOP/s; fraction of the higher one:"
for r in "${rows[@]}"; do
  sed -n 's/.*"model": "\([^"]*\)".*"gflops": \([0-9.]*\).*/\1 \2/p' <<<"$r" \
    | awk -v p="$peak" '{ printf "  %s: %.2f of peak\n", $1, $2 / p }'
done

mem_rows=()
if [ -n "${MEMORY_SECONDS:-}" ]; then
  cp "$top/bench/configs/bs-roformer-micro.yaml" "$work/micro.yaml"
  "$bin/rz-make-roformer" "$work/micro.yaml" "$work/micro.ckpt" >/dev/null
  first="" last=""
  for s in $MEMORY_SECONDS; do
    input "$s" "$work/mem-$s"
    read -r wall rss calls chunks < <(run "$work/micro.ckpt" "$work/mem-$s" "$work/mem-$s.sep")
    echo "memory: micro BS-RoFormer, $s s: peak RSS $(awk -v k="$rss" 'BEGIN { printf "%.0f", k / 1024 }') MB in $wall s ($calls calls)"
    mem_rows+=("{\"audio_s\": $s, \"peak_rss_kb\": $rss, \"wall_s\": $wall, \"calls\": $calls}")
    [ -n "$first" ] || first=$rss
    last=$rss
    rm -rf "$work/mem-$s" "$work/mem-$s.sep"
  done
  echo "memory: peak of the longest over the shortest: $(awk -v a="$last" -v b="$first" 'BEGIN { printf "%.3f", a / b }')"
fi
join() { local IFS=,; echo "$*"; }
echo "{\"bench\": \"roformer\", \"threads\": $threads, \"device\": \"$device\", \"gemm_peak_gflops\": $peak, \"runs\": [$(join "${rows[@]}")], \"memory\": [$(join "${mem_rows[@]}")]}"
