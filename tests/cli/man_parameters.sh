#!/usr/bin/env bash
# rz-enhance(1)'s parameter tables against the one declaration of the parameters in the library,
# as `rz-enhance --list-parameters` prints it at the balanced preset: the same parameters in the
# same order, with the same units and the same defaults per stem kind (vocals drums bass other
# mix). Usage: man_parameters.sh MAN_DIR BIN_DIR
set -euo pipefail
man=$1/rz-enhance.1
bin=$2
# One line per parameter: NAME|UNIT|V1 V2 V3 V4 V5 (on 1, off 0; numbers as %g).
norm='function v(x) { if (x == "on") return 1; if (x == "off") return 0; return sprintf("%g", x + 0) }'
library=$("$bin/rz-enhance" --list-parameters | awk "$norm"'
  /^# / { on = ($0 ~ /preset balanced /); next }
  on && NF >= 7 { u = $7; gsub(/[][]/, "", u); if (u == "-") u = "";
    printf "%s|%s|%s %s %s %s %s\n", $1, u, v($2), v($3), v($4), v($5), v($6) }')
manual=$(sed 's/\\-/-/g' "$man" | awk "$norm"'
  /^parameter +unit +vocals/ { on = 1; next }
  /^\.EE/ { on = 0 }
  on && NF == 7 { printf "%s|%s|%s %s %s %s %s\n", $1, $2, v($3), v($4), v($5), v($6), v($7) }
  on && NF == 6 { printf "%s||%s %s %s %s %s\n", $1, v($2), v($3), v($4), v($5), v($6) }')
[ -n "$library" ] || { echo "man_parameters: no balanced listing from rz-enhance" >&2; exit 1; }
[ -n "$manual" ] || { echo "man_parameters: no parameter table in $man" >&2; exit 1; }
if ! diff <(echo "$library") <(echo "$manual") >&2; then
  echo "man_parameters: rz-enhance(1)'s tables (>) differ from the library (<)" >&2
  exit 1
fi
echo "man_parameters: $(echo "$library" | wc -l) parameters agree" >&2
