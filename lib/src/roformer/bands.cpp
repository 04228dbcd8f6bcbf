// Band tables of BS-RoFormer and Mel-Band RoFormer, and librosa's mel filter bank they come from.
#include "rz/roformer/bands.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

namespace rz::roformer {

namespace {

// librosa's Slaney mel scale (hz_to_mel / mel_to_hz with htk=False): linear below 1 kHz at
// 200/3 Hz per mel, logarithmic above with a step of ln(6.4)/27 per mel. The constants and the
// order of the operations are librosa's, so that float64 results agree to the last bit or so.
constexpr double kMelMinHz = 0.0;
constexpr double kMelHzPerMel = 200.0 / 3;
constexpr double kMelMinLogHz = 1000.0;
constexpr double kMelMinLogMel = (kMelMinLogHz - kMelMinHz) / kMelHzPerMel;

double mel_log_step() { return std::log(6.4) / 27.0; }

double hz_to_mel(double hz) {
  if (hz >= kMelMinLogHz) return kMelMinLogMel + std::log(hz / kMelMinLogHz) / mel_log_step();
  return (hz - kMelMinHz) / kMelHzPerMel;
}

double mel_to_hz(double mel) {
  if (mel >= kMelMinLogMel) return kMelMinLogHz * std::exp(mel_log_step() * (mel - kMelMinLogMel));
  return kMelMinHz + kMelHzPerMel * mel;
}

int64_t bin_count(int64_t n_fft) { return n_fft / 2 + 1; }

}  // namespace

std::vector<float> mel_filter_bank(int sample_rate_hz, int64_t n_fft, int64_t n_mels) {
  if (sample_rate_hz < 1 || n_fft < 1 || n_mels < 1) {
    throw std::invalid_argument("mel_filter_bank: sample rate, n_fft and n_mels must be >= 1");
  }
  const int64_t bins = bin_count(n_fft);
  const double sr = sample_rate_hz;

  // fft_frequencies = numpy.fft.rfftfreq(n_fft, d=1/sr): k * (1 / (n_fft * (1/sr))).
  const double bin_hz = 1.0 / (static_cast<double>(n_fft) * (1.0 / sr));
  std::vector<double> fft_hz(static_cast<size_t>(bins));
  for (int64_t k = 0; k < bins; ++k)
    fft_hz[static_cast<size_t>(k)] = static_cast<double>(k) * bin_hz;

  // mel_frequencies(n_mels + 2, fmin 0, fmax sr/2): numpy.linspace over the mel scale (i * step +
  // start, the last point set to the stop exactly), mapped back to Hz. The top edge comes back
  // from log and exp a bit or two off sr/2, so the top band's weight at Nyquist is 0 or ~1e-18
  // depending on the math library (numpy on the reference machine: 22049.999999999993 Hz and 0;
  // glibc here: 1.8e-18). MSST forces that weight to 1 anyway.
  const int64_t edges = n_mels + 2;
  const double min_mel = hz_to_mel(0.0);
  const double max_mel = hz_to_mel(sr / 2);
  const double step = (max_mel - min_mel) / static_cast<double>(edges - 1);
  std::vector<double> mel_hz(static_cast<size_t>(edges));
  for (int64_t i = 0; i < edges; ++i) {
    const double mel = i == edges - 1 ? max_mel : static_cast<double>(i) * step + min_mel;
    mel_hz[static_cast<size_t>(i)] = mel_to_hz(mel);
  }

  // Triangles in float64, stored into librosa's float32 array (the first rounding), then scaled
  // in place by the float64 Slaney factor 2 / (upper edge - lower edge) (numpy computes the
  // float32 * float64 product in float64 and rounds it to float32: the second rounding).
  std::vector<float> fb(static_cast<size_t>(n_mels * bins));
  for (int64_t m = 0; m < n_mels; ++m) {
    const auto i = static_cast<size_t>(m);
    const double rise = mel_hz[i + 1] - mel_hz[i];
    const double fall = mel_hz[i + 2] - mel_hz[i + 1];
    const double enorm = 2.0 / (mel_hz[i + 2] - mel_hz[i]);
    for (int64_t k = 0; k < bins; ++k) {
      const double f = fft_hz[static_cast<size_t>(k)];
      const double lower = -(mel_hz[i] - f) / rise;
      const double upper = (mel_hz[i + 2] - f) / fall;
      const auto tri = static_cast<float>(std::fmax(0.0, std::fmin(lower, upper)));
      fb[static_cast<size_t>(m * bins + k)] = static_cast<float>(static_cast<double>(tri) * enorm);
    }
  }
  return fb;
}

std::vector<int64_t> BandLayout::rows(int channels) const {
  std::vector<int64_t> out;
  for (const auto& band : bins) {
    for (const int64_t bin : band) {
      for (int c = 0; c < channels; ++c) out.push_back(bin * channels + c);
    }
  }
  return out;
}

std::vector<int64_t> BandLayout::widths(int channels) const {
  std::vector<int64_t> out;
  out.reserve(bins.size());
  for (const auto& band : bins) out.push_back(2 * channels * static_cast<int64_t>(band.size()));
  return out;
}

BandLayout split_bands(const std::vector<int64_t>& freqs_per_bands) {
  BandLayout layout;
  int64_t next = 0;
  for (const int64_t n : freqs_per_bands) {
    if (n < 1) throw std::invalid_argument("split_bands: a band of " + std::to_string(n) + " bins");
    auto& band = layout.bins.emplace_back();
    for (int64_t i = 0; i < n; ++i) band.push_back(next++);
  }
  layout.bands_per_bin.assign(static_cast<size_t>(next), 1);
  return layout;
}

BandLayout mel_bands(int sample_rate_hz, int64_t n_fft, int64_t n_bands) {
  std::vector<float> fb = mel_filter_bank(sample_rate_hz, n_fft, n_bands);
  const int64_t bins = bin_count(n_fft);
  // MSST's forcing: librosa leaves the DC bin out of the first band (its weight is -0.0) and,
  // depending on the last bits of the top edge, Nyquist out of the last one.
  fb.front() = 1.0f;
  fb.back() = 1.0f;
  BandLayout layout;
  layout.bins.resize(static_cast<size_t>(n_bands));
  layout.bands_per_bin.assign(static_cast<size_t>(bins), 0);
  for (int64_t b = 0; b < n_bands; ++b) {
    for (int64_t k = 0; k < bins; ++k) {
      // Membership is `> 0` exactly: the smallest positive weight at n_fft 2048 is 6e-8.
      if (fb[static_cast<size_t>(b * bins + k)] > 0.0f) {
        layout.bins[static_cast<size_t>(b)].push_back(k);
        ++layout.bands_per_bin[static_cast<size_t>(k)];
      }
    }
  }
  for (int64_t k = 0; k < bins; ++k) {
    if (layout.bands_per_bin[static_cast<size_t>(k)] == 0) {
      throw std::invalid_argument("mel_bands: bin " + std::to_string(k) + " of " +
                                  std::to_string(bins) + " is in none of the " +
                                  std::to_string(n_bands) + " mel bands");
    }
  }
  return layout;
}

}  // namespace rz::roformer
