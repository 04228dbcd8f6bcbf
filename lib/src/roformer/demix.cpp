// MSST's demix as a stream (see demix.hpp). The official code pads and accumulates whole
// recordings in memory; here the same sums are kept only for the frames that a later chunk can
// still reach, and every sum runs in the official order (chunk by chunk, x * window, then +=) in
// fp32, so the streamed estimate equals the official one.
#include "rz/roformer/demix.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>

#include "rz/error.hpp"
#include "rz/nn/device_copy.hpp"

namespace rz::roformer {

// inference.py's name for the input minus the target stem (--extract_instrumental).
constexpr const char* kResidualStem = "instrumental";

DemixPlan plan_demix(const Config& config, int64_t frames) {
  const InferenceSettings& inf = config.inference;
  const ModelSettings& m = config.model;
  DemixPlan p;
  p.chunk = inf.chunk_size;
  // The STFT's reflect padding needs more than n_fft / 2 frames per chunk; a chunk of at least
  // n_fft also keeps the fades (chunk / 10) non-empty.
  if (p.chunk < m.stft_n_fft)
    throw UsageError("the chunk (" + std::to_string(p.chunk) +
                     " frames) is shorter than the "
                     "model's STFT (" +
                     std::to_string(m.stft_n_fft) + " frames)");
  if (inf.num_overlap < 1 || inf.num_overlap > p.chunk)
    throw UsageError("num_overlap must be between 1 and the chunk size (got " +
                     std::to_string(inf.num_overlap) + ")");
  if (inf.batch_size < 1) throw UsageError("the batch size must be at least 1");
  if (config.family == Family::kMelBand && !m.match_input_audio_length &&
      p.chunk % m.stft_hop_length != 0)
    throw UsageError("a Mel-Band RoFormer's chunk must be a multiple of its hop (" +
                     std::to_string(m.stft_hop_length) + " frames; got " + std::to_string(p.chunk) +
                     ")");
  p.step = p.chunk / inf.num_overlap;
  p.border = p.chunk - p.step;
  p.fade = p.chunk / 10;
  p.batch = inf.batch_size;
  p.padded = frames > 2 * p.border && p.border > 0;
  p.padded_frames = p.padded ? frames + 2 * p.border : frames;
  p.chunks = p.padded_frames > 0 ? (p.padded_frames + p.step - 1) / p.step : 0;
  p.batches = (p.chunks + p.batch - 1) / p.batch;
  return p;
}

namespace {

// The official window: ones, `fade` frames of torch.linspace(0, 1) at the start and of
// torch.linspace(1, 0) at the end.
std::vector<float> base_window(const DemixPlan& p) {
  std::vector<float> w(static_cast<size_t>(p.chunk), 1.0f);
  auto in = torch::linspace(0, 1, p.fade, torch::kFloat).contiguous();
  auto out = torch::linspace(1, 0, p.fade, torch::kFloat).contiguous();
  std::copy(in.data_ptr<float>(), in.data_ptr<float>() + p.fade, w.begin());
  std::copy(out.data_ptr<float>(), out.data_ptr<float>() + p.fade, w.end() - p.fade);
  return w;
}

// np.nan_to_num(nan=0.0) of one estimate.
float nan_to_num(float v) {
  if (std::isnan(v)) return 0.0f;
  if (std::isinf(v)) return v > 0 ? FLT_MAX : -FLT_MAX;
  return v;
}

}  // namespace

DemixPlan demix_streaming(Roformer& model, int64_t frames, const DemixReadFn& read,
                          const DemixSinkFn& sink, const DemixProgressFn& progress) {
  const Config& config = model->config();
  const DemixPlan p = plan_demix(config, frames);
  if (frames <= 0) return p;
  const int64_t C = config.channels, S = config.model.num_stems, P = p.padded_frames;
  const int64_t off = p.padded ? p.border : 0;  // padded coordinate of input frame 0
  const torch::Device device = model->parameters().front().device();
  const std::vector<float> window0 = base_window(p);

  // Sums over padded frames [acc_start, acc_start + acc_len): result[s][c][t], counter[t].
  int64_t acc_start = 0, acc_len = 0;
  std::vector<float> result, counter;
  auto grow = [&](int64_t end) {
    if (end - acc_start <= acc_len) return;
    const int64_t len = end - acc_start;
    std::vector<float> r(static_cast<size_t>(S * C * len), 0.0f);
    for (int64_t row = 0; row < S * C; ++row)
      std::copy_n(result.begin() + row * acc_len, acc_len, r.begin() + row * len);
    result.swap(r);
    counter.resize(static_cast<size_t>(len), 0.0f);
    acc_len = len;
  };
  // Emits padded frames [acc_start, upto) and drops them from the sums.
  std::vector<float> out;
  auto emit = [&](int64_t upto) {
    const int64_t n = upto - acc_start;
    if (n <= 0) return;
    // Only padded frames that map to the input are output.
    const int64_t a = std::max(acc_start, off), b = std::min(upto, off + frames);
    if (b > a) {
      const int64_t m = b - a;
      out.resize(static_cast<size_t>(S * C * m));
      for (int64_t row = 0; row < S * C; ++row)
        for (int64_t t = 0; t < m; ++t) {
          const int64_t k = a - acc_start + t;
          out[static_cast<size_t>(row * m + t)] = nan_to_num(
              result[static_cast<size_t>(row * acc_len + k)] / counter[static_cast<size_t>(k)]);
        }
      sink(out.data(), m, m);
    }
    const int64_t keep = acc_len - n;
    std::vector<float> r(static_cast<size_t>(S * C * std::max<int64_t>(keep, 0)), 0.0f);
    for (int64_t row = 0; row < S * C && keep > 0; ++row)
      std::copy_n(result.begin() + row * acc_len + n, keep, r.begin() + row * keep);
    result.swap(r);
    counter.erase(counter.begin(), counter.begin() + std::min<int64_t>(n, acc_len));
    acc_len = std::max<int64_t>(keep, 0);
    acc_start = upto;
  };

  // The input frames of padded frame range [s, s + len) (reflect padding of the whole mix, as
  // F.pad(mode='reflect'): mirror without repeating the edge frame), planar [c][len].
  std::vector<float> span;
  auto read_padded = [&](int64_t s, int64_t len, float* planar) {
    auto src = [&](int64_t q) {
      int64_t o = q - off;
      if (o < 0) o = -o;
      if (o >= frames) o = 2 * (frames - 1) - o;
      return o;
    };
    int64_t lo = frames, hi = -1;
    for (int64_t q : {s, s + len - 1, std::min(std::max(s, off), s + len - 1),
                      std::max(std::min(s + len - 1, off + frames - 1), s)}) {
      lo = std::min(lo, src(q));
      hi = std::max(hi, src(q));
    }
    // The mapping is piecewise monotonic with breaks only at `off` and `off + frames - 1`, so
    // the ends and those breaks bound it.
    const int64_t n = hi - lo + 1;
    span.resize(static_cast<size_t>(C * n));
    read(lo, n, span.data());
    for (int64_t c = 0; c < C; ++c)
      for (int64_t t = 0; t < len; ++t)
        planar[c * len + t] = span[static_cast<size_t>(c * n + src(s + t) - lo)];
  };

  torch::NoGradGuard no_grad;
  int64_t i = 0, calls = 0;
  std::vector<std::pair<int64_t, int64_t>> locations;
  std::vector<torch::Tensor> parts;
  nn::DeviceCopier copier(device);
  std::vector<float> buf;
  std::vector<float> window;
  while (i < P) {
    throw_if_interrupted();
    const int64_t len = std::min(p.chunk, P - i);
    buf.resize(static_cast<size_t>(C * len));
    read_padded(i, len, buf.data());
    auto part = torch::from_blob(buf.data(), {1, C, len}, torch::kFloat).clone();
    if (len < p.chunk) {
      // Reflect when the chunk holds more than half a chunk, zeros otherwise.
      namespace F = torch::nn::functional;
      auto opt = F::PadFuncOptions({0, p.chunk - len});
      part = len > p.chunk / 2 ? F::pad(part, opt.mode(torch::kReflect))
                               : F::pad(part, opt.mode(torch::kConstant).value(0));
    }
    parts.push_back(part.squeeze(0));
    locations.emplace_back(i, len);
    i += p.step;
    if (static_cast<int64_t>(parts.size()) < p.batch && i < P) continue;

    const auto x = copier.to_host(model->forward(copier.to_device(torch::stack(parts, 0))));
    ++calls;
    // The window is chosen once per batch from the next chunk's start, as the official code.
    window = window0;
    if (i - p.step == 0) {
      std::fill(window.begin(), window.begin() + p.fade, 1.0f);
    } else if (i >= P) {
      std::fill(window.end() - p.fade, window.end(), 1.0f);
    }
    const int64_t xl = x.size(-1);
    const float* xp = x.data_ptr<float>();
    for (size_t j = 0; j < locations.size(); ++j) {
      const auto [start, n] = locations[j];
      TORCH_CHECK(xl >= n, "the model returned ", xl, " frames for a chunk of ", n);
      grow(start + n);
      const int64_t at = start - acc_start;
      for (int64_t row = 0; row < S * C; ++row) {
        const float* xr = xp + (static_cast<int64_t>(j) * S * C + row) * xl;
        float* rr = result.data() + row * acc_len + at;
        for (int64_t t = 0; t < n; ++t) rr[t] += xr[t] * window[static_cast<size_t>(t)];
      }
      for (int64_t t = 0; t < n; ++t) counter[static_cast<size_t>(at + t)] += window[t];
    }
    parts.clear();
    locations.clear();
    // No later chunk starts before i: everything before it is final.
    emit(std::min(i, P));
    if (progress) progress(calls, p.batches);
  }
  emit(P);
  return p;
}

std::vector<std::string> output_stems(const Config& config) {
  std::vector<std::string> stems = config.model_stems();
  if (!config.target_instrument.empty()) stems.push_back(kResidualStem);
  return stems;
}

void InputStats::add(const float* planar, int64_t frames, int channels) {
  for (int64_t t = 0; t < frames; ++t) {
    // mix.mean(0) in float32, as numpy computes it for two channels: (l + r) / 2.
    float mono = 0;
    for (int c = 0; c < channels; ++c) mono += planar[c * frames + t];
    mono /= static_cast<float>(channels);
    sum_ += mono;
    sum2_ += static_cast<double>(mono) * mono;
  }
  n_ += frames;
}

float InputStats::mean() const { return n_ ? static_cast<float>(sum_ / n_) : 0.0f; }

float InputStats::std() const {
  if (!n_) return 0.0f;
  const double m = sum_ / n_;
  return static_cast<float>(std::sqrt(std::max(0.0, sum2_ / n_ - m * m)));
}

DemixPlan infer_streaming(Roformer& model, int64_t frames, const InputStats* norm,
                          const DemixReadFn& read, const DemixSinkFn& sink,
                          const DemixProgressFn& progress) {
  const Config& config = model->config();
  const int64_t C = config.channels, S = config.model.num_stems;
  const bool residual = !config.target_instrument.empty();
  const int64_t out_stems = S + (residual ? 1 : 0);
  const float mean = norm ? norm->mean() : 0.0f, sd = norm ? norm->std() : 1.0f;
  auto read_norm = [&](int64_t start, int64_t n, float* planar) {
    read(start, n, planar);
    if (norm)
      for (int64_t k = 0; k < n * C; ++k) planar[k] = (planar[k] - mean) / sd;
  };
  int64_t pos = 0;
  std::vector<float> out, mix;
  auto stems = [&](const float* planar, int64_t n, int64_t stride) {
    out.resize(static_cast<size_t>(out_stems * C * n));
    for (int64_t row = 0; row < S * C; ++row)
      for (int64_t t = 0; t < n; ++t) {
        const float v = planar[row * stride + t];
        out[static_cast<size_t>(row * n + t)] = norm ? v * sd + mean : v;
      }
    if (residual) {
      mix.resize(static_cast<size_t>(C * n));
      read(pos, n, mix.data());
      for (int64_t c = 0; c < C; ++c)
        for (int64_t t = 0; t < n; ++t)
          out[static_cast<size_t>((S * C + c) * n + t)] =
              mix[static_cast<size_t>(c * n + t)] - out[static_cast<size_t>(c * n + t)];
    }
    pos += n;
    sink(out.data(), n, n);
  };
  return demix_streaming(model, frames, read_norm, stems, progress);
}

}  // namespace rz::roformer
