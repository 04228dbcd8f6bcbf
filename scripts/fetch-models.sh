#!/usr/bin/env bash
# Downloads the official HTDemucs (Demucs v4) checkpoints into the rz model directory, verified.
#
# Usage: scripts/fetch-models.sh [--list] [NAME...]        (no NAME: htdemucs)
#   NAME   htdemucs | htdemucs_6s | htdemucs_ft, or a checkpoint file name SIG-XXXXXXXX.th that
#          the same server holds (e.g. 955717e8-8726e21a.th)
#   --list print each official name and its files, one per line, and exit
#
# Directory: $RZ_MODEL_DIR, else $XDG_DATA_HOME/rz/models, else ~/.local/share/rz/models (what
# rz-separate reads). Server: $RZ_MODEL_URL, default
# https://dl.fbaipublicfiles.com/demucs/hybrid_transformer (file:// works through curl, for tests).
#
# Verification. Each file is downloaded into a hidden temporary file beside its destination and
# moved into place only after its SHA-256 checks out, so an interrupted or failed run leaves no
# partial file. Two checks:
#   1. demucs' own: the 8 hex digits after the '-' in the file name are the first 8 hex digits
#      of the file's SHA-256 (demucs' LocalRepo and torch.hub check_hash do exactly this);
#   2. for the six official files, the full SHA-256 below. demucs publishes no full hashes; these
#      come from public code that pins the same URLs, and each one starts with its file name's
#      8 digits, so check 1 agrees with them:
#        955717e8, 5c90dfd2: github.com/bobrobertsonson/git_practice,
#          spikes/separator/scripts/fetch_weights.sh @ ada74e172216e97f02c1522c0f93498590afa19f
#          (verified there with sha256sum -c); 955717e8 also in github.com/HeartHurt-code-y/
#          infinite-canvas, scripts/prepare-ai-media-runtime.mjs @ 6a9e190d4f29f2560f5db28680dbcd13f04ecaa1
#        f7e0c4bc, d12395a8, 92cfc3b6, 04573f0d: github.com/samgum/lrc-editor,
#          companion/install-ai-aligner.sh @ 56e55a803c915b198b711cdbfe4bdf5e6dd7d616
#      Other NAME-XXXXXXXX.th files get check 1 only.
# A file already present and valid is skipped, so running it again is cheap and safe.
#
# Output: the path of each requested file on stdout, one per line; progress and errors on stderr
# ("fetch-models.sh: error: <what> '<subject>': <reason>", one line). Exit status: 0 all files
# present and valid, 1 a download or check failed, 2 bad usage.
set -euo pipefail

prog=fetch-models.sh
base_url="${RZ_MODEL_URL:-https://dl.fbaipublicfiles.com/demucs/hybrid_transformer}"
base_url="${base_url%/}"

die() { echo "$prog: error: $*" >&2; exit 1; }
usage_error() { echo "$prog: error: $*" >&2; echo "usage: $prog [--list] [NAME...]" >&2; exit 2; }

# name -> files, in bag order (demucs/remote/<name>.yaml)
model_files() {
  case "$1" in
    htdemucs) echo "955717e8-8726e21a.th" ;;
    htdemucs_6s) echo "5c90dfd2-34c22ccb.th" ;;
    htdemucs_ft) echo "f7e0c4bc-ba3fe64a.th d12395a8-e57c48e6.th 92cfc3b6-ef3bcb9c.th 04573f0d-f3cf25b2.th" ;;
    *) return 1 ;;
  esac
}
official_names="htdemucs htdemucs_6s htdemucs_ft"

# file -> full SHA-256 (sources in the header), empty when unknown
full_sha256() {
  case "$1" in
    955717e8-8726e21a.th) echo 8726e21a993978c7ba086d3872e7608d7d5bfca646ca4aca459ffda844faa8b4 ;;
    5c90dfd2-34c22ccb.th) echo 34c22ccb381c6f9fdbf324f04e1e2fe21aaaf293f5ded163a162697ff9a02ddd ;;
    f7e0c4bc-ba3fe64a.th) echo ba3fe64ae8ef66ac9a4857222ce48efbdc5eb3ad375cb79dd13debee5aaa4066 ;;
    d12395a8-e57c48e6.th) echo e57c48e6b0e38af4f7118d7bd08c49f0a0c0edf7d09143bdd902ea0d237303e6 ;;
    92cfc3b6-ef3bcb9c.th) echo ef3bcb9c8b40d14ae5d51b6db2587339cc12c6b77c0be151ce6d69002e087bf2 ;;
    04573f0d-f3cf25b2.th) echo f3cf25b222c4eed7cd49dd8b2c9597d50c18bd154090f7b919cfa5f93cf22c49 ;;
    *) echo "" ;;
  esac
}

is_checkpoint_name() { [[ "$1" =~ ^[A-Za-z0-9_.]+-[0-9a-f]{8}\.th$ ]]; }

if command -v sha256sum >/dev/null 2>&1; then
  sha256_of() { sha256sum -- "$1" | cut -d' ' -f1; }
elif command -v shasum >/dev/null 2>&1; then
  sha256_of() { shasum -a 256 -- "$1" | cut -d' ' -f1; }
else
  die "cannot verify downloads 'sha256sum': neither sha256sum nor shasum is installed"
fi

# Prints why `path` is not a valid copy of `file`, or nothing when it is.
check_file() {
  local path="$1" file="$2" actual prefix full
  if ! actual=$(sha256_of "$path") || [ ${#actual} -ne 64 ]; then
    echo "it cannot be read"
    return 0
  fi
  prefix="${file%.th}"
  prefix="${prefix##*-}"
  full=$(full_sha256 "$file")
  if [ "${actual:0:8}" != "$prefix" ]; then
    echo "SHA-256 starts with ${actual:0:8}, the file name says $prefix"
  elif [ -n "$full" ] && [ "$actual" != "$full" ]; then
    echo "SHA-256 is $actual, expected $full"
  fi
}

# Downloads `url` to `out`; on failure prints the downloader's reason on one line.
download() {
  local url="$1" out="$2" err
  if command -v curl >/dev/null 2>&1; then
    if [ -t 2 ]; then  # interactive: curl draws its progress bar and says why it failed
      curl -fL --retry 3 --progress-bar -o "$out" "$url" && return 0
      err="curl failed (its message is above)"
    else
      err=$(curl -fsSL --retry 3 -o "$out" "$url" 2>&1) && return 0
    fi
  elif command -v wget >/dev/null 2>&1; then
    case "$url" in
      file://*) echo "wget cannot read file:// URLs (install curl)"; return 1 ;;
    esac
    err=$(wget -q -O "$out" "$url" 2>&1) && return 0
    [ -n "$err" ] || err="wget failed"
  else
    echo "neither curl nor wget is installed"
    return 1
  fi
  echo "${err##*$'\n'}"  # the last line: curl's "curl: (22) ... 404" or wget's reason
  return 1
}

tmp=""
cleanup() { if [ -n "$tmp" ]; then rm -f -- "$tmp"; fi; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Makes `dir/file` present and valid; prints its path on stdout.
fetch_file() {
  local dir="$1" file="$2" dest="$1/$2" why reason
  if [ -f "$dest" ]; then
    why=$(check_file "$dest" "$file")
    if [ -z "$why" ]; then
      echo "$prog: $file: present and valid" >&2
      echo "$dest"
      return 0
    fi
    echo "$prog: warning: '$dest' is invalid ($why); downloading it again" >&2
  fi
  tmp=$(mktemp "$dir/.$file.part-XXXXXX") || die "cannot write '$dir': mktemp failed"
  echo "$prog: $file: downloading $base_url/$file" >&2
  if ! reason=$(download "$base_url/$file" "$tmp"); then
    die "download failed '$base_url/$file': ${reason:-unknown error}"
  fi
  why=$(check_file "$tmp" "$file")
  [ -z "$why" ] || die "refusing '$base_url/$file': $why (corrupt download or wrong file)"
  chmod "$(printf '%o' $((0666 & ~0$(umask))))" "$tmp"  # mktemp made it 0600
  mv -f -- "$tmp" "$dest" || die "cannot write '$dest': mv failed"
  tmp=""
  echo "$prog: $file: ok" >&2
  echo "$dest"
}

names=()
for arg in "$@"; do
  case "$arg" in
    --list)
      for n in $official_names; do echo "$n $(model_files "$n")"; done
      exit 0
      ;;
    -h | --help)
      sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
      exit 0
      ;;
    -*) usage_error "unknown option '$arg'" ;;
    *) names+=("$arg") ;;
  esac
done
[ "${#names[@]}" -gt 0 ] || names=(htdemucs)

files=()
for n in "${names[@]}"; do
  if f=$(model_files "$n"); then
    for x in $f; do files+=("$x"); done
  elif is_checkpoint_name "$n"; then
    files+=("$n")
  else
    usage_error "unknown model '$n': official models are ${official_names// /, } (or give a SIG-XXXXXXXX.th file name)"
  fi
done

if [ -n "${RZ_MODEL_DIR:-}" ]; then
  dir="$RZ_MODEL_DIR"
elif [ -n "${XDG_DATA_HOME:-}" ] && [ "${XDG_DATA_HOME:0:1}" = / ]; then
  dir="$XDG_DATA_HOME/rz/models"  # a relative XDG_DATA_HOME is ignored, as the XDG spec asks
else
  [ -n "${HOME:-}" ] || die "no model directory 'HOME': set RZ_MODEL_DIR or HOME"
  dir="$HOME/.local/share/rz/models"
fi
mkdir -p -- "$dir" 2>/dev/null || die "cannot create '$dir': mkdir failed"
[ -w "$dir" ] || die "cannot write '$dir': permission denied"

for f in "${files[@]}"; do fetch_file "$dir" "$f"; done
