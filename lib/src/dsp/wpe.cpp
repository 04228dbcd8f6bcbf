// WPE dereverberation: block-wise variance-weighted delayed linear prediction per STFT bin.
#include "rz/dsp/wpe.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <thread>

#include "rz/dsp/units.hpp"
#include "rz/error.hpp"

namespace rz::dsp {

namespace {

using cd = std::complex<double>;

// Solves (R + load I) G = P in place for a Hermitian positive definite R given as its upper
// triangle (row-major re/im, m x m) and P (m x d, row-major): Cholesky R = L L^H, then two
// triangular solves. Returns false when R is not positive definite (G untouched).
bool cholesky_solve(int m, int d, const double* rr, const double* ri, double load,
                    std::vector<cd>& l, std::vector<cd>& g) {
  l.assign(static_cast<size_t>(m) * m, cd(0, 0));
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j <= i; ++j) {
      // R(i, j) for i >= j is conj(R(j, i)) of the stored upper triangle.
      cd sum(rr[j * m + i], -ri[j * m + i]);
      if (i == j) sum = cd(rr[i * m + i] + load, 0);
      for (int p = 0; p < j; ++p) sum -= l[i * m + p] * std::conj(l[j * m + p]);
      if (i == j) {
        if (!(sum.real() > 0)) return false;
        l[i * m + i] = cd(std::sqrt(sum.real()), 0);
      } else {
        l[i * m + j] = sum / l[j * m + j].real();
      }
    }
  }
  for (int c = 0; c < d; ++c) {
    // L u = p, then L^H g = u.
    for (int i = 0; i < m; ++i) {
      cd sum = g[i * d + c];
      for (int p = 0; p < i; ++p) sum -= l[i * m + p] * g[p * d + c];
      g[i * d + c] = sum / l[i * m + i].real();
    }
    for (int i = m - 1; i >= 0; --i) {
      cd sum = g[i * d + c];
      for (int p = i + 1; p < m; ++p) sum -= std::conj(l[p * m + i]) * g[p * d + c];
      g[i * d + c] = sum / l[i * m + i].real();
    }
  }
  return true;
}

}  // namespace

int WpeSettings::taps_for(int channels) const {
  if (taps > 0) return taps;
  return channels == 1 ? kAutoTapsMono : kAutoTapsMulti;
}

int default_wpe_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return static_cast<int>(std::clamp(n == 0 ? 2u : n, 1u, 16u));
}

const params::Fields<WpeSettings>& WpeSettings::fields() {
  using S = WpeSettings;
  static const params::Fields<S> f = {
      {"fft_size", &S::fft_size, "", 256, 16384, "STFT frame in frames of audio (even)"},
      {"hop_frames", &S::hop_frames, "", 1, 16384, "STFT hop (divides fft_size into 3 or more)"},
      {"strength", &S::strength, "", 0, 1,
       "Scale of the subtracted reverberation estimate and of the tonal guard's allowance, 0..1 "
       "(0: exact copy)",
       "--strength"},
      {"wet", &S::wet, "", 0, 1, "Dry/wet blend, 0 (dry input) .. 1 (processed)", "--wet"},
      {"taps", &S::taps, "", 0, 64,
       "Prediction taps per channel (STFT frames); 0: by channel count (mono needs more)",
       "--taps"},
      {"delay_frames", &S::delay_frames, "", 1, 20,
       "Prediction delay in STFT frames (keeps the early sound)", "--delay"},
      {"iterations", &S::iterations, "", 1, 10, "WPE iterations (variance re-estimation)",
       "--iterations"},
      {"block_s", &S::block_s, "s", 0.5, 30, "Processing block in seconds (bounds memory)",
       "--block"},
      {"tonal_min_s", &S::tonal_min_s, "s", 0, 5,
       "Shortest sustained spectral peak counted as a tone"},
      {"tonal_max_decay_db_s", &S::tonal_max_decay_db_s, "dB/s", 0, 1000,
       "A tone's level falls slower than this", nullptr, true},
      {"tonal_max_reduction_db", &S::tonal_max_reduction_db, "dB", 0, 60,
       "Most a sustained tone may lose at strength 1, dB (the tonal guard; larger = weaker guard)",
       "--tonal-max-cut"},
      {"threads", &S::threads, "", 1, 16,
       "Worker threads, 1..16 (default: the cores; the frequency bins are shared out)",
       "--threads"},
  };
  return f;
}

void WpeSettings::validate(int sample_rate_hz, int channels, params::Naming naming) const {
  auto check = [](bool ok, const char* field, double v, const std::string& range) {
    if (!ok) throw UsageError(describe(std::string("bad dereverb ") + field, fixed(v), range));
  };
  check(sample_rate_hz >= 8000 && sample_rate_hz <= 768000, "sample rate", sample_rate_hz,
        "use 8000..768000 Hz");
  check(channels >= 1 && channels <= kMaxChannels, "channel count", channels,
        "use 1.." + std::to_string(kMaxChannels));
  params::check(*this, fields(), "dereverb ", naming);
  check(fft_size % 2 == 0, "fft_size", fft_size, "use an even size in 256..16384");
  check(fft_size % hop_frames == 0 && fft_size / hop_frames >= 3, "hop_frames", hop_frames,
        "must divide fft_size into 3 or more hops");
  check(taps_for(channels) * channels <= 128, "taps", taps_for(channels),
        "taps times channels must be <= 128");
}

nlohmann::json WpeSettings::to_json() const { return params::to_json(*this, fields()); }

Dereverberator::Dereverberator(int channels, int sample_rate_hz, const WpeSettings& settings)
    : channels_(channels), rate_(sample_rate_hz), settings_(settings) {
  settings_.validate(sample_rate_hz, channels);
  n_ = settings_.fft_size;
  hop_ = settings_.hop_frames;
  bins_ = n_ / 2 + 1;
  taps_ = settings_.taps_for(channels);
  delay_ = settings_.delay_frames;
  lead_ = delay_ + taps_ - 1;
  block_ = std::max(1, static_cast<int>(std::lround(settings_.block_s * rate_ / hop_)));
  latency_ = static_cast<size_t>(n_) + static_cast<size_t>(block_ - 1) * hop_;
  bypass_ = settings_.strength == 0 || settings_.wet == 0;
  const size_t ch = static_cast<size_t>(channels_);
  if (settings_.wet < 1 || bypass_) dry_.assign(latency_ * ch, 0.0f);
  if (bypass_) return;
  // Overlap-added squared windows sum to a constant (n / hop >= 3 for the periodic Hann).
  const std::vector<float> window = hann_window(n_);
  analysis_ = std::make_unique<StftAnalysis>(channels_, n_, hop_, window);
  synthesis_ = std::make_unique<StftSynthesis>(channels_, n_, hop_, window,
                                               StftSynthesis::ola_scale(window, hop_));
  spec_.assign(static_cast<size_t>(bins_) * (lead_ + block_) * ch, {0.0f, 0.0f});
  out_spec_.assign(static_cast<size_t>(bins_) * block_ * ch, {0.0f, 0.0f});
  tonal_.assign(static_cast<size_t>(bins_) * block_, 0);
  ready_.assign(static_cast<size_t>(block_) * hop_ * ch, 0.0f);
  bins_scratch_.resize(static_cast<size_t>(bins_));
}

Dereverberator::~Dereverberator() = default;

void Dereverberator::process(const float* in, float* out, size_t frames) {
  const size_t ch = static_cast<size_t>(channels_);
  const float wet = static_cast<float>(settings_.wet);
  float sample[8];
  for (size_t i = 0; i < frames; ++i) {
    // The input frame is taken before the output is written: `in` and `out` may be one buffer.
    std::copy(in + i * ch, in + (i + 1) * ch, sample);
    float* o = out + i * ch;
    if (!dry_.empty()) {
      float* d = &dry_[dry_pos_ * ch];
      if (bypass_) {
        std::copy(d, d + ch, o);
      } else {
        const float* y = &ready_[ready_pos_ * ch];
        for (size_t c = 0; c < ch; ++c) o[c] = d[c] + wet * (y[c] - d[c]);
      }
      std::copy(sample, sample + ch, d);
      if (++dry_pos_ == latency_) dry_pos_ = 0;
      if (bypass_) continue;
    } else {
      std::copy(&ready_[ready_pos_ * ch], &ready_[(ready_pos_ + 1) * ch], o);
    }
    ++ready_pos_;
    analysis_->push(sample, 1, [this] { on_hop(); });
  }
}

void Dereverberator::on_hop() {
  const size_t ch = static_cast<size_t>(channels_);
  const size_t span = static_cast<size_t>(lead_ + block_);
  const size_t f = static_cast<size_t>(lead_ + frames_in_block_);
  for (size_t c = 0; c < ch; ++c) {
    const std::complex<float>* x = analysis_->spectrum(static_cast<int>(c));
    for (int k = 0; k < bins_; ++k) spec_[(k * span + f) * ch + c] = x[k];
  }
  if (++frames_in_block_ == block_) {
    run_block();
    frames_in_block_ = 0;
    ready_pos_ = 0;
  }
}

void Dereverberator::mark_tonal() {
  // Channel-mean power per cell, then runs of sustained spectral peaks per bin.
  const size_t ch = static_cast<size_t>(channels_);
  const size_t span = static_cast<size_t>(lead_ + block_);
  std::vector<double> power(static_cast<size_t>(bins_) * block_);
  for (int k = 0; k < bins_; ++k)
    for (int t = 0; t < block_; ++t) {
      double p = 0;
      for (size_t c = 0; c < ch; ++c) p += std::norm(spec_[(k * span + lead_ + t) * ch + c]);
      power[static_cast<size_t>(k) * block_ + t] = p / ch;
    }
  std::fill(tonal_.begin(), tonal_.end(), 0);
  const double frames_per_s = static_cast<double>(rate_) / hop_;
  const int min_run =
      std::max(2, static_cast<int>(std::ceil(settings_.tonal_min_s * frames_per_s)));
  for (int k = 2; k < bins_ - 2; ++k) {
    const double* p = &power[static_cast<size_t>(k) * block_];
    const double* lo = &power[static_cast<size_t>(k - 2) * block_];
    const double* hi = &power[static_cast<size_t>(k + 2) * block_];
    int start = -1;
    double start_db = 0, prev_db = 0;
    auto close_run = [&](int end) {  // run [start, end)
      if (start < 0) return;
      const int length = end - start;
      const double last_db = power_to_db(p[end - 1]);
      const double fall_db_s = (start_db - last_db) * frames_per_s / std::max(1, length - 1);
      if (length >= min_run && fall_db_s < settings_.tonal_max_decay_db_s)
        std::fill(&tonal_[static_cast<size_t>(k) * block_ + start],
                  &tonal_[static_cast<size_t>(k) * block_ + end], 1);
      start = -1;
    };
    for (int t = 0; t < block_; ++t) {
      const bool peak = p[t] > 0 && p[t] >= kPeakContrast * std::max(lo[t], hi[t]);
      const double db = peak ? power_to_db(p[t]) : 0;
      if (start >= 0 && (!peak || std::abs(db - prev_db) > kTonalStepDb)) close_run(t);
      if (peak && start < 0) {
        start = t;
        start_db = db;
      }
      prev_db = db;
    }
    close_run(block_);
  }
}

void Dereverberator::solve_bins(int k_begin, int k_end, double* sums) {
  const int d = channels_, m = channels_ * taps_;
  const int span = lead_ + block_;
  std::vector<double> xr(static_cast<size_t>(span) * d), xi(xr.size());
  std::vector<double> yr(static_cast<size_t>(block_) * d), yi(yr.size());
  std::vector<double> lambda(static_cast<size_t>(block_));
  std::vector<double> rr(static_cast<size_t>(m) * m), ri(rr.size());
  std::vector<cd> g(static_cast<size_t>(m) * d), l;
  std::vector<double> pr(static_cast<size_t>(block_) * d), pi(pr.size());  // prediction
  const double strength = settings_.strength;
  // The tonal guard's allowance scales with the strength too, so that a weaker setting takes
  // proportionally less everywhere (see wpe.hpp).
  const double tonal_floor = db_to_power(-settings_.tonal_max_reduction_db * strength);
  for (int k = k_begin; k < k_end; ++k) {
    const std::complex<float>* x = &spec_[static_cast<size_t>(k) * span * d];
    std::complex<float>* out = &out_spec_[static_cast<size_t>(k) * block_ * d];
    double mean_power = 0;
    for (size_t i = 0; i < xr.size(); ++i) {
      xr[i] = x[i].real();
      xi[i] = x[i].imag();
    }
    for (int t = 0; t < block_; ++t)
      for (int c = 0; c < d; ++c) {
        const size_t i = static_cast<size_t>(lead_ + t) * d + c;
        yr[static_cast<size_t>(t) * d + c] = xr[i];
        yi[static_cast<size_t>(t) * d + c] = xi[i];
        mean_power += xr[i] * xr[i] + xi[i] * xi[i];
      }
    mean_power /= static_cast<double>(block_) * d;
    std::fill(pr.begin(), pr.end(), 0.0);
    std::fill(pi.begin(), pi.end(), 0.0);
    bool have_filter = false;
    if (mean_power > 0) {
      const double floor = kPowerFloor * mean_power;
      for (int it = 0; it < settings_.iterations; ++it) {
        for (int t = 0; t < block_; ++t) {
          double p = 0;
          for (int c = 0; c < d; ++c)
            p += yr[static_cast<size_t>(t) * d + c] * yr[static_cast<size_t>(t) * d + c] +
                 yi[static_cast<size_t>(t) * d + c] * yi[static_cast<size_t>(t) * d + c];
          lambda[t] = std::max(p / d, floor);
        }
        // Weighted correlation of the stacked past z(t) (frames t .. t + taps - 1 of the buffer,
        // i.e. delay .. delay + taps - 1 frames before block frame t) and its cross-correlation
        // with the current frame.
        std::fill(rr.begin(), rr.end(), 0.0);
        std::fill(ri.begin(), ri.end(), 0.0);
        std::fill(g.begin(), g.end(), cd(0, 0));
        for (int t = 0; t < block_; ++t) {
          const double w = 1.0 / lambda[t];
          const double* zr = &xr[static_cast<size_t>(t) * d];
          const double* zi = &xi[static_cast<size_t>(t) * d];
          const double* cr = &xr[static_cast<size_t>(lead_ + t) * d];
          const double* ci = &xi[static_cast<size_t>(lead_ + t) * d];
          for (int a = 0; a < m; ++a) {
            const double ar = w * zr[a], ai = w * zi[a];
            double* rrow = &rr[static_cast<size_t>(a) * m];
            double* irow = &ri[static_cast<size_t>(a) * m];
            for (int b = a; b < m; ++b) {
              rrow[b] += ar * zr[b] + ai * zi[b];
              irow[b] += ai * zr[b] - ar * zi[b];
            }
            for (int c = 0; c < d; ++c)
              g[static_cast<size_t>(a) * d + c] +=
                  cd(ar * cr[c] + ai * ci[c], ai * cr[c] - ar * ci[c]);
          }
        }
        double trace = 0;
        for (int a = 0; a < m; ++a) trace += rr[static_cast<size_t>(a) * m + a];
        if (!(trace > 0) ||
            !cholesky_solve(m, d, rr.data(), ri.data(), kDiagonalLoad * trace / m, l, g))
          break;
        have_filter = true;
        // Prediction g^H z(t) per channel and the new estimate y = x - prediction.
        for (int t = 0; t < block_; ++t) {
          const double* zr = &xr[static_cast<size_t>(t) * d];
          const double* zi = &xi[static_cast<size_t>(t) * d];
          for (int c = 0; c < d; ++c) {
            double sr = 0, si = 0;
            for (int a = 0; a < m; ++a) {
              const cd ga = g[static_cast<size_t>(a) * d + c];
              // conj(g) z
              sr += ga.real() * zr[a] + ga.imag() * zi[a];
              si += ga.real() * zi[a] - ga.imag() * zr[a];
            }
            const size_t i = static_cast<size_t>(t) * d + c;
            const size_t xi_index = static_cast<size_t>(lead_ + t) * d + c;
            pr[i] = sr;
            pi[i] = si;
            yr[i] = xr[xi_index] - sr;
            yi[i] = xi[xi_index] - si;
          }
        }
      }
    }
    // Final output: y = x - strength alpha prediction, alpha < 1 only in tonal cells.
    for (int t = 0; t < block_; ++t) {
      double ex = 0, a = 0, b = 0;
      for (int c = 0; c < d; ++c) {
        const size_t i = static_cast<size_t>(t) * d + c;
        const size_t j = static_cast<size_t>(lead_ + t) * d + c;
        ex += xr[j] * xr[j] + xi[j] * xi[j];
        a += strength * strength * (pr[i] * pr[i] + pi[i] * pi[i]);
        b += strength * (xr[j] * pr[i] + xi[j] * pi[i]);
      }
      double alpha = have_filter ? 1.0 : 0.0;
      if (have_filter && tonal_[static_cast<size_t>(k) * block_ + t] && a > 0) {
        // Energy after subtracting alpha p: f(alpha) = ex - 2 alpha b + alpha^2 a; keep it at or
        // above tonal_floor ex: the smaller root of f(alpha) = target when f(1) falls below.
        const double target = tonal_floor * ex;
        if (ex - 2 * b + a < target) {
          const double disc = std::max(0.0, b * b - a * (ex - target));
          alpha = std::clamp((b - std::sqrt(disc)) / a, 0.0, 1.0);
          sums[2] += ex;
        }
      }
      double ey = 0;
      for (int c = 0; c < d; ++c) {
        const size_t i = static_cast<size_t>(t) * d + c;
        const size_t j = static_cast<size_t>(lead_ + t) * d + c;
        const double vr = xr[j] - alpha * strength * pr[i];
        const double vi = xi[j] - alpha * strength * pi[i];
        ey += vr * vr + vi * vi;
        out[i] = {static_cast<float>(vr), static_cast<float>(vi)};
      }
      sums[0] += ex;
      sums[1] += ey;
    }
  }
}

void Dereverberator::run_block() {
  mark_tonal();
  const int threads = std::min(settings_.threads, bins_);
  std::vector<double> sums(static_cast<size_t>(threads) * 3, 0.0);
  std::vector<std::thread> workers;
  // Split by estimated cost (equal per bin), contiguous ranges.
  for (int w = 1; w < threads; ++w) {
    const int k0 = bins_ * w / threads, k1 = bins_ * (w + 1) / threads;
    workers.emplace_back([this, k0, k1, &sums, w] { solve_bins(k0, k1, &sums[w * 3]); });
  }
  solve_bins(0, bins_ / threads, sums.data());
  for (auto& t : workers) t.join();
  for (int w = 0; w < threads; ++w) {
    in_energy_ += sums[w * 3];
    out_energy_ += sums[w * 3 + 1];
    limited_energy_ += sums[w * 3 + 2];
  }
  // Synthesis: inverse FFT, synthesis window, overlap-add; each frame finishes one hop.
  const size_t ch = static_cast<size_t>(channels_);
  for (int t = 0; t < block_; ++t) {
    for (size_t c = 0; c < ch; ++c) {
      for (int k = 0; k < bins_; ++k)
        bins_scratch_[k] = out_spec_[(static_cast<size_t>(k) * block_ + t) * ch + c];
      synthesis_->add(static_cast<int>(c), bins_scratch_.data(),
                      &ready_[static_cast<size_t>(t) * hop_ * ch + c], ch);
    }
  }
  // The last lead_ observed frames become the next block's lead-in.
  const size_t span = static_cast<size_t>(lead_ + block_);
  for (int k = 0; k < bins_; ++k) {
    std::complex<float>* s = &spec_[k * span * ch];
    std::memmove(static_cast<void*>(s), s + block_ * ch, sizeof(std::complex<float>) * lead_ * ch);
  }
}

double Dereverberator::removed_energy_db() const {
  if (in_energy_ <= 0 || out_energy_ <= 0) return 0;
  return power_to_db(in_energy_ / out_energy_);
}

double Dereverberator::tonal_limited_ratio() const {
  return in_energy_ > 0 ? limited_energy_ / in_energy_ : 0;
}

nlohmann::json Dereverberator::statistics() const {
  return {{"removed_energy_db", json_level(removed_energy_db())},
          {"tonal_limited_ratio", tonal_limited_ratio()}};
}

}  // namespace rz::dsp
