#!/usr/bin/env bash
# restyle.sh: rz-restyle end to end (ctest cli.restyle): the --json record, the manifest's history
# entry (style path and SHA-256, grain library, per-stem segments and choices), stems not selected
# copied bit for bit, lengths kept, the same seed giving the same stems, the path on stdin, -f,
# bad input refused with the documented exit code, one line on stderr and nothing written, and an
# interrupt (130, nothing left); the input is never modified.
# Usage: bash tests/cli/restyle.sh BIN_DIR   (needs jq and python3)
set -euo pipefail
bin=$(cd "${1:?usage: restyle.sh BIN_DIR}" && pwd)
me=restyle.sh
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
for tool in jq python3; do
  command -v "$tool" >/dev/null || { echo "restyle.sh: SKIP: $tool not found"; exit 77; }
done
export PATH="$bin:$PATH" LC_ALL=C
work=$(mktemp -d "${TMPDIR:-/tmp}/rz-restyle-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

rz-make-example --duration 8 --clean-dir stems gig.wav >/dev/null
make_band stems band 384000
cp band/other.wav style.wav
# A silent style and a 5 ms one: no grain in either.
python3 - <<'PY'
import struct, wave
for name, frames, value in (("silent.wav", 44100, 0), ("blip.wav", 220, 8000)):
    with wave.open(name, "wb") as w:
        w.setnchannels(1); w.setsampwidth(2); w.setframerate(44100)
        w.writeframes(struct.pack("<h", value) * frames)
PY
(cd band && sha256sum ./*) >input.sha
style_sha=$(sha256sum style.wav | cut -d' ' -f1)

# 1. Two stems re-styled, two copied; the record and the history entry.
expect 0 rz-restyle --json band --style style.wav --stems vocals,bass -o out
jq -e '.output == "out" and .stems == {"bass": "processed", "drums": "unprocessed",
  "other": "unprocessed", "vocals": "processed"}' out.txt >/dev/null || fail "--json record: $(cat out.txt)"
[ "$(wc -l <out.txt)" -eq 1 ] || fail "--json printed more than one line"
jq -e --arg sha "$style_sha" '.history[-1] | .tool == "rz-restyle" and (.inputs | length) == 4
  and (.elapsed_s | type) == "number"
  and .parameters.style_sha256 == $sha and (.parameters.style_path | endswith("/style.wav"))
  and .parameters.grain_ms == 120 and .parameters.seed == 0 and .parameters.pitch_map
  and .parameters.envelope and (.parameters.grain_library.grains | length) > 0
  and (.parameters.grain_library.grains[0] | has("start_s") and has("end_s") and has("pitch_hz")
       and has("level_dbfs"))' out/manifest.json >/dev/null ||
  fail "history entry: $(jq -c '.history[-1] | del(.stems) | .parameters |= del(.grain_library)' out/manifest.json)"
jq -e '.history[-1].stems.bass | .result == "processed" and .onsets > 0
  and (.segments | length) > 0
  and all(.segments[]; has("onset_s") and has("end_s") and has("pitch_hz") and has("grain")
          and has("gain_db") and .end_s > .onset_s)
  and ([.segments[] | select(.grain != null) | .pitch_hz > 0] | any)' out/manifest.json >/dev/null ||
  fail "bass record: $(jq -c '.history[-1].stems.bass | .segments |= .[0:3]' out/manifest.json)"
jq -e '.history[-1].stems.drums | .result == "unprocessed" and .why == "not selected (--stems)"' \
  out/manifest.json >/dev/null || fail "drums record: $(jq -c '.history[-1].stems.drums' out/manifest.json)"
jq -e '.frames == 384000 and .sample_rate_hz == 48000 and .channels == 2 and (.stems | length) == 4' \
  out/manifest.json >/dev/null || fail "output shape: $(jq -c 'del(.history)' out/manifest.json)"
for s in drums other; do
  cmp -s "band/$s.wav" "out/$s.wav" || fail "$s (not selected) was not copied bit for bit"
done
for s in bass vocals; do
  cmp -s "band/$s.wav" "out/$s.wav" && fail "$s was selected but is unchanged"
done
rz-metrics --verify --no-spectral out >/dev/null || fail "the output does not verify"

# 2. The same seed gives the same stems; the seed and the flags are recorded.
expect 0 rz-restyle band --style style.wav --stems vocals,bass -o again
[ "$(cat out.txt)" = again ] || fail "stdout: $(cat out.txt)"
for s in bass vocals; do cmp -s "out/$s.wav" "again/$s.wav" || fail "$s differs between two runs"; done
expect 0 rz-restyle band --style style.wav --stems bass --seed 7 --no-pitch-map --no-envelope \
  --grain-ms 0.08s -o flags
jq -e '.history[-1].parameters | .seed == 7 and (.pitch_map | not) and (.envelope | not)
  and .grain_ms == 80' flags/manifest.json >/dev/null ||
  fail "flags: $(jq -c '.history[-1].parameters | del(.grain_library)' flags/manifest.json)"

# 3. The path on stdin, the default output name, -f.
echo band | rz-restyle -q --style style.wav --stems bass >out.txt || fail "path on stdin"
[ "$(cat out.txt)" = band.sty ] || fail "default output: $(cat out.txt)"
[ -f band.sty/manifest.json ] || fail "no band.sty/manifest.json"
expect 1 rz-restyle band --style style.wav --stems bass
grep -q "band.sty" err.txt || fail "existing output: $(cat err.txt)"
expect 0 rz-restyle -f band --style style.wav --stems vocals
jq -e '.history[-1].stems.vocals.result == "processed" and .history[-1].stems.bass.result == "unprocessed"' \
  band.sty/manifest.json >/dev/null || fail "-f did not replace band.sty"

# 4. Refused, nothing written.
refused() {
  local code=$1
  shift
  expect "$code" rz-restyle band -o refused "$@"
  grep -q '^rz-restyle: error: ' err.txt || fail "'$*': stderr is not an rz error line: $(cat err.txt)"
  [ ! -e refused ] || fail "'$*' left its output"
}
refused 1 --style missing.wav
grep -q "missing.wav" err.txt || fail "missing style: $(cat err.txt)"
refused 2 --style silent.wav
grep -q "unusable style 'silent.wav': no sound above the silence threshold" err.txt || fail "silent style: $(cat err.txt)"
refused 2 --style blip.wav
grep -q "unusable style 'blip.wav'" err.txt || fail "too short a style: $(cat err.txt)"
refused 2 --style style.wav --stems nosuch
grep -q "nosuch" err.txt || fail "unknown stem: $(cat err.txt)"
refused 2 --style style.wav --grain-ms 5
grep -q "bad --grain-ms" err.txt || fail "grain-ms 5: $(cat err.txt)"
refused 2 --style style.wav --grain-ms abc
refused 2
grep -q -- "--style" err.txt || fail "no style: $(cat err.txt)"
echo "not audio" >text.wav
refused 1 --style text.wav
expect 1 rz-restyle nosuch --style style.wav -o refused
[ ! -e refused ] || fail "a missing input left its output"
[ -z "$(find . -maxdepth 2 -name '*rz-tmp*')" ] || fail "temporary files left: $(ls -A)"

# 5. Interrupted while it writes: exit 130, nothing left.
rz-make-example --duration 30 --seed 4 --clean-dir long.stems long.wav >/dev/null
make_band long.stems long 1440000
expect_interrupted long.sty rz-restyle long --style style.wav -o long.sty

# 6. The input was never modified.
(cd band && sha256sum -c --quiet ../input.sha) || fail "rz-restyle changed the input"
echo "restyle.sh: all checks passed"
