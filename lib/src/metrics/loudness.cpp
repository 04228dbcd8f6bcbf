// libebur128 wrapper; maxima are sampled on the 100 ms grid BS.1770 uses for its blocks.
#include "rz/metrics/loudness.hpp"

#include <ebur128.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "rz/error.hpp"

namespace rz::metrics {

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// BS.1770-4 / EBU Tech 3342 gating constants, as libebur128 1.2.6 applies them.
constexpr double kAbsoluteGateLufs = -70.0;
constexpr double kLoudnessOffset = 0.691;        // L = 10 log10(energy) - 0.691
constexpr double kIntegratedRelativeGateLu = -10.0;
constexpr double kRangeRelativeGateLu = -20.0;
constexpr double kRangeLowPercentile = 0.10;
constexpr double kRangeHighPercentile = 0.95;
constexpr int kGatingBlockSteps = 4;      // 400 ms blocks, every 100 ms
constexpr int kShortTermSteps = 30;       // 3 s short-term blocks for the range,
constexpr int kShortTermHopSteps = 10;    // every second (libebur128's schedule)
// The bins: 0.01 LU from the absolute gate to +100 LUFS (a full-scale float square wave reads
// +3 LUFS; louder floats land in the top bin with their exact energy).
constexpr double kBinLu = 0.01;
constexpr double kTopLufs = 100.0;

double loudness_to_energy(double lufs) { return std::pow(10.0, (lufs + kLoudnessOffset) / 10.0); }
double energy_to_loudness(double e) { return 10.0 * std::log10(e) - kLoudnessOffset; }

// Block energies above the absolute gate, counted in 0.01 LU bins that keep their energy sum.
class GatedBlocks {
 public:
  GatedBlocks()
      : count_(static_cast<size_t>((kTopLufs - kAbsoluteGateLufs) / kBinLu) + 1, 0),
        energy_(count_.size(), 0.0) {}

  void add(double energy) {
    if (!(energy >= gate_energy_)) return;  // below the absolute gate (or silence)
    const double l = energy_to_loudness(energy);
    const size_t b = std::min(count_.size() - 1,
                              static_cast<size_t>((l - kAbsoluteGateLufs) / kBinLu));
    ++count_[b];
    energy_[b] += energy;
    ++total_;
    total_energy_ += energy;
  }

  int64_t total() const { return total_; }
  double mean_energy() const { return total_ ? total_energy_ / static_cast<double>(total_) : 0.0; }

  // First bin whose blocks count as at or above `threshold` energy: a bin straddling it counts
  // when its mean does.
  size_t first_bin_at(double threshold) const {
    for (size_t b = 0; b < count_.size(); ++b) {
      if (count_[b] == 0) continue;
      const double upper = loudness_to_energy(kAbsoluteGateLufs + (static_cast<double>(b) + 1) * kBinLu);
      if (upper <= threshold) continue;
      if (energy_[b] / count_[b] >= threshold) return b;
    }
    return count_.size();
  }

  // Mean energy of the blocks from bin `first` up; 0 when there are none.
  double mean_from(size_t first, int64_t* n) const {
    double sum = 0;
    *n = 0;
    for (size_t b = first; b < count_.size(); ++b) {
      sum += energy_[b];
      *n += count_[b];
    }
    return *n ? sum / static_cast<double>(*n) : 0.0;
  }

  // The energy of rank `rank` (0-based, ascending) among the blocks from bin `first` up, as its
  // bin's mean energy.
  double energy_at_rank(size_t first, int64_t rank) const {
    int64_t seen = 0;
    for (size_t b = first; b < count_.size(); ++b) {
      seen += count_[b];
      if (seen > rank) return energy_[b] / count_[b];
    }
    return 0.0;
  }

 private:
  std::vector<uint32_t> count_;
  std::vector<double> energy_;
  int64_t total_ = 0;
  double total_energy_ = 0;
  const double gate_energy_ = loudness_to_energy(kAbsoluteGateLufs);
};

}  // namespace

struct LoudnessMeter::State {
  ebur128_state* st = nullptr;
  GatedBlocks blocks;       // 400 ms gating blocks (integrated loudness)
  GatedBlocks short_term;   // 3 s blocks every second (loudness range)
  // kSeries from the energies of the last kShortTermSteps 100 ms steps (a ring), where a step is
  // exactly the window libebur128 reads as 100 ms: its momentary and short-term calls sum 400 ms
  // and 3 s of samples at every step, 34 step-lengths a step, which made the meter the costliest
  // part of an rz-analyze pass.
  bool windowed_series = false;
  std::array<double, kShortTermSteps> step_energy{};
  ~State() {
    if (st) ebur128_destroy(&st);
  }
};

LoudnessMeter::LoudnessMeter(int channels, int sample_rate_hz, unsigned features)
    : channels_(channels),
      sample_rate_hz_(sample_rate_hz),
      features_(features),
      state_(new State),
      step_frames_(static_cast<size_t>((sample_rate_hz + 5) / 10)),
      frames_to_boundary_(step_frames_),
      max_momentary_(kNegInf),
      max_short_term_(kNegInf) {
  // Momentary (400 ms) and short-term (3 s) energies are read at every 100 ms step; libebur128's
  // own integrated and range modes are not used (see the header).
  int mode = EBUR128_MODE_M;
  if (features & (kRange | kMaxima | kSeries)) mode |= EBUR128_MODE_S;
  if (features & kSamplePeak) mode |= EBUR128_MODE_SAMPLE_PEAK;
  if (features & kTruePeak) mode |= EBUR128_MODE_TRUE_PEAK;
  state_->st = ebur128_init(static_cast<unsigned>(channels),
                            static_cast<unsigned long>(sample_rate_hz), mode);
  if (!state_->st) {
    throw Error("cannot measure loudness", std::to_string(sample_rate_hz) + " Hz",
                "libebur128 refused these settings");
  }
  if (channels == 1) ebur128_set_channel(state_->st, 0, EBUR128_DUAL_MONO);
  // libebur128 reads a window of `ms` as rate * ms / 1000 frames (integer division), and a
  // momentary block as 4 steps of (rate + 5) / 10 frames: the same steps when they agree.
  state_->windowed_series =
      (features & kSeries) &&
      static_cast<size_t>(static_cast<unsigned long>(sample_rate_hz) * 100 / 1000) == step_frames_;
}

void LoudnessMeter::add_windowed_series() {
  double step = kNegInf;
  const bool ok = ebur128_loudness_window(state_->st, 100, &step) == EBUR128_SUCCESS;
  auto& ring = state_->step_energy;
  ring[static_cast<size_t>((steps_ - 1) % kShortTermSteps)] =
      ok && std::isfinite(step) ? loudness_to_energy(step) : 0.0;
  // The last n steps' mean; before the first n steps are done, the missing ones are the zeros
  // libebur128's buffer starts with, as its own calls read them.
  auto level = [&](int n) {
    double sum = 0;
    for (int i = 0; i < n; ++i) {
      sum += ring[static_cast<size_t>((steps_ - 1 - i + kShortTermSteps) % kShortTermSteps)];
    }
    return sum > 0 ? static_cast<float>(energy_to_loudness(sum / n)) : -HUGE_VALF;
  };
  momentary_series_.push_back(level(kGatingBlockSteps));
  short_term_series_.push_back(level(kShortTermSteps));
}

LoudnessMeter::~LoudnessMeter() {
  if (job_.valid()) job_.wait();
}

void LoudnessMeter::wait() const {
  if (job_.valid()) job_.get();
}

void LoudnessMeter::add_async(const float* x, size_t frames) {
  wait();
  async_block_.assign(x, x + frames * static_cast<size_t>(channels_));
  job_ = std::async(std::launch::async, [this, frames] { add_now(async_block_.data(), frames); });
}

void LoudnessMeter::add(const float* x, size_t frames) {
  wait();
  add_now(x, frames);
}

void LoudnessMeter::add_now(const float* x, size_t frames) {
  if (!(features_ & (kIntegrated | kRange | kMaxima | kSeries))) {
    ebur128_add_frames_float(state_->st, x, frames);
    return;
  }
  // Feed up to each 100 ms step, then read the blocks that end there.
  while (frames > 0) {
    const size_t n = std::min(frames, frames_to_boundary_);
    ebur128_add_frames_float(state_->st, x, n);
    x += n * static_cast<size_t>(channels_);
    frames -= n;
    frames_to_boundary_ -= n;
    if (frames_to_boundary_ > 0) continue;
    frames_to_boundary_ = step_frames_;
    ++steps_;
    if (state_->windowed_series) add_windowed_series();
    // kSeries where the steps are not libebur128's 100 ms windows: its own calls at every step.
    const bool library_series = (features_ & kSeries) && !state_->windowed_series;
    if ((steps_ >= kGatingBlockSteps && (features_ & (kIntegrated | kRange | kMaxima))) ||
        library_series) {
      double m = kNegInf;
      const bool ok = ebur128_loudness_momentary(state_->st, &m) == EBUR128_SUCCESS;
      if (library_series) momentary_series_.push_back(ok ? static_cast<float>(m) : -HUGE_VALF);
      if (ok && steps_ >= kGatingBlockSteps) {
        max_momentary_ = std::max(max_momentary_, m);
        if (features_ & kIntegrated) state_->blocks.add(loudness_to_energy(m));
      }
    }
    const bool range_or_maxima = features_ & (kRange | kMaxima);
    if ((steps_ >= kShortTermSteps && range_or_maxima) || library_series) {
      double s = kNegInf;
      const bool ok = ebur128_loudness_shortterm(state_->st, &s) == EBUR128_SUCCESS;
      if (library_series) short_term_series_.push_back(ok ? static_cast<float>(s) : -HUGE_VALF);
      if (ok && steps_ >= kShortTermSteps && range_or_maxima) {
        max_short_term_ = std::max(max_short_term_, s);
        if ((features_ & kRange) && (steps_ - kShortTermSteps) % kShortTermHopSteps == 0)
          state_->short_term.add(loudness_to_energy(s));
      }
    }
  }
}

double LoudnessMeter::integrated_lufs() const {
  wait();
  const GatedBlocks& g = state_->blocks;
  if (g.total() == 0) return kNegInf;
  const double relative = g.mean_energy() * std::pow(10.0, kIntegratedRelativeGateLu / 10.0);
  int64_t n = 0;
  const double gated = g.mean_from(g.first_bin_at(relative), &n);
  return n ? energy_to_loudness(gated) : kNegInf;
}

double LoudnessMeter::range_lu() const {
  wait();
  const GatedBlocks& g = state_->short_term;
  if (g.total() == 0) return 0;
  const double relative = g.mean_energy() * std::pow(10.0, kRangeRelativeGateLu / 10.0);
  const size_t first = g.first_bin_at(relative);
  int64_t n = 0;
  g.mean_from(first, &n);
  if (n == 0) return 0;
  const auto rank = [n](double p) {
    return static_cast<int64_t>(static_cast<double>(n - 1) * p + 0.5);
  };
  return energy_to_loudness(g.energy_at_rank(first, rank(kRangeHighPercentile))) -
         energy_to_loudness(g.energy_at_rank(first, rank(kRangeLowPercentile)));
}

double LoudnessMeter::true_peak_dbtp() const {
  wait();
  double peak = 0;
  for (int c = 0; c < channels_; ++c) {
    double p = 0;
    if (ebur128_true_peak(state_->st, static_cast<unsigned>(c), &p) == EBUR128_SUCCESS) {
      peak = std::max(peak, p);
    }
  }
  return to_db(peak);
}

double LoudnessMeter::sample_peak_dbfs() const {
  wait();
  double peak = 0;
  for (int c = 0; c < channels_; ++c) {
    double p = 0;
    if (ebur128_sample_peak(state_->st, static_cast<unsigned>(c), &p) == EBUR128_SUCCESS) {
      peak = std::max(peak, p);
    }
  }
  return to_db(peak);
}

std::vector<float> every_nth_step(const std::vector<float>& series, size_t n) {
  std::vector<float> out;
  if (n == 0) return out;
  for (size_t i = n - 1; i < series.size(); i += n) out.push_back(series[i]);
  return out;
}

}  // namespace rz::metrics
