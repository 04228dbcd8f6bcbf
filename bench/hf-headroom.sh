#!/usr/bin/env bash
# Where rz-restore's regenerated highs lose log-spectral distance on issue 13's 8 kHz case
# (bench/hf_headroom.cpp has the columns): runs tests/corpus/check.sh on every excerpt of the
# corpus (both parts), then rz-hf-headroom on each low-passed case, its clean excerpt and
# rz-restore's output.
#
#   bench/hf-headroom.sh --corpus DIR [--work DIR]
#
# Prints rz-hf-headroom's table (one row per excerpt, LSD in dB) and its summary per part on
# stdout; progress on stderr. About 2 minutes on 2 cores. --work DIR keeps check.sh's files.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
prog=hf-headroom.sh
bin="${BUILD_DIR:-$top/build}/bin"
die() { echo "$prog: error: $*" >&2; exit 1; }
usage() { echo "usage: $prog --corpus DIR [--work DIR]" >&2; exit 2; }
corpus="" work=""
while [ $# -gt 0 ]; do
  case "$1" in
    --corpus) corpus=${2:-}; shift 2 ;;
    --work) work=${2:-}; shift 2 ;;
    *) usage ;;
  esac
done
[ -n "$corpus" ] || usage
[ -f "$corpus/corpus.tsv" ] || die "no corpus.tsv in '$corpus': build it with tests/corpus/build.sh"
[ -x "$bin/rz-hf-headroom" ] || die "no build '$bin/rz-hf-headroom': run scripts/build.sh"
if [ -z "$work" ]; then
  work=$(mktemp -d /tmp/rz-hf-headroom-XXXXXX)
  trap 'rm -rf "$work"' EXIT
fi
"$top/tests/corpus/check.sh" --corpus "$corpus" --split all --work "$work" >/dev/null
# corpus.tsv: name, split, file; check.sh's work dir holds NAME/lp-ref.wav, lp-in and lp-out.
awk -F'\t' -v w="$work" 'NR > 1 {
  printf "%s\t%s\t%s/%s/lp-ref.wav\t%s/%s/lp-in/mix.wav\t%s/%s/lp-out/mix.wav\n", $2, $1, w, $1, w, $1, w, $1
}' "$corpus/corpus.tsv" | "$bin/rz-hf-headroom" 8000
