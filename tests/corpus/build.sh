#!/usr/bin/env bash
# tests/corpus/build.sh: build the clean test corpus (rendered pieces with ground-truth stems,
# excerpts of the shared recordings, mono and lossy variants) and its index corpus.tsv.
#
# Usage: tests/corpus/build.sh [-f] OUTDIR
#
#   -f       redo every step (default: skip any output that already exists)
#   OUTDIR   where the corpus goes (created); its absolute path is printed on stdout at the end
#
# Environment: BUILD_DIR (default <top>/build; needs bin/rz-make-midi and bin/rz-phone-sim),
# RZ_SHARED_DIR (default <top>/../shared), RZ_SF2 (default the FluidR3_GM SoundFont of Debian's
# fluid-soundfont-gm). Needs fluidsynth and ffmpeg (with libopus and libmp3lame).
#
# What it makes (tests/corpus/README.md has the why):
#   midi/                 rz-make-midi's files and its list of pieces (pieces.tsv)
#   pieces/<piece>.wav    each piece rendered dry (fluidsynth reverb and chorus off), 12.0 s,
#                         44.1 kHz stereo float, peak at kTargetPeakDb
#   stems/<piece>/*.wav   ground-truth stems of every piece with more than one track, scaled by the
#                         same factor as the mix; the mix IS the sum of its stems (see below)
#   pieces/<piece>-ambience.wav   three pieces rendered with fluidsynth's reverb on
#   real/                 excerpts of ../shared/audio cut by rz-phone-sim (no effects)
#   variants/             mono downmixes and Opus / MP3 round trips of validation pieces
#   corpus.tsv            the index: name, split, file, stems_dir, kind, has_bass, has_highs,
#                         source, licence, description
#   stems-residual.tsv    per multi-track piece: mix peak, mix - sum(stems), and how far
#                         fluidsynth's own rendering of the whole file is from the sum of its stems
#
# Why the mix is summed from the stems: fluidsynth 2.3 renders the stems of a file almost but not
# exactly additively even with reverb and chorus off (isolated single-sample differences, about
# 60 dB below the mix in RMS; stems-residual.tsv records it per piece). To keep the identity
# mix == sum(stems) to float rounding, the corpus mix of a multi-track piece is the sum of its
# rendered stems, and fluidsynth's one-pass rendering serves as the check.
#
# Progress goes to stderr. A step writes to a temporary file and renames it, so an interrupted run
# leaves no half-written output and the next run picks up where it stopped.
set -euo pipefail

kFrames=529200          # 12.0 s at 44.1 kHz
kRate=44100
kRenderGain=0.5         # fluidsynth -g; the level is then set by kTargetPeakDb
kTargetPeakDb=-2.0      # sample peak of every rendered mix (stems get the same factor)
# mix - sum(stems) must stay below this: float32 rounding of a sum of a few signals at -2 dBFS is
# about -140 dBFS; -100 leaves room and still catches any real mismatch (a missing or shifted stem).
kMaxStemResidualDb=-100

# The split, in one place. The shared recordings are all `tune` (the stages were tuned on them
# earlier). Of the rendered pieces, these 17 of 42 (40 %) are `tune` too, chosen by hand so that
# both parts hold no-bass solos, bass instruments, electronic sub-bass, percussion, voice,
# ensembles and a reverberant rendering; all other rendered pieces and every mono or lossy variant
# are `validate`.
TUNE_PIECES=(
  violin trumpet oboe glockenspiel accordion-waltz    # solos without bass
  cello electric-bass church-organ timpani            # low end
  synth-bass-groove                                   # electronic sub-bass
  drum-kit                                            # percussion
  choir-aahs                                          # voice-like
  string-quartet rock-band                            # ensembles
  clavinet-funk harp                                  # other timbres
  string-quartet-ambience                             # a record's own ambience
)
AMBIENCE=(string-quartet orchestra-tutti choir-aahs)  # also rendered with reverb on (-R 1)
MONO=(piano jazz-trio voice-oohs flute)                # 1-channel downmix (L+R)/2
OPUS=(orchestra-tutti electro-pulse)                   # Opus 64 kbit/s round trip
MP3=(brass-section hand-percussion)                    # MP3 128 kbit/s (LAME) round trip

# Labels per rendered piece: kind, has_bass (real content below 100 Hz), has_highs (real content
# above 8 kHz). They are decided from the composition (the notes' range and the GM patch), not
# measured by the stages, so that they can check the stages' own measurements.
declare -A LABEL=(
  [violin]="solo no yes" [flute]="solo no yes" [piccolo]="solo no yes"
  [accordion-waltz]="solo no yes" [harpsichord]="solo no yes" [trumpet]="solo no yes"
  [oboe]="solo no no" [clarinet]="solo no no" [glockenspiel]="solo no yes"
  [soprano-sax]="solo no no" [muted-trumpet]="solo no yes" [pan-flute]="solo no no"
  [ocarina]="solo no no"
  [cello]="solo yes yes" [contrabass-pizz]="solo yes no" [electric-bass]="solo yes no"
  [fretless-bass]="solo yes no" [tuba]="solo yes no" [timpani]="percussion yes no"
  [church-organ]="solo yes yes" [piano]="solo yes yes"
  [synth-bass-groove]="electronic yes yes" [electro-pulse]="electronic yes yes"
  [drum-kit]="percussion yes yes" [hand-percussion]="percussion no yes"
  [timpani-roll]="percussion yes no"
  [choir-aahs]="voice no no" [voice-oohs]="voice no no"
  [string-quartet]="ensemble yes yes" [brass-section]="ensemble yes yes"
  [jazz-trio]="ensemble yes yes" [rock-band]="ensemble yes yes"
  [orchestra-tutti]="ensemble yes yes" [folk]="ensemble no yes"
  [clavinet-funk]="solo no yes" [lead-guitar]="solo no yes" [steel-guitar]="solo yes yes"
  [marimba]="solo no no" [harp]="solo yes no"
)

kRenderedSource="rendered with fluidsynth 2.3 + FluidR3_GM (MIT licence)"
kRenderedLicence="composition: rz project; SoundFont FluidR3_GM: MIT (Frank Wen, 'I hereby \
release Fluid under the MIT license', /usr/share/doc/fluid-soundfont-gm/copyright)"

usage() { echo "usage: $0 [-f] OUTDIR" >&2; exit 2; }
force=0
while getopts "fh" opt; do
  case $opt in
    f) force=1 ;;
    *) usage ;;
  esac
done
shift $((OPTIND - 1))
[[ $# -eq 1 ]] || usage

top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${BUILD_DIR:-$top/build}/bin
shared=${RZ_SHARED_DIR:-$top/../shared}
sf2=${RZ_SF2:-/usr/share/sounds/sf2/FluidR3_GM.sf2}
out=$(mkdir -p "$1" && cd "$1" && pwd)
audio=$shared/audio

log() { echo "corpus: $*" >&2; }
die() { echo "corpus: error: $*" >&2; exit 1; }
for tool in fluidsynth ffmpeg; do command -v $tool >/dev/null || die "$tool not found"; done
for tool in rz-make-midi rz-phone-sim; do [[ -x $bin/$tool ]] || die "'$bin/$tool' not built"; done
[[ -f $sf2 ]] || die "SoundFont '$sf2' not found"
[[ -d $audio ]] || die "shared audio '$audio' not found (set RZ_SHARED_DIR)"

start_s=$SECONDS
cd "$out"
mkdir -p midi raw pieces stems real variants

# need FILE...: true when one of the outputs is missing (or -f).
need() {
  ((force)) && return 0
  local f
  for f in "$@"; do [[ -s $f ]] || return 0; done
  return 1
}
ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }
# render MID WAV [REVERB]: fluidsynth, float output, chorus off, reverb off unless REVERB=1.
# With reverb: a larger room than fluidsynth's default (0.2, which leaves the string quartet at
# 16 dB SI-SDR against its dry rendering) and full width; 0.6 gives about 11 dB, an audible room
# that does not swamp the music.
kReverb=(-o synth.reverb.room-size=0.6 -o synth.reverb.width=1.0)
render() {
  local reverb=()
  [[ ${3:-0} == 1 ]] && reverb=("${kReverb[@]}")
  fluidsynth -ni -q -g "$kRenderGain" -R "${3:-0}" -C 0 -r "$kRate" -O float -T wav \
    "${reverb[@]}" -F "$2.tmp.wav" "$sf2" "$1" </dev/null >/dev/null
  mv "$2.tmp.wav" "$2"
}
# astat STAT FILTER INPUT...: one overall astats value (e.g. "Peak level dB") of the filter's
# output; FILTER is a filter_complex ending in an unlabelled output.
astat() {
  local stat=$1 filter=$2 args=()
  shift 2
  local f
  for f in "$@"; do args+=(-i "$f"); done
  # In double precision throughout: the null muxer's default codec (s16) would otherwise make the
  # graph quantise (and clip) before astats.
  local stats="aformat=sample_fmts=dbl,astats=measure_perchannel=none"
  ffmpeg -nostdin -hide_banner -loglevel info "${args[@]}" -filter_complex \
    "$filter,$stats:measure_overall=Peak_level+RMS_level" -c:a pcm_f64le -f null - 2>&1 |
    sed -n "s/.*\] $stat: //p" | tail -n 1 | grep . || die "no '$stat' from ffmpeg for $*"
}
# sum_filter N: a filter summing N inputs (float, no normalisation), trimmed to 12 s.
sum_filter() {
  local n=$1 i labels=""
  for ((i = 0; i < n; ++i)); do labels+="[$i:a]"; done
  if ((n == 1)); then echo "[0:a]atrim=end_sample=$kFrames"
  else echo "${labels}amix=inputs=$n:normalize=0:duration=longest,atrim=end_sample=$kFrames"; fi
}
# write WAV FILTER INPUT...: float WAV, exactly 12 s (shorter inputs are padded with silence).
write() {
  local dst=$1 filter=$2 args=()
  shift 2
  local f
  for f in "$@"; do args+=(-i "$f"); done
  ff "${args[@]}" -filter_complex "$filter,apad=whole_len=$kFrames,atrim=end_sample=$kFrames" \
    -t 12 -c:a pcm_f32le -bitexact "$dst.tmp.wav"
  mv "$dst.tmp.wav" "$dst"
}
# gain_for_peak PEAK_DB: the linear gain that moves that peak to kTargetPeakDb.
gain_for_peak() {
  awk -v p="$1" -v t="$kTargetPeakDb" 'BEGIN { printf "%.9f", 10 ^ ((t - p) / 20) }'
}

in_list() {
  local x=$1
  shift
  local y
  for y in "$@"; do [[ $x == "$y" ]] && return 0; done
  return 1
}
split_of() { if in_list "$1" "${TUNE_PIECES[@]}"; then echo tune; else echo validate; fi; }

# ---- 1. compose ------------------------------------------------------------------------------
if need midi/pieces.tsv; then
  log "composing MIDI files"
  "$bin/rz-make-midi" -o midi >midi/pieces.tsv.tmp
  mv midi/pieces.tsv.tmp midi/pieces.tsv
fi

rows=()       # corpus.tsv rows
residuals=()  # stems-residual.tsv rows
row() {       # name split file stems_dir kind has_bass has_highs source licence description
  local IFS=$'\t'
  rows+=("$*")
}

# ---- 2. render the pieces and their stems --------------------------------------------------
declare -A DESC
while IFS=$'\t' read -r piece stem_list desc; do
  DESC[$piece]=$desc
  IFS=, read -ra stem_names <<<"$stem_list"
  mix=pieces/$piece.wav
  stem_files=()
  sdir=-
  if ((${#stem_names[@]} > 1)); then
    sdir=stems/$piece
    for s in "${stem_names[@]}"; do stem_files+=("$sdir/$s.wav"); done
  fi
  if need "$mix" "${stem_files[@]}"; then
    log "rendering $piece (${#stem_names[@]} track(s))"
    raws=()
    if ((${#stem_names[@]} > 1)); then
      for s in "${stem_names[@]}"; do
        render "midi/$piece.$s.mid" "raw/$piece.$s.wav"
        raws+=("raw/$piece.$s.wav")
      done
      render "midi/$piece.mid" "raw/$piece.wav"  # the one-pass rendering, for the check only
    else
      render "midi/$piece.mid" "raw/$piece.wav"
      raws=("raw/$piece.wav")
    fi
    peak=$(astat "Peak level dB" "$(sum_filter ${#raws[@]})" "${raws[@]}")
    gain=$(gain_for_peak "$peak")
    write "$mix" "$(sum_filter ${#raws[@]}),volume=$gain:precision=float" "${raws[@]}"
    if [[ $sdir != - ]]; then
      mkdir -p "$sdir"
      for i in "${!stem_names[@]}"; do
        write "${stem_files[$i]}" "[0:a]atrim=end_sample=$kFrames,volume=$gain:precision=float" \
          "${raws[$i]}"
      done
      # mix - sum(stems), and fluidsynth's one-pass rendering (same gain) - mix.
      n=${#stem_files[@]}
      labels=""
      for ((i = 1; i <= n; ++i)); do labels+="[$i:a]"; done
      diff="pan=stereo|c0=c0-c2|c1=c1-c3"
      res=$(astat "Peak level dB" \
        "${labels}amix=inputs=$n:normalize=0[s];[0:a][s]amerge=inputs=2,$diff" \
        "$mix" "${stem_files[@]}")
      onepass="[1:a]atrim=end_sample=$kFrames,volume=$gain:precision=float[o];[o][0:a]amerge"
      one=$(astat "Peak level dB" "$onepass=inputs=2,$diff" "$mix" "raw/$piece.wav")
      one_rms=$(astat "RMS level dB" "$onepass=inputs=2,$diff" "$mix" "raw/$piece.wav")
      mix_rms=$(astat "RMS level dB" "[0:a]anull" "$mix")
      printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$piece" "$kTargetPeakDb" "$mix_rms" "$res" "$one" \
        "$one_rms" >"raw/$piece.residual"
      awk -v r="$res" -v m="$kMaxStemResidualDb" 'BEGIN { exit !(r < m) }' ||
        die "$piece: mix - sum(stems) peaks at $res dBFS (limit $kMaxStemResidualDb)"
      log "  $piece: mix - sum(stems) peak $res dBFS; fluidsynth one-pass - sum: peak $one," \
        "RMS $one_rms dBFS (mix RMS $mix_rms)"
    fi
    rm -f "${raws[@]}" "raw/$piece.wav"
  fi
  [[ -f raw/$piece.residual ]] && residuals+=("$(cat "raw/$piece.residual")")
  read -r kind bass highs <<<"${LABEL[$piece]:?no labels for piece $piece}"
  row "$piece" "$(split_of "$piece")" "$mix" "$sdir" "$kind" "$bass" "$highs" \
    "rz-make-midi $piece $kRenderedSource" "$kRenderedLicence" "$desc"
done <midi/pieces.tsv

for piece in "${AMBIENCE[@]}"; do
  name=$piece-ambience
  if need "pieces/$name.wav"; then
    log "rendering $name (fluidsynth reverb on)"
    render "midi/$piece.mid" "raw/$name.wav" 1
    peak=$(astat "Peak level dB" "$(sum_filter 1)" "raw/$name.wav")
    write "pieces/$name.wav" "$(sum_filter 1),volume=$(gain_for_peak "$peak"):precision=float" \
      "raw/$name.wav"
    rm -f "raw/$name.wav"
  fi
  read -r kind bass highs <<<"${LABEL[$piece]}"
  row "$name" "$(split_of "$name")" "pieces/$name.wav" - "$kind" "$bass" "$highs" \
    "rz-make-midi $piece $kRenderedSource, fluidsynth reverb on (-R 1)" "$kRenderedLicence" \
    "${DESC[$piece]}; with the synthesiser's reverb as the record's own ambience"
done

# ---- 3. excerpts of the shared recordings (all tune) ---------------------------------------
# cut NAME INPUT START: 12 s (or what there is) from START, through rz-phone-sim with no effect.
cut() {
  local dst=real/$1.wav
  if need "$dst"; then
    log "cutting $1"
    "$bin/rz-phone-sim" "$2" --start "$3" --duration 12 -o "$dst.tmp.wav" >/dev/null
    mv "$dst.tmp.wav" "$dst"
  fi
}
music=$audio/music
karissa="CC BY 3.0, Karissa Hobbs, \"Let's Go Fishin'\" (Free Music Archive)"
lena="CC BY-NC 3.0, Lena Orsa (Freesound 442789)"
musdb="CC BY-NC-SA (MedleyDB/MUSDB18), research and testing use"
cut karissa-hobbs-20s "$music/Karissa_Hobbs_-_Lets_Go_Fishin.hq.ogg" 20
cut karissa-hobbs-80s "$music/Karissa_Hobbs_-_Lets_Go_Fishin.hq.ogg" 80
piano_ogg=$music/442789__lena-orsa__happy-music-pistachio-ice-cream-ragtime.hq.ogg
cut ragtime-piano-5s "$piano_ogg" 5
cut ragtime-piano-40s "$piano_ogg" 40
cut solo-trumpet "$music/sorohanro_-_solo-trumpet-06.hq.ogg" 0
mkdir -p real/musdb-80srock
for s in mixture drums bass other vocals; do
  dst=real/musdb-80srock/$s.wav
  [[ $s == mixture ]] && dst=real/musdb-80srock.wav
  if need "$dst"; then
    log "cutting musdb-80srock $s"
    "$bin/rz-phone-sim" "$audio/stems/musdb7-80srock/$s.wav" --start 0 --duration 12 \
      -o "$dst.tmp.wav" >/dev/null
    mv "$dst.tmp.wav" "$dst"
  fi
done
cut drum-loop "$audio/drums/break12.wav" 0
cut speech "$audio/speech/198-209-0000.hq.ogg" 0
cut demucs-test-mp3 "$audio/codec/demucs-test.mp3" 0

# Labels of the real recordings: by judgement (listening to the material), not measured.
shared_src() { echo "../shared/audio/$1 (excerpt from $2 s, cut by rz-phone-sim)"; }
row karissa-hobbs-20s tune real/karissa-hobbs-20s.wav - mix yes yes \
  "$(shared_src music/Karissa_Hobbs_-_Lets_Go_Fishin.hq.ogg 20)" "$karissa" \
  "song: sung vocals and acoustic guitar (Ogg Vorbis source)"
row karissa-hobbs-80s tune real/karissa-hobbs-80s.wav - mix yes yes \
  "$(shared_src music/Karissa_Hobbs_-_Lets_Go_Fishin.hq.ogg 80)" "$karissa" \
  "song: sung vocals and acoustic guitar, later verse (Ogg Vorbis source)"
row ragtime-piano-5s tune real/ragtime-piano-5s.wav - solo yes yes \
  "$(shared_src "music/${piano_ogg##*/}" 5)" "$lena" "solo ragtime piano (Ogg Vorbis source)"
row ragtime-piano-40s tune real/ragtime-piano-40s.wav - solo yes yes \
  "$(shared_src "music/${piano_ogg##*/}" 40)" "$lena" "solo ragtime piano, second part"
row solo-trumpet tune real/solo-trumpet.wav - solo no yes \
  "$(shared_src music/sorohanro_-_solo-trumpet-06.hq.ogg 0)" \
  "CC BY 3.0, Mihai Sorohan (Freesound 77711)" "solo jazz trumpet, the whole 5.3 s recording"
row musdb-80srock tune real/musdb-80srock.wav real/musdb-80srock mix yes yes \
  "$(shared_src stems/musdb7-80srock/mixture.wav 0)" "$musdb" \
  "real rock mix, 6.8 s, with its 4 ground-truth stems (AAC coding noise between them)"
row musdb-80srock-drums tune real/musdb-80srock/drums.wav - stem yes yes \
  "$(shared_src stems/musdb7-80srock/drums.wav 0)" "$musdb" "MUSDB18 drums stem"
row musdb-80srock-bass tune real/musdb-80srock/bass.wav - stem yes no \
  "$(shared_src stems/musdb7-80srock/bass.wav 0)" "$musdb" "MUSDB18 bass stem"
row musdb-80srock-other tune real/musdb-80srock/other.wav - stem no yes \
  "$(shared_src stems/musdb7-80srock/other.wav 0)" "$musdb" "MUSDB18 other stem (guitars, keys)"
row musdb-80srock-vocals tune real/musdb-80srock/vocals.wav - stem no yes \
  "$(shared_src stems/musdb7-80srock/vocals.wav 0)" "$musdb" "MUSDB18 vocals stem"
row drum-loop tune real/drum-loop.wav - percussion yes yes \
  "$(shared_src drums/break12.wav 0)" "Apache-2.0" "drum loop, 8 s"
row speech tune real/speech.wav - speech no no \
  "$(shared_src speech/198-209-0000.hq.ogg 0)" "CC BY 4.0" \
  "clean read speech (LibriSpeech), 16 kHz mono source: nothing above 8 kHz"
row demucs-test-mp3 tune real/demucs-test-mp3.wav - mix yes yes \
  "$(shared_src codec/demucs-test.mp3 0)" "MIT" "music clip decoded from MP3 (Demucs test file)"

# ---- 4. variants (all validate) ------------------------------------------------------------
for piece in "${MONO[@]}"; do
  name=$piece-mono
  if need "variants/$name.wav"; then
    log "mono downmix of $piece"
    ff -i "pieces/$piece.wav" -af "pan=mono|c0=0.5*c0+0.5*c1" -c:a pcm_f32le -bitexact \
      "variants/$name.wav.tmp.wav"
    mv "variants/$name.wav.tmp.wav" "variants/$name.wav"
  fi
  read -r kind bass highs <<<"${LABEL[$piece]}"
  row "$name" validate "variants/$name.wav" - "$kind" "$bass" "$highs" \
    "rz-make-midi $piece $kRenderedSource, downmixed to 1 channel (L+R)/2" \
    "$kRenderedLicence" "${DESC[$piece]}; mono"
done
# lossy PIECE CODEC EXT BITRATE: encode the piece, decode back to 12 s of 44.1 kHz float.
lossy() {
  local piece=$1 codec=$2 ext=$3 rate=$4 name=$1-$3${4%k}
  if need "variants/$name.wav"; then
    log "$codec $rate round trip of $piece"
    ff -i "pieces/$piece.wav" -c:a "$codec" -b:a "$rate" "raw/$name.$ext"
    write "variants/$name.wav" "[0:a]aresample=$kRate" "raw/$name.$ext"
    rm -f "raw/$name.$ext"
  fi
  read -r kind bass highs <<<"${LABEL[$piece]}"
  row "$name" validate "variants/$name.wav" - "$kind" "$bass" "$highs" \
    "rz-make-midi $piece $kRenderedSource, coded with ffmpeg $codec at $rate bit/s and decoded" \
    "$kRenderedLicence" "${DESC[$piece]}; lossy ($ext ${rate}bit/s)"
}
for piece in "${OPUS[@]}"; do lossy "$piece" libopus opus 64k; done
for piece in "${MP3[@]}"; do lossy "$piece" libmp3lame mp3 128k; done

# ---- 5. the index ---------------------------------------------------------------------------
{
  printf 'name\tsplit\tfile\tstems_dir\tkind\thas_bass\thas_highs\tsource\tlicence\tdescription\n'
  printf '%s\n' "${rows[@]}"
} >corpus.tsv.tmp
mv corpus.tsv.tmp corpus.tsv
{
  printf 'piece\tmix_peak_dbfs\tmix_rms_dbfs\tmix_minus_sum_peak_dbfs\tonepass_minus_mix_peak_dbfs'
  printf '\tonepass_minus_mix_rms_dbfs\n'
  printf '%s\n' "${residuals[@]}"
} >stems-residual.tsv

log "$(($(wc -l <corpus.tsv) - 1)) entries ($(grep -c $'\ttune\t' corpus.tsv) tune," \
  "$(grep -c $'\tvalidate\t' corpus.tsv) validate) in $((SECONDS - start_s)) s"
echo "$out"
