#!/usr/bin/env bash
# A long concert through every stage of the full job: wall time, peak memory and disk per stage
# and length, and how they scale from the shortest length to the longest (issue: "Long input").
#
# Input: real music from ../shared/audio (the five recordings bench/separate.sh uses, joined end
# to end: about 224 s), made into a phone recording once by rz-phone-sim (room reverb
# medium-room1, concert crowd at 10 dB SNR, band 120 Hz-11 kHz, clipped at -1 dBFS, AGC), raised
# so that its highest peak is 1 dB past full scale, then looped to each length by ffmpeg and
# written as a 48 kHz stereo 16-bit WAV (which saturates: the converter's overload, flat tops that
# rz-restore repairs), so that rz-ingest resamples as with a real phone. Each of rz-restore's three
# blocks (declip, subbass, highs) runs on it from 3 minutes on (the first full-scale peak comes
# after 2). Each length runs, in the order of the README's full job:
#   rz-ingest | rz-restore | rz-dereverb | rz-separate | rz-enhance | rz-mix | rz-master (FLAC)
#   | rz-metrics (of the master)
# every stage with its defaults, -f and an explicit -o in the work directory; rz-separate with
# --no-cache, --threads THREADS and the model MODEL. A stage's input is deleted as soon as the next
# stage no longer needs it.
#
# Prints one row per stage and length as it finishes: audio minutes, wall seconds, x real time,
# peak RSS (MiB, /usr/bin/time), the largest size of the work directory while it ran (GiB, sampled
# every 2 s and at the end of the stage, inputs not yet deleted) and CPU use (percent of one core;
# well under THREADS x 100 for rz-separate means other load on the machine: libtorch's threads then
# wait on each other and the stage runs several times slower). Then, for the longest length
# against the shortest, per stage and for the whole job: the peak-RSS ratio and the ratio of wall
# seconds per audio second, each against its target, and the ratio of CPU seconds (user + system)
# per audio second, for information (less disturbed by other load than the wall time); the machine
# (CPU model, cores, date, load); and one JSON line with everything.
# Targets (issue "Long input", 10 and 180 minutes): peak memory flat, the longest run's peak RSS
# within 10 % of the shortest's (ratio <= 1.10); nothing slower than linear, wall seconds per audio
# second of the longest run no more than 10 % above the shortest's (ratio <= 1.10). Fixed costs
# (start-up, model load) favour the longest run in the time ratio, so a ratio below 1 is normal.
#
# Usage: bench/long.sh [MINUTES...]   (default: 10 180; whole minutes)
# Environment:
#   MODEL    tiny (default: ../shared/demucs/models/tiny4000-0421bf8f.th, a small HTDemucs with
#            random weights; the speed of the full model is bench/separate.sh's business), full
#            (rand0000-dc06c826.th: htdemucs' architecture, about 0.6 s per audio second on 2
#            cores, so 180 minutes takes about 2 hours more), or any --model value of rz-separate
#            (htdemucs when scripts/fetch-models.sh installed it, a .th or .yaml path)
#   THREADS  rz-separate --threads (default: nproc; 1 on a machine busy with other work, where
#            libtorch's threads wait on each other: bench/README.md, "long.sh")
#   WORK     work directory, kept (default: a new directory under $TMPDIR or /tmp, else under the
#            build directory, whichever has the space; removed at the end)
#   BUILD_DIR (default build/), RZ_SHARED_DIR (default ../shared beside the source tree)
# Disk: the work directory peaks while rz-enhance runs, with the separated stems and the enhanced
# ones both there: 8 stereo 44.1 kHz float stems, 1.27 GB per audio hour each (28.5 GiB for 180
# minutes). The script checks for 8.5 stems of the longest length plus 1 GiB before it starts.
# Time: 1 to 2 hours for the defaults on 2 cores (see bench/README.md, "long.sh").
# Needs: a build (scripts/build.sh), /usr/bin/time, ffmpeg and jq (scripts/install-deps.sh --bench).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
prog=long.sh
build=${BUILD_DIR:-$top/build}
bin="$build/bin"
shared=${RZ_SHARED_DIR:-$top/../shared}
die() { echo "$prog: error: $*" >&2; exit 1; }

minutes=("$@")
[ ${#minutes[@]} -gt 0 ] || minutes=(10 180)
usage_error() { echo "$prog: error: $*" >&2; exit 2; }
for m in "${minutes[@]}"; do
  [[ "$m" =~ ^[1-9][0-9]*$ ]] || usage_error "bad length '$m': whole minutes"
done
[ "$(printf '%s\n' "${minutes[@]}" | sort -u | wc -l)" -eq ${#minutes[@]} ] ||
  usage_error "a length is given twice: ${minutes[*]}"
stages=(rz-ingest rz-restore rz-dereverb rz-separate rz-enhance rz-mix rz-master rz-metrics)
for tool in "${stages[@]}" rz-phone-sim; do
  [ -x "$bin/$tool" ] || die "no build '$bin/$tool': run scripts/build.sh"
done
[ -x /usr/bin/time ] || die "missing '/usr/bin/time': run scripts/install-deps.sh --bench"
for cmd in ffmpeg jq; do
  command -v "$cmd" >/dev/null || die "missing '$cmd': run scripts/install-deps.sh --bench"
done
a="$shared/audio"
[ -d "$a/music" ] || die "no recordings '$a': set RZ_SHARED_DIR"
threads=${THREADS:-$(nproc)}
[[ "$threads" =~ ^[1-9][0-9]*$ ]] || die "bad THREADS '$threads': a positive whole number"

case "${MODEL:-tiny}" in
  tiny)
    model="$shared/demucs/models/tiny4000-0421bf8f.th"
    model_note="tiny4000-0421bf8f.th (small HTDemucs, random weights; not htdemucs' cost)"
    ;;
  full)
    model="$shared/demucs/models/rand0000-dc06c826.th"
    model_note="rand0000-dc06c826.th (htdemucs' architecture, random weights: htdemucs' speed)"
    ;;
  *) model=$MODEL model_note=$MODEL ;;
esac
case "$model" in
  */* | *.th | *.yaml)
    [ -f "$model" ] || die "no model '$model': set MODEL (tiny, full, a name or a path)" ;;
esac

# --- work directory and disk --------------------------------------------------------------------
stem_bytes_per_s=352800  # one stereo 44.1 kHz float32 stem
longest=$(printf '%s\n' "${minutes[@]}" | sort -n | tail -n 1)
shortest=$(printf '%s\n' "${minutes[@]}" | sort -n | head -n 1)
need=$(awk -v s="$((longest * 60))" -v b="$stem_bytes_per_s" \
  'BEGIN { printf "%.0f", 8.5 * s * b + 2^30 }')
avail() { df -P -B1 "$1" | awk 'NR == 2 { print $4 }'; }
gib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 2^30 }'; }
if [ -n "${WORK:-}" ]; then
  work=$WORK
  mkdir -p "$work" 2>/dev/null || die "cannot create the work directory '$work'"
else
  work=""
  for d in "${TMPDIR:-/tmp}" "$build"; do
    if [ -d "$d" ] && [ "$(avail "$d")" -ge "$need" ]; then
      work=$(mktemp -d "$d/rz-bench-long-XXXXXX")
      break
    fi
  done
  [ -n "$work" ] || die "not enough disk for $longest minutes: $(gib "$need") GiB needed," \
    "neither '${TMPDIR:-/tmp}' nor '$build' has it (set WORK)"
fi
work=$(cd "$work" && pwd)
[ "$(avail "$work")" -ge "$need" ] || die "not enough disk in '$work' for $longest minutes:" \
  "$(gib "$need") GiB needed, $(gib "$(avail "$work")") GiB free"
sampler=""
cleanup() {
  [ -z "$sampler" ] || kill "$sampler" 2>/dev/null || true
  [ -n "${WORK:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
# The size of the work directory, every 2 s, one line each: stage peaks are read from this.
disk_log="$work/disk.log"
: >"$disk_log"
(while sleep 2; do du -sk "$work" 2>/dev/null | cut -f1 >>"$disk_log" || true; done) &
sampler=$!

# --- the phone recording ------------------------------------------------------------------------
# The recordings of ../shared/audio (see its README for credits and licences), in this order.
sources=(
  "music/Karissa_Hobbs_-_Lets_Go_Fishin.hq.ogg"                                # song, 133 s
  "stems/musdb7-80srock/mixture.wav"                                           # rock band, 7 s
  "music/442789__lena-orsa__happy-music-pistachio-ice-cream-ragtime.hq.ogg"    # piano, 71 s
  "drums/break12.wav"                                                          # drums, 8 s
  "music/sorohanro_-_solo-trumpet-06.hq.ogg"                                   # trumpet, 5 s
)
crowd="$a/noise/concert-crowd.ogg"
ir="$a/ir/medium-room1.wav"
inputs=() filters="" labels=""
for i in "${!sources[@]}"; do
  f="$a/${sources[$i]}"
  [ -f "$f" ] || die "missing recording '$f'"
  inputs+=(-i "$f")
  filters+="[$i:a]aformat=sample_fmts=flt:sample_rates=44100:channel_layouts=stereo[a$i];"
  labels+="[a$i]"
done
{ [ -f "$crowd" ] && [ -f "$ir" ]; } || die "missing '$crowd' or '$ir': set RZ_SHARED_DIR"

cpu_model=$(lscpu 2>/dev/null | awk -F': *' '/^Model name/ { print $2; exit }')
[ -n "$cpu_model" ] || cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
cores=$(nproc)
date_start=$(date '+%Y-%m-%d %H:%M %Z')
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
ram=$(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo)
echo "machine: $cpu_model, $cores cores, $ram, $date_start, load average $load_start at start"
echo "model: $model_note; rz-separate --threads $threads --no-cache, other stages their defaults"
echo "input: real music from $a joined (song, 80s rock, piano, drums, trumpet),"
echo "  through rz-phone-sim (medium-room1, crowd at 10 dB SNR, band 120:11000, clip -1 dBFS, AGC),"
echo "  peak 1 dB past full scale, looped, 48 kHz stereo 16-bit WAV"
echo "work: $work ($(gib "$(avail "$work")") GiB free, $(gib "$need") GiB needed)"

# timed LOG COMMAND...: runs COMMAND under /usr/bin/time (stdout discarded, stderr to LOG) and
# sets wall (s), rss_kb, cpu_s (user + system) and cpu_pct (percent of one core); on failure
# stops with the command's last line of stderr.
timed() {
  local log=$1
  shift
  if ! /usr/bin/time -f '%e %M %P %U %S' -o "$work/time.txt" "$@" >/dev/null 2>"$log"; then
    die "${1##*/} failed: $(tail -n 1 "$log")"
  fi
  local user sys
  read -r wall rss_kb cpu_pct user sys < <(tail -n 1 "$work/time.txt")
  cpu_pct=${cpu_pct%\%}
  cpu_s=$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')
}

t0=$(date +%s.%N)
echo "$prog: making the phone recording (about 224 s of music, once)" >&2
ffmpeg -nostdin -v error -y "${inputs[@]}" \
  -filter_complex "${filters}${labels}concat=n=${#sources[@]}:v=0:a=1" \
  -c:a pcm_f32le "$work/clean.wav" || die "cannot join the recordings: ffmpeg failed"
timed "$work/phone-sim.log" "$bin/rz-phone-sim" "$work/clean.wav" -f -o "$work/sim.wav" \
  --ir "$ir" --noise "$crowd" --snr 10 --band 120:11000 --clip -1 --agc --seed 1
# The AGC leaves the peaks below full scale and its clipped tops at no fixed level; the phone's
# converter overloads after it: 1 dB of gain past the highest peak, and the 16-bit WAV written
# below saturates there (flat tops at 48 kHz, which rz-ingest detects and rz-restore repairs).
max_db=$(ffmpeg -nostdin -i "$work/sim.wav" -af volumedetect -f null - 2>&1 |
  sed -n 's/.*max_volume: \(-*[0-9.]*\) dB.*/\1/p')
[ -n "$max_db" ] || die "cannot measure the peak of '$work/sim.wav': ffmpeg volumedetect failed"
gain_db=$(awk -v m="$max_db" 'BEGIN { print 1 - m }')
ffmpeg -nostdin -v error -y -i "$work/sim.wav" -af "volume=${gain_db}dB" -c:a pcm_f32le \
  "$work/phone.wav" || die "cannot scale the phone recording: ffmpeg failed"
rm -f "$work/clean.wav" "$work/sim.wav"
base_s=$(awk -v t="$t0" -v n="$(date +%s.%N)" 'BEGIN { printf "%.1f", n - t }')

# --- the runs -----------------------------------------------------------------------------------
printf '%-12s %7s %9s %11s %9s %9s %6s\n' stage minutes wall_s x_realtime peak_MiB disk_GiB cpu_%
rows=()   # "stage minutes audio_s wall_s rss_kb disk_kb cpu_percent"
notes=()  # one JSON object per length: what the adaptive stages decided
# row STAGE MINUTES AUDIO_S: records and prints the last timed run.
row() {
  local disk_kb
  disk_kb=$( (tail -n +"$((disk_mark + 1))" "$disk_log"; du -sk "$work" | cut -f1) |
    sort -n | tail -n 1)
  rows+=("$1 $2 $3 $wall $rss_kb $disk_kb $cpu_s")
  awk -v st="$1" -v m="$2" -v a="$3" -v w="$wall" -v r="$rss_kb" -v d="$disk_kb" -v c="$cpu_pct" \
    'BEGIN { printf "%-12s %7d %9.2f %11.1f %9.1f %9.2f %6d\n", st, m, w, (w > 0 ? a / w : 0),
             r / 1024, d / 1048576, c }'
}
# stage NAME MINUTES AUDIO_S COMMAND...: one timed stage of the job.
stage() {
  local name=$1 m=$2 s=$3
  shift 3
  echo "$prog: $m min: $name" >&2
  disk_mark=$(wc -l <"$disk_log")
  timed "$dir/$name.log" "$@"
  row "$name" "$m" "$s"
}
disk_mark=0
for m in "${minutes[@]}"; do
  s=$((m * 60))
  dir="$work/$m-min"
  rm -rf "$dir"
  mkdir -p "$dir"
  echo "$prog: $m min: generating the input" >&2
  disk_mark=$(wc -l <"$disk_log")
  timed "$dir/generate.log" ffmpeg -nostdin -v error -y -stream_loop -1 -i "$work/phone.wav" \
    -t "$s" -ar 48000 -c:a pcm_s16le -rf64 auto "$dir/phone.wav"
  row "(generate)" "$m" "$s"
  stage rz-ingest "$m" "$s" "$bin/rz-ingest" -f "$dir/phone.wav" -o "$dir/ingest"
  rm -f "$dir/phone.wav"
  stage rz-restore "$m" "$s" "$bin/rz-restore" -f "$dir/ingest" -o "$dir/rst"
  rm -rf "$dir/ingest"
  stage rz-dereverb "$m" "$s" "$bin/rz-dereverb" -f "$dir/rst" -o "$dir/drv"
  rm -rf "$dir/rst"
  stage rz-separate "$m" "$s" "$bin/rz-separate" -f --no-cache --model "$model" \
    --threads "$threads" "$dir/drv" -o "$dir/sep"
  rm -rf "$dir/drv"
  stage rz-enhance "$m" "$s" "$bin/rz-enhance" -f "$dir/sep" -o "$dir/enh"
  rm -rf "$dir/sep"
  # What the adaptive stages decided (the same input looped should give the same decisions).
  notes+=("$(jq -c --argjson m "$m" '[.history[] | {(.tool): .stems}] | add | {minutes: $m,
      restore: [.["rz-restore"].mix.decisions[]? | select(.applied) | .block],
      dereverb_taps: .["rz-dereverb"].mix.taps,
      enhance: (.["rz-enhance"] // {} | map_values(.result))}' \
    "$dir/enh/manifest.json" 2>/dev/null || echo "{\"minutes\": $m}")")
  stage rz-mix "$m" "$s" "$bin/rz-mix" -f "$dir/enh" -o "$dir/mix"
  rm -rf "$dir/enh"
  stage rz-master "$m" "$s" "$bin/rz-master" -f "$dir/mix" -o "$dir/master.flac"
  rm -rf "$dir/mix"
  stage rz-metrics "$m" "$s" "$bin/rz-metrics" "$dir/master.flac"
  rm -rf "$dir"
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# --- scaling: longest against shortest ----------------------------------------------------------
runs_json=$(printf '%s\n' "${rows[@]}" | jq -R -s -c 'def r($n): . * $n | round / $n;
  split("\n") | map(select(length > 0) | split(" ") | map(tonumber? // .)
  | {stage: .[0], minutes: .[1], audio_s: .[2], wall_s: .[3], peak_rss_mib: (.[4] / 1024 | r(10)),
     disk_gib: (.[5] / 1048576 | r(100)), cpu_s: .[6]}
  | .x_realtime = (if .wall_s > 0 then .audio_s / .wall_s | r(10) else null end))')
# Per stage and for the whole job (summed wall time, largest peak): longest over shortest.
scaling_json=$(jq -c --argjson lo "$shortest" --argjson hi "$longest" '
  def rows($m): map(select(.minutes == $m and .stage != "(generate)"));
  def ratio($a; $b): if $b > 0 then $a / $b * 1000 | round / 1000 else null end;
  def per_s(f): (map(f) | add) / .[0].audio_s;
  rows($lo) as $s | rows($hi) as $l
  | [$s[] | . as $a | $l[] | select(.stage == $a.stage)
     | {stage, peak_rss_ratio: ratio(.peak_rss_mib; $a.peak_rss_mib),
        time_per_audio_s_ratio: ratio(.wall_s / .audio_s; $a.wall_s / $a.audio_s),
        cpu_per_audio_s_ratio: ratio(.cpu_s / .audio_s; $a.cpu_s / $a.audio_s)}]
  + [{stage: "job",
      peak_rss_ratio: ratio($l | map(.peak_rss_mib) | max; $s | map(.peak_rss_mib) | max),
      time_per_audio_s_ratio: ratio($l | per_s(.wall_s); $s | per_s(.wall_s)),
      cpu_per_audio_s_ratio: ratio($l | per_s(.cpu_s); $s | per_s(.cpu_s))}]
  | map(.peak_ok = (.peak_rss_ratio != null and .peak_rss_ratio <= 1.10)
        | .time_ok = (.time_per_audio_s_ratio != null and .time_per_audio_s_ratio <= 1.10))' \
  <<<"$runs_json")
if [ "$longest" -ne "$shortest" ]; then
  echo "scaling, $longest min against $shortest min (targets: each ratio <= 1.10):"
  printf '%-12s %14s %4s %18s %4s %17s\n' stage peak_RSS_ratio ok time/audio_s_ratio ok \
    cpu/audio_s_ratio
  jq -r '.[] | [.stage, .peak_rss_ratio, (if .peak_ok then "yes" else "NO" end),
      .time_per_audio_s_ratio, (if .time_ok then "yes" else "NO" end), .cpu_per_audio_s_ratio]
      | @tsv' <<<"$scaling_json" |
    awk -F'\t' '{ printf "%-12s %14.3f %4s %18.3f %4s %17.3f\n", $1, $2, $3, $4, $5, $6 }'
  jq -r 'map(select(.stage != "job")) as $st
    | def names(f): [$st[] | select(f) | .stage] | if . == [] then "none" else join(", ") end;
      "memory flat (peak RSS ratio <= 1.10): \(names(.peak_ok)); not: \(names(.peak_ok | not))",
      "linear (time ratio <= 1.10): \(names(.time_ok)); not: \(names(.time_ok | not))"' \
    <<<"$scaling_json"
else
  echo "scaling: one length only, no ratios"
  scaling_json=null
fi
peak_disk_kb=$( (cat "$disk_log"; printf '%s\n' "${rows[@]}" | cut -d' ' -f6) | sort -n | tail -n 1)
peak_disk=$(awk -v k="$peak_disk_kb" 'BEGIN { printf "%.2f", k / 1048576 }')
echo "work directory peak: $peak_disk GiB; phone recording made in $base_s s (once, then looped)"
echo "machine: $cpu_model, $cores cores, $date_start; load average $load_start at start," \
  "$load_end at the end"
printf '%s\n' "${notes[@]}" | jq -s -c --arg cpu "$cpu_model" --argjson cores "$cores" \
  --arg date "$date_start" --arg load_start "$load_start" --arg load_end "$load_end" \
  --arg model "$model_note" --argjson threads "$threads" --argjson shortest "$shortest" \
  --argjson longest "$longest" --argjson base_s "$base_s" --argjson peak_disk "$peak_disk" \
  --argjson runs "$runs_json" --argjson scaling "$scaling_json" '
  def stages: $scaling | map(select(.stage != "job"));
  {bench: "long",
   machine: {cpu: $cpu, cores: $cores, date: $date, load_start: $load_start, load_end: $load_end},
   model: $model, separate_threads: $threads,
   input: "real music, rz-phone-sim, peak 1 dB past full scale, looped, 48 kHz stereo s16 WAV",
   phone_sim_s: $base_s, shortest_minutes: $shortest, longest_minutes: $longest,
   peak_disk_gib: $peak_disk, runs: $runs, scaling: $scaling, decisions: .,
   targets_met: (if $scaling == null then null
     else {peak_rss: (stages | map(.peak_ok) | all),
           time_per_audio_s: (stages | map(.time_ok) | all)}
     end)}'
