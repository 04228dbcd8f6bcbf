# shellcheck shell=bash
# Sourced by tests/cli/analyze.sh and bench/analyze.sh: make_band STEMS BAND FRAMES moves the four
# clean stems that rz-make-example --clean-dir STEMS wrote (48 kHz stereo) into a new stem
# directory BAND with the manifest rz-manifest(5) shows (no sizes or hashes: rz checks headers).
make_band() {
  local stems=$1 band=$2 frames=$3 sep="" entries="" s
  mkdir "$band"
  for s in drums bass other vocals; do
    mv "$stems/$s.wav" "$band/"
    entries+="$sep{\"name\": \"$s\", \"file\": \"$s.wav\", \"frames\": $frames}"
    sep=", "
  done
  printf '{"schema": "rz-manifest", "schema_version": 1, "sample_rate_hz": 48000, "channels": 2, "frames": %s, "stems": [%s]}\n' \
    "$frames" "$entries" >"$band/manifest.json"
}
