// Streaming port of demucs.apply.apply_model and demucs.api.Separator's normalisation.
#include "rz/demucs/apply.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "rz/demucs/checkpoint.hpp"
#include "rz/error.hpp"
#include "rz/nn/device_copy.hpp"

namespace rz::demucs {

using torch::indexing::Slice;

// ---------------------------------------------------------------------------------------------
// Python's random: MT19937 (Matsumoto and Nishimura) seeded like random.seed(int).

PyRandom::PyRandom(uint64_t seed) {
  // init_genrand(19650218)
  mt_[0] = 19650218u;
  for (int i = 1; i < 624; ++i)
    mt_[i] = 1812433253u * (mt_[i - 1] ^ (mt_[i - 1] >> 30)) + static_cast<uint32_t>(i);
  // init_by_array with the 32-bit words of the seed, least significant first (at least one).
  std::vector<uint32_t> key;
  do {
    key.push_back(static_cast<uint32_t>(seed & 0xffffffffu));
    seed >>= 32;
  } while (seed != 0);
  int i = 1;
  size_t j = 0;
  for (int k = std::max<int>(624, static_cast<int>(key.size())); k > 0; --k) {
    mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1664525u)) + key[j] +
             static_cast<uint32_t>(j);
    ++i;
    ++j;
    if (i >= 624) {
      mt_[0] = mt_[623];
      i = 1;
    }
    if (j >= key.size()) j = 0;
  }
  for (int k = 623; k > 0; --k) {
    mt_[i] =
        (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1566083941u)) - static_cast<uint32_t>(i);
    ++i;
    if (i >= 624) {
      mt_[0] = mt_[623];
      i = 1;
    }
  }
  mt_[0] = 0x80000000u;
  index_ = 624;
}

uint32_t PyRandom::next() {
  if (index_ >= 624) {
    for (int k = 0; k < 624; ++k) {
      const uint32_t y = (mt_[k] & 0x80000000u) | (mt_[(k + 1) % 624] & 0x7fffffffu);
      mt_[k] = mt_[(k + 397) % 624] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
    }
    index_ = 0;
  }
  uint32_t y = mt_[index_++];
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= y >> 18;
  return y;
}

uint32_t PyRandom::getrandbits(int k) { return next() >> (32 - k); }

int64_t PyRandom::randbelow(int64_t n) {
  int k = 0;
  while ((int64_t{1} << k) <= n) ++k;  // n.bit_length()
  int64_t r = getrandbits(k);
  while (r >= n) r = getrandbits(k);
  return r;
}

// ---------------------------------------------------------------------------------------------
// Loading

Ensemble load_ensemble(const ModelSpec& spec, const torch::Device& device) {
  Ensemble e;
  e.name = spec.name;
  for (const auto& file : spec.files) {
    const Checkpoint ckpt = read_checkpoint(file);
    auto model = load_htdemucs(ckpt, file.string());
    const auto& cfg = model->config();
    if (e.members.empty()) {
      e.sources = cfg.sources;
      e.sample_rate_hz = cfg.samplerate;
      e.channels = cfg.audio_channels;
      e.max_segment_s = cfg.segment_s;
    } else if (cfg.sources != e.sources || cfg.samplerate != e.sample_rate_hz ||
               cfg.audio_channels != e.channels) {
      throw InputError(describe(
          "bad model bag", spec.name,
          "member '" + ckpt.name + "' differs from the first in sources, rate or channels"));
    }
    e.max_segment_s = std::min(e.max_segment_s, cfg.segment_s);
    model->to(device);
    e.members.push_back(model);
    e.member_names.push_back(ckpt.name);
    e.member_sha256.push_back(ckpt.sha256);
  }
  if (e.members.empty()) throw InputError(describe("bad model", spec.name, "no checkpoint"));
  if (spec.weights.empty()) {
    e.weights.assign(e.members.size(), std::vector<double>(e.sources.size(), 1.0));
  } else {
    e.weights = spec.weights;
    if (e.weights.size() != e.members.size())
      throw InputError(describe("bad model bag", spec.name, "one row of weights per model needed"));
    for (const auto& row : e.weights)
      if (row.size() != e.sources.size())
        throw InputError(describe("bad model bag", spec.name,
                                  "each weight row needs one value per source (" +
                                      std::to_string(e.sources.size()) + ")"));
    for (size_t k = 0; k < e.sources.size(); ++k) {
      double total = 0;
      for (const auto& row : e.weights) total += row[k];
      if (!(total > 0))
        throw InputError(describe("bad model bag", spec.name,
                                  "the weights of source '" + e.sources[k] + "' sum to zero"));
    }
  }
  return e;
}

void ApplyOptions::validate() const {
  if (shifts < 0 || shifts > 100) throw UsageError("--shifts must be between 0 and 100");
  if (!(overlap >= 0 && overlap < 1)) throw UsageError("--overlap must be in [0, 1)");
  if (!(transition_power >= 1) || !std::isfinite(transition_power))
    throw UsageError("transition power must be >= 1");
  if (segment_s && !(*segment_s > 0 && std::isfinite(*segment_s)))
    throw UsageError("--segment must be positive");
  if (batch < 1 || batch > kMaxBatch)
    throw UsageError("--batch must be 1 to " + std::to_string(kMaxBatch));
}

void ApplyOptions::validate(const Ensemble& model) const {
  validate();
  if (segment_s) {
    if (*segment_s > model.max_segment_s + 1e-9)
      throw UsageError("--segment " + fixed(*segment_s, 2) + " is longer than the model's " +
                       fixed(model.max_segment_s, 2) + " s training segment");
    if (static_cast<int64_t>(*segment_s * model.sample_rate_hz) < 2 * 4096)
      throw UsageError("--segment is too short (at least 0.2 s)");
  }
}

// ---------------------------------------------------------------------------------------------
// Streaming overlap-add

namespace {

// One pass of one model over the (possibly shifted) mix: apply_model with split=True.
struct Lane {
  size_t member = 0;
  int64_t to_mix = 0;  // mix frame = lane frame + to_mix (off - max_shift with shifts, else 0)
  int64_t drop = 0;    // lane frames below this are discarded (max_shift - off)
  int64_t length = 0;  // lane length
  int64_t segment = 0;
  int64_t stride = 0;
  int64_t n_chunks = 0;
  int64_t next = 0;         // next chunk index
  int64_t acc_base = 0;     // lane frame of acc's first column
  std::vector<float> acc;   // planar [S*C][width]
  std::vector<float> wsum;  // [width]
  int64_t width = 0;

  int64_t final_lane() const {
    if (next >= n_chunks) return length;
    return next * stride;  // chunks start at multiples of stride
  }
  bool done() const { return next >= n_chunks; }
};

}  // namespace

ApplyPlan apply_streaming(Ensemble& model, const ApplyOptions& opt, int64_t length, double mean,
                          double std, const ReadFn& read, const SinkFn& sink,
                          const ApplyProgressFn& progress) {
  opt.validate(model);
  if (length <= 0) throw InputError("nothing to separate: the mix is empty");
  torch::NoGradGuard no_grad;
  const int64_t S = static_cast<int64_t>(model.sources.size());
  const int64_t C = model.channels;
  const int64_t rows = S * C;
  const int64_t max_shift = static_cast<int64_t>(0.5 * model.sample_rate_hz);
  const auto device = model.members.front()->parameters().front().device();

  // Plan every lane, drawing the shift offsets exactly as the official code would after
  // random.seed(seed): member by member, one randint per shift, then one randrange(1) per forward
  // (the transformer's sin_random_shift draw).
  ApplyPlan plan;
  plan.batch = opt.batch;
  PyRandom rng(opt.seed);
  std::vector<Lane> lanes;
  std::vector<int> shifts_of_member;
  for (size_t i = 0; i < model.members.size(); ++i) {
    const auto& cfg = model.members[i]->config();
    const double seg_s = opt.segment_s ? *opt.segment_s : cfg.segment_s;
    const int64_t seg =
        opt.segment_s ? static_cast<int64_t>(model.sample_rate_hz * seg_s) : cfg.training_frames();
    const int64_t stride = static_cast<int64_t>((1 - opt.overlap) * static_cast<double>(seg));
    if (stride <= 0) throw UsageError("--overlap leaves no stride between segments");
    auto add_lane = [&](int64_t to_mix, int64_t drop, int64_t lane_len) {
      Lane l;
      l.member = i;
      l.to_mix = to_mix;
      l.drop = drop;
      l.length = lane_len;
      l.segment = seg;
      l.stride = stride;
      l.n_chunks = (lane_len + stride - 1) / stride;
      for (int64_t k = 0; k < l.n_chunks && cfg.t_layers > 0; ++k) rng.randbelow(1);
      plan.forwards += l.n_chunks;
      lanes.push_back(std::move(l));
    };
    std::vector<int64_t> offs;
    if (opt.shifts > 0) {
      for (int j = 0; j < opt.shifts; ++j) {
        const int64_t off = rng.randint(0, max_shift);
        offs.push_back(off);
        add_lane(off - max_shift, max_shift - off, length + max_shift - off);
      }
    } else {
      add_lane(0, 0, length);
    }
    shifts_of_member.push_back(std::max(opt.shifts, 1));
    plan.offsets.push_back(offs);
    if (i == 0) {
      plan.segment_frames = seg;
      plan.stride_frames = stride;
    }
  }

  // Per-source normalisation of the bag weights.
  std::vector<std::vector<float>> wnorm(model.members.size(), std::vector<float>(S));
  for (int64_t k = 0; k < S; ++k) {
    double total = 0;
    for (const auto& row : model.weights) total += row[k];
    for (size_t i = 0; i < model.members.size(); ++i)
      wnorm[i][k] = static_cast<float>(model.weights[i][k] / total);
  }

  nn::DeviceCopier copier(device);
  std::vector<float> in_buf;
  std::vector<float> out_buf;
  int64_t emitted = 0;  // mix frames handed to the sink
  int64_t forwards_done = 0;

  auto lane_frontier = [&](const Lane& l) {
    return std::clamp<int64_t>(l.final_lane() - l.drop, 0, length);
  };

  while (true) {
    // Advance the lane that is furthest behind.
    Lane* lane = nullptr;
    for (auto& l : lanes)
      if (!l.done() && (!lane || lane_frontier(l) < lane_frontier(*lane))) lane = &l;
    if (lane) {
      Lane& l = *lane;
      // The next `nb` segments of this pass, padded to the segment and stacked into one batch.
      const int64_t nb = std::min<int64_t>(opt.batch, l.n_chunks - l.next);
      in_buf.assign(static_cast<size_t>(nb * C * l.segment), 0.0f);
      for (int64_t b = 0; b < nb; ++b) {
        const int64_t off = (l.next + b) * l.stride;
        const int64_t delta = l.segment - std::min(l.length - off, l.segment);
        const int64_t start = off - delta / 2;  // TensorChunk.padded centres a short chunk
        read(start + l.to_mix, l.segment, in_buf.data() + b * C * l.segment);
      }
      const auto x =
          copier.to_device(torch::from_blob(in_buf.data(), {nb, C, l.segment}, torch::kFloat));
      // (nb, S, C, segment) -> (nb, rows, segment) on the host
      const auto y =
          copier.to_host(model.members[l.member]->forward(x).reshape({nb, rows, l.segment}));
      const float* ybase = y.data_ptr<float>();
      for (int64_t b = 0; b < nb; ++b) {
        const int64_t off = l.next * l.stride;
        const int64_t chunk_len = std::min(l.length - off, l.segment);
        const int64_t lead = (l.segment - chunk_len) / 2;  // the padding in front
        const float* yp = ybase + b * rows * l.segment + lead;
        // Grow the accumulator to cover [acc_base, off + chunk_len).
        const int64_t need = off + chunk_len - l.acc_base;
        if (need > l.width) {
          std::vector<float> acc(static_cast<size_t>(rows * need), 0.0f);
          for (int64_t r = 0; r < rows; ++r)
            std::copy_n(l.acc.begin() + r * l.width, l.width, acc.begin() + r * need);
          l.acc.swap(acc);
          l.wsum.resize(static_cast<size_t>(need), 0.0f);
          l.width = need;
        }
        const int64_t half = l.segment / 2;
        const float wmax = static_cast<float>(std::max(half, l.segment - half));
        for (int64_t t = 0; t < chunk_len; ++t) {
          const int64_t tri = t < half ? t + 1 : l.segment - t;  // arange(1..L/2), then down
          float w = static_cast<float>(tri) / wmax;
          if (opt.transition_power != 1.0)
            w = std::pow(w, static_cast<float>(opt.transition_power));
          const int64_t col = off - l.acc_base + t;
          l.wsum[static_cast<size_t>(col)] += w;
          for (int64_t r = 0; r < rows; ++r)
            l.acc[static_cast<size_t>(r * l.width + col)] += w * yp[r * l.segment + t];
        }
        ++l.next;
      }
      forwards_done += nb;
      ++plan.batches;
      if (progress) progress(forwards_done, plan.forwards);
    }

    // Emit what every lane has finished.
    int64_t frontier = length;
    for (const auto& l : lanes) frontier = std::min(frontier, lane_frontier(l));
    if (frontier > emitted) {
      const int64_t n = frontier - emitted;
      out_buf.assign(static_cast<size_t>(rows * n), 0.0f);
      for (const auto& l : lanes) {
        const float inv_shifts = 1.0f / static_cast<float>(shifts_of_member[l.member]);
        for (int64_t r = 0; r < rows; ++r) {
          const float wk = wnorm[l.member][r / C] * inv_shifts;
          for (int64_t t = 0; t < n; ++t) {
            const int64_t col = emitted + t + l.drop - l.acc_base;
            out_buf[static_cast<size_t>(r * n + t)] +=
                wk *
                (l.acc[static_cast<size_t>(r * l.width + col)] / l.wsum[static_cast<size_t>(col)]);
          }
        }
      }
      const float fstd = static_cast<float>(std), fmean = static_cast<float>(mean);
      for (auto& v : out_buf) v = v * fstd + fmean;
      sink(out_buf.data(), n, n);
      emitted = frontier;
      // Drop the columns no lane needs any more.
      for (auto& l : lanes) {
        const int64_t keep_from = std::max<int64_t>(emitted + l.drop, l.acc_base);
        const int64_t cut = std::min(keep_from - l.acc_base, l.width);
        if (cut <= 0) continue;
        const int64_t w2 = l.width - cut;
        for (int64_t r = 0; r < rows; ++r)
          std::copy_n(l.acc.begin() + r * l.width + cut, w2, l.acc.begin() + r * w2);
        l.acc.resize(static_cast<size_t>(rows * w2));
        l.wsum.erase(l.wsum.begin(), l.wsum.begin() + cut);
        l.width = w2;
        l.acc_base += cut;
      }
    }
    if (!lane) break;
  }
  if (emitted != length) throw Error("internal error: separation stopped early");
  return plan;
}

}  // namespace rz::demucs
