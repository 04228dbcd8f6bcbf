#!/usr/bin/env bash
# Quality and speed of rz-restore and rz-dereverb (issue #5), on real recordings with the clean
# original known.
#
#   bench/restore.sh quality     every acceptance case, before and after, as a table and JSON:
#     highs    LSD (rz-metrics' definition) against the original of the song (30 s from 20 s), the
#              MUSDB mix and the piano (30 s from 10 s), low-passed at 8 and 11 kHz (rz-phone-sim
#              --band 0:F --band-lowpass-order 16: zero phase, 96 dB per octave, a lossy coder's
#              steep low-pass), and of the song and MUSDB mix unfiltered
#              (full band: SI-SDR of the output against the input)
#     declip   SDR against the original of the song (15 s), the MUSDB mix, the drum loop and the
#              piano (15 s from 10 s),
#              clipped (no gain) so that 2 % and 5 % of the samples sit at the clip level
#              (rz-phone-sim --clip-ratio); rz-restore --only declip
#     dereverb SI-SDR against the early sound (the dry source through the first 50 ms of the IR
#              from its direct path: rz-phone-sim --reference-early 50) of speech, the drum loop,
#              the song and the piano (8-10 s each) through ../shared/audio/ir/medium-room1 and
#              omni-35-10 (filter-telephone, a band filter with no reverberation, as the control),
#              and the T60 estimates rz-dereverb records; WPE runs with --force-wpe (these rooms
#              have no audience, so rz-dereverb's default decision, also printed, copies them)
#   bench/restore.sh speed [SECONDS]   (default 600)
#     wall time, x real time and peak RSS of rz-restore (every block active: the song looped,
#     band 120 Hz-8 kHz, 1 % clipped) and rz-dereverb on 60 s and SECONDS of one stereo 44.1 kHz
#     stem. Targets: rz-restore >= 20x, rz-dereverb >= 2x real time, memory flat in length.
#
# WORK=/path keeps the files. Needs: a build (scripts/build.sh), /usr/bin/time, ffmpeg and jq
# (scripts/install-deps.sh --bench).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
prog=restore.sh
bin="${BUILD_DIR:-$top/build}/bin"
shared=${RZ_SHARED_DIR:-$top/../shared}
die() { echo "$prog: error: $*" >&2; exit 1; }
usage() { echo "usage: $prog quality | speed [SECONDS]" >&2; exit 2; }
mode=${1:-}
[ "$mode" = quality ] || [ "$mode" = speed ] || usage
for tool in rz-restore rz-dereverb rz-ingest rz-metrics rz-phone-sim; do
  [ -x "$bin/$tool" ] || die "no build '$bin/$tool': run scripts/build.sh"
done
command -v jq >/dev/null || die "missing 'jq': run scripts/install-deps.sh --bench"
a="$shared/audio"
song="$a/music/Karissa_Hobbs_-_Lets_Go_Fishin.hq.ogg"
piano="$a/music/442789__lena-orsa__happy-music-pistachio-ice-cream-ragtime.hq.ogg"
musdb="$a/stems/musdb7-80srock/mixture.wav"
drums="$a/drums/break12.wav"
speech="$a/speech/198-209-0000.hq.ogg"
[ -f "$song" ] || die "no recordings in '$a': set RZ_SHARED_DIR"
work=${WORK:-$(mktemp -d /tmp/rz-bench-restore-XXXXXX)}
mkdir -p "$work"
trap '[ -z "${WORK:-}" ] && rm -rf "$work"' EXIT

# metric DIR REFERENCE KEY: rz-metrics' comparison of stem mix.
metric() { "$bin/rz-metrics" --json "$1" --reference "$2" | jq -r ".stems.mix.reference.$3"; }
r2() { awk -v x="$1" 'BEGIN { printf "%.2f", x }'; }

if [ "$mode" = quality ]; then
  json=()
  printf '%-22s %-9s %9s %9s %9s  %s\n' case metric before after change notes
  # name source start duration band
  while read -r name src start dur band; do
    d="$work/$name"; mkdir -p "$d"
    args=(--start "$start"); [ "$dur" != 0 ] && args+=(--duration "$dur")
    [ "$band" != 0 ] && args+=(--band "0:$band" --band-lowpass-order 16)
    "$bin/rz-phone-sim" -q "$src" "${args[@]}" -o "$d/sim.wav" --reference "$d/ref.wav" -f >/dev/null
    rm -rf "$d/in" "$d/out"
    "$bin/rz-ingest" -q "$d/sim.wav" -o "$d/in" >/dev/null
    "$bin/rz-restore" -q "$d/in" -o "$d/out" >/dev/null
    cut=$(jq -r '.history[-1].stems.mix.measurements | if .band_limited then (.bandwidth_hz|floor|tostring) + " Hz" else "none" end' "$d/out/manifest.json")
    ran=$(jq -r '[.history[-1].stems.mix.decisions[]? | select(.applied) | .block] | join(",")' "$d/out/manifest.json")
    if [ "$band" != 0 ]; then
      b=$(metric "$d/in" "$d/ref.wav" lsd_db); f=$(metric "$d/out" "$d/ref.wav" lsd_db)
      ch=$(awk -v b="$b" -v f="$f" 'BEGIN { printf "%+.1f%%", 100 * (f - b) / b }')
      printf '%-22s %-9s %9s %9s %9s  cutoff %s; ran %s\n' "$name" lsd_db "$(r2 "$b")" "$(r2 "$f")" "$ch" "$cut" "${ran:-nothing}"
    else
      b=300; f=$(metric "$d/out" "$d/in/mix.wav" si_sdr_db); ch="-"
      printf '%-22s %-9s %9s %9s %9s  cutoff %s; ran %s (SI-SDR vs input)\n' "$name" si_sdr "-" "$(r2 "$f")" "$ch" "$cut" "${ran:-nothing}"
    fi
    json+=("$(jq -cn --arg c "$name" --argjson b "$b" --argjson f "$f" --arg cut "$cut" --arg ran "$ran" '{case: $c, group: "highs", before: $b, after: $f, cutoff: $cut, ran: $ran}')")
  done <<EOT
song-lp8k $song 20 30 8000
song-lp11k $song 20 30 11000
musdb-lp8k $musdb 0 0 8000
musdb-lp11k $musdb 0 0 11000
piano-lp8k $piano 10 30 8000
song-fullband $song 20 30 0
musdb-fullband $musdb 0 0 0
EOT
  while read -r name src start dur ratio; do
    d="$work/$name"; mkdir -p "$d"
    args=(--start "$start"); [ "$dur" != 0 ] && args+=(--duration "$dur")
    "$bin/rz-phone-sim" -q "$src" "${args[@]}" --clip-ratio "$ratio" -o "$d/sim.wav" --reference "$d/ref.wav" -f >/dev/null
    rm -rf "$d/in" "$d/out"
    "$bin/rz-ingest" -q "$d/sim.wav" -o "$d/in" >/dev/null
    "$bin/rz-restore" -q "$d/in" --only declip -o "$d/out" >/dev/null
    b=$(metric "$d/in" "$d/ref.wav" sdr_db); f=$(metric "$d/out" "$d/ref.wav" sdr_db)
    st=$(jq -c '.history[-1].stems.mix.blocks.declip.statistics // {}' "$d/out/manifest.json")
    printf '%-22s %-9s %9s %9s %+9.2f  %s\n' "$name" sdr_db "$(r2 "$b")" "$(r2 "$f")" "$(awk -v b="$b" -v f="$f" 'BEGIN{print f-b}')" "$st"
    json+=("$(jq -cn --arg c "$name" --argjson b "$b" --argjson f "$f" --argjson s "$st" '{case: $c, group: "declip", before: $b, after: $f, statistics: $s}')")
  done <<EOT
song-clip2 $song 20 15 0.02
song-clip5 $song 20 15 0.05
musdb-clip2 $musdb 0 0 0.02
musdb-clip5 $musdb 0 0 0.05
drums-clip2 $drums 0 0 0.02
drums-clip5 $drums 0 0 0.05
piano-clip2 $piano 10 15 0.02
piano-clip5 $piano 10 15 0.05
EOT
  for room in medium-room1 omni-35-10 filter-telephone; do
    while read -r sname src start dur; do
      name="$sname-$room"; d="$work/$name"; mkdir -p "$d"
      "$bin/rz-phone-sim" -q "$src" --start "$start" --duration "$dur" --ir "$a/ir/$room.wav" \
        -o "$d/sim.wav" --reference "$d/early.wav" --reference-early 50 -f >/dev/null
      rm -rf "$d/in" "$d/out"
      "$bin/rz-ingest" -q "$d/sim.wav" -o "$d/in" >/dev/null
      # WPE itself (--force-wpe); the decision the default run would take is read from the same
      # manifest (these rooms have no audience, so the default copies them: rz-dereverb(1)).
      /usr/bin/time -f '%e' -o "$d/time.txt" "$bin/rz-dereverb" -q "$d/in" -o "$d/out" --force-wpe >/dev/null
      b=$(metric "$d/in" "$d/early.wav" si_sdr_db); f=$(metric "$d/out" "$d/early.wav" si_sdr_db)
      t=$(jq -r '.history[-1].stems.mix | "T60 \(.t60_before.t60_s // "n/a" | tostring | .[0:5]) -> \(.t60_after.t60_s // "n/a" | tostring | .[0:5]) s; default decision: confidence \(.reverberation.confidence // "n/a" | tostring | .[0:4])"' "$d/out/manifest.json")
      printf '%-22s %-9s %9s %9s %+9.2f  %s\n' "$name" si_sdr_db "$(r2 "$b")" "$(r2 "$f")" "$(awk -v b="$b" -v f="$f" 'BEGIN{print f-b}')" "$t"
      tj=$(jq -c '.history[-1].stems.mix | {t60_before, t60_after}' "$d/out/manifest.json")
      json+=("$(jq -cn --arg c "$name" --argjson b "$b" --argjson f "$f" --argjson t "$tj" '{case: $c, group: "dereverb", before: $b, after: $f} + $t')")
    done <<EOT
speech $speech 0 10
drums $drums 0 8
song $song 20 10
piano $piano 10 10
EOT
  done
  printf '%s\n' "${json[@]}" | jq -cs '{bench: "restore-quality", cases: .}'
  exit 0
fi

# speed
seconds=${2:-600}
[[ "$seconds" =~ ^[0-9]+$ ]] || usage
[ -x /usr/bin/time ] || die "missing '/usr/bin/time': run scripts/install-deps.sh --bench"
command -v ffmpeg >/dev/null || die "missing 'ffmpeg': run scripts/install-deps.sh --bench"
results=()
printf '%-12s %8s %8s %10s %9s  %s\n' tool audio_s wall_s x_realtime rss_mib "what ran"
for len in 60 "$seconds"; do
  ffmpeg -loglevel error -y -stream_loop -1 -i "$song" -t "$len" -c:a pcm_f32le "$work/clean.wav"
  "$bin/rz-phone-sim" -q "$work/clean.wav" --band 120:8000 --clip-ratio 0.01 -o "$work/sim.wav" -f >/dev/null
  rm -rf "$work/in"
  "$bin/rz-ingest" -q "$work/sim.wav" -o "$work/in" >/dev/null
  for tool in rz-restore rz-dereverb; do
    out="$work/out-$tool"; rm -rf "$out"
    /usr/bin/time -f '%e %M' -o "$work/time.txt" "$bin/$tool" -q "$work/in" -o "$out" >/dev/null 2>"$work/stderr.txt" ||
      die "$tool failed: $(tail -n 1 "$work/stderr.txt")"
    read -r wall rss_kb <"$work/time.txt"
    if [ "$tool" = rz-restore ]; then
      ran=$(jq -r '[.history[-1].stems.mix.decisions[] | select(.applied) | .block] | join(",")' "$out/manifest.json")
    else
      ran=$(jq -r '.history[-1] | "taps \(.stems.mix.taps) delay \(.parameters.wpe.delay_frames) iterations \(.parameters.wpe.iterations)"' "$out/manifest.json")
    fi
    x=$(awk -v a="$len" -v w="$wall" 'BEGIN { printf "%.1f", (w > 0 ? a / w : 0) }')
    mib=$(awk -v k="$rss_kb" 'BEGIN { printf "%.0f", k / 1024 }')
    printf '%-12s %8s %8s %10s %9s  %s\n' "$tool" "$len" "$wall" "$x" "$mib" "$ran"
    results+=("$(jq -cn --arg t "$tool" --argjson a "$len" --argjson w "$wall" --argjson x "$x" \
      --argjson m "$mib" --arg ran "$ran" '{tool: $t, audio_s: $a, wall_s: $w, x_realtime: $x, peak_rss_mib: $m, ran: $ran}')")
  done
done
echo "targets: rz-restore >= 20x, rz-dereverb >= 2x real time per stereo stem; memory flat in length"
printf '%s\n' "${results[@]}" | jq -cs '{bench: "restore-speed", runs: .}'
