#!/usr/bin/env bash
# parallel.sh: examples/parallel.sh end to end (ctest batch.parallel) on this machine: three
# recordings give what examples/Makefile gives (make -q finds nothing to do, make check passes),
# with the separation cache in OUT_DIR; --sshlogin : redoes only a touched recording, from the
# cache; a recording that fails is named and makes the exit status 1; usage errors exit 2.
# Usage: bash tests/batch/parallel.sh SOURCE_DIR BIN_DIR   (needs GNU parallel, make and jq)
set -euo pipefail
src=$(cd "${1:?usage: parallel.sh SOURCE_DIR BIN_DIR}" && pwd)
bin=$(cd "${2:?usage: parallel.sh SOURCE_DIR BIN_DIR}" && pwd)
me=batch.parallel
# shellcheck source=tests/batch/lib.sh
. "$src/tests/batch/lib.sh"
command -v parallel >/dev/null || skip "GNU parallel not found (Debian: parallel)"
parallel --version 2>/dev/null | grep -q "GNU parallel" ||
  skip "'parallel' is not GNU parallel (moreutils' perhaps)"
for tool in make jq; do
  command -v "$tool" >/dev/null || skip "$tool not found"
done
export PATH="$bin:$PATH" LC_ALL=C
unset RZ_BIN RZ_CACHE_DIR
work=$(mktemp -d "${TMPDIR:-/tmp}/rz-batch-parallel.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
make_recordings in
script=$src/examples/parallel.sh

# With the tiny model the separation runs (and fills the cache); without it the rest is checked.
if [ -f "$tiny_model" ]; then
  settings=(SEPARATE=yes "SEPARATE_FLAGS=--model $tiny_model") stems=4
else
  echo "$me: note: no $tiny_model: the separation and its cache are not checked"
  settings=(SEPARATE=no) stems=1
fi
mk=(make -s -f "$src/examples/Makefile" IN=in OUT=out "${settings[@]}")

# 1. Every recording, two jobs at once; PATH finds the tools (RZ_BIN unset).
expect 0 bash "$script" -j2 in out "${settings[@]}"
[ "$(cat out.txt)" = "$work/out" ] || fail "stdout: '$(cat out.txt)', expected '$work/out'"
check_results out "$stems" r1 r2 r3
"${mk[@]}" -q || fail "make -q: the Makefile finds work left after parallel.sh"
"${mk[@]}" check >check.log 2>&1 || fail "make check failed: $(cat check.log)"
if [ "$stems" -eq 4 ]; then
  [ "$(find out/.cache -mindepth 1 -maxdepth 1 -type d | wc -l)" -eq 3 ] ||
    fail "expected 3 entries in the cache out/.cache: $(ls -A out/.cache 2>&1)"
fi

# 2. --sshlogin : (this machine through parallel's remote path): one touched recording redone.
mtimes out >before.txt
touch in/r1.wav
expect 0 bash "$script" --sshlogin : -j 2 in out "${settings[@]}"
changed=$(comm -13 before.txt <(mtimes out) | cut -d' ' -f1)
grep -qx r1.flac <<<"$changed" || fail "out/r1.flac was not made again after touching in/r1.wav"
others=$(grep -v '^r1\.' <<<"$changed" || true)
[ -z "$others" ] || fail "touching in/r1.wav remade other results: $others"
if [ "$stems" -eq 4 ]; then
  jq -e '[.history[] | select(.tool == "rz-separate")][0].parameters.cache == "hit"' \
    out/r1.stems/manifest.json >/dev/null || fail "the separation of r1 again did not come from the cache"
fi

# 3. A recording that fails: named on stderr, exit 1, no results of it; the others done.
echo "not audio" >in/bad.wav
if bash "$script" -j2 in out "${settings[@]}" >out.txt 2>err.txt; then
  fail "parallel.sh exited 0 with in/bad.wav"
fi
[ ! -s out.txt ] || fail "a failed run printed on stdout: $(cat out.txt)"
grep -q "^parallel.sh: error: failed '$work/in/bad.wav': exit" err.txt ||
  fail "bad.wav not named: $(cat err.txt)"
grep -q "^parallel.sh: error: 1 of 4 recordings failed" err.txt ||
  fail "no count of failures: $(cat err.txt)"
for f in bad.flac bad.stems/manifest.json bad.metrics.json; do
  [ ! -e "out/$f" ] || fail "a failed recording left out/$f"
done
rm in/bad.wav
"${mk[@]}" -q || fail "make -q: the other recordings are out of date after a failed one"

# 4. Usage errors.
expect 2 bash "$script" in
expect 2 bash "$script" --bogus in out
expect 2 bash "$script" in out not-a-setting
echo "$me: all checks passed"
