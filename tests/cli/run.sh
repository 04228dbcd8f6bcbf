#!/usr/bin/env bash
# run.sh: rz-run against the tools run one by one (ctest cli.run). The same recording goes through
# rz-run --keep and through rz-ingest | rz-restore | rz-dereverb | [rz-separate] | rz-enhance |
# rz-mix | rz-master with the settings rz-run's preset documents; then:
#   - every history entry is the tool's own (tool, version, parameters, per-stem records with
#     their measurements and decisions), timings, args and paths aside;
#   - the stems and the master are the same bytes;
#   - each stage's notes appear in rz-run's per-stage summary, named by the recording;
#   - -v adds each decision; without weights separation is skipped with a line naming
#     rz-fetch-models; --no-separate, presets, --format, several inputs, refusals.
# With ../shared's tiny HTDemucs checkpoint (RZ_SHARED_DIR) the chain includes rz-separate;
# without it that part is skipped, saying so.
# Usage: bash tests/cli/run.sh BIN_DIR   (needs jq)
# "A && B || fail" below means: fail unless both hold.
# shellcheck disable=SC2015
set -euo pipefail
bin=$(cd "${1:?usage: run.sh BIN_DIR}" && pwd)
me=run.sh
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || { echo "run.sh: SKIP: jq not found"; exit 77; }
shared=${RZ_SHARED_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)/shared}
tiny="$shared/demucs/models/tiny4000-0421bf8f.th"
export PATH="$bin:$PATH" LC_ALL=C
work=$(mktemp -d "${TMPDIR:-/tmp}/rz-run-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
# No separation weights unless this test brings them (the user's model directory is not read).
export RZ_MODEL_DIR="$work/models" XDG_CACHE_HOME="$work/cache"
mkdir models

rz-make-example --duration 6 --seed 5 gig.wav >/dev/null

# history FILE: the history of a manifest or sidecar without what differs between two runs of
# the same settings (timings, start times, argument lists, paths, the driver's name).
history() {
  jq -S '[.history[] | del(.args, .started, .input_paths, .inputs_from_stdin, .driver)
          | walk(if type == "object" then del(.elapsed_s, .load_s, .separate_s,
                                                .seconds_per_audio_second) else . end)]' "$1"
}

# same_run RUN_DIR STEMS_DIR MASTER: rz-run's results equal the tools' ones.
same_run() {
  local run=$1 stems=$2 master=$3
  cmp <(history "$run/stems/manifest.json") <(history "$stems/manifest.json") >/dev/null ||
    fail "$run: the stems' history differs from the tools': $(diff <(history "$run/stems/manifest.json") <(history "$stems/manifest.json") | head -20)"
  cmp <(history "$run/gig.flac.json") <(history "$master.json") >/dev/null ||
    fail "$run: the master's history differs: $(diff <(history "$run/gig.flac.json") <(history "$master.json") | head -20)"
  cmp <(jq -S '.stems' "$run/stems/manifest.json") <(jq -S '.stems' "$stems/manifest.json") >/dev/null ||
    fail "$run: the stems differ (sizes or SHA-256)"
  cmp "$run/gig.flac" "$master" || fail "$run: the masters differ"
}

# 1. Studio (the default), --keep: the same as the tools with their defaults.
expect 0 rz-run --keep gig.wav -o run.rz
[ "$(cat out.txt)" = run.rz ] || fail "stdout is '$(cat out.txt)', expected the output path"
cp err.txt run.err
for f in run.rz/gig.flac run.rz/gig.flac.json run.rz/rz-run.json run.rz/stems/manifest.json \
  run.rz/work/1-ingest/manifest.json run.rz/work/2-restore/manifest.json \
  run.rz/work/3-dereverb/manifest.json run.rz/work/4-mix/manifest.json; do
  [ -f "$f" ] || fail "rz-run --keep did not write $f"
done
rz-ingest gig.wav -o t.ingest 2>ingest.err >/dev/null
rz-restore t.ingest -o t.rst 2>restore.err >/dev/null
rz-dereverb t.rst -o t.drv 2>dereverb.err >/dev/null
rz-enhance t.drv -o t.enh 2>enhance.err >/dev/null
rz-mix t.enh -o t.mix 2>mix.err >/dev/null
rz-master t.mix -o t.flac 2>master.err >/dev/null
same_run run.rz t.enh t.flac
jq -e '[.history[].tool] == ["rz-ingest", "rz-restore", "rz-dereverb", "rz-enhance"] and
       ([.history[].driver] | unique) == ["rz-run"]' run.rz/stems/manifest.json >/dev/null ||
  fail "the stems' history: $(jq -c '[.history[] | [.tool, .driver]]' run.rz/stems/manifest.json)"
# The per-stage summary: every note and warning a tool printed, under its stage, naming the
# recording (the tool names its input: gig.wav, or its t.* directory).
for stage in ingest restore dereverb enhance master; do
  while IFS= read -r line; do
    kind=""
    note=${line#rz-"$stage": }
    if [[ "$note" == "warning: "* ]]; then
      kind="warning: "
      note=${note#warning: }
    fi
    note=${note#gig.wav: }
    note=${note#t.*: }
    [ -n "$note" ] || continue
    grep -qF "rz-run: ${kind}gig.wav: $stage: $note" run.err ||
      fail "rz-run's summary lacks rz-$stage's '$line': $(cat run.err)"
  done <"$stage.err"
done
grep -qF 'rz-run: gig.wav: separate: skipped: ' run.err && grep -qF 'run rz-fetch-models htdemucs_ft' run.err ||
  fail "separation without weights: $(cat run.err)"
# The intermediate directories are gone without --keep, and -v shows each decision.
expect 0 rz-run -v gig.wav -o plain.rz
[ ! -e plain.rz/work ] || fail "work/ kept without --keep"
grep -qE '^rz-run: gig.wav: restore: mix: (declip|subbass|highs) (applied|not applied): ' err.txt ||
  fail "-v shows no restore decision: $(cat err.txt)"
grep -qE '^rz-run: gig.wav: enhance: mix: [a-z_]+ (applied|not applied)' err.txt ||
  fail "-v shows no enhance decision: $(cat err.txt)"
same_run plain.rz t.enh t.flac

# 2. Preview: no restoration or dereverberation, conservative enhancement; --format wav.
expect 0 rz-run --preset preview --format wav --target -16LUFS gig.wav -o prev.rz
[ -f prev.rz/gig.wav ] || fail "--format wav wrote $(ls prev.rz)"
jq -e '[.history[].tool] == ["rz-ingest", "rz-enhance"] and .history[1].parameters.preset == "conservative"' \
  prev.rz/stems/manifest.json >/dev/null || fail "preview: $(jq -c '[.history[] | [.tool, .parameters.preset]]' prev.rz/stems/manifest.json)"
rz-enhance t.ingest --preset conservative -o p.enh 2>/dev/null >/dev/null
rz-mix p.enh -o p.mix 2>/dev/null >/dev/null
rz-master p.mix --target -16 -o p.wav 2>/dev/null >/dev/null
cmp <(history prev.rz/stems/manifest.json) <(history p.enh/manifest.json) >/dev/null || fail "preview differs from the tools"
cmp prev.rz/gig.wav p.wav || fail "preview's master differs"

# 3. Several inputs: -o is the directory that receives NAME.rz; the record lists both.
cp gig.wav other.wav
expect 0 rz-run --preset preview gig.wav other.wav -o many
[ -f many/gig.rz/gig.flac ] && [ -f many/other.rz/other.flac ] || fail "several inputs: $(ls -R many)"

# 4. Refusals: an existing output without --force, a bad preset, a bad unit, a missing input;
# nothing is left behind and the input is untouched.
before=$(sha256sum gig.wav)
expect 1 rz-run gig.wav -o run.rz
expect 2 rz-run --preset loud gig.wav -o x.rz
expect 2 rz-run --target -14dBFSX gig.wav -o x.rz
expect 1 rz-run missing.wav -o x.rz
grep -qF 'missing.wav' err.txt || fail "the error does not name the recording: $(cat err.txt)"
[ ! -e x.rz ] || fail "a failed run left x.rz"
[ -z "$(find . -maxdepth 2 -name '.*rz-tmp-*')" ] || fail "temporaries left: $(find . -name '.*rz-tmp-*')"
[ "$(sha256sum gig.wav)" = "$before" ] || fail "the input changed"
expect 0 rz-run --force --preset preview gig.wav -o run.rz

# 5. Interrupted (SIGINT once ingest is done): exit 130, nothing left, the input untouched.
rz-make-example --duration 60 --seed 4 long.wav >/dev/null
rz-run long.wav -o long.rz >/dev/null 2>int.err &
pid=$!
for _ in $(seq 200); do
  grep -qF 'ingest: done' int.err && break
  sleep 0.05
done
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 130 ] || fail "interrupted rz-run exited $rc: $(cat int.err)"
[ ! -e long.rz ] && [ -z "$(find . -maxdepth 1 -name '.*rz-tmp-*')" ] || fail "an interrupted run left output"

# 6. With a separation model (../shared's tiny HTDemucs): rz-separate runs between dereverb and
# enhance, and its history entry is the one rz-separate writes alone.
if [ -f "$tiny" ]; then
  expect 0 rz-run --keep --model "$tiny" gig.wav -o sep.rz
  # (its own cache: a hit on rz-run's entry would be recorded as one)
  XDG_CACHE_HOME="$work/cache2" rz-separate t.drv --model "$tiny" -o t.sep 2>/dev/null >/dev/null
  rz-enhance t.sep -o s.enh 2>/dev/null >/dev/null
  rz-mix s.enh -o s.mix 2>/dev/null >/dev/null
  rz-master s.mix -o s.flac 2>/dev/null >/dev/null
  jq -e '[.history[].tool] == ["rz-ingest", "rz-restore", "rz-dereverb", "rz-separate", "rz-enhance"]' \
    sep.rz/stems/manifest.json >/dev/null || fail "with a model: $(jq -c '[.history[].tool]' sep.rz/stems/manifest.json)"
  same_run sep.rz s.enh s.flac
  expect 0 rz-run --no-separate --model "$tiny" gig.wav -o nosep.rz
  grep -qF 'separate: skipped: --no-separate' err.txt || fail "--no-separate: $(cat err.txt)"
else
  echo "run.sh: separation part skipped: no $tiny (set RZ_SHARED_DIR)" >&2
fi
echo "run.sh: ok" >&2
