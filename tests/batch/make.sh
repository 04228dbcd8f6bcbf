#!/usr/bin/env bash
# make.sh: examples/Makefile end to end (ctest batch.make): a folder of three recordings gives
# each its master, stem directory and metrics with make -j2, make check passes, a second make does
# nothing, a touched recording is the only one redone, and a failing recording or check fails make
# and leaves no target behind.
# Usage: bash tests/batch/make.sh SOURCE_DIR BIN_DIR   (needs make and jq)
set -euo pipefail
src=$(cd "${1:?usage: make.sh SOURCE_DIR BIN_DIR}" && pwd)
bin=$(cd "${2:?usage: make.sh SOURCE_DIR BIN_DIR}" && pwd)
me=batch.make
# shellcheck source=tests/batch/lib.sh
. "$src/tests/batch/lib.sh"
for tool in make jq; do
  command -v "$tool" >/dev/null || skip "$tool not found"
done
export PATH="$bin:$PATH" LC_ALL=C
work=$(mktemp -d "${TMPDIR:-/tmp}/rz-batch-make.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
make_recordings in
# SEPARATE=no: the test does not depend on whether this machine has the htdemucs weights.
mk=(make -f "$src/examples/Makefile" IN=in OUT=out RZ_BIN="$bin" SEPARATE=no)

# 1. Every recording done, and each master passes the gate.
"${mk[@]}" -j2 >make.log 2>&1 || fail "make -j2 failed: $(tail -5 make.log)"
check_results out 1 r1 r2 r3
"${mk[@]}" -s check >check.log 2>&1 || fail "make check failed: $(cat check.log)"
for n in r1 r2 r3; do
  grep -q '^integrated_lufs' "out/$n.checked" || fail "out/$n.checked is not rz-metrics' report"
done

# 2. Nothing changed: nothing to do, nothing touched.
mtimes out >before.txt
"${mk[@]}" -q || fail "make -q: out of date right after a build"
"${mk[@]}" -j2 all check >again.log 2>&1 || fail "second make failed: $(cat again.log)"
grep -q "Nothing to be done for 'all'" again.log || fail "second make did something: $(cat again.log)"
mtimes out | cmp -s before.txt - ||
  fail "a second make changed files: $(mtimes out | diff before.txt - || true)"

# 3. One recording touched: only its results are made again.
touch in/r2.wav
if "${mk[@]}" -q; then fail "make -q: up to date after touching in/r2.wav"; fi
"${mk[@]}" -j2 >touch.log 2>&1 || fail "make after touch failed: $(tail -5 touch.log)"
mtimes out >after.txt
changed=$(comm -13 before.txt after.txt | cut -d' ' -f1)
for f in r2.flac r2.flac.json r2.metrics.json r2.stems/manifest.json; do
  grep -qx "$f" <<<"$changed" || fail "out/$f was not made again after touching in/r2.wav"
done
others=$(grep -v '^r2\.' <<<"$changed" || true)
[ -z "$others" ] || fail "touching in/r2.wav remade other results: $others"
"${mk[@]}" -q || fail "make -q: out of date after the rebuild"

# 4. A recording that cannot be decoded: make fails, the others stay done, nothing of it is left.
echo "not audio" >in/bad.wav
mtimes out >before.txt
if "${mk[@]}" -k -j2 >bad.log 2>&1; then fail "make succeeded with in/bad.wav"; fi
grep -q "rz-ingest: error: .*bad\.wav" bad.log || fail "no rz-ingest error for bad.wav: $(cat bad.log)"
for f in bad.flac bad.flac.json bad.metrics.json bad.stems/manifest.json; do
  [ ! -e "out/$f" ] || fail "a failed recording left out/$f"
done
mtimes out | cmp -s before.txt - || fail "a failed recording changed the others' results"
if "${mk[@]}" -q; then fail "make -q: up to date with bad.wav undone"; fi
rm in/bad.wav

# 5. A check that does not hold fails make check and leaves no report.
rm out/r1.checked
if "${mk[@]}" check REQUIRE='integrated_lufs>=-10' >fail.log 2>&1; then
  fail "make check passed a -14 LUFS master against >= -10"
fi
grep -q "rz-metrics: error: .*check failed 'integrated_lufs>=-10'" fail.log || fail "no rz-metrics error: $(cat fail.log)"
[ ! -e out/r1.checked ] || fail "a failed check left out/r1.checked"

# 6. Two recordings with one name are refused before anything runs.
touch in/r1.mp3
if "${mk[@]}" -n >dup.log 2>&1; then fail "make accepted in/r1.wav and in/r1.mp3"; fi
grep -q "same name in different formats: r1" dup.log || fail "duplicate names: $(cat dup.log)"
rm in/r1.mp3

# 7. make clean takes every result away.
"${mk[@]}" -s clean >/dev/null
[ ! -e out ] || fail "make clean left: $(ls -A out)"
echo "$me: all checks passed"
