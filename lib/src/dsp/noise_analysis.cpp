// First-pass noise analysis of a stem: SNR estimates and the crowd-only stretches of an auto
// profile.
#include "rz/dsp/noise_analysis.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <queue>
#include <string>
#include <utility>
#include <vector>

#include "denoise_detail.hpp"

namespace rz::dsp {

using namespace detail;  // denoise_detail.hpp

namespace {

// Bin ranges [first, last) of third-octave bands from 100 Hz to 8 kHz (or Nyquist).
std::vector<std::pair<int, int>> third_octave_bands(int n, double rate) {
  std::vector<std::pair<int, int>> bands;
  const double top = std::min(8000.0, 0.45 * rate);
  for (double lo = 100.0; lo * 1.26 <= top; lo *= std::pow(2.0, 1.0 / 3.0)) {
    const int a = static_cast<int>(std::ceil(lo * n / rate));
    const int b =
        std::max(a + 1, static_cast<int>(std::ceil(lo * std::pow(2.0, 1.0 / 3.0) * n / rate)));
    bands.emplace_back(a, b);
  }
  return bands;
}

// Whether a block's spectrum stays within kNoiseOnlyMatchDb of the tracker's long-term floor in
// at least kNoiseOnlyMatchShare of the third-octave bands.
constexpr double kNoiseOnlyMatchDb = 8.0;
constexpr double kNoiseOnlyMatchShare = 0.9;
// Whether a block's spectrum rises more than kStandOutDb over `reference` in at least
// kStandOutShare of the third-octave bands (0.5 s of a crowd stays within about 2 dB of the crowd's
// mean spectrum in most bands; a note does not).
constexpr double kStandOutDb = 3.0;
constexpr double kStandOutShare = 0.2;
bool stands_out(const std::vector<double>& block, const std::vector<double>& reference,
                const std::vector<std::pair<int, int>>& bands) {
  int over = 0;
  for (const auto& [a, b] : bands) {
    double pb = 0, pr = 0;
    for (int k = a; k < b; ++k) {
      pb += block[k];
      pr += reference[k];
    }
    if (to_db(pb) - to_db(pr) > kStandOutDb) ++over;
  }
  return over >= kStandOutShare * static_cast<double>(bands.size());
}

bool matches_floor(const std::vector<double>& block, const std::vector<double>& floor,
                   const std::vector<std::pair<int, int>>& bands) {
  int ok = 0;
  for (const auto& [a, b] : bands) {
    double pb = 0, pf = 0;
    for (int k = a; k < b; ++k) {
      pb += block[k];
      pf += floor[k];
    }
    if (to_db(pb) - to_db(pf) <= kNoiseOnlyMatchDb) ++ok;
  }
  return !bands.empty() && ok >= kNoiseOnlyMatchShare * static_cast<double>(bands.size());
}

// Levels of each bin of a band over all frames, as counts in kLevelStepDb steps: percentiles in
// constant memory (about 1 MB for the 245 bins of 2048-point frames, whatever the length;
// dsp::LevelHistogram's 0.01 dB steps would take 100 kB per bin, 24 MB here).
class BinLevels {
 public:
  static constexpr double kLowDb = -200.0;  // to_db's floor
  static constexpr double kHighDb = 100.0;  // above any frame of full-scale audio
  static constexpr double kLevelStepDb = 0.25;
  BinLevels(int first, int last)
      : first_(first),
        steps_(static_cast<int>((kHighDb - kLowDb) / kLevelStepDb)),
        counts_(static_cast<size_t>(std::max(0, last - first)) * steps_, 0) {}
  void add(const std::vector<double>& power) {
    const int bins = static_cast<int>(counts_.size() / steps_);
    for (int i = 0; i < bins; ++i) {
      const double step = std::floor((to_db(power[first_ + i]) - kLowDb) / kLevelStepDb);
      ++counts_[static_cast<size_t>(i) * steps_ +
                static_cast<size_t>(std::clamp(step, 0.0, steps_ - 1.0))];
    }
    ++frames_;
  }
  int64_t frames() const { return frames_; }
  // The level (centre of its step) of nearest rank round(p (frames - 1)) of bin first + i.
  double percentile(int i, double p) const {
    const auto rank = static_cast<int64_t>(std::llround(p * static_cast<double>(frames_ - 1)));
    int64_t seen = 0;
    for (int s = 0; s < steps_; ++s) {
      seen += counts_[static_cast<size_t>(i) * steps_ + s];
      if (seen > rank) return kLowDb + (s + 0.5) * kLevelStepDb;
    }
    return kHighDb;
  }

 private:
  int first_;
  int steps_;
  std::vector<uint32_t> counts_;
  int64_t frames_ = 0;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
nlohmann::json NoiseAnalysis::to_json() const {
  nlohmann::json j = {{"snr_db", snr_db},
                      {"tracker_snr_db", tracker_snr_db},
                      {"floor_snr_db", floor_snr_db},
                      {"signal_dbfs", signal_dbfs},
                      {"noise_only_found", found_noise_only},
                      {"noise_only_s", noise_only_s},
                      {"floor_valley_db", floor_valley_db}};
  if (found_noise_only) j["auto_profile_dbfs"] = auto_profile.level_dbfs();
  return j;
}

struct NoiseAnalyzer::Impl {
  struct Block {
    double level_db;
    std::vector<double> power;
    bool operator<(const Block& o) const { return level_db < o.level_db; }  // max-heap by level
  };
  Impl(int channels, double rate, const DenoiseSettings& settings)
      : rate_hz(rate),
        n(denoise_fft_size(rate)),
        framer(channels, n),
        tracker(framer.bins(), rate / framer.hop(), settings, n, rate),
        block_sum(framer.bins(), 0.0),
        frames_per_block(
            std::max(1, static_cast<int>(std::lround(kBlockSeconds * rate / framer.hop())))),
        valley_first(
            std::max(kValleyHalfBins, static_cast<int>(std::lround(kValleyLowHz * n / rate)))),
        valley_last(std::min(framer.bins() - 1 - kValleyHalfBins,
                             static_cast<int>(std::lround(kValleyHighHz * n / rate)))),
        floor_levels(valley_first - kValleyHalfBins, valley_last + kValleyHalfBins + 1) {}
  double rate_hz;
  int n;
  detail::StftFramer framer;
  NoiseTracker tracker;
  double signal_sum = 0;  // sum over STFT frames of the frame's mean square
  double noise_sum = 0;
  int64_t spectra = 0;
  std::vector<double> block_sum;
  int in_block = 0;
  int frames_per_block;
  std::vector<float> block_levels;
  std::vector<double> tracker_sum;      // per bin, over counted frames
  std::priority_queue<Block> quietest;  // the kKeepBlocks quietest, loudest on top
  int valley_first, valley_last;        // bins whose valley depth is averaged
  BinLevels floor_levels;               // their +-kValleyHalfBins neighbourhoods, every frame
  double floor_valley_db() const;
};

NoiseAnalyzer::NoiseAnalyzer(int channels, double sample_rate_hz, const DenoiseSettings& settings) {
  check_channels(channels);
  check_rate(sample_rate_hz);
  settings.validate();
  impl_ = std::make_unique<Impl>(channels, sample_rate_hz, settings);
}

NoiseAnalyzer::~NoiseAnalyzer() = default;

void NoiseAnalyzer::add(const float* interleaved, size_t frames) {
  Impl& m = *impl_;
  m.framer.push(interleaved, frames, [&](const std::vector<double>& p) {
    ++m.spectra;
    // Skip the first frames that overlap the zeros before the start (they would fake a quiet
    // floor).
    if (m.spectra < kHopDivisor) return;
    const double ms = bins_mean_square(p, m.n);
    m.signal_sum += ms;
    if (to_db(ms) >= kSilentBlockDbfs) m.floor_levels.add(p);
    const std::vector<double>& est = m.tracker.update(p.data());
    m.noise_sum += bins_mean_square(est, m.n);
    if (m.tracker_sum.empty()) m.tracker_sum.assign(est.size(), 0.0);
    for (size_t k = 0; k < est.size(); ++k) m.tracker_sum[k] += est[k];
    for (size_t k = 0; k < p.size(); ++k) m.block_sum[k] += p[k];
    if (++m.in_block == m.frames_per_block) {
      Impl::Block b;
      b.power.resize(m.block_sum.size());
      for (size_t k = 0; k < b.power.size(); ++k) b.power[k] = m.block_sum[k] / m.frames_per_block;
      b.level_db = to_db(bins_mean_square(b.power, m.n));
      std::fill(m.block_sum.begin(), m.block_sum.end(), 0.0);
      m.in_block = 0;
      if (b.level_db < kSilentBlockDbfs) return;
      m.block_levels.push_back(static_cast<float>(b.level_db));
      if (static_cast<int>(m.quietest.size()) < kKeepBlocks) {
        m.quietest.push(std::move(b));
      } else if (b.level_db < m.quietest.top().level_db) {
        m.quietest.pop();
        m.quietest.push(std::move(b));
      }
    }
  });
}

double NoiseAnalyzer::Impl::floor_valley_db() const {
  if (floor_levels.frames() == 0 || valley_last < valley_first) return 0.0;
  std::vector<double> floor;  // from bin valley_first - kValleyHalfBins
  for (int i = 0; i <= valley_last - valley_first + 2 * kValleyHalfBins; ++i)
    floor.push_back(floor_levels.percentile(i, kFloorPercentile));
  double sum = 0;
  std::vector<double> around(2 * kValleyHalfBins + 1);
  for (int i = kValleyHalfBins; i + kValleyHalfBins < static_cast<int>(floor.size()); ++i) {
    std::copy(floor.begin() + i - kValleyHalfBins, floor.begin() + i + kValleyHalfBins + 1,
              around.begin());
    std::sort(around.begin(), around.end());
    sum += around[kValleyHalfBins] - around[1];  // the median minus the second lowest
  }
  return sum / (valley_last - valley_first + 1);
}

NoiseAnalysis NoiseAnalyzer::finish() {
  Impl& m = *impl_;
  NoiseAnalysis a;
  const int64_t counted = m.spectra - (kHopDivisor - 1);
  if (counted <= 0 || m.signal_sum <= 0) {
    // Too short or digital silence: there is nothing to remove.
    a.snr_db = a.tracker_snr_db = a.floor_snr_db = 120.0;
    return a;
  }
  const double signal = m.signal_sum / static_cast<double>(counted);
  const double tracker_noise = m.noise_sum / static_cast<double>(counted);
  a.signal_dbfs = to_db(signal);
  auto snr = [&](double noise) { return std::clamp(to_db(signal) - to_db(noise), -50.0, 120.0); };
  a.tracker_snr_db = tracker_noise > 0 ? snr(tracker_noise) : 120.0;
  a.floor_valley_db = m.floor_valley_db();
  std::vector<Impl::Block> kept;
  while (!m.quietest.empty()) {
    kept.push_back(m.quietest.top());
    m.quietest.pop();
  }
  std::sort(kept.begin(), kept.end());
  if (kept.empty()) {
    a.floor_snr_db = 120.0;
  } else {
    a.floor_snr_db = std::clamp(a.signal_dbfs - kept.front().level_db, -50.0, 120.0);
  }
  // The quietest block only speaks for a clean recording when it is close to silence: a crowd has
  // quiet moments of its own (10-15 dB under its mean on the recording here), so a moderate floor
  // says nothing, while a stretch kSilenceEvidenceDb under the programme (a clean song's fade-out
  // or gap) rules out a continuous noise above that.
  a.snr_db = a.floor_snr_db >= kSilenceEvidenceDb ? std::max(a.tracker_snr_db, a.floor_snr_db)
                                                  : a.tracker_snr_db;
  if (!kept.empty() && m.block_levels.size() >= 4) {
    std::vector<float> levels = m.block_levels;
    const double median = median_in_place(levels.begin(), levels.end());
    const double quietest = kept.front().level_db;
    // A crowd-only block looks like the long-term noise floor the tracker found in every band; a
    // quiet passage of music stands out of it where its notes are.
    std::vector<double> floor(m.tracker_sum.size());
    for (size_t k = 0; k < floor.size(); ++k)
      floor[k] = m.tracker_sum[k] / static_cast<double>(counted);
    const auto bands = third_octave_bands(m.n, m.rate_hz);
    a.tracker_floor.sample_rate_hz = m.rate_hz;
    a.tracker_floor.fft_size = m.n;
    a.tracker_floor.duration_s = static_cast<double>(counted) * m.framer.hop() / m.rate_hz;
    a.tracker_floor.power = floor;
    // Candidates: quiet blocks (under the median) that look like the floor. They are anchored on
    // their median level rather than on the quietest one, so that a single lull of the crowd
    // (10 dB under its usual level) does not shut out the crowd at its usual level.
    (void)quietest;
    std::vector<const Impl::Block*> candidates;
    for (const auto& b : kept)
      if (b.level_db <= median - kNoiseOnlyBelowMedianDb && matches_floor(b.power, floor, bands))
        candidates.push_back(&b);
    std::vector<double> sum(kept.front().power.size(), 0.0);
    int used = 0;
    if (!candidates.empty()) {
      const double anchor = candidates[candidates.size() / 2]->level_db;  // sorted by level
      std::vector<const Impl::Block*> chosen;
      for (const Impl::Block* b : candidates)
        if (std::abs(b->level_db - anchor) <= kNoiseOnlyRangeDb) chosen.push_back(b);
      // Refinement: against the mean spectrum of the chosen blocks (much closer to the crowd than
      // the tracker's floor), a block with music in it stands out in some bands; it is dropped.
      std::vector<double> mean(sum.size(), 0.0);
      for (const Impl::Block* b : chosen)
        for (size_t k = 0; k < mean.size(); ++k) mean[k] += b->power[k] / chosen.size();
      for (const Impl::Block* b : chosen) {
        if (chosen.size() > 2 && stands_out(b->power, mean, bands)) continue;
        for (size_t k = 0; k < sum.size(); ++k) sum[k] += b->power[k];
        ++used;
      }
    }
    const double seconds =
        used * m.frames_per_block * static_cast<double>(m.framer.hop()) / m.rate_hz;
    if (used > 0 && seconds >= kMinAutoSeconds) {
      a.found_noise_only = true;
      a.noise_only_s = seconds;
      a.auto_profile.sample_rate_hz = m.rate_hz;
      a.auto_profile.fft_size = m.n;
      a.auto_profile.duration_s = seconds;
      a.auto_profile.power.resize(sum.size());
      for (size_t k = 0; k < sum.size(); ++k) a.auto_profile.power[k] = sum[k] / used;
    }
  }
  return a;
}

}  // namespace rz::dsp
