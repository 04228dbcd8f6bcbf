#!/usr/bin/env bash
# The aarch64 check: every lib/src/**/*.cpp that does not use libtorch, compiled for 64-bit ARM
# with Debian's cross compiler (aarch64-linux-gnu-g++ -fsyntax-only, the project's warnings as
# errors), so that x86-only code (intrinsics, <cpuid.h>, x86 assumptions) is caught on an x86
# machine. It parses and type-checks; it does not link or run anything.
#
# Needs g++-aarch64-linux-gnu (scripts/install-deps.sh --test) and the -dev packages of a normal
# build. Usage: scripts/check-aarch64.sh   (exit 0: all compile; 1: one line per failing file)
#
# Which files: the sources whose includes, followed through rz's own headers, reach no libtorch
# header (<torch/...>, <ATen/...>, <c10/...>): the list maintains itself, and the files left out
# are printed. Debian's libtorch is x86-only and libtorch's CPU code has its own ARM ports.
#
# Headers: rz's (lib/include, and rz/version.hpp generated from its .in into a temp dir), then
# the cross compiler's own (its C++ library and glibc for aarch64, under /usr/aarch64-linux-gnu),
# then /usr/include, which it searches last by itself: the architecture-independent headers of
# nlohmann-json, CLI11, libsndfile, libsamplerate, libebur128 and kissfft. The x86 directory
# /usr/include/x86_64-linux-gnu (glibc's bits/, and pkg-config's flags for libmpg123) is never on
# the path. libmpg123's headers are architecture-specific (configure writes them; Debian installs
# them in /usr/include/<triplet>), so the arm64 libmpg123-dev of the installed version is fetched
# with apt-get download into a private apt state (no change to the system's apt configuration or
# architectures, packages verified by apt as usual), unpacked with dpkg -x, and kept in
# build/check-aarch64/ for the next run.
#
# Cost: about a minute of CPU for the 40 sources (measured 57 s: half a minute on 2 idle cores; the
# first run adds a few seconds and 9 MB of apt lists for the download). So CI runs it first, before
# the build and the long jobs (scripts/test.sh; not with --quick, which runs the ctest job only).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cxx=aarch64-linux-gnu-g++
cache="$top/build/check-aarch64"

die() {
  echo "check-aarch64.sh: error: $*" >&2
  exit 1
}
command -v "$cxx" >/dev/null ||
  die "$cxx not found (Debian: g++-aarch64-linux-gnu; scripts/install-deps.sh --test installs it)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- arm64 libmpg123 headers, cached per version
mpg123_version=$(dpkg-query -W -f='${Version}' libmpg123-dev 2>/dev/null) ||
  die "libmpg123-dev is not installed (scripts/install-deps.sh)"
arm_include="$cache/libmpg123-dev_$mpg123_version/usr/include/aarch64-linux-gnu"
if [ ! -f "$arm_include/mpg123.h" ]; then
  echo "check-aarch64.sh: fetching libmpg123-dev:arm64 $mpg123_version" >&2
  apt_dir="$tmp/apt"
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
  apt_opts=(-q -o APT::Architecture=arm64 -o APT::Architectures::=arm64
    -o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache="$apt_dir/cache"
    -o Dir::State::status=/dev/null -o APT::Sandbox::User="$(id -un)")
  apt-get "${apt_opts[@]}" update >"$tmp/apt.log" 2>&1 ||
    die "apt-get update for arm64 failed: $(tail -n 1 "$tmp/apt.log")"
  (cd "$tmp" && apt-get "${apt_opts[@]}" download "libmpg123-dev:arm64=$mpg123_version") \
    >"$tmp/apt.log" 2>&1 ||
    die "apt-get download libmpg123-dev:arm64 failed: $(tail -n 1 "$tmp/apt.log")"
  rm -rf "$cache"
  mkdir -p "$cache"
  dpkg -x "$tmp"/libmpg123-dev_*_arm64.deb "$cache/libmpg123-dev_$mpg123_version"
  [ -f "$arm_include/mpg123.h" ] || die "the arm64 libmpg123-dev has no $arm_include/mpg123.h"
fi

# --- flags: the real build's (lib/CMakeLists.txt, cmake/RzHelpers.cmake) for aarch64
mkdir -p "$tmp/include/rz"
sed 's/@PROJECT_VERSION@/aarch64-check/' "$top/lib/include/rz/version.hpp.in" \
  >"$tmp/include/rz/version.hpp"
flags=(-std=c++17 -fsyntax-only -Wall -Wextra -Wpedantic -Wshadow -Werror
  -I"$top/lib/include" -I"$tmp/include")
for f in $(pkg-config --cflags sndfile samplerate libebur128 kissfft-float libmpg123); do
  case "$f" in
    -I/usr/include/*-linux-gnu) flags+=(-isystem "$arm_include") ;;  # the host's multiarch dir
    -I*) flags+=(-isystem "${f#-I}") ;;
    *) flags+=("$f") ;;
  esac
done

# --- which sources reach libtorch
declare -A torch_memo
# Whether `file` or an rz header it includes (transitively) includes a libtorch header.
uses_torch() {
  local file=$1 header
  if [ -n "${torch_memo[$file]:-}" ]; then
    [ "${torch_memo[$file]}" = yes ]
    return
  fi
  torch_memo[$file]=no  # an include cycle ends here
  if grep -qE '^[[:space:]]*#[[:space:]]*include[[:space:]]*<(torch|ATen|c10)/' "$file"; then
    torch_memo[$file]=yes
    return 0
  fi
  for header in $(sed -nE 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"(rz\/[^"]+)".*/\1/p' \
    "$file"); do
    if [ -f "$top/lib/include/$header" ] && uses_torch "$top/lib/include/$header"; then
      torch_memo[$file]=yes
      return 0
    fi
  done
  return 1
}

cd "$top"
sources=()
skipped=()
while IFS= read -r src; do
  if uses_torch "$top/$src"; then skipped+=("$src"); else sources+=("$src"); fi
done < <(find lib/src -name '*.cpp' | sort)
[ ${#sources[@]} -gt 0 ] || die "no sources found under lib/src"
echo "check-aarch64.sh: skipped (libtorch): ${skipped[*]:-none}" >&2

# --- compile, $(nproc) at a time; one log per source
start=$SECONDS
for i in "${!sources[@]}"; do
  ("$cxx" "${flags[@]}" "${sources[$i]}" >"$tmp/$i.log" 2>&1 || touch "$tmp/$i.failed") &
  while [ "$(jobs -rp | wc -l)" -ge "$(nproc)" ]; do wait -n || true; done
done
wait

failed=()
for i in "${!sources[@]}"; do
  [ -f "$tmp/$i.failed" ] || continue
  cat "$tmp/$i.log" >&2
  first=$(grep -m 1 -E 'error:' "$tmp/$i.log" || tail -n 1 "$tmp/$i.log")
  failed+=("check-aarch64.sh: error: ${sources[$i]} does not compile for aarch64: $first")
done
if [ ${#failed[@]} -gt 0 ]; then
  printf '%s\n' "${failed[@]}" >&2
  exit 1
fi
echo "check-aarch64.sh: ${#sources[@]} sources compile for aarch64 ($((SECONDS - start)) s)" >&2
