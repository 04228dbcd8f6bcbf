#!/usr/bin/env bash
# terminal.sh: what a user at a terminal meets (ctest cli.terminal): values with units (48k,
# 80Hz, -3dB, 0:30, 20s) reach the manifests as plain numbers and bad ones are refused naming
# the forms; rz-master -o - writes the same bytes as a file; rz-metrics A B shows two versions
# side by side; the progress line is cleared before every message and shows speed and time left;
# messages name the recording; the ingest's clipping reads as measured in rz-metrics' table; the
# model fetcher is installed as rz-fetch-models.
# Usage: bash tests/cli/terminal.sh BIN_DIR BUILD_DIR   (needs jq; script(1) for the terminal part)
# "A && B || fail" below means: fail unless both hold.
# shellcheck disable=SC2015
set -euo pipefail
bin=$(cd "${1:?usage: terminal.sh BIN_DIR BUILD_DIR}" && pwd)
build=$(cd "${2:?usage: terminal.sh BIN_DIR BUILD_DIR}" && pwd)
me=terminal.sh
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || { echo "terminal.sh: SKIP: jq not found"; exit 77; }
export PATH="$bin:$PATH" LC_ALL=C
work=$(mktemp -d "${TMPDIR:-/tmp}/rz-terminal-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
rz-make-example --duration 12 --seed 2 gig.wav >/dev/null

# 1. Units.
expect 0 rz-ingest --rate 48k --preview 0:08 gig.wav -o g48
jq -e '.sample_rate_hz == 48000 and .frames == 384000' g48/manifest.json >/dev/null ||
  fail "--rate 48k --preview 0:08: $(jq -c '[.sample_rate_hz, .frames]' g48/manifest.json)"
expect 0 rz-ingest --preview 8s gig.wav -o g
jq -e '.frames == 352800' g/manifest.json >/dev/null || fail "--preview 8s: $(jq .frames g/manifest.json)"
expect 0 rz-mix g --gain mix=-3dB --master-gain +1.5dB -o g.mix
jq -e '.history[-1].parameters | (.master_gain_db == 1.5 and .stems.mix.gain_db == -3)' g.mix/manifest.json >/dev/null ||
  fail "rz-mix gains: $(jq -c '.history[-1].parameters' g.mix/manifest.json)"
expect 0 rz-master g.mix --target -16LUFS --ceiling -2dBTP --highpass 80Hz --lookahead 0.004s -o g.flac
jq -e '.history[-1].parameters | (.target_lufs == -16 and .ceiling_dbtp == -2 and .highpass_hz == 80 and .lookahead_ms == 4)' \
  g.flac.json >/dev/null || fail "rz-master units: $(jq -c '.history[-1].parameters' g.flac.json)"
expect 2 rz-master g.mix --highpass 80dB -o bad.flac
grep -qF "'80dB' is not in HZ (use 48k" err.txt || fail "a frequency in dB: $(cat err.txt)"
expect 2 rz-ingest --preview 1:75 gig.wav -o bad
[ ! -e bad ] && [ ! -e bad.flac ] || fail "a refused unit left output"
rz-master --help >help.txt
grep -qE -- '--highpass HZ' help.txt && grep -qF 'SoX-style: HZ 48k' help.txt || fail "--help shows no units"
rz-metrics --help >help.txt
! grep -qF 'SoX-style' help.txt || fail "rz-metrics takes no units but its --help lists them"

# 2. rz-master -o -: the bytes of the file it would write, WAV by default; refused with --json.
rz-master g.mix -o - >stdout.wav 2>err.txt || fail "-o -: $(cat err.txt)"
rz-master g.mix -o file.wav 2>/dev/null >/dev/null
cmp stdout.wav file.wav || fail "-o - differs from -o file.wav"
rz-master g.mix -o - --format flac >stdout.flac 2>/dev/null
rz-master g.mix -o file.flac 2>/dev/null >/dev/null
cmp stdout.flac file.flac || fail "-o - --format flac differs from -o file.flac"
[ ! -e -.json ] && [ ! -e ./- ] || fail "-o - wrote a file named '-'"
expect 2 rz-master g.mix -o - --json
expect 2 rz-master g.mix -o x.wav --format flac
rz-master g.mix -o - | head -c 100 >/dev/null || fail "a reader that stops early made rz-master fail"

# 3. rz-metrics A B: side by side with B - A; level-matched comparison of B with A.
expect 0 rz-metrics g g.flac
grep -qE '^integrated_lufs \[LUFS\] +-?[0-9.]+ +-16\.[0-9]+ +[-+][0-9.]+$' out.txt ||
  fail "no side-by-side loudness row: $(cat out.txt)"
grep -qF 'B level-matched to A' out.txt || fail "no level-matched comparison: $(cat out.txt)"
expect 0 rz-metrics --json g g.flac
jq -e '(.stems.mix.delta.integrated_lufs - (.b.stems.mix.integrated_lufs - .a.stems.mix.integrated_lufs) | fabs) < 1e-9
       and (.stems.mix.level_matched.lsd_db | type) == "number"' out.txt >/dev/null ||
  fail "--json comparison: $(head -c 400 out.txt)"
# A version against itself 6 dB down: identical once level-matched.
rz-master g.mix --target -22 --ceiling -7 --bits float -o quiet.wav 2>/dev/null >/dev/null
rz-master g.mix --target -16 --ceiling -1 --bits float -o loud.wav 2>/dev/null >/dev/null
expect 0 rz-metrics --json loud.wav quiet.wav
jq -e '.stems.mix.level_matched.lsd_db < 0.1' out.txt >/dev/null ||
  fail "level matching: $(jq -c '.stems.mix.level_matched' out.txt)"
# Stem directories pair stem by stem, each level-matched on its own; a silent stem (these 6 s
# have no vocals yet) has no level to match.
rz-make-example --duration 6 --seed 3 --clean-dir stems band.wav >/dev/null
make_band stems band 288000
rz-enhance band -o band.enh 2>/dev/null >/dev/null
expect 0 rz-metrics --json band band.enh
jq -e '(.stems | keys) == ["bass", "drums", "other", "vocals"] and
       all(.stems[]; (.a.integrated_lufs > -70) == ((.level_matched.lsd_db | type) == "number"))' \
  out.txt >/dev/null ||
  fail "stem directories side by side: $(jq -c '.stems | map_values([.a.integrated_lufs, .level_matched])' out.txt)"
expect 2 rz-metrics g g.flac loud.wav
expect 2 rz-metrics g g.flac --require 'integrated_lufs>=-20'

# 4. Messages name the recording: several inputs, a --require failure, a stage's notes.
cp gig.wav other.wav
rz-ingest --preview 5 -f gig.wav other.wav >/dev/null 2>err.txt
grep -q '^rz-ingest: warning: gig.wav: ' err.txt && grep -q '^rz-ingest: warning: other.wav: ' err.txt ||
  fail "several inputs: warnings do not name their recording: $(cat err.txt)"
expect 3 rz-metrics g.flac --require 'integrated_lufs>=-10'
grep -qF 'rz-metrics: error: g.flac: check failed' err.txt || fail "a --require failure: $(cat err.txt)"
rz-restore g -o g.rst 2>err.txt >/dev/null
grep -qE '^rz-restore: g: mix: ' err.txt || fail "rz-restore's note does not name its input: $(cat err.txt)"
# The clipping rz-ingest warned about is in rz-metrics' table, as measured before resampling.
rz-ingest gig.wav -o full 2>err.txt >/dev/null
if grep -q 'clipped: ' err.txt; then
  pct=$(sed -n 's/.*clipped: \([0-9.]*\) % of samples.*/\1/p' err.txt)
  rz-metrics full >out.txt
  grep -qE "^clipped_ratio \[%\] +[0-9.]+ +$pct" out.txt || fail "the table's recording column lacks ${pct} %: $(cat out.txt)"
else
  fail "the example recording no longer clips: pick a seed that does"
fi

# 5. The progress line on a terminal: cleared before each message, with speed and time left.
if command -v script >/dev/null; then
  # 60 s: WPE then runs for seconds (4 s on a 2-core EPYC), long enough for an estimate to show
  # (after 1 s) on a machine several times faster.
  rz-make-example --duration 60 --seed 4 long.wav >/dev/null
  rz-ingest long.wav -o long 2>/dev/null >/dev/null
  script -qec "rz-dereverb --force-wpe long -o long.drv" /dev/null >tty.txt </dev/null ||
    fail "rz-dereverb under script(1) failed: $(cat tty.txt)"
  grep -qa '% *rz-dereverb' tty.txt && fail "a message follows a progress line on the same line: $(cat -v tty.txt | tail -c 600)"
  grep -qaF $'\r\033[Krz-dereverb: long: mix: ' tty.txt ||
    fail "the note is not preceded by a cleared line: $(cat -v tty.txt | tail -c 600)"
  grep -qaE 'x real time, [0-9]+:[0-9]{2} left' tty.txt || fail "no speed or time left: $(cat -v tty.txt | tail -c 600)"
else
  echo "terminal.sh: progress part skipped: script(1) not found" >&2
fi

# 6. The model fetcher is installed beside the tools, and works from there.
cmake --install "$build" --prefix "$work/prefix" >/dev/null 2>install.txt || fail "cmake --install: $(cat install.txt)"
[ -x prefix/bin/rz-fetch-models ] || fail "rz-fetch-models is not installed: $(ls prefix/bin)"
[ -x prefix/bin/rz-run ] && [ -f prefix/share/man/man1/rz-run.1 ] || fail "rz-run or its man page is not installed"
prefix/bin/rz-fetch-models --list >out.txt 2>err.txt || fail "rz-fetch-models --list: $(cat err.txt)"
grep -q '^htdemucs ' out.txt || fail "rz-fetch-models --list: $(cat out.txt)"
prefix/bin/rz-fetch-models --help >out.txt 2>&1 || fail "rz-fetch-models --help: $(cat out.txt)"
grep -qF 'Usage: rz-fetch-models' out.txt || fail "rz-fetch-models --help: $(cat out.txt)"
echo "terminal.sh: ok" >&2
