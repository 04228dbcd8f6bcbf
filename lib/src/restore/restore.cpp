// rz-restore: measure, decide, process (declip, sub-bass, highs), measure again, record.
#include "rz/restore/restore.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>

#include "rz/audio/file.hpp"
#include "rz/dsp/bandwidth.hpp"
#include "rz/dsp/declip.hpp"
#include "rz/dsp/subbass.hpp"
#include "rz/enhance/chain.hpp"
#include "rz/error.hpp"
#include "rz/metrics/analysis.hpp"
#include "rz/metrics/loudness.hpp"
#include "rz/stems/process.hpp"

namespace rz::restore {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr double kSilentDbfs = -120.0;  // a stem this quiet has nothing to restore
// Clipping found by rz-ingest before resampling: the resampled ripples around the old flat tops
// stay within a few tenths of a dB of the level (the tops' edges are kinks, not steps), so
// samples within this margin under it are treated as clipped (re-estimated, never lowered).
constexpr double kResampledClipMarginDb = 0.5;
constexpr double kSubBassSearchOverCut = 1.6;  // top of the pitch search re the low cut, at least

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

json analysis_summary(const metrics::Analysis& a) {
  return {{"bandwidth_hz", a.bandwidth_hz},
          {"band_limited", a.band_limited},
          {"low_cutoff_hz", a.low_cutoff_hz},
          {"low_band_limited", a.low_band_limited},
          {"integrated_lufs", metrics::json_level(a.integrated_lufs)},
          {"peak_dbfs", metrics::json_level(a.peak_dbfs)},
          {"true_peak_dbtp", metrics::json_level(a.true_peak_dbtp)},
          {"rms_dbfs", metrics::json_level(a.rms_dbfs)},
          {"clipped_samples", a.clipped_samples},
          {"clipped_ratio", a.clipped_ratio},
          {"spectral_centroid_hz", a.spectral_centroid_hz},
          {"spectral_rolloff_hz", a.spectral_rolloff_hz}};
}

struct Measured {
  metrics::Analysis analysis;
  dsp::ClipReport clip;
};

Measured measure(const fs::path& file, const std::string& stage, const Progress& progress) {
  const audio::FileInfo info = audio::Reader(file).info();
  metrics::Analyzer analyzer(info.sample_rate_hz, info.channels);
  dsp::ClipDetector clips(info.channels, info.sample_rate_hz);
  stems::scan_file(
      file,
      [&](const float* block, size_t frames) {
        analyzer.add(block, frames);
        clips.add(block, frames);
      },
      stage, progress);
  return {analyzer.finish(), clips.finish()};
}

struct Decision {
  std::string block;
  bool applied = false;
  std::string why;
  json to_json() const { return {{"block", block}, {"applied", applied}, {"why", why}}; }
};

// Clipping that rz-ingest found before it resampled the recording: a resampler turns flat tops
// into ripples around the clip level, which the plateau rules no longer see. Returns the linear
// level (0 when there is no such finding): only for the stem "mix" of a directory whose first
// stage was rz-ingest with resampling and whose analysis counted clipped samples.
double clip_level_before_resampling(const stems::Manifest& m, const std::string& stem) {
  if (stem != "mix" || m.history.empty() || !m.history.front().is_object()) return 0;
  const json& first = m.history.front();
  if (first.value("tool", "") != "rz-ingest") return 0;
  if (!first.contains("parameters") || !first["parameters"].value("resampled", false)) return 0;
  if (!m.analysis.is_object() || m.analysis.value("clipped_samples", 0) <= 0) return 0;
  const double level_db = m.analysis.value("clip_level_dbfs", -200.0);
  if (!(level_db > -40.0)) return 0;
  return std::pow(10.0, level_db / 20.0);
}

bool wants_subbass(enhance::StemKind kind) {
  return kind == enhance::StemKind::kBass || kind == enhance::StemKind::kDrums ||
         kind == enhance::StemKind::kMix;
}

}  // namespace

const std::vector<std::string>& block_names() {
  static const std::vector<std::string> names = {"declip", "subbass", "highs"};
  return names;
}

void Options::validate(const stems::StemDir& in) const {
  if (!(intensity >= 0.0 && intensity <= 1.0))
    throw UsageError(describe("bad intensity", fixed(intensity), "use 0..1"));
  if (!(max_freq_hz >= 1000.0 && max_freq_hz <= 96000.0))
    throw UsageError(describe("bad --max-freq", fixed(max_freq_hz, 0), "use 1000..96000 Hz"));
  for (const auto& s : stems) in.stem(s);  // throws listing the stems
  for (const auto& b : only)
    if (!contains(block_names(), b))
      throw UsageError(describe("unknown block", b, "use " + join(block_names(), ", ")));
}

json Options::to_json() const {
  return {{"intensity", intensity}, {"max_freq_hz", max_freq_hz}, {"stems", stems}, {"only", only}};
}

Report restore(const stems::StemDir& in, const fs::path& output, bool force, const Options& o,
               const json& provenance, const Progress& progress) {
  const auto t0 = std::chrono::steady_clock::now();
  o.validate(in);
  const stems::Manifest& im = in.manifest();
  const int rate = im.sample_rate_hz;
  const int channels = im.channels;
  const double top_hz = std::min(o.max_freq_hz, rate / 2.0);
  stems::StemDirWriter out(output, force);
  Report rep;
  json stems_json = json::object();
  auto allowed = [&](const std::string& block) { return o.only.empty() || contains(o.only, block); };
  for (const auto& stem : im.stems) {
    const fs::path src = in.stem_path(stem);
    const auto ts = std::chrono::steady_clock::now();
    const enhance::StemKind kind = enhance::stem_kind(stem.name);
    json sj = {{"kind", enhance::to_string(kind)}, {"input_sha256", stem.sha256}};
    auto copy_through = [&](const std::string& why) {
      stems::copy_stem(out, stem, src);
      sj["result"] = "unprocessed";
      sj["why"] = why;
      rep.notes.push_back(stem.name + ": " + why + ", copied");
    };
    auto finish_stem = [&] {
      sj["elapsed_s"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - ts).count();
      stems_json[stem.name] = sj;
    };
    if (!o.stems.empty() && !contains(o.stems, stem.name)) {
      copy_through("not selected (--stems)");
      finish_stem();
      continue;
    }
    if (o.intensity == 0.0) {
      copy_through("intensity 0");
      finish_stem();
      continue;
    }
    const Measured m = measure(src, "measure " + stem.name, progress);
    json mj = analysis_summary(m.analysis);
    mj["clipping"] = m.clip.to_json();
    sj["measurements"] = mj;
    if (m.analysis.rms_dbfs <= kSilentDbfs) {
      copy_through("digital silence");
      finish_stem();
      continue;
    }

    const double ingest_clip_level = clip_level_before_resampling(im, stem.name);
    // Decide.
    std::vector<Decision> decisions;
    std::vector<std::unique_ptr<dsp::Processor>> chain;
    json blocks = json::object();
    dsp::Declipper* declipper = nullptr;
    dsp::SubBassSynth* subbass = nullptr;
    dsp::HfRegenerator* highs = nullptr;
    {
      Decision d{"declip", false, ""};
      if (!allowed("declip")) {
        d.why = "not allowed (--only)";
      } else if (!m.clip.found && ingest_clip_level <= 0) {
        d.why = "no clipped runs found";
      } else {
        d.applied = true;
        dsp::ClipReport clip = m.clip;
        // Flat tops found in the stem itself win; a soft finding on resampled ripples does not
        // beat the level rz-ingest measured on the flat tops before resampling.
        if (clip.found && !(clip.soft && ingest_clip_level > 0)) {
          d.why = std::to_string(m.clip.clipped_samples) + " clipped samples in " +
                  std::to_string(m.clip.runs) + " runs";
        } else {
          const double level = ingest_clip_level * std::pow(10.0, -kResampledClipMarginDb / 20.0);
          clip.found = true;
          clip.soft = true;
          clip.positive_level = level;
          clip.negative_level = -level;
          d.why = "rz-ingest found clipping at " + fixed(20 * std::log10(ingest_clip_level)) +
                  " dBFS before resampling; samples within " + fixed(kResampledClipMarginDb, 1) +
                  " dB of it are re-estimated";
        }
        dsp::DeclipSettings s;
        auto p = std::make_unique<dsp::Declipper>(channels, rate, clip, s, o.intensity);
        declipper = p.get();
        chain.push_back(std::move(p));
        blocks["declip"] = {{"settings", s.to_json()}};
      }
      decisions.push_back(d);
    }
    {
      Decision d{"subbass", false, ""};
      if (!allowed("subbass")) {
        d.why = "not allowed (--only)";
      } else if (!wants_subbass(kind)) {
        d.why = "only bass, drums and mix stems get sub-bass";
      } else if (!m.analysis.low_band_limited) {
        d.why = "no low cut detected";
      } else if (m.analysis.low_cutoff_hz < dsp::SubBassSettings::kMinLowCutHz ||
                 m.analysis.low_cutoff_hz > dsp::SubBassSettings::kMaxLowCutHz) {
        d.why = "low cut at " + fixed(m.analysis.low_cutoff_hz, 0) + " Hz is outside " +
                fixed(dsp::SubBassSettings::kMinLowCutHz, 0) + ".." +
                fixed(dsp::SubBassSettings::kMaxLowCutHz, 0) + " Hz";
      } else {
        d.applied = true;
        d.why = "low cut at " + fixed(m.analysis.low_cutoff_hz, 0) + " Hz";
        dsp::SubBassSettings s;
        s.low_cut_hz = m.analysis.low_cutoff_hz;
        // The harmonics that prove a note must lie above the cut: a cut above 133 Hz widens the
        // search band past its 200 Hz default (the block needs it to reach 1.5 times the cut).
        s.search_high_hz = std::max(s.search_high_hz, kSubBassSearchOverCut * s.low_cut_hz);
        s.validate(rate);
        auto p = std::make_unique<dsp::SubBassSynth>(channels, rate, s, o.intensity);
        subbass = p.get();
        chain.push_back(std::move(p));
        blocks["subbass"] = {{"settings", s.to_json()}};
      }
      decisions.push_back(d);
    }
    {
      Decision d{"highs", false, ""};
      dsp::HfRegenSettings s;
      s.cutoff_hz = m.analysis.bandwidth_hz;
      s.max_freq_hz = top_hz;
      if (!allowed("highs")) {
        d.why = "not allowed (--only)";
      } else if (!m.analysis.band_limited) {
        d.why = "full band: no cutoff detected";
      } else if (!s.has_band(rate)) {
        d.why = "cutoff " + fixed(m.analysis.bandwidth_hz, 0) +
                " Hz leaves no band to regenerate below " + fixed(top_hz, 0) + " Hz";
      } else {
        d.applied = true;
        d.why = "cutoff at " + fixed(m.analysis.bandwidth_hz, 0) + " Hz";
        s.validate(rate);
        auto p = std::make_unique<dsp::HfRegenerator>(channels, rate, s, o.intensity);
        highs = p.get();
        chain.push_back(std::move(p));
        blocks["highs"] = {{"settings", s.to_json()}};
      }
      decisions.push_back(d);
    }
    json dj = json::array();
    std::vector<std::string> taken;
    for (const auto& d : decisions) {
      dj.push_back(d.to_json());
      if (d.applied) taken.push_back(d.block);
    }
    sj["decisions"] = dj;
    if (chain.empty()) {
      copy_through("nothing called for by the measurements");
      finish_stem();
      continue;
    }

    // Process, measuring the result on the way.
    metrics::Analyzer after(rate, channels);
    std::vector<dsp::Processor*> procs;
    for (auto& p : chain) procs.push_back(p.get());
    const fs::path dst = out.stem_file_path(stem.name);
    fs::remove(dst);
    const stems::ProcessedFile done = stems::process_file(
        src, dst, procs, [&after](const float*, const float* y, size_t n) { after.add(y, n); },
        "restore " + stem.name, progress);
    out.add_stem(stem.name, done.frames, done.sha256);
    if (declipper) {
      blocks["declip"]["statistics"] = {{"restored_samples", declipper->restored_samples()},
                                        {"restored_runs", declipper->restored_runs()},
                                        {"skipped_runs", declipper->skipped_runs()},
                                        {"max_restored_peak_db", metrics::json_level(declipper->max_restored_peak_db())}};
    }
    if (subbass) {
      blocks["subbass"]["statistics"] = {{"added_energy_db", metrics::json_level(subbass->added_energy_db())},
                                         {"active_ratio", subbass->active_ratio()},
                                         {"mean_f0_hz", subbass->mean_f0_hz()}};
    }
    if (highs) {
      blocks["highs"]["statistics"] = {{"added_energy_db", metrics::json_level(highs->added_energy_db())},
                                       {"active_ratio", highs->active_ratio()},
                                       {"tilt_db_per_octave", highs->tilt_db_per_octave()}};
    }
    sj["blocks"] = blocks;
    sj["after"] = analysis_summary(after.finish());
    sj["result"] = "processed";
    rep.notes.push_back(stem.name + ": " + join(taken, ", "));
    finish_stem();
  }
  stems::commit_stage(out, im, provenance, o.to_json(), stems_json,
                      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                      rep);
  return rep;
}

}  // namespace rz::restore
