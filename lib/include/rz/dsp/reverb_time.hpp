// Blind, streaming estimate of the reverberation time (T60) from the free decays of sub-band
// energy envelopes.
//
// Method (in the spirit of Ratnam, Jones, Wheeler, O'Brien, Lansing & Feng 2003, "Blind
// estimation of reverberation time", and Löllmann, Yilmaz, Jeub & Vary 2010, "An improved
// algorithm for blind reverberation time estimation"; the sub-band decay-rate view of Wen, Habets
// & Naylor 2008):
// - The channel mean is cut into Hann frames of kFrameS (power of two at the rate) every quarter
//   frame; the power of the octave bands centred on 500, 1000, 2000 and 4000 Hz is taken in dB and
//   smoothed by a one-pole filter (time constant kSmoothS).
// - A decay segment starts at a level S and lasts while the smoothed level never rises by more
//   than kRiseToleranceDb from one frame to the next and stays at or below S. When it ends, the
//   part between S - kFitStartDb and S - kFitStartDb - kFitRangeDb (a T20-like range, starting
//   3 dB down instead of ISO 3382's 5 dB so that short pauses count) is fitted by least squares;
//   segments whose fitted part spans at least kMinFitSpanDb over at least kMinFitFrames frames
//   count as decays, each giving T60 = -60 / slope.
// - Where sound stops, the envelope falls at the room's rate; where a source fades slower, the
//   envelope falls slower than the room. The estimate is the median (kPercentile) of all decays'
//   T60 over the four bands (a lower percentile read synthetic rooms 15 % short), read from
//   per-band histograms (log-spaced, kHistogramBins between kMinT60S and kMaxT60S): memory does not
//   depend on the stream's length.
// Limits: it needs free decays (pauses, note ends, drum hits) of at least kMinFitSpanDb +
// kFitStartDb above the noise floor; continuous dense music gives few or none (valid = false with
// fewer than kMinDecays). In a long hall with DRR-rich early sound the fits see mostly the early
// decay and read short (the omni-35-10 hall reads 0.2-1.4 s depending on the material). Tails of
// sources that decay slower than the room (piano, cymbals) bias
// it long; strong early-to-late energy changes (non-exponential decays) bias it short. T60 below
// ~4 frames (about 0.1 s at 44.1 kHz) is not resolved.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "rz/dsp/fft.hpp"

namespace rz::dsp {

struct ReverbTime {
  bool valid = false;              // enough decays were found (decays_used >= kMinDecays)
  double t60_s = 0;                // estimated reverberation time, s (0 when not valid)
  int decays_used = 0;             // free decays that entered the estimate (all bands)
  std::vector<double> band_t60_s;  // same percentile per octave band (0 where none), 500..4000 Hz
  nlohmann::json to_json() const;
};

class ReverbTimeEstimator {
 public:
  static constexpr double kFrameS = 0.023;
  static constexpr double kSmoothS = 0.01;
  static constexpr double kRiseToleranceDb = 0.3;
  static constexpr double kFitStartDb = 3.0;
  static constexpr double kFitRangeDb = 20.0;
  static constexpr double kMinFitSpanDb = 6.0;
  static constexpr int kMinFitFrames = 5;
  static constexpr double kPercentile = 0.5;
  static constexpr int kMinDecays = 3;
  static constexpr double kMinT60S = 0.05, kMaxT60S = 20.0;
  static constexpr int kHistogramBins = 240;
  static constexpr int kBands = 4;
  static constexpr std::array<double, kBands> kBandCentresHz{500, 1000, 2000, 4000};

  ReverbTimeEstimator(int channels, int sample_rate_hz);
  ~ReverbTimeEstimator();
  ReverbTimeEstimator(ReverbTimeEstimator&&) noexcept;
  void add(const float* interleaved, size_t frames);
  // The estimate from everything added so far (open decays are closed on a copy).
  ReverbTime finish() const;

 private:
  struct Band {
    int lo = 0, hi = 0;  // FFT bins [lo, hi)
    double smooth_db = 0;
    bool started = false;
    // The decay segment in progress.
    bool in_decay = false;
    double start_db = 0, prev_db = 0;
    int64_t frame = 0;  // frames since the segment started
    double n = 0, st = 0, stt = 0, sl = 0, stl = 0, fit_max = -1e300, fit_min = 1e300;
    std::vector<int64_t> histogram;
  };
  void on_frame(const float* power);
  static void close(Band& band, double frames_per_s);
  int channels_;
  int rate_;
  double frames_per_s_;
  double smooth_coeff_;
  std::unique_ptr<PowerSpectrumStream> stream_;
  std::vector<Band> bands_;
  std::vector<float> mono_;
};

}  // namespace rz::dsp
