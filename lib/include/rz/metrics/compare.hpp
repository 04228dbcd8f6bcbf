// Comparison of an estimate with a reference: SDR, SI-SDR and log-spectral distance, streaming.
//
// Definitions (x: reference, y: estimate, all channels stacked, sums over the aligned length):
//   sdr_db    = 10 log10( sum x^2 / sum (x - y)^2 )                  (signal-to-distortion ratio)
//   si_sdr_db = 10 log10( |a x|^2 / |a x - y|^2 ),  a = <y,x> / <x,x> (scale-invariant SDR)
//   lsd_db    = log-spectral distance: 2048-point Hann frames with 75 % overlap (hop 512) of the
//               mono sum (frames start at sample 0; the last partial frame is zero-padded); each
//               bin's power in dB, floored at -80 dB relative to the reference's loudest bin (of
//               any frame); only frames whose reference energy is within 60 dB of the reference's
//               loudest frame count; the mean over those frames of the RMS over the 1025 bins of
//               the dB difference. The floor and the frame gate need the reference's loudest bin
//               and frame before the distance can be summed: a first pass over the reference
//               (LsdLevelScan) finds them, so memory stays independent of the length.
// Alignment: the caller trims both to the shorter length (no delay search).
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>

namespace rz::metrics {

// The LSD's frame size, hop, floor (dB re the reference's loudest bin) and frame gate (dB re its
// loudest frame), for tools that take the distance apart (bench/hf_headroom.cpp).
inline constexpr int kLsdFftSize = 2048;
inline constexpr int kLsdHop = 512;
inline constexpr double kLsdFloorDb = -80.0;
inline constexpr double kLsdFrameGateDb = -60.0;

// One frame's term of lsd_db: the RMS over `bins` bins of the dB difference of two power spectra,
// each bin floored at floor_power (> 0). lsd_db is its mean over the counted frames.
double lsd_frame_db(const float* reference, const float* estimate, int bins, double floor_power);

struct Comparison {
  int64_t frames = 0;
  double sdr_db = 0;
  double si_sdr_db = 0;
  double lsd_db = 0;
  nlohmann::json to_json() const;
};

// The reference's levels that anchor the LSD's floor and frame gate (powers of the mono-sum STFT,
// in the unnormalised units of dsp::PowerSpectrumStream).
struct LsdLevels {
  double loudest_bin_power = 0;
  double loudest_frame_energy = 0;
};

// First pass: scans the reference for its LsdLevels.
class LsdLevelScan {
 public:
  explicit LsdLevelScan(int channels);
  ~LsdLevelScan();
  LsdLevelScan(LsdLevelScan&&) noexcept;
  LsdLevelScan& operator=(LsdLevelScan&&) noexcept;
  void add(const float* reference, size_t frames);
  LsdLevels finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Second pass: SDR, SI-SDR and LSD of an estimate against the reference whose levels were scanned.
class Comparator {
 public:
  Comparator(int channels, const LsdLevels& reference_levels);
  ~Comparator();
  Comparator(Comparator&&) noexcept;
  Comparator& operator=(Comparator&&) noexcept;
  void add(const float* reference, const float* estimate, size_t frames);
  Comparison finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Both passes over whole interleaved buffers of `frames` frames.
Comparison compare(const float* reference, const float* estimate, size_t frames, int channels);

}  // namespace rz::metrics
