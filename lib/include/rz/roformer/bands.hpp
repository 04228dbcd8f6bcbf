// The band layouts of BS-RoFormer (consecutive bins) and Mel-Band RoFormer (bins whose weight in
// librosa's mel filter bank is positive, so neighbouring bands overlap), as index tables.
#pragma once

#include <cstdint>
#include <vector>

namespace rz::roformer {

// librosa.filters.mel(sr, n_fft, n_mels) with librosa 0.11's defaults (fmin 0, fmax sr / 2,
// Slaney mel scale, Slaney area normalisation) as float32, row-major [n_mels][n_fft / 2 + 1].
// Computed in float64 and rounded to float32 as librosa does.
std::vector<float> mel_filter_bank(int sample_rate_hz, int64_t n_fft, int64_t n_mels);

struct BandLayout {
  // Per band, its bins in ascending order (a bin of the mel layout may sit in two bands).
  std::vector<std::vector<int64_t>> bins;
  // Per bin (n_fft / 2 + 1 of them), how many bands hold it (>= 1).
  std::vector<int64_t> bands_per_bin;
  // The rows of the stereo-interleaved (bin-major, channel-minor) spectrum that the band split
  // gathers, band by band: row = bin * channels + channel. Mel-Band's `freq_indices`.
  std::vector<int64_t> rows(int channels) const;
  // Per band, its input width to the band split: 2 (re, im) * channels * bins.
  std::vector<int64_t> widths(int channels) const;
};

// BS-RoFormer: band b holds the next freqs_per_bands[b] bins. The counts must sum to the bins.
BandLayout split_bands(const std::vector<int64_t>& freqs_per_bands);

// Mel-Band RoFormer: band b holds the bins where mel_filter_bank(...)[b] > 0, after MSST forces
// [0][0] and [n_mels - 1][last bin] to 1. Throws std::invalid_argument when a bin is in no band.
BandLayout mel_bands(int sample_rate_hz, int64_t n_fft, int64_t n_bands);

}  // namespace rz::roformer
