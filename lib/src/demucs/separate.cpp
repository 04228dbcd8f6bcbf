// rz-separate's library side (see separate.hpp).
#include "rz/demucs/separate.hpp"

#include <ATen/Context.h>
#include <dlfcn.h>
#include <torch/cuda.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <thread>

#include "rz/audio/file.hpp"
#include "rz/audio/resample.hpp"
#include "rz/demucs/cache.hpp"
#include "rz/demucs/model_store.hpp"
#include "rz/demucs/tensor_memory.hpp"
#include "rz/error.hpp"
#include "rz/io/json.hpp"
#include "rz/metrics/loudness.hpp"
#include "rz/nn/precision.hpp"
#include "rz/roformer/checkpoint.hpp"
#include "rz/roformer/config.hpp"
#include "rz/roformer/demix.hpp"
#include "rz/roformer/model.hpp"
#include "rz/stems/process.hpp"
#include "rz/stems/sha256.hpp"
#include "rz/version.hpp"

namespace rz::demucs {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// Bumped whenever a change here can change the samples rz-separate writes, so that cache entries
// made by an older implementation are not reused.
constexpr int kImplementationRevision = 2;
constexpr size_t kBlockFrames = 1 << 16;

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The input stem at the model's rate and channel count, readable at any offset (segments
// overlap and short final segments reach back), zero outside the recording. Like demucs'
// convert_audio: mono is duplicated, extra channels are dropped, a mono model takes the mean.
class ModelInput {
 public:
  ModelInput(const fs::path& file, int rate_hz, int channels, const fs::path& scratch,
             const Progress& progress)
      : channels_(channels) {
    audio::Reader probe(file);
    in_channels_ = probe.info().channels;
    if (probe.info().sample_rate_hz != rate_hz) {
      // Resample once into a float scratch file, then read that at random.
      audio::Resampler rs(in_channels_, probe.info().sample_rate_hz, rate_hz,
                          audio::ResampleQuality::kBest);
      {
        audio::WriteSpec spec;
        spec.sample_rate_hz = rate_hz;
        spec.channels = in_channels_;
        spec.sample_format = audio::SampleFormat::kFloat32;
        audio::Writer w(scratch, spec);
        std::vector<float> buf(kBlockFrames * static_cast<size_t>(in_channels_)), out;
        const double total = static_cast<double>(std::max<int64_t>(probe.info().frames, 1));
        int64_t done = 0;
        for (;;) {
          throw_if_interrupted();
          const size_t n = probe.read(buf.data(), kBlockFrames);
          audio::check_finite(buf.data(), n, in_channels_, done, probe.info().sample_rate_hz, file);
          out.clear();
          rs.process(buf.data(), n, n == 0, out);
          if (!out.empty()) w.write(out.data(), out.size() / static_cast<size_t>(in_channels_));
          if (n == 0) break;
          done += static_cast<int64_t>(n);
          report(progress, "resample", static_cast<double>(done) / total);
        }
        w.close();
      }
      scratch_ = scratch;
      reader_ = std::make_unique<audio::Reader>(scratch);
      resampled_ = true;
    } else {
      reader_ = std::make_unique<audio::Reader>(file);
    }
    frames_ = reader_->info().frames;
  }
  ~ModelInput() {
    reader_.reset();
    if (!scratch_.empty()) {
      std::error_code ec;
      fs::remove(scratch_, ec);
    }
  }
  ModelInput(const ModelInput&) = delete;
  ModelInput& operator=(const ModelInput&) = delete;

  int64_t frames() const { return frames_; }
  bool resampled() const { return resampled_; }

  // Planar [channel][frames] of frames [start, start + frames), zero outside the recording.
  void read(int64_t start, int64_t frames, float* planar) {
    std::fill(planar, planar + frames * channels_, 0.0f);
    const int64_t a = std::max<int64_t>(start, 0), b = std::min(start + frames, frames_);
    if (b <= a) return;
    reader_->seek(a);
    buf_.resize(static_cast<size_t>((b - a) * in_channels_));
    int64_t got = 0;
    while (got < b - a) {
      const size_t n =
          reader_->read(buf_.data() + got * in_channels_, static_cast<size_t>(b - a - got));
      if (n == 0)
        throw InputError(describe("cannot read", reader_->path().string(), "ended early"));
      got += static_cast<int64_t>(n);
    }
    convert(buf_.data(), b - a, planar + (a - start), frames);
  }

  // Interleaved in -> planar out (row stride `stride`), mapping channels like convert_audio.
  void convert(const float* in, int64_t n, float* planar, int64_t stride) const {
    for (int64_t t = 0; t < n; ++t) {
      const float* f = in + t * in_channels_;
      if (channels_ == 1 && in_channels_ > 1) {
        float s = 0;
        for (int c = 0; c < in_channels_; ++c) s += f[c];
        planar[t] = s / static_cast<float>(in_channels_);
      } else {
        for (int c = 0; c < channels_; ++c)
          planar[c * stride + t] = f[in_channels_ == 1 ? 0 : std::min(c, in_channels_ - 1)];
      }
    }
  }

  // Mean and unbiased standard deviation of the channel mean (demucs.api.Separator's `ref`).
  std::pair<double, double> ref_stats(const Progress& progress) {
    reader_->seek(0);
    std::vector<float> planar(kBlockFrames * static_cast<size_t>(channels_));
    buf_.resize(kBlockFrames * static_cast<size_t>(in_channels_));
    double mean = 0, m2 = 0;
    int64_t count = 0;
    for (;;) {
      throw_if_interrupted();
      const size_t n = reader_->read(buf_.data(), kBlockFrames);
      if (n == 0) break;
      if (!resampled_) {  // a resampled input was checked as it was resampled
        audio::check_finite(buf_.data(), n, in_channels_, count, reader_->info().sample_rate_hz,
                            reader_->path());
      }
      convert(buf_.data(), static_cast<int64_t>(n), planar.data(), static_cast<int64_t>(n));
      for (size_t t = 0; t < n; ++t) {
        float ref = 0;
        for (int c = 0; c < channels_; ++c) ref += planar[c * n + t];
        ref /= static_cast<float>(channels_);
        ++count;
        const double d = ref - mean;
        mean += d / static_cast<double>(count);
        m2 += d * (ref - mean);
      }
      report(progress, "analyse", static_cast<double>(count) / static_cast<double>(frames_));
    }
    const double var = count > 1 ? m2 / static_cast<double>(count - 1) : 0.0;
    return {mean, std::sqrt(var)};
  }

 private:
  int channels_;
  int in_channels_ = 0;
  int64_t frames_ = 0;
  bool resampled_ = false;
  fs::path scratch_;
  std::unique_ptr<audio::Reader> reader_;
  std::vector<float> buf_;
};

json stem_metrics(const fs::path& file) {
  audio::Reader r(file);
  const int ch = r.info().channels;
  std::vector<float> buf(kBlockFrames * static_cast<size_t>(ch));
  double sum2 = 0, peak = 0;
  int64_t n_total = 0;
  for (;;) {
    const size_t n = r.read(buf.data(), kBlockFrames);
    if (n == 0) break;
    for (size_t i = 0; i < n * static_cast<size_t>(ch); ++i) {
      sum2 += double(buf[i]) * buf[i];
      peak = std::max(peak, double(std::fabs(buf[i])));
    }
    n_total += static_cast<int64_t>(n) * ch;
  }
  const double rms = n_total ? std::sqrt(sum2 / static_cast<double>(n_total)) : 0.0;
  auto db = [](double v) { return metrics::json_level(v > 0 ? 20 * std::log10(v) : -HUGE_VAL); };
  return {{"rms_dbfs", db(rms)}, {"peak_dbfs", db(peak)}};
}

// Writes `out` = a copy of `keep`, and `rest` = the sum of `others` (for --two-stems).
void write_two_stems(const fs::path& keep, const std::vector<fs::path>& others, audio::Writer& wk,
                     audio::Writer& wr) {
  audio::Reader rk(keep);
  std::vector<audio::Reader> ro;
  for (const auto& p : others) ro.emplace_back(p);
  const int ch = rk.info().channels;
  std::vector<float> a(kBlockFrames * static_cast<size_t>(ch)), b(a.size()), sum(a.size());
  for (;;) {
    throw_if_interrupted();
    const size_t n = rk.read(a.data(), kBlockFrames);
    if (n == 0) break;
    std::fill(sum.begin(), sum.begin() + static_cast<long>(n * ch), 0.0f);
    for (auto& r : ro) {
      const size_t m = r.read(b.data(), n);
      if (m != n) throw InputError(describe("cannot read", r.path().string(), "ended early"));
      for (size_t i = 0; i < n * static_cast<size_t>(ch); ++i) sum[i] += b[i];
    }
    wk.write(a.data(), n);
    wr.write(sum.data(), n);
  }
  wk.close();
  wr.close();
}

void check_two_stems(const std::string& name, const std::vector<std::string>& sources) {
  if (name.empty() || std::find(sources.begin(), sources.end(), name) != sources.end()) return;
  std::string list;
  for (const auto& s : sources) list += (list.empty() ? "" : ", ") + s;
  throw UsageError("--two-stems " + name + ": the model's sources are " + list);
}

// What a cache hit restores, read from the entry's meta with every value checked.
struct CachedSeparation {
  std::vector<std::string> sources;
  json model, plan, metrics;
  int sample_rate_hz = 0, channels = 0;
  int64_t frames = 0;
};

std::optional<CachedSeparation> parse_cached(const json& meta) {
  if (!meta.is_object() || !meta.contains("sources") || !meta["sources"].is_array())
    return std::nullopt;
  CachedSeparation c;
  for (const auto& s : meta["sources"]) {
    const auto name = io::get_checked<std::string>(s);
    if (!name || !stems::bad_stem_name_reason(*name).empty() ||
        std::find(c.sources.begin(), c.sources.end(), *name) != c.sources.end())
      return std::nullopt;
    c.sources.push_back(*name);
  }
  const auto rate = io::get_checked<int>(meta, "sample_rate_hz");
  const auto channels = io::get_checked<int>(meta, "channels");
  const auto frames = io::get_checked<int64_t>(meta, "frames");
  if (c.sources.empty() || !rate || !channels || !frames || *rate < stems::kMinSampleRateHz ||
      *rate > stems::kMaxSampleRateHz || *channels < 1 || *channels > audio::kMaxChannels ||
      *frames < 0)
    return std::nullopt;
  c.sample_rate_hz = *rate;
  c.channels = *channels;
  c.frames = *frames;
  c.model = meta.value("model", json::object());
  c.plan = meta.value("plan", json::object());
  c.metrics = meta.value("metrics", json::object());
  if (!c.model.is_object() || !c.plan.is_object() || !c.metrics.is_object()) return std::nullopt;
  return c;
}

}  // namespace

void SeparateOptions::validate() const {
  if (device != "auto" && device != "cpu" && device != "cuda" && device != "mps" &&
      device.rfind("cuda:", 0) != 0)
    throw UsageError("--device must be auto, cpu, cuda, cuda:N or mps (got '" + device + "')");
  if (threads < 0 || threads > 1024) throw UsageError("--threads must be between 0 and 1024");
  if (model.empty()) throw UsageError("--model is empty");
  if (batch < 0 || batch > kMaxBatch)
    throw UsageError("--batch must be 1 to " + std::to_string(kMaxBatch));
  if (!model_type.empty() && !roformer::parse_family(model_type))
    throw UsageError("--model-type must be bs_roformer or mel_band_roformer (got '" + model_type +
                     "')");
  apply.validate();
}

bool is_removed_stem(const std::string& name, const std::string& target_instrument) {
  if (name == "crowd" || name == "noise" || name == "reverb") return true;
  return name == "instrumental" && (target_instrument == "dry" || target_instrument == "noreverb");
}

std::string torch_description() {
  std::string devices = "cpu";
  if (torch::cuda::is_available())
    devices += ", cuda (" + std::to_string(torch::cuda::device_count()) + ")";
  if (at::hasMPS()) devices += ", mps";
  return std::string("libtorch ") + TORCH_VERSION + "; devices: " + devices;
}

namespace {

// The free memory of CUDA device `index` in bytes, from the CUDA runtime that libtorch loaded
// (looked up by name: the CPU-only libtorch this also builds against ships no CUDA headers);
// nullopt when there is none or it fails.
std::optional<size_t> cuda_free_bytes(int index) {
  using SetDevice = int (*)(int);
  using MemGetInfo = int (*)(size_t*, size_t*);
  void* set = dlsym(RTLD_DEFAULT, "cudaSetDevice");
  void* info = dlsym(RTLD_DEFAULT, "cudaMemGetInfo");
  if (set == nullptr || info == nullptr) return std::nullopt;
  size_t free_b = 0, total_b = 0;
  if (reinterpret_cast<SetDevice>(set)(index) != 0) return std::nullopt;
  if (reinterpret_cast<MemGetInfo>(info)(&free_b, &total_b) != 0) return std::nullopt;
  return free_b;
}

}  // namespace

int default_batch(const torch::Device& device) {
  if (device.type() != torch::kCUDA) return 1;
  const std::optional<size_t> free_b = cuda_free_bytes(device.has_index() ? device.index() : 0);
  if (!free_b) return 1;
  const double n = std::floor(0.5 * static_cast<double>(*free_b) / kCudaBytesPerSegment);
  return static_cast<int>(std::clamp(n, 1.0, static_cast<double>(kMaxDefaultBatch)));
}

torch::Device resolve_device(const std::string& name, std::vector<std::string>* warnings) {
  if (name == "cpu") return torch::Device(torch::kCPU);
  if (name == "cuda" || name.rfind("cuda:", 0) == 0) {
    if (!torch::cuda::is_available())
      throw UsageError("--device " + name +
                       ": CUDA is not available (no GPU, or a libtorch built without CUDA)");
    return torch::Device(name);
  }
  if (name == "mps") {
    if (!at::hasMPS()) throw UsageError("--device mps: no MPS device in this build");
    return torch::Device(torch::kMPS);
  }
  if (torch::cuda::is_available()) return torch::Device(torch::kCUDA);
  if (at::hasMPS()) return torch::Device(torch::kMPS);
  if (warnings) warnings->push_back("no CUDA or MPS device: running on the CPU");
  return torch::Device(torch::kCPU);
}

namespace {

// What the separation produced, served from the cache or computed by the model: the full stems
// (one float WAV per source, in the writer's directory) and what the manifest records of them.
struct Separation {
  std::vector<std::string> sources;
  json model, plan;
  int rate = 0, channels = 0;
  int64_t frames = 0;
  std::vector<fs::path> files;             // one per source, in `sources` order
  std::map<std::string, std::string> sha;  // stem -> SHA-256 of its file, when known
  json metrics = json::object();           // stem -> metrics, when known
};

// The stem to separate: `--stem`, else "mix", else the only stem.
const stems::StemEntry& choose_stem(const stems::StemDir& in, const std::string& input_stem) {
  const stems::Manifest& im = in.manifest();
  std::string stem_name = input_stem;
  if (stem_name.empty()) {
    if (!im.find("mix") && im.stems.size() != 1) {
      // Nothing was asked for: which stem to separate is the directory's problem, not a usage
      // error (a --stem naming an absent stem is one).
      std::vector<std::string> names;
      for (const auto& s : im.stems) names.push_back(s.name);
      throw InputError(
          "cannot separate", in.path().string(),
          "no 'mix' stem and several others (" + join(names, ", ") + "): choose one with --stem");
    }
    stem_name = im.find("mix") ? "mix" : im.stems[0].name;
  }
  return in.stem(stem_name);
}

// The device to run on, with libtorch's CPU threads set (recorded in `rep`).
torch::Device set_up_device(const SeparateOptions& opt, SeparateReport& rep) {
  const torch::Device device = resolve_device(opt.device, &rep.warnings);
  rep.device = device.str();
  if (device.is_cpu()) {
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    rep.threads = opt.threads > 0 ? opt.threads : cores;
    at::set_num_threads(rep.threads);  // libtorch starts with one thread on some builds
  }
  return device;
}

// Cache identity: everything that decides the samples, nothing that does not (threads, paths).
json cache_identity(const std::string& input_sha256, const std::vector<std::string>& member_sha,
                    const ModelSpec& spec, const SeparateOptions& opt, const torch::Device& device,
                    const std::optional<roformer::Config>& roformer) {
  return {{"input_sha256", input_sha256},
          {"roformer", roformer ? json{{"family", roformer::family_name(roformer->family)},
                                       {"chunk", roformer->inference.chunk_size},
                                       {"num_overlap", roformer->inference.num_overlap},
                                       {"batch_size", roformer->inference.batch_size}}
                                : json()},
          {"model_sha256", member_sha},
          {"weights", spec.weights},
          {"shifts", opt.apply.shifts},
          {"overlap", opt.apply.overlap},
          {"segment_s", opt.apply.segment_s ? json(*opt.apply.segment_s) : json()},
          {"seed", opt.apply.seed},
          {"transition_power", opt.apply.transition_power},
          {"batch", roformer ? json() : json(opt.apply.batch)},
          {"precision", nn::precision_name(opt.precision)},
          {"device", device.is_cpu()                 ? "cpu"
                     : device.type() == torch::kCUDA ? "cuda"
                                                     : "mps"},
          {"implementation",
           std::string("rz ") + kVersion + " r" + std::to_string(kImplementationRevision)}};
}

// Restores the separation of cache entry `hit` into `out` and `sep`. A cache entry is outside
// data like any other (another process, a hand edit, a damaged disk): everything used from it is
// checked, and anything wrong means "recompute": false, and the caller drops what was restored
// (forget_files).
bool restore_cached(const CacheHit& hit, const std::string& two_stems, stems::StemDirWriter& out,
                    Separation& sep) {
  const std::optional<CachedSeparation> cached = parse_cached(hit.meta);
  bool damaged = !cached;
  if (cached) {
    sep.sources = cached->sources;
    check_two_stems(two_stems, sep.sources);
    sep.model = cached->model;
    sep.plan = cached->plan;
    sep.rate = cached->sample_rate_hz;
    sep.channels = cached->channels;
    sep.frames = cached->frames;
    sep.metrics = cached->metrics;
    // Hard-link the cached files into the output (a copy when the cache is on another file
    // system) and hash them: a file that no longer matches the hash recorded when it was
    // cached (edited through a link, damaged) makes the entry a miss. Linking instead of
    // copying keeps a hit on a long recording at the cost of reading it once.
    for (const auto& s : sep.sources) {
      const fs::path src = hit.dir / (s + ".wav");
      const fs::path dst = out.stem_file_path(s);
      std::error_code ec;
      fs::create_hard_link(src, dst, ec);
      std::string sha;
      try {
        sha = ec ? stems::copy_file_sha256(src, dst) : stems::sha256_file(dst);
      } catch (const IoError&) {
        damaged = true;  // a listed file vanished or is unreadable
        break;
      }
      sep.files.push_back(dst);
      sep.sha[s] = sha;
      const auto recorded = hit.sha256.find(s + ".wav");
      if (recorded == hit.sha256.end() || recorded->second != sha) damaged = true;
      // The stems must also be what the entry says they are (a forged or stale entry whose
      // files differ would make an output that the next stage refuses).
      try {
        const audio::FileInfo info = audio::Reader(dst).info();
        if (info.sample_rate_hz != sep.rate || info.channels != sep.channels ||
            info.frames != sep.frames)
          damaged = true;
      } catch (const InputError&) {
        damaged = true;
      }
    }
  }
  return !damaged;
}

// Removes the files a damaged cache entry left in the output and forgets them.
void forget_files(Separation& sep) {
  for (const auto& p : sep.files) fs::remove(p);
  sep.files.clear();
  sep.sha.clear();
  sep.metrics = json::object();
}

// Writes the separation's output blocks (planar [source][channel][frame], `stride` floats
// between channel rows) to one float WAV per source, interleaved. Weights that overflow (a
// hostile or damaged checkpoint, absurd bag weights) give NaN or infinity: never write them as a
// separation.
class StemSink {
 public:
  StemSink(std::vector<audio::Writer>& writers, const std::vector<std::string>& sources,
           const std::string& model, int channels, int rate_hz)
      : writers_(writers), sources_(sources), model_(model), channels_(channels), rate_(rate_hz) {}

  void operator()(const float* planar, int64_t n, int64_t stride) {
    inter_.resize(static_cast<size_t>(n * channels_));
    for (size_t s = 0; s < sources_.size(); ++s) {
      bool finite = true;
      for (int64_t t = 0; t < n; ++t)
        for (int c = 0; c < channels_; ++c) {
          const float v = planar[(static_cast<int64_t>(s) * channels_ + c) * stride + t];
          finite = finite && std::isfinite(v);
          inter_[static_cast<size_t>(t * channels_ + c)] = v;
        }
      if (!finite) {
        throw InputError(describe("bad model", model_,
                                  "it produced non-finite samples (NaN or infinity) in source '" +
                                      sources_[s] + "' near " +
                                      fixed(static_cast<double>(written_) / rate_, 1) + " s"));
      }
      writers_[s].write(inter_.data(), static_cast<size_t>(n));
    }
    written_ += n;
  }

 private:
  std::vector<audio::Writer>& writers_;
  const std::vector<std::string>& sources_;
  std::string model_;
  int channels_, rate_;
  std::vector<float> inter_;
  int64_t written_ = 0;
};

// Loads the model and separates `stem_file` into one float WAV per source in `out`, with
// demucs.api.Separator's normalisation; fills `sep` and the timings of `rep`.
void run_model(const ModelSpec& spec, const torch::Device& device, const SeparateOptions& opt,
               const fs::path& stem_file, stems::StemDirWriter& out, const Progress& progress,
               Separation& sep, SeparateReport& rep) {
  const double t_sep = now_s();
  Ensemble model = load_ensemble(spec, device);
  rep.load_s = now_s() - t_sep;
  opt.apply.validate(model);
  check_two_stems(opt.two_stems, model.sources);
  sep.sources = model.sources;
  sep.rate = model.sample_rate_hz;
  sep.channels = model.channels;
  const int rate = sep.rate, channels = sep.channels;
  sep.model = {{"name", spec.name},
               {"members", model.member_names},
               {"sha256", model.member_sha256},
               {"weights", model.weights},
               {"sources", model.sources},
               {"sample_rate_hz", rate},
               {"channels", channels},
               {"training_segment_s", model.max_segment_s}};
  ModelInput input(stem_file, rate, channels, out.scratch_path("input-resampled.wav"), progress);
  sep.frames = input.frames();
  const auto [mean, sd] = input.ref_stats(progress);
  const float fmean = static_cast<float>(mean);
  const float fden = static_cast<float>(sd) + 1e-8f;  // ref.std() + 1e-8, as Separator does
  if (!(sd > 1e-6))
    throw InputError(describe("cannot separate", stem_file.string(), "the mix is silent"));

  const std::vector<std::string>& sources = sep.sources;
  std::vector<audio::Writer> writers;
  for (const auto& s : sources) {
    writers.push_back(out.open_stem(s, rate, channels));
    sep.files.push_back(out.stem_file_path(s));
  }
  auto read = [&](int64_t start, int64_t n, float* planar) {
    throw_if_interrupted();
    input.read(start, n, planar);
    for (int64_t i = 0; i < n * channels; ++i) planar[i] = (planar[i] - fmean) / fden;
  };
  StemSink sink(writers, sources, spec.name, channels, rate);
  auto on_forward = [&](int64_t done, int64_t total) {
    report(progress, "separate", static_cast<double>(done) / static_cast<double>(total));
  };
  const nn::PrecisionScope precision(opt.precision, device);
  const ApplyPlan plan =
      apply_streaming(model, opt.apply, sep.frames, fmean, fden, read, std::ref(sink), on_forward);
  for (auto& w : writers) w.close();
  rep.separate_s = now_s() - t_sep;
  rep.tensor_memory = tensor_memory_stats();
  sep.plan = {{"segment_frames", plan.segment_frames},
              {"stride_frames", plan.stride_frames},
              {"forwards", plan.forwards},
              {"batch", plan.batch},
              {"batches", plan.batches},
              {"shift_offsets", plan.offsets},
              {"normalisation", {{"mean", fmean}, {"std_plus_1e-8", fden}}},
              {"input_resampled", input.resampled()}};
  for (size_t i = 0; i < sources.size(); ++i) sep.metrics[sources[i]] = stem_metrics(sep.files[i]);
}

// The RoFormer's config with rz-separate's options applied: --segment sets the chunk,
// --overlap the num_overlap (1 / (1 - overlap), which must come out whole), --batch the
// batch. Throws UsageError for options a RoFormer cannot take.
roformer::Config roformer_config(const ModelSpec& spec, const SeparateOptions& opt) {
  std::optional<roformer::Family> family;
  const std::string type = opt.model_type.empty() ? spec.model_type : opt.model_type;
  if (!type.empty()) family = roformer::parse_family(type);
  roformer::Config c = roformer::read_config(spec.config, family);
  if (opt.shifts_given && opt.apply.shifts != 0)
    throw UsageError("--shifts: RoFormer models run without random shifts (use --shifts 0)");
  if (opt.apply.segment_s) {
    const double frames = std::round(*opt.apply.segment_s * c.sample_rate_hz);
    if (!(frames >= 1 && frames <= 1e9))
      throw UsageError("--segment " + fixed(*opt.apply.segment_s, 3) + ": out of range");
    c.inference.chunk_size = static_cast<int64_t>(frames);
  }
  if (opt.overlap_given) {
    const double n = 1.0 / (1.0 - opt.apply.overlap);
    const double whole = std::round(n);
    if (std::fabs(n - whole) > 1e-6)
      throw UsageError("--overlap " + fixed(opt.apply.overlap, 4) +
                       ": a RoFormer overlaps whole fractions of its chunk (0, 0.5, 0.667, "
                       "0.75, ...: 1 - 1/num_overlap)");
    c.inference.num_overlap = static_cast<int64_t>(whole);
  }
  if (opt.batch > 0) c.inference.batch_size = opt.batch;
  roformer::plan_demix(c, 0);  // refuses settings that cannot run, before any work
  return c;
}

// Loads the RoFormer and separates `stem_file` as MSST's inference.py does, into one float WAV
// per output stem in `out`; fills `sep` and the timings of `rep`.
void run_roformer(const ModelSpec& spec, const roformer::Config& config,
                  const std::string& config_sha256, const torch::Device& device,
                  const SeparateOptions& opt, const fs::path& stem_file, stems::StemDirWriter& out,
                  const Progress& progress, Separation& sep, SeparateReport& rep) {
  const double t_sep = now_s();
  const roformer::Checkpoint ck = roformer::read_checkpoint(spec.files.at(0));
  roformer::Roformer model =
      roformer::load_roformer(config, ck.state, spec.files.at(0).string(), device);
  rep.load_s = now_s() - t_sep;
  sep.sources = roformer::output_stems(config);
  check_two_stems(opt.two_stems, sep.sources);
  sep.rate = config.sample_rate_hz;
  sep.channels = config.channels;
  const int channels = sep.channels;
  sep.model = {{"name", spec.name},          {"family", roformer::family_name(config.family)},
               {"sha256", ck.sha256},        {"config_sha256", config_sha256},
               {"sources", sep.sources},     {"target_instrument", config.target_instrument},
               {"sample_rate_hz", sep.rate}, {"channels", channels}};
  ModelInput input(stem_file, sep.rate, channels, out.scratch_path("input-resampled.wav"),
                   progress);
  sep.frames = input.frames();
  if (sep.frames == 0) throw InputError(describe("cannot separate", stem_file.string(), "empty"));
  roformer::InputStats stats;
  if (config.inference.normalize) {
    std::vector<float> block(kBlockFrames * static_cast<size_t>(channels));
    for (int64_t at = 0; at < sep.frames; at += static_cast<int64_t>(kBlockFrames)) {
      throw_if_interrupted();
      const int64_t n = std::min<int64_t>(kBlockFrames, sep.frames - at);
      input.read(at, n, block.data());
      stats.add(block.data(), n, channels);
    }
    // normalize_audio has no epsilon: a silent input would divide by zero.
    if (!(stats.std() > 0))
      throw InputError(describe("cannot separate", stem_file.string(), "the mix is silent"));
  }
  std::vector<audio::Writer> writers;
  for (const auto& s : sep.sources) {
    writers.push_back(out.open_stem(s, sep.rate, channels));
    sep.files.push_back(out.stem_file_path(s));
  }
  auto read = [&](int64_t start, int64_t n, float* planar) {
    throw_if_interrupted();
    input.read(start, n, planar);
  };
  StemSink sink(writers, sep.sources, spec.name, channels, sep.rate);
  auto on_call = [&](int64_t done, int64_t total) {
    report(progress, "separate", static_cast<double>(done) / static_cast<double>(total));
  };
  const nn::PrecisionScope precision(opt.precision, device);
  const roformer::DemixPlan plan =
      roformer::infer_streaming(model, sep.frames, config.inference.normalize ? &stats : nullptr,
                                read, std::ref(sink), on_call);
  for (auto& w : writers) w.close();
  rep.separate_s = now_s() - t_sep;
  rep.tensor_memory = tensor_memory_stats();
  sep.plan = {
      {"chunk_frames", plan.chunk},
      {"step_frames", plan.step},
      {"fade_frames", plan.fade},
      {"border_padding_frames", plan.padded ? plan.border : 0},
      {"batch_size", plan.batch},
      {"chunks", plan.chunks},
      {"forwards", plan.batches},
      {"normalisation",
       config.inference.normalize ? json{{"mean", stats.mean()}, {"std", stats.std()}} : json()},
      {"input_resampled", input.resampled()}};
  for (size_t i = 0; i < sep.sources.size(); ++i)
    sep.metrics[sep.sources[i]] = stem_metrics(sep.files[i]);
}

// Copies the input's removed stems (crowd, noise, ...) into `out` unchanged: a separation of
// the music that a crowd model left keeps the crowd it took out. Returns their names.
std::vector<std::string> carry_removed_stems(const stems::StemDir& in, const std::string& separated,
                                             const std::vector<std::string>& produced,
                                             stems::StemDirWriter& out) {
  std::vector<std::string> carried;
  for (const auto& s : in.manifest().stems) {
    if (s.name == separated || !s.removed()) continue;
    if (std::find(produced.begin(), produced.end(), s.name) != produced.end())
      throw InputError(
          describe("cannot separate", in.path().string(),
                   "its removed stem '" + s.name + "' has the name of a separated stem"));
    stems::copy_stem(out, s, in.stem_path(s));
    carried.push_back(s.name);
  }
  return carried;
}

// Stores a fresh separation under `key`; a failure is a warning in `rep`.
void store_in_cache(SeparationCache& cache, const std::string& key, const Separation& sep,
                    const json& identity, SeparateReport& rep) {
  json meta = {{"sources", sep.sources},     {"model", sep.model},       {"plan", sep.plan},
               {"sample_rate_hz", sep.rate}, {"channels", sep.channels}, {"frames", sep.frames},
               {"metrics", sep.metrics},     {"identity", identity}};
  std::string why;
  if (!cache.store(key, sep.files, meta, &why))
    rep.warnings.push_back("could not cache the separation: " + why);
}

// --two-stems NAME: replaces the full stems in `out` with NAME and no_NAME, the sum of the
// others. Returns the two stem names.
std::vector<std::string> write_two_stems_output(const std::string& two_stems,
                                                stems::StemDirWriter& out, Separation& sep) {
  check_two_stems(two_stems, sep.sources);
  const auto it = std::find(sep.sources.begin(), sep.sources.end(), two_stems);
  const size_t k = static_cast<size_t>(it - sep.sources.begin());
  std::vector<fs::path> others;
  for (size_t i = 0; i < sep.sources.size(); ++i)
    if (i != k) others.push_back(sep.files[i]);
  const fs::path tmp_keep = sep.files[k];
  const fs::path moved = out.scratch_path("two-stems-" + two_stems + ".wav");
  fs::rename(tmp_keep, moved);
  {
    audio::Writer wk = out.open_stem(two_stems, sep.rate, sep.channels);
    audio::Writer wr = out.open_stem("no_" + two_stems, sep.rate, sep.channels);
    write_two_stems(moved, others, wk, wr);
  }
  fs::remove(moved);
  for (const auto& p : others) fs::remove(p);
  sep.sha.clear();  // the two outputs are new files
  sep.metrics = json::object();
  return {two_stems, "no_" + two_stems};
}

// Adds `names` to the output's manifest (with their hashes when known) and returns their
// metrics, stem -> {"rms_dbfs", "peak_dbfs"}.
json add_stems(const std::vector<std::string>& names, const Separation& sep,
               stems::StemDirWriter& out) {
  json after = json::object();
  for (const auto& s : names) {
    const auto known = sep.sha.find(s);
    if (known != sep.sha.end())
      out.add_stem(s, sep.frames, known->second);
    else
      out.add_stem(s, sep.frames);
    after[s] = sep.metrics.contains(s) ? sep.metrics[s] : stem_metrics(out.stem_file_path(s));
  }
  return after;
}

// The manifest's history entry of this run.
json history_entry(const json& provenance, const stems::StemEntry& stem, const Separation& sep,
                   const SeparateOptions& opt, const SeparateReport& rep, const std::string& key,
                   const json& after, const std::vector<std::string>& removed,
                   const std::vector<std::string>& carried, double elapsed) {
  json entry = provenance;
  entry["inputs"] = json::array({{{"stem", stem.name}, {"sha256", stem.sha256}}});
  entry["model"] = sep.model;
  entry["parameters"] = {
      {"model", opt.model},
      {"shifts", opt.apply.shifts},
      {"overlap", opt.apply.overlap},
      {"segment_s", opt.apply.segment_s ? json(*opt.apply.segment_s) : json()},
      {"seed", opt.apply.seed},
      {"transition_power", opt.apply.transition_power},
      {"two_stems", opt.two_stems.empty() ? json() : json(opt.two_stems)},
      {"input_stem", stem.name},
      {"device", rep.device},
      {"threads", rep.threads},
      {"cache", opt.use_cache ? (rep.cache_hit ? "hit" : "stored") : "off"},
      {"cache_key", key},
      {"model_config", opt.model_config.empty() ? json() : json(opt.model_config.string())},
      {"model_type", opt.model_type.empty() ? json() : json(opt.model_type)},
      {"batch", opt.batch > 0 ? json(opt.batch) : json()},
      {"precision", nn::precision_name(opt.precision)}};
  entry["plan"] = sep.plan;
  entry["metrics"] = {{"after", after}};
  entry["removed_stems"] = removed;
  entry["carried_stems"] = carried;
  entry["elapsed_s"] = elapsed;
  if (!rep.cache_hit && rep.audio_s > 0) {
    entry["seconds_per_audio_second"] = rep.separate_s / rep.audio_s;
    entry["load_s"] = rep.load_s;
  }
  return entry;
}

SeparateReport separate_impl(const stems::StemDir& in, const fs::path& output, bool force,
                             const SeparateOptions& given, const json& provenance,
                             const Progress& progress) {
  const double t0 = now_s();
  given.validate();
  SeparateOptions opt = given;  // with HTDemucs' batch resolved below
  // Tensors in an arena of their own: every forward reuses the memory of the one before, so the
  // footprint does not creep over hours and temporaries are not page-faulted in again.
  use_tensor_arena();
  SeparateReport rep;

  const stems::StemEntry& stem = choose_stem(in, opt.input_stem);
  const fs::path stem_file = in.stem_path(stem);

  const fs::path model_dir = opt.model_dir.empty() ? default_model_dir() : opt.model_dir;
  const ModelSpec spec = resolve_model(opt.model, model_dir, opt.model_config);
  std::vector<std::string> member_sha;
  for (const auto& f : spec.files) member_sha.push_back(stems::sha256_file(f));
  std::optional<roformer::Config> roformer_cfg;
  if (spec.roformer) {
    roformer_cfg = roformer_config(spec, opt);
    member_sha.push_back(stems::sha256_file(spec.config));
  } else if (!opt.model_config.empty() || !opt.model_type.empty()) {
    throw UsageError("--model-config and --model-type are for RoFormer models (.ckpt); '" +
                     opt.model + "' is an HTDemucs model");
  }

  const torch::Device device = set_up_device(opt, rep);
  if (!roformer_cfg) opt.apply.batch = opt.batch > 0 ? opt.batch : default_batch(device);
  nn::check_precision(opt.precision, device);
  if (opt.precision == nn::Precision::kBf16 && device.is_cpu() && !nn::cpu_has_native_bf16())
    rep.warnings.push_back(
        "--precision bf16: this CPU has neither AVX512-BF16 nor AMX, so libtorch emulates bf16 and "
        "it runs slower than fp32");

  stems::StemDirWriter out(output, force);

  // A hand-written manifest may omit hashes: then hash the file, never share a key.
  const std::string input_sha256 =
      stem.sha256.empty() ? stems::sha256_file(stem_file) : stem.sha256;
  const json identity = cache_identity(input_sha256, member_sha, spec, opt, device, roformer_cfg);
  const std::string key = SeparationCache::key(identity);
  const fs::path cache_root = opt.cache_dir.empty() ? default_cache_dir() : opt.cache_dir;
  SeparationCache cache(cache_root);

  Separation sep;
  std::optional<CacheHit> hit;
  if (opt.use_cache) hit = cache.find(key);
  if (hit) {
    if (restore_cached(*hit, opt.two_stems, out, sep)) {
      rep.cache_hit = true;
      rep.notes.push_back("separation served from the cache (" + cache_root.string() + "/" +
                          key.substr(0, 12) + "...; --no-cache recomputes)");
    } else {
      rep.warnings.push_back("a cached separation was damaged: recomputing");
      cache.discard(key);  // so that the fresh result can take its place
      hit.reset();
      forget_files(sep);
    }
  }

  if (!hit) {
    if (roformer_cfg)
      run_roformer(spec, *roformer_cfg, member_sha.back(), device, opt, stem_file, out, progress,
                   sep, rep);
    else
      run_model(spec, device, opt, stem_file, out, progress, sep, rep);
    if (opt.use_cache) store_in_cache(cache, key, sep, identity, rep);
  }

  rep.stems = opt.two_stems.empty() ? sep.sources : write_two_stems_output(opt.two_stems, out, sep);
  const json after = add_stems(rep.stems, sep, out);
  const std::string target = roformer_cfg ? roformer_cfg->target_instrument : "";
  std::vector<std::string> removed;
  for (const auto& s : rep.stems) {
    if (!is_removed_stem(s, target)) continue;
    out.set_stem_role(s, stems::kRoleRemoved);
    removed.push_back(s);
  }
  if (!removed.empty())
    rep.notes.push_back("stem " + join(removed, ", ") +
                        " marked removed: rz-mix and rz-master leave it out (--keep brings it "
                        "back)");
  const std::vector<std::string> carried = carry_removed_stems(in, stem.name, rep.stems, out);
  if (!carried.empty())
    rep.notes.push_back("removed stem " + join(carried, ", ") + " carried through unchanged");

  stems::Manifest& m = out.manifest();
  m.inherit(in.manifest());
  m.sample_rate_hz = sep.rate;  // the model's rate and channels, not necessarily the input's
  m.channels = sep.channels;
  rep.audio_s = static_cast<double>(sep.frames) / sep.rate;
  const double elapsed = now_s() - t0;
  m.history.push_back(
      history_entry(provenance, stem, sep, opt, rep, key, after, removed, carried, elapsed));
  throw_if_interrupted();  // a signal during the last forward (no read() after it) commits nothing
  rep.output = out.commit();
  rep.record = {{"output", rep.output.string()},
                {"stems", rep.stems},
                {"model", spec.name},
                {"device", rep.device},
                {"cache", opt.use_cache ? (rep.cache_hit ? "hit" : "stored") : "off"},
                {"elapsed_s", elapsed}};
  return rep;
}

}  // namespace

SeparateReport separate(const stems::StemDir& in, const fs::path& output, bool force,
                        const SeparateOptions& opt, const json& provenance,
                        const Progress& progress) {
  try {
    SeparateReport rep = separate_impl(in, output, force, opt, provenance, progress);
    rep.details.push_back("device " + rep.device +
                          (rep.threads ? ", " + std::to_string(rep.threads) + " threads" : ""));
    if (rep.separate_s > 0)
      rep.details.push_back(fixed(rep.separate_s / rep.audio_s, 3) + " s per audio second");
    if (rep.tensor_memory.hits + rep.tensor_memory.misses > 0)
      rep.details.push_back("tensor memory: " + summary(rep.tensor_memory));
    return rep;
  } catch (const c10::Error& e) {
    // libtorch's messages carry a C++ backtrace; keep the first line of the message only.
    std::string msg = e.what_without_backtrace();
    msg = msg.substr(0, msg.find('\n'));
    throw Error(describe("libtorch failed", in.path().string(), msg));
  }
}

}  // namespace rz::demucs
