#!/usr/bin/env bash
# No-harm and benefit check of rz-restore, rz-enhance and rz-dereverb on a corpus of clean excerpts
# (issue 13; the corpus comes from tests/corpus/build.sh, its split from corpus.tsv).
#
#   tests/corpus/check.sh --corpus DIR [--split tune|validate|all] [--limit N] [--every K]
#                         [--jobs J] [--work DIR] [--require | --require-bars NAME,...]
#
# Per excerpt (44.1 kHz float WAV, ingested with rz-ingest), four cases:
#   clean    the excerpt as it is: SI-SDR of rz-restore's, rz-enhance's (default preset) and
#            rz-dereverb's output against the input ("copy" where the stage copied the stem bit
#            for bit), and whether rz-dereverb's measurement called the capture reverberant;
#   lp8k     rz-phone-sim --band 0:8000 --band-lowpass-order 16 (zero phase, a codec's steep
#            low-pass): LSD (rz-metrics) against the clean excerpt before and after rz-restore;
#   clip2    rz-phone-sim --clip-ratio 0.02 (hard clip, no gain, 2 % of the samples at the clip
#            level): SDR against the clean excerpt before and after rz-restore.
# The acceptance bars of issue 13 are checked over the chosen split (the thresholds in the code
# were chosen on the tune split; the bars are reported on validate):
#   clean:  restore >= 40 dB or copy; enhance >= 30 dB or copy; dereverb >= 20 dB or copy (the
#           issue excuses a stem its measurement finds reverberant, but clean studio recordings are
#           not reverberant captures, so such a finding here is listed, not excused);
#   lp8k:   mean LSD reduction >= 20 % over excerpts with LSD before >= 2 dB; none worse by more
#           than 0.5 dB;
#   clip2:  mean SDR gain >= +3 dB; none below -0.5 dB.
# Output: one TSV row per excerpt on stdout, then the bars with PASS/FAIL lines, each with its name
# (restore_clean enhance_clean dereverb_clean lp8k_mean lp8k_worst clip2_mean clip2_worst); with
# --require the exit status is 3 when any bar fails, with --require-bars when one of those named
# fails (the others are reported). --every K takes every K-th excerpt of the split (the CI
# subset), --limit N the first N of those. Progress on stderr. Needs rz-ingest, rz-restore,
# rz-enhance, rz-dereverb, rz-metrics and rz-phone-sim (BUILD_DIR, default build/) and jq.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
prog=check.sh
bin="${BUILD_DIR:-$top/build}/bin"
die() { echo "$prog: error: $*" >&2; exit 1; }
usage() {
  echo "usage: $prog --corpus DIR [--split tune|validate|all] [--limit N] [--every K] [--jobs J] [--work DIR] [--require | --require-bars NAME,...]" >&2
  exit 2
}

# The bars (issue 13's acceptance).
readonly kRestoreCleanDb=40 kEnhanceCleanDb=30 kDereverbCleanDb=20
readonly kLsdHadHighsDb=2 kLsdMeanReduction=0.20 kLsdWorstDb=0.5
readonly kClipMeanGainDb=3 kClipWorstDb=-0.5

corpus="" split=validate limit=0 every=1 jobs=2 work="" require=false required=all
while [ $# -gt 0 ]; do
  case "$1" in
    --corpus) corpus=${2:-}; shift 2 ;;
    --split) split=${2:-}; shift 2 ;;
    --limit) limit=${2:-}; shift 2 ;;
    --every) every=${2:-}; shift 2 ;;
    --jobs) jobs=${2:-}; shift 2 ;;
    --work) work=${2:-}; shift 2 ;;
    --require) require=true; shift ;;
    --require-bars) require=true; required=${2:-}; shift 2 ;;
    -h|--help) usage ;;
    *) usage ;;
  esac
done
[ -n "$corpus" ] || usage
[ -f "$corpus/corpus.tsv" ] || die "no corpus.tsv in '$corpus': build it with tests/corpus/build.sh"
case "$split" in tune|validate|all) ;; *) usage ;; esac
[[ "$limit" =~ ^[0-9]+$ && "$every" =~ ^[1-9][0-9]*$ && "$jobs" =~ ^[1-9][0-9]*$ ]] || usage
for tool in rz-ingest rz-restore rz-enhance rz-dereverb rz-metrics rz-phone-sim; do
  [ -x "$bin/$tool" ] || die "no build '$bin/$tool': run scripts/build.sh"
done
command -v jq >/dev/null || die "missing 'jq'"
corpus=$(cd "$corpus" && pwd)
if [ -z "$work" ]; then
  work=$(mktemp -d /tmp/rz-corpus-check-XXXXXX)
  trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"

# one NAME FILE: the four cases of one excerpt; prints its TSV row. It runs through xargs (hence
# the directive: the linter cannot see that call).
# shellcheck disable=SC2317
one() {
  set -euo pipefail  # xargs runs it in a fresh bash: any failing step fails the excerpt
  local name=$1 file=$2 d="$work/$1"
  rm -rf "$d" && mkdir -p "$d"
  m() { "$bin/rz-metrics" --json "$1" --reference "$2" | jq -r ".stems.mix.reference.$3"; }
  # SI-SDR of stage output DIR against INPUT, or "copy" when the stem was copied bit for bit.
  vs_input() {
    if cmp -s "$1/mix.wav" "$2/mix.wav"; then echo copy; else m "$1" "$2/mix.wav" si_sdr_db; fi
  }
  "$bin/rz-ingest" -q "$corpus/$file" -o "$d/in" >/dev/null
  "$bin/rz-restore" -q "$d/in" -o "$d/restore" >/dev/null
  "$bin/rz-enhance" -q "$d/in" -o "$d/enhance" >/dev/null
  "$bin/rz-dereverb" -q "$d/in" -o "$d/dereverb" >/dev/null
  local r e v reverberant
  r=$(vs_input "$d/restore" "$d/in")
  e=$(vs_input "$d/enhance" "$d/in")
  v=$(vs_input "$d/dereverb" "$d/in")
  reverberant=$(jq -r '.history[-1].stems.mix.reverberation.reverberant // false' "$d/dereverb/manifest.json")
  local restore_ran
  restore_ran=$(jq -r '[.history[-1].stems.mix.decisions[]? | select(.applied) | .block] | join(",")' "$d/restore/manifest.json")

  # degraded CASE METRIC SIM_FLAGS...: the excerpt through rz-phone-sim, ingested, restored;
  # prints METRIC against the clean excerpt before and after rz-restore.
  degraded() {
    local c=$1 metric=$2
    shift 2
    "$bin/rz-phone-sim" -q "$corpus/$file" "$@" -o "$d/$c.wav" --reference "$d/$c-ref.wav" \
      -f >/dev/null
    "$bin/rz-ingest" -q "$d/$c.wav" -o "$d/$c-in" >/dev/null
    "$bin/rz-restore" -q "$d/$c-in" -o "$d/$c-out" >/dev/null
    echo "$(m "$d/$c-in" "$d/$c-ref.wav" "$metric") $(m "$d/$c-out" "$d/$c-ref.wav" "$metric")"
  }
  local lb la cb ca
  read -r lb la < <(degraded lp lsd_db --band 0:8000 --band-lowpass-order 16)
  read -r cb ca < <(degraded clip sdr_db --clip-ratio 0.02)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$r" "${restore_ran:--}" "$e" "$v" \
    "$reverberant" "$lb" "$la" "$cb" "$ca"
  echo "$prog: $name done" >&2
}
export -f one
export bin corpus work prog

# The excerpts of the split, every K-th, the first N.
awk -F'\t' -v s="$split" -v k="$every" 'NR > 1 && (s == "all" || $2 == s) { if (i++ % k == 0) print $1 "\t" $3 }' \
  "$corpus/corpus.tsv" | if [ "$limit" -gt 0 ]; then head -n "$limit"; else cat; fi >"$work/list.tsv"
[ -s "$work/list.tsv" ] || die "no excerpts in split '$split'"
echo "$prog: $(wc -l <"$work/list.tsv") excerpts of split '$split', $jobs jobs, work in $work" >&2

printf 'name\trestore_clean\trestore_ran\tenhance_clean\tdereverb_clean\treverberant\tlp_lsd_before\tlp_lsd_after\tclip_sdr_before\tclip_sdr_after\n' \
  >"$work/rows.tsv"
# shellcheck disable=SC2016  # $0 and $1 are the inner bash's
tr '\t' '\n' <"$work/list.tsv" | xargs -d '\n' -n 2 -P "$jobs" bash -c 'one "$0" "$1"' \
  >>"$work/rows.tsv" || die "a case failed (its error is above; --work DIR keeps the files)"
{ head -n 1 "$work/rows.tsv"; tail -n +2 "$work/rows.tsv" | sort -t$'\t' -k1,1; } >"$work/sorted.tsv"
column -t -s$'\t' -o '  ' "$work/sorted.tsv"

status=0
awk -F'\t' -v rc="$kRestoreCleanDb" -v ec="$kEnhanceCleanDb" -v vc="$kDereverbCleanDb" \
  -v lh="$kLsdHadHighsDb" -v lr="$kLsdMeanReduction" -v lw="$kLsdWorstDb" \
  -v cg="$kClipMeanGainDb" -v cw="$kClipWorstDb" -v sp="$split" -v req="$required" '
  function low(x, bar) { return x != "copy" && x + 0 < bar }
  function bar(name, ok, text) {
    printf "%s %-15s %s\n", (ok ? "PASS" : "FAIL"), name, text
    if (!ok && (req == "all" || index("," req ",", "," name ","))) bad++
    failed += !ok
  }
  NR == 1 { next }
  {
    n++
    if (low($2, rc)) rfail = rfail " " $1 "(" sprintf("%.1f", $2) ")"
    if (low($4, ec)) efail = efail " " $1 "(" sprintf("%.1f", $4) ")"
    if (low($5, vc)) vfail = vfail " " $1 "(" sprintf("%.1f", $5) ")"
    if ($6 == "true") reverberant = reverberant " " $1
    if ($7 + 0 >= lh) { hn++; red += ($7 - $8) / $7 }
    if (n == 1 || $8 - $7 > worst_l) { worst_l = $8 - $7; worst_ln = $1 }
    g = $10 - $9; cs += g
    if (n == 1 || g < worst_c) { worst_c = g; worst_cn = $1 }
  }
  END {
    printf "\nbars over %d excerpts of split %s:\n", n, sp
    bad = 0
    failed = 0
    bar("restore_clean", rfail == "", "clean: rz-restore >= " rc " dB or copy" (rfail == "" ? "" : "; below:" rfail))
    bar("enhance_clean", efail == "", "clean: rz-enhance >= " ec " dB or copy" (efail == "" ? "" : "; below:" efail))
    bar("dereverb_clean", vfail == "", "clean: rz-dereverb >= " vc " dB or copy" (vfail == "" ? "" : "; below:" vfail))
    if (reverberant != "") printf "     (rz-dereverb called these clean excerpts reverberant:%s)\n", reverberant
    m = hn > 0 ? red / hn : 0
    bar("lp8k_mean", hn == 0 || m >= lr, sprintf("lp8k: mean LSD reduction %.1f %% over %d excerpts with highs (bar %d %%)", 100 * m, hn, 100 * lr))
    bar("lp8k_worst", worst_l <= lw, sprintf("lp8k: worst LSD change %+.2f dB (%s; bar +%s dB)", worst_l, worst_ln, lw))
    mc = n > 0 ? cs / n : 0
    bar("clip2_mean", n > 0 && mc >= cg, sprintf("clip2: mean SDR gain %+.2f dB (bar %+d dB)", mc, cg))
    bar("clip2_worst", worst_c >= cw, sprintf("clip2: worst SDR gain %+.2f dB (%s; bar %s dB)", worst_c, worst_cn, cw))
    printf "%d of 7 bars failed (%d of them required: %s)\n", failed, bad, req
    exit (bad > 0 ? 3 : 0)
  }' "$work/sorted.tsv" || status=$?
[ "$status" -le 3 ] || die "the summary failed (status $status)"
$require && exit "$status"
exit 0
