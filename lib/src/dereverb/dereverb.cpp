// rz-dereverb's plan for a stem: WPE, with the reverberation time estimated before and after in
// the same pass.
#include "rz/dereverb/dereverb.hpp"

#include <algorithm>
#include <memory>
#include <optional>

#include "rz/dsp/noise_analysis.hpp"
#include "rz/dsp/reverb_time.hpp"
#include "rz/dsp/units.hpp"
#include "rz/error.hpp"
#include "rz/stage/run_stems.hpp"
#include "rz/stems/process.hpp"

namespace rz::dereverb {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Held notes: where WPE's tonal guard protected more than kTonalFullShare of the stem's energy
// (dsp::Dereverberator::statistics, tonal_limited_ratio), it runs again at a strength scaled
// down linearly to nothing at kTonalNoShare. On the tuning part's captures at 5 dB SNR WPE cost
// SI-SDR against the early sound on the sustained ones (an organ at 0.42, a string quartet at
// 0.29, a violin at 0.22: -1.3 to -2 dB) and gained on the percussive ones (a drum loop at 0.02,
// a clavinet at 0.10, a trumpet at 0.04: +1 to +1.2 dB).
constexpr double kTonalFullShare = 0.10;
constexpr double kTonalNoShare = 0.25;
// A crowd that swamps the tail: WPE predicts each frame's late part from the frames before it,
// and where the noise floor is as loud as the reverberant tail its filters fit the crowd's own
// correlations instead. On the tuning part's captures (rooms and halls, crowd at 0, 5 and 10 dB)
// WPE changed SI-SDR against the early sound by -0.53 dB on average where the blind SNR read
// under 5 dB (16 of 21 lost, -2.4 .. +1.4 dB), by -0.10 dB from 5 to 7 dB and by +0.15 dB from
// 7 dB up (3 of 20 lost, at most -0.12 dB). So the confidence is also scaled by a ramp of the
// blind SNR from kSwampedSnrDb (0) to kSwampedSnrDb + kSwampedRampDb (1): the best of the 2 dB
// ramps starting at 3.5 .. 6 dB in half-dB steps, judged by each capture's gain scaled by the
// ramp. Measured with it, WPE's contribution there went from -0.56 / +0.07 / +0.14 dB at 0 / 5 /
// 10 dB crowd SNR to -0.01 / +0.09 / +0.14 dB (bench/phone-e2e.sh --split tune).
constexpr double kSwampedSnrDb = 5.0;
constexpr double kSwampedRampDb = 2.0;

}  // namespace

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

json Options::to_json() const {
  return {{"wpe", wpe.to_json()}, {"stems", stems}, {"force_wpe", force_wpe}};
}

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
    // The decision: WPE only where the measured decay says the capture is reverberant, its
    // strength scaled by that confidence (dsp::reverberation_confidence; the tonal guard's
    // allowance scales with the strength, dsp::WpeSettings); a dry recording (a
    // studio's, or a record's own ambience) is copied bit for bit.
    dsp::ReverbTimeEstimator measured(stem.channels, stem.sample_rate_hz);
    dsp::NoiseAnalyzer noise(stem.channels, stem.sample_rate_hz);
    stems::scan_file(
        stem.path,
        [&](const float* block, size_t frames) {
          measured.add(block, frames);
          noise.add(block, frames);
        },
        "measure " + stem.name(), stem.progress);
    const dsp::ReverbTime t_measured = measured.finish();
    const double snr_db = noise.finish().snr_db;
    const double reverberant = dsp::reverberation_confidence(t_measured, snr_db);
    const double unswamped = dsp::ramp(snr_db, kSwampedSnrDb, kSwampedSnrDb + kSwampedRampDb);
    const double confidence = reverberant * unswamped;
    stem.record["reverberation"] = {
        {"t60", t_measured.to_json()},
        {"blind_snr_db", snr_db},
        {"reverberant_confidence", reverberant},
        {"unswamped", unswamped},
        {"confidence", confidence},
        {"reverberant", reverberant > 0},
        {"rule", "T60 from " + fixed(dsp::kDryT60S) + " s (0) to " + fixed(dsp::kReverberantT60S) +
                     " s (1), times blind SNR from " + fixed(dsp::kAudienceSnrDb, 0) +
                     " dB (0) to " + fixed(dsp::kAudienceSnrDb - dsp::kAudienceRampDb, 0) +
                     " dB (1): reverberant; times blind SNR from " + fixed(kSwampedSnrDb, 0) +
                     " dB (0) to " + fixed(kSwampedSnrDb + kSwampedRampDb, 0) +
                     " dB (1): the crowd does not swamp the tail"}};
    if (!o.force_wpe && reverberant <= 0) {
      std::string why = "no evidence of a reverberant capture: ";
      if (!t_measured.valid)
        why += "too few decays to measure a room";
      else if (t_measured.t60_s <= dsp::kDryT60S)
        why += "T60 reading " + fixed(t_measured.t60_s) + " s";
      else
        why += "no audience floor (blind SNR " + fixed(snr_db, 1) + " dB)";
      return stage::Plan::copy(why, true);
    }
    if (!o.force_wpe && unswamped <= 0) {
      return stage::Plan::copy("reverberant, but the crowd swamps the tail (blind SNR " +
                                   fixed(snr_db, 1) + " dB, WPE needs " + fixed(kSwampedSnrDb, 0) +
                                   " dB and more): its prediction would fit the crowd",
                               true);
    }
    dsp::WpeSettings wpe = o.wpe;
    if (!o.force_wpe) wpe.strength *= confidence;
    // Shared by the chain's observer and the judge, which the runner calls in turn.
    struct Work {
      std::unique_ptr<dsp::ReverbTimeEstimator> before, after;
      size_t taps = 0;
      double tonal_scale = 1;  // the second attempt's strength re the first's
    };
    auto w = std::make_shared<Work>();
    const bool force_wpe = o.force_wpe;
    auto attempt = [wpe, &stem, w](size_t i) -> std::optional<stage::Chain> {
      if (i > 1 || (i == 1 && !(w->tonal_scale > 0))) return std::nullopt;
      dsp::WpeSettings s = wpe;
      if (i == 1) s.strength *= w->tonal_scale;
      auto block = std::make_unique<dsp::Dereverberator>(stem.channels, stem.sample_rate_hz, s);
      w->taps = block->taps();  // as resolved for the stem's channel count
      w->before = std::make_unique<dsp::ReverbTimeEstimator>(stem.channels, stem.sample_rate_hz);
      w->after = std::make_unique<dsp::ReverbTimeEstimator>(stem.channels, stem.sample_rate_hz);
      stage::Chain c;
      c.add("wpe", std::move(block));
      c.observer = [w](const float* x, const float* y, size_t n) {
        w->before->add(x, n);
        w->after->add(y, n);
      };
      return c;
    };
    auto judge = [&stem, w, force_wpe, wpe](size_t i, const json& statistics) {
      json& sj = stem.record;
      const json wpe_statistics = statistics.value("wpe", json::object());
      stage::Verdict v;
      // Sustained tones: the share of the energy the tonal guard had to protect says how much of
      // the stem is held notes, which linear prediction takes along with the room.
      const double tonal = wpe_statistics.value("tonal_limited_ratio", 0.0);
      if (i == 0 && !force_wpe && tonal > kTonalFullShare) {
        w->tonal_scale =
            std::clamp((kTonalNoShare - tonal) / (kTonalNoShare - kTonalFullShare), 0.0, 1.0);
        sj["tonal"] = {{"tonal_limited_ratio", tonal},
                       {"strength_scale", w->tonal_scale},
                       {"rule", "strength from 1 at a tonal share of " + fixed(kTonalFullShare) +
                                    " to 0 at " + fixed(kTonalNoShare)}};
        v.keep = false;
        return v;
      }
      const dsp::ReverbTime t_before = w->before->finish(), t_after = w->after->finish();
      sj["t60_before"] = t_before.to_json();
      sj["t60_after"] = t_after.to_json();
      sj["taps"] = w->taps;
      sj["strength"] = i == 1 ? wpe.strength * w->tonal_scale : wpe.strength;
      sj["statistics"] = wpe_statistics;
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
    return stage::Plan::process(attempt, judge,
                                "held notes: WPE would take them along with the room");
  };
  return stage::run_stems(in, output, force, st, provenance, progress);
}

}  // namespace rz::dereverb
