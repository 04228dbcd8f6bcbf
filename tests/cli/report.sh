#!/usr/bin/env bash
# report.sh: rz-report end to end (ctest cli.report, and cli.report_browser with --browser).
#
# Builds the demo's stages of an 8 s example concert (rz-ingest | rz-restore | rz-dereverb |
# rz-enhance | rz-mix | rz-master, as scripts/demo.sh runs them without separation weights) and
# a page comparing the recording, two stages and the master; checks the page's files, that it
# references nothing on the network, the one-input form (the source recording comes first), and
# the refusals with their exit codes.
#
# With --browser it then loads the page in headless Chromium (tests/cli/report_browser.py, the
# DevTools protocol over a pipe) and requires: no console errors, exceptions or failed loads;
# every image and audio element loaded; the A/B toggle switched the version heard while every
# version's source kept playing (same playhead, within kPlayheadTolS); a screenshot that is not
# blank. Without Chromium, or when it cannot start, it exits 77 (ctest: skipped) saying so.
# RZ_REPORT_SCREENSHOT=FILE writes the view at half scale there (docs/rz-report.png is made so).
#
# Usage: bash tests/cli/report.sh BIN_DIR [--browser]   (needs jq and python3)
set -euo pipefail
bin=$(cd "${1:?usage: report.sh BIN_DIR [--browser]}" && pwd)
browser=false
[ "${2:-}" = "--browser" ] && browser=true
here=$(cd "$(dirname "$0")" && pwd)
me=report.sh
# shellcheck source=tests/cli/lib.sh
. "$here/lib.sh"
for tool in jq python3; do
  command -v "$tool" >/dev/null || { echo "report.sh: SKIP: $tool not found"; exit 77; }
done
chromium=""
if $browser; then
  chromium=$(command -v chromium || command -v chromium-browser || true)
  [ -n "$chromium" ] || { echo "report.sh: SKIP: chromium not found (scripts/install-deps.sh --test installs it)"; exit 77; }
fi
export PATH="$bin:$PATH" LC_ALL=C
work=$(mktemp -d "${TMPDIR:-/tmp}/rz-report-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
kPlayheadTolS=0.05 # a switch is a gain change on running sources: the playhead does not move

rz-make-example --duration 8 gig.wav >/dev/null
rz-ingest -q gig.wav -o st.ingest >/dev/null
rz-restore -q st.ingest -o st.rst >/dev/null
rz-dereverb -q st.rst -o st.drv >/dev/null
rz-enhance -q st.drv -o st.enh >/dev/null
rz-mix -q st.enh -o st.mix >/dev/null
rz-master -q st.mix -o gig-master.flac >/dev/null

expect 0 rz-report --json gig.wav st.ingest st.enh gig-master.flac -o report
jq -e '.output and (.versions | length) == 4' out.txt >/dev/null || fail "--json record: $(cat out.txt)"
for f in index.html audio.js rz-report.json img/legend.png audio/v1.opus audio/v4.opus; do
  [ -s "report/$f" ] || fail "report/$f missing or empty"
done
# Every picture the page names exists; nothing is fetched from elsewhere.
grep -o 'src="[^"]*"' report/index.html | sed 's/^src="//; s/"$//' | while read -r src; do
  [ -f "report/$src" ] || fail "the page names '$src', which is not in the report"
done
if grep -Eq '(src|href)="(https?:|//)|@import|url\(' report/index.html; then
  fail "the page refers to something outside itself"
fi
[ "$(grep -c '<audio' report/index.html)" -eq 4 ] || fail "expected one audio element per version"
# The previews are level-matched (kMatchTolLu: Opus coding moves loudness a little) and peak under
# full scale (the page's ceiling is -1 dBFS; Opus may overshoot it by a fraction of a dB).
kMatchTolLu=0.5
for v in 1 2 3 4; do
  rz-metrics --json --no-spectral "report/audio/v$v.opus" | jq -c '.stems[] | [.integrated_lufs, .peak_dbfs]'
done | jq -s -e --argjson tol "$kMatchTolLu" \
  '(map(.[0]) | max - min) <= $tol and (map(.[1]) | max) < 0' >/dev/null ||
  fail "previews not level-matched or clipping: $(for v in 1 2 3 4; do rz-metrics --json --no-spectral "report/audio/v$v.opus" | jq -c '.stems[] | [.integrated_lufs, .peak_dbfs]'; done | tr '\n' ' ')"

# One stem directory: compared with the recording it was made from.
expect 0 rz-report st.enh -o single
jq -e '(.versions | length) == 2 and (.versions[0] | endswith("gig.wav"))' single/rz-report.json >/dev/null ||
  fail "one-input form: $(jq -c .versions single/rz-report.json)"

# Refusals: nothing written, nothing replaced that is not a report.
mkdir thesis && echo "mine" >thesis/notes.txt
expect 1 rz-report -f gig.wav -o thesis
[ "$(cat thesis/notes.txt)" = mine ] || fail "a refused run touched thesis/"
expect 1 rz-report gig.wav -o report # exists, no --force
expect 0 rz-report -f gig.wav st.enh -o report
expect 1 rz-report missing.wav -o r2
expect 2 rz-report gig.wav --excerpt 0 -o r3
expect 2 rz-report gig.wav --start 60 -o r4
if [ -e r2 ] || [ -e r3 ] || [ -e r4 ]; then fail "a failed run left an output"; fi
[ -z "$(find . -maxdepth 1 -name '*rz-tmp*')" ] || fail "temporaries left: $(ls -A)"

if $browser; then
  expect 0 rz-report gig.wav st.ingest st.enh gig-master.flac -o report -f
  rc=0
  python3 "$here/report_browser.py" "$chromium" report/index.html shot.png ${RZ_REPORT_SCREENSHOT:+small.png} \
    >browser.json 2>browser.err || rc=$?
  if [ "$rc" -eq 77 ]; then
    echo "report.sh: SKIP: chromium cannot start: $(tail -n 1 browser.err)"
    exit 77
  fi
  [ "$rc" -eq 0 ] || fail "browser run failed: $(tail -n 3 browser.err)"
  jq -e '.browser_errors == [] and .selftest.errors == []' browser.json >/dev/null ||
    fail "errors in the browser: $(jq -c '[.browser_errors, .selftest.errors]' browser.json)"
  jq -e '.selftest.images.total > 0 and .selftest.images.loaded == .selftest.images.total' browser.json >/dev/null ||
    fail "images: $(jq -c .selftest.images browser.json)"
  jq -e '.selftest.audio.total == 4 and .selftest.audio.loaded == 4' browser.json >/dev/null ||
    fail "audio elements: $(jq -c .selftest.audio browser.json)"
  jq -e --argjson tol "$kPlayheadTolS" '.selftest.toggle as $t | $t.from != $t.to and $t.sources_kept
      and ($t.position_after_s - $t.position_before_s) >= 0
      and ($t.position_after_s - $t.position_before_s) <= $tol
      and ($t.buffers | length) == 4' browser.json >/dev/null ||
    fail "A/B toggle: $(jq -c .selftest.toggle browser.json)"
  # Not blank: many distinct colours and light and dark pixels.
  python3 - shot.png <<'PY' || fail "the screenshot is blank"
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n"
pos, idat, w = 8, b"", 0
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
        bpp = {2: 3, 6: 4}[ctype]
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
raw, stride, prev, colours, lum = zlib.decompress(idat), w * bpp, None, set(), []
for y in range(h):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b = prev[i] if prev else 0
        c = prev[i - bpp] if prev and i >= bpp else 0
        p = a + b - c
        pr = a if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c) else (b if abs(p - b) <= abs(p - c) else c)
        line[i] = (line[i] + [0, a, b, (a + b) // 2, pr][f]) & 255
    prev = line
    if y % 4 == 0:
        for x in range(0, w, 4):
            px = tuple(line[x * bpp:x * bpp + 3])
            colours.add(px)
            lum.append(sum(px) / 3)
print("screenshot %dx%d: %d colours sampled, luminance %.0f..%.0f" % (w, h, len(colours), min(lum), max(lum)))
sys.exit(0 if len(colours) > 200 and max(lum) - min(lum) > 150 else 1)
PY
  if [ -n "${RZ_REPORT_SCREENSHOT:-}" ]; then cp small.png "$RZ_REPORT_SCREENSHOT"; fi
  echo "report.sh: $(jq -r .version browser.json): page checked, $(jq -c .selftest.toggle browser.json | head -c 200)"
fi
echo "report.sh: all checks passed"
