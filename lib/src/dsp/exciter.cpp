// Harmonic exciter: high-pass, half-band oversampling, saturation, alias-free decimation, blend.
#include "rz/dsp/exciter.hpp"

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "rz/dsp/biquad.hpp"
#include "rz/dsp/fft.hpp"
#include "rz/dsp/units.hpp"
#include "rz/error.hpp"

namespace rz::dsp {

namespace {

// Frames per internal block. The work buffers are sized for it once, so process() never
// allocates, and a block of the fastest stage (2048 floats at 8x) stays in L1.
constexpr size_t kBlockFrames = 256;

// Four floats in one SIMD register (GCC/Clang vector extension; plain code where there is no
// SIMD). The hot loops are written with it because the auto-vectoriser does not manage them: it
// vectorised the FIR over taps instead of outputs and spilled, and left the saturator scalar.
typedef float Vec4 __attribute__((vector_size(16)));
typedef int32_t Int4 __attribute__((vector_size(16)));
constexpr size_t kLanes = 4;

Vec4 load(const float* p) {
  Vec4 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
void store(float* p, Vec4 v) { std::memcpy(p, &v, sizeof v); }

// The FIR kernel computes its outputs in tiles of this many: 4 registers of independent
// accumulators, enough to hide the adder's latency. Every output goes through the same tile code
// whatever the block boundaries, which keeps streaming bit-exact.
constexpr size_t kTile = 4 * kLanes;

// Outputs y[j] = sum_t taps[t] * x[j + t] for j < n rounded up to kTile (the extra outputs read
// up to kTile - 1 samples past the block, which the buffers provide, and land in scratch space).
void fir(const std::vector<float>& taps, const float* x, float* y, size_t n) {
  for (size_t j0 = 0; j0 < n; j0 += kTile) {
    Vec4 acc0{}, acc1{}, acc2{}, acc3{};
    const float* xt = x + j0;
    for (const float tap : taps) {
      const Vec4 h = Vec4{} + tap;
      acc0 += h * load(xt);
      acc1 += h * load(xt + kLanes);
      acc2 += h * load(xt + 2 * kLanes);
      acc3 += h * load(xt + 3 * kLanes);
      ++xt;
    }
    store(y + j0, acc0);
    store(y + j0 + kLanes, acc1);
    store(y + j0 + 2 * kLanes, acc2);
    store(y + j0 + 3 * kLanes, acc3);
  }
}

// tanh, 4 at a time and within 3 ulp of the exact value (glibc's tanhf is a scalar call, and took
// a third of the exciter's time). Below |x| = 0.3 the odd Taylor series to x^11 (the next term is
// 6e-10 relative); above, (1 - e) / (1 + e) with e = exp(-2|x|) = 2^n 2^f, n = round(-2|x| log2 e)
// put in the exponent bits and 2^f, |f| <= 1/2, by its Taylor series to degree 7 (error 2e-9).
// |x| is capped at 9, where tanh rounds to 1 in float.
Vec4 tanh4(Vec4 x) {
  const Int4 sign = reinterpret_cast<Int4>(x) & static_cast<int32_t>(0x80000000u);
  Vec4 ax = reinterpret_cast<Vec4>(reinterpret_cast<Int4>(x) ^ sign);
  ax = ax < 9.0f ? ax : Vec4{} + 9.0f;
  const Vec4 x2 = ax * ax;
  const Vec4 series =
      ax * (1 + x2 * (-1.0f / 3 +
                      x2 * (2.0f / 15 +
                            x2 * (-17.0f / 315 + x2 * (62.0f / 2835 + x2 * (-1382.0f / 155925))))));
  const Vec4 z = -2.88539008177792681f * ax;  // -2 |x| log2(e)
  const float kRound = 12582912.0f;           // 1.5 * 2^23: adding it rounds to an integer
  const Vec4 n = (z + kRound) - kRound;
  const Vec4 f = (z - n) * 0.693147180559945309f;  // ln 2
  const Vec4 exp_f =
      1 +
      f * (1 + f * (1.0f / 2 +
                    f * (1.0f / 6 + f * (1.0f / 24 + f * (1.0f / 120 +
                                                          f * (1.0f / 720 + f * (1.0f / 5040)))))));
  const Int4 exponent = (__builtin_convertvector(n, Int4) + 127) << 23;
  const Vec4 e = exp_f * reinterpret_cast<Vec4>(exponent);
  const Vec4 t = ax < 0.3f ? series : (1 - e) / (1 + e);
  return reinterpret_cast<Vec4>(reinterpret_cast<Int4>(t) | sign);
}

// Largest magnitude of the response of h (rounded to float, as it will run) from `from` (a
// fraction of the filter's rate) up to half its rate, read off a zero-padded FFT: 8192 points put
// dozens on every sidelobe of the filters used here, so the true peak is not missed.
double stopband_peak(const std::vector<double>& h, double from) {
  constexpr int kGrid = 8192;
  RealFft fft(kGrid);
  std::vector<float> x(kGrid, 0.0f);
  std::copy(h.begin(), h.end(), x.begin());
  std::vector<std::complex<float>> spectrum(kGrid / 2 + 1);
  fft.forward(x.data(), spectrum.data());
  double peak = 0;
  for (size_t k = static_cast<size_t>(std::ceil(from * kGrid)); k < spectrum.size(); ++k) {
    peak = std::max(peak, static_cast<double>(std::abs(spectrum[k])));
  }
  return peak;
}

// Half-band low-pass, cut off at a quarter of its (high) rate, with a transition band `transition`
// wide (a fraction of that rate) and at least Exciter::kStopbandDb of attenuation beyond it; being
// a half-band, it is then also flat to within that much below it. Length 4m + 3: the taps at even
// distances from the centre are zero, so one polyphase branch is a pure delay and the other
// carries all the work. A Kaiser-windowed sinc, starting from Kaiser's length estimate, which
// is short by a tap pair or two for the short filters, so lengthened until it meets the spec.
std::vector<double> design_halfband(double transition) {
  const double atten_db = Exciter::kStopbandDb;
  const double beta = 0.1102 * (atten_db - 8.7);  // Kaiser's beta for > 50 dB
  const double estimate = (atten_db - 7.95) / (14.36 * transition) + 1;
  for (int m = std::max(0, static_cast<int>(std::ceil((estimate - 3) / 4)));; ++m) {
    const int taps = 4 * m + 3, centre = 2 * m + 1;
    std::vector<double> h(static_cast<size_t>(taps), 0.0);
    double side_sum = 0;
    for (int k = 0; k < taps; ++k) {
      const int offset = k - centre;
      if (offset % 2 == 0) continue;
      const double window = kaiser_window_at(1.0 * offset / centre, beta);
      h[static_cast<size_t>(k)] = std::sin(M_PI * offset / 2) / (M_PI * offset) * window;
      side_sum += h[static_cast<size_t>(k)];
    }
    // Scale the side taps to sum to exactly 1/2, like the centre tap: then both polyphase
    // branches have unit gain at DC (after the interpolator's factor 2) and a constant comes out
    // constant instead of with a ripple at the input rate.
    for (double& v : h) v *= 0.5 / side_sum;
    h[static_cast<size_t>(centre)] = 0.5;
    if (stopband_peak(h, 0.25 + transition / 2) <= db_to_amplitude(-atten_db)) return h;
  }
}

// One polyphase branch: out[j] = sum over its taps of tap * in[j - lag - (taps - 1) + t].
struct Branch {
  size_t lag = 0;
  std::vector<float> taps;                                // oldest sample first
  size_t reach() const { return lag + taps.size() - 1; }  // history it needs
};

// The branch of h[phase], h[phase + 2], ... times `gain`, trimmed of zero taps at both ends (so
// the centre-tap branch of a half-band is one tap), reading `extra_lag` samples further back.
Branch polyphase_branch(const std::vector<double>& h, size_t phase, size_t extra_lag, double gain) {
  std::vector<double> p;
  for (size_t k = phase; k < h.size(); k += 2) p.push_back(h[k]);
  size_t first = 0, last = p.size();
  while (first < last && p[first] == 0) ++first;
  while (last > first && p[last - 1] == 0) --last;
  Branch b;
  b.lag = first + extra_lag;
  for (size_t i = last; i-- > first;) b.taps.push_back(static_cast<float>(gain * p[i]));
  return b;
}

// A factor-2 step of the oversampling cascade, interpolator and decimator from one half-band.
struct HalfbandStage {
  Branch up[2];    // interpolator: high-rate output 2j + q comes from up[q] at low-rate input j
  Branch down[2];  // decimator: output j = down[0] over the even inputs + down[1] over the odd ones
};

// A signal at one rate: the last `history` samples of earlier blocks, then the current block,
// then kTile samples of slack for the tiled kernel to overrun into.
struct Stream {
  std::vector<float> buf;
  size_t history = 0;
  void init(size_t history_samples, size_t block_samples) {
    history = history_samples;
    buf.assign(history + block_samples + kTile, 0.0f);
  }
  float* block() { return buf.data() + history; }
  // Input pointer for a branch: the oldest sample its first output reads.
  const float* window(const Branch& b) { return block() - b.reach(); }
  // Keeps the last `history` samples after a block of n.
  void advance(size_t n) {
    std::copy(buf.begin() + static_cast<std::ptrdiff_t>(n),
              buf.begin() + static_cast<std::ptrdiff_t>(n + history), buf.begin());
  }
};

}  // namespace

const params::Fields<ExciterSettings>& ExciterSettings::fields() {
  using S = ExciterSettings;
  static const params::Fields<S> f = {
      {"freq_hz", &S::freq_hz, "Hz", 500, 16000, "lower edge of the excited band"},
      {"drive_db", &S::drive_db, "dB", 0, 36, "gain into the saturator"},
      {"mix", &S::mix, "", 0, 1, "amount of generated harmonics added (0..1)"},
      {"oversample", &S::oversample, "", 2, 8, "oversampling factor of the saturator: 2, 4 or 8"},
      {"asymmetry", &S::asymmetry, "", 0, 0.9, "bend of the positive half over the negative one"},
  };
  return f;
}

void ExciterSettings::validate() const {
  params::check(*this, fields(), "exciter ");
  if (oversample != 2 && oversample != 4 && oversample != 8) {
    throw UsageError(
        describe("bad exciter oversample", std::to_string(oversample), "use 2, 4 or 8"));
  }
}

struct Exciter::State {
  float mix = 0, drive = 1, inv_drive = 1, asymmetry = 0;
  std::vector<HalfbandStage> stages;  // stage s runs between 2^s and 2^(s+1) times the rate
  BiquadChain pre_highpass, post_highpass;
  struct Channel {
    std::vector<Stream> up_in;  // per stage: interpolator input (low rate)
    std::vector<Stream> even;   // per stage: decimator input, even and odd high-rate samples
    std::vector<Stream> odd;
  };
  std::vector<Channel> channel;
  std::vector<float> delay;  // ring of latency_frames interleaved dry frames
  size_t delay_pos = 0;
  // Scratch, sized once: interleaved band and generated signal, two branch outputs, top rate.
  std::vector<float> band, wet, branch0, branch1, top;
  double input_energy = 0, added_energy = 0;

  explicit State(int channels) : pre_highpass(channels), post_highpass(channels) {}
  void generate(Channel& ch, const float* band_in, size_t stride, float* wet_out, size_t n);
};

Exciter::Exciter(int channels, double sample_rate_hz, const ExciterSettings& s)
    : channels_(channels), latency_frames_(0), state_(std::make_unique<State>(channels)) {
  s.validate();
  if (channels < 1) {
    throw UsageError(describe("bad exciter channels", std::to_string(channels), "use 1 or more"));
  }
  if (!(sample_rate_hz >= 8000 && sample_rate_hz <= 768000)) {
    throw UsageError(
        describe("bad exciter sample rate", fixed(sample_rate_hz), "use 8000..768000 Hz"));
  }
  if (!(s.freq_hz < kPassEdge * sample_rate_hz)) {
    throw UsageError(describe("bad exciter freq_hz", fixed(s.freq_hz),
                              "use up to " + fixed(kPassEdge * sample_rate_hz) + " Hz at " +
                                  fixed(sample_rate_hz, 0) + " Hz"));
  }
  State& st = *state_;
  st.mix = static_cast<float>(s.mix);
  st.drive = static_cast<float>(db_to_amplitude(s.drive_db));
  st.inv_drive = 1.0f / st.drive;
  st.asymmetry = static_cast<float>(s.asymmetry);

  // 4th-order Butterworth = two RBJ high-passes with the Butterworth pole Qs 1/(2 cos(k pi/8)),
  // k = 1, 3; both bilinear with the same pre-warp, so the cascade is the bilinear Butterworth.
  for (int k : {1, 3}) {
    const BiquadCoeffs c =
        BiquadCoeffs::highpass(sample_rate_hz, s.freq_hz, 0.5 / std::cos(k * M_PI / 8));
    st.pre_highpass.add(c);
    st.post_highpass.add(c);
  }

  // Stage s interpolates from 2^s to 2^(s+1) times the rate. It must keep [0, kPassEdge] (in
  // units of the base rate) and remove the first image of that band, which starts at
  // 2^s - kPassEdge; the half-band's transition is centred between them (at 2^(s-1)), and the
  // same filter as decimator removes what would fold into [0, kPassEdge]. Stage 0 needs a sharp
  // filter; the later ones have room and are short.
  const int stage_count = s.oversample == 2 ? 1 : s.oversample == 4 ? 2 : 3;
  std::vector<std::vector<double>> prototypes;
  size_t delay_top = 0;  // group delay of the whole resampling chain, in top-rate samples
  for (int k = 0; k < stage_count; ++k) {
    const double width = ((1 << k) - 2 * kPassEdge) / (2 << k);
    prototypes.push_back(design_halfband(width));
    const size_t group_delay = (prototypes.back().size() - 1) / 2;  // in 2^(k+1)-rate samples
    delay_top += (2 * group_delay) << (stage_count - 1 - k);        // up and down
  }
  // The decimated output is whole base-rate frames behind the input only if the top-rate delay
  // is a multiple of the factor; a few zero taps in front of the top decimator make it so.
  const size_t factor = static_cast<size_t>(s.oversample);
  const size_t pad = (factor - delay_top % factor) % factor;
  latency_frames_ = (delay_top + pad) / factor;

  for (int k = 0; k < stage_count; ++k) {
    std::vector<double> down = prototypes[static_cast<size_t>(k)];
    if (k == stage_count - 1) down.insert(down.begin(), pad, 0.0);
    HalfbandStage stage;
    // Interpolation by 2 = zero stuffing and low-pass: the branch gains are doubled.
    stage.up[0] = polyphase_branch(prototypes[static_cast<size_t>(k)], 0, 0, 2.0);
    stage.up[1] = polyphase_branch(prototypes[static_cast<size_t>(k)], 1, 0, 2.0);
    // z[j] = sum_i h[2i] w[2(j-i)] + sum_i h[2i+1] w[2(j-i-1)+1]: the odd inputs lag by one.
    stage.down[0] = polyphase_branch(down, 0, 0, 1.0);
    stage.down[1] = polyphase_branch(down, 1, 1, 1.0);
    st.stages.push_back(std::move(stage));
  }

  st.channel.resize(static_cast<size_t>(channels));
  for (State::Channel& ch : st.channel) {
    ch.up_in.resize(st.stages.size());
    ch.even.resize(st.stages.size());
    ch.odd.resize(st.stages.size());
    for (size_t k = 0; k < st.stages.size(); ++k) {
      const HalfbandStage& stage = st.stages[k];
      const size_t block = kBlockFrames << k;
      ch.up_in[k].init(std::max(stage.up[0].reach(), stage.up[1].reach()), block);
      ch.even[k].init(stage.down[0].reach(), block);
      ch.odd[k].init(stage.down[1].reach(), block);
    }
  }
  const size_t interleaved = kBlockFrames * static_cast<size_t>(channels);
  st.delay.assign(latency_frames_ * static_cast<size_t>(channels), 0.0f);
  st.band.assign(interleaved, 0.0f);
  st.wet.assign(interleaved, 0.0f);
  st.branch0.assign((kBlockFrames << (stage_count - 1)) + kTile, 0.0f);
  st.branch1.assign(st.branch0.size(), 0.0f);
  st.top.assign(kBlockFrames * factor + kLanes, 0.0f);
}

Exciter::~Exciter() = default;
Exciter::Exciter(Exciter&&) noexcept = default;
Exciter& Exciter::operator=(Exciter&&) noexcept = default;

// Runs n frames of one channel of the high-passed band (every `stride`-th float of band_in)
// through the oversampled saturator and writes the generated signal likewise to wet_out.
void Exciter::State::generate(Channel& ch, const float* band_in, size_t stride, float* wet_out,
                              size_t n) {
  const size_t stage_count = stages.size();
  float* in0 = ch.up_in[0].block();
  for (size_t j = 0; j < n; ++j) in0[j] = band_in[j * stride];

  // Up: each stage doubles the rate; its output is the next stage's input (or the top block).
  for (size_t k = 0; k < stage_count; ++k) {
    const HalfbandStage& stage = stages[k];
    const size_t count = n << k;
    Stream& in = ch.up_in[k];
    fir(stage.up[0].taps, in.window(stage.up[0]), branch0.data(), count);
    fir(stage.up[1].taps, in.window(stage.up[1]), branch1.data(), count);
    float* out = k + 1 < stage_count ? ch.up_in[k + 1].block() : top.data();
    for (size_t j = 0; j < count; ++j) {
      out[2 * j] = branch0[j];
      out[2 * j + 1] = branch1[j];
    }
    in.advance(count);
  }

  // Saturate at the top rate and keep only what the curve adds: f(x) - x. Rounded up to whole
  // vectors (the top buffer has the room; the extra values are not used).
  const size_t top_count = n << stage_count;
  const Vec4 drive4 = Vec4{} + drive, inv_drive4 = Vec4{} + inv_drive;
  const Vec4 asymmetry4 = Vec4{} + asymmetry;
  for (size_t t = 0; t < top_count; t += kLanes) {
    const Vec4 x = load(&top[t]);
    const Vec4 tanh_dx = tanh4(drive4 * x);
    store(&top[t], tanh_dx * inv_drive4 / (1 + asymmetry4 * tanh_dx) - x);
  }
  float* even_top = ch.even[stage_count - 1].block();
  float* odd_top = ch.odd[stage_count - 1].block();
  for (size_t t = 0; t < top_count / 2; ++t) {
    even_top[t] = top[2 * t];
    odd_top[t] = top[2 * t + 1];
  }

  // Down: each stage low-passes at the lower rate's band edge and halves the rate.
  for (size_t k = stage_count; k-- > 0;) {
    const HalfbandStage& stage = stages[k];
    const size_t count = n << k;
    fir(stage.down[0].taps, ch.even[k].window(stage.down[0]), branch0.data(), count);
    fir(stage.down[1].taps, ch.odd[k].window(stage.down[1]), branch1.data(), count);
    if (k > 0) {  // count is even: split into the next stage's even and odd inputs
      float* even = ch.even[k - 1].block();
      float* odd = ch.odd[k - 1].block();
      for (size_t j = 0; j < count / 2; ++j) {
        even[j] = branch0[2 * j] + branch1[2 * j];
        odd[j] = branch0[2 * j + 1] + branch1[2 * j + 1];
      }
    } else {
      for (size_t j = 0; j < count; ++j) wet_out[j * stride] = branch0[j] + branch1[j];
    }
    ch.even[k].advance(count);
    ch.odd[k].advance(count);
  }
}

void Exciter::process(const float* in, float* out, size_t frames) {
  State& st = *state_;
  const size_t ch_count = static_cast<size_t>(channels_);
  const size_t ring = st.delay.size();
  for (size_t done = 0; done < frames; done += kBlockFrames) {
    const size_t n = std::min(kBlockFrames, frames - done);
    const size_t samples = n * ch_count;
    const float* x = in + done * ch_count;
    float* y = out + done * ch_count;
    if (st.mix > 0) {  // mix 0 skips the side chain: the output is then exactly the delayed input
      std::copy(x, x + samples, st.band.begin());
      st.pre_highpass.process(st.band.data(), n);
      for (size_t c = 0; c < ch_count; ++c) {
        st.generate(st.channel[c], st.band.data() + c, ch_count, st.wet.data() + c, n);
      }
      st.post_highpass.process(st.wet.data(), n);
    }
    // The dry signal through the delay line; x[i] is read before y[i] is written (in == out).
    for (size_t i = 0; i < samples; ++i) {
      const float dry = x[i];
      const float delayed = st.delay[st.delay_pos];
      st.delay[st.delay_pos] = dry;
      st.delay_pos = st.delay_pos + 1 == ring ? 0 : st.delay_pos + 1;
      st.input_energy += static_cast<double>(dry) * dry;
      if (st.mix > 0) {
        const float added = st.mix * st.wet[i];
        st.added_energy += static_cast<double>(added) * added;
        y[i] = delayed + added;
      } else {
        y[i] = delayed;
      }
    }
  }
}

double Exciter::added_energy_db() const {
  const State& st = *state_;
  if (st.added_energy == 0) return -INFINITY;
  return power_to_db(st.added_energy / st.input_energy);
}

nlohmann::json Exciter::statistics() const {
  return {{"added_energy_db", json_level(added_energy_db())}};
}

}  // namespace rz::dsp
