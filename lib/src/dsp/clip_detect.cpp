// Clip detection: plateaus at the peak and soft-limiter tops, per polarity, in one streaming pass.
#include "rz/dsp/clip_detect.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <limits>
#include <string>
#include <vector>

#include "declip_detail.hpp"
#include "rz/dsp/units.hpp"
#include "rz/error.hpp"

namespace rz::dsp {

using detail::check_common;

namespace {

// Level bins of the detector, as in rz::metrics::Analyzer's plateau rule: 0.01 dB wide, from
// -20 dBFS (quieter tops are not clipping) up to +20 dBFS (float stems may exceed full scale).
constexpr double kMinDb = -20.0;
constexpr double kStepDb = 0.01;
constexpr int kBins = static_cast<int>(40.0 / kStepDb);
const double kMinLevel = db_to_amplitude(kMinDb);

// Bin of a magnitude >= kMinLevel.
int level_bin(double a) {
  const int b = static_cast<int>((amplitude_to_db(a) - kMinDb) / kStepDb);
  return std::clamp(b, 0, kBins - 1);
}
double bin_top_db(int b) { return kMinDb + (b + 1) * kStepDb; }

// Soft-limiter shape test (see ClipDetector::finish): the wide band is this many times the soft
// margin, and flat tops must hold this many times the share of a parabolic crest (a tanh knee
// driven 10 dB holds 1.6 times; a sine, 1.0), or a ceiling over many crests this many times less
// (music under a tanh knee: 0.4 to 0.5 times; clean music has too few samples near its peak to
// count at all).
constexpr double kSoftShapeSpan = 5.0;
constexpr double kFlatTopExcess = 1.3;

// A clip level for JSON: null for a polarity without clipping (+-inf), unlike json_level().
nlohmann::json level_or_null(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

}  // namespace

const params::Fields<DeclipSettings>& DeclipSettings::fields() {
  using S = DeclipSettings;
  static const params::Fields<S> f = {
      {"min_run_frames", &S::min_run_frames, "", 2, 64, "frames in a flat run that make it a run"},
      {"level_tolerance_db", &S::level_tolerance_db, "dB", 0, 1,
       "plateaus this close to the polarity's peak are clipping"},
      {"min_runs", &S::min_runs, "", 1, 1000000, "runs needed to call a polarity clipped"},
      {"soft_margin_db", &S::soft_margin_db, "dB", 0.01, 3,
       "soft limiter: samples this close to the peak are unreliable"},
      {"soft_min_ratio", &S::soft_min_ratio, "", 0, 1,
       "share of samples within soft_margin_db of the peak that makes a limiter"},
      {"ar_order", &S::ar_order, "", 4, 128, "AR model order, frames of lag"},
      {"iterations", &S::iterations, "", 1, 20, "AR fit and constrained solve rounds per cluster"},
      {"context_s", &S::context_s, "s", 0.001, 0.1,
       "neighbourhood the AR model is fitted on, each side of a cluster"},
      {"max_run_s", &S::max_run_s, "s", 0.0001, 0.1,
       "longest cluster piece and single run reconstructed"},
  };
  return f;
}

void DeclipSettings::validate() const { params::check(*this, fields(), "declip "); }

nlohmann::json DeclipSettings::to_json() const { return params::to_json(*this, fields()); }

nlohmann::json ClipReport::to_json() const {
  return {{"found", found},
          {"positive_level", level_or_null(positive_level)},
          {"negative_level", level_or_null(negative_level)},
          {"clipped_samples", clipped_samples},
          {"runs", runs},
          {"longest_run_frames", longest_run_frames},
          {"clipped_ratio", clipped_ratio},
          {"soft", soft}};
}

// ---------------------------------------------------------------------------------------------
// Detector.

struct ClipDetector::State {
  DeclipSettings settings;
  int channels;
  int64_t frames = 0;
  double soft_factor;  // 10^(-soft_margin_db / 20)

  // Per polarity (0: positive tops, 1: negative tops, as magnitudes).
  struct Polarity {
    double peak = 0;
    // Plateaus (runs of identical samples) by level bin.
    std::vector<int64_t> plateau_samples = std::vector<int64_t>(kBins, 0);
    std::vector<int64_t> plateau_runs = std::vector<int64_t>(kBins, 0);
    std::vector<int64_t> plateau_longest = std::vector<int64_t>(kBins, 0);
    std::vector<float> plateau_min = std::vector<float>(kBins, std::numeric_limits<float>::max());
    // Near-peak runs: v_i = the largest level L such that sample i lies in a run of at least
    // min_run_frames samples all >= L; histogram of v, and run starts as a difference array
    // (a run at level L starts at i when v_{i-1} < L <= v_i).
    std::vector<int64_t> run_level_samples = std::vector<int64_t>(kBins, 0);
    std::vector<int64_t> run_start_diff = std::vector<int64_t>(kBins + 1, 0);
    int64_t soft_longest = 0;
  };
  Polarity pol[2];

  // Per channel.
  struct Channel {
    float plateau_value = 0;
    int64_t plateau_length = 0;
    // Last min_run_frames magnitudes and window minima, per polarity (ring, newest at head).
    std::vector<double> mag[2], win_min[2];
    int prev_bin[2] = {-1, -1};
    int64_t soft_run[2] = {0, 0};
  };
  std::vector<Channel> ch;

  State(int c, const DeclipSettings& s)
      : settings(s), channels(c), soft_factor(db_to_amplitude(-s.soft_margin_db)), ch(c) {
    const double none = -std::numeric_limits<double>::infinity();
    for (Channel& k : ch) {
      for (int p = 0; p < 2; ++p) {
        k.mag[p].assign(s.min_run_frames, none);
        k.win_min[p].assign(s.min_run_frames, none);
      }
    }
  }

  void end_plateau(Channel& k) {
    const double level = std::fabs(k.plateau_value);
    if (k.plateau_length >= settings.min_run_frames && level >= kMinLevel) {
      Polarity& p = pol[k.plateau_value > 0 ? 0 : 1];
      const int b = level_bin(level);
      p.plateau_samples[b] += k.plateau_length;
      p.plateau_runs[b] += 1;
      p.plateau_longest[b] = std::max(p.plateau_longest[b], k.plateau_length);
      p.plateau_min[b] = std::min(p.plateau_min[b], static_cast<float>(level));
    }
  }

  void add_sample(Channel& k, float x, int64_t i) {
    if (i > 0 && x == k.plateau_value) {
      ++k.plateau_length;
    } else {
      end_plateau(k);
      k.plateau_value = x;
      k.plateau_length = 1;
    }
    const size_t r = static_cast<size_t>(settings.min_run_frames);
    const size_t slot = static_cast<size_t>(i % settings.min_run_frames);
    for (int p = 0; p < 2; ++p) {
      const double a = p == 0 ? x : -static_cast<double>(x);
      Polarity& pl = pol[p];
      if (a > pl.peak) pl.peak = a;
      k.mag[p][slot] = a;
      // Minimum over the window of the last r samples, ending at i.
      double m = a;
      for (size_t j = 0; j < r; ++j) m = std::min(m, k.mag[p][j]);
      k.win_min[p][slot] = m;
      // Sample i - r + 1 is now judged: the windows containing it end at i - r + 1 .. i.
      if (i + 1 < static_cast<int64_t>(r)) continue;
      double v = m;
      for (size_t j = 0; j < r; ++j) v = std::max(v, k.win_min[p][j]);
      const int b = v >= kMinLevel ? level_bin(v) : -1;
      if (b >= 0) ++pl.run_level_samples[b];
      if (b > k.prev_bin[p]) {
        pl.run_start_diff[k.prev_bin[p] + 1] += 1;
        pl.run_start_diff[b + 1] -= 1;
      }
      k.prev_bin[p] = b;
      // Longest run within the soft margin of the peak so far.
      if (v >= kMinLevel && v >= pl.peak * soft_factor) {
        pl.soft_longest = std::max(pl.soft_longest, ++k.soft_run[p]);
      } else {
        k.soft_run[p] = 0;
      }
    }
  }
};

ClipDetector::ClipDetector(int channels, int sample_rate_hz, const DeclipSettings& settings) {
  check_common(channels, sample_rate_hz);
  settings.validate();
  state_ = std::make_unique<State>(channels, settings);
}
ClipDetector::~ClipDetector() = default;
ClipDetector::ClipDetector(ClipDetector&&) noexcept = default;
ClipDetector& ClipDetector::operator=(ClipDetector&&) noexcept = default;

void ClipDetector::add(const float* interleaved, size_t frames) {
  State& s = *state_;
  for (size_t i = 0; i < frames; ++i) {
    for (int c = 0; c < s.channels; ++c) {
      s.add_sample(s.ch[c], interleaved[i * s.channels + c], s.frames);
    }
    ++s.frames;
  }
}

ClipReport ClipDetector::finish() const {
  State s = *state_;  // a copy, so that finishing the open plateaus leaves the stream as it was
  for (State::Channel& k : s.ch) s.end_plateau(k);
  const DeclipSettings& opt = s.settings;
  ClipReport rep;
  rep.positive_level = std::numeric_limits<double>::infinity();
  rep.negative_level = -std::numeric_limits<double>::infinity();
  for (int p = 0; p < 2; ++p) {
    const State::Polarity& pl = s.pol[p];
    if (pl.peak < kMinLevel) continue;
    const double peak_db = amplitude_to_db(pl.peak);
    double level = 0;
    int64_t samples = 0, runs = 0, longest = 0;
    bool found = false, soft = false;
    // Hard: plateaus at the peak.
    int top = kBins - 1;
    while (top >= 0 && pl.plateau_samples[top] == 0) --top;
    if (top >= 0 && bin_top_db(top) >= peak_db - opt.level_tolerance_db) {
      float min_value = std::numeric_limits<float>::max();
      for (int b = top; b >= 0 && bin_top_db(b) >= bin_top_db(top) - opt.level_tolerance_db; --b) {
        samples += pl.plateau_samples[b];
        runs += pl.plateau_runs[b];
        longest = std::max(longest, pl.plateau_longest[b]);
        min_value = std::min(min_value, pl.plateau_min[b]);
      }
      if (runs >= opt.min_runs) {
        found = true;
        level = min_value;
      }
    }
    // Soft: many samples in runs within the margin of the peak.
    if (!found) {
      const double soft_level = pl.peak * s.soft_factor;
      if (soft_level >= kMinLevel) {
        const int from = level_bin(soft_level);
        int64_t n = 0, starts = 0;
        for (int b = from; b < kBins; ++b) n += pl.run_level_samples[b];
        for (int b = 0; b <= from; ++b) starts += pl.run_start_diff[b];
        // Flatness: a smooth (parabolic) crest spends time in proportion to sqrt(depth) within a
        // depth of its top, so the samples within the margin, over those within kSoftShapeSpan
        // times the margin, are sqrt(depth ratio) of them for a sine and for clean programme's
        // crests; a limiter's flattened tops hold more.
        const double wide_level = pl.peak * db_to_amplitude(-kSoftShapeSpan * opt.soft_margin_db);
        int64_t wide = 0;
        for (int b = wide_level >= kMinLevel ? level_bin(wide_level) : 0; b < kBins; ++b) {
          wide += pl.run_level_samples[b];
        }
        const double parabolic = std::sqrt((1 - s.soft_factor) / (1 - wide_level / pl.peak));
        // Either tops flatter than one smooth crest, or many crests of different heights pressed
        // under one ceiling (few of those within the wide band reach the narrow one). A steady
        // tone, whose every crest is the same smooth one, is neither.
        const bool flat = wide > 0 && (n > kFlatTopExcess * parabolic * wide ||
                                       n < parabolic * wide / kFlatTopExcess);
        const double total = static_cast<double>(s.frames) * s.channels;
        if (flat && starts >= opt.min_runs && n >= opt.soft_min_ratio * total && n > 0) {
          found = soft = true;
          level = soft_level;
          samples = n;
          runs = starts;
          longest = pl.soft_longest;
        }
      }
    }
    if (!found) continue;
    rep.found = true;
    rep.soft = rep.soft || soft;
    if (p == 0) {
      rep.positive_level = level;
    } else {
      rep.negative_level = -level;
    }
    rep.clipped_samples += samples;
    rep.runs += runs;
    rep.longest_run_frames = std::max(rep.longest_run_frames, longest);
  }
  const double total = static_cast<double>(s.frames) * s.channels;
  rep.clipped_ratio = total > 0 ? rep.clipped_samples / total : 0.0;
  return rep;
}

}  // namespace rz::dsp
