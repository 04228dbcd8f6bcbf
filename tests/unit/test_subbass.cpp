// Unit tests of rz::dsp::SubBassSynth: restoration of a missing fundamental below a phone's low
// cut, nothing added where the harmonics do not prove one, streaming contract.
#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <complex>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "rz/dsp/biquad.hpp"
#include "rz/dsp/fft.hpp"
#include "rz/dsp/subbass.hpp"
#include "rz/error.hpp"
#include "test_support.hpp"

namespace {

using rz::dsp::SubBassSettings;
using rz::dsp::SubBassSynth;

constexpr int kRate = 44100;
constexpr double kLowCutHz = 100.0;  // the simulated phone's high-pass corner (4th order)

// What the brief asks: the restored fundamental within 3 dB of the original's level. The notes at
// 41.2, 43.7 and 49 Hz keep only harmonics 3 and 4 in [100, 200] Hz, and their fundamental is 7.6
// to 8.5 dB above those: max_added_db (6 dB) holds it about 1.8 dB under (measured); at 55 Hz it is
// restored to within 0.1 dB.
constexpr double kF0LevelTolDb = 3.0;
// Phase coherence: correlation of the restored fundamental (output low-passed at 70 Hz) with the
// original's; 0.9 is what the brief asks (cos 25 degrees).
constexpr double kMinCorrelation = 0.9;
// The restored note must be closer to the unfiltered original than the high-passed input, by at
// least this much SDR (2.5 dB measured). SDR counts every error of the harmonics too: the 4th-order
// high-pass also shifts the phase of harmonics 2 to 4, which the block leaves as they are.
constexpr double kMinSdrGainDb = 1.0;
// "Nothing added": the added energy re the input's, when no fundamental is missing (noise, a note
// whose fundamental is present). An isolated false frame of a 6 s signal would sit near -30 dB.
constexpr double kNothingAddedDb = -60.0;
// Two notes of a chord: the share of the sounding frames refused as a dyad (measured 0.86 and
// 0.89; the other frames add nothing for another reason, such as no f0 under the cut).
constexpr double kMinDyadRatio = 0.5;
// Real bass and mix: the energy below the cut must move towards the original's by at least this
// many dB (of the gap the high-pass opened).
constexpr double kMinRestoredDb = 3.0;
// Speed floor in this test (the target is 100x; the 2 shared cores of CI make timings noisy).
constexpr double kMinRealtime = 20.0;

// printf-style text for INFO messages.
template <typename... Args>
std::string formatted(const char* format, Args... args) {
  char text[512];
  std::snprintf(text, sizeof text, format, args...);
  return text;
}

double db(double ratio) { return 10 * std::log10(ratio); }

std::vector<float> highpassed(std::vector<float> x, int channels, double fc) {
  rz::dsp::BiquadChain chain(channels);
  for (const auto& s : rz::dsp::butterworth_highpass(kRate, fc, 4)) chain.add(s);
  chain.process(x.data(), x.size() / channels);
  return x;
}

std::vector<float> lowpassed(std::vector<float> x, int channels, double fc) {
  rz::dsp::BiquadChain chain(channels);
  for (const auto& s : rz::dsp::butterworth_lowpass(kRate, fc, 4)) chain.add(s);
  chain.process(x.data(), x.size() / channels);
  return x;
}

// Runs the block over x in blocks of `block` frames and returns the output advanced by the latency
// (same length as x; the last latency frames are the response to trailing zeros).
std::vector<float> run(SubBassSynth& s, const std::vector<float>& x, size_t block = 4096) {
  const int ch = s.channels();
  const size_t frames = x.size() / ch, latency = s.latency_frames();
  std::vector<float> in(x), out((frames + latency) * ch, 0.0f);
  in.resize((frames + latency) * ch, 0.0f);
  for (size_t pos = 0; pos < frames + latency; pos += block) {
    const size_t n = std::min(block, frames + latency - pos);
    s.process(in.data() + pos * ch, out.data() + pos * ch, n);
  }
  return std::vector<float>(out.begin() + latency * ch, out.end());
}

struct Note {
  double f0_hz;
  double seconds;
};

// A bass line: notes of 8 harmonics A_k = 0.3 / k (a sawtooth's) in sine phase (one shape phase
// for all harmonics), 10 ms attack, exponential decay (1.5 s time constant); channel 1 carries the
// same at half the level.
std::vector<float> bass_line(const std::vector<Note>& notes, int channels) {
  std::vector<float> x;
  for (const Note& note : notes) {
    const auto n = static_cast<int64_t>(note.seconds * kRate);
    for (int64_t i = 0; i < n; ++i) {
      const double t = static_cast<double>(i) / kRate;
      const double env = std::min(1.0, t / 0.01) * std::exp(-t / 1.5);
      double v = 0;
      for (int k = 1; k <= 8; ++k) v += 0.3 / k * std::sin(2 * M_PI * k * note.f0_hz * t);
      for (int c = 0; c < channels; ++c)
        x.push_back(static_cast<float>(env * v * (c == 0 ? 1.0 : 0.5)));
    }
  }
  return x;
}

double energy(const std::vector<float>& x, size_t begin, size_t end, int channels = 1,
              int channel = 0) {
  double e = 0;
  for (size_t i = begin; i < end; ++i)
    e += static_cast<double>(x[i * channels + channel]) * x[i * channels + channel];
  return e;
}

double sdr_db(const std::vector<float>& ref, const std::vector<float>& est, size_t begin,
              size_t end, int channels) {
  double s = 0, d = 0;
  for (size_t i = begin * channels; i < end * channels; ++i) {
    s += static_cast<double>(ref[i]) * ref[i];
    d += (static_cast<double>(ref[i]) - est[i]) * (static_cast<double>(ref[i]) - est[i]);
  }
  return db(s / d);
}

double correlation(const std::vector<float>& a, const std::vector<float>& b, size_t begin,
                   size_t end, int channels, int channel) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = begin; i < end; ++i) {
    const double x = a[i * channels + channel], y = b[i * channels + channel];
    ab += x * y;
    aa += x * x;
    bb += y * y;
  }
  return ab / std::sqrt(aa * bb);
}

// Log-spectral distance (dB, RMS over frames and bins) below fc_hz between mono mixes of a and b,
// 4096-point Hann frames, hop 2048, bins 1 .. fc.
double lsd_below_db(const std::vector<float>& a, const std::vector<float>& b, int channels,
                    double fc_hz) {
  constexpr int kN = 4096;
  rz::dsp::RealFft fft(kN);
  const auto w = rz::dsp::hann_window(kN);
  std::vector<float> fa(kN), fb(kN);
  std::vector<std::complex<float>> sa(kN / 2 + 1), sb(kN / 2 + 1);
  const size_t frames = a.size() / channels;
  const int top = static_cast<int>(fc_hz * kN / kRate);
  double acc = 0;
  int count = 0;
  for (size_t start = 0; start + kN <= frames; start += kN / 2) {
    for (int n = 0; n < kN; ++n) {
      double va = 0, vb = 0;
      for (int c = 0; c < channels; ++c) {
        va += a[(start + n) * channels + c];
        vb += b[(start + n) * channels + c];
      }
      fa[n] = static_cast<float>(va * w[n]);
      fb[n] = static_cast<float>(vb * w[n]);
    }
    fft.forward(fa.data(), sa.data());
    fft.forward(fb.data(), sb.data());
    for (int k = 1; k <= top; ++k) {
      const double d = db((std::norm(sa[k]) + 1e-12) / (std::norm(sb[k]) + 1e-12));
      acc += d * d;
      ++count;
    }
  }
  return std::sqrt(acc / count);
}

SubBassSettings settings_for(double low_cut_hz) {
  SubBassSettings s;
  s.low_cut_hz = low_cut_hz;
  return s;
}

}  // namespace

TEST_CASE("subbass: settings are validated", "[unit][subbass]") {
  SubBassSettings s;  // low_cut_hz is required
  CHECK_THROWS_AS(s.validate(kRate), rz::UsageError);
  s.low_cut_hz = kLowCutHz;
  CHECK_NOTHROW(s.validate(kRate));
  CHECK(s.to_json().at("low_cut_hz") == kLowCutHz);
  s.low_cut_order = 3;
  CHECK_THROWS_AS(s.validate(kRate), rz::UsageError);
  s.low_cut_order = 4;
  s.search_high_hz = 120;  // less than 1.5 low_cut_hz: too few harmonics to prove a pitch
  CHECK_THROWS_AS(s.validate(kRate), rz::UsageError);
  CHECK_THROWS_AS(SubBassSynth(2, kRate, settings_for(kLowCutHz), 1.5), rz::UsageError);
  CHECK_THROWS_AS(SubBassSynth(0, kRate, settings_for(kLowCutHz)), rz::UsageError);
}

TEST_CASE("subbass: restores the missing fundamental of a high-passed bass line",
          "[unit][subbass]") {
  const std::vector<Note> notes = {{41.2, 1.5}, {55.0, 1.5}, {49.0, 1.0}, {43.7, 1.5}};
  constexpr int kCh = 2;
  const auto original = bass_line(notes, kCh);
  const auto input = highpassed(original, kCh, kLowCutHz);
  SubBassSynth synth(kCh, kRate, settings_for(kLowCutHz));
  const auto output = run(synth, input);
  const size_t frames = original.size() / kCh;
  INFO("added " << synth.added_energy_db() << " dB, active " << synth.active_ratio() << ", mean f0 "
                << synth.mean_f0_hz() << " Hz");
  CHECK(synth.active_ratio() > 0.9);
  CHECK(synth.mean_f0_hz() == Approx(47.0).margin(5.0));
  // Per note, away from its attack (the analysis frame straddles note changes for ~0.1 s):
  // the level of the fundamental, original vs restored, per channel.
  size_t start = 0;
  for (const Note& note : notes) {
    const size_t n = static_cast<size_t>(note.seconds * kRate);
    const auto b = static_cast<int64_t>(start + n / 5),
               e = static_cast<int64_t>(start + n - n / 10);
    for (int c = 0; c < kCh; ++c) {
      const double want = rz::test::tone_amplitude(original, b, e, note.f0_hz, kRate, kCh, c);
      const double had = rz::test::tone_amplitude(input, b, e, note.f0_hz, kRate, kCh, c);
      const double got = rz::test::tone_amplitude(output, b, e, note.f0_hz, kRate, kCh, c);
      INFO("f0 " << note.f0_hz << " Hz channel " << c << ": original " << 20 * std::log10(want)
                 << " dB, high-passed " << 20 * std::log10(had) << " dB, restored "
                 << 20 * std::log10(got) << " dB");
      INFO(formatted("subbass note f0 %.1f ch %d: original %.2f dB high-passed %.2f restored %.2f",
                     note.f0_hz, c, 20 * std::log10(want), 20 * std::log10(had),
                     20 * std::log10(got)));
      CHECK(std::fabs(20 * std::log10(got / want)) < kF0LevelTolDb);
    }
    start += n;
  }
  // Phase coherence: the band below 70 Hz of output and original.
  const auto low_out = lowpassed(output, kCh, 70.0), low_orig = lowpassed(original, kCh, 70.0);
  const size_t skip = kRate / 5;
  for (int c = 0; c < kCh; ++c) {
    const double r = correlation(low_out, low_orig, skip, frames, kCh, c);
    INFO(
        formatted("subbass note: correlation of the restored fundamental, channel %d: %.4f", c, r));
    CHECK(r > kMinCorrelation);
  }
  const double before = sdr_db(original, input, skip, frames, kCh);
  const double after = sdr_db(original, output, skip, frames, kCh);
  INFO(formatted("subbass note: SDR vs the unfiltered original %.2f dB -> %.2f dB", before, after));
  CHECK(after - before > kMinSdrGainDb);
}

TEST_CASE("subbass: nothing added where no fundamental is missing", "[unit][subbass]") {
  SECTION("a note whose fundamental (130 Hz) is above the cut") {
    const auto input = highpassed(bass_line({{130.0, 3.0}}, 2), 2, kLowCutHz);
    SubBassSynth synth(2, kRate, settings_for(kLowCutHz));
    const auto output = run(synth, input, 1000);
    INFO(formatted("subbass 130 Hz note: added %.1f dB, active %.3f", synth.added_energy_db(),
                   synth.active_ratio()));
    CHECK(synth.added_energy_db() < kNothingAddedDb);
    // Nothing added, so the output is the input, exactly latency_frames() later.
    CHECK(std::memcmp(output.data(), input.data(), input.size() * sizeof(float)) == 0);
  }
  SECTION("white noise high-passed at the cut") {
    const auto input = highpassed(rz::test::white_noise(0.1, 6 * kRate, 2, 7), 2, kLowCutHz);
    SubBassSynth synth(2, kRate, settings_for(kLowCutHz));
    run(synth, input);
    INFO(formatted("subbass noise: added %.1f dB, active %.3f", synth.added_energy_db(),
                   synth.active_ratio()));
    CHECK(synth.added_energy_db() < kNothingAddedDb);
  }
}

TEST_CASE("subbass: intensity 0 is a bit-exact pass-through", "[unit][subbass]") {
  const auto input = highpassed(bass_line({{45.0, 1.0}, {52.0, 1.0}}, 2), 2, kLowCutHz);
  SubBassSynth synth(2, kRate, settings_for(kLowCutHz), 0.0);
  const auto output = run(synth, input, 333);
  CHECK(std::memcmp(output.data(), input.data(), input.size() * sizeof(float)) == 0);
  CHECK(synth.added_energy_db() == -std::numeric_limits<double>::infinity());
}

TEST_CASE("subbass: output does not depend on the block size", "[unit][subbass]") {
  const auto input = highpassed(bass_line({{45.0, 0.8}, {52.0, 0.8}}, 2), 2, kLowCutHz);
  SubBassSynth whole(2, kRate, settings_for(kLowCutHz));
  const auto reference = run(whole, input, input.size());
  CHECK(whole.added_energy_db() > -20.0);  // it did synthesize
  for (size_t block : {size_t{1}, size_t{7}, size_t{1024}, size_t{5000}}) {
    SubBassSynth s(2, kRate, settings_for(kLowCutHz));
    const auto out = run(s, input, block);
    INFO("block " << block);
    CHECK(std::memcmp(out.data(), reference.data(), out.size() * sizeof(float)) == 0);
  }
}

TEST_CASE("subbass: restores the low band of a real bass stem and mix high-passed at 100 Hz",
          "[unit][subbass]") {
  for (const char* name : {"bass", "mixture"}) {
    int rate = 0, ch = 0;
    const auto original = rz::test::read_all(
        rz::test::require_shared(std::string("audio/stems/musdb7-80srock/") + name + ".wav"), &rate,
        &ch);
    REQUIRE(rate == kRate);
    const auto input = highpassed(original, ch, kLowCutHz);
    const SubBassSettings settings = settings_for(kLowCutHz);
    SubBassSynth synth(ch, kRate, settings);
    const auto output = run(synth, input);
    const size_t frames = original.size() / ch;
    const auto lo_orig = lowpassed(original, ch, kLowCutHz),
               lo_in = lowpassed(input, ch, kLowCutHz), lo_out = lowpassed(output, ch, kLowCutHz);
    double e_orig = 0, e_in = 0, e_out = 0;
    for (int c = 0; c < ch; ++c) {
      e_orig += energy(lo_orig, 0, frames, ch, c);
      e_in += energy(lo_in, 0, frames, ch, c);
      e_out += energy(lo_out, 0, frames, ch, c);
    }
    const double lsd_in = lsd_below_db(original, input, ch, kLowCutHz);
    const double lsd_out = lsd_below_db(original, output, ch, kLowCutHz);
    const double sdr_in = sdr_db(lo_orig, lo_in, 0, frames, ch);
    const double sdr_out = sdr_db(lo_orig, lo_out, 0, frames, ch);
    INFO(formatted(
        "subbass %s: below 100 Hz re original: high-passed %.2f dB, restored %.2f dB; LSD %.2f -> "
        "%.2f dB;"
        " SDR below 100 Hz %.2f -> %.2f dB; added %.2f dB, active %.2f, mean f0 %.1f Hz",
        name, db(e_in / e_orig), db(e_out / e_orig), lsd_in, lsd_out, sdr_in, sdr_out,
        synth.added_energy_db(), synth.active_ratio(), synth.mean_f0_hz()));
    INFO(name);
    CHECK(db(e_out / e_in) > kMinRestoredDb);
    CHECK(db(e_out / e_orig) < 1.0);  // not beyond the original
    // The added power is limited per frame to max_added_db over the note's harmonics in the band
    // [low_cut, search_high]; over the whole stem it stays below that bound re the input's energy
    // in the same band.
    const auto band =
        lowpassed(highpassed(input, ch, settings.low_cut_hz), ch, settings.search_high_hz);
    double e_band = 0;
    for (int c = 0; c < ch; ++c) e_band += energy(band, 0, frames, ch, c);
    double e_added = 0;
    for (size_t i = 0; i < frames * ch; ++i) {
      const double d = static_cast<double>(output[i]) - input[i];
      e_added += d * d;
    }
    INFO(formatted("subbass %s: added re the input's [100, 200] Hz band %.2f dB (limit %.1f dB)",
                   name, db(e_added / e_band), settings.max_added_db));
    CHECK(db(e_added / e_band) < settings.max_added_db);
  }
}

TEST_CASE("subbass: speed on a stereo 44.1 kHz stem", "[unit][subbass]") {
  int rate = 0, ch = 0;
  const auto stem = rz::test::read_all(
      rz::test::require_shared("audio/stems/musdb7-80srock/bass.wav"), &rate, &ch);
  const auto input = highpassed(stem, ch, kLowCutHz);
  SubBassSynth synth(ch, kRate, settings_for(kLowCutHz));
  std::vector<float> out(input.size());
  constexpr size_t kBlock = 4096;
  constexpr int kRepeats = 3;  // 20 s of audio
  const size_t frames = input.size() / ch;
  const auto t0 = std::chrono::steady_clock::now();
  for (int r = 0; r < kRepeats; ++r) {
    for (size_t pos = 0; pos < frames; pos += kBlock) {
      const size_t n = std::min(kBlock, frames - pos);
      synth.process(input.data() + pos * ch, out.data() + pos * ch, n);
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double realtime = kRepeats * static_cast<double>(frames) / kRate / seconds;
  INFO(formatted("subbass speed: %.0fx real time (stereo 44.1 kHz, active %.2f)", realtime,
                 synth.active_ratio()));
  RZ_CHECK_SPEED(realtime > kMinRealtime);
  CHECK(synth.latency_frames() == SubBassSynth::kFftSize / 2 + SubBassSynth::kHopFrames);
}

TEST_CASE("subbass: a drum stem high-passed at 100 Hz gets nothing", "[unit][subbass]") {
  // A kick's body is a decaying sinusoid near 50 Hz with no harmonic series above the cut to prove
  // it: the block adds nothing (and so cannot restore it; measured: the energy below 100 Hz stays
  // 14.6 dB under the original's).
  int rate = 0, ch = 0;
  const auto original = rz::test::read_all(
      rz::test::require_shared("audio/stems/musdb7-80srock/drums.wav"), &rate, &ch);
  REQUIRE(rate == kRate);
  const auto input = highpassed(original, ch, kLowCutHz);
  SubBassSynth synth(ch, kRate, settings_for(kLowCutHz));
  const auto output = run(synth, input);
  INFO(formatted("added %.1f dB, active %.3f", synth.added_energy_db(), synth.active_ratio()));
  CHECK(synth.added_energy_db() < kNothingAddedDb);
  CHECK(std::memcmp(output.data(), input.data(), input.size() * sizeof(float)) == 0);
}

TEST_CASE("subbass: two notes of a chord are not read as harmonics of a missing note",
          "[unit][subbass]") {
  // Struck bars (a marimba's: the bar's fundamental and its first overtone, tuned near 4 times it
  // (3.9 here), no harmonic series), two at a time, every half second for 4 s, high-passed at
  // 100 Hz: C3 and E3 stand as harmonics 4 and 5 of 32.7 Hz, G2 and C3 as harmonics 3 and 4 of
  // it. Without the next harmonic (196.2 or 163.5 Hz, inside the searched band) neither dyad
  // proves that note.
  struct Dyad {
    const char* name;
    double low_hz, high_hz;
  };
  for (const Dyad& dyad : {Dyad{"C3 and E3", 130.81, 164.81}, Dyad{"G2 and C3", 98.0, 130.81}}) {
    std::vector<float> x;
    constexpr double kStrikeS = 0.5;
    for (int i = 0; i < static_cast<int>(4 * kRate); ++i) {
      const double t = std::fmod(static_cast<double>(i) / kRate, kStrikeS);
      const double env = std::min(1.0, t / 0.005) * std::exp(-t / 0.25);
      double v = 0;
      for (double f : {dyad.low_hz, dyad.high_hz}) {
        const double ts = static_cast<double>(i) / kRate;
        v += 0.3 * std::sin(2 * M_PI * f * ts) + 0.1 * std::sin(2 * M_PI * 3.9 * f * ts);
      }
      x.push_back(static_cast<float>(env * v));
      x.push_back(static_cast<float>(0.5 * env * v));
    }
    const auto input = highpassed(x, 2, kLowCutHz);
    SubBassSynth synth(2, kRate, settings_for(kLowCutHz));
    const auto output = run(synth, input);
    INFO(
        formatted("subbass dyad %s: added %.1f dB, active %.3f, refused as a dyad %.3f, mean f0 "
                  "%.1f Hz",
                  dyad.name, synth.added_energy_db(), synth.active_ratio(), synth.dyad_ratio(),
                  synth.mean_f0_hz()));
    CHECK(synth.added_energy_db() < kNothingAddedDb);
    CHECK(synth.dyad_ratio() > kMinDyadRatio);  // refused for that reason, not another
  }
}
