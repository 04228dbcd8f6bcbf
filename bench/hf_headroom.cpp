// rz-hf-headroom: where a high-frequency regeneration loses log-spectral distance (issue 13's
// 8 kHz bar), by replacing parts of the restored spectrum with what the reference holds.
//
// Usage: rz-hf-headroom [CUTOFF_HZ] < LIST      (CUTOFF_HZ: the low-pass's edge, default 8000)
//   LIST: one case per line, tab-separated: SPLIT NAME REFERENCE DEGRADED RESTORED (WAV files of
//   one rate and length; bench/hf-headroom.sh writes it from a tests/corpus/check.sh work dir).
// Prints one tab-separated row per case and a summary per split. LSD is rz-metrics' (mono sum,
// metrics::kLsdFftSize frames, floor and frame gate from the reference) of, against REFERENCE:
//   before    DEGRADED;
//   after     RESTORED;
//   envelope  DEGRADED under the cutoff and, above it, each sixth-octave band of each frame flat
//             at the reference's own log-mean level there: the envelope known exactly, the fine
//             structure not at all (the most a flat fill such as rz-restore's can reach);
//   fine      the reference's fine structure (each bin re its band's log-mean) at RESTORED's band
//             levels: RESTORED's envelope with the partials in their true places;
//   linear    as envelope, with each band's level predicted from the same frame's octave under
//             the cutoff (log-mean of its four quarter-octave bands re DEGRADED's loudest bin,
//             and its spectral flatness) by least squares over the frames of the `tune` cases
//             that had highs (before >= kHadHighsDb): a learnt envelope, reported on `validate`;
//   decided   linear where rz-restore regenerated (after differs from before), else before: the
//             learnt envelope behind rz-restore's decision.
// Summary per split: the mean LSD reduction of each column over the cases with before >=
// kHadHighsDb, as issue 13 counts it.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "rz/audio/file.hpp"
#include "rz/dsp/fft.hpp"
#include "rz/dsp/units.hpp"
#include "rz/metrics/compare.hpp"

namespace {

constexpr double kHadHighsDb = 2.0;         // issue 13: "excerpts that had highs"
constexpr double kBandOctaves = 1.0 / 6.0;  // target bands, as dsp::HfRegenerator's
constexpr int kSourceBands = 4;             // quarter-octave bands of the octave under the cut
constexpr double kSkirtOctaves = 0.25;      // that octave ends this far under the cutoff
constexpr double kRidge = 1e-6;             // of the normal equations' diagonal, for rank safety
constexpr int kBins = rz::metrics::kLsdFftSize / 2 + 1;

using Spectra = std::vector<std::vector<float>>;  // [frame][bin] power, as rz-metrics keeps it
using rz::dsp::db_to_power;
using rz::dsp::power_to_db;

// The mono sum's power spectra, frames as rz-metrics' LSD cuts them.
Spectra spectra(const std::string& path, int* rate) {
  rz::audio::Reader r(path);
  const int ch = r.info().channels;
  *rate = r.info().sample_rate_hz;
  std::vector<float> buf(4096 * static_cast<size_t>(ch)), mono;
  for (size_t n; (n = r.read(buf.data(), 4096)) > 0;) {
    for (size_t i = 0; i < n; ++i) {
      float s = 0;
      for (int c = 0; c < ch; ++c) s += buf[i * ch + c];
      mono.push_back(s);
    }
  }
  rz::dsp::PowerSpectrumStream stream(rz::metrics::kLsdFftSize, rz::metrics::kLsdHop);
  Spectra out;
  auto keep = [&out](const float* p) { out.emplace_back(p, p + kBins); };
  stream.push(mono.data(), mono.size(), 1, keep);
  stream.flush(keep);
  return out;
}

struct Case {
  std::string split, name, ref_path, deg_path, res_path;
  double lsd[6] = {};  // before, after, envelope, fine, linear, decided
};

// One case's spectra (read twice, once per pass, so that memory holds one case at a time).
struct Loaded {
  Spectra ref, deg, res;
  int rate = 0;
  double floor = 0, gate = 0, deg_loudest = 0;
};

Loaded load(const Case& c) {
  Loaded l;
  int rates[3];
  l.ref = spectra(c.ref_path, &rates[0]);
  l.deg = spectra(c.deg_path, &rates[1]);
  l.res = spectra(c.res_path, &rates[2]);
  if (rates[1] != rates[0] || rates[2] != rates[0])
    throw std::runtime_error(c.name + ": the three files differ in sample rate");
  l.rate = rates[0];
  const size_t frames = std::min({l.ref.size(), l.deg.size(), l.res.size()});
  l.ref.resize(frames);
  l.deg.resize(frames);
  l.res.resize(frames);
  double loudest_bin = 0, loudest_frame = 0;
  for (size_t f = 0; f < frames; ++f) {
    double e = 0;
    for (int k = 0; k < kBins; ++k) {
      loudest_bin = std::max<double>(loudest_bin, l.ref[f][k]);
      l.deg_loudest = std::max<double>(l.deg_loudest, l.deg[f][k]);
      e += l.ref[f][k];
    }
    loudest_frame = std::max(loudest_frame, e);
  }
  l.floor = loudest_bin * db_to_power(rz::metrics::kLsdFloorDb);
  l.gate = loudest_frame * db_to_power(rz::metrics::kLsdFrameGateDb);
  return l;
}

struct Bands {
  std::vector<int> target;  // edges of the sixth-octave bands from the cutoff's bin to Nyquist
  std::vector<int> source;  // edges of the quarter-octave bands under the cutoff
};

Bands bands(double cutoff_hz, int rate) {
  Bands b;
  const int kc = static_cast<int>(std::lround(cutoff_hz * rz::metrics::kLsdFftSize / rate));
  // The octave under the cut needs a bin per quarter-octave band; the cut must leave bins above.
  if (!(kc >= 4 * kSourceBands && kc < kBins - 1))
    throw std::runtime_error("cutoff " + std::to_string(cutoff_hz) + " Hz leaves no band at " +
                             std::to_string(rate) + " Hz");
  for (int e = kc; e < kBins;) {
    b.target.push_back(e);
    e = std::min(kBins,
                 std::max(e + 2, static_cast<int>(std::lround(e * std::pow(2.0, kBandOctaves)))));
  }
  b.target.push_back(kBins);
  const double top = kc * std::pow(2.0, -kSkirtOctaves);
  for (int i = 0; i <= kSourceBands; ++i)
    b.source.push_back(
        static_cast<int>(std::lround(top * std::pow(2.0, 1.0 * i / kSourceBands - 1.0))));
  return b;
}

// Log-mean power of bins [a, z), each at least `floor`, in dB.
double log_mean_db(const std::vector<float>& p, int a, int z, double floor) {
  double s = 0;
  for (int k = a; k < z; ++k) s += std::log(std::max<double>(p[k], floor));
  return 10.0 / std::log(10.0) * s / (z - a);
}

// The linear predictor's inputs for one frame of the degraded spectrum.
std::vector<double> features(const Loaded& c, size_t f, const Bands& b) {
  const double guard = c.deg_loudest * 1e-12;
  std::vector<double> x{1.0};
  for (int i = 0; i < kSourceBands; ++i)
    x.push_back(log_mean_db(c.deg[f], b.source[i], b.source[i + 1], guard) -
                power_to_db(c.deg_loudest));
  double mean = 0;
  for (int k = b.source.front(); k < b.source.back(); ++k) mean += c.deg[f][k];
  mean /= b.source.back() - b.source.front();
  x.push_back(log_mean_db(c.deg[f], b.source.front(), b.source.back(), guard) -
              power_to_db(mean, guard));
  return x;
}

bool counted(const Loaded& c, size_t f) {
  double e = 0;
  for (double v : c.ref[f]) e += v;
  return e > 0 && e >= c.gate;
}

// Solves (A + ridge) w = y for one band (Gaussian elimination; the system is tiny).
std::vector<double> solve(std::vector<std::vector<double>> a, std::vector<double> y) {
  const size_t n = y.size();
  for (size_t i = 0; i < n; ++i) a[i][i] += kRidge * a[0][0];
  for (size_t p = 0; p < n; ++p) {
    for (size_t r = p + 1; r < n; ++r) {
      const double m = a[r][p] / a[p][p];
      for (size_t c = p; c < n; ++c) a[r][c] -= m * a[p][c];
      y[r] -= m * y[p];
    }
  }
  std::vector<double> w(n);
  for (size_t p = n; p-- > 0;) {
    double s = y[p];
    for (size_t c = p + 1; c < n; ++c) s -= a[p][c] * w[c];
    w[p] = s / a[p][p];
  }
  return w;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const double cutoff_hz = argc > 1 ? std::atof(argv[1]) : 8000.0;
    std::vector<Case> cases;
    for (std::string line; std::getline(std::cin, line);) {
      std::istringstream in(line);
      Case c;
      if (!std::getline(in, c.split, '\t') || !std::getline(in, c.name, '\t') ||
          !std::getline(in, c.ref_path, '\t') || !std::getline(in, c.deg_path, '\t') ||
          !std::getline(in, c.res_path))
        throw std::runtime_error("bad list line: " + line);
      cases.push_back(std::move(c));
    }
    if (cases.empty()) throw std::runtime_error("no cases on stdin");
    Bands b;
    size_t nb = 0;
    const size_t nf = kSourceBands + 2;

    // Pass 1: before, after, envelope and fine; the learnt envelope's normal equations from the
    // `tune` cases that had highs.
    std::vector<std::vector<std::vector<double>>> ata;
    std::vector<std::vector<double>> aty;
    int rate = 0;
    for (Case& c : cases) {
      const Loaded l = load(c);
      if (rate == 0) {
        rate = l.rate;
        b = bands(cutoff_hz, rate);
        nb = b.target.size() - 1;
        ata.assign(nb, std::vector<std::vector<double>>(nf, std::vector<double>(nf)));
        aty.assign(nb, std::vector<double>(nf));
      } else if (l.rate != rate) {
        throw std::runtime_error(c.name + ": another sample rate than the first case's");
      }
      int counted_frames = 0;
      for (size_t f = 0; f < l.ref.size(); ++f) {
        if (!counted(l, f)) continue;
        ++counted_frames;
        std::vector<float> env = l.deg[f], fine = l.res[f];
        for (size_t t = 0; t < nb; ++t) {
          const int lo = b.target[t], hi = b.target[t + 1];
          const double ref_db = log_mean_db(l.ref[f], lo, hi, l.floor);
          const double res_db = log_mean_db(l.res[f], lo, hi, l.floor);
          for (int k = lo; k < hi; ++k) {
            env[k] = static_cast<float>(db_to_power(ref_db));
            fine[k] = static_cast<float>(
                db_to_power(res_db + power_to_db(l.ref[f][k], l.floor) - ref_db));
          }
        }
        c.lsd[0] += rz::metrics::lsd_frame_db(l.ref[f].data(), l.deg[f].data(), kBins, l.floor);
        c.lsd[1] += rz::metrics::lsd_frame_db(l.ref[f].data(), l.res[f].data(), kBins, l.floor);
        c.lsd[2] += rz::metrics::lsd_frame_db(l.ref[f].data(), env.data(), kBins, l.floor);
        c.lsd[3] += rz::metrics::lsd_frame_db(l.ref[f].data(), fine.data(), kBins, l.floor);
      }
      for (int i = 0; i < 4; ++i) c.lsd[i] /= std::max(1, counted_frames);
      if (c.split != "tune" || c.lsd[0] < kHadHighsDb) continue;
      for (size_t f = 0; f < l.ref.size(); ++f) {
        if (!counted(l, f)) continue;
        const std::vector<double> x = features(l, f, b);
        for (size_t t = 0; t < nb; ++t) {
          const double y = log_mean_db(l.ref[f], b.target[t], b.target[t + 1], l.floor) -
                           power_to_db(l.deg_loudest);
          for (size_t i = 0; i < nf; ++i) {
            aty[t][i] += x[i] * y;
            for (size_t j = 0; j < nf; ++j) ata[t][i][j] += x[i] * x[j];
          }
        }
      }
    }
    const bool fitted = ata[0][0][0] > 0;
    std::vector<std::vector<double>> w(nb);
    if (fitted)
      for (size_t t = 0; t < nb; ++t) w[t] = solve(ata[t], aty[t]);

    // Pass 2: the learnt envelope.
    std::printf("split\tname\tbefore\tafter\tenvelope\tfine\tlinear\tdecided\n");
    std::map<std::string, std::vector<double>> sum;  // split -> reductions of columns 1..5, count
    for (Case& c : cases) {
      int counted_frames = 0;
      if (fitted) {
        const Loaded l = load(c);
        for (size_t f = 0; f < l.ref.size(); ++f) {
          if (!counted(l, f)) continue;
          ++counted_frames;
          const std::vector<double> x = features(l, f, b);
          std::vector<float> lin = l.deg[f];
          for (size_t t = 0; t < nb; ++t) {
            double y = 0;
            for (size_t i = 0; i < nf; ++i) y += w[t][i] * x[i];
            const double p = db_to_power(y + power_to_db(l.deg_loudest));
            for (int k = b.target[t]; k < b.target[t + 1]; ++k)
              lin[k] = std::max(static_cast<float>(p), l.deg[f][k]);
          }
          c.lsd[4] += rz::metrics::lsd_frame_db(l.ref[f].data(), lin.data(), kBins, l.floor);
        }
      }
      c.lsd[4] = fitted ? c.lsd[4] / std::max(1, counted_frames) : c.lsd[0];
      c.lsd[5] = c.lsd[1] != c.lsd[0] ? c.lsd[4] : c.lsd[0];
      std::printf("%s\t%s", c.split.c_str(), c.name.c_str());
      for (double v : c.lsd) std::printf("\t%.3f", v);
      std::printf("\n");
      if (c.lsd[0] < kHadHighsDb) continue;
      std::vector<double>& s = sum[c.split];
      s.resize(6);
      for (int i = 1; i < 6; ++i) s[i - 1] += (c.lsd[0] - c.lsd[i]) / c.lsd[0];
      s[5] += 1;
    }
    for (const auto& [split, s] : sum) {
      const double n = s[5];
      std::printf(
          "# %s, %d cases with before >= %.0f dB: mean LSD reduction after %.1f %%, envelope %.1f "
          "%%, fine %.1f %%, linear %.1f %%, decided %.1f %%%s\n",
          split.c_str(), static_cast<int>(n), kHadHighsDb, 100 * s[0] / n, 100 * s[1] / n,
          100 * s[2] / n, 100 * s[3] / n, 100 * s[4] / n,
          fitted ? "" : " (no tune case to fit: linear = before)");
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rz-hf-headroom: error: %s\n", e.what());
    return 1;
  }
}
