#!/usr/bin/env bash
# Downloads separation model weights into the rz model directory, verified: the official HTDemucs
# (Demucs v4) checkpoints, and public RoFormer models of the Music-Source-Separation-Training
# (MSST) family, each a checkpoint and its YAML config.
#
# Usage: rz-fetch-models [--list | --urls] [NAME...]        (no NAME: htdemucs)
#   (installed beside the tools as rz-fetch-models; scripts/fetch-models.sh in the source tree)
#   NAME   htdemucs | htdemucs_6s | htdemucs_ft, or a checkpoint file name SIG-XXXXXXXX.th that
#          the same server holds (e.g. 955717e8-8726e21a.th); or a RoFormer model, saved as
#          NAME.ckpt + NAME.yaml (what `rz-separate --model NAME` reads) + NAME.manifest.json:
#            crowd       Mel-Band RoFormer crowd remover, by aufr33 and viperx (mel_band_roformer)
#            denoise     Mel-Band RoFormer denoise, by aufr33, SDR 27.9959 (mel_band_roformer)
#            dereverb    Mel-Band RoFormer de-reverb, by anvuew, SDR 19.1729 (mel_band_roformer)
#            vocals-bs   BS-RoFormer vocals, by viperx, ep_317_sdr_12.9755 (bs_roformer)
#            vocals-mel  Mel-Band RoFormer vocals, by KimberleyJensen (mel_band_roformer)
#   --list print each official name and its files, one per line, and exit
#   --urls print each file of the NAMEs (no NAME: of every official name) and the URL it would be
#          downloaded from, one per line, and exit; downloads nothing
#
# Directory: $RZ_MODEL_DIR, else $XDG_DATA_HOME/rz/models, else ~/.local/share/rz/models (what
# rz-separate reads). Server: $RZ_MODEL_URL, default
# https://dl.fbaipublicfiles.com/demucs/hybrid_transformer (file:// works through curl, for tests).
# Each RoFormer file comes from its own official URL (the table roformer_entry below), or, when
# RZ_MODEL_URL is set, from $RZ_MODEL_URL/<the file name that URL ends with> (a mirror).
#
# Verification. Each file is downloaded into a hidden temporary file beside its destination and
# moved into place only after it checks out, so an interrupted or failed run leaves no partial
# file. Demucs files, two checks:
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
# RoFormer files: neither MSST (docs/pretrained_models.md) nor python-audio-separator (its model
# lists; its model-data.json keys only VR and MDX models, by the MD5 of a file's last 10 MB)
# publishes a checksum of any of them, so a first download cannot be checked against one: the
# script says so on stderr and records the SHA-256 of what it downloaded in NAME.manifest.json,
# with the model's MSST model_type (bs_roformer or mel_band_roformer: MSST takes it as
# --model_type, its YAML configs do not say it) and each file's official URL. A checkpoint must
# also look like one (a PyTorch zip or pickle) and a config must not be an HTML page. Later runs
# check the files against the recorded SHA-256; a file that has no record or does not match is
# downloaded again, and a download that differs from the record (the file on the server changed)
# is reported on stderr and recorded. published_sha256 below takes published checksums, if any
# appear: a file then has to match one.
# A file already present and valid is skipped, so running it again is cheap and safe.
#
# Output: the path of each requested file on stdout, one per line; progress and errors on stderr
# ("fetch-models.sh: error: <what> '<subject>': <reason>", one line). Exit status: 0 all files
# present and valid, 1 a download or check failed, 2 bad usage.
set -euo pipefail

prog=${0##*/}
mirror="${RZ_MODEL_URL:-}"
mirror="${mirror%/}"
base_url="${mirror:-https://dl.fbaipublicfiles.com/demucs/hybrid_transformer}"

die() { echo "$prog: error: $*" >&2; exit 1; }
usage_error() { echo "$prog: error: $*" >&2; echo "usage: $prog [--list | --urls] [NAME...]" >&2; exit 2; }

# name -> files, in bag order (demucs/remote/<name>.yaml)
model_files() {
  case "$1" in
    htdemucs) echo "955717e8-8726e21a.th" ;;
    htdemucs_6s) echo "5c90dfd2-34c22ccb.th" ;;
    htdemucs_ft) echo "f7e0c4bc-ba3fe64a.th d12395a8-e57c48e6.th 92cfc3b6-ef3bcb9c.th 04573f0d-f3cf25b2.th" ;;
    *) return 1 ;;
  esac
}
demucs_names="htdemucs htdemucs_6s htdemucs_ft"

# RoFormer name -> "MODEL_TYPE CHECKPOINT_URL CONFIG_URL"; MODEL_TYPE is MSST's --model_type.
# Every URL is copied verbatim from the row named beside it in "MSST docs":
# github.com/ZFTurbo/Music-Source-Separation-Training, docs/pretrained_models.md
# @ ccc011abf7f89dd7922bb2888d48493b575c0289. "PAS" is github.com/nomadkaraoke/python-audio-separator
# @ 0a644dbb07d94a7e747d5265e3abbaf600459449, which lists the same models by file name only (it
# builds the URLs in audio_separator/separator/separator.py, from TRvlvr/model_repo or its own
# model-configs release).
roformer_entry() {
  case "$1" in
    # MSST docs, "Single stem models", "MelBand Roformer (aufr33 and viperx edition)", crowd.
    # PAS audio_separator/models.json: "Roformer Model: Mel-Roformer-Crowd-Aufr33-Viperx", same .ckpt.
    crowd) echo mel_band_roformer \
      https://github.com/ZFTurbo/Music-Source-Separation-Training/releases/download/v.1.0.4/mel_band_roformer_crowd_aufr33_viperx_sdr_8.7144.ckpt \
      https://github.com/ZFTurbo/Music-Source-Separation-Training/releases/download/v.1.0.4/model_mel_band_roformer_crowd.yaml ;;
    # MSST docs, "Single stem models", "MelBand Roformer Denoise (by aufr33)" (not "... Denoise
    # Aggressive"). PAS audio_separator/models.json: "Roformer Model: Mel-Roformer-Denoise-Aufr33",
    # same .ckpt.
    denoise) echo mel_band_roformer \
      https://github.com/ZFTurbo/Music-Source-Separation-Training/releases/download/v.1.0.7/denoise_mel_band_roformer_aufr33_sdr_27.9959.ckpt \
      https://github.com/ZFTurbo/Music-Source-Separation-Training/releases/download/v.1.0.7/model_mel_band_roformer_denoise.yaml ;;
    # MSST docs, "Single stem models", "MelBand Roformer (anvuew edition)", dereverb. PAS
    # audio_separator/models.json: "Roformer Model: MelBand Roformer | De-Reverb by anvuew", same
    # .ckpt and .yaml file names.
    dereverb) echo mel_band_roformer \
      https://huggingface.co/anvuew/dereverb_mel_band_roformer/resolve/main/dereverb_mel_band_roformer_anvuew_sdr_19.1729.ckpt \
      https://huggingface.co/anvuew/dereverb_mel_band_roformer/resolve/main/dereverb_mel_band_roformer_anvuew.yaml ;;
    # MSST docs, "Vocal models", "BS Roformer (viperx edition)", vocals / other. PAS: in
    # audio_separator/models-scores.json as "Roformer Model: BS-Roformer-Viperx-1297" (its list
    # comes from UVR's download_checks.json; separator.py downloads it from the same
    # TRvlvr/model_repo all_public_uvr_models release).
    vocals-bs) echo bs_roformer \
      https://github.com/TRvlvr/model_repo/releases/download/all_public_uvr_models/model_bs_roformer_ep_317_sdr_12.9755.ckpt \
      https://raw.githubusercontent.com/ZFTurbo/Music-Source-Separation-Training/main/configs/viperx/model_bs_roformer_ep_317_sdr_12.9755.yaml ;;
    # MSST docs, "Vocal models", "MelBand Roformer (KimberleyJensen edition)", vocals / other. PAS
    # audio_separator/models.json: "Roformer Model: MelBand Roformer | Vocals by Kimberley Jensen",
    # under other file names (vocals_mel_band_roformer.ckpt / .yaml).
    vocals-mel) echo mel_band_roformer \
      https://huggingface.co/KimberleyJSN/melbandroformer/resolve/main/MelBandRoformer.ckpt \
      https://raw.githubusercontent.com/ZFTurbo/Music-Source-Separation-Training/main/configs/KimberleyJensen/config_vocals_mel_band_roformer_kj.yaml ;;
    *) return 1 ;;
  esac
}
roformer_names="crowd denoise dereverb vocals-bs vocals-mel"
official_names="$demucs_names $roformer_names"

# demucs file -> full SHA-256 (sources in the header), empty when unknown
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

# RoFormer file (NAME.ckpt, NAME.yaml) -> its published SHA-256, with the source beside it; empty
# when none is published, which is so for every RoFormer file today (see the header)
published_sha256() {
  case "$1" in
    *) echo "" ;;
  esac
}

is_checkpoint_name() { [[ "$1" =~ ^[A-Za-z0-9_.]+-[0-9a-f]{8}\.th$ ]]; }

# Where a RoFormer file with official URL `url` is downloaded from.
roformer_url() { if [ -n "$mirror" ]; then echo "$mirror/${1##*/}"; else echo "$1"; fi; }

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

# Prints why `path` is not what a RoFormer `file` (.ckpt: a PyTorch checkpoint, a zip or a pickle;
# .yaml: a config, not an HTML page) can be, or nothing when it can be.
check_kind() {
  local path="$1" file="$2" magic
  if [ ! -s "$path" ]; then
    echo "it is empty"
    return 0
  fi
  magic=$(head -c 4 -- "$path" | od -An -tx1 | tr -d ' \n')
  case "$file" in
    *.ckpt)
      case "$magic" in
        504b0304 | 80*) ;;
        *) echo "it is not a PyTorch checkpoint (it starts with the bytes $magic)" ;;
      esac
      ;;
    *.yaml)
      case "$magic" in
        3c*) echo "it is not a YAML config (it starts with '<': an HTML or XML page)" ;;
      esac
      ;;
  esac
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

# Moves the finished temporary file $tmp to `dest`, with the mode a new file gets.
move_into_place() {
  local dest="$1"
  chmod "$(printf '%o' $((0666 & ~0$(umask))))" "$tmp"  # mktemp made it 0600
  mv -f -- "$tmp" "$dest" || die "cannot write '$dest': mv failed"
  tmp=""
}

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
  move_into_place "$dest"
  echo "$prog: $file: ok" >&2
  echo "$dest"
}

# The SHA-256 that the RoFormer manifest `manifest` records for `file`, or nothing.
recorded_sha256() {
  local manifest="$1" file="$2" line
  [ -f "$manifest" ] || return 0
  line=$(grep -F -- "\"file\": \"$file\"" "$manifest" 2>/dev/null | head -n 1) || true
  if [[ "$line" =~ \"sha256\":\ \"([0-9a-f]{64})\" ]]; then echo "${BASH_REMATCH[1]}"; fi
}

# One line of a manifest's "files": `file`, its official URL and SHA-256 (empty: unknown).
manifest_line() {
  local file="$1" url="$2" sha="$3" sep="$4" source
  if [ -z "$sha" ]; then
    sha=null source=null
  elif [ -n "$(published_sha256 "$file")" ]; then
    sha="\"$sha\"" source='"published"'
  else
    sha="\"$sha\"" source='"recorded at download: no published checksum exists"'
  fi
  printf '    {"file": "%s", "url": "%s", "sha256": %s, "sha256_source": %s}%s\n' \
    "$file" "$url" "$sha" "$source" "$sep"
}

# Writes dir/NAME.manifest.json: the model's MSST model_type, and its two files with their
# official URLs and SHA-256 (the one published, else the one recorded at download).
write_manifest() {
  local dir="$1" name="$2" model_type="$3" ckpt_url="$4" ckpt_sha="$5" yaml_url="$6" yaml_sha="$7"
  local dest="$1/$2.manifest.json"
  tmp=$(mktemp "$dir/.$name.manifest.json.part-XXXXXX") || die "cannot write '$dir': mktemp failed"
  {
    printf '{\n  "name": "%s",\n  "model_type": "%s",\n' "$name" "$model_type"
    printf '  "listed_in": "github.com/ZFTurbo/Music-Source-Separation-Training docs/pretrained_models.md",\n'
    printf '  "files": [\n'
    manifest_line "$name.ckpt" "$ckpt_url" "$ckpt_sha" ","
    manifest_line "$name.yaml" "$yaml_url" "$yaml_sha" ""
    printf '  ]\n}\n'
  } >"$tmp" || die "cannot write '$tmp': write failed"
  move_into_place "$dest"
}

# Makes the RoFormer file `dir/file` present and valid: it matches its published SHA-256, else
# the SHA-256 `recorded` in `manifest` (none: it is downloaded again). Prints its path on stdout
# and leaves its SHA-256 in got_sha.
got_sha=""
fetch_roformer_file() {
  local dir="$1" file="$2" url="$3" recorded="$4" manifest="$5" dest="$1/$2"
  local published expected actual why reason
  published=$(published_sha256 "$file")
  expected="${published:-$recorded}"
  url=$(roformer_url "$url")
  if [ -f "$dest" ]; then
    if ! actual=$(sha256_of "$dest") || [ ${#actual} -ne 64 ]; then
      why="is invalid (it cannot be read)"
    elif [ -z "$expected" ]; then
      why="cannot be verified (no SHA-256 is recorded for it in '$manifest')"
    elif [ "$actual" != "$expected" ]; then
      why="is invalid (SHA-256 is $actual, expected $expected)"
    else
      echo "$prog: $file: present and valid" >&2
      echo "$dest"
      got_sha="$actual"
      return 0
    fi
    echo "$prog: warning: '$dest' $why; downloading it again" >&2
  fi
  tmp=$(mktemp "$dir/.$file.part-XXXXXX") || die "cannot write '$dir': mktemp failed"
  echo "$prog: $file: downloading $url" >&2
  if ! reason=$(download "$url" "$tmp"); then
    die "download failed '$url': ${reason:-unknown error}"
  fi
  why=$(check_kind "$tmp" "$file")
  [ -z "$why" ] || die "refusing '$url': $why (wrong file)"
  if ! actual=$(sha256_of "$tmp") || [ ${#actual} -ne 64 ]; then
    die "cannot verify '$url': the download cannot be read"
  fi
  if [ -n "$published" ]; then
    [ "$actual" = "$published" ] ||
      die "refusing '$url': SHA-256 is $actual, expected $published (corrupt download or wrong file)"
  elif [ -z "$recorded" ]; then
    echo "$prog: $file: no published checksum exists; recording its SHA-256 $actual in '$manifest'" >&2
  elif [ "$actual" = "$recorded" ]; then
    echo "$prog: $file: no published checksum exists; matches the SHA-256 recorded in '$manifest'" >&2
  else
    echo "$prog: warning: $file: no published checksum exists, and its SHA-256 $actual differs" \
      "from the one recorded in '$manifest' at an earlier download ($recorded): the file at" \
      "'$url' has changed; recording the new one" >&2
  fi
  move_into_place "$dest"
  echo "$prog: $file: ok" >&2
  echo "$dest"
  got_sha="$actual"
}

# Makes the RoFormer model `name` present and valid in `dir`: NAME.ckpt, NAME.yaml and
# NAME.manifest.json (rewritten whenever a SHA-256 it records changes).
fetch_roformer() {
  local dir="$1" name="$2" model_type ckpt_url yaml_url manifest ckpt_sha yaml_sha
  read -r model_type ckpt_url yaml_url <<<"$(roformer_entry "$name")"
  manifest="$dir/$name.manifest.json"
  ckpt_sha=$(recorded_sha256 "$manifest" "$name.ckpt")
  yaml_sha=$(recorded_sha256 "$manifest" "$name.yaml")
  fetch_roformer_file "$dir" "$name.ckpt" "$ckpt_url" "$ckpt_sha" "$manifest"
  if [ "$got_sha" != "$ckpt_sha" ]; then
    ckpt_sha="$got_sha"
    write_manifest "$dir" "$name" "$model_type" "$ckpt_url" "$ckpt_sha" "$yaml_url" "$yaml_sha"
  fi
  fetch_roformer_file "$dir" "$name.yaml" "$yaml_url" "$yaml_sha" "$manifest"
  if [ "$got_sha" != "$yaml_sha" ]; then
    yaml_sha="$got_sha"
    write_manifest "$dir" "$name" "$model_type" "$ckpt_url" "$ckpt_sha" "$yaml_url" "$yaml_sha"
  fi
}

names=()
urls=false
for arg in "$@"; do
  case "$arg" in
    --list)
      for n in $demucs_names; do echo "$n $(model_files "$n")"; done
      for n in $roformer_names; do echo "$n $n.ckpt $n.yaml"; done
      exit 0
      ;;
    --urls) urls=true ;;
    -h | --help)
      sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
      exit 0
      ;;
    -*) usage_error "unknown option '$arg'" ;;
    *) names+=("$arg") ;;
  esac
done
if [ "${#names[@]}" -eq 0 ]; then
  if $urls; then read -r -a names <<<"$official_names"; else names=(htdemucs); fi
fi

jobs=()  # "demucs FILE" or "roformer NAME", in the order asked
for n in "${names[@]}"; do
  if f=$(model_files "$n"); then
    for x in $f; do jobs+=("demucs $x"); done
  elif roformer_entry "$n" >/dev/null; then
    jobs+=("roformer $n")
  elif is_checkpoint_name "$n"; then
    jobs+=("demucs $n")
  else
    usage_error "unknown model '$n': official models are ${official_names// /, } (or give a SIG-XXXXXXXX.th file name)"
  fi
done

if $urls; then
  for j in "${jobs[@]}"; do
    case "$j" in
      demucs\ *) echo "${j#demucs } $base_url/${j#demucs }" ;;
      roformer\ *)
        n="${j#roformer }"
        read -r _ ckpt_url yaml_url <<<"$(roformer_entry "$n")"
        echo "$n.ckpt $(roformer_url "$ckpt_url")"
        echo "$n.yaml $(roformer_url "$yaml_url")"
        ;;
    esac
  done
  exit 0
fi

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

for j in "${jobs[@]}"; do
  case "$j" in
    demucs\ *) fetch_file "$dir" "${j#demucs }" ;;
    roformer\ *) fetch_roformer "$dir" "${j#roformer }" ;;
  esac
done
