// End-to-end runs of rz-phone-sim (sim/phone_sim.cpp): SNR, alignment of reverb and codec,
// determinism, identity, band corners, clipping, AGC, refusals.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_util.hpp"
#include "rz/error.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using rz::cli_test::shared;
using rz::cli_test::run;
using rz::cli_test::RunResult;

namespace {

constexpr int kRate = 44100;
// out = reference + g n is rounded to float32 once per sample: the error's power is ~1e-15 of the
// signal's, so the measured SNR is the requested one to ~1e-9 dB; 0.01 dB still catches any
// scaling over the wrong span (the lead, one channel: >= 0.5 dB off).
constexpr double kSnrTolDb = 0.01;
// Resampled length: ratio * input frames, give or take the rounding of the last frame.
constexpr long kResampleLengthFrames = 2;
// A pure delayed impulse as the IR: after alignment the output is the input times one gain
// computed in double and rounded to float: within a few float32 ulps of the reference.
constexpr double kImpulseIrTol = 1e-6;
// Reverberant output minus the early reference against the late echo alone: two float32 FFT
// convolutions of ~0.3-peak signals, each off by up to ~1e-6 per sample.
constexpr double kEarlySplitTol = 1e-5;
// Real 4-channel room (ir/medium-room1.wav) on a trumpet: aligned, SI-SDR is -6.2 dB (the room's
// early response is dense from its first millisecond); the same output left at the IR's pre-delay
// (1100 frames, what a plain convolution gives) is -17.9 dB. The test asks for 10 dB between them.
constexpr double kReverbAlignmentGainDb = 10.0;
// MP3 at 48 kbps (LAME's gapless header missing: 1105 frames of delay) and 128 kbps, Opus at
// 64 kbps, on the trumpet: aligned SI-SDR 17.9, 29.4 and 19.1 dB; misaligned by the codec delay
// it is below 0 dB. 10 dB is the line.
constexpr double kCodecMinSiSdrDb = 10.0;
// Zero-phase band corners: the square of a Butterworth's -3.01 dB; measured by projecting a
// steady sine over the middle 8 s (whole cycles to within one: ~1e-4 relative, 0.001 dB).
constexpr double kCornerTolDb = 0.02;
// AGC: a steady -40 dBFS RMS sine is raised to the -20 dBFS target; after 10 release time
// constants the gain is within 20 e^-10 dB of it, so the last second is at -20 dB to 0.01 dB plus
// the detector's ripple on a 1 kHz sine (far below 0.1 dB).
constexpr double kAgcTolDb = 0.1;

// Runs rz-phone-sim, which must succeed.
RunResult sim_ok(const std::vector<std::string>& args) {
  RunResult r = run("rz-phone-sim", args);
  INFO("rz-phone-sim failed\n" << r.describe());
  REQUIRE(r.exit_code == 0);
  return r;
}

json sim_json(std::vector<std::string> args) {
  args.push_back("--json");
  const RunResult r = sim_ok(args);
  INFO(r.describe());
  REQUIRE(r.out_lines().size() == 1);
  json j;
  REQUIRE_NOTHROW(j = json::parse(r.out));
  REQUIRE(j.is_object());
  return j;
}

// Sum of squares of x[begin, end) (end clamped to the size).
double energy(const std::vector<float>& x, size_t begin, size_t end) {
  double e = 0;
  const float* p = x.data();
  for (size_t i = begin; i < end && i < x.size(); ++i) e += double(p[i]) * p[i];
  return e;
}
double energy(const std::vector<float>& x) { return energy(x, 0, x.size()); }

// SI-SDR of `est` against `ref` over the samples both have, `est` read `shift` samples later.
double si_sdr_db(const std::vector<float>& ref, const std::vector<float>& est, long shift = 0) {
  double xy = 0, xx = 0, yy = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const long j = static_cast<long>(i) + shift;
    const double y = j >= 0 && j < static_cast<long>(est.size()) ? est[static_cast<size_t>(j)] : 0;
    xy += ref[i] * y;
    xx += double(ref[i]) * ref[i];
    yy += y * y;
  }
  const double a = xy / xx;
  const double target = a * a * xx;
  return 10 * std::log10(target / (yy - 2 * a * xy + target));
}

// Amplitude of the `freq_hz` component of channel 0 of stereo `x` over frames [begin, end).
double tone_amplitude(const std::vector<float>& x, size_t begin, size_t end, double freq_hz) {
  double s = 0, c = 0;
  for (size_t i = begin; i < end; ++i) {
    const double w = 2 * M_PI * freq_hz * static_cast<double>(i) / kRate;
    s += x[2 * i] * std::sin(w);
    c += x[2 * i] * std::cos(w);
  }
  return 2.0 * std::hypot(s, c) / static_cast<double>(end - begin);
}

bool identical(const std::vector<float>& x, const std::vector<float>& y) {
  return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
}

// A stereo 44.1 kHz "music" test signal: two tones and some noise, peak about 0.5.
std::vector<float> test_music(double seconds) {
  const auto frames = static_cast<int64_t>(seconds * kRate);
  auto x = rz::test::white_noise(0.03, frames, 2, 4);
  const auto a = rz::test::sine(330, 0.25, kRate, frames, 2);
  const auto b = rz::test::sine(2500, 0.1, kRate, frames, 2, 0.4);
  for (size_t i = 0; i < x.size(); ++i) x[i] += a[i] + b[i];
  return x;
}

}  // namespace

TEST_CASE("rz-phone-sim: crowd noise at --snr 5 measures 5 dB after a lead and a looped crowd",
          "[cli][phone-sim]") {
  const std::string crowd = shared("audio/noise/concert-crowd.ogg");  // 15.6 s, 32 kHz
  rz::test::TempDir tmp;
  // 20 s of mono at 48 kHz: resampled and duplicated; longer than the crowd, so it loops.
  const auto clean = rz::test::sine(440, 0.3, 48000, 20 * 48000, 1);
  rz::test::write_wav(tmp / "clean.wav", clean, 48000, 1);
  const json j =
      sim_json({(tmp / "clean.wav").string(), "-o", (tmp / "out.wav").string(), "--noise", crowd,
                "--snr", "5", "--noise-lead", "1.5", "--reference", (tmp / "ref.wav").string()});
  int rate = 0, channels = 0;
  const auto out = rz::test::read_all(tmp / "out.wav", &rate, &channels);
  const auto ref = rz::test::read_all(tmp / "ref.wav");
  CHECK(rate == kRate);
  CHECK(channels == 2);
  REQUIRE(out.size() == ref.size());
  const size_t lead = static_cast<size_t>(1.5 * kRate) * 2;
  // 48 -> 44.1 kHz gives ratio * frames give or take the rounding of the last frame.
  CHECK(std::labs(static_cast<long>(out.size() - lead) / 2 - 20 * kRate) <= kResampleLengthFrames);
  CHECK(j.at("lead_frames") == lead / 2);
  CHECK(energy(ref, 0, lead) == 0);  // silence under the lead ...
  CHECK(energy(out, 0, lead) > 0);   // ... where the crowd is alone
  std::vector<float> noise(out.size());
  for (size_t i = 0; i < out.size(); ++i) noise[i] = out[i] - ref[i];
  const double snr =
      10 * std::log10(energy(ref, lead, ref.size()) / energy(noise, lead, noise.size()));
  INFO("measured SNR " << snr << " dB");
  CHECK(std::fabs(snr - 5.0) <= kSnrTolDb);
  CHECK(std::fabs(j.at("snr_db").get<double>() - 5.0) <= kSnrTolDb);
  const json& e = j.at("effects").at(0);
  CHECK(e.at("effect") == "noise");
  CHECK(e.at("noise_source_rate_hz") == 32000);
  CHECK(e.at("loop_frames").get<int64_t>() < static_cast<int64_t>(out.size() / 2));  // looped
}

TEST_CASE("rz-phone-sim: --seed decides the output and without effects out == reference",
          "[cli][phone-sim]") {
  const std::string crowd = shared("audio/noise/concert-crowd.ogg");
  rz::test::TempDir tmp;
  const auto music = test_music(3);
  rz::test::write_wav(tmp / "clean.wav", music, kRate, 2);
  const std::string in = (tmp / "clean.wav").string();
  for (const char* name : {"a.wav", "b.wav"}) {
    sim_ok({in, "-o", (tmp / name).string(), "--noise", crowd, "--seed", "7", "--band", "120:16000",
            "--agc", "--clip", "-1"});
  }
  sim_ok({in, "-o", (tmp / "c.wav").string(), "--noise", crowd, "--seed", "8", "--band",
          "120:16000", "--agc", "--clip", "-1"});
  CHECK(rz::cli_test::read_text(tmp / "a.wav") == rz::cli_test::read_text(tmp / "b.wav"));
  CHECK(rz::cli_test::read_text(tmp / "a.wav") != rz::cli_test::read_text(tmp / "c.wav"));

  const RunResult r =
      sim_ok({in, "-o", (tmp / "same.wav").string(), "--reference", (tmp / "ref.wav").string()});
  CHECK(r.out == (tmp / "same.wav").string() + "\n");
  const auto out = rz::test::read_all(tmp / "same.wav");
  CHECK(identical(out, rz::test::read_all(tmp / "ref.wav")));
  CHECK(identical(out, music));  // 44.1 kHz stereo float in: nothing changes
}

TEST_CASE("rz-phone-sim: an impulse IR gives back the input (2 and 4 channels and inverted)",
          "[cli][phone-sim]") {
  rz::test::TempDir tmp;
  const auto music = test_music(2);
  rz::test::write_wav(tmp / "clean.wav", music, kRate, 2);
  const std::string in = (tmp / "clean.wav").string();
  for (int channels : {2, 4}) {
    std::vector<float> ir(static_cast<size_t>(2000 * channels), 0.0f);
    // 2 channels: L and R delayed by 300 and 700 frames; 4: L->L and R->R by 500, no crosstalk.
    if (channels == 2) {
      ir[300 * 2] = -0.5f;
      ir[700 * 2 + 1] = -0.5f;
    } else {
      ir[500 * 4] = -0.25f;
      ir[500 * 4 + 3] = -0.25f;
    }
    rz::test::write_wav(tmp / "ir.wav", ir, kRate, channels);
    const json j = sim_json({in, "-o", (tmp / "out.wav").string(), "-f", "--ir",
                             (tmp / "ir.wav").string(), "--reference", (tmp / "ref.wav").string()});
    const auto out = rz::test::read_all(tmp / "out.wav");
    const auto ref = rz::test::read_all(tmp / "ref.wav");
    REQUIRE(out.size() == ref.size());
    double worst = 0;
    for (size_t i = 0; i < out.size(); ++i)
      worst = std::max(worst, double(std::fabs(out[i] - ref[i])));
    INFO(channels << " channels: " << j.dump());
    CHECK(worst <= kImpulseIrTol);
    CHECK(j.at("effects").at(0).at("polarity") == json::array({-1.0, -1.0}));
  }
}

TEST_CASE("rz-phone-sim: the measured true-stereo room is aligned with the reference",
          "[cli][phone-sim]") {
  const std::string room = shared("audio/ir/medium-room1.wav");
  const std::string trumpet = shared("audio/music/sorohanro_-_solo-trumpet-06.hq.ogg");
  rz::test::TempDir tmp;
  const json j = sim_json({trumpet, "-o", (tmp / "out.wav").string(), "--ir", room, "--reference",
                           (tmp / "ref.wav").string()});
  const json& e = j.at("effects").at(0);
  CHECK(e.at("ir_channels") == 4);
  const auto out = rz::test::read_all(tmp / "out.wav");
  const auto ref = rz::test::read_all(tmp / "ref.wav");
  REQUIRE(out.size() == ref.size());
  // The level is the clean input's.
  CHECK(energy(out) == Approx(energy(ref)).epsilon(1e-4));
  const long predelay = e.at("predelay_frames").at(0).get<long>();
  const double aligned = si_sdr_db(ref, out);
  const double naive = si_sdr_db(ref, out, -2 * predelay);  // stereo: 2 samples per frame
  INFO(j.dump() << "\naligned SI-SDR " << aligned << " dB, at the pre-delay " << naive << " dB");
  CHECK(predelay > 1000);
  CHECK(aligned > naive + kReverbAlignmentGainDb);
}

TEST_CASE("rz-phone-sim: --band-lowpass-order sets the low-pass skirt", "[cli][phone-sim]") {
  rz::test::TempDir tmp;
  const size_t frames = static_cast<size_t>(5 * kRate);
  const size_t begin = frames / 10, end = frames - frames / 10;
  // Zero phase: the magnitude of an order-N/2 Butterworth squared, bilinear: at f the gain is
  // -20 log10(1 + r^N), r = tan(pi f / fs) / tan(pi fc / fs) = 1.3474 for 10 kHz against 8 kHz:
  // -21.48 dB for N = 8 and -41.49 dB for N = 16.
  for (int order : {8, 16}) {
    rz::test::write_wav(tmp / "tone.wav", rz::test::sine(10000.0, 0.5, kRate, frames, 2), kRate, 2);
    sim_ok({(tmp / "tone.wav").string(), "-o", (tmp / "out.wav").string(), "-f", "--band",
            "0:8000", "--band-lowpass-order", std::to_string(order)});
    const auto out = rz::test::read_all(tmp / "out.wav");
    const double gain_db = 20 * std::log10(tone_amplitude(out, begin, end, 10000.0) / 0.5);
    const double r = std::tan(M_PI * 10000.0 / kRate) / std::tan(M_PI * 8000.0 / kRate);
    const double want = -20 * std::log10(1 + std::pow(r, order));
    INFO("order " << order << ": " << gain_db << " dB, want " << want);
    CHECK(gain_db == Approx(want).margin(kCornerTolDb));
  }
}

TEST_CASE("rz-phone-sim: --clip-ratio clips that share of the samples without any gain",
          "[cli][phone-sim]") {
  rz::test::TempDir tmp;
  const auto music = test_music(3);
  rz::test::write_wav(tmp / "clean.wav", music, kRate, 2);
  for (double ratio : {0.02, 0.05}) {
    INFO("ratio " << ratio);
    const json j = sim_json({(tmp / "clean.wav").string(), "-o", (tmp / "out.wav").string(), "-f",
                             "--clip-ratio", std::to_string(ratio), "--reference",
                             (tmp / "ref.wav").string()});
    const auto out = rz::test::read_all(tmp / "out.wav");
    const auto ref = rz::test::read_all(tmp / "ref.wav");
    REQUIRE(out.size() == ref.size());
    float level = 0;
    for (float v : out) level = std::max(level, std::fabs(v));
    size_t at_level = 0, changed_below = 0;
    for (size_t i = 0; i < out.size(); ++i) {
      if (std::fabs(out[i]) == level) {
        ++at_level;
        CHECK(std::fabs(ref[i]) >= level);  // only samples at or over the level were clipped
      } else if (out[i] != ref[i]) {
        ++changed_below;
      }
    }
    // The quantile puts exactly floor(ratio * N) samples (and ties) at or above the level.
    CHECK(double(at_level) / double(out.size()) == Approx(ratio).margin(1e-4));
    CHECK(changed_below == 0);
    CHECK(j.at("effects").at(0).at("clipped_fraction").get<double>() == Approx(ratio).margin(1e-4));
  }
}

TEST_CASE("rz-phone-sim: --reference-early is the input through the IR's first milliseconds",
          "[cli][phone-sim]") {
  rz::test::TempDir tmp;
  const auto music = test_music(2);
  rz::test::write_wav(tmp / "clean.wav", music, kRate, 2);
  // IR: a direct path at frame 400 and one echo 30 ms and one 80 ms after it, both channels.
  std::vector<float> ir(static_cast<size_t>(8000 * 2), 0.0f);
  const size_t direct = 400, early = direct + 1323, late = direct + 3528;
  for (int c = 0; c < 2; ++c) {
    ir[direct * 2 + c] = 1.0f;
    ir[early * 2 + c] = 0.5f;
    ir[late * 2 + c] = 0.25f;
  }
  rz::test::write_wav(tmp / "ir.wav", ir, kRate, 2);
  sim_ok({(tmp / "clean.wav").string(), "-o", (tmp / "out.wav").string(), "--ir",
          (tmp / "ir.wav").string(), "--reference", (tmp / "early.wav").string(),
          "--reference-early", "50"});
  const auto out = rz::test::read_all(tmp / "out.wav");
  const auto early_ref = rz::test::read_all(tmp / "early.wav");
  REQUIRE(out.size() == early_ref.size());
  // out = g (x + 0.5 x[-1323] + 0.25 x[-3528]) and early = g (x + 0.5 x[-1323]), g the level
  // gain: their difference is the late echo alone, c x[-3528] with c = 0.25 g, sample for sample.
  const size_t lag = 3528 * 2;  // interleaved stereo
  double num = 0, den = 0;
  for (size_t i = lag; i < out.size(); ++i) {
    num += (double(out[i]) - early_ref[i]) * music[i - lag];
    den += double(music[i - lag]) * music[i - lag];
  }
  const double c = num / den;
  double worst = 0;
  for (size_t i = lag; i < out.size(); ++i)
    worst = std::max(worst, std::fabs(double(out[i]) - early_ref[i] - c * music[i - lag]));
  INFO("late echo gain " << c << ", worst deviation " << worst);
  CHECK(c > 0.05);
  CHECK(worst <= kEarlySplitTol);
}

TEST_CASE("rz-phone-sim: codec delay is measured and removed", "[cli][phone-sim]") {
  const std::string trumpet = shared("audio/music/sorohanro_-_solo-trumpet-06.hq.ogg");
  rz::test::TempDir tmp;
  for (const char* codec : {"mp3:48", "mp3:128", "opus:64"}) {
    const json j = sim_json({trumpet, "-o", (tmp / "out.wav").string(), "-f", "--codec", codec,
                             "--reference", (tmp / "ref.wav").string()});
    const auto out = rz::test::read_all(tmp / "out.wav");
    const auto ref = rz::test::read_all(tmp / "ref.wav");
    REQUIRE(out.size() == ref.size());
    const json& e = j.at("effects").at(0);
    const long delay = e.at("delay_frames").get<long>();
    const double aligned = si_sdr_db(ref, out);
    INFO(codec << ": " << e.dump() << "\nSI-SDR " << aligned << " dB");
    CHECK(aligned >= kCodecMinSiSdrDb);
    if (std::string(codec) == "mp3:48") {
      CHECK(delay == 1105);  // LAME's 576 + the decoder's 529: not trimmed at this bitrate
      CHECK(si_sdr_db(ref, out, 2 * delay) < 0);  // what leaving it in would cost
    }
  }
}

TEST_CASE("rz-phone-sim: band corners and clipping and AGC do what they say", "[cli][phone-sim]") {
  rz::test::TempDir tmp;
  const double seconds = 10;
  const size_t frames = static_cast<size_t>(seconds * kRate);
  const size_t begin = frames / 10, end = frames - frames / 10;
  SECTION("band: -6.02 dB at both corners (zero phase), -3.01 dB causal, flat between") {
    for (double f : {120.0, 1000.0, 16000.0}) {
      rz::test::write_wav(tmp / "tone.wav", rz::test::sine(f, 0.5, kRate, frames, 2), kRate, 2);
      for (bool causal : {false, true}) {
        std::vector<std::string> args = {(tmp / "tone.wav").string(),
                                         "-o",
                                         (tmp / "out.wav").string(),
                                         "-f",
                                         "--band",
                                         "120:16000"};
        if (causal) args.push_back("--band-causal");
        sim_ok(args);
        const auto out = rz::test::read_all(tmp / "out.wav");
        const double gain_db = 20 * std::log10(tone_amplitude(out, begin, end, f) / 0.5);
        const double want = f == 1000.0 ? 0.0 : (causal ? -3.0103 : -6.0206);
        INFO(f << " Hz, " << (causal ? "causal" : "zero phase") << ": " << gain_db << " dB");
        CHECK(std::fabs(gain_db - want) <= kCornerTolDb);
      }
    }
  }
  SECTION("clip: peak driven 6 dB past -3 dBFS, flat at -3 dBFS") {
    rz::test::write_wav(tmp / "tone.wav", rz::test::sine(440, 0.1, kRate, frames, 2), kRate, 2);
    const json j =
        sim_json({(tmp / "tone.wav").string(), "-o", (tmp / "out.wav").string(), "--clip", "-3"});
    const auto out = rz::test::read_all(tmp / "out.wav");
    float peak = 0;
    for (float v : out) peak = std::max(peak, std::fabs(v));
    CHECK(peak == Approx(std::pow(10.0, -3.0 / 20)).epsilon(1e-6));
    // A sine at 2x the threshold spends 2/3 of its time beyond it: acos(1/2) / (pi/2).
    CHECK(j.at("effects").at(0).at("clipped_fraction").get<double>() ==
          Approx(2.0 / 3).margin(0.01));
  }
  SECTION("agc: a steady -40 dBFS RMS tone ends at the -20 dBFS target") {
    const double amplitude = std::sqrt(2.0) * 0.01;  // mean square 1e-4: -40 dBFS
    rz::test::write_wav(tmp / "tone.wav", rz::test::sine(1000, amplitude, kRate, 40 * kRate, 2),
                        kRate, 2);
    // Start settled needs a level to settle on: begin with 1 s at -20 dBFS, then the quiet tone.
    auto x = rz::test::read_all(tmp / "tone.wav");
    for (size_t i = 0; i < static_cast<size_t>(2 * kRate); ++i) x[i] *= 10;
    rz::test::write_wav(tmp / "tone.wav", x, kRate, 2);
    sim_ok({(tmp / "tone.wav").string(), "-o", (tmp / "out.wav").string(), "--agc"});
    const auto out = rz::test::read_all(tmp / "out.wav");
    const size_t last = out.size() - 2 * kRate;
    const double ms = energy(out, last, out.size()) / static_cast<double>(2 * kRate);
    INFO("last second at " << 10 * std::log10(ms) << " dBFS");
    CHECK(std::fabs(10 * std::log10(ms) + 20) <= kAgcTolDb);
  }
}

TEST_CASE("rz-phone-sim: refusals exit 2 (usage) or 1 (input) in one line and leave nothing",
          "[cli][phone-sim]") {
  rz::test::TempDir tmp;
  rz::test::write_wav(tmp / "clean.wav", test_music(1), kRate, 2);
  const std::string in = (tmp / "clean.wav").string();
  const std::string out = (tmp / "out.wav").string();
  const std::vector<std::vector<std::string>> usage = {
      {in},                                     // no -o
      {in, "-o", out, "--snr", "5"},            // --snr without --noise
      {in, "-o", out, "--band", "3000"},        // no colon
      {in, "-o", out, "--band", "5000:300"},    // low above high
      {in, "-o", out, "--codec", "aac"},        // unknown codec
      {in, "-o", out, "--codec", "mp3:1000"},   // bitrate out of range
      {in, "-o", out, "--clip", "3"},           // above full scale
      {in, "-o", (tmp / "out.flac").string()},  // not a WAV
      {in, "-o", out, "--reference", out},      // the same file twice
      {in, "-o", out, "--agc-target", "-10"},   // without --agc
      {in, "-o", out, "--clip", "-3", "--clip-ratio", "0.02"},  // two clip rules
      {in, "-o", out, "--clip-ratio", "0.9"},                   // out of range
      {in, "-o", out, "--reference", (tmp / "ref.wav").string(), "--reference-early", "50"},
      {in, "-o", out, "--band", "0:8000", "--band-lowpass-order", "7"},  // not offered
      {in, "-o", out, "--band-lowpass-order", "16"},                      // without --band
  };
  for (const auto& args : usage) {
    const RunResult r = run("rz-phone-sim", args);
    rz::cli_test::check_refusal(r, "rz-phone-sim", rz::kExitUsage);
  }
  const std::vector<std::vector<std::string>> failures = {
      {in, "-o", out, "--noise", (tmp / "missing.ogg").string()},
      {in, "-o", out, "--start", "5"},  // past the end of a 1 s input
      {in, "-o", out, "--reference", (tmp / "ref.wav").string(), "--ir", in + ".none"},
  };
  for (const auto& args : failures) {
    const RunResult r = run("rz-phone-sim", args);
    rz::cli_test::check_refusal(r, "rz-phone-sim", rz::kExitFailure);
  }
  CHECK(rz::cli_test::list_dir(tmp.path()) == std::vector<std::string>{"clean.wav"});
}
