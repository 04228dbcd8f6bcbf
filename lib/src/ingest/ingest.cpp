// Ingest: one decode pass feeding the analysis (this thread) and resampling + writing (a worker),
// or, with --preview, an analysis pass then a second pass over the loudest window.
#include "rz/ingest/ingest.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "rz/audio/decode.hpp"
#include "rz/audio/file.hpp"
#include "rz/error.hpp"
#include "rz/metrics/loudness.hpp"
#include "rz/stems/sha256.hpp"
#include "rz/stems/stem_dir.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace rz::ingest {

namespace {

constexpr size_t kBlockFrames = 65536;
constexpr double kEnergyStepS = 0.1;  // resolution of the loudest-window search for --preview
constexpr double kLargeDcOffset = 0.01;
constexpr double kNoticeableClipRatio = 1e-4;

// Resamples and writes blocks to the stem file, measuring what is written.
class StemSink {
 public:
  StemSink(audio::Writer writer, int channels, int from_hz, int to_hz, audio::ResampleQuality q)
      : writer_(std::move(writer)),
        resampler_(channels, from_hz, to_hz, q),
        meter_(channels, to_hz,
               metrics::LoudnessMeter::kIntegrated | metrics::LoudnessMeter::kSamplePeak) {}
  void push(const float* x, size_t frames, bool end) {
    out_.clear();
    resampler_.process(x, frames, end, out_);
    const size_t n = out_.size() / static_cast<size_t>(writer_.spec().channels);
    if (n > 0) {
      writer_.write(out_.data(), n);
      meter_.add(out_.data(), n);
    }
  }
  int64_t close() {
    writer_.close();
    return writer_.frames_written();
  }
  const metrics::LoudnessMeter& meter() const { return meter_; }

 private:
  audio::Writer writer_;
  audio::Resampler resampler_;
  metrics::LoudnessMeter meter_;
  std::vector<float> out_;
};

// Runs a StemSink on its own thread behind a short queue, so that resampling (the costliest stage)
// never waits in lock-step for the analysis, nor the analysis for it. Errors surface on the next
// submit() or on finish().
class AsyncSink {
 public:
  explicit AsyncSink(StemSink& sink) : sink_(sink), worker_([this] { work(); }) {}
  ~AsyncSink() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    changed_.notify_all();
    worker_.join();
  }
  // Queues a copy of `frames` frames (`end`: the last call, which drains the resampler).
  void submit(const float* x, size_t frames, size_t channels, bool end) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [this] { return queue_.size() < kDepth || error_; });
    if (error_) std::rethrow_exception(error_);
    queue_.push_back({std::vector<float>(x, x + frames * channels), frames, end});
    changed_.notify_all();
  }
  // Waits until everything queued is written.
  void finish() {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [this] { return (queue_.empty() && !busy_) || error_; });
    if (error_) std::rethrow_exception(error_);
  }

 private:
  static constexpr size_t kDepth = 3;
  struct Job {
    std::vector<float> data;
    size_t frames;
    bool end;
  };
  void work() {
    for (;;) {
      Job job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait(lock, [this] { return !queue_.empty() || stop_; });
        if (stop_) return;  // abandoned (an error or interrupt upstream): drop what is queued
        job = std::move(queue_.front());
        queue_.pop_front();
        busy_ = true;
      }
      try {
        if (!error_) sink_.push(job.data.data(), job.frames, job.end);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex_);
        error_ = std::current_exception();
      }
      {
        std::lock_guard<std::mutex> lock(mutex_);
        busy_ = false;
      }
      changed_.notify_all();
    }
  }
  StemSink& sink_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Job> queue_;
  bool busy_ = false;
  bool stop_ = false;
  std::exception_ptr error_;
  std::thread worker_;  // last: started after everything it uses exists
};

[[noreturn]] void refuse(const fs::path& input, const std::string& why) {
  throw InputError("refusing", input.string(), why);
}

}  // namespace

void Options::validate() const {
  if (sample_rate_hz < stems::kMinSampleRateHz || sample_rate_hz > stems::kMaxSampleRateHz) {
    throw UsageError(describe("bad --rate", std::to_string(sample_rate_hz),
                              "use " + std::to_string(stems::kMinSampleRateHz) + ".." +
                                  std::to_string(stems::kMaxSampleRateHz) + " Hz"));
  }
  if (!(preview_s >= 0) || !std::isfinite(preview_s) ||
      (preview_s > 0 && preview_s < min_duration_s)) {
    throw UsageError(describe("bad --preview", fixed(preview_s, 1), "must be at least 1 second"));
  }
}

fs::path default_output(const fs::path& input) {
  return stems::default_output(input, "ingest", true);
}

Report ingest(const fs::path& input, const fs::path& output, bool force, const Options& opt,
              const json& provenance, const Progress& progress) {
  opt.validate();
  const auto t0 = std::chrono::steady_clock::now();
  audio::DecodeOptions dopt;
  dopt.allow_ffmpeg = opt.allow_ffmpeg;
  // Open the input before creating anything, so bad input leaves no trace.
  audio::DecodedFile decoded(input, dopt);
  const audio::FileInfo info = decoded.info();
  if (info.sample_rate_hz < opt.min_input_rate_hz || info.sample_rate_hz > opt.max_input_rate_hz) {
    refuse(input, "absurd sample rate " + std::to_string(info.sample_rate_hz) + " Hz");
  }
  if (info.truncated() && !opt.allow_truncated) {
    refuse(input, "truncated: the header promises " +
                      fixed(double(info.declared_frames) / info.sample_rate_hz, 2) +
                      " s, the file holds " + fixed(info.duration_s(), 2) +
                      " s (--allow-truncated keeps them)");
  }
  if (info.channels < 1 || info.channels > opt.max_channels) {
    refuse(input, "unsupported channel count " + std::to_string(info.channels));
  }
  stems::StemDirWriter out(output, force);
  const int ch = info.channels;
  const bool preview = opt.preview_s > 0;
  std::vector<float> block(kBlockFrames * ch);
  metrics::Analyzer analyzer(info.sample_rate_hz, ch);
  std::optional<StemSink> sink;
  if (!preview) {
    sink.emplace(out.open_stem("mix", opt.sample_rate_hz, ch), ch, info.sample_rate_hz,
                 opt.sample_rate_hz, opt.quality);
  }
  // Energy per 100 ms step, for the loudest-window search (10 doubles a second: negligible).
  const size_t step = std::max<size_t>(1, static_cast<size_t>(kEnergyStepS * info.sample_rate_hz));
  std::vector<double> step_energy;
  double acc = 0;
  size_t in_step = 0;
  int64_t frames_read = 0;
  audio::Reader& reader = decoded.reader();
  // Declared after the sink it feeds: on an exception it stops (and joins) first.
  std::optional<AsyncSink> writer;
  if (sink) writer.emplace(*sink);
  for (;;) {
    throw_if_interrupted();
    const size_t n = reader.read(block.data(), kBlockFrames);
    for (size_t i = 0; i < n * ch; ++i) {
      if (!std::isfinite(block[i])) {
        refuse(input, "non-finite sample (NaN or infinity) at " +
                          fixed(static_cast<double>(frames_read + static_cast<int64_t>(i / ch)) /
                                    info.sample_rate_hz,
                                3) +
                          " s");
      }
    }
    if (writer) writer->submit(block.data(), n, static_cast<size_t>(ch), n == 0);
    if (n == 0) break;
    const float* data = block.data();
    analyzer.add(data, n);
    if (preview) {
      for (size_t i = 0; i < n; ++i) {
        for (int c = 0; c < ch; ++c) acc += double(data[i * ch + c]) * data[i * ch + c];
        if (++in_step == step) {
          step_energy.push_back(acc);
          acc = 0;
          in_step = 0;
        }
      }
    }
    frames_read += static_cast<int64_t>(n);
    if (info.frames > 0) {
      report(progress, preview ? "analyse" : "ingest", double(frames_read) / info.frames);
    }
  }
  if (writer) writer->finish();
  if (in_step > 0) step_energy.push_back(acc);

  metrics::Analysis analysis = analyzer.finish();
  Report rep;
  if (frames_read == 0) refuse(input, "no audio in it");
  // MP3 headers only estimate the length; every other format states it exactly.
  const bool exact_length = info.encoding.rfind("mp", 0) != 0;
  if (exact_length && info.frames > 0 && frames_read < info.frames) {
    refuse(input, "truncated: the header promises " + std::to_string(info.frames) +
                      " frames, only " + std::to_string(frames_read) + " could be decoded");
  }
  if (analysis.duration_s < opt.min_duration_s) {
    refuse(input, "too short: " + fixed(analysis.duration_s, 2) + " s, at least " +
                      fixed(opt.min_duration_s, 1) + " s needed");
  }
  if (analysis.peak_dbfs < opt.silence_dbfs) {
    refuse(input, "silent: peak " + fixed(std::max(analysis.peak_dbfs, -200.0), 1) +
                      " dBFS is below " + fixed(opt.silence_dbfs, 1) + " dBFS");
  }

  // Preview: second pass over the loudest window only.
  int64_t preview_start = 0, preview_frames = frames_read;
  if (preview) {
    const size_t window = static_cast<size_t>(std::ceil(opt.preview_s / kEnergyStepS));
    if (window < step_energy.size()) {
      double sum = 0, best = -1;
      size_t best_start = 0;
      for (size_t i = 0; i < step_energy.size(); ++i) {
        sum += step_energy[i];
        if (i >= window) sum -= step_energy[i - window];
        if (i + 1 >= window && sum > best) {
          best = sum;
          best_start = i + 1 - window;
        }
      }
      preview_start = static_cast<int64_t>(best_start * step);
      preview_frames = std::min<int64_t>(static_cast<int64_t>(opt.preview_s * info.sample_rate_hz),
                                         frames_read - preview_start);
    }
    sink.emplace(out.open_stem("mix", opt.sample_rate_hz, ch), ch, info.sample_rate_hz,
                 opt.sample_rate_hz, opt.quality);
    reader.seek(preview_start);
    int64_t left = preview_frames;
    while (left > 0) {
      throw_if_interrupted();
      const size_t n =
          reader.read(block.data(), static_cast<size_t>(std::min<int64_t>(left, kBlockFrames)));
      if (n == 0) break;
      sink->push(block.data(), n, false);
      left -= static_cast<int64_t>(n);
      report(progress, "preview", 1.0 - double(left) / preview_frames);
    }
    sink->push(block.data(), 0, true);
  }
  const int64_t written = sink->close();
  out.add_stem("mix", written);

  // Manifest.
  stems::Manifest& m = out.manifest();
  m.sample_rate_hz = opt.sample_rate_hz;
  m.channels = ch;
  const std::string input_hash = stems::sha256_file(input);
  m.source = {{"path", fs::absolute(input).lexically_normal().string()},
              {"sha256", input_hash},
              {"bytes", fs::file_size(input)},
              {"container", decoded.source_container()},
              {"encoding", decoded.source_encoding()},
              {"decoder", decoded.via_ffmpeg() ? "ffmpeg" : "libsndfile"},
              {"sample_rate_hz", info.sample_rate_hz},
              {"channels", ch},
              {"frames", frames_read},
              {"duration_s", analysis.duration_s}};
  m.analysis = analysis.to_json();
  json parameters = {{"sample_rate_hz", opt.sample_rate_hz},
                     {"resample_quality", audio::to_string(opt.quality)},
                     {"resampled", info.sample_rate_hz != opt.sample_rate_hz},
                     {"preview_s", opt.preview_s}};
  if (preview) {
    parameters["preview_start_s"] = static_cast<double>(preview_start) / info.sample_rate_hz;
    parameters["preview_duration_s"] = static_cast<double>(preview_frames) / info.sample_rate_hz;
  }
  json entry = provenance;
  entry["inputs"] = json::array({{{"path", m.source["path"]}, {"sha256", input_hash}}});
  if (info.truncated()) {
    parameters["truncated_input"] = true;
    rep.warnings.push_back("truncated input: kept the " + fixed(info.duration_s(), 2) +
                           " s it holds");
  }
  entry["parameters"] = parameters;
  entry["metrics"] = {{"before",
                       {{"integrated_lufs", m.analysis["integrated_lufs"]},
                        {"true_peak_dbtp", m.analysis["true_peak_dbtp"]},
                        {"sample_rate_hz", info.sample_rate_hz},
                        {"frames", frames_read}}},
                      {"after",
                       {{"integrated_lufs", std::max(-200.0, sink->meter().integrated_lufs())},
                        {"sample_peak_dbfs", std::max(-200.0, sink->meter().sample_peak_dbfs())},
                        {"sample_rate_hz", opt.sample_rate_hz},
                        {"frames", written}}}};
  entry["elapsed_s"] = stage::seconds_since(t0);
  m.history.push_back(entry);

  if (analysis.clipped_ratio > kNoticeableClipRatio) {
    rep.warnings.push_back("clipped: " + fixed(analysis.clipped_ratio * 100, 2) +
                           " % of samples (" + std::to_string(analysis.clipped_runs) +
                           " runs); rz-restore can de-clip");
  }
  for (size_t c = 0; c < analysis.dc_offset.size(); ++c) {
    if (std::fabs(analysis.dc_offset[c]) > kLargeDcOffset) {
      rep.warnings.push_back("DC offset " + fixed(analysis.dc_offset[c], 4) + " on channel " +
                             std::to_string(c + 1));
    }
  }
  if (analysis.band_limited) {
    rep.warnings.push_back("band-limited: nothing above about " +
                           fixed(analysis.bandwidth_hz / 1000, 1) + " kHz");
  }
  rep.output = out.commit();
  rep.analysis = analysis;
  rep.record = {
      {"output", rep.output.string()}, {"input", input.string()}, {"analysis", m.analysis}};
  return rep;
}

}  // namespace rz::ingest
