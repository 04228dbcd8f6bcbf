// rz-report's HTML (rz/reporting/page.hpp).
#include "rz/reporting/page.hpp"

#include <cmath>
#include <map>
#include <set>
#include <sstream>

#include "rz/error.hpp"
#include "rz/io/json.hpp"
#include "rz/reporting/render.hpp"

namespace rz::reporting {
using json = nlohmann::json;

namespace {

constexpr int kLoudnessHeight = 60;
constexpr double kLoudnessFloor = -60;  // LUFS at the curve's bottom

// The measurements shown side by side, in order, with their units.
const std::vector<std::pair<const char*, const char*>>& metric_rows() {
  static const std::vector<std::pair<const char*, const char*>> rows = {
      {"integrated_lufs", "LUFS"},    {"loudness_range_lu", "LU"},
      {"true_peak_dbtp", "dBTP"},     {"peak_dbfs", "dBFS"},
      {"rms_dbfs", "dBFS"},           {"crest_db", "dB"},
      {"clipped_ratio", "share"},     {"clipped_runs", ""},
      {"noise_floor_dbfs", "dBFS"},   {"snr_db", "dB"},
      {"bandwidth_hz", "Hz"},         {"low_cutoff_hz", "Hz"},
      {"spectral_centroid_hz", "Hz"}, {"stereo_correlation", ""},
      {"stereo_width", ""},           {"duration_s", "s"},
      {"sample_rate_hz", "Hz"},
  };
  return rows;
}

std::string number(const json& v) {
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  if (v.is_number_integer()) return std::to_string(v.get<long long>());
  if (!v.is_number()) return v.is_null() ? "" : html_escape(v.dump());
  const double x = v.get<double>();
  if (x <= -199.5) return "&minus;&infin;";
  std::ostringstream o;
  const double a = std::fabs(x);
  o.precision(a >= 100 ? 0 : a >= 1 ? 2 : 4);
  o << std::fixed << x;
  return o.str();
}

std::string loudness_svg(const json& curve, double duration_s, int width) {
  std::ostringstream o;
  o << "<svg class=\"loud\" viewBox=\"0 0 " << width << ' ' << kLoudnessHeight
    << "\" preserveAspectRatio=\"none\" width=\"" << width << "\" height=\"" << kLoudnessHeight
    << "\" role=\"img\" aria-label=\"short-term loudness\">";
  for (int db : {-50, -40, -30, -20, -10}) {
    const double y = kLoudnessHeight * (db / kLoudnessFloor);
    o << "<line x1=\"0\" x2=\"" << width << "\" y1=\"" << y << "\" y2=\"" << y
      << "\" class=\"grid\"/>";
  }
  o << "<polyline points=\"";
  const size_t n = curve.size();
  for (size_t i = 0; i < n; ++i) {
    const double t = (static_cast<double>(i) + 1) * kLoudnessStepS;
    const double x = duration_s > 0 ? width * std::min(1.0, t / duration_s) : 0;
    const double v = std::max(kLoudnessFloor, std::min(0.0, curve[i].get<double>()));
    o << std::lround(x * 10) / 10.0 << ','
      << std::lround(kLoudnessHeight * v / kLoudnessFloor * 10) / 10.0 << ' ';
  }
  o << "\"/></svg>";
  return o.str();
}

// A version's row in a stem's section.
std::string stem_row(const PageVersion& v, const PageStem& s, const PageData& page, int vindex) {
  std::ostringstream o;
  const double dur = v.duration_s;
  const double x0 = dur > 0 ? 100 * page.excerpt_start_s / dur : 0;
  const double w = dur > 0 ? 100 * page.excerpt_s / dur : 0;
  o << "<div class=\"row\"><div class=\"tag v" << vindex << "\">" << html_escape(v.label)
    << "</div><div class=\"pics\" style=\"width:" << page.width << "px\">"
    << "<div class=\"spec\"><img src=\"img/" << html_escape(s.spectrogram) << "\" width=\""
    << page.width << "\" alt=\"spectrogram of " << html_escape(s.name) << ", version "
    << html_escape(v.label) << "\">";
  // Frequency labels on a log axis.
  const double lo = std::log(kLowHz), hi = std::log(s.top_hz);
  for (double f : {50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0, 20000.0}) {
    if (f > s.top_hz) break;
    const double y = 100 * (hi - std::log(f)) / (hi - lo);
    o << "<span class=\"fl\" style=\"top:" << y << "%\">"
      << (f >= 1000 ? std::to_string(static_cast<int>(f / 1000)) + "k"
                    : std::to_string(static_cast<int>(f)))
      << "</span>";
  }
  o << "<div class=\"excerpt\" style=\"left:" << x0 << "%;width:" << w << "%\"></div>"
    << "<div class=\"playhead\"></div></div>"
    << "<img class=\"wave\" src=\"img/" << html_escape(s.waveform) << "\" width=\"" << page.width
    << "\" alt=\"waveform\">" << loudness_svg(s.loudness, dur, page.width) << "</div></div>\n";
  return o.str();
}

std::string decisions_html(const json& stem_record) {
  std::ostringstream o;
  if (stem_record.contains("result") && stem_record["result"].is_string()) {
    o << "<b>" << html_escape(stem_record["result"].get<std::string>()) << "</b>";
  }
  if (stem_record.contains("why") && stem_record["why"].is_string()) {
    o << ": " << html_escape(stem_record["why"].get<std::string>());
  }
  if (stem_record.contains("decisions") && stem_record["decisions"].is_array()) {
    o << "<ul>";
    for (const auto& d : stem_record["decisions"]) {
      if (!d.is_object()) continue;
      const bool applied = d.value("applied", false);
      o << "<li class=\"" << (applied ? "on" : "off") << "\">"
        << html_escape(d.value("block", std::string("?"))) << ": "
        << (applied ? "applied" : "not applied");
      if (d.contains("why") && d["why"].is_string())
        o << " &mdash; " << html_escape(d["why"].get<std::string>());
      o << "</li>";
    }
    o << "</ul>";
  }
  return o.str();
}

std::string timeline_html(const PageVersion& v) {
  std::ostringstream o;
  if (!v.history.is_array() || v.history.empty()) {
    o << "<p class=\"muted\">" << html_escape(v.label) << ": no history (" << html_escape(v.kind)
      << ").</p>";
    return o.str();
  }
  o << "<h3>" << html_escape(v.label) << ": " << html_escape(v.path)
    << "</h3><ol class=\"timeline\">";
  for (const auto& e : v.history) {
    if (!e.is_object()) continue;
    o << "<li><b>" << html_escape(e.value("tool", std::string("?"))) << "</b>";
    if (e.contains("started") && e["started"].is_string()) {
      o << " <span class=\"muted\">" << html_escape(e["started"].get<std::string>()) << "</span>";
    }
    if (e.contains("elapsed_s") && e["elapsed_s"].is_number()) {
      o << " <span class=\"muted\">(" << fixed(e["elapsed_s"].get<double>(), 1) << " s)</span>";
    }
    if (e.contains("stems") && e["stems"].is_object()) {
      o << "<ul>";
      for (const auto& [name, rec] : e["stems"].items()) {
        if (!rec.is_object()) continue;
        o << "<li>" << html_escape(name) << ": " << decisions_html(rec) << "</li>";
      }
      o << "</ul>";
    }
    o << "</li>";
  }
  o << "</ol>";
  return o.str();
}

const char* kStyle = R"CSS(
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 24px 40px;background:#fafafa;color:#222}
h1{font-size:20px;margin:18px 0 6px}h2{font-size:16px;margin:22px 0 8px;border-bottom:1px solid #ddd}
h3{font-size:14px;margin:12px 0 4px}.muted{color:#777}
table{border-collapse:collapse}td,th{padding:2px 10px;border-bottom:1px solid #e4e4e4;text-align:right}
th:first-child,td:first-child{text-align:left}.versions td,.versions th{text-align:left}
.player{position:sticky;top:0;background:#fff;border:1px solid #ddd;padding:8px 12px;z-index:2}
.player button{font:inherit;padding:4px 12px;margin-right:4px;border:1px solid #888;background:#eee;border-radius:4px;cursor:pointer}
.player button.active{background:#2b6cb0;color:#fff;border-color:#2b6cb0}
.player input[type=number]{width:5em}
.row{display:flex;align-items:flex-start;margin:6px 0}.tag{width:32px;font-weight:bold;padding-top:4px}
.pics{display:flex;flex-direction:column;gap:2px}
.spec{position:relative;line-height:0}.spec img{display:block}
.fl{position:absolute;left:2px;transform:translateY(-50%);font:10px/1 monospace;color:#fff;text-shadow:0 0 2px #000}
.excerpt{position:absolute;top:0;bottom:0;border-left:1px dashed #fff8;border-right:1px dashed #fff8;background:#ffffff10}
.playhead{position:absolute;top:0;bottom:0;width:1px;background:#0f0;display:none}
.wave{display:block}.loud{display:block;background:#16161e}.loud polyline{fill:none;stroke:#f6ad55;stroke-width:1.5}
.loud .grid{stroke:#ffffff22;stroke-width:1}
.legend{display:flex;align-items:center;gap:6px;font-size:12px}
li.off{color:#777}ol.timeline>li{margin-bottom:6px}
)CSS";

// Collects errors from the first moment, for #selftest.
const char* kErrorHook = R"JS(
window.rzErrors = [];
window.addEventListener('error', function (e) {
  var t = e.target;
  window.rzErrors.push(t && t !== window && (t.src || t.href) ? 'failed to load ' + (t.src || t.href) : String(e.message));
}, true);
window.addEventListener('unhandledrejection', function (e) { window.rzErrors.push('unhandled rejection: ' + e.reason); });
(function () { var ce = console.error; console.error = function () { window.rzErrors.push(Array.prototype.join.call(arguments, ' ')); ce.apply(console, arguments); }; })();
)JS";

const char* kPlayer = R"JS(
(function () {
  'use strict';
  var D = JSON.parse(document.getElementById('rz-data').textContent);
  var n = D.versions.length, dur = D.excerpt_s;
  var ctx = null, buffers = null, gains = [], sources = [], active = 0, playing = false;
  var startCtx = 0, startPos = 0;
  var $ = function (id) { return document.getElementById(id); };
  var loop = $('loop'), ls = $('loop-start'), le = $('loop-end'), seek = $('seek'), pos = $('pos');
  function decode(b64) {
    var bin = atob(b64), u = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) u[i] = bin.charCodeAt(i);
    return ctx.decodeAudioData(u.buffer);
  }
  function ensure() {
    if (ctx) return Promise.resolve();
    ctx = new (window.AudioContext || window.webkitAudioContext)();
    return Promise.all(window.rzAudio.map(decode)).then(function (b) {
      buffers = b;
      gains = b.map(function (_, i) {
        var g = ctx.createGain(); g.gain.value = i === active ? 1 : 0; g.connect(ctx.destination); return g;
      });
    });
  }
  function clamp(x) { return Math.max(0, Math.min(dur, isFinite(x) ? x : 0)); }
  function range() {
    var a = clamp(+ls.value), b = clamp(+le.value);
    return loop.checked && b > a + 0.05 ? [a, b] : null;
  }
  function position() {
    if (!playing) return startPos;
    var p = startPos + Math.max(0, ctx.currentTime - startCtx), r = range();
    if (r && p >= r[1]) p = r[0] + (p - r[0]) % (r[1] - r[0]);
    return Math.min(p, dur);
  }
  function stopAll() { sources.forEach(function (s) { try { s.stop(); } catch (e) { } }); sources = []; }
  function play(at) {
    return ensure().then(function () { return ctx.state === 'suspended' ? ctx.resume() : null; }).then(function () {
      stopAll();
      var r = range(), when = ctx.currentTime + 0.05;
      sources = buffers.map(function (b, i) {
        var s = ctx.createBufferSource(); s.buffer = b;
        if (r) { s.loop = true; s.loopStart = r[0]; s.loopEnd = r[1]; }
        s.connect(gains[i]); s.start(when, at); return s;
      });
      startCtx = when; startPos = at; playing = true; $('play').textContent = 'Pause';
    });
  }
  function pause() { startPos = position(); stopAll(); playing = false; $('play').textContent = 'Play'; }
  function select(i) {
    active = i;
    if (ctx) {
      var t = ctx.currentTime;
      gains.forEach(function (g, k) {
        g.gain.cancelScheduledValues(t); g.gain.setValueAtTime(g.gain.value, t);
        g.gain.linearRampToValueAtTime(k === i ? 1 : 0, t + 0.005);
      });
    }
    document.querySelectorAll('.player button.ver').forEach(function (b, k) { b.classList.toggle('active', k === i); });
  }
  document.querySelectorAll('.player button.ver').forEach(function (b, k) { b.addEventListener('click', function () { select(k); }); });
  $('play').addEventListener('click', function () { if (playing) pause(); else play(position() >= dur ? 0 : position()); });
  seek.addEventListener('input', function () { var p = clamp(+seek.value); if (playing) play(p); else startPos = p; });
  loop.addEventListener('change', function () { if (playing) play(position()); });
  document.addEventListener('keydown', function (e) {
    var k = parseInt(e.key, 10);
    if (k >= 1 && k <= n) select(k - 1);
    else if (e.key === ' ') { e.preventDefault(); $('play').click(); }
  });
  function tick() {
    var p = position();
    pos.textContent = (D.excerpt_start_s + p).toFixed(2) + ' s';
    if (document.activeElement !== seek) seek.value = p;
    document.querySelectorAll('.playhead').forEach(function (h) {
      var c = h.closest('[data-duration]'), d = c ? +c.dataset.duration : 0;
      h.style.display = playing ? 'block' : 'none';
      if (d > 0) h.style.left = (100 * (D.excerpt_start_s + p) / d) + '%';
    });
    requestAnimationFrame(tick);
  }
  requestAnimationFrame(tick);
  window.rzPlayer = { play: play, pause: pause, select: select, position: position,
                      active: function () { return active; }, sources: function () { return sources.slice(); } };

  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }
  function selftest() {
    var out = { images: { total: 0, loaded: 0 }, audio: { total: 0, loaded: 0 }, toggle: null, errors: [] };
    var imgs = Array.prototype.slice.call(document.images);
    var auds = Array.prototype.slice.call(document.querySelectorAll('audio'));
    var imgDone = Promise.all(imgs.map(function (im) {
      return im.complete ? null : new Promise(function (r) { im.addEventListener('load', r); im.addEventListener('error', r); });
    }));
    var audDone = Promise.all(auds.map(function (a) {
      return a.readyState >= 1 ? null : new Promise(function (r) {
        a.addEventListener('loadedmetadata', r); a.addEventListener('error', r); a.load();
      });
    }));
    return Promise.race([Promise.all([imgDone, audDone]), sleep(15000)]).then(function () {
      out.images.total = imgs.length;
      out.images.loaded = imgs.filter(function (im) { return im.complete && im.naturalWidth > 0; }).length;
      out.audio.total = auds.length;
      out.audio.loaded = auds.filter(function (a) { return a.readyState >= 1 && !a.error; }).length;
      var at = Math.min(2, dur / 2);
      return play(at).then(function () { return sleep(400); }).then(function () {
        var before = sources, p0 = position(), from = active;
        select((active + 1) % n);
        var p1 = position();
        var kept = sources === before && sources.length === n;
        out.toggle = { from: from, to: active, position_before_s: p0, position_after_s: p1,
                       sources_kept: kept, start_s: at, clock_s: ctx.currentTime,
                       buffers: buffers.map(function (b) { return [b.sampleRate, b.length]; }) };
        pause();
      });
    }).catch(function (e) { window.rzErrors.push('selftest: ' + e); }).then(function () {
      out.errors = window.rzErrors.slice();
      $('rz-selftest').textContent = JSON.stringify(out);
      document.title = 'rz-selftest-done';
    });
  }
  if (location.hash === '#selftest') selftest();
})();
)JS";

}  // namespace

std::string html_escape(const std::string& t) {
  std::string o;
  o.reserve(t.size());
  for (char c : t) {
    switch (c) {
      case '&':
        o += "&amp;";
        break;
      case '<':
        o += "&lt;";
        break;
      case '>':
        o += "&gt;";
        break;
      case '"':
        o += "&quot;";
        break;
      case '\'':
        o += "&#39;";
        break;
      default:
        o += c;
    }
  }
  return o;
}

std::string render_page(const PageData& page) {
  std::ostringstream o;
  json data = {{"excerpt_start_s", page.excerpt_start_s},
               {"excerpt_s", page.excerpt_s},
               {"versions", json::array()}};
  for (const auto& v : page.versions) {
    data["versions"].push_back({{"label", v.label}, {"gain_db", v.preview_gain_db}});
  }
  std::string data_text = io::dump_json(data);
  for (size_t p = 0; (p = data_text.find("</", p)) != std::string::npos; p += 3)
    data_text.replace(p, 2, "<\\/");

  o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    << "<meta name=\"viewport\" content=\"width=device-width\">"
    << "<title>" << html_escape(page.title) << "</title><script>" << kErrorHook
    << "</script><style>" << kStyle << "</style></head><body>\n";
  o << "<h1>" << html_escape(page.title)
    << "</h1>\n<table class=\"versions\"><tr><th>version</th>"
       "<th>path</th><th>kind</th><th>programme</th><th>duration</th><th>rate</th>"
       "<th>preview gain</th></tr>\n";
  for (const auto& v : page.versions) {
    o << "<tr><td><b>" << html_escape(v.label) << "</b></td><td>" << html_escape(v.path)
      << "</td><td>" << html_escape(v.kind) << "</td><td>" << html_escape(v.programme_name)
      << "</td><td>" << fixed(v.duration_s, 1) << " s</td><td>" << v.rate << " Hz, " << v.channels
      << " ch</td><td>" << fixed(v.preview_gain_db, 1) << " dB</td></tr>\n";
  }
  o << "</table>\n";
  // Player.
  o << "<div class=\"player\"><b>A/B</b> ";
  for (size_t i = 0; i < page.versions.size(); ++i) {
    o << "<button class=\"ver" << (i == 0 ? " active" : "") << "\" title=\"key " << i + 1 << "\">"
      << html_escape(page.versions[i].label) << "</button>";
  }
  o << " <button id=\"play\">Play</button> <span id=\"pos\">" << fixed(page.excerpt_start_s, 2)
    << " s</span> <input id=\"seek\" type=\"range\" min=\"0\" max=\"" << page.excerpt_s
    << "\" step=\"0.01\" value=\"0\" style=\"width:300px\"> <label><input id=\"loop\" "
       "type=\"checkbox\"> loop</label> <input id=\"loop-start\" type=\"number\" step=\"0.1\" "
       "min=\"0\" value=\"0\"> to <input id=\"loop-end\" type=\"number\" step=\"0.1\" min=\"0\" "
       "value=\""
    << fixed(page.excerpt_s, 1) << "\"> s<br><span class=\"muted\">Excerpt "
    << fixed(page.excerpt_start_s, 1) << "&ndash;"
    << fixed(page.excerpt_start_s + page.excerpt_s, 1)
    << " s (dashed on the spectrograms), every version level-matched to the quietest; all play "
       "together and the buttons (keys 1&ndash;"
    << page.versions.size() << ") switch which one you hear. Loop times are within the excerpt."
    << "</span></div>\n";
  o << "<div class=\"legend\"><span>" << static_cast<int>(kFloorDb)
    << " dB</span><img src=\"img/legend.png\" width=\"256\" height=\"12\" alt=\"colour scale\">"
       "<span>0 dB (re full-scale sine), log frequency "
    << static_cast<int>(kLowHz)
    << " Hz up; orange: short-term loudness, &minus;60 to 0 LUFS</span></div>\n";
  // Programme, then each stem name in first-seen order.
  o << "<h2>Programme</h2>\n";
  for (size_t i = 0; i < page.versions.size(); ++i) {
    o << "<div data-duration=\"" << page.versions[i].duration_s << "\">"
      << stem_row(page.versions[i], page.versions[i].programme, page, static_cast<int>(i))
      << "</div>";
  }
  std::vector<std::string> names;
  for (const auto& v : page.versions) {
    for (const auto& s : v.stems) {
      if (std::find(names.begin(), names.end(), s.name) == names.end()) names.push_back(s.name);
    }
  }
  for (const auto& name : names) {
    o << "<h2>Stem " << html_escape(name) << "</h2>\n";
    for (size_t i = 0; i < page.versions.size(); ++i) {
      for (const auto& s : page.versions[i].stems) {
        if (s.name != name) continue;
        o << "<div data-duration=\"" << page.versions[i].duration_s << "\">"
          << stem_row(page.versions[i], s, page, static_cast<int>(i)) << "</div>";
      }
    }
  }
  // Metrics side by side.
  o << "<h2>Measurements (rz-metrics) of each programme</h2>\n<table><tr><th>metric</th>";
  for (const auto& v : page.versions) o << "<th>" << html_escape(v.label) << "</th>";
  o << "<th>unit</th></tr>\n";
  for (const auto& [key, unit] : metric_rows()) {
    o << "<tr><td>" << key << "</td>";
    for (const auto& v : page.versions) {
      const auto& m = v.programme.metrics;
      o << "<td>" << (m.contains(key) ? number(m[key]) : "") << "</td>";
    }
    o << "<td>" << unit << "</td></tr>\n";
  }
  o << "</table>\n";
  o << "<h2>Stages, decisions and reasons</h2>\n";
  for (const auto& v : page.versions) o << timeline_html(v);
  o << "<h2>Excerpt files</h2><p class=\"muted\">The level-matched excerpts as Ogg Opus files:</p>";
  for (const auto& v : page.versions) {
    o << "<p>" << html_escape(v.label) << " <audio controls preload=\"metadata\" src=\""
      << html_escape(v.preview_file) << "\"></audio></p>\n";
  }
  o << "<pre id=\"rz-selftest\" hidden></pre>\n<script type=\"application/json\" id=\"rz-data\">"
    << data_text << "</script>\n<script src=\"audio.js\"></script>\n<script>" << kPlayer
    << "</script>\n</body></html>\n";
  return o.str();
}

}  // namespace rz::reporting
