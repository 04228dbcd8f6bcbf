// rz-enhance: measure each stem, decide its chain, process, compare with the input, roll back.
#include "rz/enhance/enhance.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <sstream>

#include "rz/audio/decode.hpp"
#include "rz/audio/file.hpp"
#include "rz/audio/resample.hpp"
#include "rz/dsp/biquad.hpp"
#include "rz/dsp/denoise.hpp"
#include "rz/dsp/dynamics.hpp"
#include "rz/dsp/exciter.hpp"
#include "rz/dsp/fft.hpp"
#include "rz/dsp/fir.hpp"
#include "rz/dsp/level_histogram.hpp"
#include "rz/dsp/units.hpp"
#include "rz/enhance/compare.hpp"
#include "rz/enhance/measure.hpp"
#include "rz/error.hpp"
#include "rz/io/file.hpp"
#include "rz/metrics/analysis.hpp"
#include "rz/metrics/loudness.hpp"
#include "rz/stage/run_stems.hpp"
#include "rz/stems/process.hpp"
#include "rz/stems/sha256.hpp"

namespace rz::enhance {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr size_t kBlockFrames = 8192;
// The blind tracker's median reading under stationary noise (tests/unit/test_denoise.cpp measures
// -2.78 dB on white noise with the default window).
constexpr double kTrackerBiasDb = 2.8;

// Evidence the decisions need beyond their own thresholds (issue 13), chosen on the tuning part of
// the corpus (tests/corpus):
// - highpass: rumble is there to remove only when the band below the corner holds more than
//   kRumbleMinShareDb of the stem's energy (1 %: wind and handling noise on a phone are that loud
//   and louder; a sampled clavinet's or timpani's DC steps hold 0.4 % and less) and rises towards
//   DC (its lower half within kRumbleMinShapeDb of its upper half). A drum loop's sub-bass, a
//   piano's lowest notes and speech fall towards DC by 9 dB and more; wind, handling and traffic
//   rumble rise. A phone's own high-pass leaves no rumble to remove (the captures of the tuning
//   part hold -32 to -46 dB there).
constexpr double kRumbleMinShareDb = -20.0;
constexpr double kRumbleMinShapeDb = -3.0;
// - denoise: the blind SNR estimate reads a dense or sustained clean programme (a choir, a
//   guitar stem, an MP3 mix) at 9 to 10 dB and crowd captures at 5 dB SNR at 3 to 8.6 dB, so the
//   reducer acts in proportion: none at the threshold (max_snr_db: 9.8 dB for a mix), full
//   strength kDenoiseRampDb under it. Chosen on the tuning part: its captures at 5 dB read 3.1
//   to 8.58 dB, and the lowest clean mix whose floor valleys look like a crowd's (the MP3, 4.7
//   dB) reads 9.97 dB; full at 8.8 and none at 9.8 leave 0.2 dB each side. The earlier ramp
//   (none at 9, full at 7) gave solo instruments under a crowd (reading 7.5 to 8.6 dB) a fifth
//   to a half of the strength they need: tuning part +1.61 -> +1.75 dB at 5 dB SNR.
constexpr double kDenoiseRampDb = 1.0;
// With a noise profile the threshold is this much higher (13 dB for a mix).
constexpr double kProfileMarginDb = 4.0;
//   The blind estimate cannot tell a crowd from the held notes and reverberation of a sustained
//   clean programme (a reverberant choir reads 8.6 dB), so blind reduction also needs the crowd's
//   own trace: a floor whose valleys a broadband noise fills (dsp::NoiseAnalysis::
//   floor_valley_db). Full confidence up to kCrowdValleyFullDb, none from kCrowdValleyNoneDb,
//   linear between. On the tuning part every phone capture at 0, 5 and 10 dB SNR reads under
//   4.6 dB (full is 0.4 dB over that); the clean choir, the only clean tuning excerpt the blind
//   estimate put under the threshold, reads 7.0 dB (none is 0.5 dB under that). A noise profile
//   measures the noise itself and needs no such evidence.
constexpr double kCrowdValleyFullDb = 5.0;
constexpr double kCrowdValleyNoneDb = 6.5;
// - demud: a low-mid excess is the room's only where the capture is reverberant
//   (Measurements::reverb_confidence > 0); otherwise it is the instrument's own (a trumpet's or a
//   voice's fundamentals, a song's guitar).

struct Decision {
  std::string block;
  bool applied = false;
  std::string measure;
  double value = 0;
  std::string rule;  // "<" or ">"
  double threshold = 0;
  std::string note;
  double confidence = 1;  // 0..1 where the block acts in proportion (denoise); 1 otherwise
  json evidence;          // further measurements the decision needed, with their rules
  json to_json() const {
    json j = {{"block", block}, {"applied", applied}, {"measure", measure},
              {"value", value}, {"rule", rule},       {"threshold", threshold}};
    if (!note.empty()) j["note"] = note;
    if (applied) j["confidence"] = confidence;
    if (!evidence.is_null()) j["evidence"] = evidence;
    return j;
  }
};

// What the noise reducer works from.
struct NoisePlan {
  dsp::NoiseSource source = dsp::NoiseSource::kBlind;
  const dsp::NoiseProfile* profile = nullptr;
  std::string description;  // "blind", "profile FILE", "auto (3.5 s crowd-only)"
  double snr_db = 120;
};

NoisePlan plan_noise(const Measurements& m, const std::string& mode,
                     const dsp::NoiseProfile* file_profile, const std::string& file_name) {
  NoisePlan p;
  p.snr_db = m.noise.snr_db;
  p.description = "blind";
  if (mode == "auto") {
    if (m.noise.found_noise_only) {
      p.source = dsp::NoiseSource::kProfile;
      p.profile = &m.noise.auto_profile;
      p.description =
          "auto: learnt from " + fixed(m.noise.noise_only_s, 1) + " s of crowd-only stretches";
    } else {
      p.description = "auto: no crowd-only stretch found, blind tracking";
    }
  } else if (file_profile) {
    p.source = dsp::NoiseSource::kProfile;
    p.profile = file_profile;
    p.description = "noise sample " + file_name;
  }
  if (p.profile) p.snr_db = std::clamp(m.noise.signal_dbfs - p.profile->level_dbfs(), -50.0, 120.0);
  return p;
}

std::vector<Decision> decide(const ChainParams& c, const Measurements& m, const NoisePlan& noise) {
  std::vector<Decision> d;
  auto rule = [&](const char* block, const char* measure, double value, bool below,
                  const char* key) {
    if (!on(c[block])) return;
    Decision x;
    x.block = block;
    x.measure = measure;
    x.value = value;
    x.rule = below ? "<" : ">";
    x.threshold = num(c[block], key);
    x.applied = below ? value < x.threshold : value > x.threshold;
    d.push_back(x);
  };
  // A further condition on the decision just made: recorded, and required for it to apply.
  auto also = [&](const char* block, const char* measure, double value, const char* op,
                  double threshold, bool holds) {
    if (d.empty() || d.back().block != block) return;
    Decision& x = d.back();
    if (x.evidence.is_null()) x.evidence = json::array();
    x.evidence.push_back(
        {{"measure", measure}, {"value", value}, {"rule", op}, {"threshold", threshold}});
    x.applied = x.applied && holds;
  };
  rule("highpass", "low_energy_db", m.low_energy_db, false, "min_energy_db");
  also("highpass", "low_share_db", m.low_share_db, ">", kRumbleMinShareDb,
       m.low_share_db > kRumbleMinShareDb);
  also("highpass", "low_shape_db", m.low_shape_db, ">", kRumbleMinShapeDb,
       m.low_shape_db > kRumbleMinShapeDb);
  rule("denoise", "snr_db", noise.snr_db, true, "max_snr_db");
  if (!d.empty() && d.back().block == "denoise") {
    Decision& x = d.back();
    x.note = noise.description;
    // A noise profile (a sample of the crowd, or crowd-only stretches found in the recording)
    // measures the noise itself, not the programme's quiet moments: its SNR earns the margin the
    // blind estimate had to give up.
    if (noise.source == dsp::NoiseSource::kProfile) {
      x.threshold += kProfileMarginDb;
      x.applied = x.value < x.threshold;
    }
    // In proportion: full strength kDenoiseRampDb under the threshold, none at it.
    x.confidence = dsp::ramp(x.value, x.threshold, x.threshold - kDenoiseRampDb);
    if (noise.source == dsp::NoiseSource::kBlind) {
      const double valley = m.noise.floor_valley_db;
      also("denoise", "floor_valley_db", valley, "<", kCrowdValleyNoneDb,
           valley < kCrowdValleyNoneDb);
      x.confidence *= dsp::ramp(valley, kCrowdValleyNoneDb, kCrowdValleyFullDb);
    }
  }
  rule("demud", "mud_excess_db", m.mud_excess_db, false, "min_excess_db");
  also("demud", "reverb_confidence", m.reverb_confidence, ">", 0.0, m.reverb_confidence > 0);
  rule("low_focus", "low_balance_db", m.low_balance_db, true, "max_balance_db");
  rule("presence", "centroid_hz", m.centroid_hz, true, "max_centroid_hz");
  rule("deess", "sibilance_db", m.sibilance_db, false, "min_sibilance_db");
  rule("transient", "crest_db", m.crest_db, true, "max_crest_db");
  rule("compress", "spread_db", m.spread_db, false, "min_spread_db");
  rule("exciter", "rolloff_hz", m.rolloff_hz, true, "max_rolloff_hz");
  return d;
}

// The decision on `block` (nullptr when the block is not enabled).
const Decision* find(const std::vector<Decision>& d, const std::string& block) {
  for (const auto& x : d)
    if (x.block == block) return &x;
  return nullptr;
}

bool applied(const std::vector<Decision>& d, const std::string& block) {
  const Decision* x = find(d, block);
  return x && x->applied;
}

// A BiquadChain as a Processor.
class BiquadProcessor : public dsp::Processor {
 public:
  BiquadProcessor(int channels, const std::vector<dsp::BiquadCoeffs>& stages)
      : channels_(channels), chain_(channels) {
    for (const auto& s : stages) chain_.add(s);
  }
  void process(const float* in, float* out, size_t frames) override {
    if (in != out) std::copy(in, in + frames * channels_, out);
    chain_.process(out, frames);
  }
  int channels() const override { return channels_; }

 private:
  int channels_;
  dsp::BiquadChain chain_;
};

double clamp_threshold(double db) { return std::clamp(db, -96.0, 0.0); }

// Builds the processors of the blocks `d` applied, in chain order; `names` gets each one's block.
std::vector<std::unique_ptr<dsp::Processor>> build_chain(
    const ChainParams& c, const std::vector<Decision>& d, const Measurements& m,
    const NoisePlan& noise, int ch, double rate, json& effective, std::vector<std::string>* names) {
  std::vector<std::unique_ptr<dsp::Processor>> chain;
  effective = json::object();
  if (applied(d, "highpass")) {
    const auto& b = c["highpass"];
    // Linear phase: the kick and the bass keep their waveform (a minimum-phase Butterworth at
    // 25 Hz turns the phase of everything up to ~100 Hz, which costs more than the rumble it
    // removes on any waveform measure).
    chain.push_back(std::make_unique<dsp::FirFilter>(
        ch, dsp::linear_phase_highpass(rate, num(b, "freq_hz"), b.at("order").get<int>())));
    names->push_back("highpass");
    effective["highpass"] = b;
  }
  if (applied(d, "denoise")) {
    const auto& b = c["denoise"];
    dsp::DenoiseSettings s = denoise_settings(c);
    const double confidence = find(d, "denoise")->confidence;
    s.strength_db *= confidence;
    // The depth was chosen and measured on the blind tracker, whose estimate leans low. A
    // profile's estimate does not, and with a noise sample cut from a phone capture (whose AGC
    // moves the crowd's level) the depth cost two of bench/quality.sh's phone cases 0.26 and
    // 0.66 dB (2026-12-07), so a profile keeps the single floor.
    s.noise_band_depth_db *= noise.source == dsp::NoiseSource::kBlind ? confidence : 0.0;
    chain.push_back(std::make_unique<dsp::Denoiser>(ch, rate, s, noise.source, noise.profile));
    names->push_back("denoise");
    effective["denoise"] = b;
    effective["denoise"]["strength_db"] = s.strength_db;
    effective["denoise"]["noise_band_depth_db"] = s.noise_band_depth_db;
    effective["denoise"]["noise"] = noise.description;
  }
  auto dynamic = [&](const char* name, double median_db) {
    const auto& b = c[name];
    dsp::DynamicEqSettings s = dynamic_eq_settings(c, name);
    s.threshold_db = clamp_threshold(median_db + num(b, "above_median_db"));
    chain.push_back(std::make_unique<dsp::DynamicEq>(ch, rate, s));
    names->push_back(name);
    effective[name] = b;
    effective[name]["threshold_db"] = s.threshold_db;
  };
  if (applied(d, "demud")) dynamic("demud", m.demud_median_db);
  for (const char* name : {"low_focus", "presence"}) {
    if (!applied(d, name)) continue;
    const auto& b = c[name];
    chain.push_back(std::make_unique<BiquadProcessor>(
        ch, std::vector<dsp::BiquadCoeffs>{dsp::BiquadCoeffs::peaking(
                rate, num(b, "freq_hz"), num(b, "q"), num(b, "gain_db"))}));
    names->push_back(name);
    effective[name] = b;
  }
  if (applied(d, "deess")) dynamic("deess", m.deess_median_db);
  if (applied(d, "transient")) {
    chain.push_back(std::make_unique<dsp::TransientShaper>(ch, rate, transient_settings(c)));
    names->push_back("transient");
    effective["transient"] = c["transient"];
  }
  if (applied(d, "compress")) {
    const auto& b = c["compress"];
    dsp::CompressorSettings s = compressor_settings(c);
    s.threshold_db = clamp_threshold(m.peak_median_db + num(b, "above_median_db"));
    chain.push_back(std::make_unique<dsp::Compressor>(ch, rate, s));
    names->push_back("compress");
    effective["compress"] = b;
    effective["compress"]["threshold_db"] = s.threshold_db;
  }
  if (applied(d, "exciter")) {
    chain.push_back(std::make_unique<dsp::Exciter>(ch, rate, exciter_settings(c)));
    names->push_back("exciter");
    effective["exciter"] = c["exciter"];
    if (m.band_limited && m.bandwidth_hz < 0.45 * rate) {
      // Reveal, don't fabricate: harmonics above the recording's bandwidth would be invented highs
      // (rz-restore's job, with its own safeguards), so they are cut at the measured corner.
      chain.push_back(
          std::make_unique<BiquadProcessor>(ch, dsp::butterworth_lowpass(rate, m.bandwidth_hz, 8)));
      names->push_back("exciter_band_limit");
      effective["exciter"]["band_limit_hz"] = m.bandwidth_hz;
    }
  }
  return chain;
}

dsp::NoiseProfile load_noise_profile(const std::string& path, int rate) {
  io::require_regular_file(path);
  audio::DecodedFile file(path, audio::DecodeOptions{});
  audio::Reader& r = file.reader();
  const int ch = r.info().channels;
  audio::Resampler rs(ch, r.info().sample_rate_hz, rate, audio::ResampleQuality::kMedium);
  dsp::NoiseProfiler prof(ch, rate);
  std::vector<float> buf(kBlockFrames * ch), out;
  for (;;) {
    const size_t n = r.read(buf.data(), kBlockFrames);
    out.clear();
    rs.process(buf.data(), n, n == 0, out);
    if (!out.empty()) prof.add(out.data(), out.size() / ch);
    if (n == 0) break;
  }
  try {
    return prof.finish();
  } catch (const InputError& e) {
    throw InputError(describe("unusable noise profile", path, e.what()));
  }
}

// Decides the blocks for a measured stem, then plans its attempts: the chain as resolved, and,
// with rollback, the same at half its moves; the first that passes the comparison stays.
stage::Plan plan_attempts(stage::Stem& stem, const ChainParams& chain,
                          std::shared_ptr<const Measurements> m, std::pair<double, double> band,
                          const Options& o, std::shared_ptr<const dsp::NoiseProfile> file_profile) {
  // What the attempts share: the plan, and the comparison of the attempt being run.
  struct Work {
    std::shared_ptr<const Measurements> m;
    std::shared_ptr<const dsp::NoiseProfile> file_profile;
    NoisePlan noise;
    std::vector<Decision> decisions;
    std::vector<std::string> taken;
    dsp::NoiseProfile tracker_noise;
    const dsp::NoiseProfile* noise_spectrum = nullptr;
    double noise_share = 0;
    std::vector<double> scales;
    std::unique_ptr<Comparer> cmp;
    json effective;
  };
  auto w = std::make_shared<Work>();
  w->m = std::move(m);
  w->file_profile = std::move(file_profile);
  w->noise =
      plan_noise(*w->m, o.noise_profile, w->file_profile->empty() ? nullptr : w->file_profile.get(),
                 o.noise_profile);
  w->decisions = decide(chain, *w->m, w->noise);
  json dj = json::array();
  for (const auto& d : w->decisions) {
    dj.push_back(d.to_json());
    if (d.applied) w->taken.push_back(d.block);
  }
  stem.record["decisions"] = dj;
  if (w->taken.empty())
    return stage::Plan::copy("no block called for by the measurements", true,
                             "nothing called for, copied");
  // Noise share of the owned band, for the comparison: the removed noise may take that much.
  if (applied(w->decisions, "denoise")) {
    if (w->noise.profile) {
      w->noise_spectrum = w->noise.profile;
    } else if (!w->m->noise.tracker_floor.empty()) {
      // The blind tracker's floor reads under the noise (a periodogram's minimum without bias
      // compensation); the comparison needs the noise itself.
      w->tracker_noise = w->m->noise.tracker_floor;
      for (double& p : w->tracker_noise.power) p *= std::pow(10.0, kTrackerBiasDb / 10);
      w->noise_spectrum = &w->tracker_noise;
    }
  }
  if (w->noise_spectrum && w->m->owned_band_ms > 0)
    w->noise_share = std::min(
        1.0, w->noise_spectrum->band_mean_square(band.first, band.second) / w->m->owned_band_ms);
  w->scales = {1.0};
  if (o.rollback) w->scales.push_back(0.5);
  stem.record["attempts"] = json::array();

  auto attempt = [&stem, &chain, w](size_t i) -> std::optional<stage::Chain> {
    if (i >= w->scales.size()) return std::nullopt;
    ChainParams c = chain;
    if (w->scales[i] != 1.0) scale_moves(c, w->scales[i]);
    stage::Chain ch;
    ch.blocks = build_chain(c, w->decisions, *w->m, w->noise, stem.channels, stem.sample_rate_hz,
                            w->effective, &ch.names);
    w->cmp = std::make_unique<Comparer>(stem.channels, stem.sample_rate_hz);
    Comparer* cmp = w->cmp.get();
    ch.observer = [cmp](const float* in, const float* out, size_t n) { cmp->add(in, out, n); };
    return ch;
  };
  auto judge = [&stem, &o, band, w](size_t i, const json& statistics) {
    Attempt a;
    const double flux =
        statistics.contains("denoise") ? statistics["denoise"].value("gain_flux_db", 0.0) : 0.0;
    a.comparison = w->cmp->finish(band, w->noise_share, flux, w->noise_spectrum, &a.score,
                                  &a.failures, o.limits);
    a.extra = statistics;
    a.intensity = o.intensity * w->scales[i];
    a.effective = w->effective;
    stem.record["attempts"].push_back(attempt_json(a));
    stage::Verdict v;
    v.keep = a.failures.empty() || !o.rollback;
    if (!v.keep) return v;
    const bool full = w->scales[i] == 1.0;
    v.result = full ? "processed" : "milder";
    v.note = join(w->taken, ", ") + (full ? "" : " (milder: half intensity)");
    if (!a.failures.empty())
      stem.report.warnings.push_back(stem.name() + ": kept although " + join(a.failures, ", ") +
                                     " exceeded the rollback limits (--no-rollback)");
    return v;
  };
  return stage::Plan::process(attempt, judge, "rolled back: every attempt failed the comparison",
                              "rolled back to the unprocessed stem");
}

}  // namespace

const params::Fields<Options>& Options::fields() {
  static const params::Fields<Options> f = {
      {"intensity", &Options::intensity, "", 0, 1, "Scale of every move, 0..1 (0: exact copy)",
       "--intensity"},
  };
  return f;
}

std::map<std::string, ResolvedChain> Options::resolve(const stems::StemDir& in) const {
  params::check(*this, fields(), "", params::Naming::kFlag);
  for (const auto& s : stems) in.stem(s);  // throws listing the stems
  if (!config.is_object())
    throw UsageError(describe("bad enhance settings", config_subject, "must be a JSON object"));
  for (const auto& [key, value] : config.items()) {
    if (key != "*" && !in.manifest().find(key))
      throw UsageError(describe("unknown stem in settings", config_subject + ": " + printable(key),
                                "not in the stem directory (use \"*\" for every stem)"));
    (void)value;
  }
  std::map<std::string, ResolvedChain> chains;
  for (const auto& s : in.manifest().stems) {
    ResolvedChain r = resolve_chain(s.name, *this, in.manifest().sample_rate_hz);
    validate_chain(r.params, s.name, in.manifest().sample_rate_hz);
    chains.emplace(s.name, std::move(r));
  }
  return chains;
}

json Options::to_json() const {
  return {{"preset", to_string(preset)},
          {"intensity", intensity},
          {"config", config},
          {"stems", stems},
          {"only", only},
          {"noise_profile", noise_profile.empty() ? "blind" : noise_profile},
          {"rollback", rollback},
          {"rollback_limits", limits.to_json()}};
}

ResolvedChain resolve_chain(const std::string& stem, const Options& o, double sample_rate_hz) {
  ResolvedChain r;
  ChainParams& c = r.params;
  c = default_chain(stem_kind(stem), o.preset);
  if (o.config.contains("*")) apply_overrides(c, o.config.at("*"), o.config_subject + ": *");
  if (o.config.contains(stem))
    apply_overrides(c, o.config.at(stem), o.config_subject + ": " + stem);
  if (!o.only.empty()) restrict_blocks(c, o.only);
  scale_moves(c, o.intensity);
  // A band the user set in --config stays (and validate_chain refuses it if the rate cannot hold
  // it); a default band above what the recording's rate holds means the block has nothing to do.
  auto user_set = [&](const std::string& block) {
    for (const std::string& key : {std::string("*"), stem}) {
      if (o.config.contains(key) && o.config.at(key).is_object() &&
          o.config.at(key).contains(block) && o.config.at(key).at(block).is_object() &&
          o.config.at(key).at(block).contains("freq_hz"))
        return true;
    }
    return false;
  };
  r.out_of_band = disable_out_of_band(c, sample_rate_hz, user_set);
  return r;
}

Report enhance(const stems::StemDir& in, const fs::path& output, bool force, const Options& o,
               const json& provenance, const Progress& progress) {
  const int rate = in.manifest().sample_rate_hz;
  const std::map<std::string, ResolvedChain> chains = o.resolve(in);
  auto file_profile = std::make_shared<dsp::NoiseProfile>();
  std::string profile_sha;
  if (!o.noise_profile.empty() && o.noise_profile != "auto") {
    *file_profile = load_noise_profile(o.noise_profile, rate);
    profile_sha = stems::sha256_file(o.noise_profile);
  }
  stage::StemStage st;
  st.verb = "enhance";
  st.stems = o.stems;
  st.parameters = o.to_json();
  if (!profile_sha.empty()) {
    st.parameters["noise_profile_sha256"] = profile_sha;
    st.parameters["noise_profile_path"] = fs::absolute(o.noise_profile).string();
  }
  st.describe = [](const stems::StemEntry& stem, json& record) {
    record["kind"] = to_string(stem_kind(stem.name));
  };
  st.plan = [&](stage::Stem& stem) {
    // A removed stem (crowd, noise, reverb) is what a stage took out: repairing it serves nothing
    // and would change what a later --keep brings back. Only --stems naming it processes it.
    if (stem.entry.removed() && o.stems.empty())
      return stage::Plan::copy("removed stem: not processed", false, "removed stem, copied");
    const ResolvedChain& resolved = chains.at(stem.name());
    const ChainParams& chain = resolved.params;
    json& sj = stem.record;
    sj["chain"] = chain;
    if (!resolved.out_of_band.empty()) {
      json skipped = json::array();
      for (const auto& b : resolved.out_of_band)
        skipped.push_back({{"block", b.block}, {"why", b.why}});
      sj["out_of_band"] = skipped;
    }
    if (o.intensity == 0.0) return stage::Plan::copy("intensity 0", false, "intensity 0, copied");
    const auto band = owned_band(stem_kind(stem.name()));
    auto m = std::make_shared<const Measurements>(
        measure(stem.path, chain, band, "measure " + stem.name(), stem.progress));
    sj["measurements"] = m->to_json();
    if (m->rms_dbfs <= kSilentDbfs)
      return stage::Plan::copy("digital silence: nothing to repair", true, "silent, copied");
    return plan_attempts(stem, chain, m, band, o, file_profile);
  };
  return stage::run_stems(in, output, force, st, provenance, progress);
}

std::string describe_parameters(Preset preset) {
  std::ostringstream s;
  s << "# rz-enhance parameters at preset " << to_string(preset)
    << " (defaults per stem kind: vocals drums bass other mix)\n";
  std::vector<ChainParams> chains;
  for (auto k :
       {StemKind::kVocals, StemKind::kDrums, StemKind::kBass, StemKind::kOther, StemKind::kMix})
    chains.push_back(default_chain(k, preset));
  for (const ChainParameter& p : chain_parameters()) {
    s << p.block << "." << p.key;
    for (const auto& c : chains) {
      const json& x = c[p.block][p.key];
      s << " " << (x.is_boolean() ? (x.get<bool>() ? "on" : "off") : fixed(x.get<double>(), 3));
    }
    s << "  [" << (p.unit.empty() ? "-" : p.unit) << "] " << p.meaning << "\n";
  }
  return s.str();
}

std::string describe_parameters() {
  std::string text;
  for (auto p : {Preset::kConservative, Preset::kBalanced, Preset::kAggressive})
    text += describe_parameters(p) + "\n";
  return text;
}

}  // namespace rz::enhance
