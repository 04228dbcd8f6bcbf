// Dereverberation by weighted prediction error (WPE): block-wise multichannel linear prediction in
// the STFT domain, with a guard that keeps sustained tones from being predicted away.
//
// Method (Nakatani, Yoshioka, Kinoshita, Miyoshi & Juang 2010, "Speech dereverberation based on
// variance-normalized delayed linear prediction"; Yoshioka & Nakatani 2012, "Generalization of
// multi-channel linear prediction methods for blind MIMO impulse response shortening"):
// - STFT: periodic Hann analysis and synthesis windows of fft_size frames every hop_frames
//   (overlap-added and divided by the constant sum of the squared windows, so an unchanged
//   spectrum reproduces the input up to float rounding).
// - Per frequency bin k, with D = channels and K = taps, the late reverberation of every channel
//   is predicted from the D channels' observed past frames t - delay_frames - tau, tau = 0..K-1:
//   y_c(t) = x_c(t) - g_c^H xbar(t), xbar(t) the stacked D K past values. The filters g minimise
//   sum_t |y(t)|^2 / lambda(t), lambda(t) = the channel-mean power of the current estimate y
//   (floored at kPowerFloor times the bin's mean power over the block): the variance-weighted
//   least-squares problem of WPE, solved by alternating lambda and g for `iterations` rounds
//   (Cholesky of the D K x D K weighted correlation plus a relative diagonal load kDiagonalLoad).
//   The delay keeps the direct sound and early reflections (the prediction cannot reach the
//   first delay_frames hops), the weights stop loud passages from dominating the fit.
// - Block-wise: the filters are estimated on blocks of block_s seconds of STFT frames (each with
//   delay + taps - 1 frames of the previous block's observations as lead-in), applied to that
//   block, and the blocks are concatenated in the STFT domain (the STFT itself runs continuously,
//   so blocks meet with a normal overlap-add). Memory is one block of spectra plus a dry delay
//   line, whatever the length of the stream; latency_frames() = fft_size + (B - 1) hop_frames,
//   B = the block's frame count. The bins are shared out over `threads` std::threads per block.
// - strength scales the subtracted prediction: y = x - strength * alpha * g^H xbar (0 passes the
//   input through, bit-exact, delayed by latency_frames()), and the tonal guard's allowance with
//   it (a tonal cell loses at most strength * tonal_max_reduction_db, below). A strength under 1
//   is how rz-dereverb acts in proportion to its confidence and to a stem's held notes. With
//   the allowance fixed, a held note lost nearly as much at a low strength as at 1. On the
//   corpus's tuning part (tests/corpus), a clean rock "other" stem run at strength 0.26 read 20.3
//   dB SI-SDR against its input, and WPE alone changed the SI-SDR of the 5 dB captures against
//   their early sound by -0.02 dB on average (worst -0.60). With the allowance scaled: 25.6 dB,
//   and +0.02 dB (worst -0.19). wet blends in the time domain:
//   out = dry + wet (processed - dry) (0: bit-exact delayed input; 1: processed only).
//
// Tonal protection: a stationary sinusoid is perfectly predictable from its past, so linear
// prediction cancels sustained notes along with the reverberation. Per bin and frame, a cell is
// tonal when it belongs to a run of at least tonal_min_s of consecutive frames in which the
// channel-mean power is a spectral peak (kPeakContrast above both bins k +- 2) that changes by at
// most kTonalStepDb from frame to frame and falls by less than tonal_max_decay_db_s over the run
// (a reverberant tail with T60 < 60 / tonal_max_decay_db_s falls faster). In tonal cells the
// subtraction is scaled down (alpha < 1, per cell, common to all channels) so that the cell's
// energy drops by at most strength * tonal_max_reduction_db; elsewhere alpha = 1. Decaying tails
// after a note stops are not tonal and are removed in full.
//
// Defaults (44.1/48 kHz music): fft 4096 / hop 1024 (93 ms frames every 23 ms), delay 3 hops
// (70 ms: past the 50 ms "early sound" by more than the frames' smear; against delay 2 it gains
// 0.4-2.2 dB SI-SDR to the early sound on speech, song and piano in both shared rooms, loses
// 0.2 dB on the drum loop in the hall, and keeps dry material closer: bench/restore.sh quality),
// taps 10 per channel
// with two or more channels (230 ms of past from each channel, a D K = 20 filter per bin) and 20
// with one (a single channel has no second view of the room and needs a longer predictor),
// 2 iterations, blocks of 4 s (172 frames: well over D K unknowns, so the least squares does not
// fit away the dry signal; about 20 / 172 of an unpredictable signal is lost at worst). Measured
// on the shared recordings (tests/unit/test_wpe.cpp): longer hops beat 2048/512 (tail -15 dB
// against -7 dB on a synthetic room) at half the cost; more iterations did not help; a larger
// diagonal load keeps more of dry music but removes less reverberation.
//
// Statistics: removed_energy_db() = 10 log10(sum |x|^2 / sum |y|^2) over all processed STFT cells
// (how much energy the prediction took, dB, >= 0 in practice); tonal_limited_ratio() = share of the
// input STFT energy in cells where the tonal guard reduced the subtraction (0..1).
#pragma once

#include <complex>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "rz/dsp/processor.hpp"
#include "rz/dsp/stft.hpp"
#include "rz/params.hpp"

namespace rz::dsp {

// The machine's cores (std::thread::hardware_concurrency), within the 1..16 WpeSettings takes.
int default_wpe_threads();

struct WpeSettings {
  // Channels predicted jointly: taps x channels grows the per-bin normal equations quadratically.
  static constexpr int kMaxChannels = 8;

  int fft_size = 4096;    // STFT frame, frames of audio (even, 256 .. 16384)
  int hop_frames = 1024;  // STFT hop (fft_size / hop_frames an integer >= 3)
  int delay_frames = 3;   // prediction delay, STFT frames (1 .. 20)
  int taps = 0;           // prediction taps per channel, STFT frames (0 = auto: kAutoTapsMono
                          // for one channel, kAutoTapsMulti for more; else 1 .. 64)
  int iterations = 2;     // variance / filter alternations (1 .. 10)
  double block_s = 4.0;   // filter-estimation block, s (0.5 .. 30): bounds memory and latency
  double strength = 1.0;  // scale of the subtracted prediction (0 .. 1; 0 = exact pass-through)
  double wet = 1.0;       // dry/wet blend (0 .. 1; 0 = exact pass-through)
  // Tonal protection (see above).
  double tonal_min_s = 0.15;            // shortest sustained spectral peak counted as a tone, s
  double tonal_max_decay_db_s = 20.0;   // a tone's level falls slower than this, dB/s
  double tonal_max_reduction_db = 3.0;  // most a tonal cell may lose at strength 1, dB (0 .. 60;
                                        // 60 = no guard)
  int threads = default_wpe_threads();  // worker threads over the frequency bins (1 .. 16)

  static constexpr int kAutoTapsMono = 20;   // one channel needs a longer predictor
  static constexpr int kAutoTapsMulti = 10;  // D channels give D times the filter per tap
  // Taps used for `channels` (resolves taps = 0).
  int taps_for(int channels) const;
  // Every field with its key, unit, range, meaning and rz-dereverb flag: the one declaration
  // validate(), to_json() and rz-dereverb's options derive from.
  static const params::Fields<WpeSettings>& fields();
  // Throws UsageError naming the first bad field (by its flag with Naming::kFlag) and its range;
  // also the rules between fields (hop, taps x channels) and the stream's rate and channels.
  void validate(int sample_rate_hz, int channels,
                params::Naming naming = params::Naming::kKey) const;
  nlohmann::json to_json() const;
};

class Dereverberator final : public Processor {
 public:
  static constexpr double kPowerFloor = 1e-4;    // lambda floor relative to the bin's block mean
  static constexpr double kDiagonalLoad = 3e-3;  // ridge: kDiagonalLoad * trace(R) / (D K)
  // (1e-3 removes more tail, 1e-2 keeps more of dry sustained music; 3e-3 sits between)
  static constexpr double kPeakContrast = 2.0;  // 3 dB over the bins two away
  static constexpr double kTonalStepDb = 3.0;   // most a tone's level changes per hop

  Dereverberator(int channels, int sample_rate_hz, const WpeSettings& settings = {});
  ~Dereverberator() override;
  void process(const float* in, float* out, size_t frames) override;
  size_t latency_frames() const override { return latency_; }
  int channels() const override { return channels_; }

  const WpeSettings& settings() const { return settings_; }
  int taps() const { return taps_; }
  int block_frames() const { return block_; }  // STFT frames per estimation block
  double removed_energy_db() const;
  double tonal_limited_ratio() const;
  // {removed_energy_db (json_level), tonal_limited_ratio}.
  nlohmann::json statistics() const override;

 private:
  void on_hop();
  void run_block();
  void solve_bins(int k_begin, int k_end, double* sums);
  void mark_tonal();
  int channels_;
  int rate_;
  WpeSettings settings_;
  int n_, hop_, bins_, taps_, delay_, lead_, block_;
  size_t latency_;
  bool bypass_;
  std::unique_ptr<StftAnalysis> analysis_;  // null when bypassed
  std::unique_ptr<StftSynthesis> synthesis_;
  // Spectra of the lead-in and the block: [bin][frame][channel], lead_ + block_ frames.
  std::vector<std::complex<float>> spec_;
  std::vector<std::complex<float>> out_spec_;  // [bin][block frame][channel] processed spectra
  std::vector<uint8_t> tonal_;                 // [bin][block frame] tonal cells
  int frames_in_block_ = 0;
  std::vector<float> ready_;  // [block * hop][channel] finished output of the last block
  size_t ready_pos_ = 0;
  std::vector<float> dry_;  // [latency][channel] delay line for the dry signal
  size_t dry_pos_ = 0;
  std::vector<std::complex<float>> bins_scratch_;
  double in_energy_ = 0, out_energy_ = 0, limited_energy_ = 0;
};

}  // namespace rz::dsp
