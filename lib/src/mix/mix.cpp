// Streaming gain-staged sum of stems; accumulates in double so that a unity mix of one stem is
// bit-identical to it.
#include "rz/mix/mix.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "rz/error.hpp"
#include "rz/io/json.hpp"
#include "rz/metrics/loudness.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace rz::mix {

namespace {
constexpr size_t kBlockFrames = 65536;
constexpr double kMaxGainDb = 48.0;  // beyond this a gain is more likely a typo than a choice
}  // namespace

Options Options::from_json(const json& j, const std::string& subject) {
  Options o;
  try {
    if (!j.is_object())
      throw UsageError(describe("bad mix settings", subject, "not a JSON object"));
    // Unknown keys are refused: a typo ("gain" for "gain_db") must not pass silently.
    for (const auto& [key, v] : j.items()) {
      if (key != "master_gain_db" && key != "stems" && key != "keep") {
        throw UsageError(describe("bad mix settings", subject, "unknown key " + in_quotes(key)));
      }
    }
    o.master_gain_db = j.value("master_gain_db", 0.0);
    if (j.contains("keep")) {
      if (!j["keep"].is_array())
        throw UsageError(describe("bad mix settings", subject, "\"keep\" is not an array"));
      for (const auto& name : j["keep"]) {
        if (!name.is_string())
          throw UsageError(
              describe("bad mix settings", subject, "\"keep\" holds something not a name"));
        o.keep.push_back(name.get<std::string>());
      }
    }
    if (j.contains("stems")) {
      if (!j["stems"].is_object())
        throw UsageError(describe("bad mix settings", subject, "\"stems\" is not an object"));
      for (const auto& [name, v] : j["stems"].items()) {
        if (!v.is_object())
          throw UsageError(describe("bad mix settings", subject,
                                    "stem " + in_quotes(name) + " is not an object"));
        for (const auto& [key, unused] : v.items()) {
          if (key != "gain_db" && key != "mute" && key != "solo" && key != "pan") {
            throw UsageError(
                describe("bad mix settings", subject,
                         "unknown key " + in_quotes(key) + " for stem " + in_quotes(name)));
          }
        }
        StemSettings s;
        s.gain_db = v.value("gain_db", 0.0);
        s.mute = v.value("mute", false);
        s.solo = v.value("solo", false);
        s.pan = v.value("pan", 0.0);
        o.stems[name] = s;
      }
    }
  } catch (const json::exception& e) {
    throw UsageError(describe("bad mix settings", subject, io::json_reason(e)));
  }
  return o;
}

json Options::to_json() const {
  json st = json::object();
  for (const auto& [name, s] : stems) {
    st[name] = {{"gain_db", s.gain_db}, {"mute", s.mute}, {"solo", s.solo}, {"pan", s.pan}};
  }
  return {{"master_gain_db", master_gain_db}, {"keep", keep}, {"stems", st}};
}

bool Options::admits(const stems::StemEntry& stem) const {
  if (!stem.removed()) return true;
  if (std::find(keep.begin(), keep.end(), stem.name) != keep.end()) return true;
  const auto it = stems.find(stem.name);
  return it != stems.end() && it->second.solo;  // soloing a stem is choosing to hear it
}

void Options::validate(const stems::StemDir& dir) const {
  auto check_gain = [](double g, const std::string& what) {
    if (!std::isfinite(g) || std::fabs(g) > kMaxGainDb) {
      throw UsageError(describe("bad gain", what, "must be within +/-48 dB"));
    }
  };
  check_gain(master_gain_db, "master");
  for (const auto& name : keep) {
    if (!dir.stem(name).removed()) {  // dir.stem throws UsageError listing the stems
      throw UsageError(describe("bad --keep", name,
                                "not a removed stem (--keep brings back stems whose role is "
                                "\"removed\"; this one is mixed in already)"));
    }
  }
  for (const auto& [name, s] : stems) {
    const stems::StemEntry& stem = dir.stem(name);  // throws UsageError listing the stems
    check_gain(s.gain_db, name);
    if (!(s.pan >= -1.0 && s.pan <= 1.0))
      throw UsageError(describe("bad pan", name, "must be within -1..1"));
    if (s.pan != 0.0 && dir.manifest().channels != 2) {
      throw UsageError(describe("cannot pan", name, "pan needs stereo stems"));
    }
    // A gain or pan for a stem that is not in the sum would be dropped without a word.
    if (!admits(stem) && (s.gain_db != 0.0 || s.pan != 0.0)) {
      throw UsageError(describe(
          "stem left out", name,
          "a removed stem is not mixed in; add --keep " + name + " to set its gain or pan"));
    }
  }
  const auto& all = dir.manifest().stems;
  if (std::none_of(all.begin(), all.end(), [&](const auto& s) { return admits(s); })) {
    std::vector<std::string> names;
    for (const auto& s : all) names.push_back(s.name);
    throw UsageError(
        describe("nothing to mix", dir.path().string(),
                 "every stem is removed (" + join(names, ", ") + "); --keep NAME brings one in"));
  }
}

std::vector<std::string> left_out_removed(const stems::StemDir& dir, const Options& options) {
  bool any_solo = false;
  for (const auto& [name, s] : options.stems) any_solo |= s.solo;
  std::vector<std::string> out;
  for (const auto& stem : dir.manifest().stems) {
    const auto it = options.stems.find(stem.name);
    const bool muted = it != options.stems.end() && it->second.mute;
    // Only what its role alone keeps out: a solo elsewhere or a mute would keep it out anyway.
    if (!options.admits(stem) && !muted && !any_solo) out.push_back(stem.name);
  }
  return out;
}

void note_left_out(const std::vector<std::string>& left_out, stage::StageReport& report) {
  for (const auto& name : left_out)
    report.notes.push_back(name + ": removed stem, left out (--keep " + name + " brings it in)");
}

std::vector<StemGains> resolve_gains(const stems::StemDir& dir, const Options& options) {
  bool any_solo = false;
  for (const auto& [name, s] : options.stems) any_solo |= s.solo;
  const int ch = dir.manifest().channels;
  std::vector<StemGains> out;
  for (const auto& stem : dir.manifest().stems) {
    if (!options.admits(stem)) continue;
    StemSettings s;
    if (auto it = options.stems.find(stem.name); it != options.stems.end()) s = it->second;
    if (s.mute || (any_solo && !s.solo)) continue;
    const double g = std::pow(10.0, (s.gain_db + options.master_gain_db) / 20.0);
    StemGains sg{stem.name, std::vector<double>(static_cast<size_t>(ch), g)};
    if (ch == 2 && s.pan != 0.0) {
      // Balance: the far side fades with a quarter cosine, the near side stays at unity.
      if (s.pan > 0)
        sg.channel_gain[0] *= std::cos(s.pan * M_PI / 2);
      else
        sg.channel_gain[1] *= std::cos(-s.pan * M_PI / 2);
    }
    out.push_back(sg);
  }
  return out;
}

StemSum::StemSum(const stems::StemDir& dir, const Options& options)
    : channels_(dir.manifest().channels),
      rate_(dir.manifest().sample_rate_hz),
      frames_(dir.manifest().frames),
      gains_(resolve_gains(dir, options)) {
  for (const auto& g : gains_) readers_.emplace_back(dir.stem_path(dir.stem(g.name)));
}

size_t StemSum::read(float* out, size_t frames) {
  const size_t ch = static_cast<size_t>(channels_);
  acc_.assign(frames * ch, 0.0);
  scratch_.resize(frames * ch);
  // With every stem muted the sum is silence, still as long as the directory.
  size_t longest =
      readers_.empty() ? static_cast<size_t>(std::min<int64_t>(frames, frames_ - position_)) : 0;
  for (size_t s = 0; s < readers_.size(); ++s) {
    const size_t n = readers_[s].read(scratch_.data(), frames);
    audio::check_finite(scratch_.data(), n, channels_, position_, rate_, readers_[s].path());
    longest = std::max(longest, n);
    const auto& g = gains_[s].channel_gain;
    for (size_t i = 0; i < n; ++i) {
      for (size_t c = 0; c < ch; ++c) acc_[i * ch + c] += g[c] * scratch_[i * ch + c];
    }
  }
  for (size_t i = 0; i < longest * ch; ++i) out[i] = static_cast<float>(acc_[i]);
  position_ += static_cast<int64_t>(longest);
  return longest;
}

std::pair<std::string, double> parse_assignment(const std::string& text, const std::string& flag) {
  const size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw UsageError(describe("bad " + flag, text, "expected NAME=VALUE"));
  }
  try {
    size_t used = 0;
    const std::string value = text.substr(eq + 1);
    const double v = std::stod(value, &used);
    if (used != value.size()) throw std::invalid_argument("trailing");
    return {text.substr(0, eq), v};
  } catch (const std::exception&) {
    throw UsageError(describe("bad " + flag, text, "the value is not a number"));
  }
}

void Options::apply_flags(const std::vector<std::string>& gains,
                          const std::vector<std::string>& pans,
                          const std::vector<std::string>& mutes,
                          const std::vector<std::string>& solos) {
  for (const auto& g : gains) {
    auto [name, v] = parse_assignment(g, "--gain");
    stems[name].gain_db = v;
  }
  for (const auto& p : pans) {
    auto [name, v] = parse_assignment(p, "--pan");
    stems[name].pan = v;
  }
  for (const auto& m : mutes) stems[m].mute = true;
  for (const auto& s : solos) stems[s].solo = true;
}

Programme::Programme(const std::filesystem::path& file) {
  file_.emplace(file, audio::DecodeOptions{});
  take_file_info();
}

Programme::Programme(const stems::StemDir& dir) {
  if (dir.manifest().stems.size() == 1) {
    file_.emplace(dir.stem_path(dir.manifest().stems.front()), audio::DecodeOptions{});
    take_file_info();
    return;
  }
  sum_.emplace(dir, Options{});
  channels_ = sum_->channels();
  rate_ = sum_->sample_rate_hz();
  frames_ = sum_->frames();
}

void Programme::take_file_info() {
  channels_ = file_->info().channels;
  rate_ = file_->info().sample_rate_hz;
  frames_ = file_->info().frames;
}

size_t Programme::read(float* out, size_t frames) {
  return sum_ ? sum_->read(out, frames) : file_->reader().read(out, frames);
}

Report mix(const stems::StemDir& in, const fs::path& output, bool force, const Options& options,
           const json& provenance, const Progress& progress) {
  const auto t0 = std::chrono::steady_clock::now();
  options.validate(in);
  StemSum sum(in, options);
  Report rep;
  for (const auto& g : sum.gains()) rep.active_stems.push_back(g.name);
  rep.left_out = left_out_removed(in, options);
  note_left_out(rep.left_out, rep);
  if (rep.active_stems.empty()) {
    rep.warnings.push_back(rep.left_out.empty()
                               ? "every stem is muted: the mix is silent"
                               : "every stem is muted or removed: the mix is silent");
  }
  stems::StemDirWriter out(output, force);
  audio::Writer writer = out.open_stem("mix", sum.sample_rate_hz(), sum.channels());
  metrics::LoudnessMeter meter(
      sum.channels(), sum.sample_rate_hz(),
      metrics::LoudnessMeter::kIntegrated | metrics::LoudnessMeter::kSamplePeak);
  std::vector<float> block(kBlockFrames * static_cast<size_t>(sum.channels()));
  int64_t done = 0;
  for (;;) {
    throw_if_interrupted();
    const size_t n = sum.read(block.data(), kBlockFrames);
    if (n == 0) break;
    writer.write(block.data(), n);
    meter.add(block.data(), n);
    done += static_cast<int64_t>(n);
    report(progress, "mix", sum.frames() > 0 ? double(done) / sum.frames() : 1.0);
  }
  writer.close();
  out.add_stem("mix", done);
  const double peak = meter.sample_peak_dbfs();
  rep.peak_dbfs = peak;
  rep.headroom_db = -peak;
  rep.integrated_lufs = meter.integrated_lufs();
  if (peak > 0.0) {
    rep.warnings.push_back("the sum peaks at +" + fixed(peak) +
                           " dBFS (kept in float; rz-master brings it under its ceiling)");
  }
  stems::Manifest& m = out.manifest();
  m.inherit(in.manifest());
  json entry = provenance;
  entry["inputs"] = in.manifest().stem_hashes();
  entry["parameters"] = options.to_json();
  entry["parameters"]["active_stems"] = rep.active_stems;
  entry["parameters"]["left_out"] = rep.left_out;
  entry["metrics"] = {{"after",
                       {{"peak_dbfs", metrics::json_level(peak)},
                        {"headroom_db", metrics::json_level(-peak)},
                        {"integrated_lufs", metrics::json_level(rep.integrated_lufs)}}}};
  entry["elapsed_s"] = stage::seconds_since(t0);
  m.history.push_back(entry);
  rep.output = out.commit();
  rep.details.push_back("headroom " + fixed(rep.headroom_db) + " dB");
  rep.record = {{"output", rep.output.string()},
                {"peak_dbfs", metrics::json_level(peak)},
                {"headroom_db", metrics::json_level(-peak)},
                {"integrated_lufs", metrics::json_level(rep.integrated_lufs)},
                {"stems", rep.active_stems}};
  return rep;
}

}  // namespace rz::mix
