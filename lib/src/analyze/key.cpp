// Key detection (rz/analyze/key.hpp has the method and why it is written here).
#include "rz/analyze/key.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>

#include "rz/dsp/fft.hpp"

namespace rz::analyze {
namespace {

constexpr double kFrameS = 0.18;
constexpr double kLowHz = 65.4;    // C2
constexpr double kHighHz = 2093;   // C7
constexpr double kSilenceDb = 60;  // frames this far under the loudest are not heard

// Temperley's key profiles, C major and C minor (D. Temperley, "What's key for key? The
// Krumhansl-Schmuckler key-finding algorithm reconsidered", Music Perception 17(1), 1999): the
// Krumhansl-Kessler profiles revised so that the third decides the mode (4.5 against 2.0) and
// the leading tone counts in both.
constexpr std::array<double, 12> kMajor = {5.0, 2.0, 3.5, 2.0, 4.5, 4.0,
                                           2.0, 4.5, 2.0, 3.5, 1.5, 4.0};
constexpr std::array<double, 12> kMinor = {5.0, 2.0, 3.5, 4.5, 2.0, 4.0,
                                           2.0, 4.5, 3.5, 2.0, 1.5, 4.0};

int frame_for(int rate) { return static_cast<int>(dsp::fft_size_nearest(rate * kFrameS)); }

double pearson(const std::vector<double>& x, const std::array<double, 12>& profile, int shift) {
  double mx = 0, my = 0;
  for (int i = 0; i < 12; ++i) {
    mx += x[static_cast<size_t>(i)];
    my += profile[static_cast<size_t>(i)];
  }
  mx /= 12;
  my /= 12;
  double sxy = 0, sxx = 0, syy = 0;
  for (int i = 0; i < 12; ++i) {
    const double a = x[static_cast<size_t>((i + shift) % 12)] - mx;
    const double b = profile[static_cast<size_t>(i)] - my;
    sxy += a * b;
    sxx += a * a;
    syy += b * b;
  }
  return sxx > 0 && syy > 0 ? sxy / std::sqrt(sxx * syy) : 0;
}

}  // namespace

std::string tonic_name(int pc, bool minor) {
  static const char* const kMajorNames[] = {"C",  "Db", "D",  "Eb", "E",  "F",
                                            "F#", "G",  "Ab", "A",  "Bb", "B"};
  static const char* const kMinorNames[] = {"C",  "C#", "D",  "Eb", "E",  "F",
                                            "F#", "G",  "G#", "A",  "Bb", "B"};
  if (pc < 0 || pc > 11) return "";
  return minor ? kMinorNames[pc] : kMajorNames[pc];
}

std::string key_name(int pc, bool minor) {
  if (pc < 0 || pc > 11) return "";
  return tonic_name(pc, minor) + (minor ? " minor" : " major");
}

std::string camelot(int pc, bool minor) {
  if (pc < 0 || pc > 11) return "";
  const int major_pc = minor ? (pc + 3) % 12 : pc;  // a minor key shares its relative major's
  const int number = (7 * major_pc % 12 + 7) % 12 + 1;
  return std::to_string(number) + (minor ? "A" : "B");
}

std::string Key::name() const { return key_name(tonic, minor); }
std::string Key::camelot() const { return analyze::camelot(tonic, minor); }
std::string Key::runner_up_name() const { return key_name(runner_up_tonic, runner_up_minor); }

KeyDetector::KeyDetector(int sample_rate_hz)
    : rate_(sample_rate_hz),
      stft_(1, frame_for(sample_rate_hz), frame_for(sample_rate_hz) / 2,
            dsp::hann_window(frame_for(sample_rate_hz)), dsp::StftAnalysis::Start::kAtZero) {
  const double bin_hz = static_cast<double>(rate_) / stft_.fft_size();
  bin_class_.assign(static_cast<size_t>(stft_.bins()), -1);
  for (int k = 1; k < stft_.bins(); ++k) {
    const double f = k * bin_hz;
    if (f < kLowHz || f > kHighHz) continue;
    const auto midi = static_cast<long>(std::lround(69 + 12 * std::log2(f / 440.0)));
    bin_class_[static_cast<size_t>(k)] = static_cast<int>(((midi % 12) + 12) % 12);
  }
}

void KeyDetector::on_frame() {
  const auto* s = stft_.spectrum(0);
  std::vector<double> c(12, 0.0);
  double e = 0;
  for (size_t k = 0; k < bin_class_.size(); ++k) {
    if (bin_class_[k] < 0) continue;
    const double a = std::abs(s[k]);
    c[static_cast<size_t>(bin_class_[k])] += a;
    e += a * a;
  }
  const double top = *std::max_element(c.begin(), c.end());
  if (top > 0) {
    for (auto& v : c) v /= top;
  }
  frames_.push_back(std::move(c));
  energy_.push_back(e);
}

void KeyDetector::push(const float* mono, size_t frames) {
  stft_.push(mono, frames, [this] { on_frame(); });
}

Key KeyDetector::finish() {
  stft_.flush([this] { on_frame(); });
  Key key;
  key.chroma.assign(12, 0.0);
  if (energy_.empty()) return key;
  const double loudest = *std::max_element(energy_.begin(), energy_.end());
  if (!(loudest > 0)) return key;
  const double floor_e = loudest * std::pow(10.0, -kSilenceDb / 10);
  for (size_t f = 0; f < frames_.size(); ++f) {
    if (energy_[f] < floor_e) continue;
    for (size_t i = 0; i < 12; ++i) key.chroma[i] += frames_[f][i];
  }
  const double total = std::accumulate(key.chroma.begin(), key.chroma.end(), 0.0);
  if (!(total > 0)) return key;
  for (auto& v : key.chroma) v /= total;
  double best = -2, second = -2;
  for (int minor = 0; minor < 2; ++minor) {
    for (int tonic = 0; tonic < 12; ++tonic) {
      const double r = pearson(key.chroma, minor ? kMinor : kMajor, tonic);
      if (r > best) {
        second = best;
        key.runner_up_tonic = key.tonic;
        key.runner_up_minor = key.minor;
        best = r;
        key.tonic = tonic;
        key.minor = minor != 0;
      } else if (r > second) {
        second = r;
        key.runner_up_tonic = tonic;
        key.runner_up_minor = minor != 0;
      }
    }
  }
  key.correlation = best;
  key.confidence = best > 0 ? std::clamp((best - second) / best, 0.0, 1.0) : 0.0;
  return key;
}

}  // namespace rz::analyze
