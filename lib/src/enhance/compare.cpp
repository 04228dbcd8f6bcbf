// rz-enhance's before/after comparison and the rollback rules.
#include "rz/enhance/compare.hpp"

#include <algorithm>

namespace rz::enhance {

using nlohmann::json;

namespace {

// A tonal peak: a long-term-spectrum bin at least this far above the median of its neighbours
// (+-kTonalNeighbours bins) and within kTonalRangeDb of the loudest bin.
constexpr double kTonalProminenceDb = 10.0;
constexpr int kTonalNeighbours = 8;
constexpr double kTonalRangeDb = 40.0;
// Whatever the noise estimate says, at least this share of a peak's energy counts as music.
constexpr double kTonalKeepShare = 0.05;

}  // namespace

json Comparer::finish(const std::pair<double, double>& band, double noise_band_share, double flux,
                      const dsp::NoiseProfile* noise, double* score,
                      std::vector<std::string>* failures, const RollbackLimits& lim) const {
  const auto in = in_ltas_.mean_square();
  const auto out = out_ltas_.mean_square();
  const int n = in_ltas_.fft_size();
  // Owned band.
  const double bin_in = band_sum(in, n, rate_, band.first, band.second);
  const double bin_out = band_sum(out, n, rate_, band.first, band.second);
  const double band_change = bin_in > 0 ? db10(bin_out) - db10(bin_in) : 0.0;
  const double explained = -db10(std::max(1.0 - noise_band_share, 0.05));
  // Tonal peaks of the input's long-term spectrum.
  double peak_in = 0, peak_out = 0, top = 0;
  for (double v : in) top = std::max(top, v);
  int tonal_bins = 0;
  for (int k = kTonalNeighbours; k + kTonalNeighbours < static_cast<int>(in.size()); ++k) {
    if (in[k] < top * std::pow(10.0, -kTonalRangeDb / 10)) continue;
    if (in[k] < in[k - 1] || in[k] < in[k + 1]) continue;
    std::vector<double> nb(in.begin() + k - kTonalNeighbours,
                           in.begin() + k + kTonalNeighbours + 1);
    std::nth_element(nb.begin(), nb.begin() + kTonalNeighbours, nb.end());
    if (db10(in[k]) - db10(nb[kTonalNeighbours]) < kTonalProminenceDb) continue;
    // What the noise reducer may take from a peak: the smooth noise floor around it (the median
    // of the noise spectrum within +-kTonalNeighbours bins). A tone the noise estimate followed
    // (a steady note taken for noise) stands above that floor, so its loss is not excused.
    const double noise_at_peak = noise ? local_noise_floor(*noise, k, n) : 0.0;
    peak_in += std::max(in[k] - noise_at_peak, kTonalKeepShare * in[k]);
    peak_out += out[k];
    ++tonal_bins;
  }
  const double tonal_change = peak_in > 0 ? db10(peak_out) - db10(peak_in) : 0.0;
  const double li = in_loud_.integrated_lufs(), lo = out_loud_.integrated_lufs();
  const double loud_change = std::isfinite(li) && std::isfinite(lo) ? lo - li : 0.0;
  const double overs_ratio = samples_ > 0 ? static_cast<double>(new_overs_) / samples_ : 0.0;
  json j = {{"loudness_change_db", loud_change},
            {"new_overs_ratio", overs_ratio},
            {"band_hz", {band.first, band.second}},
            {"band_change_db", band_change},
            {"band_loss_explained_by_noise_db", explained},
            {"tonal_peaks", tonal_bins},
            {"tonal_change_db", tonal_change},
            {"gain_flux_db", flux}};
  // Each measure as a fraction of its limit; > 1 fails.
  std::vector<std::pair<std::string, double>> parts = {
      {"loudness_change_db",
       std::max(0.0, std::abs(loud_change) - explained) / lim.max_loudness_change_db},
      {"new_overs_ratio", overs_ratio / lim.max_new_overs_ratio},
      {"band_change_db", std::max(0.0, -band_change - explained) / lim.max_band_loss_db},
      {"tonal_change_db", std::max(0.0, -tonal_change) / lim.max_tonal_loss_db},
      {"gain_flux_db", flux / lim.max_gain_flux_db}};
  double worst = 0;
  json scores = json::object();
  for (const auto& [name, v] : parts) {
    scores[name] = v;
    worst = std::max(worst, v);
    if (v > 1.0) failures->push_back(name);
  }
  j["scores"] = scores;
  j["score"] = worst;
  *score = worst;
  return j;
}

double Comparer::local_noise_floor(const dsp::NoiseProfile& p, int k, int n) const {
  const double f = static_cast<double>(k) * rate_ / n;
  const double reach = kTonalNeighbours * rate_ / n;
  const double bin_hz = p.sample_rate_hz / p.fft_size;
  std::vector<double> density;
  for (size_t j = 1; j + 1 < p.power.size(); ++j) {
    const double fj = static_cast<double>(j) * bin_hz;
    if (fj < f - reach || fj > f + reach) continue;
    density.push_back(p.bin_mean_square(j) / bin_hz);
  }
  if (density.empty()) return 0.0;
  std::nth_element(density.begin(), density.begin() + density.size() / 2, density.end());
  return density[density.size() / 2] * rate_ / n;
}

json attempt_json(const Attempt& a) {
  json j = {{"intensity", a.intensity},
            {"parameters", a.effective},
            {"comparison", a.comparison},
            {"accepted", a.failures.empty()}};
  if (!a.failures.empty()) j["failed"] = a.failures;
  if (!a.extra.empty()) j["blocks"] = a.extra;
  return j;
}

json RollbackLimits::to_json() const {
  return {{"max_loudness_change_db", max_loudness_change_db},
          {"max_new_overs_ratio", max_new_overs_ratio},
          {"max_band_loss_db", max_band_loss_db},
          {"max_tonal_loss_db", max_tonal_loss_db},
          {"max_gain_flux_db", max_gain_flux_db}};
}

}  // namespace rz::enhance
