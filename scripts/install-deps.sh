#!/usr/bin/env bash
# Installs the Debian 12 packages rz needs to build (and, with --test, to run its whole test suite).
set -euo pipefail

# libtorch-dev: the HTDemucs port in rz-separate (Debian's CPU build of libtorch 1.13).
# libmpg123-dev: libsndfile's MP3 decoder, whose flags rz sets so that it never prints.
# libyaml-cpp-dev: the YAML configs of the RoFormer models (MSST's format).
# libaubio-dev: rz-analyze's onsets and pitch track. libpng-dev: rz-report's pictures.
# librubberband-dev: rz-transform's pitch shift and time stretch (GPL: README, "Licence"; a build
# with -DRZ_WITH_RUBBERBAND=OFF does without it).
# libopenblas0-openmp: an optimised BLAS for that libtorch, which otherwise runs its matrix products
# on the reference BLAS (about 25x slower: 7.5 against ~200 GFLOP/s on 2 cores).
packages=(build-essential cmake pkg-config
  libsndfile1-dev libsamplerate0-dev libkissfft-dev libebur128-dev
  libcli11-dev nlohmann-json3-dev catch2 libtorch-dev libopenblas0-openmp libmpg123-dev
  libyaml-cpp-dev libaubio-dev libpng-dev librubberband-dev)
for arg in "$@"; do
  case "$arg" in
    --test) packages+=(ffmpeg           # the tests exercise the ffmpeg decoding path (M4A)
                       clang libclang-rt-14-dev python3 # scripts/fuzz.sh: libFuzzer, seeds
                       g++-aarch64-linux-gnu            # scripts/check-aarch64.sh
                       fluidsynth fluid-soundfont-gm jq     # tests/corpus: rendered pieces, check
                       chromium                             # tests/cli/report.sh: the page in a browser
                       parallel slurm-wlm munge) ;;         # tests/batch: GNU parallel, a Slurm node
    --bench) packages+=(time ffmpeg jq     # /usr/bin/time for peak memory; ffmpeg joins recordings;
                        rubberband-cli) ;; # jq reads rz-metrics records (quality.sh); rubberband:
                                           # transform.sh's reference
    *) echo "install-deps.sh: error: unknown option '$arg'" >&2; exit 2 ;;
  esac
done

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps.sh: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# libtorch loads libblas.so.3 and liblapack.so.3 through Debian's alternatives. OpenBLAS has the
# higher priority, so in the default (auto) mode installing it selects it; a system set by hand to
# the reference implementation is switched to OpenBLAS (other optimised choices are left alone).
for lib in libblas.so.3 liblapack.so.3; do
  name=$(update-alternatives --get-selections | awk -v l="$lib-" 'index($1, l) == 1 && !n++ {print $1}')
  [ -n "$name" ] || continue
  current=$(update-alternatives --query "$name" | awk '/^Value:/ {print $2}')
  case "$current" in
    */blas/libblas.so.3 | */lapack/liblapack.so.3)
      best=$(update-alternatives --list "$name" | grep -m 1 '/openblas-openmp/' || true)
      [ -n "$best" ] || continue
      echo "install-deps.sh: selecting OpenBLAS for $lib ('$best' instead of '$current')" >&2
      $sudo update-alternatives --quiet --set "$name" "$best" >&2
      ;;
  esac
done
