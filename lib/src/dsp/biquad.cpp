// RBJ cookbook biquad design and a transposed-direct-form-II chain.
#include "rz/dsp/biquad.hpp"

#include <cmath>
#include <complex>
#include <string>

#include "rz/dsp/units.hpp"
#include "rz/error.hpp"

namespace rz::dsp {

namespace {

BiquadCoeffs normalise(double b0, double b1, double b2, double a0, double a1, double a2) {
  BiquadCoeffs c;
  c.b0 = b0 / a0;
  c.b1 = b1 / a0;
  c.b2 = b2 / a0;
  c.a1 = a1 / a0;
  c.a2 = a2 / a0;
  return c;
}

// Section Qs of a Butterworth of even `order` after checking the design is realisable.
std::vector<double> butterworth_qs(double fs, double f, int order) {
  if (order < 2 || order > 16 || order % 2) {
    throw UsageError(describe("bad Butterworth order", std::to_string(order), "use 2, 4, ... 16"));
  }
  if (!(f > 0 && f < fs / 2)) {
    throw UsageError(describe("bad filter corner", fixed(f, 1) + " Hz",
                              "must lie between 0 and " + fixed(fs / 2, 1) + " Hz"));
  }
  std::vector<double> qs;
  for (int k = 1; k <= order / 2; ++k)
    qs.push_back(1 / (2 * std::cos((2 * k - 1) * M_PI / (2 * order))));
  return qs;
}

}  // namespace

std::vector<BiquadCoeffs> butterworth_lowpass(double fs, double f, int order) {
  std::vector<BiquadCoeffs> sections;
  for (double q : butterworth_qs(fs, f, order)) sections.push_back(BiquadCoeffs::lowpass(fs, f, q));
  return sections;
}

std::vector<BiquadCoeffs> butterworth_highpass(double fs, double f, int order) {
  std::vector<BiquadCoeffs> sections;
  for (double q : butterworth_qs(fs, f, order))
    sections.push_back(BiquadCoeffs::highpass(fs, f, q));
  return sections;
}

BiquadCoeffs BiquadCoeffs::highpass(double fs, double f, double q) {
  const double w = 2 * M_PI * f / fs, cw = std::cos(w), alpha = std::sin(w) / (2 * q);
  return normalise((1 + cw) / 2, -(1 + cw), (1 + cw) / 2, 1 + alpha, -2 * cw, 1 - alpha);
}

BiquadCoeffs BiquadCoeffs::lowpass(double fs, double f, double q) {
  const double w = 2 * M_PI * f / fs, cw = std::cos(w), alpha = std::sin(w) / (2 * q);
  return normalise((1 - cw) / 2, 1 - cw, (1 - cw) / 2, 1 + alpha, -2 * cw, 1 - alpha);
}

BiquadCoeffs BiquadCoeffs::low_shelf(double fs, double f, double gain_db) {
  const double a = std::pow(10.0, gain_db / 40), w = 2 * M_PI * f / fs, cw = std::cos(w);
  const double alpha = std::sin(w) / 2 * std::sqrt(2.0), sa = 2 * std::sqrt(a) * alpha;
  return normalise(a * ((a + 1) - (a - 1) * cw + sa), 2 * a * ((a - 1) - (a + 1) * cw),
                   a * ((a + 1) - (a - 1) * cw - sa), (a + 1) + (a - 1) * cw + sa,
                   -2 * ((a - 1) + (a + 1) * cw), (a + 1) + (a - 1) * cw - sa);
}

BiquadCoeffs BiquadCoeffs::high_shelf(double fs, double f, double gain_db) {
  const double a = std::pow(10.0, gain_db / 40), w = 2 * M_PI * f / fs, cw = std::cos(w);
  const double alpha = std::sin(w) / 2 * std::sqrt(2.0), sa = 2 * std::sqrt(a) * alpha;
  return normalise(a * ((a + 1) + (a - 1) * cw + sa), -2 * a * ((a - 1) + (a + 1) * cw),
                   a * ((a + 1) + (a - 1) * cw - sa), (a + 1) - (a - 1) * cw + sa,
                   2 * ((a - 1) - (a + 1) * cw), (a + 1) - (a - 1) * cw - sa);
}

BiquadCoeffs BiquadCoeffs::peaking(double fs, double f, double q, double gain_db) {
  const double a = std::pow(10.0, gain_db / 40), w = 2 * M_PI * f / fs, cw = std::cos(w);
  const double alpha = std::sin(w) / (2 * q);
  return normalise(1 + alpha * a, -2 * cw, 1 - alpha * a, 1 + alpha / a, -2 * cw, 1 - alpha / a);
}

BiquadCoeffs BiquadCoeffs::bandpass(double fs, double f, double q) {
  const double w = 2 * M_PI * f / fs, alpha = std::sin(w) / (2 * q);
  return normalise(alpha, 0, -alpha, 1 + alpha, -2 * std::cos(w), 1 - alpha);
}

double BiquadCoeffs::magnitude_db(double fs, double f) const {
  const std::complex<double> z = std::polar(1.0, -2 * M_PI * f / fs);
  const std::complex<double> h = (b0 + b1 * z + b2 * z * z) / (1.0 + a1 * z + a2 * z * z);
  return amplitude_to_db(std::abs(h));
}

void BiquadChain::add(const BiquadCoeffs& c) {
  stages_.push_back(c);
  state_.assign(stages_.size() * channels_ * 2, 0.0);
}

void BiquadChain::process(float* x, size_t frames) {
  const size_t ch = static_cast<size_t>(channels_);
  for (size_t s = 0; s < stages_.size(); ++s) {
    const BiquadCoeffs& c = stages_[s];
    for (size_t k = 0; k < ch; ++k) {
      double z[2] = {state_[(s * ch + k) * 2], state_[(s * ch + k) * 2 + 1]};
      for (size_t i = 0; i < frames; ++i) {
        x[i * ch + k] = static_cast<float>(c.step(x[i * ch + k], z));
      }
      state_[(s * ch + k) * 2] = z[0];
      state_[(s * ch + k) * 2 + 1] = z[1];
    }
  }
}

}  // namespace rz::dsp
