// Spectrogram, waveform and loudness of one stem (rz/reporting/render.hpp).
#include "rz/reporting/render.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "rz/dsp/fft.hpp"
#include "rz/error.hpp"

namespace rz::reporting {
namespace {

constexpr double kFrameS = 0.046;
constexpr double kStepS = 0.1;

int frame_for(int rate) { return static_cast<int>(dsp::fft_size_at_least(rate * kFrameS)); }

// Half a frame, or less where the columns are narrower (a short recording), down to an eighth, so
// that nearly every column gets a frame of its own.
int hop_for(int rate, int64_t frames, int width) {
  const int n = frame_for(rate);
  const int64_t per_column = std::max<int64_t>(1, frames / std::max(1, width));
  return static_cast<int>(std::clamp<int64_t>(per_column, n / 8, n / 2));
}

}  // namespace

Overview::Overview(int channels, int rate, int64_t frames, int width)
    : channels_(channels),
      rate_(rate),
      width_(width),
      frames_(std::max<int64_t>(frames, 1)),
      stft_(1, frame_for(rate), hop_for(rate, frames, width), dsp::hann_window(frame_for(rate)),
            dsp::StftAnalysis::Start::kAtZero),
      meter_(channels, rate, metrics::LoudnessMeter::kSeries) {
  if (width <= 0) throw UsageError("overview width must be positive");
  power_.assign(static_cast<size_t>(width) * static_cast<size_t>(stft_.bins()), 0.0);
  count_.assign(static_cast<size_t>(width), 0);
  wmin_.assign(static_cast<size_t>(width), 0.f);
  wmax_.assign(static_cast<size_t>(width), 0.f);
  wsq_.assign(static_cast<size_t>(width), 0.0);
  wn_.assign(static_cast<size_t>(width), 0);
}

Overview::~Overview() = default;

int Overview::column_of(int64_t frame) const {
  const auto c = static_cast<int>(frame * width_ / frames_);
  return std::clamp(c, 0, width_ - 1);
}

void Overview::on_frame() {
  // Frame m covers input [m hop, m hop + n): its centre decides the column.
  const int64_t centre = (stft_.frames() - 1) * stft_.hop() + stft_.fft_size() / 2;
  const auto c = static_cast<size_t>(column_of(centre));
  const auto* s = stft_.spectrum(0);
  const auto bins = static_cast<size_t>(stft_.bins());
  double* row = &power_[c * bins];
  for (size_t k = 0; k < bins; ++k) row[k] += std::norm(s[k]);
  ++count_[c];
}

void Overview::push(const float* x, size_t frames) {
  const auto ch = static_cast<size_t>(channels_);
  mono_.resize(frames);
  for (size_t i = 0; i < frames; ++i) {
    float v = 0;
    for (size_t c = 0; c < ch; ++c) v += x[i * ch + c];
    v /= static_cast<float>(ch);
    mono_[i] = v;
    const auto col = static_cast<size_t>(column_of(pushed_ + static_cast<int64_t>(i)));
    if (wn_[col] == 0) {
      wmin_[col] = wmax_[col] = v;
    } else {
      wmin_[col] = std::min(wmin_[col], v);
      wmax_[col] = std::max(wmax_[col], v);
    }
    wsq_[col] += static_cast<double>(v) * v;
    ++wn_[col];
  }
  pushed_ += static_cast<int64_t>(frames);
  stft_.push(mono_.data(), frames, [this] { on_frame(); });
  meter_.add(x, frames);
}

void Overview::finish() {
  stft_.flush([this] { on_frame(); });
  momentary_ = meter_.momentary_series();
  short_term_ = metrics::every_nth_step(meter_.short_term_series(),
                                        static_cast<size_t>(std::lround(kLoudnessStepS / kStepS)));
}

double Overview::top_hz() const { return std::min(kHighHz, 0.5 * rate_); }

Image Overview::spectrogram(int height) const {
  Image img(width_, height, heat_colour(0));
  const auto bins = static_cast<size_t>(stft_.bins());
  const double bin_hz = static_cast<double>(rate_) / stft_.fft_size();
  const auto& w = stft_.window();
  const double half_sum = 0.5 * std::accumulate(w.begin(), w.end(), 0.0);
  const double full_scale = half_sum * half_sum;  // |X|^2 of a full-scale sine
  const double lo = std::log(kLowHz), hi = std::log(top_hz());
  // A column no frame fell in (narrower than the hop) shows its nearest filled neighbour.
  std::vector<size_t> source(static_cast<size_t>(width_));
  {
    long last = -1;
    for (size_t c = 0; c < source.size(); ++c) {
      if (count_[c] > 0) last = static_cast<long>(c);
      source[c] = last >= 0 ? static_cast<size_t>(last) : c;
    }
    for (size_t c = source.size(); c-- > 0;) {  // leading empty columns: the first filled one
      if (count_[source[c]] == 0 && c + 1 < source.size()) source[c] = source[c + 1];
    }
  }
  for (int y = 0; y < height; ++y) {
    // Row y (top = highest) spans [f0, f1).
    const double f1 = std::exp(hi - (hi - lo) * y / height);
    const double f0 = std::exp(hi - (hi - lo) * (y + 1) / height);
    auto k0 = static_cast<size_t>(std::ceil(f0 / bin_hz));
    auto k1 = static_cast<size_t>(std::ceil(f1 / bin_hz));
    if (k1 <= k0) {
      k0 = std::min(bins - 1, static_cast<size_t>(std::lround(0.5 * (f0 + f1) / bin_hz)));
      k1 = k0 + 1;
    }
    k1 = std::min(k1, bins);
    for (int x = 0; x < width_; ++x) {
      const auto c = source[static_cast<size_t>(x)];
      if (count_[c] == 0) continue;
      double p = 0;
      for (size_t k = k0; k < k1; ++k) p += power_[c * bins + k];
      p /= static_cast<double>((k1 - k0) * static_cast<size_t>(count_[c])) * full_scale;
      const double db = p > 0 ? 10 * std::log10(p) : kFloorDb;
      img.set(x, y, heat_colour((db - kFloorDb) / -kFloorDb));
    }
  }
  return img;
}

Image Overview::waveform(int height) const {
  Image img(width_, height, {22, 22, 30});
  const double mid = 0.5 * (height - 1);
  auto row = [&](double v) {
    return static_cast<int>(std::lround(mid - std::clamp(v, -1.0, 1.0) * mid));
  };
  for (int x = 0; x < width_; ++x) {
    const auto c = static_cast<size_t>(x);
    img.set(x, row(0), {70, 70, 90});
    if (wn_[c] == 0) continue;
    for (int y = row(wmax_[c]); y <= row(wmin_[c]); ++y) img.set(x, y, {90, 120, 200});
    const double rms = std::sqrt(wsq_[c] / static_cast<double>(wn_[c]));
    for (int y = row(rms); y <= row(-rms); ++y) img.set(x, y, {160, 200, 255});
  }
  return img;
}

Image legend_bar(int width, int height) {
  Image img(width, height, {0, 0, 0});
  for (int x = 0; x < width; ++x) {
    const auto c = heat_colour(width > 1 ? static_cast<double>(x) / (width - 1) : 0);
    for (int y = 0; y < height; ++y) img.set(x, y, c);
  }
  return img;
}

double loudest_start_s(const std::vector<float>& m, double length_s) {
  const auto n = static_cast<size_t>(std::lround(length_s / kStepS));
  if (m.size() <= n || n == 0) return 0;
  std::vector<double> e(m.size());
  for (size_t i = 0; i < m.size(); ++i)
    e[i] = std::isfinite(m[i]) ? std::pow(10.0, m[i] / 10) : 0.0;
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += e[i];
  double best = sum;
  size_t arg = 0;
  for (size_t i = n; i < e.size(); ++i) {
    sum += e[i] - e[i - n];
    if (sum > best) {
      best = sum;
      arg = i - n + 1;
    }
  }
  // Step j's momentary block ends at (j + 1) 100 ms and began 400 ms earlier.
  return std::max(0.0, static_cast<double>(arg) * kStepS + kStepS - 0.4);
}

}  // namespace rz::reporting
