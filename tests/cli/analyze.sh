#!/usr/bin/env bash
# analyze.sh: rz-analyze end to end (ctest cli.analyze): a stem directory gets "music" and a
# history entry in its manifest with its audio untouched, a later stage leaves "music" behind, an
# audio file gets its sidecar, the --json record is the analysis, activity finds where a stem
# starts, and bad input is refused with the documented exit codes and nothing written.
# Usage: bash tests/cli/analyze.sh BIN_DIR   (needs jq and python3)
set -euo pipefail
bin=$(cd "${1:?usage: analyze.sh BIN_DIR}" && pwd)
me=analyze.sh
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
for tool in jq python3; do
  command -v "$tool" >/dev/null || { echo "analyze.sh: SKIP: $tool not found"; exit 77; }
done
export PATH="$bin:$PATH" LC_ALL=C
work=$(mktemp -d "${TMPDIR:-/tmp}/rz-analyze-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

rz-make-example --duration 8 --clean-dir stems gig.wav >/dev/null
make_band stems band 384000
rz-metrics --no-spectral band >/dev/null
(cd band && sha256sum ./*.wav) >audio.sha

# 1. A stem directory: the analysis in its manifest, the audio untouched.
expect 0 rz-analyze --json band
jq -e '.tempo.bpm > 0 and (.tempo.beats_s | length) > 0 and (.key.camelot | test("^[0-9]+[AB]$"))' out.txt >/dev/null ||
  fail "the --json record lacks tempo or key: $(head -c 300 out.txt)"
jq -e '(.stems | keys) == ["bass", "drums", "other", "vocals"]' out.txt >/dev/null || fail "stems: $(jq -c '.stems | keys' out.txt)"
jq -e '(.stems.vocals.pitch.f0_hz | length) > 0 and (.stems.bass.pitch | type) == "object" and (.stems.drums | has("pitch") | not)' out.txt >/dev/null ||
  fail "pitch tracks: only vocals and bass by default"
jq -e '.music.tempo.bpm > 0 and .history[-1].tool == "rz-analyze" and (.history[-1].inputs | length) == 4' band/manifest.json >/dev/null ||
  fail "band/manifest.json lacks music or its history entry"
(cd band && sha256sum -c --quiet ../audio.sha) || fail "rz-analyze changed the audio files"
cmp <(jq -S .music band/manifest.json) <(jq -S "del(.output)" out.txt) >/dev/null || fail "manifest's music differs from the --json record"
rz-metrics --verify --no-spectral band >/dev/null || fail "band no longer verifies"

# 2. A later stage does not carry "music" over.
rz-mix band -o band.mix >/dev/null
jq -e 'has("music") | not' band.mix/manifest.json >/dev/null || fail "rz-mix carried music over"

# 3. A file: its sidecar beside it; refused a second time without --force.
expect 0 rz-analyze gig.wav
[ -f gig.wav.analysis.json ] || fail "no gig.wav.analysis.json"
jq -e '.analysis.duration_s == 8 and .history[0].tool == "rz-analyze"' gig.wav.analysis.json >/dev/null || fail "sidecar content"
grep -q '^tempo' out.txt || fail "the table has no tempo line: $(cat out.txt)"
expect 1 rz-analyze gig.wav
expect 0 rz-analyze -f gig.wav

# 4. Activity: a tone that starts at 4 s.
python3 - <<'PY'
import math, struct, wave
with wave.open("late.wav", "wb") as w:
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(44100)
    w.writeframes(b"".join(struct.pack("<h", 0 if i < 4 * 44100 else int(8000 * math.sin(2 * math.pi * 330 * i / 44100))) for i in range(8 * 44100)))
PY
expect 0 rz-analyze --json late.wav --pitch all -o late.json
jq -e '.stems.late.activity.segments_s | length == 1 and (.[0][0] - 4 | fabs) <= 0.3 and .[0][1] >= 7.6' out.txt >/dev/null ||
  fail "activity of late.wav: $(jq -c .stems.late.activity out.txt)"
jq -e '(.stems.late.pitch.median_hz - 330 | fabs) < 1 and .stems.late.pitch.median_note == "E4"' out.txt >/dev/null ||
  fail "pitch of late.wav: $(jq -c '.stems.late.pitch | del(.f0_hz)' out.txt)"

# 5. Refused, nothing written.
cp band/manifest.json before.json
expect 2 rz-analyze band --pitch nosuch
expect 2 rz-analyze band --min-bpm 150 --max-bpm 100
expect 2 rz-analyze band -o band/analysis.json
cmp -s before.json band/manifest.json || fail "a refused run changed the manifest"
expect 1 rz-analyze missing.wav
echo "not audio" >text.wav
expect 1 rz-analyze text.wav
[ ! -e text.wav.analysis.json ] || fail "a failed run left text.wav.analysis.json"
[ -z "$(find . -maxdepth 2 -name '*rz-tmp*')" ] || fail "temporary files left: $(ls -A)"
echo "analyze.sh: all checks passed"
