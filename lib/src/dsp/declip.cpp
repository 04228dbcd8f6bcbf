// De-clipping: constrained AR (least-squares) reconstruction of the clipped runs.
#include "rz/dsp/declip.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <limits>
#include <string>
#include <vector>

#include "declip_detail.hpp"
#include "rz/dsp/units.hpp"
#include "rz/error.hpp"

namespace rz::dsp {

using detail::check_common;

namespace {

// sum a[k] b[k], k < n, in four independent partial sums (a single sum is bound by the adder's
// latency; the compiler may not reorder floating-point additions itself).
double dot(const double* a, const double* b, size_t n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t k = 0;
  for (; k + 4 <= n; k += 4) {
    s0 += a[k] * b[k];
    s1 += a[k + 1] * b[k + 1];
    s2 += a[k + 2] * b[k + 2];
    s3 += a[k + 3] * b[k + 3];
  }
  for (; k < n; ++k) s0 += a[k] * b[k];
  return (s0 + s1) + (s2 + s3);
}

// Added to r[0] relative to it before the Levinson recursion (white-noise correction, -50 dB):
// keeps the AR fit well conditioned on very tonal context without colouring it audibly.
constexpr double kWhiteNoiseCorrection = 1e-5;
// Diagonal loading of the least-squares system relative to its diagonal: only guards the
// Cholesky factorisation against rounding; the system is positive definite.
constexpr double kDiagonalLoading = 1e-9;

}  // namespace

// ---------------------------------------------------------------------------------------------
// Declipper.

struct Declipper::State {
  int channels;
  bool active;        // clipping was found and intensity > 0: clusters are reconstructed
  bool pass_through;  // nothing found: no latency, output = input
  double pos_level, neg_level;
  float intensity;
  int order;
  int iterations;
  int64_t context_frames, max_span_frames, latency, keep;
  int64_t frames = 0;  // input frames received

  int64_t restored_samples = 0, restored_runs = 0, skipped_runs = 0;
  double max_peak_ratio = 0;  // largest |restored| / |level|

  struct Cluster {
    int64_t first, last;  // absolute frame indices of its first and last clipped sample
  };
  struct Channel {
    std::vector<float> x;      // samples from absolute index base on
    std::vector<uint8_t> bad;  // clipped flags, same indexing
    int64_t base = 0;
    bool open = false;
    Cluster current{0, 0};
    std::deque<Cluster> pending;  // closed, waiting for their right context
  };
  std::vector<Channel> ch;

  // Work buffers, reused.
  std::vector<float> context, lag_sums;
  std::vector<double> r_raw, delta;
  std::vector<size_t> changed;
  std::vector<double> window, r, a, a_next, ra, ra_sym, r_rev, observed, seg, known, band, rhs;
  std::vector<int> free_pos;
  std::vector<uint8_t> unknown, is_free;

  bool clipped(float v) const { return v >= pos_level || v <= neg_level; }

  // Minimises the prediction error energy over the segment (polynomial ra, order p) over the
  // clipped samples, the others held at their observed values, subject to the clipping
  // constraints; the result goes to seg. False when the system cannot be solved.
  bool least_squares(int p) {
    const size_t seg_n = seg.size();
    seg = observed;
    is_free = unknown;
    // Active set on the constraints sign * u >= sign * observed.
    for (;;) {
      free_pos.clear();
      for (size_t q = 0; q < seg_n; ++q) {
        if (is_free[q]) free_pos.push_back(static_cast<int>(q));
      }
      const size_t m = free_pos.size();
      if (m == 0) break;
      // The normal equations: Toeplitz in the positions, so banded (half-bandwidth <= p) in the
      // free samples, which are distinct positions in increasing order. Row i of the band holds
      // columns i - p .. i at band[i * w + (i - j)].
      const size_t w = static_cast<size_t>(p) + 1;
      // Row i holds columns i - p .. i in increasing order, so that the dot products of the
      // factorisation run over contiguous memory.
      auto idx = [w](size_t i, size_t j) { return i * w + (w - 1) - (i - j); };
      auto first_col = [w](size_t i) { return i >= w - 1 ? i - (w - 1) : 0; };
      band.assign(m * w, 0.0);
      rhs.assign(m, 0.0);
      known.resize(seg_n);
      for (size_t q = 0; q < seg_n; ++q) known[q] = is_free[q] ? 0.0 : seg[q];
      ra_sym.resize(2 * static_cast<size_t>(p) + 1);
      for (int d = -p; d <= p; ++d)
        ra_sym[static_cast<size_t>(d + p)] = ra[static_cast<size_t>(std::abs(d))];
      for (size_t i = 0; i < m; ++i) {
        for (size_t j = first_col(i); j <= i; ++j) {
          const int d = free_pos[i] - free_pos[j];
          if (d <= p) band[idx(i, j)] = ra[d];
        }
        band[idx(i, i)] *= 1 + kDiagonalLoading;
        // -sum over the known samples within p of ra[|q - q0|] x_q; known holds 0 at free ones.
        const int q0 = free_pos[i];
        const int from = std::max(0, q0 - p),
                  to = std::min<int>(static_cast<int>(seg_n) - 1, q0 + p);
        rhs[i] = -dot(ra_sym.data() + (from - q0 + p), known.data() + from,
                      static_cast<size_t>(to - from + 1));
      }
      // Banded Cholesky (lower, in place), O(m p^2), then the two triangular solves.
      double* L = band.data();
      for (size_t j = 0; j < m; ++j) {
        const size_t j0 = first_col(j);
        const double d2 = L[idx(j, j)] - dot(L + idx(j, j0), L + idx(j, j0), j - j0);
        if (!(d2 > 0)) return false;
        const double d = std::sqrt(d2);
        L[idx(j, j)] = d;
        for (size_t i = j + 1; i < std::min(m, j + w); ++i) {
          const size_t i0 = first_col(i);  // >= j0
          L[idx(i, j)] = (L[idx(i, j)] - dot(L + idx(i, i0), L + idx(j, i0), j - i0)) / d;
        }
      }
      for (size_t i = 0; i < m; ++i) {
        const size_t i0 = first_col(i);
        rhs[i] = (rhs[i] - dot(L + idx(i, i0), rhs.data() + i0, i - i0)) / L[idx(i, i)];
      }
      for (size_t i = m; i-- > 0;) {
        double v = rhs[i];
        for (size_t l = i + 1; l < std::min(m, i + w); ++l) v -= L[idx(l, i)] * rhs[l];
        rhs[i] = v / L[idx(i, i)];
      }
      bool violated = false;
      for (size_t i = 0; i < m; ++i) {
        const double obs = observed[free_pos[i]];
        const double u = rhs[i];
        if (!std::isfinite(u)) {
          return false;
        }
        if (obs > 0 ? u < obs : u > obs) {
          is_free[free_pos[i]] = 0;  // held at the observed value from now on
          violated = true;
        }
      }
      if (!violated) {
        for (size_t i = 0; i < m; ++i) seg[free_pos[i]] = rhs[i];
        break;
      }
    }
    return true;
  }

  // Reconstructs one cluster of channel k, whose right context has arrived.
  void solve(Channel& k, const Cluster& cl) {
    const int64_t span = cl.last - cl.first + 1;
    if (span > max_span_frames) {
      ++skipped_runs;
      return;
    }
    const int p = order;
    // Segment [first - p, last + p], relative index q = frame - (first - p): the samples the
    // prediction errors over the cluster read.
    const int64_t seg_first = cl.first - p;
    const size_t seg_n = static_cast<size_t>(span + 2 * p);
    observed.resize(seg_n);
    seg.resize(seg_n);
    unknown.assign(seg_n, 0);
    for (size_t q = 0; q < seg_n; ++q) {
      const int64_t f = seg_first + static_cast<int64_t>(q);
      if (f < 0) {
        observed[q] = 0;  // the silence before the stream
        continue;
      }
      const size_t j = static_cast<size_t>(f - k.base);
      observed[q] = k.x[j];
      // Clipped samples before the cluster were restored already (or left, if too long): known.
      // Those after it belong to the next piece of a cut cluster: estimated along, not written.
      unknown[q] = k.bad[j] && f >= cl.first;
    }
    seg = observed;
    const int64_t lo = std::max<int64_t>(0, cl.first - context_frames);
    const int64_t hi = cl.last + context_frames;  // the newest frame when called
    const size_t n = static_cast<size_t>(hi - lo + 1);
    // Hann window by a rotating phasor (cos((i + 1/2) 2 pi / n)), no libm call per sample.
    window.resize(n);
    {
      const double step = 2 * M_PI / n;
      const double cs = std::cos(step), sn = std::sin(step);
      double c = std::cos(step / 2), si = std::sin(step / 2);
      for (size_t i = 0; i < n; ++i) {
        window[i] = 0.5 - 0.5 * c;
        const double c_next = c * cs - si * sn;
        si = si * cs + c * sn;
        c = c_next;
      }
    }
    for (int iteration = 0; iteration < iterations; ++iteration) {
      // AR fit on the neighbourhood with the current estimate of the cluster (the clipped values
      // at first): Hann-windowed autocorrelation, Levinson-Durbin. context holds p zeros, the
      // windowed neighbourhood, p zeros, so that every lag reads inside.
      if (iteration == 0) {
        context.assign(n + 2 * p, 0.0f);
        for (size_t i = 0; i < n; ++i) {
          const int64_t f = lo + static_cast<int64_t>(i);
          const int64_t q = f - seg_first;
          double v = (q >= 0 && q < static_cast<int64_t>(seg_n))
                         ? seg[static_cast<size_t>(q)]
                         : k.x[static_cast<size_t>(f - k.base)];
          if (!std::isfinite(v)) v = 0;
          context[i + p] = static_cast<float>(v * window[i]);
        }
        // Lags innermost: independent accumulators, which the compiler vectorises; float, 4 to a
        // register (sums of ~10^3 products keep 6 digits, above the white-noise correction).
        lag_sums.assign(p + 1, 0.0f);
        float* __restrict out_sums = lag_sums.data();
        const float* __restrict c = context.data();
        for (size_t i = 0; i < n; ++i) {
          const float xi = c[i + p];
          for (int lag = 0; lag <= p; ++lag) out_sums[lag] += xi * c[i + p - lag];
        }
        r_raw.assign(lag_sums.begin(), lag_sums.end());
      } else {
        // Only the cluster's samples changed: r[lag] += sum over them of d_i (c_{i-lag} + c_{i+lag}
        // + d_{i-lag}), c the old values and d the changes (zero elsewhere), O(m p) instead of
        // O(n p).
        delta.assign(n + 2 * p, 0.0);
        changed.clear();
        for (size_t q = 0; q < seg_n; ++q) {
          if (!unknown[q]) continue;
          const int64_t i = seg_first + static_cast<int64_t>(q) - lo;
          if (i < 0 || i >= static_cast<int64_t>(n)) continue;
          const size_t ci = static_cast<size_t>(i) + p;
          const float updated = static_cast<float>(seg[q] * window[static_cast<size_t>(i)]);
          delta[ci] = static_cast<double>(updated) - context[ci];
          changed.push_back(ci);
        }
        for (const size_t ci : changed) {
          const double d = delta[ci];
          for (int lag = 0; lag <= p; ++lag) {
            r_raw[lag] +=
                d * (static_cast<double>(context[ci - lag]) + context[ci + lag] + delta[ci - lag]);
          }
        }
        for (const size_t ci : changed) context[ci] = static_cast<float>(context[ci] + delta[ci]);
      }
      r = r_raw;
      if (!(r[0] > 0)) {
        ++skipped_runs;
        return;
      }
      r[0] *= 1 + kWhiteNoiseCorrection;
      r_rev.assign(r.rbegin(), r.rend());  // r_rev[k] = r[p - k]
      // a[0] = 1, prediction error e_t = sum_k a_k x_{t-k}.
      a.assign(p + 1, 0.0);
      a[0] = 1;
      double err = r[0];
      for (int m = 1; m <= p; ++m) {
        double acc = r[m];
        acc += dot(a.data() + 1, r_rev.data() + (p - m + 1), static_cast<size_t>(m - 1));
        const double refl = -acc / err;
        if (!(std::fabs(refl) < 1)) break;
        a_next = a;
        for (int j = 1; j < m; ++j) a_next[j] = a[j] + refl * a[m - j];
        a_next[m] = refl;
        a.swap(a_next);
        err *= 1 - refl * refl;
      }
      ra.assign(p + 1, 0.0);
      for (int lag = 0; lag <= p; ++lag) {
        ra[lag] = dot(a.data(), a.data() + lag, static_cast<size_t>(p + 1 - lag));
      }
      if (!least_squares(p)) {
        ++skipped_runs;
        return;
      }
    }
    // Write back: x + intensity * (u - x) for the clipped samples, kept consistent after rounding.
    for (int64_t f = cl.first; f <= cl.last; ++f) {
      const size_t j = static_cast<size_t>(f - k.base);
      if (!k.bad[j]) continue;
      const float obs = k.x[j];
      const double u = seg[static_cast<size_t>(f - seg_first)];
      float y = static_cast<float>(obs + intensity * (u - obs));
      if (obs > 0 ? y < obs : y > obs) y = obs;
      k.x[j] = y;
      ++restored_samples;
      const double level = obs > 0 ? pos_level : -neg_level;
      max_peak_ratio = std::max(max_peak_ratio, std::fabs(y) / level);
    }
    ++restored_runs;
  }
};

Declipper::Declipper(int channels, int sample_rate_hz, const ClipReport& clip,
                     const DeclipSettings& settings, double intensity) {
  check_common(channels, sample_rate_hz);
  settings.validate();
  params::check_range("declip intensity", intensity, 0, 1);
  auto s = std::make_unique<State>();
  s->channels = channels;
  s->pass_through = !clip.found;
  s->active = clip.found && intensity > 0;
  s->pos_level = clip.positive_level;
  s->neg_level = clip.negative_level;
  if (clip.found && !(s->pos_level > 0 && s->neg_level < 0)) {
    throw UsageError(describe("bad declip clip levels",
                              fixed(clip.positive_level, 4) + " " + fixed(clip.negative_level, 4),
                              "use positive_level > 0 > negative_level"));
  }
  s->intensity = static_cast<float>(intensity);
  s->order = settings.ar_order;
  s->iterations = settings.iterations;
  s->context_frames =
      std::max<int64_t>(settings.ar_order + 1, std::llround(settings.context_s * sample_rate_hz));
  s->max_span_frames = std::max<int64_t>(1, std::llround(settings.max_run_s * sample_rate_hz));
  // A cluster holding frame t ends by t + max_span - 1 and is solved when its right context, up to
  // last + context, has arrived.
  s->latency = s->pass_through ? 0 : s->max_span_frames + s->context_frames;
  // History a solve reads: left context and AR margin before a cluster of the longest span.
  s->keep =
      std::max(s->latency, s->max_span_frames + 2 * s->context_frames + settings.ar_order) + 1;
  s->ch.resize(channels);
  state_ = std::move(s);
}
Declipper::~Declipper() = default;
Declipper::Declipper(Declipper&&) noexcept = default;
Declipper& Declipper::operator=(Declipper&&) noexcept = default;

size_t Declipper::latency_frames() const { return static_cast<size_t>(state_->latency); }
int Declipper::channels() const { return state_->channels; }
int64_t Declipper::restored_samples() const { return state_->restored_samples; }
int64_t Declipper::restored_runs() const { return state_->restored_runs; }
int64_t Declipper::skipped_runs() const { return state_->skipped_runs; }
double Declipper::max_restored_peak_db() const {
  return state_->restored_samples > 0 ? amplitude_to_db(state_->max_peak_ratio)
                                      : -std::numeric_limits<double>::infinity();
}

void Declipper::process(const float* in, float* out, size_t frames) {
  State& s = *state_;
  const int nch = s.channels;
  if (s.pass_through) {
    if (in != out) std::memmove(out, in, frames * nch * sizeof(float));
    return;
  }
  const int64_t p = s.order;
  for (size_t i = 0; i < frames; ++i) {
    const int64_t n = s.frames;
    for (int c = 0; c < nch; ++c) {
      State::Channel& k = s.ch[c];
      const float v = in[i * nch + c];
      const bool bad = s.active && s.clipped(v);
      k.x.push_back(v);
      k.bad.push_back(bad ? 1 : 0);
      if (bad) {
        if (k.open && (n == k.current.last + 1 || n - k.current.first < s.max_span_frames)) {
          k.current.last = n;  // the same run, or a new one that keeps the cluster short enough
        } else {
          // A new cluster; one that would grow too long is cut at this gap, and the next piece
          // is solved after it, with the restored samples of this one as its left neighbours.
          if (k.open) k.pending.push_back(k.current);
          k.open = true;
          k.current = {n, n};
        }
      } else if (k.open && n - k.current.last > p) {
        k.pending.push_back(k.current);
        k.open = false;
      }
      while (!k.pending.empty() && k.pending.front().last + s.context_frames <= n) {
        s.solve(k, k.pending.front());
        k.pending.pop_front();
      }
      const int64_t t = n - s.latency;
      out[i * nch + c] = t >= 0 ? k.x[static_cast<size_t>(t - k.base)] : 0.0f;
      // Drop history no solve or output can read any more, a few thousand frames at a time.
      const int64_t excess = n + 1 - k.base - s.keep;
      if (excess >= 4096) {
        k.x.erase(k.x.begin(), k.x.begin() + excess);
        k.bad.erase(k.bad.begin(), k.bad.begin() + excess);
        k.base += excess;
      }
    }
    ++s.frames;
  }
}

nlohmann::json Declipper::statistics() const {
  return {{"restored_samples", restored_samples()},
          {"restored_runs", restored_runs()},
          {"skipped_runs", skipped_runs()},
          {"max_restored_peak_db", json_level(max_restored_peak_db())}};
}

}  // namespace rz::dsp
