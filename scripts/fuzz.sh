#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz (clang, ASan + UBSan) into build-fuzz/, seeds a
# fresh corpus per harness (tests/fuzz/make_seeds.py: tests/fuzz/seeds and ../shared; with
# --keep-corpus, adds the seeds to the corpus of the last run), replays the inputs that once crashed
# them (tests/fuzz/regressions/NAME/), then fuzzes each harness for a bounded time, one after the
# other. Prints one summary line per harness on stdout; exits 1 when any of them crashed, leaked,
# hit undefined behaviour, a timeout or the memory limit (the reproducer is in
# build-fuzz/crashes/NAME/), 2 on a usage error. Installs nothing: clang,
# libclang-rt-14-dev and python3 come with scripts/install-deps.sh --test.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
all=(checkpoint pickle bag manifest enhance_config mix_settings audio)

usage() {
  cat <<EOF
Usage: scripts/fuzz.sh [--time SECONDS] [--jobs N] [--keep-corpus] [NAME...]
Fuzz each harness NAME (default: all: ${all[*]}; "fuzz_NAME" also works) for SECONDS
(default 30) with N parallel workers (default 1, libFuzzer's -fork mode). --keep-corpus
continues from the corpus an earlier run left in build-fuzz/corpus/NAME (the seeds are added
again) instead of starting from the seeds alone, so that a long campaign can be run in parts.
Shared fixtures come from \$RZ_SHARED_DIR (default: ../shared beside the source tree).
Examples:
  scripts/fuzz.sh --time 20                       # the short run of scripts/test.sh
  scripts/fuzz.sh --time 3600 fuzz_checkpoint     # one harness for an hour
  scripts/fuzz.sh --time 3600 --jobs 4 manifest bag
  scripts/fuzz.sh --time 1800 --keep-corpus audio  # a second half hour on the same corpus
EOF
}

die() {
  echo "fuzz.sh: error: $*" >&2
  exit 2
}

time_s=30
jobs=1
keep_corpus=0
names=()
while [ $# -gt 0 ]; do
  case "$1" in
    --time) [ $# -ge 2 ] || die "--time needs a value"; time_s=$2; shift 2 ;;
    --jobs) [ $# -ge 2 ] || die "--jobs needs a value"; jobs=$2; shift 2 ;;
    --keep-corpus) keep_corpus=1; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) names+=("${1#fuzz_}"); shift ;;
  esac
done
[[ $time_s =~ ^[1-9][0-9]*$ ]] || die "--time takes a whole number of seconds, not '$time_s'"
[[ $jobs =~ ^[1-9][0-9]*$ ]] || die "--jobs takes a positive whole number, not '$jobs'"
[ ${#names[@]} -gt 0 ] || names=("${all[@]}")
for name in "${names[@]}"; do
  [[ " ${all[*]} " == *" $name "* ]] || die "unknown harness '$name' (harnesses: ${all[*]})"
done

# The largest input each harness takes: the demucs seed checkpoints are about 780 kB and the MSST
# pickles 145 kB; the rest are a few kB.
max_len() {
  case "$1" in
    checkpoint) echo 1048576 ;;
    pickle) echo 262144 ;;
    manifest | audio) echo 65536 ;;
    enhance_config) echo 16384 ;;
    *) echo 4096 ;;
  esac
}

for tool in clang clang++ python3; do
  if ! command -v "$tool" >/dev/null; then
    echo "fuzz.sh: error: $tool not found (scripts/install-deps.sh --test installs it)" >&2
    exit 1
  fi
done

start=$SECONDS
build="$top/build-fuzz"
shared=${RZ_SHARED_DIR:-$top/../shared}
CC=clang CXX=clang++ cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DRZ_BUILD_FUZZ=ON -DRZ_BUILD_TESTS=OFF >&2
cmake --build "$build" --target rz-fuzz -j"$(nproc)" >&2
built=$SECONDS

# Scratch files of the harnesses (one per input; a crashing input leaves its own behind): in
# memory when /dev/shm allows it.
scratch_root="$build"
[ -d /dev/shm ] && [ -w /dev/shm ] && scratch_root=/dev/shm
scratch=$(mktemp -d "$scratch_root/rz-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

failed=0
for name in "${names[@]}"; do
  bin="$build/bin/fuzz/fuzz_$name"
  corpus="$build/corpus/$name"
  crashes="$build/crashes/$name"
  log="$build/logs/$name.log"
  [ "$keep_corpus" -eq 1 ] || rm -rf "$corpus"
  mkdir -p "$crashes" "$(dirname "$log")"
  python3 "$top/tests/fuzz/make_seeds.py" --shared "$shared" --out "$build/corpus" "$name"
  flags=(-rss_limit_mb=2048 -timeout=10 "-max_len=$(max_len "$name")" "-artifact_prefix=$crashes/")
  dict="$top/tests/fuzz/dicts/$name.dict"
  [ -f "$dict" ] && flags+=("-dict=$dict")

  # Inputs that once crashed the harness: each is run once and must pass.
  regressions=()
  if [ -d "$top/tests/fuzz/regressions/$name" ]; then
    while IFS= read -r -d '' f; do regressions+=("$f"); done < \
      <(find "$top/tests/fuzz/regressions/$name" -type f -print0 | sort -z)
  fi
  status="ok"
  if [ ${#regressions[@]} -gt 0 ] &&
    ! TMPDIR=$scratch "$bin" "${flags[@]}" "${regressions[@]}" >"$log.regressions" 2>&1; then
    status="REGRESSION (see $log.regressions)"
    failed=1
  fi

  before=$(find "$crashes" -type f ! -name 'slow-unit-*' | wc -l)
  run_flags=(-max_total_time="$time_s" -print_final_stats=1)
  [ "$jobs" -gt 1 ] && run_flags+=(-fork="$jobs")
  rc=0
  run_start=$SECONDS
  TMPDIR=$scratch "$bin" "${flags[@]}" "${run_flags[@]}" "$corpus" >"$log" 2>&1 || rc=$?
  run_s=$((SECONDS - run_start))
  found=$(($(find "$crashes" -type f ! -name 'slow-unit-*' | wc -l) - before))
  # Executions and coverage: libFuzzer's final statistics, else its last status line ("#N ... cov:
  # E ft: F corp: C/..."; in fork mode "#N: cov: E ft: F corp: C ...").
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  status_line=$(grep -E '^#[0-9]+:?[[:space:]].*cov: ' "$log" | tail -n 1 || true)
  [ -n "$runs" ] || runs=$(sed -E 's/^#([0-9]+).*/\1/' <<<"$status_line")
  cov=$(sed -nE 's/.*cov: ([0-9]+).*/\1/p' <<<"$status_line")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$status_line")
  corp=$(sed -nE 's/.* corp: ([0-9]+).*/\1/p' <<<"$status_line")
  if [ "$rc" -ne 0 ] || [ "$found" -gt 0 ]; then
    status="CRASH (exit $rc, $found new in $crashes; log $log)"
    failed=1
    grep -E '^(SUMMARY|==[0-9]+==ERROR)|rz fuzz invariant failed|runtime error' "$log" |
      head -n 3 | sed "s/^/fuzz.sh: $name: /" >&2 || true
  fi
  echo "$name: ${runs:-?} runs in ${run_s} s, coverage ${cov:-?} edges (${ft:-?} features)," \
    "corpus ${corp:-?}, crashes $found, regressions ${#regressions[@]} replayed: $status"
done

echo "fuzz.sh: build $((built - start)) s, total $((SECONDS - start)) s" >&2
exit "$failed"
