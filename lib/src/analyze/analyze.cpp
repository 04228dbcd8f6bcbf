// rz-analyze's library side (rz/analyze/analyze.hpp).
#include "rz/analyze/analyze.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include "rz/analyze/key.hpp"
#include "rz/analyze/notes.hpp"
#include "rz/error.hpp"
#include "rz/io/file.hpp"
#include "rz/io/json.hpp"
#include "rz/metrics/loudness.hpp"
#include "rz/mix/mix.hpp"
#include "rz/stems/stem_dir.hpp"

namespace rz::analyze {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr size_t kBlockFrames = 65536;
constexpr double kStepS = 0.1;             // loudness step (BS.1770's 100 ms)
constexpr double kAbsoluteGateLufs = -70;  // BS.1770
constexpr double kLoudPercentile = 0.95;
constexpr int kDecimals = 3;  // times in ms

double round_to(double v, int decimals) {
  const double s = std::pow(10.0, decimals);
  return std::round(v * s) / s;
}

json times_json(const std::vector<double>& t) {
  json a = json::array();
  for (double v : t) a.push_back(round_to(v, kDecimals));
  return a;
}

double level_json(double v) { return std::isfinite(v) ? round_to(v, 2) : -200.0; }

// Where a stem plays (rz/analyze/analyze.hpp: Activity).
json activity(const std::vector<float>& momentary) {
  std::vector<float> loud;
  for (float v : momentary) {
    if (v >= kAbsoluteGateLufs) loud.push_back(v);
  }
  json out = {{"segments_s", json::array()}, {"share", 0.0}};
  if (loud.empty()) {
    out["loud_lufs"] = -200.0;
    return out;
  }
  std::sort(loud.begin(), loud.end());
  const double ref =
      loud[static_cast<size_t>(kLoudPercentile * static_cast<double>(loud.size() - 1))];
  const double gate = std::max(kActivityGateLufs, ref - kActivityRangeLu);
  out["loud_lufs"] = level_json(ref);
  out["gate_lufs"] = level_json(gate);
  // Step i's momentary block ends at (i + 1) 100 ms and spans 400 ms: centred 0.2 s earlier.
  std::vector<std::pair<double, double>> seg;
  for (size_t i = 0; i < momentary.size(); ++i) {
    if (!(momentary[i] >= gate)) continue;
    const double a = std::max(0.0, (static_cast<double>(i) + 1) * kStepS - 0.2 - kStepS / 2);
    const double b = a + kStepS;
    if (!seg.empty() && a - seg.back().second < kActivityBridgeS) {
      seg.back().second = b;
    } else {
      seg.emplace_back(a, b);
    }
  }
  double total = 0;
  for (const auto& [a, b] : seg) {
    if (b - a < kActivityMinS) continue;
    out["segments_s"].push_back({round_to(a, 1), round_to(b, 1)});
    total += b - a;
  }
  const double dur = static_cast<double>(momentary.size()) * kStepS;
  out["share"] = dur > 0 ? round_to(std::min(1.0, total / dur), 3) : 0.0;
  return out;
}

json loudness_curve(const std::vector<float>& short_term) {
  const auto every = static_cast<size_t>(std::lround(kCurveStepS / kStepS));
  json v = json::array();
  for (float x : metrics::every_nth_step(short_term, every)) v.push_back(level_json(x));
  return {{"step_s", kCurveStepS}, {"window_s", 3.0}, {"short_term_lufs", v}};
}

json pitch_json(const PitchTrack& t) {
  json f0 = json::array();
  for (float v : t.f0_hz) f0.push_back(round_to(v, 2));
  return {{"hop_s", t.hop_s},
          {"first_s", round_to(t.first_s, 4)},
          {"voiced_share", round_to(t.voiced_share, 3)},
          {"median_hz", round_to(t.median_hz, 2)},
          {"median_note", note_name(t.median_hz)},
          {"low_hz", round_to(t.low_hz, 2)},
          {"high_hz", round_to(t.high_hz, 2)},
          {"f0_hz", f0}};
}

bool monophonic_name(const std::string& name) {
  for (const char* n : {"vocals", "vocal", "voice", "lead", "bass"}) {
    if (name == n) return true;
  }
  return false;
}

// One streamed pass over some audio, feeding the analysers it was asked for.
struct Pass {
  bool programme = false;  // tempo, key
  bool onsets = false;
  bool pitch = false;
};

struct PassResult {
  std::optional<Tempo> tempo;
  std::optional<Key> key;
  std::vector<double> onsets;
  std::optional<PitchTrack> pitch;
  std::vector<float> momentary;
  json curve;
};

template <typename Read>
PassResult run_pass(Read&& read, int channels, int rate, int64_t frames, const Pass& what,
                    const Options& options, const Progress& progress) {
  std::optional<OnsetEnvelope> env;
  std::optional<KeyDetector> key;
  std::optional<OnsetDetector> onsets;
  std::optional<PitchTracker> pitch;
  if (what.programme) {
    env.emplace(rate);
    key.emplace(rate);
  }
  if (what.onsets) onsets.emplace(rate);
  if (what.pitch) pitch.emplace(rate);
  metrics::LoudnessMeter loud(channels, rate, metrics::LoudnessMeter::kSeries);
  std::vector<float> block(kBlockFrames * static_cast<size_t>(channels));
  std::vector<float> mono(kBlockFrames);
  int64_t done = 0;
  for (;;) {
    throw_if_interrupted();
    const size_t n = read(block.data(), kBlockFrames);
    if (n == 0) break;
    const auto ch = static_cast<size_t>(channels);
    for (size_t i = 0; i < n; ++i) {
      float s = 0;
      for (size_t c = 0; c < ch; ++c) s += block[i * ch + c];
      mono[i] = s / static_cast<float>(ch);
    }
    loud.add(block.data(), n);
    if (env) env->push(mono.data(), n);
    if (key) key->push(mono.data(), n);
    if (onsets) onsets->push(mono.data(), n);
    if (pitch) pitch->push(mono.data(), n);
    done += static_cast<int64_t>(n);
    report(progress, "analyse",
           frames > 0 ? static_cast<double>(done) / static_cast<double>(frames) : 1.0);
  }
  PassResult r;
  if (env) {
    env->finish();
    r.tempo = track_tempo(*env, options.tempo);
  }
  if (key) r.key = key->finish();
  if (onsets) r.onsets = onsets->finish();
  if (pitch) r.pitch = pitch->finish();
  r.momentary = loud.momentary_series();
  r.curve = loudness_curve(loud.short_term_series());
  return r;
}

json tempo_json(const Tempo& t) {
  return {{"bpm", round_to(t.bpm, 2)},
          {"confidence", round_to(t.confidence, 3)},
          {"alternation", round_to(t.alternation, 3)},
          {"beats", t.beats_s.size()},
          {"beats_s", times_json(t.beats_s)}};
}

json key_json(const Key& k) {
  if (k.tonic < 0) return {{"name", nullptr}};
  json chroma = json::array();
  for (double v : k.chroma) chroma.push_back(round_to(v, 4));
  return {{"name", k.name()},
          {"tonic", tonic_name(k.tonic, k.minor)},
          {"mode", k.minor ? "minor" : "major"},
          {"camelot", k.camelot()},
          {"confidence", round_to(k.confidence, 3)},
          {"correlation", round_to(k.correlation, 3)},
          {"runner_up", k.runner_up_name()},
          {"chroma", chroma}};
}

struct Source {
  std::string name;
  fs::path file;
  std::string role;
};

std::vector<std::string> pitch_selection(const std::vector<Source>& stems, const Options& o) {
  std::vector<std::string> out;
  if (o.pitch_stems.empty()) {
    for (const auto& s : stems) {
      if (monophonic_name(s.name)) out.push_back(s.name);
    }
    return out;
  }
  for (const auto& p : o.pitch_stems) {
    if (p == "none") return {};
    if (p == "all") {
      for (const auto& s : stems) out.push_back(s.name);
      return out;
    }
    const bool known =
        std::any_of(stems.begin(), stems.end(), [&](const Source& s) { return s.name == p; });
    if (!known) {
      std::string names;
      for (const auto& s : stems) names += (names.empty() ? "" : ", ") + s.name;
      throw UsageError("--pitch: no stem '" + p + "' (stems: " + names + ")");
    }
    out.push_back(p);
  }
  return out;
}

// Runs `tasks` on up to hardware_concurrency() threads; rethrows the first failure after all
// have stopped (an interruption stops each at its next block).
void run_tasks(const std::vector<std::function<void()>>& tasks) {
  const size_t workers = std::max<size_t>(
      1, std::min<size_t>(tasks.size(), std::max(1u, std::thread::hardware_concurrency())));
  std::atomic<size_t> next{0};
  std::mutex error_mutex;
  std::exception_ptr error;
  auto work = [&] {
    for (size_t i; (i = next++) < tasks.size();) {
      {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (error) return;
      }
      try {
        tasks[i]();
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
      }
    }
  };
  std::vector<std::thread> pool;
  for (size_t w = 1; w < workers; ++w) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace

Report analyze(const fs::path& input, const fs::path& sidecar, bool force, const Options& options,
               const json& provenance, const Progress& progress) {
  const auto t0 = std::chrono::steady_clock::now();
  const bool dir = stems::is_stem_dir(input);
  std::optional<stems::StemDir> sd;
  std::vector<Source> sources;
  if (dir) {
    sd.emplace(stems::StemDir::open(
        input, options.verify_hashes ? stems::Verify::kHashes : stems::Verify::kHeaders));
    for (const auto& s : sd->manifest().stems)
      sources.push_back({s.name, sd->stem_path(s), s.role});
    if (sources.empty())
      throw InputError("cannot analyse", input.string(), "the directory has no stems");
  } else {
    if (fs::is_directory(input)) {
      throw InputError("cannot analyse", input.string(), "a directory without an rz manifest.json");
    }
    std::string name = input.stem().string();
    if (!stems::bad_stem_name_reason(name).empty()) name = "audio";
    sources.push_back({name, input, ""});
  }
  const auto pitch_for = pitch_selection(sources, options);
  auto wants_pitch = [&](const std::string& n) {
    return std::find(pitch_for.begin(), pitch_for.end(), n) != pitch_for.end();
  };

  json a = {{"analyzer", "rz-analyze"}};
  json stems_json = json::object();
  const bool one = sources.size() == 1;
  Report rep;
  // The programme pass (the one stem, or the unity sum) and one pass per stem of a directory with
  // several: independent, so they run on up to hardware_concurrency() threads (aubio serialises its
  // FFT planning itself).
  std::vector<std::optional<PassResult>> results(one ? 1 : 1 + sources.size());
  std::optional<mix::Programme> programme;
  if (dir) {
    programme.emplace(*sd);
  } else {
    programme.emplace(input);
  }
  const int rate = programme->sample_rate_hz(), channels = programme->channels();
  const int64_t frames = programme->frames();
  std::mutex progress_mutex;
  std::vector<double> done_share(results.size(), 0.0);
  auto task_progress = [&](size_t task) -> Progress {
    if (!progress) return {};
    return [&, task](std::string_view, double f) {
      std::lock_guard<std::mutex> lock(progress_mutex);
      done_share[task] = f;
      double total = 0;
      for (double d : done_share) total += d;
      progress("analyse", total / static_cast<double>(done_share.size()));
    };
  };
  std::vector<std::function<void()>> tasks;
  tasks.emplace_back([&] {
    results[0] =
        run_pass([&](float* b, size_t n) { return programme->read(b, n); }, channels, rate, frames,
                 Pass{true, true, one && wants_pitch(sources[0].name)}, options, task_progress(0));
  });
  if (!one) {
    for (size_t i = 0; i < sources.size(); ++i) {
      tasks.emplace_back([&, i] {
        audio::Reader r(sources[i].file);
        results[i + 1] = run_pass([&](float* b, size_t n) { return r.read(b, n); },
                                  r.info().channels, r.info().sample_rate_hz, r.info().frames,
                                  Pass{false, true, wants_pitch(sources[i].name)}, options,
                                  task_progress(i + 1));
      });
    }
  }
  run_tasks(tasks);
  const PassResult& prog = *results[0];
  a["sample_rate_hz"] = rate;
  a["channels"] = channels;
  a["duration_s"] = rate > 0 ? round_to(static_cast<double>(frames) / rate, kDecimals) : 0.0;
  a["tempo"] = tempo_json(*prog.tempo);
  a["key"] = key_json(*prog.key);
  a["onsets_s"] = times_json(prog.onsets);
  a["loudness"] = prog.curve;
  a["programme"] =
      one ? "the stem '" + sources[0].name + "'" : "the unity sum of the ordinary stems";
  if (one) {
    json s = {{"activity", activity(prog.momentary)}};
    if (prog.pitch) s["pitch"] = pitch_json(*prog.pitch);
    stems_json[sources[0].name] = s;
  } else {
    for (size_t i = 0; i < sources.size(); ++i) {
      const auto& src = sources[i];
      const PassResult& res = *results[i + 1];
      json s = {{"activity", activity(res.momentary)}, {"onsets_s", times_json(res.onsets)}};
      if (!src.role.empty()) s["role"] = src.role;
      if (res.pitch) s["pitch"] = pitch_json(*res.pitch);
      stems_json[src.name] = s;
    }
  }
  a["stems"] = stems_json;
  const double elapsed = stage::seconds_since(t0);

  json params = {{"min_bpm", options.tempo.min_bpm},
                 {"max_bpm", options.tempo.max_bpm},
                 {"pitch_stems", pitch_for}};
  json summary = {{"bpm", a["tempo"]["bpm"]},
                  {"key", a["key"]["name"]},
                  {"camelot", a["key"].value("camelot", json())},
                  {"onsets", prog.onsets.size()}};
  if (dir && sidecar.empty()) {
    // Into the directory's own manifest, replaced atomically; the audio is not touched.
    const fs::path mpath = input / stems::kManifestFile;
    auto m = sd->manifest();
    m.music = a;
    json entry = provenance;
    entry["inputs"] = m.stem_hashes();
    entry["parameters"] = params;
    entry["results"] = summary;
    entry["elapsed_s"] = elapsed;
    m.history.push_back(entry);
    stems::AtomicFile out(mpath, true);
    stems::write_text_file(out.temp_path(), io::dump_json(m.to_json(), 2) + "\n");
    out.commit();
    rep.output = input;  // the directory, for the next tool on the pipe
  } else {
    const fs::path path = sidecar.empty() ? fs::path(input.string() + ".analysis.json") : sidecar;
    json doc = {{"input", input.string()}, {"analysis", a}};
    json entry = provenance;
    if (dir) entry["inputs"] = sd->manifest().stem_hashes();
    entry["parameters"] = params;
    entry["results"] = summary;
    entry["elapsed_s"] = elapsed;
    doc["history"] = json::array({entry});
    stems::AtomicFile out(path, force);
    stems::write_text_file(out.temp_path(), io::dump_json(doc, 2) + "\n");
    out.commit();
    rep.output = path;
  }
  rep.analysis = a;
  rep.record = a;
  const double dur = a["duration_s"].get<double>();
  if (elapsed > 0 && dur > 0) {
    rep.details.push_back("analysed " + fixed(dur, 1) + " s of audio in " + fixed(elapsed, 2) +
                          " s (" + fixed(dur / elapsed, 0) + "x real time)");
  }
  if (prog.tempo->bpm <= 0) rep.notes.push_back("no steady beat found");
  return rep;
}

std::string format_table(const json& a) {
  std::ostringstream o;
  const auto& t = a["tempo"];
  const auto& k = a["key"];
  o << "duration   " << fixed(a["duration_s"].get<double>(), 1) << " s, "
    << a["sample_rate_hz"].get<int>() << " Hz, " << a["channels"].get<int>() << " ch\n";
  if (t["bpm"].get<double>() > 0) {
    o << "tempo      " << fixed(t["bpm"].get<double>(), 1) << " BPM (confidence "
      << fixed(t["confidence"].get<double>(), 2) << "), " << t["beats"].get<size_t>() << " beats\n";
  } else {
    o << "tempo      no steady beat\n";
  }
  if (!k["name"].is_null()) {
    o << "key        " << k["name"].get<std::string>() << " (" << k["camelot"].get<std::string>()
      << "), confidence " << fixed(k["confidence"].get<double>(), 2) << "; runner-up "
      << k["runner_up"].get<std::string>() << "\n";
  } else {
    o << "key        none (silence)\n";
  }
  o << "onsets     " << a["onsets_s"].size() << "\n";
  float lo = 1e9f, hi = -1e9f;
  for (const auto& v : a["loudness"]["short_term_lufs"]) {
    const auto x = v.get<float>();
    if (x > -199) {
      lo = std::min(lo, x);
      hi = std::max(hi, x);
    }
  }
  if (hi > lo) o << "loudness   short-term " << fixed(lo, 1) << " .. " << fixed(hi, 1) << " LUFS\n";
  o << "stem         active  segments  onsets  pitch\n";
  for (const auto& [name, s] : a["stems"].items()) {
    char line[256];
    const auto& act = s["activity"];
    std::string pitch = "-";
    if (s.contains("pitch")) {
      const auto& p = s["pitch"];
      pitch = p["voiced_share"].get<double>() > 0
                  ? "median " + fixed(p["median_hz"].get<double>(), 1) + " Hz (" +
                        p["median_note"].get<std::string>() + "), voiced " +
                        fixed(100 * p["voiced_share"].get<double>(), 0) + " %"
                  : "unvoiced";
    }
    const std::string onsets = s.contains("onsets_s") ? std::to_string(s["onsets_s"].size()) : "-";
    std::snprintf(line, sizeof line, "%-12s %5.0f %%  %8zu  %6s  %s\n", name.c_str(),
                  100 * act["share"].get<double>(), act["segments_s"].size(), onsets.c_str(),
                  pitch.c_str());
    o << line;
  }
  return o.str();
}

}  // namespace rz::analyze
