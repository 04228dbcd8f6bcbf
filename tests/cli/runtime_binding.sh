#!/usr/bin/env bash
# Every tool's calls into the C++ runtime bind to libstdc++ (cmake/RzHelpers.cmake,
# rz_runtime_first; issue 15): the libtorch of a pip torch install exports its own copies of
# parts of libstdc++, and `rz-separate -f` crashed in one of them.
#   1. libstdc++ comes first among the libraries each tool needs (after the sanitizer runtimes,
#      which must lead), so the dynamic linker finds it before any library with copies;
#   2. with every symbol bound at start (LD_BIND_NOW), each of the tool's references to a
#      GLIBCXX_ or CXXABI_ versioned symbol is bound to libstdc++ or to the tool itself (a copy
#      relocation of data such as a vtable).
# Says which of the loaded libraries export copies of those symbols: none does with Debian's
# libtorch, so there check 2 holds whatever the order, and check 1 carries the weight.
# Usage: runtime_binding.sh BIN_DIR. Exits 77 (skip) without readelf or nm.
set -euo pipefail
bin=${1:?usage: runtime_binding.sh BIN_DIR}
for cmd in readelf nm; do
  command -v "$cmd" >/dev/null || { echo "skip: $cmd is not installed"; exit 77; }
done
tools=(rz-ingest rz-separate rz-enhance rz-restore rz-dereverb rz-mix rz-master rz-metrics)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
for t in "${tools[@]}"; do
  exe="$bin/$t"
  [ -x "$exe" ] || { echo "FAIL $t: $exe is missing"; fail=1; continue; }
  needed=$(readelf -d "$exe" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' |
    grep -v -E '^lib(asan|ubsan|lsan|tsan)\.so')
  first=$(head -n 1 <<<"$needed")
  case "$first" in
    libstdc++.so*) ;;
    *) echo "FAIL $t: the first library it needs is $first, not libstdc++:"; echo "$needed"; fail=1 ;;
  esac
  log="$work/$t.ld"
  LD_BIND_NOW=1 LD_DEBUG=libs,bindings LD_DEBUG_OUTPUT="$log" "$exe" --version >/dev/null 2>&1 || true
  # ld.so appends .PID to LD_DEBUG_OUTPUT; the tool runs as one process.
  bindings=$(cat "$log".* 2>/dev/null | grep -F "binding file $exe [0] to " |
    grep -E "\[(GLIBCXX|CXXABI)_[0-9.]+\]$" || true)
  if [ -z "$bindings" ]; then
    echo "FAIL $t: no C++ runtime binding recorded (LD_DEBUG unsupported?)"
    fail=1
    continue
  fi
  wrong=$(awk -v exe="$exe" '{ to = $7; if (to !~ /\/libstdc\+\+\.so/ && to != exe) print to, $NF, $(NF-1) }' \
    <<<"$bindings")
  if [ -n "$wrong" ]; then
    echo "FAIL $t: C++ runtime symbols bound outside libstdc++:"
    head -n 5 <<<"$wrong"
    fail=1
  fi
  # Informative: which loaded libraries other than libstdc++ export the runtime symbols the tool
  # imports.
  syms="$work/$t.syms"
  nm -D --undefined-only "$exe" | awk '$2 ~ /@(GLIBCXX|CXXABI)_/ { sub(/@.*/, "", $2); print $2 }' |
    sort -u >"$syms"
  mapfile -t libs < <(sed -n 's/.*calling init: \(\/.*\)$/\1/p' "$log".* | grep -v '/libstdc++\.so' |
    sort -u)
  rivals=""
  if [ "${#libs[@]}" -gt 0 ]; then
    # One nm over every library (rz-separate loads about 300): "file: address type symbol".
    rivals=$(nm -D --defined-only -A "${libs[@]}" 2>/dev/null |
      awk 'NR == FNR { want[$1] = 1; next }
           { sym = $NF; sub(/@.*/, "", sym); if (sym in want) { f = $1; sub(/:[^:]*$/, "", f); n = split(f, p, "/"); hits[p[n]]++ } }
           END { for (l in hits) printf " %s (%d)", l, hits[l] }' "$syms" -)
  fi
  echo "ok $t: $(wc -l <<<"$bindings") runtime bindings, all to libstdc++ or the tool;" \
    "libraries exporting copies of them:${rivals:- none}"
done
exit "$fail"
