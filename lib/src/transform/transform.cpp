#include "rz/transform/transform.hpp"

#include <rubberband/RubberBandStretcher.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <exception>
#include <map>
#include <memory>
#include <thread>

#include "rz/audio/file.hpp"
#include "rz/dsp/units.hpp"
#include "rz/error.hpp"
#include "rz/stems/process.hpp"

namespace rz::transform {
namespace fs = std::filesystem;
using json = nlohmann::json;
using RubberBand::RubberBandStretcher;

namespace {

// Frames per block handed to the stretcher and read from a stem.
constexpr size_t kBlockFrames = stems::kStemBlockFrames;
// Polls of an empty stretcher after its last block before its output is taken as complete.
constexpr int kMaxIdlePolls = 1000;
// How often the main thread looks at the workers for progress and an interrupt.
constexpr auto kPollInterval = std::chrono::milliseconds(50);

// Rubber Band's log goes nowhere: the library never prints.
class SilentLogger : public RubberBandStretcher::Logger {
 public:
  void log(const char*) override {}
  void log(const char*, double) override {}
  void log(const char*, double, double) override {}
};

bool selected(const Options& o, const std::string& name) {
  return o.stems.empty() || std::find(o.stems.begin(), o.stems.end(), name) != o.stems.end();
}

// One stem's work, done on a worker thread.
struct Job {
  const stems::StemEntry* entry = nullptr;
  fs::path src;
  double pitch_scale = 1.0;
  std::atomic<int64_t> done{0};  // frames studied plus frames processed: 2 x frames at the end
  int64_t frames_in = 0, frames_out = 0;
  double peak = 0;
  bool silent = false;  // all zero with no tempo change: copied (nothing to shift)
  double elapsed_s = 0;
  std::exception_ptr error;
};

RubberBandStretcher::Options stretcher_options(const Options& o) {
  RubberBandStretcher::Options f =
      RubberBandStretcher::OptionProcessOffline | RubberBandStretcher::OptionEngineFiner;
  if (o.window == Window::kShort) f |= RubberBandStretcher::OptionWindowShort;
  if (o.preserve_formants) f |= RubberBandStretcher::OptionFormantPreserved;
  // Stereo image: the channels stay locked to each other over the whole band, or a stem's
  // stereo would widen and smear.
  f |= RubberBandStretcher::OptionChannelsTogether;
  return f | RubberBandStretcher::OptionThreadingNever;  // stems run in parallel instead
}

// Streams `job.src` through a stretcher into its stem of `out` (float WAV), in Rubber Band's two
// offline passes: study, then process. The output has exactly round(frames x time_ratio) frames.
void stretch(Job& job, const Options& o, const stems::StemDirWriter& out, int sample_rate_hz) {
  const auto t0 = std::chrono::steady_clock::now();
  audio::Reader reader(job.src);
  const int ch = reader.info().channels;
  const int64_t n = reader.info().frames;
  const double ratio = o.time_ratio();
  job.frames_in = n;
  const auto expected = static_cast<int64_t>(std::llround(static_cast<double>(n) * ratio));

  RubberBandStretcher rb(static_cast<size_t>(sample_rate_hz), static_cast<size_t>(ch),
                         std::make_shared<SilentLogger>(), stretcher_options(o), ratio,
                         job.pitch_scale);
  rb.setExpectedInputDuration(static_cast<size_t>(n));
  rb.setMaxProcessSize(kBlockFrames);
  // One time line for every stem: input frame k at output frame round(k x ratio) every
  // key_frame_s (see transform.hpp).
  if (o.key_frame_s > 0) {
    std::map<size_t, size_t> keys;
    const auto step = std::max<int64_t>(1, std::llround(o.key_frame_s * sample_rate_hz));
    for (int64_t k = step; k < n; k += step)
      keys[static_cast<size_t>(k)] =
          static_cast<size_t>(std::llround(static_cast<double>(k) * ratio));
    if (!keys.empty()) rb.setKeyFrameMap(keys);
  }

  std::vector<float> block(kBlockFrames * static_cast<size_t>(ch));
  std::vector<std::vector<float>> planes(static_cast<size_t>(ch), std::vector<float>(kBlockFrames));
  std::vector<const float*> in_ptr(static_cast<size_t>(ch));
  std::vector<float*> out_ptr(static_cast<size_t>(ch));
  for (int c = 0; c < ch; ++c) {
    in_ptr[static_cast<size_t>(c)] = planes[static_cast<size_t>(c)].data();
    out_ptr[static_cast<size_t>(c)] = planes[static_cast<size_t>(c)].data();
  }
  // One pass over the stem: each block, checked and split into `planes`, handed to
  // consume(frames, last).
  auto pass = [&](const auto& consume) {
    reader.seek(0);
    for (int64_t at = 0; at < n;) {
      throw_if_interrupted();
      const size_t got = reader.read(block.data(), kBlockFrames);
      if (got == 0) throw InputError("cannot read", job.src.string(), "the file ended early");
      audio::check_finite(block.data(), got, ch, at, sample_rate_hz, job.src);
      for (size_t i = 0; i < got; ++i)
        for (int c = 0; c < ch; ++c)
          planes[static_cast<size_t>(c)][i] =
              block[i * static_cast<size_t>(ch) + static_cast<size_t>(c)];
      at += static_cast<int64_t>(got);
      consume(got, at >= n);
      job.done += static_cast<int64_t>(got);
    }
  };

  bool all_zero = true;
  pass([&](size_t got, bool last) {
    rb.study(in_ptr.data(), got, last);
    for (size_t i = 0; all_zero && i < got * static_cast<size_t>(ch); ++i) all_zero = block[i] == 0;
  });
  if (all_zero && expected == n) {  // silence shifted in pitch is the same silence
    job.silent = true;
    job.done += n;
    job.elapsed_s = stage::seconds_since(t0);
    return;
  }

  audio::Writer writer = out.open_stem(job.entry->name, sample_rate_hz, ch);
  std::vector<float> out_block(kBlockFrames * static_cast<size_t>(ch));
  int64_t written = 0;
  // Takes what the stretcher has ready (up to `expected` frames in all) into the output file.
  auto drain = [&]() {
    for (;;) {
      const int avail = rb.available();
      if (avail <= 0) return avail;
      const size_t want = std::min<size_t>(static_cast<size_t>(avail), kBlockFrames);
      const size_t got = rb.retrieve(out_ptr.data(), want);
      const auto keep = static_cast<size_t>(
          std::clamp<int64_t>(expected - written, 0, static_cast<int64_t>(got)));
      for (size_t i = 0; i < keep; ++i)
        for (int c = 0; c < ch; ++c) {
          const float v = planes[static_cast<size_t>(c)][i];
          out_block[i * static_cast<size_t>(ch) + static_cast<size_t>(c)] = v;
          job.peak = std::max(job.peak, static_cast<double>(std::fabs(v)));
        }
      if (keep > 0) writer.write(out_block.data(), keep);
      written += static_cast<int64_t>(keep);
    }
  };
  if (n == 0) rb.process(in_ptr.data(), 0, true);
  pass([&](size_t got, bool last) {
    rb.process(in_ptr.data(), got, last);
    drain();
  });
  // After the last block the rest is ready at once (no threads of the library's own): available()
  // reads -1 once all of it has been taken. It is not waited for without end.
  for (int idle = 0; drain() == 0 && idle < kMaxIdlePolls; ++idle)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  // Rubber Band's offline output is exact; should a version deliver a few frames short, the
  // length is kept with silence (the stems must stay the same length).
  std::fill(out_block.begin(), out_block.end(), 0.0f);
  while (written < expected) {
    const auto k = static_cast<size_t>(std::min<int64_t>(expected - written, kBlockFrames));
    writer.write(out_block.data(), k);
    written += static_cast<int64_t>(k);
  }
  writer.close();
  job.frames_out = written;
  job.elapsed_s = stage::seconds_since(t0);
}

}  // namespace

double Options::pitch_scale() const { return std::exp2(pitch_semitones / 12.0); }
double Options::time_ratio() const { return 1.0 / tempo; }

void Options::validate(const stems::StemDir& dir) const {
  if (!std::isfinite(pitch_semitones) || std::fabs(pitch_semitones) > kMaxPitchSemitones)
    throw UsageError(describe("bad --pitch", fixed(pitch_semitones),
                              "use -" + fixed(kMaxPitchSemitones, 0) + " to +" +
                                  fixed(kMaxPitchSemitones, 0) + " semitones"));
  if (!std::isfinite(tempo) || tempo < kMinTempo || tempo > kMaxTempo)
    throw UsageError(describe("bad --tempo", fixed(tempo),
                              "use a ratio from " + fixed(kMinTempo) + " to " +
                                  fixed(kMaxTempo, 0) + " (1.25 is 25 % faster)"));
  if (threads < 0) throw UsageError("bad threads: " + std::to_string(threads));
  if (!std::isfinite(key_frame_s) || key_frame_s < 0)
    throw UsageError("bad key-frame interval: " + fixed(key_frame_s));
  for (const auto& s : stems) dir.stem(s);  // throws naming the stems there are
}

json Options::to_json() const {
  return {{"pitch_semitones", pitch_semitones},
          {"pitch_scale", pitch_scale()},
          {"tempo", tempo},
          {"time_ratio", time_ratio()},
          {"formants", preserve_formants ? "preserved" : "shifted"},
          {"engine", "finer"},
          {"window", window_name(window)},
          {"stems", stems},
          {"key_frame_s", key_frame_s},
          {"library", "rubberband " + library_version()}};
}

Window parse_window(const std::string& name) {
  if (name == "standard") return Window::kStandard;
  if (name == "short") return Window::kShort;
  throw UsageError(describe("bad --window", printable(name), "use standard or short"));
}

std::string window_name(Window window) {
  return window == Window::kStandard ? "standard" : "short";
}

std::string library_version() {
#ifdef RUBBERBAND_VERSION
  return RUBBERBAND_VERSION;
#else
  return "unknown";
#endif
}

Report transform(const stems::StemDir& in, const fs::path& output, bool force,
                 const Options& options, const json& provenance, const Progress& progress) {
  const auto t0 = std::chrono::steady_clock::now();
  options.validate(in);
  const stems::Manifest& im = in.manifest();
  const bool tempo_changes = options.tempo != 1.0;
  const bool pitch_changes = options.pitch_semitones != 0.0;

  stems::StemDirWriter out(output, force);
  std::vector<std::unique_ptr<Job>> jobs;
  for (const auto& e : im.stems) {
    const bool shift = pitch_changes && selected(options, e.name);
    if (!shift && !tempo_changes) continue;
    auto job = std::make_unique<Job>();
    job->entry = &e;
    job->src = in.stem_path(e);
    job->pitch_scale = shift ? options.pitch_scale() : 1.0;
    jobs.push_back(std::move(job));
  }

  // Workers take the stems in turn (R3 runs on one thread per stretcher).
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const size_t workers = std::min<size_t>(
      jobs.size(), options.threads > 0 ? static_cast<size_t>(options.threads) : cores);
  std::atomic<size_t> next{0}, finished{0};
  std::atomic<bool> failed{false};
  auto work = [&]() {
    for (size_t i; !failed && (i = next++) < jobs.size();) {
      try {
        stretch(*jobs[i], options, out, im.sample_rate_hz);
      } catch (...) {
        jobs[i]->error = std::current_exception();
        failed = true;
      }
    }
    ++finished;
  };
  int64_t total = 0;
  for (const auto& j : jobs) total += 2 * j->entry->frames;
  struct Pool {  // joined however this scope is left
    std::vector<std::thread> threads;
    std::atomic<bool>& stop;
    ~Pool() {
      stop = true;
      for (auto& t : threads)
        if (t.joinable()) t.join();
    }
  } pool{{}, failed};
  for (size_t w = 0; w < workers; ++w) pool.threads.emplace_back(work);
  while (finished < workers) {  // progress from this thread only: the callback is not shared
    int64_t done = 0;
    for (const auto& j : jobs) done += j->done;
    report(progress, "transform", total > 0 ? double(done) / double(total) : 1.0);
    std::this_thread::sleep_for(kPollInterval);
  }
  for (auto& t : pool.threads) t.join();
  for (const auto& j : jobs)
    if (j->error) std::rethrow_exception(j->error);

  Report rep;
  json stems_record = json::object();
  for (const auto& e : im.stems) {
    const auto it = std::find_if(jobs.begin(), jobs.end(),
                                 [&](const auto& j) { return j->entry->name == e.name; });
    json r = {{"input_sha256", e.sha256}};
    if (!e.role.empty()) r["role"] = e.role;
    if (it == jobs.end() || (*it)->silent) {
      stems::copy_stem(out, e, in.stem_path(e));
      r["result"] = "unprocessed";
      r["why"] = it != jobs.end()                 ? "silent: nothing to shift"
                 : pitch_changes || tempo_changes ? "not selected (--stems)"
                                                  : "no pitch shift and no tempo change";
      if (it != jobs.end()) r["elapsed_s"] = (*it)->elapsed_s;
      rep.copied.push_back(e.name);
    } else {
      const Job& j = **it;
      out.add_stem(e.name, j.frames_out);
      if (!e.role.empty()) out.set_stem_role(e.name, e.role);
      r["result"] = "processed";
      r["pitch_semitones"] = j.pitch_scale != 1.0 ? options.pitch_semitones : 0.0;
      r["frames_in"] = j.frames_in;
      r["frames_out"] = j.frames_out;
      r["peak_dbfs"] = dsp::json_level(dsp::amplitude_to_db(j.peak));
      r["elapsed_s"] = j.elapsed_s;
      rep.transformed.push_back(e.name);
      rep.frames_in = j.frames_in;
      rep.frames_out = j.frames_out;
      if (j.peak > 1.0)
        rep.warnings.push_back(e.name + ": peaks at +" + fixed(dsp::amplitude_to_db(j.peak)) +
                               " dBFS (kept in float; rz-master brings it under its ceiling)");
    }
    stems_record[e.name] = r;
  }

  stems::Manifest& m = out.manifest();
  m.inherit(im);
  json entry = provenance;
  entry["inputs"] = im.stem_hashes();
  entry["parameters"] = options.to_json();
  entry["stems"] = stems_record;
  entry["elapsed_s"] = stage::seconds_since(t0);
  m.history.push_back(entry);
  rep.output = out.commit();

  if (!pitch_changes && !tempo_changes) {
    rep.notes.push_back("no pitch shift and no tempo change: every stem copied");
  } else {
    std::string what;
    if (pitch_changes) {
      what = (options.pitch_semitones > 0 ? "+" : "") + fixed(options.pitch_semitones) +
             " semitones" + (options.preserve_formants ? " (formants kept)" : "");
    }
    if (tempo_changes) what += (what.empty() ? "tempo x" : ", tempo x") + fixed(options.tempo, 3);
    rep.notes.push_back(what + ": " +
                        (rep.transformed.empty() ? "no stem" : join(rep.transformed, ", ")) +
                        (rep.copied.empty() ? "" : "; copied " + join(rep.copied, ", ")));
    for (const auto& j : jobs)
      if (j->silent) rep.notes.push_back(j->entry->name + ": silent, copied (nothing to shift)");
    if (tempo_changes && !options.stems.empty())
      rep.notes.push_back("the tempo applies to every stem (a directory's stems share one length)");
  }
  rep.details.push_back("rubberband " + library_version() + ", R3 engine, " +
                        window_name(options.window) + " window");
  json rec_stems = json::object();
  for (const auto& [name, r] : stems_record.items()) rec_stems[name] = r["result"];
  rep.record = {{"output", rep.output.string()},
                {"stems", rec_stems},
                {"pitch_semitones", options.pitch_semitones},
                {"tempo", options.tempo},
                {"frames_in", im.frames},
                {"frames_out", m.frames}};
  return rep;
}

}  // namespace rz::transform
