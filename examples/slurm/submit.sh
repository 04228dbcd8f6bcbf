#!/usr/bin/env bash
# submit.sh: master a folder of recordings on a Slurm cluster, one array task per recording
# (examples/slurm/rz-array.sbatch, which runs examples/Makefile for it). Only the recordings
# whose results are missing or out of date are submitted, so a rerun after failures redoes those.
#
# Usage: examples/slurm/submit.sh IN_DIR OUT_DIR [VAR=VALUE...]
#   VAR=VALUE  settings of examples/Makefile for every task (SEPARATE=no, MASTER_FLAGS=...)
# Environment: RZ_BIN (the rz binaries' directory; default: where PATH finds rz-ingest);
# RZ_CACHE_DIR (rz-separate's cache; default OUT_DIR/.cache); RZ_GPU_GRES (the GRES the
# separation asks for, default gpu:1; empty: none; not asked when the chain does not separate);
# sbatch's own SBATCH_PARTITION, SBATCH_TIMELIMIT, SBATCH_ACCOUNT ...
# Shared storage is assumed: IN_DIR, OUT_DIR, this checkout and RZ_BIN have the same paths on
# every node. Logs go to OUT_DIR/.slurm/JOBID_TASK.log.
# Prints the array job's id on stdout (nothing when everything is up to date). Exit status: 0
# submitted or nothing to do; 1 failure; 2 usage error.
set -euo pipefail
me=submit.sh
usage="usage: $me IN_DIR OUT_DIR [VAR=VALUE...]"

die() { # die STATUS MESSAGE
  echo "$me: error: $2" >&2
  exit "$1"
}

case "${1:-}" in -h | --help) echo "$usage"; exit 0 ;; esac
[ $# -ge 2 ] || die 2 "$usage"
for s in "${@:3}"; do
  [[ "$s" =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || die 2 "'$s' is not a VAR=VALUE setting ($usage)"
done
command -v sbatch >/dev/null || die 1 "sbatch not found: not a Slurm submit host"
in=$(cd "$1" 2>/dev/null && pwd) || die 1 "cannot read input folder '$1'"
mkdir -p "$2/.slurm" || die 1 "cannot create output folder '$2'"
out=$(cd "$2" && pwd)
shift 2
here=$(cd "$(dirname "$0")" && pwd)
makefile=$(dirname "$here")/Makefile
bin=${RZ_BIN:-$(dirname "$(command -v rz-ingest || echo .)")}
[ -x "$bin/rz-ingest" ] || die 1 "no rz-ingest in '$bin' (set RZ_BIN or PATH)"
bin=$(cd "$bin" && pwd)
settings=(RZ_BIN="$bin" RZ_CACHE_DIR="${RZ_CACHE_DIR:-$out/.cache}" "$@")
mk=("${MAKE:-make}" -s -f "$makefile" OUT="$out" "${settings[@]}")

all=$("${mk[@]}" IN="$in" list) || die 1 "cannot list the recordings in '$in'"
[ -n "$all" ] || die 1 "no recordings (.wav .flac .mp3 .ogg .m4a) in '$in'"
list=$(mktemp "$out/.slurm/list.XXXXXX")
while IFS= read -r f; do
  "${mk[@]}" -q SRC="$f" || echo "$f"
done <<<"$all" >"$list"
n=$(wc -l <"$list")
if [ "$n" -eq 0 ]; then
  rm -f "$list"
  echo "$me: every recording in '$in' is up to date in '$out'" >&2
  exit 0
fi

gres=${RZ_GPU_GRES-gpu:1}
[ "$("${mk[@]}" separating)" = yes ] || gres=""
echo "$me: $n of $(wc -l <<<"$all") recordings to do${gres:+, separation with --gres=$gres}" >&2
RZ_GPU_GRES=$gres sbatch --parsable --export=ALL --array="0-$((n - 1))" \
  --output="$out/.slurm/%A_%a.log" ${gres:+--gres="$gres"} \
  "$here/rz-array.sbatch" "$makefile" "$list" "$out" "${settings[@]}"
