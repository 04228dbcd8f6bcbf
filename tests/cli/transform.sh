#!/usr/bin/env bash
# transform.sh: rz-transform end to end (ctest cli.transform): the --json record, the manifest's
# history entry, stems not selected copied bit for bit, a tempo change reaching every stem with the
# length it promises, the path on stdin, -f, --version, bad input refused with the documented
# exit code, one line on stderr and nothing written, and an interrupt (130, nothing left); the
# input is never modified.
# Usage: bash tests/cli/transform.sh BIN_DIR   (needs jq)
set -euo pipefail
bin=$(cd "${1:?usage: transform.sh BIN_DIR}" && pwd)
me=transform.sh
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || { echo "transform.sh: SKIP: jq not found"; exit 77; }
[ -x "$bin/rz-transform" ] || { echo "transform.sh: SKIP: rz-transform not built (RZ_WITH_RUBBERBAND=OFF)"; exit 77; }
export PATH="$bin:$PATH" LC_ALL=C
work=$(mktemp -d "${TMPDIR:-/tmp}/rz-transform-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

rz-make-example --duration 4 --clean-dir stems gig.wav >/dev/null
make_band stems band 192000
(cd band && sha256sum ./*) >input.sha

# 1. One stem shifted, the others copied (vocals, selected, is silent in the first 4 s of the
#    example: nothing to shift); the record and the history entry.
expect 0 rz-transform --json band --pitch -2 --stems bass,vocals -o out
jq -e '.output == "out" and .stems == {"bass": "processed", "drums": "unprocessed",
  "other": "unprocessed", "vocals": "unprocessed"} and .pitch_semitones == -2 and .tempo == 1
  and .frames_in == 192000 and .frames_out == 192000' out.txt >/dev/null ||
  fail "--json record: $(cat out.txt)"
[ "$(wc -l <out.txt)" -eq 1 ] || fail "--json printed more than one line"
jq -e '.history[-1] | .tool == "rz-transform" and (.inputs | length) == 4
  and (.elapsed_s | type) == "number"
  and .parameters.pitch_semitones == -2 and .parameters.tempo == 1 and .parameters.window == "standard"
  and .parameters.formants == "shifted" and .parameters.stems == ["bass", "vocals"]
  and (.parameters.library | startswith("rubberband 3."))
  and .stems.bass.result == "processed" and .stems.bass.frames_out == 192000
  and (.stems.bass.peak_dbfs | type) == "number"
  and .stems.vocals.why == "silent: nothing to shift"
  and .stems.drums.result == "unprocessed" and .stems.drums.why == "not selected (--stems)"' \
  out/manifest.json >/dev/null || fail "history entry: $(jq -c '.history[-1]' out/manifest.json)"
for s in drums other vocals; do
  cmp -s "band/$s.wav" "out/$s.wav" || fail "$s (not selected or silent) was not copied bit for bit"
done
cmp -s band/bass.wav out/bass.wav && fail "bass was selected but is unchanged"
rz-metrics --verify --no-spectral out >/dev/null || fail "the output does not verify"

# 2. A tempo change reaches every stem: 4 s at 1.25x is 3.2 s, 153600 frames, in every stem.
expect 0 rz-transform band --tempo 1.25 --pitch 1 --formant preserve --window short --stems bass \
  -o fast
grep -q "the tempo applies to every stem" err.txt || fail "no note on the tempo: $(cat err.txt)"
jq -e '.frames == 153600 and ([.stems[].frames] | all(. == 153600))
  and .history[-1].parameters.formants == "preserved" and .history[-1].parameters.window == "short"
  and ([.history[-1].stems[].result] | all(. == "processed"))
  and .history[-1].stems.bass.pitch_semitones == 1 and .history[-1].stems.drums.pitch_semitones == 0' \
  fast/manifest.json >/dev/null || fail "tempo run: $(jq -c '{frames, stems: [.stems[].frames]}' fast/manifest.json)"
rz-metrics --verify --no-spectral fast >/dev/null || fail "the tempo run's output does not verify"

# 3. Neither pitch nor tempo: every stem copied, and said so.
expect 0 rz-transform band -o same
grep -q "every stem copied" err.txt || fail "no-op note: $(cat err.txt)"
for s in drums bass other vocals; do cmp -s "band/$s.wav" "same/$s.wav" || fail "$s not copied"; done

# 4. The path on stdin, the default output name, -f, --version.
echo band | rz-transform -q --pitch 12 --stems bass >out.txt || fail "path on stdin"
[ "$(cat out.txt)" = band.tf ] || fail "default output: $(cat out.txt)"
expect 1 rz-transform band --pitch 12 --stems bass
grep -q "exists" err.txt || fail "existing output: $(cat err.txt)"
expect 0 rz-transform -f band --pitch 7 --stems bass
jq -e '.history[-1].parameters.pitch_semitones == 7' band.tf/manifest.json >/dev/null ||
  fail "-f did not replace band.tf"
rz-transform --version | grep -q "^rubberband 3\." || fail "--version: $(rz-transform --version)"

# 5. Bad input: the documented code, one line on stderr, nothing written.
refuse() {  # CODE PATTERN ARGS...
  local code=$1 pattern=$2
  shift 2
  expect "$code" rz-transform "$@" -o refused
  grep -q -e "$pattern" err.txt || fail "'$*': stderr does not say '$pattern': $(cat err.txt)"
  [ ! -e refused ] || fail "'$*' left output behind"
}
refuse 2 "bad --pitch '30.00'" band --pitch 30
refuse 2 "bad --tempo '0.00'" band --tempo 0
refuse 2 "--tempo = fast" band --tempo fast
refuse 2 "no such stem 'keys'" band --pitch 1 --stems keys
refuse 2 "formant" band --pitch 1 --formant keep
refuse 2 "window" band --pitch 1 --window long
refuse 1 "nowhere" nowhere --pitch 1
for f in .rz-*; do [ -e "$f" ] && fail "a temporary was left: $f"; done

# 6. Interrupted while it writes: exit 130, nothing left.
rz-make-example --duration 30 --seed 4 --clean-dir long.stems long.wav >/dev/null
make_band long.stems long 1440000
expect_interrupted long.tf rz-transform long --tempo 0.9 -o long.tf
(cd band && sha256sum -c --quiet ../input.sha) || fail "the input was modified"
echo "transform.sh: ok"
