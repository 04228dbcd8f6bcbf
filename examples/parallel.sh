#!/usr/bin/env bash
# parallel.sh: master a folder of recordings with GNU parallel, one recording per job, here or on
# several hosts over ssh; each job is examples/Makefile run for one recording, so the results are
# the Makefile's (OUT_DIR/NAME.flac, NAME.stems/, NAME.metrics.json) and a rerun redoes only what
# is out of date.
#
# Usage: examples/parallel.sh [-j N] [--sshlogin LOGINS]... IN_DIR OUT_DIR [VAR=VALUE...]
#   -j N              jobs at once on each host (default: parallel's, one per core)
#   -S, --sshlogin    passed to parallel (':' is this machine; 'host1,4/host2' ...)
#   VAR=VALUE         settings of examples/Makefile for every job (SEPARATE=no,
#                     MASTER_FLAGS='--target -16', RZ_MODEL_DIR=/shared/models ...)
# Environment: RZ_BIN (the rz binaries' directory; default: where PATH finds rz-ingest),
# RZ_CACHE_DIR (rz-separate's cache; default OUT_DIR/.cache, so that every host shares it).
#
# Shared storage is assumed, as on a cluster: IN_DIR, OUT_DIR, this checkout and RZ_BIN have the
# same paths on every host (nothing is transferred), and every host has bash and make.
# Prints OUT_DIR on stdout. Exit status: 0 when every recording is done; 1 when one failed (each
# named on stderr); 2 usage error.
set -euo pipefail
me=parallel.sh
usage="usage: $me [-j N] [--sshlogin LOGINS]... IN_DIR OUT_DIR [VAR=VALUE...]"

die() { # die STATUS MESSAGE
  echo "$me: error: $2" >&2
  exit "$1"
}

jobs=() logins=() pos=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help) echo "$usage"; exit 0 ;;
    -j | --jobs) [ $# -ge 2 ] || die 2 "$1 needs a value"; jobs=(--jobs "$2"); shift 2 ;;
    -j?*) jobs=(--jobs "${1#-j}"); shift ;;
    -S | --sshlogin) [ $# -ge 2 ] || die 2 "$1 needs a value"; logins+=(--sshlogin "$2"); shift 2 ;;
    --sshlogin=*) logins+=(--sshlogin "${1#*=}"); shift ;;
    --) shift; pos+=("$@"); break ;;
    -?*) die 2 "unknown option '$1' ($usage)" ;;
    *) pos+=("$1"); shift ;;
  esac
done
[ ${#pos[@]} -ge 2 ] || die 2 "$usage"
settings=("${pos[@]:2}")
for s in "${settings[@]}"; do
  [[ "$s" =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || die 2 "'$s' is not a VAR=VALUE setting ($usage)"
done
command -v parallel >/dev/null || die 1 "GNU parallel not found (Debian: apt-get install parallel)"

in=$(cd "${pos[0]}" 2>/dev/null && pwd) || die 1 "cannot read input folder '${pos[0]}'"
mkdir -p "${pos[1]}" || die 1 "cannot create output folder '${pos[1]}'"
out=$(cd "${pos[1]}" && pwd)
makefile=$(cd "$(dirname "$0")" && pwd)/Makefile
bin=${RZ_BIN:-$(dirname "$(command -v rz-ingest || echo .)")}
[ -x "$bin/rz-ingest" ] || die 1 "no rz-ingest in '$bin' (set RZ_BIN or PATH)"
bin=$(cd "$bin" && pwd)
cache=${RZ_CACHE_DIR:-$out/.cache}

# The recordings, as the Makefile finds them (it refuses names it cannot handle).
list=$("${MAKE:-make}" -s -f "$makefile" IN="$in" OUT="$out" list) ||
  die 1 "cannot list the recordings in '$in'"
recordings=()
[ -z "$list" ] || mapfile -t recordings <<<"$list"
[ ${#recordings[@]} -gt 0 ] || die 1 "no recordings (.wav .flac .mp3 .ogg .m4a) in '$in'"

log=$(mktemp "${TMPDIR:-/tmp}/rz-parallel.XXXXXX")
trap 'rm -f "$log"' EXIT
[ -z "${RZ_MODEL_DIR:-}" ] || settings=("RZ_MODEL_DIR=$RZ_MODEL_DIR" "${settings[@]}")
# --quote: the command's words reach make as they are, here and over ssh. parallel's own exit
# status counts the failed jobs; the job log says which.
parallel --will-cite --quote "${jobs[@]}" "${logins[@]}" --joblog "$log" \
  "${MAKE:-make}" -s -f "$makefile" OUT="$out" RZ_BIN="$bin" RZ_CACHE_DIR="$cache" \
  "${settings[@]}" SRC={} ::: "${recordings[@]}" || true

# Job log: Seq Host Starttime JobRuntime Send Receive Exitval Signal Command; Seq counts the
# recordings from 1. A recording with no line never ran.
declare -A status=()
while IFS=$'\t' read -r seq host _ _ _ _ code signal _; do
  [[ "$seq" =~ ^[0-9]+$ ]] || continue
  if [ "$signal" != 0 ]; then
    status[$seq]="signal $signal on ${host/#:/this machine}"
  elif [ "$code" != 0 ]; then
    status[$seq]="exit $code on ${host/#:/this machine}"
  else
    status[$seq]=ok
  fi
done <"$log"
failed=0
for i in "${!recordings[@]}"; do
  s=${status[$((i + 1))]:-never ran}
  [ "$s" = ok ] && continue
  echo "$me: error: failed '${recordings[$i]}': $s" >&2
  failed=$((failed + 1))
done
[ "$failed" -eq 0 ] || die 1 "$failed of ${#recordings[@]} recordings failed"
echo "$out"
