#!/usr/bin/env bash
# man_examples.sh: runs the command lines of every man page's EXAMPLES section (ctest cli.man_examples).
#
# Usage: bash tests/cli/man_examples.sh MAN_DIR BIN_DIR
#
# Convention in the pages (plain man(7) source):
# - Commands are the lines between .EX and .EE inside the EXAMPLES section (from ".SH EXAMPLES" to
#   the next .SH). Lines starting with "." (requests, .\" comments) are skipped, and so are blank
#   lines and lines starting with "#" (comments shown to the reader).
# - A line ending in a backslash (written \e in the source) continues on the next line.
# - The roff escapes \- \e \(aq \(dq \(ga \(ti \(ha \& \~ are turned back into what a reader types.
# - A ".\" file: NAME" comment line right before an .EX, in any section, marks that block as the
#   contents of file NAME (a Makefile, say): it is written, unescaped and verbatim (tabs kept), into
#   the page's directory before the page's commands run.
#
# Each page runs in a fresh directory holding the fixtures below, its commands in order (later ones
# may use what earlier ones wrote), each in its own `bash -e -o pipefail -c` with BIN_DIR first on
# PATH and stdin from /dev/null. A page stops at its first failing command. A command whose program
# is not installed (make) is a visible skip. When groff is installed, every page must also format
# without warnings (groff -man -ww -z).
#
# Fixtures, small so that the whole run takes seconds:
#   gig.wav     8 s phone-in-the-crowd recording (rz-make-example, 48 kHz stereo 16-bit)
#   board.wav   the soundboard feed of the same concert: the exact float sum of the stems
#   stems/      drums.wav bass.wav other.wav vocals.wav (48 kHz stereo float, 384000 frames)
#   band/       a stem directory of those four stems, written as rz-manifest(5) shows
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: man_examples.sh MAN_DIR BIN_DIR" >&2
  exit 2
fi
man_dir=$(cd "$1" && pwd)
bin_dir=$(cd "$2" && pwd)
for tool in rz-ingest rz-mix rz-master rz-metrics rz-make-example rz-enhance rz-restore rz-dereverb \
  rz-run rz-restyle; do
  if [ ! -x "$bin_dir/$tool" ]; then
    echo "man_examples.sh: error: missing program '$bin_dir/$tool': build it first" >&2
    exit 1
  fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/rz-man-examples.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM HUP
export PATH="$bin_dir:$PATH"
# Commands must not depend on the caller's locale, or on a make (ctest run from make) above us.
export LC_ALL=C
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES

# --- fixtures ---------------------------------------------------------------------------------
fixtures="$work/fixtures"
mkdir -p "$fixtures"
(
  cd "$fixtures"
  rz-make-example --duration 8 --clean-dir stems gig.wav >/dev/null
  mv stems/mix.wav board.wav
  mkdir band
  cp stems/drums.wav stems/bass.wav stems/other.wav stems/vocals.wav band/
  printf '%s\n' '{"schema": "rz-manifest", "schema_version": 1,' \
    '"sample_rate_hz": 48000, "channels": 2, "frames": 384000, "stems": [' \
    '{"name": "drums", "file": "drums.wav", "frames": 384000},' \
    '{"name": "bass", "file": "bass.wav", "frames": 384000},' \
    '{"name": "other", "file": "other.wav", "frames": 384000},' \
    '{"name": "vocals", "file": "vocals.wav", "frames": 384000}]}' > band/manifest.json
  # The fixture's promise (8 s at 48 kHz) is what band/manifest.json and rz-manifest(5) rely on.
  rz-metrics --no-spectral band >/dev/null
)

# --- extraction -------------------------------------------------------------------------------
# Turns roff escapes back into plain text (stdin to stdout).
unroff() {
  sed -e 's/\\e/\x01/g' -e 's/\\\\/\x01/g' \
      -e 's/\\-/-/g' -e "s/\\\\(aq/'/g" -e 's/\\(dq/"/g' -e 's/\\(ga/`/g' \
      -e 's/\\(ti/~/g' -e 's/\\(ha/^/g' -e 's/\\&//g' -e 's/\\~/ /g' \
      -e 's/\x01/\\/g'
}

# Prints the commands of a page's EXAMPLES section, one per line (continuations joined).
extract_commands() {
  awk '
    /^\.SH/ { in_ex = ($0 ~ /^\.SH[ \t]+"?EXAMPLES"?[ \t]*$/); block = 0; next }
    in_ex && /^\.EX/ { block = 1; next }
    in_ex && /^\.EE/ { block = 0; next }
    in_ex && block && !/^[.\047]/ { print }
  ' "$1" | unroff | awk '
    { line = $0 }
    pending != "" { line = pending line; pending = "" }
    line ~ /\\$/ { pending = substr(line, 1, length(line) - 1); next }
    line ~ /^[ \t]*$/ || line ~ /^[ \t]*#/ { next }
    { print line }
    END { if (pending != "") print pending }
  '
}

# Writes the page's file blocks (".\" file: NAME" right before .EX) into directory $2.
write_files() {
  local page=$1 dir=$2 name
  while IFS= read -r name; do
    unroff < "$dir/.$name.roff" > "$dir/$name"
    rm -f "$dir/.$name.roff"
  done < <(awk -v dir="$dir" '
    /^\.\\" file: / { name = $3; next }
    /^\.EX/ && name != "" { out = dir "/." name ".roff"; printf "" > out; print name; writing = 1; next }
    /^\.EE/ && writing { close(out); writing = 0; name = ""; next }
    writing { if (!/^[.\047]/) print >> out; next }
    { name = "" }
  ' "$page")
}

# --- run --------------------------------------------------------------------------------------
passed=0 failed=0 skipped=0 not_run=0
shopt -s nullglob
pages=("$man_dir"/*.[1-8])
if [ ${#pages[@]} -eq 0 ]; then
  echo "man_examples.sh: error: no man pages in '$man_dir'" >&2
  exit 1
fi

if command -v groff >/dev/null 2>&1; then
  for page in "${pages[@]}"; do
    name=$(basename "$page")
    warnings=$(groff -man -ww -z "$page" 2>&1 || true)
    if [ -n "$warnings" ]; then
      echo "FAIL $name: groff warnings:"
      printf '%s\n' "$warnings" | sed 's/^/    /'
      failed=$((failed + 1))
    fi
  done
else
  echo "skip: groff is not installed, the pages are not checked for formatting warnings"
fi

for page in "${pages[@]}"; do
  name=$(basename "$page")
  if ! grep -qE '^\.SH[ \t]+"?EXAMPLES"?[ \t]*$' "$page"; then
    echo "FAIL $name: no EXAMPLES section"
    failed=$((failed + 1))
    continue
  fi
  mapfile -t commands < <(extract_commands "$page")
  if [ ${#commands[@]} -eq 0 ]; then
    echo "FAIL $name: the EXAMPLES section has no commands between .EX and .EE"
    failed=$((failed + 1))
    continue
  fi
  dir="$work/${name//./-}"
  cp -a "$fixtures" "$dir"
  write_files "$page" "$dir"
  log="$work/$name.log"
  for i in "${!commands[@]}"; do
    cmd=${commands[$i]}
    program=${cmd%% *}
    if [[ $program =~ ^[A-Za-z0-9_.+-]+$ ]] && ! command -v "$program" >/dev/null 2>&1; then
      echo "skip $name: '$program' is not installed: $cmd"
      skipped=$((skipped + 1))
      continue
    fi
    start=$SECONDS
    if (cd "$dir" && timeout 120 bash -e -o pipefail -c "$cmd") >"$log" 2>&1 </dev/null; then
      echo "ok   $name: $cmd ($((SECONDS - start)) s)"
      passed=$((passed + 1))
    else
      rc=$?
      echo "FAIL $name (exit $rc): $cmd"
      sed 's/^/    /' "$log" | tail -n 20
      failed=$((failed + 1))
      rest=$((${#commands[@]} - i - 1))
      if [ $rest -gt 0 ]; then
        echo "     ($rest later command(s) of $name not run)"
        not_run=$((not_run + rest))
      fi
      break
    fi
  done
done

summary="$passed passed, $failed failed"
[ $skipped -gt 0 ] && summary+=", $skipped skipped"
[ $not_run -gt 0 ] && summary+=", $not_run not run"
echo "$summary"
[ $failed -eq 0 ]
