// Granular re-styling: analysis, grain library, choices, rendering (rz/restyle/restyle.hpp).
#include "rz/restyle/restyle.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "rz/audio/decode.hpp"
#include "rz/audio/resample.hpp"
#include "rz/dsp/units.hpp"
#include "rz/error.hpp"
#include "rz/io/file.hpp"
#include "rz/stage/run_stems.hpp"
#include "rz/stems/process.hpp"
#include "rz/stems/sha256.hpp"

namespace rz::restyle {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr size_t kBlockFrames = 65536;
constexpr double kStyleLoudPercentile = 0.95;

// "1 grain", "3 grains".
std::string count(int n, const std::string& noun) {
  return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

// Rounded for the manifest to `decimals` places (times to 0.1 ms, pitches and levels to 0.01):
// divided last, so that the number printed is the short decimal.
double round_to(double v, int decimals) {
  const double scale = std::pow(10.0, decimals);
  return std::round(v * scale) / scale;
}

// Hann-weighted mean of per-hop energies over kEnvelopeWindowS around a hop (the weights inside
// [0, n) only, so the ends are not pulled down).
class Smoother {
 public:
  explicit Smoother(double hop_s) {
    const auto half = std::max<int64_t>(1, std::lround(0.5 * kEnvelopeWindowS / hop_s));
    for (int64_t j = -half; j <= half; ++j)
      w_.push_back(0.5 + 0.5 * std::cos(M_PI * static_cast<double>(j) / (half + 1)));
    half_ = half;
  }
  double at(const double* e, int64_t n, int64_t h) const {
    double s = 0, ws = 0;
    for (int64_t j = -half_; j <= half_; ++j) {
      const int64_t k = h + j;
      if (k < 0 || k >= n) continue;
      const double w = w_[static_cast<size_t>(j + half_)];
      s += w * e[k];
      ws += w;
    }
    return ws > 0 ? s / ws : 0;
  }

 private:
  std::vector<double> w_;
  int64_t half_ = 0;
};

// The raised-cosine fade-in over `length` frames at frame i (0 <= i < length): the fade-out over
// the same frames is 1 minus it, so a crossfade keeps a constant sum of weights.
double fade_in(int64_t i, int64_t length) {
  return 0.5 - 0.5 * std::cos(M_PI * (static_cast<double>(i) + 0.5) / static_cast<double>(length));
}

// A grain repeated without end: copy j starts at j * (L - F) and the copies overlap by F frames
// (the loop crossfade), the later fading in as the earlier fades out.
class Tile {
 public:
  Tile(const GrainLibrary& lib, const Grain& g, int rate)
      : x_(lib.audio.data() + g.start), length_(g.frames) {
    fade_ = std::min<int64_t>(std::lround(kLoopFadeS * rate), length_ / 4);
    period_ = length_ - fade_;
  }
  float at(int64_t u) const {
    const int64_t j = u / period_;
    const int64_t r = u - j * period_;
    if (j == 0 || r >= fade_) return x_[r];
    const double f = fade_in(r, fade_);
    return static_cast<float>(f * x_[r] + (1 - f) * x_[r + period_]);
  }

 private:
  const float* x_;
  int64_t length_, fade_ = 0, period_ = 1;
};

// The grains a segment may take: with pitch mapping, those of its kind (voiced or not; all when
// there are none of its kind), narrowed for a voiced segment among voiced grains to those within
// kEqualPitchCents of the nearest pitch; without, all.
std::vector<int> candidates(const GrainLibrary& lib, double pitch_hz, bool pitch_map) {
  std::vector<int> all(lib.grains.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int>(i);
  if (!pitch_map) return all;
  const bool voiced = pitch_hz > 0;
  std::vector<int> pool;
  for (int i : all)
    if ((lib.grains[static_cast<size_t>(i)].pitch_hz > 0) == voiced) pool.push_back(i);
  if (pool.empty()) return all;
  if (!voiced) return pool;
  auto cents = [&](int i) {
    return std::fabs(1200.0 * std::log2(lib.grains[static_cast<size_t>(i)].pitch_hz / pitch_hz));
  };
  double nearest = std::numeric_limits<double>::infinity();
  for (int i : pool) nearest = std::min(nearest, cents(i));
  std::vector<int> out;
  for (int i : pool)
    if (cents(i) <= nearest + kEqualPitchCents) out.push_back(i);
  return out;
}

// The extended span of segment k in frames: from a hop before its start (where it fades in) to
// a hop after its end (where it fades out); the first starts at 0, the last ends with the stem.
int64_t span_begin(const StemPlan& p, size_t k) {
  return k == 0 ? 0 : (p.segments[k].begin_hop - 1) * p.hop_frames;
}
int64_t span_end(const StemPlan& p, size_t k) {
  return k + 1 == p.segments.size()
             ? p.frames
             : std::min(p.frames, (p.segments[k].end_hop + 1) * p.hop_frames);
}

}  // namespace

const params::Fields<Options>& Options::fields() {
  static const params::Fields<Options> f = {
      {"grain_ms", &Options::grain_ms, "ms", 20, 2000,
       "Grain length in ms: the style's sounding stretches are cut into grains this long",
       "--grain-ms"},
  };
  return f;
}

void Options::validate(const stems::StemDir& in) const {
  params::check(*this, fields(), "", params::Naming::kFlag);
  if (style.empty())
    throw UsageError(describe("missing style", "--style",
                              "name the sound whose grains re-style the stems (--style FILE)"));
  for (const auto& s : stems) in.stem(s);  // throws listing the stems
}

json Options::to_json() const {
  json j = params::to_json(*this, fields());
  j["style"] = style.string();
  j["seed"] = seed;
  j["pitch_map"] = pitch_map;
  j["envelope"] = envelope;
  j["stems"] = stems;
  return j;
}

json Grain::to_json(int rate) const {
  return {{"start_s", round_to(static_cast<double>(start) / rate, 4)},
          {"end_s", round_to(static_cast<double>(start + frames) / rate, 4)},
          {"pitch_hz", round_to(pitch_hz, 2)},
          {"level_dbfs", round_to(dsp::json_level(level_dbfs), 2)}};
}

json GrainLibrary::to_json() const {
  json g = json::array();
  int voiced = 0;
  for (const auto& gr : grains) {
    g.push_back(gr.to_json(sample_rate_hz));
    voiced += gr.pitch_hz > 0;
  }
  return {{"regions", regions}, {"voiced_grains", voiced}, {"grains", g}};
}

int64_t hop_frames(int rate) { return std::max(1L, std::lround(rate * kEnvelopeHopS)); }

struct Analyzer::State {
  int channels;
  int rate;
  int64_t hop;
  std::optional<analyze::OnsetDetector> onsets;
  analyze::PitchTracker pitch;
  std::vector<float> mono;
  std::vector<double> acc;  // this hop's energy per channel, then the mono sum's
  int64_t fill = 0;
  int64_t frames = 0;
  Analysis out;
  State(int ch, int r, bool with_onsets) : channels(ch), rate(r), hop(hop_frames(r)), pitch(r) {
    if (with_onsets) onsets.emplace(r);
    acc.assign(static_cast<size_t>(ch) + 1, 0.0);
    out.hop_energy.resize(static_cast<size_t>(ch));
  }
  void close_hop() {
    for (int c = 0; c < channels; ++c) out.hop_energy[static_cast<size_t>(c)].push_back(acc[c]);
    out.mono_energy.push_back(acc.back());
    std::fill(acc.begin(), acc.end(), 0.0);
    fill = 0;
  }
};

Analyzer::Analyzer(int channels, int rate, bool onsets)
    : s_(std::make_unique<State>(channels, rate, onsets)) {}
Analyzer::~Analyzer() = default;

void Analyzer::add(const float* x, size_t frames) {
  State& s = *s_;
  const auto ch = static_cast<size_t>(s.channels);
  s.mono.resize(frames);
  for (size_t i = 0; i < frames; ++i) {
    double m = 0;
    for (size_t c = 0; c < ch; ++c) {
      const double v = x[i * ch + c];
      s.acc[c] += v * v;
      m += v;
    }
    m /= static_cast<double>(ch);
    s.acc[ch] += m * m;
    s.mono[i] = static_cast<float>(m);
    if (++s.fill == s.hop) s.close_hop();
  }
  if (s.onsets) s.onsets->push(s.mono.data(), frames);
  s.pitch.push(s.mono.data(), frames);
  s.frames += static_cast<int64_t>(frames);
}

Analysis Analyzer::finish() {
  State& s = *s_;
  if (s.fill > 0) s.close_hop();
  Analysis a = std::move(s.out);
  a.channels = s.channels;
  a.sample_rate_hz = s.rate;
  a.frames = s.frames;
  a.hop_frames = s.hop;
  if (s.onsets) a.onsets_s = s.onsets->finish();
  a.pitch = s.pitch.finish();
  return a;
}

double segment_pitch(const Analysis& a, int64_t begin, int64_t end) {
  const analyze::PitchTrack& t = a.pitch;
  if (t.f0_hz.empty() || t.hop_s <= 0) return 0;
  const double rate = a.sample_rate_hz;
  const auto n = static_cast<int64_t>(t.f0_hz.size());
  auto first_at = [&](int64_t frame) {
    return std::clamp<int64_t>(
        static_cast<int64_t>(std::ceil((static_cast<double>(frame) / rate - t.first_s) / t.hop_s)),
        0, n);
  };
  const Smoother smooth(kEnvelopeHopS);
  const double silent = dsp::db_to_power(kSilentSegmentDbfs) * static_cast<double>(a.hop_frames);
  std::vector<float> voiced;
  int sounding = 0;
  for (int64_t i = first_at(begin); i < first_at(end); ++i) {
    const double centre = (t.first_s + static_cast<double>(i) * t.hop_s) * rate;
    const int64_t h = std::clamp<int64_t>(static_cast<int64_t>(centre) / a.hop_frames, 0,
                                          std::max<int64_t>(0, a.hops() - 1));
    if (a.hops() == 0 || smooth.at(a.mono_energy.data(), a.hops(), h) < silent) continue;
    ++sounding;
    if (t.f0_hz[static_cast<size_t>(i)] > 0) voiced.push_back(t.f0_hz[static_cast<size_t>(i)]);
  }
  const auto v = static_cast<int>(voiced.size());
  if (v < kMinVoicedFrames || v < kMinVoicedShare * sounding) return 0;
  std::nth_element(voiced.begin(), voiced.begin() + v / 2, voiced.end());
  return voiced[static_cast<size_t>(v / 2)];
}

GrainLibrary build_grain_library(std::vector<float> mono, int rate, double grain_ms) {
  GrainLibrary lib;
  lib.sample_rate_hz = rate;
  lib.audio = std::move(mono);
  const auto total = static_cast<int64_t>(lib.audio.size());
  Analyzer an(1, rate, false);
  an.add(lib.audio.data(), lib.audio.size());
  const Analysis a = an.finish();
  const int64_t hop = a.hop_frames;
  // Style frames of whole hops and their levels.
  const int64_t per = std::max<int64_t>(1, std::lround(kStyleFrameS / kEnvelopeHopS));
  const int64_t nf = (a.hops() + per - 1) / per;
  std::vector<double> db(static_cast<size_t>(nf));
  std::vector<double> sounding;
  for (int64_t f = 0; f < nf; ++f) {
    double e = 0;
    const int64_t h1 = std::min(a.hops(), (f + 1) * per);
    for (int64_t h = f * per; h < h1; ++h) e += a.mono_energy[static_cast<size_t>(h)];
    const int64_t frames = std::min(total, h1 * hop) - f * per * hop;
    db[static_cast<size_t>(f)] = dsp::power_to_db(frames > 0 ? e / static_cast<double>(frames) : 0);
    if (std::isfinite(db[static_cast<size_t>(f)])) sounding.push_back(db[static_cast<size_t>(f)]);
  }
  if (sounding.empty()) return lib;
  std::sort(sounding.begin(), sounding.end());
  const double loud = sounding[static_cast<size_t>(kStyleLoudPercentile *
                                                   static_cast<double>(sounding.size() - 1))];
  const double threshold = std::max(loud - kStyleSilenceBelowLoudDb, kStyleSilenceFloorDbfs);
  const int64_t min_silence = std::max<int64_t>(1, std::lround(kMinSilenceS / kStyleFrameS));
  // Regions: runs of sounding frames, joined across silences shorter than kMinSilenceS.
  std::vector<std::pair<int64_t, int64_t>> regions;  // frames of the style
  int64_t f = 0;
  while (f < nf) {
    if (db[static_cast<size_t>(f)] < threshold) {
      ++f;
      continue;
    }
    const int64_t start = f;
    int64_t last = f;  // last sounding frame
    for (int64_t g = f + 1; g < nf && g - last <= min_silence; ++g)
      if (db[static_cast<size_t>(g)] >= threshold) last = g;
    regions.emplace_back(start * per * hop, std::min(total, (last + 1) * per * hop));
    f = last + 1;
  }
  lib.regions = static_cast<int>(regions.size());
  const auto length = std::max<int64_t>(1, std::lround(grain_ms / 1000.0 * rate));
  const auto min_grain = std::lround(kMinGrainS * rate);
  auto add = [&](int64_t start, int64_t frames) {
    double e = 0;
    for (int64_t i = start; i < start + frames; ++i)
      e += static_cast<double>(lib.audio[static_cast<size_t>(i)]) *
           lib.audio[static_cast<size_t>(i)];
    Grain g;
    g.start = start;
    g.frames = frames;
    g.level_dbfs = dsp::power_to_db(e / static_cast<double>(frames));
    if (g.level_dbfs < kSilentSegmentDbfs) return;
    g.pitch_hz = segment_pitch(a, start, start + frames);
    lib.grains.push_back(g);
  };
  for (const auto& [begin, end] : regions) {
    const int64_t r = end - begin;
    const int64_t count = r / length, rest = r % length;
    if (count == 0) {
      if (r >= min_grain) add(begin, r);
      continue;
    }
    for (int64_t i = 0; i < count; ++i) {
      const bool last = i + 1 == count;
      const bool joins = last && rest < length / 2;  // a short remainder joins the last grain
      add(begin + i * length, joins ? length + rest : length);
    }
    if (rest >= length / 2 && rest > 0) add(begin + count * length, rest);
  }
  return lib;
}

GrainLibrary load_style(const fs::path& path, int rate, double grain_ms, const Progress& progress) {
  io::require_regular_file(path);
  audio::DecodedFile file(path, audio::DecodeOptions{});
  audio::Reader& r = file.reader();
  const int ch = r.info().channels;
  const int from = r.info().sample_rate_hz;
  const double seconds = static_cast<double>(r.info().frames) / from;
  if (seconds > kMaxStyleS) {
    throw UsageError(describe("style too long", path.string(),
                              fixed(seconds, 1) + " s; at most " + fixed(kMaxStyleS, 0) +
                                  " s (cut the part to take grains from)"));
  }
  std::optional<audio::Resampler> rs;
  if (from != rate) rs.emplace(1, from, rate, audio::ResampleQuality::kMedium);
  std::vector<float> block(kBlockFrames * static_cast<size_t>(ch)), mono(kBlockFrames), out;
  int64_t pos = 0;
  for (;;) {
    throw_if_interrupted();
    const size_t n = r.read(block.data(), kBlockFrames);
    audio::check_finite(block.data(), n, ch, pos, from, path);
    for (size_t i = 0; i < n; ++i) {
      double m = 0;
      for (int c = 0; c < ch; ++c) m += block[i * static_cast<size_t>(ch) + static_cast<size_t>(c)];
      mono[i] = static_cast<float>(m / ch);
    }
    if (rs)
      rs->process(mono.data(), n, n == 0, out);
    else
      out.insert(out.end(), mono.begin(), mono.begin() + static_cast<std::ptrdiff_t>(n));
    pos += static_cast<int64_t>(n);
    report(progress, "style", r.info().frames > 0 ? double(pos) / r.info().frames : 1.0);
    if (n == 0) break;
  }
  GrainLibrary lib = build_grain_library(std::move(out), rate, grain_ms);
  if (lib.grains.empty()) {
    throw UsageError(describe("unusable style", path.string(),
                              lib.regions == 0 ? "no sound above the silence threshold"
                                               : "no sounding stretch of " +
                                                     fixed(kMinGrainS * 1000, 0) + " ms or more"));
  }
  return lib;
}

int StemPlan::silent_segments() const {
  return static_cast<int>(std::count_if(segments.begin(), segments.end(),
                                        [](const Segment& s) { return s.grain < 0; }));
}

int StemPlan::grains_used() const {
  std::vector<int> g;
  for (const auto& s : segments)
    if (s.grain >= 0) g.push_back(s.grain);
  std::sort(g.begin(), g.end());
  return static_cast<int>(std::unique(g.begin(), g.end()) - g.begin());
}

json StemPlan::to_json() const {
  json segs = json::array();
  int onsets = 0;
  const double rate = sample_rate_hz;
  for (const auto& s : segments) {
    onsets += s.onset;
    json j = {{"onset_s", round_to(static_cast<double>(s.begin_hop * hop_frames) / rate, 4)},
              {"end_s",
               round_to(static_cast<double>(std::min(frames, s.end_hop * hop_frames)) / rate, 4)},
              {"pitch_hz", round_to(s.pitch_hz, 2)},
              {"level_dbfs", round_to(dsp::json_level(s.level_dbfs), 2)},
              {"grain", s.grain >= 0 ? json(s.grain) : json(nullptr)},
              {"gain_db", s.grain >= 0 ? json(round_to(s.gain_db, 2)) : json(nullptr)}};
    if (!s.onset) j["lead_in"] = true;
    segs.push_back(std::move(j));
  }
  return {{"onsets", onsets},
          {"silent_segments", silent_segments()},
          {"grains_used", grains_used()},
          {"segments", segs}};
}

std::mt19937_64 stem_generator(uint64_t seed, const std::string& stem_name) {
  uint64_t h = 14695981039346656037ULL;  // FNV-1a, 64 bits
  for (unsigned char c : stem_name) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32),
                    static_cast<uint32_t>(h), static_cast<uint32_t>(h >> 32)};
  return std::mt19937_64(seq);
}

size_t pick_index(std::mt19937_64& rng, size_t n) {
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  const uint64_t limit = max - max % n;  // [0, limit) holds a whole number of each index
  uint64_t x = rng();
  while (x >= limit) x = rng();
  return static_cast<size_t>(x % n);
}

StemPlan plan_stem(const Analysis& a, const GrainLibrary& lib, const Options& o,
                   std::mt19937_64& rng) {
  StemPlan p;
  p.channels = a.channels;
  p.sample_rate_hz = a.sample_rate_hz;
  p.frames = a.frames;
  p.hop_frames = a.hop_frames;
  const int64_t hops = a.hops();
  if (hops == 0) return p;
  const int64_t hop = a.hop_frames;
  const double rate = a.sample_rate_hz;

  // Boundaries on the hop grid, at least kMinSegmentS apart and from either end.
  const auto min_hops = std::max<int64_t>(
      2, static_cast<int64_t>(std::ceil(kMinSegmentS * rate / static_cast<double>(hop))));
  std::vector<int64_t> starts;
  bool lead_in = true;
  for (double t : a.onsets_s) {
    int64_t h = std::lround(t * rate / static_cast<double>(hop));
    if (h < min_hops) {  // an onset at the very start: the first segment is its note
      h = 0;
      lead_in = false;
    }
    if (h > hops - min_hops) break;
    if (!starts.empty() && h - starts.back() < min_hops) continue;
    starts.push_back(h);
  }
  if (starts.empty() || starts.front() != 0) starts.insert(starts.begin(), 0);
  const size_t n = starts.size();

  // Smoothed RMS envelope of each channel, per hop.
  const Smoother smooth(kEnvelopeHopS);
  std::vector<std::vector<double>> env(static_cast<size_t>(a.channels));
  for (size_t c = 0; c < env.size(); ++c) {
    env[c].resize(static_cast<size_t>(hops));
    for (int64_t h = 0; h < hops; ++h)
      env[c][static_cast<size_t>(h)] =
          std::sqrt(smooth.at(a.hop_energy[c].data(), hops, h) / static_cast<double>(hop));
  }

  for (size_t k = 0; k < n; ++k) {
    if (k % 256 == 0) throw_if_interrupted();
    Segment s;
    s.begin_hop = starts[k];
    s.end_hop = k + 1 < n ? starts[k + 1] : hops;
    s.onset = k > 0 || !lead_in;
    const int64_t begin = s.begin_hop * hop, end = std::min(a.frames, s.end_hop * hop);
    double e = 0;
    for (int64_t h = s.begin_hop; h < s.end_hop; ++h) e += a.mono_energy[static_cast<size_t>(h)];
    s.level_dbfs = dsp::power_to_db(e / static_cast<double>(std::max<int64_t>(1, end - begin)));
    if (s.level_dbfs < kSilentSegmentDbfs || lib.grains.empty()) {
      p.segments.push_back(std::move(s));
      continue;
    }
    s.pitch_hz = segment_pitch(a, begin, end);
    const std::vector<int> pool = candidates(lib, s.pitch_hz, o.pitch_map);
    s.grain = pool.size() == 1 ? pool.front() : pool[pick_index(rng, pool.size())];
    const Grain& g = lib.grains[static_cast<size_t>(s.grain)];
    s.gain_db = s.level_dbfs - g.level_dbfs;

    // The tile's energy per hop over the extended span, hops begin_hop - 1 .. end_hop.
    const Tile tile(lib, g, a.sample_rate_hz);
    const int64_t ext = s.end_hop - s.begin_hop + 2;
    std::vector<double> te(static_cast<size_t>(ext), 0.0);
    for (int64_t j = 0; j < ext; ++j) {
      double sum = 0;
      for (int64_t u = j * hop; u < (j + 1) * hop; ++u) {
        const double v = tile.at(u);
        sum += v * v;
      }
      te[static_cast<size_t>(j)] = sum;
    }
    double tile_inside = 0;
    for (int64_t j = 1; j < ext - 1; ++j) tile_inside += te[static_cast<size_t>(j)];
    const double tile_rms = std::sqrt(tile_inside / static_cast<double>((ext - 2) * hop));
    const double floor = tile_rms * dsp::db_to_amplitude(kEnvelopeFloorDb);
    s.gain.assign(static_cast<size_t>(a.channels), std::vector<float>(static_cast<size_t>(ext)));
    for (size_t c = 0; c < env.size(); ++c) {
      double original = 0;
      for (int64_t h = s.begin_hop; h < s.end_hop; ++h)
        original += a.hop_energy[c][static_cast<size_t>(h)];
      std::vector<double> g_env(static_cast<size_t>(ext), 1.0);
      if (o.envelope) {
        for (int64_t j = 0; j < ext; ++j) {
          const int64_t h = std::clamp<int64_t>(s.begin_hop - 1 + j, 0, hops - 1);
          const double tile_env =
              std::sqrt(smooth.at(te.data(), ext, j) / static_cast<double>(hop));
          g_env[static_cast<size_t>(j)] =
              env[c][static_cast<size_t>(h)] / std::max(tile_env, floor);
        }
      }
      double predicted = 0;
      for (int64_t j = 1; j < ext - 1; ++j)
        predicted += g_env[static_cast<size_t>(j)] * g_env[static_cast<size_t>(j)] *
                     te[static_cast<size_t>(j)];
      const double level = predicted > 0 ? std::sqrt(original / predicted) : 0.0;
      for (int64_t j = 0; j < ext; ++j)
        s.gain[c][static_cast<size_t>(j)] =
            static_cast<float>(level * g_env[static_cast<size_t>(j)]);
    }
    p.segments.push_back(std::move(s));
  }
  return p;
}

Renderer::Renderer(std::shared_ptr<const StemPlan> plan, std::shared_ptr<const GrainLibrary> lib)
    : plan_(std::move(plan)), library_(std::move(lib)) {}

void Renderer::process(const float*, float* out, size_t frames) {
  const StemPlan& p = *plan_;
  const auto ch = static_cast<size_t>(p.channels);
  std::fill(out, out + frames * ch, 0.f);
  const int64_t t0 = position_, t1 = position_ + static_cast<int64_t>(frames);
  const int64_t hop = p.hop_frames;
  while (first_ < p.segments.size() && span_end(p, first_) <= t0) ++first_;
  for (size_t k = first_; k < p.segments.size() && span_begin(p, k) < t1; ++k) {
    const Segment& s = p.segments[k];
    if (s.grain < 0) continue;
    const Tile tile(*library_, library_->grains[static_cast<size_t>(s.grain)], p.sample_rate_hz);
    const int64_t origin = (s.begin_hop - 1) * hop;  // the tile's frame 0, gain index 0's hop
    const auto last_gain = static_cast<int64_t>(s.gain.front().size()) - 1;
    const int64_t in_end = (s.begin_hop + 1) * hop, out_begin = (s.end_hop - 1) * hop;
    const bool fades_in = k > 0, fades_out = k + 1 < p.segments.size();
    const int64_t b = std::max(t0, span_begin(p, k)), e = std::min(t1, span_end(p, k));
    for (int64_t t = b; t < e; ++t) {
      double w = 1;
      if (fades_in && t < in_end) w = fade_in(t - origin, 2 * hop);
      if (fades_out && t >= out_begin) w *= 1 - fade_in(t - out_begin, 2 * hop);
      const double v = w * tile.at(t - origin);
      // Gain index j sits at the centre of hop begin_hop - 1 + j: linear between centres.
      const double pos = (static_cast<double>(t - origin) + 0.5) / static_cast<double>(hop) - 0.5;
      const auto j = std::clamp<int64_t>(static_cast<int64_t>(std::floor(pos)), 0, last_gain);
      const int64_t j1 = std::min(j + 1, last_gain);
      const double frac = std::clamp(pos - static_cast<double>(j), 0.0, 1.0);
      float* o = out + static_cast<size_t>(t - t0) * ch;
      for (size_t c = 0; c < ch; ++c) {
        const double g = s.gain[c][static_cast<size_t>(j)] * (1 - frac) +
                         s.gain[c][static_cast<size_t>(j1)] * frac;
        o[c] += static_cast<float>(v * g);
      }
    }
  }
  for (size_t i = 0; i < frames * ch; ++i) peak_ = std::max(peak_, std::fabs(out[i]));
  position_ = t1;
}

json Renderer::statistics() const {
  return {{"peak_dbfs", round_to(dsp::json_level(dsp::amplitude_to_db(peak_)), 2)}};
}

Restyled restyle_audio(const std::vector<float>& x, int channels, int rate,
                       const GrainLibrary& library, const Options& options,
                       const std::string& stem_name) {
  Analyzer an(channels, rate);
  an.add(x.data(), x.size() / static_cast<size_t>(channels));
  const Analysis a = an.finish();
  auto rng = stem_generator(options.seed, stem_name);
  auto plan = std::make_shared<StemPlan>(plan_stem(a, library, options, rng));
  Renderer r(plan, std::make_shared<const GrainLibrary>(library));
  Restyled out;
  out.audio.resize(x.size());
  r.process(x.data(), out.audio.data(), x.size() / static_cast<size_t>(channels));
  out.plan = *plan;
  return out;
}

Report restyle(const stems::StemDir& in, const fs::path& output, bool force, const Options& o,
               const json& provenance, const Progress& progress) {
  o.validate(in);
  const stems::Manifest& im = in.manifest();
  const int rate = im.sample_rate_hz;
  auto lib = std::make_shared<const GrainLibrary>(load_style(o.style, rate, o.grain_ms, progress));
  const json library = lib->to_json();
  stage::StemStage st;
  st.verb = "restyle";
  st.stems = o.stems;
  st.parameters = o.to_json();
  st.parameters["style_path"] = fs::absolute(o.style).string();
  st.parameters["style_sha256"] = stems::sha256_file(o.style);
  st.parameters["grain_library"] = library;
  const int voiced_grains = library.at("voiced_grains").get<int>();
  st.plan = [&](stage::Stem& stem) {
    // A removed stem (crowd, noise) is what a stage took out; only --stems naming it restyles it.
    if (stem.entry.removed() && o.stems.empty())
      return stage::Plan::copy("removed stem: not processed", false, "removed stem, copied");
    Analyzer an(stem.channels, stem.sample_rate_hz);
    stems::scan_file(
        stem.path, [&](const float* block, size_t frames) { an.add(block, frames); },
        "analyse " + stem.name(), stem.progress);
    const Analysis a = an.finish();
    auto rng = stem_generator(o.seed, stem.name());
    auto plan = std::make_shared<const StemPlan>(plan_stem(a, *lib, o, rng));
    stem.record.update(plan->to_json());
    const int sounding = static_cast<int>(plan->segments.size()) - plan->silent_segments();
    if (sounding == 0) {
      return stage::Plan::copy(
          "silent: every segment under " + fixed(kSilentSegmentDbfs, 0) + " dBFS", true,
          "silent, copied");
    }
    const bool voiced_segments = std::any_of(plan->segments.begin(), plan->segments.end(),
                                             [](const Segment& s) { return s.pitch_hz > 0; });
    if (o.pitch_map && voiced_segments && voiced_grains == 0) {
      stem.report.warnings.push_back(stem.name() +
                                     ": the style has no pitched grain: pitched segments took "
                                     "any grain");
    }
    auto attempt = [plan, lib](size_t i) -> std::optional<stage::Chain> {
      if (i > 0) return std::nullopt;
      stage::Chain c;
      c.add("render", std::make_unique<Renderer>(plan, lib));
      return c;
    };
    auto judge = [&stem, plan, sounding](size_t, const json& statistics) {
      if (statistics.contains("render")) stem.record["output"] = statistics.at("render");
      stage::Verdict v;
      v.note = "restyled: " + count(sounding, "segment") + " from " +
               count(plan->grains_used(), "grain");
      if (plan->silent_segments() > 0)
        v.note += " (" + std::to_string(plan->silent_segments()) + " silent, kept silent)";
      return v;
    };
    return stage::Plan::process(attempt, judge);
  };
  Report rep = stage::run_stems(in, output, force, st, provenance, progress);
  rep.details.push_back("style " + in_quotes(o.style.string()) + ": " +
                        count(static_cast<int>(lib->grains.size()), "grain") + " (" +
                        std::to_string(voiced_grains) + " pitched) from " +
                        std::to_string(lib->regions) +
                        (lib->regions == 1 ? " sounding stretch" : " sounding stretches"));
  return rep;
}

}  // namespace rz::restyle
