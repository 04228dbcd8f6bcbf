# shellcheck shell=bash
# Helpers sourced by the batch tests (tests/batch/make.sh, parallel.sh, slurm.sh), which run in
# their temporary folder with the binaries on PATH. The sourcing script sets `me` (its ctest name).
# shellcheck source=tests/cli/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../cli/lib.sh"

# The chain's loudness: rz-master's default target and ceiling, as examples/Makefile's REQUIRE.
readonly kTargetLufs=-14 kLufsTolerance=0.2 kCeilingDbtp=-1
# A separation model small enough for a test (tests/model's TINY4), when the shared material is here.
# shellcheck disable=SC2034 # used by the sourcing scripts
tiny_model=${RZ_SHARED_DIR:-$(dirname "${BASH_SOURCE[0]}")/../../../shared}
tiny_model+=/demucs/models/tiny4000-0421bf8f.th

# skip REASON: a visible skip (ctest's SKIP_RETURN_CODE).
skip() {
  echo "$me: skipped: $*"
  exit 77
}

# make_recordings DIR: three 5-second phone recordings of different concerts, r1.wav, r2.wav and
# r3.flac (another format through the same rules).
make_recordings() {
  mkdir -p "$1"
  rz-make-example --duration 5 --seed 1 "$1/r1.wav" >/dev/null
  rz-make-example --duration 5 --seed 2 "$1/r2.wav" >/dev/null
  rz-make-example --duration 5 --seed 3 r3.wav >/dev/null
  rz-ingest -q -o r3.ingest r3.wav >/dev/null
  rz-master -q --bits 16 -o "$1/r3.flac" r3.ingest >/dev/null
  rm -rf r3.wav r3.ingest
}

# check_results OUT STEMS NAME...: each NAME has its master (loud as asked), its stem directory
# with STEMS stems whose files match the manifest, and its metrics record; none of its work is
# left behind.
check_results() {
  local out=$1 stems=$2 n
  shift 2
  for n in "$@"; do
    [ -f "$out/$n.flac" ] || fail "no master $out/$n.flac"
    [ -f "$out/$n.flac.json" ] || fail "no record $out/$n.flac.json"
    [ -f "$out/$n.stems/manifest.json" ] || fail "no stem directory $out/$n.stems"
    rz-metrics -q --verify --no-spectral "$out/$n.stems" >/dev/null || fail "$out/$n.stems does not verify"
    [ "$(jq '.stems | length' "$out/$n.stems/manifest.json")" -eq "$stems" ] ||
      fail "$out/$n.stems: $(jq -c '[.stems[].name]' "$out/$n.stems/manifest.json"), expected $stems stems"
    jq -e --argjson t "$kTargetLufs" --argjson tol "$kLufsTolerance" --argjson c "$kCeilingDbtp" \
      '(.stems.mix.integrated_lufs - $t | fabs) <= $tol and .stems.mix.true_peak_dbtp <= $c' \
      "$out/$n.metrics.json" >/dev/null ||
      fail "$out/$n.metrics.json: $(head -c 300 "$out/$n.metrics.json")"
    [ ! -e "$out/.work/$n" ] || fail "work of $n left in $out/.work"
    [ ! -e "$out/.work/$n.mix" ] || fail "work of $n left in $out/.work"
  done
  [ -z "$(find "$out" -name '*rz-tmp*' -print -quit)" ] || fail "temporary files left in $out"
}

# mtimes DIR: every file under DIR with its modification time, one a line, sorted.
mtimes() {
  find "$1" -type f -printf '%P %T@\n' | sort
}
