// rz-dereverb: WPE over each stem, the reverberation time estimated before and after in one pass.
#include "rz/dereverb/dereverb.hpp"

#include <algorithm>
#include <chrono>

#include "rz/dsp/reverb_time.hpp"
#include "rz/error.hpp"
#include "rz/metrics/loudness.hpp"
#include "rz/stems/process.hpp"

namespace rz::dereverb {

namespace fs = std::filesystem;
using nlohmann::json;

void Options::validate(const stems::StemDir& in) const {
  // The directory's channel count is the input's, not a setting: too many is an input problem.
  if (in.manifest().channels > dsp::WpeSettings::kMaxChannels) {
    throw InputError("cannot dereverberate", in.path().string(),
                     std::to_string(in.manifest().channels) + " channels (WPE takes 1.." +
                         std::to_string(dsp::WpeSettings::kMaxChannels) + ")");
  }
  wpe.validate(in.manifest().sample_rate_hz, in.manifest().channels);
  for (const auto& s : stems) in.stem(s);  // throws listing the stems
}

json Options::to_json() const { return {{"wpe", wpe.to_json()}, {"stems", stems}}; }

Report dereverb(const stems::StemDir& in, const fs::path& output, bool force, const Options& o,
                const json& provenance, const Progress& progress) {
  const auto t0 = std::chrono::steady_clock::now();
  o.validate(in);
  const stems::Manifest& im = in.manifest();
  const int rate = im.sample_rate_hz;
  const int channels = im.channels;
  stems::StemDirWriter out(output, force);
  Report rep;
  json stems_json = json::object();
  for (const auto& stem : im.stems) {
    const fs::path src = in.stem_path(stem);
    const auto ts = std::chrono::steady_clock::now();
    json sj = {{"input_sha256", stem.sha256}};
    const bool selected =
        o.stems.empty() || std::find(o.stems.begin(), o.stems.end(), stem.name) != o.stems.end();
    if (!selected || o.wpe.strength == 0.0 || o.wpe.wet == 0.0) {
      stems::copy_stem(out, stem, src);
      sj["result"] = "unprocessed";
      sj["why"] = !selected ? "not selected (--stems)" : "strength or wet 0";
      rep.notes.push_back(stem.name + ": " + sj["why"].get<std::string>() + ", copied");
      stems_json[stem.name] = sj;
      continue;
    }
    dsp::Dereverberator wpe(channels, rate, o.wpe);
    dsp::ReverbTimeEstimator before(channels, rate), after(channels, rate);
    const fs::path dst = out.stem_file_path(stem.name);
    fs::remove(dst);
    const stems::ProcessedFile done = stems::process_file(
        src, dst, {&wpe},
        [&](const float* x, const float* y, size_t n) {
          before.add(x, n);
          after.add(y, n);
        },
        "dereverb " + stem.name, progress);
    out.add_stem(stem.name, done.frames, done.sha256);
    const dsp::ReverbTime t_before = before.finish(), t_after = after.finish();
    sj["t60_before"] = t_before.to_json();
    sj["t60_after"] = t_after.to_json();
    sj["taps"] = wpe.taps();  // as resolved for the stem's channel count
    sj["statistics"] = {{"removed_energy_db", metrics::json_level(wpe.removed_energy_db())},
                        {"tonal_limited_ratio", wpe.tonal_limited_ratio()}};
    sj["result"] = "processed";
    std::string note = stem.name + ": T60 ";
    note += t_before.valid ? fixed(t_before.t60_s) + " s" : std::string("n/a");
    note += " -> ";
    note += t_after.valid ? fixed(t_after.t60_s) + " s" : std::string("n/a");
    rep.notes.push_back(note);
    if (t_before.valid && t_after.valid && t_after.t60_s >= t_before.t60_s)
      rep.warnings.push_back(stem.name + ": the estimated T60 did not get shorter (" +
                             fixed(t_before.t60_s) + " -> " + fixed(t_after.t60_s) + " s)");
    sj["elapsed_s"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - ts).count();
    stems_json[stem.name] = sj;
  }
  stems::commit_stage(out, im, provenance, o.to_json(), stems_json,
                      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                      rep);
  return rep;
}

}  // namespace rz::dereverb
