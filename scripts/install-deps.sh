#!/usr/bin/env bash
# Installs the Debian 12 packages rz needs to build (and, with --test, to run its whole test suite).
set -euo pipefail

packages=(build-essential cmake pkg-config
  libsndfile1-dev libsamplerate0-dev libkissfft-dev libebur128-dev
  libcli11-dev nlohmann-json3-dev catch2)
for arg in "$@"; do
  case "$arg" in
    --test) packages+=(ffmpeg) ;;  # the tests exercise the ffmpeg decoding path (M4A)
    --bench) packages+=(time) ;;   # /usr/bin/time -v for peak memory
    *) echo "install-deps.sh: error: unknown option '$arg'" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "install-deps.sh: installing ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
