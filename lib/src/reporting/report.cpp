// rz-report's page (rz/reporting/report.hpp).
#include "rz/reporting/report.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>

#include "rz/audio/decode.hpp"
#include "rz/audio/file.hpp"
#include "rz/audio/resample.hpp"
#include "rz/error.hpp"
#include "rz/io/json.hpp"
#include "rz/metrics/analysis.hpp"
#include "rz/metrics/loudness.hpp"
#include "rz/mix/mix.hpp"
#include "rz/reporting/image.hpp"
#include "rz/reporting/page.hpp"
#include "rz/reporting/render.hpp"
#include "rz/stems/sha256.hpp"
#include "rz/stems/stem_dir.hpp"

namespace rz::reporting {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr size_t kBlockFrames = 65536;
constexpr int kPreviewRate = 48000;      // Opus runs at 48 kHz
constexpr double kPreviewQuality = 0.5;  // libsndfile's Opus mapping: about 131 kbit/s per channel
constexpr double kPreviewPeakDb = -1;    // sample-peak ceiling of the previews (Opus adds a little)
constexpr int kLegendWidth = 256;
constexpr int kLegendHeight = 12;

struct Source {
  std::string name;
  fs::path file;
  std::string role;
};

struct Version {
  std::string label;
  fs::path path;
  std::optional<stems::StemDir> dir;
  std::vector<Source> stems;
  int rate = 0, channels = 0;
  int64_t frames = 0;
};

// A version's programme: the file, the one stem, or the unity sum (mix::Programme).
std::unique_ptr<mix::Programme> open_programme(const Version& v) {
  return v.dir ? std::make_unique<mix::Programme>(*v.dir)
               : std::make_unique<mix::Programme>(v.path);
}

struct Rendered {
  std::string spectrogram, waveform;  // file names under img/
  std::vector<float> short_term;
  std::vector<float> momentary;
  json metrics;
  double top_hz = 0;
};

template <typename Read>
Rendered render(Read&& read, int channels, int rate, int64_t frames, const Options& o,
                const fs::path& img_dir, const std::string& base, const Progress& progress,
                const std::string& label) {
  Overview ov(channels, rate, frames, o.width);
  metrics::Analyzer an(rate, channels);
  std::vector<float> block(kBlockFrames * static_cast<size_t>(channels));
  int64_t done = 0;
  for (;;) {
    throw_if_interrupted();
    const size_t n = read(block.data(), kBlockFrames);
    if (n == 0) break;
    ov.push(block.data(), n);
    an.add(block.data(), n);
    done += static_cast<int64_t>(n);
    report(progress, label,
           frames > 0 ? static_cast<double>(done) / static_cast<double>(frames) : 1.0);
  }
  ov.finish();
  Rendered r;
  r.spectrogram = base + "-spectrogram.png";
  r.waveform = base + "-waveform.png";
  write_png(img_dir / r.spectrogram, ov.spectrogram(o.spectrogram_height));
  write_png(img_dir / r.waveform, ov.waveform(o.waveform_height));
  r.short_term = ov.short_term_lufs();
  r.momentary = ov.momentary_lufs();
  r.metrics = an.finish().to_json();
  r.top_hz = ov.top_hz();
  return r;
}

Version open_version(const fs::path& p, bool verify, const std::string& label) {
  Version v;
  v.path = p;
  v.label = label;
  if (stems::is_stem_dir(p)) {
    v.dir.emplace(
        stems::StemDir::open(p, verify ? stems::Verify::kHashes : stems::Verify::kHeaders));
    const auto& m = v.dir->manifest();
    for (const auto& s : m.stems) v.stems.push_back({s.name, v.dir->stem_path(s), s.role});
    if (v.stems.empty())
      throw InputError("cannot report", p.string(), "the directory has no stems");
    v.rate = m.sample_rate_hz;
    v.channels = m.channels;
    v.frames = m.frames;
  } else {
    if (fs::is_directory(p))
      throw InputError("cannot report", p.string(), "a directory without an rz manifest.json");
    audio::DecodedFile f(p, audio::DecodeOptions{});  // refuses what cannot be decoded, now
    v.stems.push_back({"mix", p, ""});
    v.rate = f.info().sample_rate_hz;
    v.channels = f.info().channels;
    v.frames = f.info().frames;
  }
  return v;
}

// The excerpt [start, start + length) of a version's programme, level-scaled later.
struct Excerpt {
  std::vector<float> samples;  // interleaved, the version's own rate and channels
  int channels = 0, rate = 0;
  double lufs = -HUGE_VAL;
  double peak = 0;  // largest |sample|
};

Excerpt read_excerpt(const Version& v, double start_s, double length_s) {
  const auto r = open_programme(v);
  Excerpt e;
  e.channels = r->channels();
  e.rate = r->sample_rate_hz();
  const auto start = static_cast<int64_t>(std::llround(start_s * e.rate));
  const auto want = static_cast<int64_t>(std::llround(length_s * e.rate));
  std::vector<float> block(kBlockFrames * static_cast<size_t>(e.channels));
  int64_t pos = 0;
  for (;;) {
    throw_if_interrupted();
    const size_t n = r->read(block.data(), kBlockFrames);
    if (n == 0) break;
    const int64_t a = std::max(pos, start),
                  b = std::min(pos + static_cast<int64_t>(n), start + want);
    if (b > a) {
      const auto from = static_cast<size_t>(a - pos) * static_cast<size_t>(e.channels);
      const auto count = static_cast<size_t>(b - a) * static_cast<size_t>(e.channels);
      e.samples.insert(e.samples.end(), block.begin() + static_cast<long>(from),
                       block.begin() + static_cast<long>(from + count));
    }
    pos += static_cast<int64_t>(n);
    if (pos >= start + want) break;
  }
  for (float x : e.samples) e.peak = std::max(e.peak, static_cast<double>(std::fabs(x)));
  if (!e.samples.empty()) {
    metrics::LoudnessMeter m(e.channels, e.rate, metrics::LoudnessMeter::kIntegrated);
    m.add(e.samples.data(), e.samples.size() / static_cast<size_t>(e.channels));
    e.lufs = m.integrated_lufs();
  }
  return e;
}

void write_preview(const Excerpt& e, double gain_db, const fs::path& path) {
  const auto g = static_cast<float>(std::pow(10.0, gain_db / 20));
  std::vector<float> x(e.samples);
  for (auto& s : x) s *= g;
  if (e.rate != kPreviewRate) {
    audio::Resampler rs(e.channels, e.rate, kPreviewRate, audio::ResampleQuality::kMedium);
    std::vector<float> out;
    rs.process(x.data(), x.size() / static_cast<size_t>(e.channels), true, out);
    x.swap(out);
  }
  audio::WriteSpec spec;
  spec.sample_rate_hz = kPreviewRate;
  spec.channels = e.channels;
  spec.container = "opus";
  spec.sample_format = audio::SampleFormat::kLossy;
  spec.lossy_quality = kPreviewQuality;
  audio::Writer w(path, spec);
  for (auto& s : x) s = std::clamp(s, -1.f, 1.f);  // the gains keep peaks under kPreviewPeakDb
  if (!x.empty()) w.write(x.data(), x.size() / static_cast<size_t>(e.channels));
  w.close();
}

std::string base64(const std::string& bytes) {
  static const char* const kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < bytes.size()) {
    unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string read_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) throw IoError("cannot read", p.string(), "cannot open");
  std::ostringstream s;
  s << f.rdbuf();
  if (f.bad()) throw IoError("cannot read", p.string(), "read failed");
  return s.str();
}

json curve_json(const std::vector<float>& v) {
  json a = json::array();
  for (float x : v) a.push_back(std::isfinite(x) ? std::round(x * 10) / 10 : -200.0);
  return a;
}

}  // namespace

stage::StageReport build(const std::vector<fs::path>& inputs, const fs::path& output, bool force,
                         const Options& options, const json& provenance, const Progress& progress) {
  const auto t0 = std::chrono::steady_clock::now();
  if (inputs.empty()) throw UsageError("rz-report needs at least one input");
  if (!(options.excerpt_s > 0)) throw UsageError("--excerpt must be positive");
  stage::StageReport rep;
  std::vector<Version> versions;
  std::vector<fs::path> paths(inputs);
  // One stem directory: compared with the recording it was made from, when that is still there.
  if (paths.size() == 1 && stems::is_stem_dir(paths[0])) {
    const auto d = stems::StemDir::open(paths[0]);
    const auto& src = d.manifest().source;
    const fs::path sp = src.value("path", std::string());
    std::error_code ec;
    if (!sp.empty() && fs::is_regular_file(sp, ec)) {
      if (stems::sha256_file(sp) == src.value("sha256", std::string())) {
        paths.insert(paths.begin(), sp);
      } else {
        rep.warnings.push_back("the source recording '" + sp.string() +
                               "' changed since it was ingested: shown alone");
      }
    } else {
      rep.warnings.push_back("no source recording named in the manifest is present: shown alone");
    }
  }
  for (size_t i = 0; i < paths.size(); ++i) {
    std::string label(1, static_cast<char>('A' + std::min<size_t>(i, 25)));
    if (i >= 26) label = "V" + std::to_string(i + 1);
    versions.push_back(open_version(paths[i], options.verify_hashes, label));
  }

  stems::AtomicDir out(output, force, kMarkerFile);
  const fs::path img = out.path() / "img";
  const fs::path aud = out.path() / "audio";
  fs::create_directories(img);
  fs::create_directories(aud);
  write_png(img / "legend.png", legend_bar(kLegendWidth, kLegendHeight));

  PageData page;
  page.title = "rz-report: " + versions.back().path.filename().string();
  for (size_t vi = 0; vi < versions.size(); ++vi) {
    auto& v = versions[vi];
    PageVersion pv;
    pv.label = v.label;
    pv.path = v.path.string();
    pv.kind = v.dir ? "stem directory" : "audio file";
    if (v.dir) pv.history = v.dir->manifest().history;
    const auto pr = open_programme(v);
    const std::string base = "v" + std::to_string(vi + 1);
    auto r = render([&](float* b, size_t n) { return pr->read(b, n); }, pr->channels(),
                    pr->sample_rate_hz(), pr->frames(), options, img, base + "-programme", progress,
                    "report " + v.label + " programme");
    pv.rate = pr->sample_rate_hz();
    pv.duration_s = pv.rate > 0 ? static_cast<double>(pr->frames()) / pv.rate : 0;
    pv.channels = pr->channels();
    pv.programme = {"programme", r.spectrogram, r.waveform, curve_json(r.short_term),
                    r.metrics,   r.top_hz};
    pv.programme_name = v.stems.size() > 1 ? "unity sum of the ordinary stems" : v.stems[0].name;
    if (vi == 0) page.momentary_first = r.momentary;
    if (v.stems.size() > 1) {
      for (size_t si = 0; si < v.stems.size(); ++si) {
        const auto& s = v.stems[si];
        audio::Reader rd(s.file);
        auto rs = render([&](float* b, size_t n) { return rd.read(b, n); }, rd.info().channels,
                         rd.info().sample_rate_hz, rd.info().frames, options, img,
                         base + "-stem" + std::to_string(si + 1), progress,
                         "report " + v.label + " " + s.name);
        pv.stems.push_back({s.name + (s.role.empty() ? "" : " (" + s.role + ")"), rs.spectrogram,
                            rs.waveform, curve_json(rs.short_term), rs.metrics, rs.top_hz});
      }
    }
    page.versions.push_back(std::move(pv));
  }

  // The preview: the same stretch of every version, level-matched.
  const double start = options.excerpt_start_s >= 0
                           ? options.excerpt_start_s
                           : loudest_start_s(page.momentary_first, options.excerpt_s);
  std::vector<Excerpt> ex;
  for (const auto& v : versions) ex.push_back(read_excerpt(v, start, options.excerpt_s));
  double target = HUGE_VAL;
  for (const auto& e : ex) {
    if (std::isfinite(e.lufs)) target = std::min(target, e.lufs);
  }
  if (ex.front().samples.empty()) {
    throw UsageError("--start " + fixed(start, 1) + " s lies beyond the first version's end");
  }
  std::vector<double> gains(versions.size(), 0.0);
  double overshoot_db = 0;  // a version over kPreviewPeakDb (an rz-mix sum may be) lowers all alike
  for (size_t vi = 0; vi < versions.size(); ++vi) {
    if (std::isfinite(ex[vi].lufs) && std::isfinite(target)) gains[vi] = target - ex[vi].lufs;
    if (ex[vi].peak > 0) {
      overshoot_db =
          std::max(overshoot_db, 20 * std::log10(ex[vi].peak) + gains[vi] - kPreviewPeakDb);
    }
  }
  json audio_b64 = json::array();
  for (size_t vi = 0; vi < versions.size(); ++vi) {
    const double gain = gains[vi] - overshoot_db;
    const std::string file = "v" + std::to_string(vi + 1) + ".opus";
    if (ex[vi].samples.empty()) {
      rep.warnings.push_back("version " + versions[vi].label +
                             " ends before the excerpt: silent in the player");
      Excerpt silent = ex.front();
      std::fill(silent.samples.begin(), silent.samples.end(), 0.f);
      write_preview(silent, 0, aud / file);
    } else {
      write_preview(ex[vi], gain, aud / file);
    }
    page.versions[vi].preview_file = "audio/" + file;
    page.versions[vi].preview_gain_db = gain;
    page.versions[vi].preview_lufs = ex[vi].lufs;
    audio_b64.push_back(base64(read_bytes(aud / file)));
  }
  page.excerpt_start_s = start;
  page.excerpt_s = std::min(options.excerpt_s, page.versions.front().duration_s - start);
  page.width = options.width;
  stems::write_text_file(out.path() / "audio.js",
                         "window.rzAudio = " + io::dump_json(audio_b64) + ";\n");
  stems::write_text_file(out.path() / "index.html", render_page(page));
  json marker = provenance;
  marker["versions"] = json::array();
  for (const auto& v : versions) marker["versions"].push_back(v.path.string());
  marker["excerpt"] = {{"start_s", start}, {"length_s", page.excerpt_s}};
  marker["elapsed_s"] = stage::seconds_since(t0);
  stems::write_text_file(out.path() / kMarkerFile, io::dump_json(marker, 2) + "\n");
  rep.output = out.commit();
  rep.record = {{"output", rep.output.string()},
                {"versions", marker["versions"]},
                {"excerpt", marker["excerpt"]}};
  rep.details.push_back("excerpt " + fixed(start, 1) + " s + " + fixed(page.excerpt_s, 1) + " s");
  return rep;
}

}  // namespace rz::reporting
