#!/usr/bin/env bash
# tempo_concert.sh: rz-analyze's tempo on rz-make-example's concerts, the demo's own material
# (ctest corpus.tempo_concert; issue 16: within +-1 BPM).
#
# Each seed is a song at 116-124 BPM (rz-make-example writes the truth into --clean-dir), with a
# kick on one and three and a snare on two and four: analysed as the phone take (venue reverb,
# crowd, 120 Hz-11 kHz band, AGC, clipping) and as the clean mix, 30 s each.
# - tune: seeds 1-6 at 44.1 kHz. rhythm.cpp's kMinAlternation was chosen on these (with the unit
#   test's tuning tempos); every one must pass.
# - validate: seeds 7-12 at 44.1 kHz and 13-24 at 48 kHz, not looked at while choosing. At least
#   kMinShare must pass and every miss must be an octave error (twice or half the tempo).
# Measured (2026-12-06): tune 12 of 12, validate 36 of 36. Before the metrical-level step: tune
# 3 of 12, validate 16 of 36; with its first measure (no bar-of-four term), validate 35 of 36.
#
# Usage: bash tests/cli/tempo_concert.sh BIN_DIR   (needs jq; exits 77, skipped, without it)
set -euo pipefail
bin=$(cd "${1:?usage: tempo_concert.sh BIN_DIR}" && pwd)
command -v jq >/dev/null || { echo "tempo_concert.sh: SKIP: jq not found"; exit 77; }
kTolBpm=1       # issue 16
# Of the validation cases. Not all: a phone take is reverberant and noisy and its song's pattern
# random, and the metrical level is a judgement on it; one miss in 36 (an octave error) is allowed.
kMinShare=0.95
work=$(mktemp -d "${TMPDIR:-/tmp}/rz-tempo-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
declare -A pass total octave
status=0
run() {  # split seed rate
  local split=$1 seed=$2 rate=$3 truth name est
  "$bin/rz-make-example" --seed "$seed" --rate "$rate" --duration 30 \
    --clean-dir "$work/clean$seed" "$work/phone$seed.wav" >/dev/null
  truth=$(jq .bpm "$work/clean$seed/truth.json")
  for name in phone clean; do
    local input=$work/phone$seed.wav
    [ "$name" = clean ] && input=$work/clean$seed/mix.wav
    est=$("$bin/rz-analyze" -q -f --json --pitch none -o "$work/out.json" "$input" | jq .tempo.bpm)
    total[$split]=$((${total[$split]:-0} + 1))
    if awk -v e="$est" -v t="$truth" -v k="$kTolBpm" 'BEGIN { d = e - t; exit !(d <= k && -d <= k) }'; then
      pass[$split]=$((${pass[$split]:-0} + 1))
    else
      if awk -v e="$est" -v t="$truth" -v k="$kTolBpm" \
        'BEGIN { a = e - 2 * t; b = e - t / 2; exit !((a <= 2 * k && -a <= 2 * k) || (b <= k && -b <= k)) }'; then
        octave[$split]=$((${octave[$split]:-0} + 1))
      fi
      echo "tempo_concert.sh: $split seed $seed ($rate Hz) $name: read $est BPM, truth $truth" >&2
    fi
  done
}
for seed in 1 2 3 4 5 6; do run tune "$seed" 44100; done
for seed in 7 8 9 10 11 12; do run validate "$seed" 44100; done
for seed in $(seq 13 24); do run validate "$seed" 48000; done
for split in tune validate; do
  echo "tempo_concert.sh: $split: ${pass[$split]:-0} of ${total[$split]} within $kTolBpm BPM," \
    "${octave[$split]:-0} octave errors" >&2
done
if [ "${pass[tune]:-0}" -ne "${total[tune]}" ]; then
  echo "tempo_concert.sh: FAIL: a tuning case misses" >&2
  status=1
fi
if ! awk -v p="${pass[validate]:-0}" -v t="${total[validate]}" -v m="$kMinShare" 'BEGIN { exit !(p >= m * t) }'; then
  echo "tempo_concert.sh: FAIL: fewer than $kMinShare of the validation cases pass" >&2
  status=1
fi
if [ $((${pass[validate]:-0} + ${octave[validate]:-0})) -ne "${total[validate]}" ]; then
  echo "tempo_concert.sh: FAIL: a validation miss is not an octave error" >&2
  status=1
fi
exit $status
