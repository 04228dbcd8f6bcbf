#!/usr/bin/env bash
# Builds rz against a CUDA-enabled libtorch, into build-cuda/ at the top of the source tree (or
# $RZ_BUILD_DIR). The libtorch is either an unpacked zip from pytorch.org (C++ cxx11 ABI) or the
# one inside a pip torch install, found through torch.utils.cmake_prefix_path.
#
# Usage: scripts/build-cuda.sh [--libtorch DIR | --python PYTHON] [CMAKE_ARGS...]
#   --libtorch DIR   a libtorch tree: any prefix under which CMake finds TorchConfig.cmake
#                    (the zip's libtorch/, or /usr for Debian's libtorch-dev, which has no CUDA)
#   --python PYTHON  the Python whose torch package carries the libtorch (default: python3)
#   CMAKE_ARGS       passed to cmake's configure step (-DRZ_BUILD_TESTS=OFF, -G Ninja, ...)
# Prints the build directory on stdout; what it found and the build's log go to stderr. A libtorch
# without CUDA builds too, with a warning: the tools then run on the CPU only.
# Exit: 0 built; 2 usage error; 3 no usable libtorch where it was told to look; other: cmake's.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${RZ_BUILD_DIR:-$top/build-cuda}
libtorch="" python=python3
while [ $# -gt 0 ]; do
  case "$1" in
    --libtorch)
      [ $# -ge 2 ] || { echo "build-cuda.sh: --libtorch needs a directory" >&2; exit 2; }
      libtorch=$2
      shift 2
      ;;
    --python)
      [ $# -ge 2 ] || { echo "build-cuda.sh: --python needs a program" >&2; exit 2; }
      python=$2
      shift 2
      ;;
    -h | --help)
      sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *) break ;;
  esac
done

if [ -z "$libtorch" ]; then
  if ! prefix=$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null); then
    echo "build-cuda.sh: $python cannot import torch (name a libtorch with --libtorch DIR)" >&2
    exit 3
  fi
  if [ ! -d "$prefix" ]; then
    echo "build-cuda.sh: $python's torch names $prefix for CMake, which does not exist" \
      "(Debian's python3-torch ships no CMake files: use --libtorch)" >&2
    exit 3
  fi
  libtorch=$prefix
fi
[ -d "$libtorch" ] || { echo "build-cuda.sh: $libtorch: no such directory" >&2; exit 3; }
config=$(find -L "$libtorch" -maxdepth 5 -name TorchConfig.cmake -print -quit 2>/dev/null || true)
if [ -z "$config" ]; then
  echo "build-cuda.sh: no TorchConfig.cmake under $libtorch (Debian's python3-torch ships none:" \
    "use --libtorch with a libtorch zip or a pip torch's cmake_prefix_path)" >&2
  exit 3
fi
# The libraries sit beside the CMake files' prefix: <prefix>/lib (zip, pip) or the multiarch dir.
torch_dir=$(dirname "$config")
if find -L "$torch_dir/../../.." "$torch_dir/../.." -maxdepth 2 -name 'libc10_cuda.so*' -print -quit \
  2>/dev/null | grep -q .; then
  echo "build-cuda.sh: CUDA libtorch at $torch_dir" >&2
else
  echo "build-cuda.sh: warning: the libtorch at $torch_dir has no CUDA (no libc10_cuda):" \
    "the tools will run on the CPU only" >&2
fi

cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Release -DTorch_DIR="$torch_dir" "$@" >&2
cmake --build "$build" -j"$(nproc)" >&2
echo "$build"
