#!/usr/bin/env bash
# End-to-end benchmark of the restoration chain on simulated phone captures (issue 13): every clean
# excerpt of a corpus through rz-phone-sim at several SNRs, then rz-ingest | rz-restore |
# rz-dereverb | rz-enhance | rz-mix and the chain without each stage in turn, scored against the
# clean original and against the early sound.
#
#   bench/phone-e2e.sh --corpus DIR [--split tune|validate|all] [--limit N] [--snr LIST]
#                      [--ir NAME] [--jobs J] [CLEAN...]
#
#   --corpus DIR   a corpus: DIR/corpus.tsv, tab-separated with a header line, columns (by name)
#                  name split file stems_dir kind has_bass has_highs source licence description,
#                  `file` relative to DIR (tests/corpus/build.sh makes one); default $RZ_CORPUS_DIR
#   --split S      the rows whose split is S: tune, validate (default) or all
#   --limit N      only the first N rows selected
#   --snr LIST     comma-separated music-to-crowd SNRs in dB (default 0,5,10)
#   --ir NAME      room of every excerpt: ../shared/audio/ir/NAME.wav, or a path to a WAV; default
#                  alternates by corpus row: odd rows omni-35-10 (a hall), even rows medium-room1
#   --jobs J       excerpt x SNR cases run in parallel (default 2), each in its own directory
#   CLEAN...       audio files instead of a corpus (names from the file names, rows 1, 2, ...)
#
# Per excerpt (corpus row i) and SNR S, the phone capture is
#   rz-phone-sim CLEAN --ir IR --noise ../shared/audio/noise/concert-crowd.ogg --snr S
#     --band 120:8000 --band-lowpass-order 16 --clip-ratio 0.01 --agc --codec opus:64 --seed i
# (effects run in rz-phone-sim's fixed order whatever the order of the flags: room, crowd, band,
# clipping at the level 1 % of the samples reach, AGC, Opus at 64 kbps), run twice: once with
# --reference ref.wav (the clean original, aligned) and once with --reference-early 50 --reference
# early.wav (the clean input through the first 50 ms of the IR: the target of dereverberation).
# rz-phone-sim takes one --reference per run; the seed makes both captures identical, which the
# script checks by their SHA-256. Then rz-ingest, and five variants, each stage with its defaults,
# chained by directory (shared prefixes run once):
#   input        rz-ingest only
#   full         restore, dereverb, enhance, mix
#   no_restore   dereverb, enhance, mix
#   no_dereverb  restore, enhance, mix
#   no_enhance   restore, dereverb, mix
# rz-mix of one stem at its defaults copies it bit for bit (unity gain), so it changes no level.
#
# Each variant: SI-SDR, SDR and LSD against ref.wav and early.wav (rz-metrics --reference) and the
# blind SNR estimate (rz-metrics' snr_db); gains are the variant minus input. LSD is not
# gain-invariant: a stage that changes the level (denoising lowers it) moves LSD too. Also what
# each stage decided, from its manifest entry: the blocks it applied (`decisions[]` with
# `applied`), and `result`, `decision`, `confidence` and `taps` where the stage records them.
#
# Out: a table per case on stdout (excerpt x SNR x variant), a summary per SNR and variant (mean,
# worst and best SI-SDR gain against the early sound, mean SI-SDR gain against the clean, mean LSD
# change) and each stage's contribution (full chain minus the chain without it, mean over
# excerpts), then one JSON line {bench: "phone-e2e", machine, split, corpus, ir, snrs, sim,
# tools_sha256 (the first 12 hex digits of each binary), cases, summary, contributions}. Progress on
# stderr. A build that changes during the run (someone building into BUILD_DIR) is an error.
#
# WORK=/path keeps the files (WORK/NAME/snrS/); otherwise a temporary directory removed at exit.
# BUILD_DIR picks the build (default build/), RZ_SHARED_DIR the recordings (default ../shared).
# Exit status: 0 ok, 1 a tool is missing or a step failed (one line on stderr says which), 2 usage.
# Needs: a build (scripts/build.sh) and jq (scripts/install-deps.sh --bench).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
prog=phone-e2e.sh
bin="${BUILD_DIR:-$top/build}/bin"
shared=${RZ_SHARED_DIR:-$top/../shared}
die() { echo "$prog: error: $*" >&2; exit 1; }
usage_error() { echo "$prog: error: $* (see --help)" >&2; exit 2; }
help() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

corpus=${RZ_CORPUS_DIR:-} split=validate limit=0 snr_list=0,5,10 ir_opt="" jobs=2 files=()
while [ $# -gt 0 ]; do
  case "$1" in
    --corpus | --split | --limit | --snr | --ir | --jobs)
      [ $# -ge 2 ] || usage_error "$1 needs a value" ;;&
    --corpus) corpus=$2; shift 2 ;;
    --split) split=$2; shift 2 ;;
    --limit) limit=$2; shift 2 ;;
    --snr) snr_list=$2; shift 2 ;;
    --ir) ir_opt=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    -h | --help) help; exit 0 ;;
    -*) usage_error "unknown option '$1'" ;;
    *) files+=("$1"); shift ;;
  esac
done
case "$split" in tune | validate | all) ;; *) usage_error "--split takes tune, validate or all, not '$split'" ;; esac
[[ $limit =~ ^[0-9]+$ ]] || usage_error "--limit takes a whole number, not '$limit'"
[[ $jobs =~ ^[1-9][0-9]*$ ]] || usage_error "--jobs takes a positive whole number, not '$jobs'"
[[ $snr_list =~ ^-?[0-9]+(\.[0-9]+)?(,-?[0-9]+(\.[0-9]+)?)*$ ]] ||
  usage_error "--snr takes comma-separated numbers in dB, not '$snr_list'"
IFS=, read -r -a snrs <<<"$snr_list"

for tool in rz-phone-sim rz-ingest rz-restore rz-dereverb rz-enhance rz-mix rz-metrics; do
  [ -x "$bin/$tool" ] || die "no build '$bin/$tool': run scripts/build.sh (or set BUILD_DIR)"
done
command -v jq >/dev/null || die "missing 'jq': run scripts/install-deps.sh --bench"
crowd="$shared/audio/noise/concert-crowd.ogg"
[ -f "$crowd" ] || die "no crowd recording '$crowd': set RZ_SHARED_DIR"
ir_path() { # NAME or path -> path of the IR file
  case "$1" in */* | *.wav) echo "$1" ;; *) echo "$shared/audio/ir/$1.wav" ;; esac
}
for ir in ${ir_opt:-omni-35-10 medium-room1}; do
  [ -f "$(ir_path "$ir")" ] || die "no impulse response '$(ir_path "$ir")'"
done

# The excerpts: lines "row<TAB>name<TAB>path", in corpus order.
if [ ${#files[@]} -gt 0 ]; then
  list=$(for i in "${!files[@]}"; do
    f=${files[$i]}; [ -f "$f" ] || die "no such file '$f'"
    n=$(basename "$f"); printf '%d\t%s\t%s\n' $((i + 1)) "${n%.*}" "$(cd "$(dirname "$f")" && pwd)/$(basename "$f")"
  done)
  split=files
else
  [ -n "$corpus" ] || usage_error "no corpus: give --corpus DIR (or RZ_CORPUS_DIR) or clean audio files"
  [ -f "$corpus/corpus.tsv" ] || die "no corpus table '$corpus/corpus.tsv'"
  corpus=$(cd "$corpus" && pwd)
  list=$(awk -F'\t' -v want="$split" -v dir="$corpus" '
    NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i
              if (!col["name"] || !col["split"] || !col["file"]) { print "header"; exit 1 }
              next }
    /^[[:space:]]*$/ { next }
    { row++ }
    want == "all" || $col["split"] == want {
      if ($col["name"] == "" || $col["file"] == "") { print "row " row; exit 1 }
      f = $col["file"]; if (f !~ /^\//) f = dir "/" f
      printf "%d\t%s\t%s\n", row, $col["name"], f }' "$corpus/corpus.tsv") ||
    die "bad corpus table '$corpus/corpus.tsv': ${list:-unreadable} (needs columns name, split, file)"
fi
[ "$limit" -gt 0 ] && list=$(head -n "$limit" <<<"$list")
[ -n "$list" ] || die "no excerpts in split '$split' of '$corpus/corpus.tsv'"
while IFS=$'\t' read -r _ _ f; do [ -f "$f" ] || die "no such excerpt '$f'"; done <<<"$list"

work=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/rz-bench-e2e-XXXXXX")}
mkdir -p "$work"
trap '[ -z "${WORK:-}" ] && rm -rf "$work"' EXIT

variants="input= full=rdem no_restore=dem no_dereverb=rem no_enhance=rdm"
declare -A stage_tool=([r]=rz-restore [d]=rz-dereverb [e]=rz-enhance [m]=rz-mix)
declare -A stage_name=([r]=restore [d]=dereverb [e]=enhance [m]=mix)

# run DIR WHAT OUT CMD...: CMD, stdout to OUT, stderr kept; on failure DIR/error says so, and the
# case ends.
run() {
  local u=$1 what=$2 out=$3; shift 3
  "$@" >"$out" 2>"$u/stderr.txt" || {
    echo "$what failed: $(tail -n 1 "$u/stderr.txt")" >"$u/error"
    exit 1
  }
}

# decided DIR: what the stage that wrote DIR recorded for stem mix, as one JSON object.
decided() {
  jq -c '.history[-1] as $h | ($h.stems.mix // {}) as $s |
    (if ($s.decisions | type) == "array"
     then {ran: [$s.decisions[] | select(type == "object" and (.applied // false))
                 | (.block // .name // "?")]}
     else {} end)
    + ({result: $s.result, decision: ($s.decision // $h.decision),
        confidence: ($s.confidence // $h.confidence), taps: $s.taps}
       | with_entries(select(.value != null)))' "$1/manifest.json"
}

# one_case ROW NAME CLEAN SNR: one excerpt at one SNR, in $work/NAME/snrSNR; writes cases.json.
one_case() {
  local row=$1 name=$2 clean=$3 snr=$4 u ir t0 sim chain letters acc prev dir l i stages
  u="$work/$name/snr$snr"
  t0=$(date +%s.%N)
  rm -rf "$u"; mkdir -p "$u"
  if [ -n "$ir_opt" ]; then ir=$ir_opt; elif [ $((row % 2)) = 1 ]; then ir=omni-35-10; else ir=medium-room1; fi
  sim=(nice -n 10 "$bin/rz-phone-sim" -q "$clean" --ir "$(ir_path "$ir")" --noise "$crowd" --snr "$snr"
    --band 120:8000 --band-lowpass-order 16 --clip-ratio 0.01 --agc --codec opus:64 --seed "$row" -f)
  run "$u" "rz-phone-sim on '$clean'" /dev/null "${sim[@]}" -o "$u/sim.wav" --reference "$u/ref.wav"
  run "$u" "rz-phone-sim on '$clean'" /dev/null "${sim[@]}" -o "$u/sim-early.wav" --reference-early 50 --reference "$u/early.wav"
  [ "$(sha256sum <"$u/sim.wav")" = "$(sha256sum <"$u/sim-early.wav")" ] || {
    echo "the two captures of '$clean' (seed $row) differ: rz-phone-sim is not deterministic" >"$u/error"
    exit 1
  }
  rm -f "$u/sim-early.wav"
  run "$u" "rz-ingest on $name snr $snr" /dev/null nice -n 10 "$bin/rz-ingest" -q -f "$u/sim.wav" -o "$u/in"
  : >"$u/variants.jsonl"
  for chain in $variants; do
    letters=${chain#*=} acc="" prev="$u/in" stages="{}"
    for ((i = 0; i < ${#letters}; i++)); do
      l=${letters:i:1} acc+=${letters:i:1} dir="$u/s-$acc"
      [ -f "$dir/manifest.json" ] ||
        run "$u" "${stage_tool[$l]} on $name snr $snr" /dev/null nice -n 10 "$bin/${stage_tool[$l]}" -q -f "$prev" -o "$dir"
      [ "$l" = m ] || stages=$(jq -c --arg k "${stage_name[$l]}" --argjson v "$(decided "$dir")" '. + {($k): $v}' <<<"$stages")
      prev=$dir
    done
    run "$u" "rz-metrics on $name snr $snr" "$u/m-clean.json" \
      nice -n 10 "$bin/rz-metrics" --json "$prev" --reference "$u/ref.wav"
    run "$u" "rz-metrics on $name snr $snr" "$u/m-early.json" \
      nice -n 10 "$bin/rz-metrics" --json "$prev" --reference "$u/early.wav"
    jq -cn --slurpfile c "$u/m-clean.json" --slurpfile e "$u/m-early.json" --arg x "$name" \
      --argjson row "$row" --argjson snr "$snr" --arg ir "$ir" --arg v "${chain%%=*}" \
      --argjson st "$stages" '
      $c[0].stems.mix as $mc | $e[0].stems.mix as $me |
      {excerpt: $x, row: $row, snr: $snr, ir: $ir, variant: $v,
       si_sdr_clean: $mc.reference.si_sdr_db, sdr_clean: $mc.reference.sdr_db,
       lsd_clean: $mc.reference.lsd_db, si_sdr_early: $me.reference.si_sdr_db,
       sdr_early: $me.reference.sdr_db, lsd_early: $me.reference.lsd_db,
       snr_est: $mc.snr_db, stages: $st}' >>"$u/variants.jsonl"
  done
  jq -cs --argjson s "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')" '
    (map(select(.variant == "input"))[0]) as $in |
    map(. + {gain_si_sdr_clean: (.si_sdr_clean - $in.si_sdr_clean),
             gain_si_sdr_early: (.si_sdr_early - $in.si_sdr_early),
             gain_sdr_clean: (.sdr_clean - $in.sdr_clean),
             change_lsd_clean: (.lsd_clean - $in.lsd_clean),
             change_lsd_early: (.lsd_early - $in.lsd_early),
             change_snr_est: (.snr_est - $in.snr_est), case_s: $s})' "$u/variants.jsonl" >"$u/cases.json"
  echo "$prog: done $name at $snr dB ($(jq '.[0].case_s' "$u/cases.json") s)" >&2
}

# Stop our running cases and their tools (by process id), e.g. after a failure or an interrupt.
stop_cases() {
  local p cases tools=() i
  cases=$(jobs -rp)
  for p in $cases; do mapfile -t -O "${#tools[@]}" tools < <(pgrep -P "$p"); done
  for p in $cases "${tools[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do # the tools remove their temporary outputs, then exit
    any_alive "${tools[@]}" || break
    sleep 0.1
  done
}
any_alive() {
  local p
  for p; do kill -0 "$p" 2>/dev/null && return 0; done
  return 1
}
check_failed() {
  local e
  e=$(find "$work" -mindepth 3 -maxdepth 3 -name error -newer "$work/.started" 2>/dev/null | head -n 1)
  [ -z "$e" ] || { stop_cases; die "$(cat "$e")"; }
}
trap 'stop_cases; echo "$prog: interrupted" >&2; exit 130' INT TERM

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
date_start=$(date -u '+%Y-%m-%d %H:%M UTC')
n_excerpts=$(wc -l <<<"$list")
n_cases=$((n_excerpts * ${#snrs[@]}))
echo "$prog: $n_excerpts excerpts x ${#snrs[@]} SNRs = $n_cases cases, $jobs at a time, in $work" >&2
# The binaries' hashes: a build that changes during the run would mix two versions of a stage.
tools_used="rz-phone-sim rz-ingest rz-restore rz-dereverb rz-enhance rz-mix rz-metrics"
hashes() { local t; for t in $tools_used; do printf '%s %s\n' "$t" "$(sha256sum <"$bin/$t" | cut -c1-12)"; done; }
hashes_start=$(hashes)
touch "$work/.started"
t_start=$(date +%s.%N)
k=0
while IFS=$'\t' read -r row name clean; do
  for snr in "${snrs[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; check_failed; done
    k=$((k + 1))
    echo "$prog: [$k/$n_cases] $name at $snr dB" >&2
    one_case "$row" "$name" "$clean" "$snr" &
  done
done <<<"$list"
while [ -n "$(jobs -rp)" ]; do wait -n || true; check_failed; done
wait
check_failed
changed=$(diff <(echo "$hashes_start") <(hashes) | awk '/^>/ { printf "%s%s", sep, $2; sep = ", " }') || true
[ -z "$changed" ] || die "the build changed during the run ($changed in '$bin'): run again"
wall=$(awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')

cases=$(while IFS=$'\t' read -r _ name _; do
  for snr in "${snrs[@]}"; do
    [ -f "$work/$name/snr$snr/cases.json" ] || die "no results for $name at $snr dB"
    cat "$work/$name/snr$snr/cases.json"
  done
done <<<"$list" | jq -cs 'add')

# jq: a number with two decimals, or n/a.
# shellcheck disable=SC2016  # jq variables
jq_f='def f: if . == null then "n/a" else (. * 100 | round) as $n | ($n | fabs) as $a
  | (if $n < 0 then "-" else "" end) + ($a / 100 | floor | tostring) + "."
    + ($a % 100 | tostring | if length < 2 then "0" + . else . end) end;'
# The table: one row per case.
fmt='%-16s %5s %-12s %12s %12s %9s %8s %9s %9s %8s %8s  %s\n'
# shellcheck disable=SC2059  # the format is the table's
printf "$fmt" excerpt snr variant si_sdr_clean si_sdr_early lsd_clean snr_est g_sisdr_c g_sisdr_e d_lsd_c d_snr "what ran (restore; dereverb; enhance)"
jq -r "$jq_f"'
  def st: if . == null then "-" else
    [(.ran | if . == null then empty elif length > 0 then join("+") else "nothing" end),
     (.result // empty), (.taps // empty | "taps \(.)"), (.decision // empty | "decision \(.)"),
     (.confidence // empty | "confidence \(f)")] | join(" ") end;
  .[] | [.excerpt, (.snr | tostring), .variant, (.si_sdr_clean | f), (.si_sdr_early | f),
         (.lsd_clean | f), (.snr_est | f), (.gain_si_sdr_clean | f), (.gain_si_sdr_early | f),
         (.change_lsd_clean | f), (.change_snr_est | f),
         (if .variant == "input" then "" else
           ([.stages.restore, .stages.dereverb, .stages.enhance] | map(st) | join("; ")) end)]
  | @tsv' <<<"$cases" |
  while IFS=$'\t' read -r -a c; do
    # shellcheck disable=SC2059
    printf "$fmt" "${c[@]:0:11}" "${c[11]:-}"
  done

summary=$(jq -c 'def mean: if length == 0 then null else add / length end;
  group_by(.snr) | map(group_by(.variant) | map(select(.[0].variant != "input") |
    {snr: .[0].snr, variant: .[0].variant, excerpts: length,
     si_sdr_early_gain: {mean: (map(.gain_si_sdr_early) | mean), worst: (map(.gain_si_sdr_early) | min),
                         best: (map(.gain_si_sdr_early) | max)},
     si_sdr_clean_gain_mean: (map(.gain_si_sdr_clean) | mean),
     lsd_clean_change_mean: (map(.change_lsd_clean) | mean),
     snr_est_change_mean: (map(.change_snr_est) | mean)})) | add
  | sort_by(.snr, (.variant as $v | ["full", "no_restore", "no_dereverb", "no_enhance"] | index($v)))' <<<"$cases")
contributions=$(jq -c '
  def mean: if length == 0 then null else add / length end;
  [group_by(.snr)[] as $g | ["restore", "dereverb", "enhance"][] as $stage |
    [$g[] | select(.variant == "full")] as $full |
    [$full[] as $f | ($g[] | select(.variant == "no_" + $stage and .excerpt == $f.excerpt)) as $w |
      {e: ($f.si_sdr_early - $w.si_sdr_early), c: ($f.si_sdr_clean - $w.si_sdr_clean),
       l: ($f.lsd_clean - $w.lsd_clean)}] as $d |
    {snr: $g[0].snr, stage: $stage, excerpts: ($d | length),
     si_sdr_early: ($d | map(.e) | mean), si_sdr_early_worst: ($d | map(.e) | min),
     si_sdr_early_best: ($d | map(.e) | max), si_sdr_clean: ($d | map(.c) | mean),
     lsd_clean: ($d | map(.l) | mean)}]' <<<"$cases")

echo
echo "summary: gains are the variant minus input (dB; LSD: change, lower is better), mean over excerpts"
sfmt='%5s %-12s %8s %12s %12s %12s %12s %12s\n'
# shellcheck disable=SC2059
printf "$sfmt" snr variant excerpts sisdr_e_mean sisdr_e_worst sisdr_e_best sisdr_c_mean d_lsd_c_mean
jq -r "$jq_f"'
  .[] | [(.snr | tostring), .variant, (.excerpts | tostring), (.si_sdr_early_gain.mean | f),
         (.si_sdr_early_gain.worst | f), (.si_sdr_early_gain.best | f),
         (.si_sdr_clean_gain_mean | f), (.lsd_clean_change_mean | f)] | @tsv' <<<"$summary" |
  while IFS=$'\t' read -r -a c; do
    # shellcheck disable=SC2059
    printf "$sfmt" "${c[@]}"
  done
echo
echo "contribution of each stage: full chain minus the chain without it, mean over excerpts (worst, best)"
cfmt='%5s %-9s %8s %24s %12s %12s\n'
# shellcheck disable=SC2059
printf "$cfmt" snr stage excerpts "sisdr_e (worst, best)" sisdr_c lsd_c
jq -r "$jq_f"'
  .[] | [(.snr | tostring), .stage, (.excerpts | tostring),
         "\(.si_sdr_early | f) (\(.si_sdr_early_worst | f), \(.si_sdr_early_best | f))",
         (.si_sdr_clean | f), (.lsd_clean | f)] | @tsv' <<<"$contributions" |
  while IFS=$'\t' read -r -a c; do
    # shellcheck disable=SC2059
    printf "$cfmt" "${c[@]}"
  done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
per_case=$(awk -v w="$wall" -v n="$n_cases" 'BEGIN { printf "%.1f", w / n }')
case_s=$(jq '[.[] | select(.variant == "input") | .case_s] | add / length | . * 10 | round / 10' <<<"$cases")
echo
echo "machine: $(nproc) cores ($cpu), load average $load_start at start, $load_end at the end"
echo "time: $wall s for $n_cases cases, $jobs at a time: $per_case s per case; each case took $case_s s" \
  "(mean, while sharing the machine with the other jobs)"
# The cases go through a file: a hundred excerpt x SNR cases overflow an argument list.
printf '%s' "$cases" >"$work/cases-all.json"
jq -cn --arg cpu "$cpu" --argjson cores "$(nproc)" --arg date "$date_start" --arg ls "$load_start" \
  --arg le "$load_end" --argjson wall "$wall" --argjson jobs "$jobs" --argjson case_s "$case_s" --arg split "$split" \
  --arg corpus "${corpus:-}" --arg ir "${ir_opt:-alternate omni-35-10, medium-room1}" \
  --argjson snrs "[$snr_list]" --slurpfile cases "$work/cases-all.json" --argjson summary "$summary" \
  --argjson contributions "$contributions" \
  --argjson tools "$(awk '{ printf "%s\"%s\": \"%s\"", (NR > 1 ? ", " : "{"), $1, $2 } END { print "}" }' <<<"$hashes_start")" '
  {bench: "phone-e2e",
   machine: {cpu: $cpu, cores: $cores, date: $date, load_start: $ls, load_end: $le, jobs: $jobs,
             wall_s: $wall, case_s_mean: $case_s},
   tools_sha256: $tools,
   split: $split, corpus: $corpus, ir: $ir, snrs: $snrs,
   sim: "--band 120:8000 --band-lowpass-order 16 --clip-ratio 0.01 --agc --codec opus:64, crowd concert-crowd.ogg",
   cases: $cases[0], summary: $summary, contributions: $contributions}'
