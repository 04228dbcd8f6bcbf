#!/usr/bin/env bash
# The core library's layers, enforced: every file of lib/ may include rz headers of its own layer
# and of the layers below it only, and only the cli layer includes CLI11. The layers are the
# static libraries of lib/CMakeLists.txt (whose link lines say the same thing: a call upwards
# fails to link); this check also catches an upward #include of an inline or template-only
# header, which the linker never sees. From the bottom:
#   base     rz/error.hpp rz/params.hpp rz/progress.hpp rz/version.hpp rz/io/
#   audio    rz/audio/
#   dsp      rz/dsp/
#   stems    rz/stems/
#   metrics  rz/metrics/                 (beside formats, neither includes the other)
#   formats  rz/formats/ and the demucs files without libtorch: checkpoint, bag, model_store, cache;
#            the RoFormer files without libtorch: config, bands, checkpoint
#   stages   rz/stage/ and the stages: ingest mix enhance restore dereverb master analyze
#            reporting restyle; pipeline (rz-run's driver); transform (rz-transform's, a library of
#            its own since it links Rubber Band)
#   torch    rz/nn/ and the rest of rz/demucs/ and rz/roformer/ (rz_demucs, libtorch)
#   cli      rz/cli/
# Usage: scripts/check-layers.sh [LIB_DIR]   (default: lib/ of this checkout). Exit 1 naming each
# offending include; 0 with a count.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
lib=${1:-$top/lib}

# The layer of an rz header path ("rz/dsp/stft.hpp") or of a file under lib/.
layer_of() {
  local p=$1
  p=${p#"$lib"/}
  p=${p#include/}
  p=${p#src/}
  p=${p#rz/}
  case "$p" in
    error.* | params.* | progress.* | version.* | io/*) echo base ;;
    audio/*) echo audio ;;
    dsp/*) echo dsp ;;
    stems/*) echo stems ;;
    metrics/*) echo metrics ;;
    formats/* | demucs/checkpoint.* | demucs/bag.* | demucs/model_store.* | demucs/cache.* | \
      roformer/config.* | roformer/bands.* | roformer/checkpoint.*)
      echo formats ;;
    stage/* | ingest/* | mix/* | enhance/* | restore/* | dereverb/* | master/* | analyze/* | \
      reporting/* | pipeline/* | transform/* | restyle/*)
      echo stages ;;
    nn/* | demucs/* | roformer/*) echo torch ;;
    cli/*) echo cli ;;
    *) echo unknown ;;
  esac
}

# What each layer may include (itself included).
allowed() {
  case "$1" in
    base) echo "base" ;;
    audio) echo "base audio" ;;
    dsp) echo "base audio dsp" ;;
    stems) echo "base audio dsp stems" ;;
    metrics) echo "base audio dsp stems metrics" ;;
    formats) echo "base audio dsp stems formats" ;;
    stages) echo "base audio dsp stems metrics formats stages" ;;
    torch) echo "base audio dsp stems metrics formats stages torch" ;;
    cli) echo "base audio dsp stems metrics formats stages cli" ;;
  esac
}

bad=0
files=0
while IFS= read -r f; do
  files=$((files + 1))
  own=$(layer_of "$f")
  if [ "$own" = unknown ]; then
    echo "check-layers: no layer for '${f#"$top"/}': add it to scripts/check-layers.sh" >&2
    bad=1
    continue
  fi
  ok=" $(allowed "$own") "
  while IFS= read -r inc; do
    [ -n "$inc" ] || continue
    to=$(layer_of "$inc")
    if [[ "$ok" != *" $to "* ]]; then
      echo "check-layers: ${f#"$top"/} ($own) includes $inc ($to), a layer above or beside it" >&2
      bad=1
    fi
  done < <(sed -n 's/^#include "\(rz\/[^"]*\)".*/\1/p' "$f")
  if [ "$own" != cli ] && grep -q '^#include <CLI/' "$f"; then
    echo "check-layers: ${f#"$top"/} ($own) includes CLI11: only the cli layer may" >&2
    bad=1
  fi
done < <(find "$lib/include" "$lib/src" -name '*.hpp' -o -name '*.cpp' -o -name '*.hpp.in' |
  LC_ALL=C sort)
[ "$bad" = 0 ] || exit 1
echo "check-layers: $files files, every include within its layer or below" >&2
