#!/usr/bin/env bash
# Quality of the enhancement pipeline on simulated phone recordings whose clean original is known.
#
# Each case takes a clean recording from ../shared/audio (cut to DURATION seconds), degrades it
# with rz-phone-sim (sim/phone_sim.cpp), which also writes the clean original aligned with it;
# then runs the pipeline on the simulated input and measures with rz-metrics, against that
# reference, the ingested input ("before") and the pipeline's output ("after"):
#   SI-SDR           dB, higher is better
#   LSD              log-spectral distance, dB, lower is better
#   SNR estimate     rz's blind estimate (rz-metrics snr_db: the recording against its own noise
#                    floor); the clean original's own reading ("clean") is the ceiling
#   loudness error   integrated loudness minus the clean original's, LU (its LUFS in "clean")
# and the change, after - before, of each. An aligned table on stdout, then one JSON line with
# every number (--json: the JSON line only).
#
# Sources: "Let's Go Fishin'" (song: vocals and guitar, from 20 s), Lena Orsa's ragtime (piano),
# MUSDB18 "80s Rock" preview (rock band, 6.8 s), break12 (drums, 8 s). Effects: crowd noise
# (noise/concert-crowd.ogg) at 0, 5 and 10 dB SNR; "phone": the medium-room IR (true stereo),
# crowd noise at 10 dB, band 120:16000, clipping at -1 dBFS (peak driven 6 dB past it), AGC and
# MP3 at 96 kbps; "phone-dry": the same without the room (the room alone costs 8 to 12 dB of
# SI-SDR, which no denoiser gives back; this case shows what the others can). Every case starts
# with LEAD seconds of crowd alone (the reference is silent there: an enhancer should remove it)
# and takes seed SEED + its index.
#
# The pipeline: rz-ingest SIM.wav | VARIANT, once per variant; a variant reads the ingested stem
# directory's path on stdin and prints its output's path (the stem "mix" of an output directory is
# measured, or its only stem). Variants: "PRESET=$ENHANCE --preset PRESET" for each of PRESETS, or
# VARIANTS="name=command;name=command". build/bin comes first on PATH. When a variant's program is
# absent (rz-enhance before it exists) only the "before" columns are measured, and stderr says so;
# ENHANCE=none does the same on purpose.
#
# Usage: bench/quality.sh [--json] [CASE_GLOB...]   e.g. bench/quality.sh 'song-*' '*-phone'
# Environment: ENHANCE ("rz-enhance"), PRESETS ("balanced"), VARIANTS (overrides both), DURATION
# (30, longest source cut), LEAD (2, seconds of crowd before the music), SEED (1), BUILD_DIR
# (build/), RZ_SHARED_DIR (../shared beside the source tree), WORK=/path keeps the files there.
# Needs: a build (scripts/build.sh) and jq (scripts/install-deps.sh --bench).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
prog=quality.sh
build=${BUILD_DIR:-$top/build}
bin="$build/bin"
shared=${RZ_SHARED_DIR:-$top/../shared}
enhance=${ENHANCE:-rz-enhance}
presets=${PRESETS:-balanced}
duration=${DURATION:-30}
lead=${LEAD:-2}
seed=${SEED:-1}
die() { echo "$prog: error: $*" >&2; exit 1; }
usage() { echo "$prog: error: $*" >&2; exit 2; }

json_only=false
globs=()
for arg in "$@"; do
  case "$arg" in
    --json) json_only=true ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    -*) usage "unknown option '$arg' (see --help)" ;;
    *) globs+=("$arg") ;;
  esac
done
[[ "$duration" =~ ^[0-9]+([.][0-9]+)?$ ]] || usage "bad DURATION '$duration': seconds"
[[ "$lead" =~ ^[0-9]+([.][0-9]+)?$ ]] || usage "bad LEAD '$lead': seconds"
[[ "$seed" =~ ^[0-9]+$ ]] || usage "bad SEED '$seed': a whole number"
for tool in rz-phone-sim rz-ingest rz-metrics; do
  [ -x "$bin/$tool" ] || die "no build '$bin/$tool': run scripts/build.sh"
done
command -v jq >/dev/null || die "missing 'jq': run scripts/install-deps.sh --bench"
[ -d "$shared/audio" ] || die "no recordings '$shared/audio': set RZ_SHARED_DIR"
export PATH="$bin:$PATH"

# --- variants -----------------------------------------------------------------------------------
names=()
commands=()
if [ -n "${VARIANTS:-}" ]; then
  IFS=';' read -r -a entries <<<"$VARIANTS"
  for e in "${entries[@]}"; do
    [[ "$e" =~ ^[[:space:]]*([A-Za-z0-9_.+-]+)=(.+)$ ]] \
      || usage "bad VARIANTS entry '$e': NAME=COMMAND"
    names+=("${BASH_REMATCH[1]}")
    commands+=("${BASH_REMATCH[2]}")
  done
elif [ "$enhance" != none ]; then
  for p in $presets; do
    names+=("$p")
    commands+=("$enhance --preset $p")
  done
fi
# Keep the variants whose program exists; say which are left out.
run_names=()
run_commands=()
for i in "${!names[@]}"; do
  program=$(awk '{ print $1 }' <<<"${commands[$i]}")
  if command -v "$program" >/dev/null; then
    run_names+=("${names[$i]}")
    run_commands+=("${commands[$i]}")
  else
    echo "$prog: '$program' is not built: variant '${names[$i]}' skipped," \
      "measuring the input only" >&2
  fi
done
if [ ${#names[@]} -eq 0 ]; then
  echo "$prog: ENHANCE=none: measuring the input only" >&2
fi

work=${WORK:-$(mktemp -d /tmp/rz-bench-quality-XXXXXX)}
mkdir -p "$work"
trap '[ -z "${WORK:-}" ] && rm -rf "$work"' EXIT

# --- cases --------------------------------------------------------------------------------------
crowd="$shared/audio/noise/concert-crowd.ogg"
room="$shared/audio/ir/medium-room1.wav"
# name|file under audio/|start seconds
sources=(
  "song|music/Karissa_Hobbs_-_Lets_Go_Fishin.hq.ogg|20"
  "piano|music/442789__lena-orsa__happy-music-pistachio-ice-cream-ragtime.hq.ogg|0"
  "rock|stems/musdb7-80srock/mixture.wav|0"
  "drums|drums/break12.wav|0"
)
# name|rz-phone-sim effect options
effects=(
  "clean|"
  "snr0|--noise $crowd --snr 0"
  "snr5|--noise $crowd --snr 5"
  "snr10|--noise $crowd --snr 10"
  "phone|--ir $room --noise $crowd --snr 10 --band 120:16000 --clip -1 --agc --codec mp3:96"
  "phone-dry|--noise $crowd --snr 10 --band 120:16000 --clip -1 --agc --codec mp3:96"
)
for s in "${sources[@]}"; do
  f="$shared/audio/$(cut -d'|' -f2 <<<"$s")"
  [ -f "$f" ] || die "missing recording '$f'"
done
for f in "$crowd" "$room"; do [ -f "$f" ] || die "missing recording '$f'"; done

# metrics FILE_OR_DIR [REFERENCE]: the measured stem's record (its "mix", else its only stem).
metrics() {
  local out
  if ! out=$(rz-metrics -q --json "$@" 2>"$work/stderr.txt"); then
    die "rz-metrics failed on '$1': $(tail -n 1 "$work/stderr.txt")"
  fi
  jq -c '.stems | if has("mix") then .mix elif length == 1 then .[] else error("no stem mix") end
    | {si_sdr_db: (.reference.si_sdr_db // null), sdr_db: (.reference.sdr_db // null),
       lsd_db: (.reference.lsd_db // null), snr_db, integrated_lufs}' <<<"$out"
}

records=()
index=0
for s in "${sources[@]}"; do
  IFS='|' read -r sname sfile sstart <<<"$s"
  for e in "${effects[@]}"; do
    IFS='|' read -r ename eopts <<<"$e"
    case_name="$sname-$ename"
    case_seed=$((seed + index))
    index=$((index + 1))
    if [ ${#globs[@]} -gt 0 ]; then
      match=false
      for g in "${globs[@]}"; do
        # shellcheck disable=SC2053
        [[ "$case_name" == $g ]] && match=true
      done
      $match || continue
    fi
    dir="$work/$case_name"
    rm -rf "$dir"
    mkdir -p "$dir"
    sim="$dir/sim.wav"
    ref="$dir/ref.wav"
    # shellcheck disable=SC2086
    if ! rz-phone-sim -q --json "$shared/audio/$sfile" --start "$sstart" --duration "$duration" \
      $eopts ${eopts:+--noise-lead "$lead"} --seed "$case_seed" -o "$sim" --reference "$ref" \
      >"$dir/sim.json" 2>"$work/stderr.txt"; then
      die "rz-phone-sim failed on $case_name: $(tail -n 1 "$work/stderr.txt")"
    fi
    # A noise sample as a user would cut it: the crowd-only lead before the first note (variants
    # read its path from $NOISE_SAMPLE; empty when the case has no noise).
    noise_sample=""
    if [[ "$eopts" == *--noise* ]] && command -v ffmpeg >/dev/null; then
      noise_sample="$dir/noise-sample.wav"
      ffmpeg -loglevel error -y -i "$sim" -t "$lead" -c:a pcm_f32le "$noise_sample" \
        || die "ffmpeg could not cut the noise sample of $case_name"
    fi
    export NOISE_SAMPLE="$noise_sample"
    rz-ingest -q "$sim" -o "$dir/sim.ingest" >/dev/null 2>"$work/stderr.txt" \
      || die "rz-ingest failed on $case_name: $(tail -n 1 "$work/stderr.txt")"
    reference=$(metrics "$ref")
    before=$(metrics "$dir/sim.ingest" --reference "$ref")
    after='{}'
    for i in "${!run_names[@]}"; do
      v="${run_names[$i]}"
      vdir="$dir/$v"
      mkdir -p "$vdir"
      # The whole pipeline from the simulated file, as a user would run it.
      if ! out=$(cd "$vdir" && rz-ingest -q "$sim" -o "$vdir/in.ingest" \
        | bash -c "${run_commands[$i]}" 2>"$work/stderr.txt" | tail -n 1); then
        why=$(tail -n 1 "$work/stderr.txt")
        die "variant '$v' failed on $case_name: ${why:-it exited with an error and said nothing}"
      fi
      [[ -n "$out" && -e "$out" ]] || die "variant '$v' printed no output path on $case_name"
      after=$(jq -c --arg v "$v" --argjson m "$(metrics "$out" --reference "$ref")" \
        '. + {($v): $m}' <<<"$after")
    done
    records+=("$(jq -c --arg case "$case_name" --arg source "$sfile" --arg effect "$ename" \
      --argjson seed "$case_seed" --argjson reference "$reference" --argjson before "$before" \
      --argjson after "$after" \
      '{case: $case, source: $source, effect: $effect, seed: $seed,
        duration_s: .duration_s, lead_s: (.lead_frames / .sample_rate_hz), sim_snr_db: .snr_db,
        sim: [.effects[] | .effect], reference: $reference, before: $before, after: $after}' \
      "$dir/sim.json")")
    $json_only || echo "$prog: $case_name done" >&2
  done
done
[ ${#records[@]} -gt 0 ] || usage "no case matches ${globs[*]}"

# to_json NAME...: a JSON array of strings (empty when no names).
to_json() { printf '%s\n' "$@" | jq -R . | jq -cs 'map(select(. != ""))'; }
variants_json=$(to_json "${names[@]+"${names[@]}"}")
measured_json=$(to_json "${run_names[@]+"${run_names[@]}"}")
all=$(printf '%s\n' "${records[@]}" | jq -cs \
  --argjson variants "$variants_json" --argjson measured "$measured_json" \
  --argjson duration "$duration" --argjson lead "$lead" --argjson seed "$seed" \
  '{bench: "quality", duration_s: $duration, lead_s: $lead, seed: $seed, variants: $variants,
    variants_measured: $measured, cases: .}')

if ! $json_only; then
  # One row per case and variant ("-" and no after columns when nothing was measured).
  jq -r '
    def r: if . == null then "nan" else (. * 100 | round / 100 | tostring) end;
    .cases[] | . as $c
    | (if (.after | length) == 0 then [["-", null]]
       else (.after | to_entries | map([.key, .value])) end)[]
    | [$c.case, .[0],
       ($c.before.si_sdr_db | r), (.[1].si_sdr_db | r),
       ($c.before.lsd_db | r), (.[1].lsd_db | r),
       ($c.reference.snr_db | r), ($c.before.snr_db | r), (.[1].snr_db | r),
       ($c.reference.integrated_lufs | r),
       ($c.before.integrated_lufs - $c.reference.integrated_lufs | r),
       (if .[1] == null then null else .[1].integrated_lufs - $c.reference.integrated_lufs end | r)]
    | @tsv' <<<"$all" | awk -F'\t' '
    function num(x) { return x == "nan" ? "-" : sprintf("%.2f", x) }
    function d(a, b) { return (a == "nan" || b == "nan") ? "-" : sprintf("%+.2f", b - a) }
    BEGIN {
      printf "%-16s %-10s %23s %23s %30s %8s %23s\n", "", "", "SI-SDR dB", "LSD dB",
        "SNR estimate dB", "LUFS", "loudness error LU"
      printf "%-16s %-10s %7s %7s %7s %7s %7s %7s %7s %7s %7s %7s %8s %7s %7s %7s\n", "case",
        "variant", "before", "after", "delta", "before", "after", "delta", "clean", "before",
        "after", "delta", "clean", "before", "after", "delta"
    }
    { printf "%-16s %-10s %7s %7s %7s %7s %7s %7s %7s %7s %7s %7s %8s %7s %7s %7s\n", $1, $2,
        num($3), num($4), d($3, $4), num($5), num($6), d($5, $6), num($7), num($8), num($9),
        d($8, $9), num($10), num($11), num($12), d($11, $12) }'
fi
echo "$all"
