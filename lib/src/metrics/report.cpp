// rz-metrics: per-stem analysis, optional comparison with a reference, thresholds, table output.
#include "rz/metrics/report.hpp"

#include <cmath>
#include <cstdio>
#include <sstream>

#include "rz/audio/decode.hpp"
#include "rz/error.hpp"
#include "rz/io/file.hpp"
#include "rz/metrics/analysis.hpp"
#include "rz/metrics/compare.hpp"
#include "rz/stems/stem_dir.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace rz::metrics {

namespace {

constexpr size_t kBlockFrames = 65536;

// One measurable item: a named stem file, or a lone audio file.
struct Item {
  std::string name;
  fs::path file;
};

struct Target {
  std::string kind;
  std::vector<Item> items;
  json recording;  // rz-ingest's analysis of the source (stem directories), else null
};

// What format_table() shows of "recording": the measurements that resampling or a later stage
// changes, as rz-ingest measured them on the source.
constexpr const char* kRecordingKeys[] = {
    "integrated_lufs", "loudness_range_lu", "true_peak_dbtp", "peak_dbfs",      "rms_dbfs",
    "crest_db",        "clipped_ratio",     "clipped_runs",   "snr_db",         "noise_floor_dbfs",
    "bandwidth_hz",    "sample_rate_hz",    "duration_s",     "clip_level_dbfs"};

Target resolve(const fs::path& path, bool verify_hashes) {
  std::error_code ec;
  Target t;
  if (fs::is_directory(path, ec)) {
    stems::StemDir dir = stems::StemDir::open(
        path, verify_hashes ? stems::Verify::kHashes : stems::Verify::kHeaders);
    t.kind = "stem_dir";
    for (const auto& s : dir.manifest().stems) t.items.push_back({s.name, dir.stem_path(s)});
    const json& a = dir.manifest().analysis;
    if (a.is_object() && !a.empty()) {
      t.recording = json::object();
      for (const char* k : kRecordingKeys)
        if (a.contains(k)) t.recording[k] = a[k];
    }
  } else {
    io::require_regular_file(path);
    t.kind = "file";
    t.items.push_back({"mix", path});
  }
  return t;
}

// The reference item for stem `name`: the same name in a reference directory, or the lone
// reference (a file, or a directory with one stem or a "mix" stem).
const Item* match(const Target& ref, const std::string& name) {
  for (const auto& it : ref.items) {
    if (it.name == name) return &it;
  }
  if (ref.items.size() == 1) return &ref.items.front();
  return nullptr;
}

}  // namespace

Requirement Requirement::parse(const std::string& text) {
  static const char* kOps[] = {">=", "<=", "==", "!=", ">", "<"};
  Requirement r;
  r.text = text;
  size_t pos = std::string::npos;
  for (const char* op : kOps) {
    pos = text.find(op);
    if (pos != std::string::npos) {
      r.op = op;
      break;
    }
  }
  if (pos == std::string::npos || pos == 0) {
    throw UsageError(
        describe("bad --require", text, "expected METRIC OP VALUE, e.g. 'true_peak_dbtp<=-1'"));
  }
  std::string lhs = text.substr(0, pos), rhs = text.substr(pos + r.op.size());
  auto trim = [](std::string s) {
    s.erase(0, s.find_first_not_of(" \t"));
    s.erase(s.find_last_not_of(" \t") + 1);
    return s;
  };
  lhs = trim(lhs);
  rhs = trim(rhs);
  const size_t dot = lhs.find('.');
  if (dot != std::string::npos) {
    r.stem = lhs.substr(0, dot);
    r.metric = lhs.substr(dot + 1);
  } else {
    r.metric = lhs;
  }
  try {
    size_t used = 0;
    r.value = std::stod(rhs, &used);
    if (used != rhs.size()) throw std::invalid_argument("trailing");
  } catch (const std::exception&) {
    throw UsageError(describe("bad --require", text, "the threshold is not a number"));
  }
  return r;
}

json measure(const fs::path& path, const ReportOptions& options, const Progress& progress) {
  const Target target = resolve(path, options.verify_hashes);
  Target ref;
  if (!options.reference.empty()) ref = resolve(options.reference, options.verify_hashes);
  audio::DecodeOptions dopt;
  dopt.allow_ffmpeg = options.allow_ffmpeg;
  json report = {{"path", path.string()}, {"kind", target.kind}, {"stems", json::object()}};
  if (!target.recording.is_null()) report["recording"] = target.recording;
  if (!options.reference.empty()) report["reference"] = options.reference.string();
  const float compare_gain = static_cast<float>(std::pow(10.0, options.compare_gain_db / 20.0));
  AnalysisOptions aopt;
  aopt.spectral = options.spectral;
  for (size_t idx = 0; idx < target.items.size(); ++idx) {
    const Item& item = target.items[idx];
    if (!options.only_stem.empty() && item.name != options.only_stem) continue;
    audio::DecodedFile est(item.file, dopt);
    const auto info = est.info();
    report["sample_rate_hz"] = info.sample_rate_hz;
    report["channels"] = info.channels;
    Analyzer analyzer(info.sample_rate_hz, info.channels, aopt);
    std::optional<audio::DecodedFile> refd;
    std::optional<Comparator> comparator;
    if (const Item* r = options.reference.empty() ? nullptr : match(ref, item.name)) {
      refd.emplace(r->file, dopt);
      const auto& ri = refd->info();
      if (ri.sample_rate_hz != info.sample_rate_hz || ri.channels != info.channels) {
        throw InputError("cannot compare", r->file.string(),
                         std::to_string(ri.sample_rate_hz) + " Hz/" + std::to_string(ri.channels) +
                             " ch against " + std::to_string(info.sample_rate_hz) + " Hz/" +
                             std::to_string(info.channels) + " ch; resample one of them first");
      }
      // LSD's floor and frame gate hang on the reference's loudest bin and frame: one pass over
      // the reference finds them before the comparison pass.
      LsdLevelScan scan(info.channels);
      std::vector<float> sblock(kBlockFrames * static_cast<size_t>(info.channels));
      size_t m;
      int64_t scanned = 0;
      while ((m = refd->reader().read(sblock.data(), kBlockFrames)) > 0) {
        throw_if_interrupted();
        audio::check_finite(sblock.data(), m, ri.channels, scanned, ri.sample_rate_hz, r->file);
        scan.add(sblock.data(), m);
        scanned += static_cast<int64_t>(m);
      }
      refd.reset();
      refd.emplace(r->file, dopt);
      comparator.emplace(info.channels, scan.finish());
    }
    const size_t ch = static_cast<size_t>(info.channels);
    std::vector<float> block(kBlockFrames * ch), rblock(kBlockFrames * ch), gained;
    int64_t done = 0, ref_frames = 0;
    bool ref_done = !refd;
    size_t n;
    while ((n = est.reader().read(block.data(), kBlockFrames)) > 0) {
      throw_if_interrupted();
      audio::check_finite(block.data(), n, info.channels, done, info.sample_rate_hz, item.file);
      analyzer.add(block.data(), n);
      if (!ref_done) {
        // Align by trimming to the shorter signal: compare only the frames both have.
        size_t got = 0;
        while (got < n) {
          const size_t m = refd->reader().read(rblock.data() + got * ch, n - got);
          if (m == 0) break;
          got += m;
        }
        ref_frames += static_cast<int64_t>(got);
        if (got > 0 && compare_gain != 1.0f) {
          gained.assign(block.begin(), block.begin() + static_cast<std::ptrdiff_t>(got * ch));
          for (float& v : gained) v *= compare_gain;
          comparator->add(rblock.data(), gained.data(), got);
        } else if (got > 0) {
          comparator->add(rblock.data(), block.data(), got);
        }
        if (got < n) ref_done = true;
      }
      done += static_cast<int64_t>(n);
      rz::report(progress, "measure " + item.name,
                 (idx + double(done) / std::max<int64_t>(1, info.frames)) / target.items.size());
    }
    Analysis a = analyzer.finish();
    json stem = a.to_json();
    if (comparator) {
      if (!ref_done) {  // count the reference's extra frames for the record
        size_t m;
        while ((m = refd->reader().read(rblock.data(), kBlockFrames)) > 0)
          ref_frames += static_cast<int64_t>(m);
      }
      Comparison c = comparator->finish();
      json cj = c.to_json();
      cj["length_difference_frames"] = ref_frames - a.frames;
      stem["reference"] = cj;
      // Flattened too, so that --require can name them directly.
      stem["sdr_db"] = c.sdr_db;
      stem["si_sdr_db"] = c.si_sdr_db;
      stem["lsd_db"] = c.lsd_db;
    }
    report["stems"][item.name] = stem;
  }
  if (!options.reference.empty()) {
    json unmatched = json::array();
    for (const auto& [name, stem] : report["stems"].items()) {
      if (!stem.contains("reference")) unmatched.push_back(name);
    }
    if (unmatched.size() == report["stems"].size()) {
      throw InputError("cannot compare", options.reference.string(),
                       "none of its stems matches a stem of " + path.string());
    }
    report["reference_unmatched"] = unmatched;
  }
  return report;
}

std::vector<std::string> check(const json& report, const std::vector<Requirement>& reqs) {
  std::vector<std::string> failures;
  for (const auto& r : reqs) {
    bool found = false;
    for (const auto& [name, stem] : report["stems"].items()) {
      if (!r.stem.empty() && r.stem != name) continue;
      if (!stem.contains(r.metric) || !stem[r.metric].is_number()) continue;
      found = true;
      const double v = stem[r.metric].get<double>();
      bool ok = false;
      if (r.op == ">=")
        ok = v >= r.value;
      else if (r.op == "<=")
        ok = v <= r.value;
      else if (r.op == ">")
        ok = v > r.value;
      else if (r.op == "<")
        ok = v < r.value;
      else if (r.op == "==")
        ok = v == r.value;
      else if (r.op == "!=")
        ok = v != r.value;
      if (!ok) {
        char buf[64];
        std::snprintf(buf, sizeof(buf), "%.3f", v);
        failures.push_back(
            describe("check failed", r.text, name + " has " + r.metric + " = " + buf));
      }
    }
    if (!found) {
      throw UsageError(describe("unknown metric", r.text,
                                r.stem.empty() ? "no stem has it (see --json for the names)"
                                               : "no stem '" + r.stem + "' with that metric"));
    }
  }
  return failures;
}

std::string format_table(const json& report) {
  static const std::pair<const char*, const char*> kRows[] = {{"integrated_lufs", "LUFS"},
                                                              {"loudness_range_lu", "LU"},
                                                              {"max_short_term_lufs", "LUFS"},
                                                              {"true_peak_dbtp", "dBTP"},
                                                              {"peak_dbfs", "dBFS"},
                                                              {"rms_dbfs", "dBFS"},
                                                              {"crest_db", "dB"},
                                                              {"clipped_ratio", "%"},
                                                              {"clipped_runs", ""},
                                                              {"snr_db", "dB"},
                                                              {"noise_floor_dbfs", "dBFS"},
                                                              {"bandwidth_hz", "Hz"},
                                                              {"spectral_centroid_hz", "Hz"},
                                                              {"spectral_rolloff_hz", "Hz"},
                                                              {"stereo_correlation", ""},
                                                              {"stereo_width", ""},
                                                              {"sdr_db", "dB"},
                                                              {"si_sdr_db", "dB"},
                                                              {"lsd_db", "dB"}};
  // Columns: each stem, then the recording as ingested.
  std::vector<std::pair<std::string, json>> columns;
  for (const auto& [name, stem] : report["stems"].items()) columns.emplace_back(name, stem);
  if (report.contains("recording")) columns.emplace_back("recording", report["recording"]);
  std::ostringstream out;
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%-28s", "metric");
  out << buf;
  for (const auto& [name, stem] : columns) {
    std::snprintf(buf, sizeof(buf), " %12s", name.c_str());
    out << buf;
  }
  out << "\n";
  for (const auto& [key, unit] : kRows) {
    bool any = false;
    for (const auto& [name, stem] : columns) any |= stem.contains(key);
    if (!any) continue;
    std::string label = std::string(key) + (*unit ? std::string(" [") + unit + "]" : "");
    std::snprintf(buf, sizeof(buf), "%-28s", label.c_str());
    out << buf;
    for (const auto& [name, stem] : columns) {
      if (stem.contains(key) && stem[key].is_number()) {
        // Ratios read as percentages in the table (the JSON keeps the ratio).
        const double v = stem[key].get<double>() * (std::string(unit) == "%" ? 100.0 : 1.0);
        std::snprintf(buf, sizeof(buf), " %12.3f", v);
      } else {
        std::snprintf(buf, sizeof(buf), " %12s", "-");
      }
      out << buf;
    }
    out << "\n";
  }
  if (report.contains("recording"))
    out << "(recording: the source as rz-ingest measured it, at its own rate before resampling)\n";
  return out.str();
}

// Below this integrated loudness (the absolute gate of BS.1770) a version is silence: there is no
// level to match.
constexpr double kSilentLufs = -70.0;

json compare_versions(const fs::path& a, const fs::path& b, const ReportOptions& options,
                      const Progress& progress) {
  ReportOptions plain = options;
  plain.reference.clear();
  const json ra = measure(a, plain, progress);
  const json rb = measure(b, plain, progress);
  // Pairs (name in A, name in B).
  std::vector<std::pair<std::string, std::string>> pairs;
  if (ra["stems"].size() == 1 && rb["stems"].size() == 1) {
    pairs.emplace_back(ra["stems"].begin().key(), rb["stems"].begin().key());
  } else {
    for (const auto& [name, stem] : ra["stems"].items())
      if (rb["stems"].contains(name)) pairs.emplace_back(name, name);
  }
  if (pairs.empty())
    throw InputError("cannot compare", b.string(),
                     "none of its stems has a namesake in " + a.string());
  json stems = json::object();
  for (const auto& [na, nb] : pairs) {
    const json& sa = ra["stems"][na];
    const json& sb = rb["stems"][nb];
    json delta = json::object();
    for (const auto& [key, v] : sa.items())
      if (v.is_number() && sb.contains(key) && sb[key].is_number())
        delta[key] = sb[key].get<double>() - v.get<double>();
    json pair = {{"a", sa}, {"b", sb}, {"delta", delta}};
    // B against A, B's loudness brought to A's: a level difference alone would read as a
    // spectral one (LSD is a mean of dB differences).
    const double la = sa.value("integrated_lufs", NAN), lb = sb.value("integrated_lufs", NAN);
    if (la > kSilentLufs && lb > kSilentLufs && ra["sample_rate_hz"] == rb["sample_rate_hz"] &&
        ra["channels"] == rb["channels"]) {
      ReportOptions cmp = plain;
      cmp.spectral = false;
      cmp.compare_gain_db = la - lb;
      cmp.reference = a;
      cmp.only_stem = nb;
      const json rc = measure(b, cmp, progress);
      const json& sc = rc["stems"][nb];
      if (sc.contains("reference")) {
        pair["level_matched"] = {{"gain_db", la - lb},
                                 {"sdr_db", sc["sdr_db"]},
                                 {"si_sdr_db", sc["si_sdr_db"]},
                                 {"lsd_db", sc["lsd_db"]}};
      }
    } else {
      pair["level_matched"] = nullptr;  // different rates or channels, or a silent version
    }
    stems[na == nb ? na : na + "|" + nb] = pair;
  }
  return {{"a", ra}, {"b", rb}, {"stems", stems}};
}

std::string format_comparison(const json& comparison) {
  static const char* kUnits[][2] = {
      {"integrated_lufs", "LUFS"},   {"loudness_range_lu", "LU"}, {"true_peak_dbtp", "dBTP"},
      {"peak_dbfs", "dBFS"},         {"rms_dbfs", "dBFS"},        {"crest_db", "dB"},
      {"clipped_ratio", "%"},        {"clipped_runs", ""},        {"snr_db", "dB"},
      {"noise_floor_dbfs", "dBFS"},  {"bandwidth_hz", "Hz"},      {"spectral_centroid_hz", "Hz"},
      {"spectral_rolloff_hz", "Hz"}, {"stereo_correlation", ""},  {"stereo_width", ""}};
  std::ostringstream out;
  char buf[160];
  out << "A: " << comparison["a"]["path"].get<std::string>() << "\n"
      << "B: " << comparison["b"]["path"].get<std::string>() << "\n";
  for (const auto& [name, pair] : comparison["stems"].items()) {
    std::snprintf(buf, sizeof(buf), "\n%-28s %12s %12s %12s\n", name.c_str(), "A", "B", "B - A");
    out << buf;
    for (const auto& row : kUnits) {
      const std::string key = row[0], unit = row[1];
      const json& a = pair["a"];
      const json& b = pair["b"];
      if (!a.contains(key) || !b.contains(key) || !a[key].is_number() || !b[key].is_number())
        continue;
      const double scale = unit == "%" ? 100.0 : 1.0;
      const std::string label = key + (unit.empty() ? "" : " [" + unit + "]");
      const double va = a[key].get<double>() * scale, vb = b[key].get<double>() * scale;
      std::snprintf(buf, sizeof(buf), "%-28s %12.3f %12.3f %+12.3f\n", label.c_str(), va, vb,
                    vb - va);
      out << buf;
    }
    if (pair.contains("level_matched") && pair["level_matched"].is_object()) {
      const json& m = pair["level_matched"];
      std::snprintf(buf, sizeof(buf),
                    "B level-matched to A (%+.2f dB):", m["gain_db"].get<double>());
      out << buf;
      for (const char* k : {"lsd_db", "sdr_db", "si_sdr_db"}) {
        if (m[k].is_number()) {
          std::snprintf(buf, sizeof(buf), " %s %.3f", k, m[k].get<double>());
          out << buf;
        }
      }
      out << "\n";
    }
  }
  return out.str();
}

}  // namespace rz::metrics
