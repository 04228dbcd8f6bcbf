# shellcheck shell=bash
# Sourced by scripts/demo.sh and bench/separate.sh: where rz-separate looks for models by name, and
# whether an official model's weights are there, decided as rz-separate decides it (see
# rz-separate(1), MODELS) so that a script can choose its pipeline before running anything.

# Prints the model directory: $RZ_MODEL_DIR, else $XDG_DATA_HOME/rz/models (absolute values only),
# else ~/.local/share/rz/models.
rz_model_dir() {
  local xdg=${XDG_DATA_HOME:-}
  if [ -n "${RZ_MODEL_DIR:-}" ]; then
    echo "$RZ_MODEL_DIR"
  elif [ "${xdg:0:1}" = / ]; then
    echo "$xdg/rz/models"
  else
    echo "${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}/.local/share/rz/models"
  fi
}

# rz_model_present NAME [DIR]: true when official model NAME (htdemucs, htdemucs_6s, htdemucs_ft)
# resolves in DIR (default: rz_model_dir), i.e. DIR holds NAME.yaml, NAME[-XXXXXXXX].th, or every
# member checkpoint SIG[-XXXXXXXX].th. Only file names are checked; rz-separate checks the hashes.
rz_model_present() {
  local name=$1 dir=${2:-$(rz_model_dir)} members sig
  case "$name" in
    htdemucs) members="955717e8" ;;
    htdemucs_6s) members="5c90dfd2" ;;
    htdemucs_ft) members="f7e0c4bc d12395a8 92cfc3b6 04573f0d" ;;
    *) return 2 ;;
  esac
  [ -d "$dir" ] || return 1
  [ -f "$dir/$name.yaml" ] && return 0
  _rz_checkpoint_in "$dir" "$name" && return 0
  for sig in $members; do
    _rz_checkpoint_in "$dir" "$sig" || return 1
  done
}

# _rz_checkpoint_in DIR SIG: DIR holds SIG.th or SIG-XXXXXXXX.th (8 lower-case hex digits).
_rz_checkpoint_in() {
  local f
  [ -f "$1/$2.th" ] && return 0
  for f in "$1/$2"-????????.th; do
    [[ -f "$f" && "${f##*/}" =~ ^.+-[0-9a-f]{8}\.th$ ]] && return 0
  done
  return 1
}
