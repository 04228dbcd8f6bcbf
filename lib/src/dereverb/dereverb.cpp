// rz-dereverb's plan for a stem: WPE, with the reverberation time estimated before and after in
// the same pass.
#include "rz/dereverb/dereverb.hpp"

#include <memory>
#include <optional>

#include "rz/dsp/reverb_time.hpp"
#include "rz/error.hpp"
#include "rz/stage/run_stems.hpp"

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
  // rz-dereverb sets these from its command line: a bad one is named by its flag.
  wpe.validate(in.manifest().sample_rate_hz, in.manifest().channels, params::Naming::kFlag);
  for (const auto& s : stems) in.stem(s);  // throws listing the stems
}

json Options::to_json() const { return {{"wpe", wpe.to_json()}, {"stems", stems}}; }

Report dereverb(const stems::StemDir& in, const fs::path& output, bool force, const Options& o,
                const json& provenance, const Progress& progress) {
  o.validate(in);
  stage::StemStage st;
  st.verb = "dereverb";
  st.stems = o.stems;
  st.parameters = o.to_json();
  st.plan = [&o](stage::Stem& stem) {
    if (o.wpe.strength == 0.0 || o.wpe.wet == 0.0)
      return stage::Plan::copy("strength or wet 0", false);
    // Shared by the chain's observer and the judge, which the runner calls in turn.
    struct Work {
      Work(int ch, int rate) : before(ch, rate), after(ch, rate) {}
      dsp::ReverbTimeEstimator before, after;
      size_t taps = 0;
    };
    auto w = std::make_shared<Work>(stem.channels, stem.sample_rate_hz);
    auto attempt = [&o, &stem, w](size_t i) -> std::optional<stage::Chain> {
      if (i > 0) return std::nullopt;
      auto wpe = std::make_unique<dsp::Dereverberator>(stem.channels, stem.sample_rate_hz, o.wpe);
      w->taps = wpe->taps();  // as resolved for the stem's channel count
      stage::Chain c;
      c.add("wpe", std::move(wpe));
      c.observer = [w](const float* x, const float* y, size_t n) {
        w->before.add(x, n);
        w->after.add(y, n);
      };
      return c;
    };
    auto judge = [&stem, w](size_t, const json& statistics) {
      const dsp::ReverbTime t_before = w->before.finish(), t_after = w->after.finish();
      json& sj = stem.record;
      sj["t60_before"] = t_before.to_json();
      sj["t60_after"] = t_after.to_json();
      sj["taps"] = w->taps;
      sj["statistics"] = statistics.value("wpe", json::object());
      stage::Verdict v;
      v.note = "T60 ";
      v.note += t_before.valid ? fixed(t_before.t60_s) + " s" : std::string("n/a");
      v.note += " -> ";
      v.note += t_after.valid ? fixed(t_after.t60_s) + " s" : std::string("n/a");
      if (t_before.valid && t_after.valid && t_after.t60_s >= t_before.t60_s)
        stem.report.warnings.push_back(stem.name() + ": the estimated T60 did not get shorter (" +
                                       fixed(t_before.t60_s) + " -> " + fixed(t_after.t60_s) +
                                       " s)");
      return v;
    };
    return stage::Plan::process(attempt, judge);
  };
  return stage::run_stems(in, output, force, st, provenance, progress);
}

}  // namespace rz::dereverb
