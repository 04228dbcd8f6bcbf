#!/usr/bin/env bash
# help_examples.sh: runs the example command lines that --help prints (ctest cli.help_examples) for
# the tools whose examples show rz-run, units, -o - and rz-metrics A B: rz-run, rz-ingest,
# rz-master, rz-metrics, rz-mix; and those of rz-transform and rz-restyle. Each tool's examples
# run in order in a fresh copy of the fixtures (rz-transform's and rz-restyle's, alternatives that
# write the same default output, each in its own fresh copy), each in `bash -e -o pipefail -c`;
# a program that is not installed (ffmpeg) is a visible skip, and so is ffplay, which needs an
# audio device.
# Fixtures (each tool gets its inputs, none of its outputs: fixtures_of): gig.wav (8 s,
# rz-make-example), gig.mp3 and gig.m4a (ffmpeg, when installed), gig.ingest, gig.mix, gig.flac,
# gig.rz (rz-run --preset preview), gig.sep and gig.ingest.sep and truth (drums, bass, other,
# vocals), gig.decrowd (music and a removed crowd), mix.json, and the style recordings of
# rz-restyle's examples: choir.wav, noise.wav and pad.wav (stems of gig.sep: any recording does
# for the command line) and marimba.flac (ffmpeg, when installed).
# Usage: bash tests/cli/help_examples.sh BIN_DIR
set -euo pipefail
bin=$(cd "${1:?usage: help_examples.sh BIN_DIR}" && pwd)
me=help_examples.sh
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
export PATH="$bin:$PATH" LC_ALL=C RZ_MODEL_DIR=/nonexistent
work=$(mktemp -d "${TMPDIR:-/tmp}/rz-help-examples.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/fixtures"
cd "$work/fixtures"
rz-make-example --duration 8 --clean-dir stems gig.wav >/dev/null
make_band stems gig.sep 384000
cp -r gig.sep gig.ingest.sep
cp -r gig.sep truth
mkdir gig.decrowd
cp gig.sep/drums.wav gig.decrowd/music.wav
cp gig.sep/other.wav gig.decrowd/crowd.wav
printf '%s\n' '{"schema": "rz-manifest", "schema_version": 1, "sample_rate_hz": 48000, "channels": 2,' \
  '"frames": 384000, "stems": [{"name": "music", "file": "music.wav", "frames": 384000},' \
  '{"name": "crowd", "file": "crowd.wav", "frames": 384000, "role": "removed"}]}' >gig.decrowd/manifest.json
echo '{"stems": {"vocals": {"gain_db": 2}}}' >mix.json
cp gig.sep/vocals.wav choir.wav
cp gig.sep/other.wav pad.wav
cp gig.decrowd/crowd.wav noise.wav
rz-ingest -q gig.wav >/dev/null
rz-mix -q gig.ingest -o gig.mix >/dev/null
rz-master -q gig.mix -o gig.flac >/dev/null
rz-run -q --preset preview gig.wav >/dev/null
if command -v ffmpeg >/dev/null; then
  ffmpeg -v error -i gig.wav gig.mp3
  ffmpeg -v error -i gig.wav -c:a aac gig.m4a
  ffmpeg -v error -i gig.sep/other.wav marimba.flac
fi
cd "$work"

# The fixtures each tool's examples start from: their inputs, none of their outputs.
fixtures_of() {
  case "$1" in
    rz-run | rz-ingest) echo gig.wav gig.mp3 gig.m4a ;;
    rz-master) echo gig.mix gig.sep gig.decrowd ;;
    rz-metrics) echo gig.flac gig.ingest gig.rz gig.sep truth ;;
    rz-mix) echo gig.ingest.sep gig.sep gig.decrowd mix.json ;;
    rz-transform) echo gig.sep ;;
    rz-restyle) echo gig.sep choir.wav marimba.flac noise.wav pad.wav ;;
  esac
}
# Tools whose examples are alternatives, not steps: each writes the same default output, so each
# starts from its own fresh copy of the fixtures.
alternatives() { case "$1" in rz-transform | rz-restyle) return 0 ;; *) return 1 ;; esac; }
fresh_run() {
  rm -rf run && mkdir run
  for f in $(fixtures_of "$1"); do
    if [ -e "fixtures/$f" ]; then cp -r "fixtures/$f" run/; fi
  done
}
passed=0 failed=0 skipped=0
for tool in rz-run rz-ingest rz-master rz-metrics rz-mix rz-transform rz-restyle; do
  alternatives "$tool" || fresh_run "$tool"
  while IFS= read -r line; do
    cmd=${line%%  #*}  # the comment after two spaces
    cmd=${cmd#"${cmd%%[! ]*}"}
    [ -n "$cmd" ] || continue
    missing=""
    for program in ffmpeg ffplay; do
      if [[ " $cmd " == *" $program "* ]] && ! command -v "$program" >/dev/null; then missing=$program; fi
    done
    if [[ "$cmd" == *ffplay* ]]; then missing="ffplay (needs an audio device)"; fi
    if [[ "$cmd" == *.m4a* || "$cmd" == *.mp3* || "$cmd" == *marimba.flac* ]] && ! command -v ffmpeg >/dev/null; then missing="ffmpeg (its fixtures)"; fi
    if [ -n "$missing" ]; then
      echo "skip $tool: $cmd ($missing)" >&2
      skipped=$((skipped + 1))
      continue
    fi
    if alternatives "$tool"; then fresh_run "$tool"; fi
    if (cd run && bash -e -o pipefail -c "$cmd" </dev/null >"$work/out.txt" 2>"$work/err.txt"); then
      echo "ok   $tool: $cmd" >&2
      passed=$((passed + 1))
    else
      echo "FAIL $tool: $cmd: $(tail -n 3 "$work/err.txt")" >&2
      failed=$((failed + 1))
    fi
  done < <("$tool" --help | sed -n '/^Examples:/,/^$/{/^Examples:/d;/^$/d;p}')
done
echo "$passed passed, $failed failed, $skipped skipped" >&2
[ "$passed" -gt 0 ] || fail "no example ran"
[ "$failed" -eq 0 ]
