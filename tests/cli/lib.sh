# shellcheck shell=bash
# Helpers sourced by the CLI test scripts (tests/cli/analyze.sh, report.sh) and bench/analyze.sh.
# The sourcing script sets `me` (its name, for messages).

# fail MESSAGE: one line on stderr, exit 1.
fail() {
  echo "${me:-test}: FAIL: $*" >&2
  exit 1
}

# expect CODE CMD...: runs CMD with stdout to out.txt and stderr to err.txt in the current
# directory; requires exit CODE and, for a failure, exactly one line on stderr.
expect() {
  local want=$1 got=0
  shift
  "$@" >out.txt 2>err.txt || got=$?
  [ "$got" -eq "$want" ] || fail "'$*' exited $got, expected $want: $(cat err.txt)"
  if [ "$want" -ne 0 ]; then
    [ "$(wc -l <err.txt)" -eq 1 ] || fail "'$*': expected one line on stderr, got: $(cat err.txt)"
  fi
}

# make_band STEMS BAND FRAMES: moves the four clean stems that rz-make-example --clean-dir STEMS
# wrote (48 kHz stereo) into a new stem directory BAND with the manifest rz-manifest(5) shows (no
# sizes or hashes: rz checks headers).
make_band() {
  local stems=$1 band=$2 frames=$3 sep="" entries="" s
  mkdir "$band"
  for s in drums bass other vocals; do
    mv "$stems/$s.wav" "$band/"
    entries+="$sep{\"name\": \"$s\", \"file\": \"$s.wav\", \"frames\": $frames}"
    sep=", "
  done
  printf '{"schema": "rz-manifest", "schema_version": 1, "sample_rate_hz": 48000, "channels": 2, "frames": %s, "stems": [%s]}\n' \
    "$frames" "$entries" >"$band/manifest.json"
}

# expect_interrupted OUT CMD...: runs CMD (which writes the stem directory OUT, in the current
# directory) in the background, sends it SIGINT once OUT's hidden temporary exists (or after 10 s),
# and requires exit 130 with neither OUT nor a temporary left.
expect_interrupted() {
  local out=$1 pid rc=0
  shift
  "$@" >/dev/null 2>int.err &
  pid=$!
  for _ in $(seq 200); do
    [ -n "$(find . -maxdepth 1 -name ".$out.rz-tmp-*")" ] && break
    sleep 0.05
  done
  kill -INT "$pid"
  wait "$pid" || rc=$?
  [ "$rc" -eq 130 ] || fail "interrupted '$*' exited $rc: $(cat int.err)"
  if [ -e "$out" ] || [ -n "$(find . -maxdepth 1 -name '.*rz-tmp-*')" ]; then
    fail "interrupted '$*' left output"
  fi
}
