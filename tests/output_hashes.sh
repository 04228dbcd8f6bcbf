#!/usr/bin/env bash
# Fingerprints of every tool's output on the shared recordings, for refactoring that must not change
# behaviour: run it with the binaries before and after a change and compare.
#
#   tests/output_hashes.sh [--bin DIR] [--work DIR]     one "CASE/FILE SHA256" line per output file
#   tests/output_hashes.sh --against OLD_BIN [--bin DIR] runs both builds and diffs their lines;
#                                                         exit 0 when identical, 1 when not
#
# Inputs are made by rz-phone-sim (sim/phone_sim.cpp) from ../shared/audio, so that the repair
# stages have something to repair: a phone capture of a song (room, crowd at 5 dB SNR, 120-8000 Hz
# band, 1 % clipped, AGC), a band-limited piano, a clipped drum loop and a rock mix in a hall; plus
# the recordings as they are (MUSDB mixture, 16 kHz mono speech, an MP3, a trumpet in Ogg).
# Cases: rz-ingest of each; rz-restore, rz-dereverb and rz-enhance (every preset, and a learned noise
# profile) on each ingested input; rz-separate with the shared tiny model, the tiny bag and the
# full-size random htdemucs (../shared/demucs/models), with --two-stems, without the cache; then
# enhance | mix (gains, pans, a mute) | master to FLAC, 16-bit WAV and float WAV, and rz-metrics
# --json of the master against the clean reference.
# Every audio file is hashed as written. A manifest is hashed after removing what the wall clock
# decides (elapsed_s, started, seconds_per_audio_second, load_s); a stdout JSON record likewise.
# The work directory is the same for both builds (paths appear in the manifests), so --against runs
# them one after the other.
#
# Environment: RZ_SHARED_DIR (../shared beside the source tree). Needs jq. Takes about 2 minutes
# per build on 2 cores (the full-size model separates 6.8 s).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
prog=output_hashes.sh
bin=$top/build/bin
against=
work=
shared=${RZ_SHARED_DIR:-$top/../shared}
die() { echo "$prog: error: $*" >&2; exit 1; }
usage() { echo "$prog: error: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) [ $# -ge 2 ] || usage "--bin needs a directory"; bin=$(cd "$2" && pwd); shift 2 ;;
    --against) [ $# -ge 2 ] || usage "--against needs a directory"; against=$(cd "$2" && pwd); shift 2 ;;
    --work) [ $# -ge 2 ] || usage "--work needs a directory"; work=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) usage "unknown argument '$1' (see --help)" ;;
  esac
done
command -v jq >/dev/null || die "missing 'jq': run scripts/install-deps.sh --bench"
[ -d "$shared/audio" ] || die "no recordings '$shared/audio': set RZ_SHARED_DIR"

if [ -n "$against" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  "$0" --bin "$against" --work "$tmp/run" >"$tmp/old.txt"
  "$0" --bin "$bin" --work "$tmp/run" >"$tmp/new.txt"
  n=$(wc -l <"$tmp/new.txt")
  if diff "$tmp/old.txt" "$tmp/new.txt" >&2; then
    echo "$prog: $n outputs identical ($against against $bin)" >&2
    exit 0
  fi
  echo "$prog: outputs differ (lines above: < $against, > $bin)" >&2
  exit 1
fi

for t in rz-phone-sim rz-ingest rz-restore rz-dereverb rz-enhance rz-separate rz-mix rz-master \
  rz-metrics; do
  [ -x "$bin/$t" ] || die "no build '$bin/$t'"
done
if [ -z "$work" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi
rm -rf "$work"
mkdir -p "$work"
cd "$work"
a=$shared/audio
models=$shared/demucs/models
export XDG_CACHE_HOME=$work/cache
q() { "$bin/$1" -q "${@:2}"; }

# The wall clock's fields out, keys sorted: what must stay the same.
normalise() {
  jq -S 'walk(if type == "object" then del(.elapsed_s, .started, .seconds_per_audio_second, .load_s)
              else . end)' "$1"
}
hash_dir() { # CASE DIR: every file of an output directory
  local f
  for f in $(cd "$2" && find . -type f | LC_ALL=C sort); do
    f=${f#./}
    if [ "$f" = manifest.json ]; then
      echo "$1/$f $(normalise "$2/$f" | sha256sum | cut -d' ' -f1)"
    else
      echo "$1/$f $(sha256sum <"$2/$f" | cut -d' ' -f1)"
    fi
  done
}

# --- inputs ---------------------------------------------------------------------------------------
sim() { # NAME SOURCE ARGS...
  q rz-phone-sim "$2" -o "$1.wav" --reference "$1.ref.wav" --seed 1 "${@:3}" >/dev/null
  echo "sim/$1.wav $(sha256sum <"$1.wav" | cut -d' ' -f1)"
}
sim song-phone "$a/music/Karissa_Hobbs_-_Lets_Go_Fishin.hq.ogg" --start 20 --duration 12 \
  --ir "$a/ir/medium-room1.wav" --noise "$a/noise/concert-crowd.ogg" --snr 5 --noise-lead 2 \
  --band 120:8000 --clip-ratio 0.01 --agc
sim piano-band "$a/music/442789__lena-orsa__happy-music-pistachio-ice-cream-ragtime.hq.ogg" \
  --start 10 --duration 10 --band 0:8000
sim drums-clip "$a/drums/break12.wav" --clip -1 --clip-drive 6
sim rock-hall "$a/stems/musdb7-80srock/mixture.wav" --ir "$a/ir/omni-35-10.wav" \
  --noise "$a/noise/concert-crowd.ogg" --snr 10

inputs=(song-phone piano-band drums-clip rock-hall rock speech mp3 trumpet)
declare -A src=(
  [song-phone]=song-phone.wav [piano-band]=piano-band.wav [drums-clip]=drums-clip.wav
  [rock-hall]=rock-hall.wav [rock]=$a/stems/musdb7-80srock/mixture.wav
  [speech]=$a/speech/198-209-0000.hq.ogg [mp3]=$a/codec/demucs-test.mp3
  [trumpet]=$a/music/sorohanro_-_solo-trumpet-06.hq.ogg
)

# --- per-stem stages on every input -----------------------------------------------------------------
for i in "${inputs[@]}"; do
  q rz-ingest "${src[$i]}" -o "$i.ingest" >/dev/null
  hash_dir "$i.ingest" "$i.ingest"
  q rz-restore "$i.ingest" -o "$i.rst" >/dev/null
  hash_dir "$i.rst" "$i.rst"
  q rz-dereverb "$i.ingest" -o "$i.drv" --threads 2 >/dev/null
  hash_dir "$i.drv" "$i.drv"
  for p in conservative balanced aggressive; do
    q rz-enhance "$i.ingest" --preset "$p" -o "$i.enh-$p" >/dev/null
    hash_dir "$i.enh-$p" "$i.enh-$p"
  done
done
q rz-ingest "${src[speech]}" --rate 48000 --resample-quality best -o speech48.ingest >/dev/null
hash_dir speech48.ingest speech48.ingest
q rz-ingest "${src[song-phone]}" --preview 5 -o song-preview.ingest >/dev/null
hash_dir song-preview.ingest song-preview.ingest
q rz-enhance song-phone.ingest --noise-profile auto --only denoise -o song-phone.enh-auto >/dev/null
hash_dir song-phone.enh-auto song-phone.enh-auto
q rz-enhance song-phone.ingest --intensity 0.5 --preset aggressive --no-rollback \
  -o song-phone.enh-half >/dev/null
hash_dir song-phone.enh-half song-phone.enh-half
q rz-restore song-phone.ingest --intensity 0.5 --max-freq 16000 -o song-phone.rst-half >/dev/null
hash_dir song-phone.rst-half song-phone.rst-half
q rz-dereverb rock-hall.ingest --strength 0.7 --wet 0.8 --taps 12 --threads 2 \
  -o rock-hall.drv-mild >/dev/null
hash_dir rock-hall.drv-mild rock-hall.drv-mild

# --- separation -------------------------------------------------------------------------------------
sep() { # CASE INPUT ARGS...
  q rz-separate "$2" --no-cache -o "$1" "${@:3}" >/dev/null
  hash_dir "$1" "$1"
}
sep rock.sep-tiny rock.ingest --model "$models/tiny4000-0421bf8f.th"
sep song-phone.sep-tiny song-phone.rst --model "$models/tiny4000-0421bf8f.th" --shifts 2 --seed 3
sep rock.sep-bag rock.ingest --model "$models/tinybag.yaml"
sep rock.sep-two rock.ingest --model "$models/tiny6000-eb9664a2.th" --two-stems vocals --shifts 0
sep rock.sep-full rock.ingest --model "$models/rand0000-dc06c826.th" --shifts 0

# --- chain to the master ----------------------------------------------------------------------------
q rz-enhance song-phone.sep-tiny -o song-phone.sep-enh >/dev/null
hash_dir song-phone.sep-enh song-phone.sep-enh
q rz-mix song-phone.sep-enh --gain vocals=2 --gain bass=-1.5 --pan other=-0.3 -o song-phone.mix \
  >/dev/null
hash_dir song-phone.mix song-phone.mix
q rz-mix rock.sep-full --mute drums --master-gain -2 -o rock.mix >/dev/null
hash_dir rock.mix rock.mix
master() { # OUT ARGS...
  q rz-master "${@:2}" -o "$1" >/dev/null
  echo "master/$1 $(sha256sum <"$1" | cut -d' ' -f1)"
}
master song.master.flac song-phone.mix
master song.master16.wav song-phone.mix --bits 16 --seed 7 --highpass 30 --tilt 1
master song.masterf.wav song-phone.mix --target -16 --ceiling -2
master rock.vocals.flac rock.sep-full --stem vocals --no-dither --bits 16
q rz-metrics --json --reference song-phone.ref.wav song.master.flac >metrics.json
echo "metrics/song.master.flac $(normalise metrics.json | sha256sum | cut -d' ' -f1)"
q rz-metrics --json song-phone.mix >metrics-mix.json
echo "metrics/song-phone.mix $(normalise metrics-mix.json | sha256sum | cut -d' ' -f1)"
