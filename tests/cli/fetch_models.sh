#!/usr/bin/env bash
# scripts/fetch-models.sh, offline: its listings (--list, --urls, --help), the RoFormer models'
# official URLs (checked here against the same sources, verbatim), and what it does with files it
# gets from a file:// mirror (RZ_MODEL_URL): NAME.ckpt + NAME.yaml + NAME.manifest.json with the
# SHA-256 recorded at download, a second run that downloads nothing, a damaged file fetched again,
# a changed file on the server reported, and no partial file after a failed download or a refused
# file. Needs curl (file:// URLs). Usage: fetch_models.sh [SCRIPT]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
script=${1:-$top/scripts/fetch-models.sh}
command -v curl >/dev/null 2>&1 || { echo "fetch_models: skipped: curl is not installed" >&2; exit 77; }
work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT
fails=0
fail() { echo "fetch_models: FAIL: $*" >&2; fails=$((fails + 1)); }
sha() { sha256sum -- "$1" | cut -d' ' -f1; }
# Runs the script with the model directory $work/models and the mirror $work/mirror; leaves its
# stdout in $work/out, stderr in $work/err and exit status in $rc.
run() {
  rc=0
  RZ_MODEL_DIR="$work/models" RZ_MODEL_URL="file://$work/mirror" \
    bash "$script" "$@" >"$work/out" 2>"$work/err" || rc=$?
}
expect_rc() { [ "$rc" -eq "$1" ] || fail "$2: exit status $rc, expected $1; stderr: $(cat "$work/err")"; }
err_has() { grep -qF -- "$1" "$work/err" || fail "$2: stderr lacks '$1': $(cat "$work/err")"; }
no_partial() {
  local left
  left=$(find "$work/models" -name '.*.part-*' 2>/dev/null)
  [ -z "$left" ] || fail "$1: partial files left: $left"
}

# --- listings -----------------------------------------------------------------------------------
mkdir -p "$work/mirror"
run --list
expect_rc 0 "--list"
for n in htdemucs htdemucs_6s htdemucs_ft; do
  grep -q "^$n [0-9a-f]\{8\}-[0-9a-f]\{8\}\.th" "$work/out" || fail "--list lacks $n"
done
for n in crowd denoise dereverb vocals-bs vocals-mel; do
  grep -qx "$n $n.ckpt $n.yaml" "$work/out" || fail "--list lacks '$n $n.ckpt $n.yaml'"
done
run --help
expect_rc 0 "--help"
for n in crowd denoise dereverb vocals-bs vocals-mel --urls; do
  grep -qw -- "$n" "$work/out" || fail "--help does not name $n"
done

# The official URLs, verbatim from ZFTurbo/Music-Source-Separation-Training docs/pretrained_models.md.
msst=https://github.com/ZFTurbo/Music-Source-Separation-Training
expected="crowd.ckpt $msst/releases/download/v.1.0.4/mel_band_roformer_crowd_aufr33_viperx_sdr_8.7144.ckpt
crowd.yaml $msst/releases/download/v.1.0.4/model_mel_band_roformer_crowd.yaml
denoise.ckpt $msst/releases/download/v.1.0.7/denoise_mel_band_roformer_aufr33_sdr_27.9959.ckpt
denoise.yaml $msst/releases/download/v.1.0.7/model_mel_band_roformer_denoise.yaml
dereverb.ckpt https://huggingface.co/anvuew/dereverb_mel_band_roformer/resolve/main/dereverb_mel_band_roformer_anvuew_sdr_19.1729.ckpt
dereverb.yaml https://huggingface.co/anvuew/dereverb_mel_band_roformer/resolve/main/dereverb_mel_band_roformer_anvuew.yaml
vocals-bs.ckpt https://github.com/TRvlvr/model_repo/releases/download/all_public_uvr_models/model_bs_roformer_ep_317_sdr_12.9755.ckpt
vocals-bs.yaml https://raw.githubusercontent.com/ZFTurbo/Music-Source-Separation-Training/main/configs/viperx/model_bs_roformer_ep_317_sdr_12.9755.yaml
vocals-mel.ckpt https://huggingface.co/KimberleyJSN/melbandroformer/resolve/main/MelBandRoformer.ckpt
vocals-mel.yaml https://raw.githubusercontent.com/ZFTurbo/Music-Source-Separation-Training/main/configs/KimberleyJensen/config_vocals_mel_band_roformer_kj.yaml"
rc=0
RZ_MODEL_URL='' bash "$script" --urls crowd denoise dereverb vocals-bs vocals-mel >"$work/out" 2>"$work/err" || rc=$?
expect_rc 0 "--urls"
diff <(echo "$expected") "$work/out" >&2 || fail "--urls: the official URLs (<) differ from the script's (>)"
rc=0
RZ_MODEL_URL='' bash "$script" --urls >"$work/out" 2>"$work/err" || rc=$?
expect_rc 0 "--urls (all)"
grep -qx "955717e8-8726e21a.th https://dl.fbaipublicfiles.com/demucs/hybrid_transformer/955717e8-8726e21a.th" \
  "$work/out" || fail "--urls lacks htdemucs"
[ "$(wc -l <"$work/out")" -eq 16 ] || fail "--urls (all): $(wc -l <"$work/out") lines, expected 6 + 10"
run --urls vocals-mel
grep -qx "vocals-mel.ckpt file://$work/mirror/MelBandRoformer.ckpt" "$work/out" ||
  fail "--urls does not follow RZ_MODEL_URL: $(cat "$work/out")"
[ ! -e "$work/models" ] || fail "--urls created the model directory"
run no-such-model
expect_rc 2 "an unknown name"
err_has "vocals-mel" "an unknown name"

# --- a RoFormer model from the mirror ------------------------------------------------------------
# A checkpoint as torch.save writes it starts with a zip header.
printf 'PK\003\004crowd weights' >"$work/mirror/mel_band_roformer_crowd_aufr33_viperx_sdr_8.7144.ckpt"
printf 'audio:\n  sample_rate: 44100\n' >"$work/mirror/model_mel_band_roformer_crowd.yaml"
run crowd
expect_rc 0 "crowd"
m="$work/models/crowd.manifest.json"
[ "$(cat "$work/out")" = "$work/models/crowd.ckpt
$work/models/crowd.yaml" ] || fail "crowd: stdout is not the two paths: $(cat "$work/out")"
cmp -s "$work/models/crowd.ckpt" "$work/mirror/mel_band_roformer_crowd_aufr33_viperx_sdr_8.7144.ckpt" ||
  fail "crowd.ckpt is not the mirror's file"
cmp -s "$work/models/crowd.yaml" "$work/mirror/model_mel_band_roformer_crowd.yaml" ||
  fail "crowd.yaml is not the mirror's file"
err_has "crowd.ckpt: no published checksum exists; recording its SHA-256 $(sha "$work/models/crowd.ckpt")" "crowd"
err_has "crowd.yaml: no published checksum exists; recording its SHA-256" "crowd"
grep -qF '"model_type": "mel_band_roformer"' "$m" || fail "crowd: no model_type in the manifest"
grep -qF "\"file\": \"crowd.ckpt\", \"url\": \"$msst/releases/download/v.1.0.4/mel_band_roformer_crowd_aufr33_viperx_sdr_8.7144.ckpt\", \"sha256\": \"$(sha "$work/models/crowd.ckpt")\"" \
  "$m" || fail "crowd: the manifest does not record crowd.ckpt: $(cat "$m")"
grep -qF "\"file\": \"crowd.yaml\", \"url\": \"$msst/releases/download/v.1.0.4/model_mel_band_roformer_crowd.yaml\", \"sha256\": \"$(sha "$work/models/crowd.yaml")\"" \
  "$m" || fail "crowd: the manifest does not record crowd.yaml: $(cat "$m")"
if command -v python3 >/dev/null 2>&1; then
  python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$m" || fail "crowd: the manifest is not JSON"
fi
no_partial "crowd"

# Again: nothing downloaded, nothing rewritten.
cp "$m" "$work/manifest.before"
run crowd
expect_rc 0 "crowd again"
err_has "crowd.ckpt: present and valid" "crowd again"
err_has "crowd.yaml: present and valid" "crowd again"
grep -q downloading "$work/err" && fail "crowd again: downloaded: $(cat "$work/err")"
cmp -s "$m" "$work/manifest.before" || fail "crowd again: the manifest changed"

# A damaged copy is fetched again and matches the record.
printf 'PK\003\004damaged' >"$work/models/crowd.ckpt"
run crowd
expect_rc 0 "damaged crowd.ckpt"
err_has "is invalid (SHA-256 is" "damaged crowd.ckpt"
err_has "crowd.ckpt: no published checksum exists; matches the SHA-256 recorded" "damaged crowd.ckpt"
cmp -s "$m" "$work/manifest.before" || fail "damaged crowd.ckpt: the manifest changed"

# A file that changed on the server: reported, and the new SHA-256 recorded.
printf 'audio:\n  sample_rate: 48000\n' >"$work/mirror/model_mel_band_roformer_crowd.yaml"
rm "$work/models/crowd.yaml"
run crowd
expect_rc 0 "changed crowd.yaml"
err_has "differs from the one recorded" "changed crowd.yaml"
grep -qF "\"sha256\": \"$(sha "$work/models/crowd.yaml")\"" "$m" ||
  fail "changed crowd.yaml: the manifest does not record the new SHA-256"

# A file present without a record is fetched again.
rm "$m"
run crowd
expect_rc 0 "crowd without its manifest"
err_has "cannot be verified" "crowd without its manifest"
[ -f "$m" ] || fail "crowd without its manifest: no manifest written"

# --- failures leave no partial file --------------------------------------------------------------
# The config is missing on the server: the checkpoint is kept and recorded, the config is not.
printf 'PK\003\004bs weights' >"$work/mirror/model_bs_roformer_ep_317_sdr_12.9755.ckpt"
run vocals-bs
expect_rc 1 "vocals-bs without its config"
err_has "error: download failed" "vocals-bs without its config"
[ ! -e "$work/models/vocals-bs.yaml" ] || fail "vocals-bs without its config: vocals-bs.yaml exists"
no_partial "vocals-bs without its config"
grep -qF '"model_type": "bs_roformer"' "$work/models/vocals-bs.manifest.json" ||
  fail "vocals-bs: model_type is not bs_roformer"
printf 'audio:\n  chunk_size: 352800\n' >"$work/mirror/model_bs_roformer_ep_317_sdr_12.9755.yaml"
run vocals-bs
expect_rc 0 "vocals-bs with its config"
err_has "vocals-bs.ckpt: present and valid" "vocals-bs with its config"
[ -f "$work/models/vocals-bs.yaml" ] || fail "vocals-bs with its config: no vocals-bs.yaml"

# A web page where a checkpoint should be is refused.
printf '<!DOCTYPE html><html>sign in</html>' >"$work/mirror/MelBandRoformer.ckpt"
run vocals-mel
expect_rc 1 "an HTML page as a checkpoint"
err_has "is not a PyTorch checkpoint" "an HTML page as a checkpoint"
[ ! -e "$work/models/vocals-mel.ckpt" ] || fail "an HTML page as a checkpoint: vocals-mel.ckpt exists"
[ ! -e "$work/models/vocals-mel.manifest.json" ] || fail "an HTML page as a checkpoint: a manifest exists"
no_partial "an HTML page as a checkpoint"

# --- demucs files still work through the mirror ---------------------------------------------------
printf 'demucs weights' >"$work/demucs"
sig="test-$(sha "$work/demucs" | cut -c1-8).th"
cp "$work/demucs" "$work/mirror/$sig"
run "$sig"
expect_rc 0 "a demucs checkpoint"
[ "$(cat "$work/out")" = "$work/models/$sig" ] || fail "a demucs checkpoint: stdout $(cat "$work/out")"
bad="test-00000000.th"
cp "$work/demucs" "$work/mirror/$bad"
run "$bad"
expect_rc 1 "a demucs checkpoint with the wrong hash"
[ ! -e "$work/models/$bad" ] || fail "a demucs checkpoint with the wrong hash was kept"
no_partial "a demucs checkpoint with the wrong hash"

if [ "$fails" -gt 0 ]; then
  echo "fetch_models: $fails failures" >&2
  exit 1
fi
echo "fetch_models: all checks pass" >&2
