// End-to-end runs of the rz- tools: pipes, --json, identities, loudness targets, mix, preview.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

#include "cli_util.hpp"
#include "rz/audio/decode.hpp"
#include "rz/error.hpp"
#include "rz/metrics/loudness.hpp"
#include "rz/stems/manifest.hpp"
#include "rz/stems/sha256.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using rz::cli_test::in_dir;
using rz::cli_test::read_json;
using rz::cli_test::run;
using rz::cli_test::run_ok;
using rz::cli_test::RunOptions;
using rz::cli_test::RunResult;

namespace {

constexpr int kRate = 44100;
// rz-master's promise (rz/master/master.hpp, rz-master(1)): integrated loudness within 0.2 LU of
// the target, measured by libebur128 on the samples in the file.
constexpr double kTargetToleranceLu = 0.2;
// (LU and dB) The sidecar's "after" is measured on exactly the samples written (decoded back for
// integer PCM); our decode of the same file through libsndfile gives the same samples, so only
// float summation order can differ.
constexpr double kSidecarAgreementDb = 0.01;
// Gain of --gain NAME=-6: 10^(-6/20).
constexpr double kMinus6DbGain = 0.50118723362727224;
// rz-mix sums in double and rounds once to float32: half an ulp of a value below 2.0 is 1.2e-7.
constexpr double kOneRoundingTol = 1.2e-7;
// SDR of a file against itself: identical samples; rz-metrics reports identity as +300 dB, anything
// above 100 dB is far beyond what any processing (even a 24-bit round trip, ~146 dB) could reach.
constexpr double kIdentitySdrDb = 100.0;

// Runs a tool that must succeed; fails the test with its output otherwise.
// Parses stdout as exactly one JSON object on one line.
json one_json_object(const RunResult& r) {
  INFO(r.describe());
  REQUIRE(r.out_lines().size() == 1);
  json j;
  REQUIRE_NOTHROW(j = json::parse(r.out));  // throws on a second object or trailing text
  REQUIRE(j.is_object());
  return j;
}

struct Loudness {
  double integrated_lufs;
  double true_peak_dbtp;
  double sample_peak_dbfs;
};

Loudness measure(const fs::path& file) {
  int rate = 0, channels = 0;
  const auto x = rz::test::read_all(file, &rate, &channels);
  rz::metrics::LoudnessMeter meter(channels, rate);
  meter.add(x.data(), x.size() / static_cast<size_t>(channels));
  return {meter.integrated_lufs(), meter.true_peak_dbtp(), meter.sample_peak_dbfs()};
}

// Absolute path of a shared recording (the tools run in their own working directory); skips
// visibly when it is absent.
fs::path shared(const std::string& relative) {
  return fs::absolute(rz::test::require_shared(relative));
}

// Bit-identical float sequences (memcmp: also tells -0.0 from 0.0), without printing them.
bool identical(const std::vector<float>& x, const std::vector<float>& y) {
  return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
}

double peak_abs(const std::vector<float>& x) {
  double p = 0;
  for (float v : x) p = std::max(p, static_cast<double>(std::fabs(v)));
  return p;
}

// Manifest stems agree with their files: frames, bytes and SHA-256.
void check_manifest_hashes(const fs::path& dir) {
  const json m = read_json(dir / rz::stems::kManifestFile);
  REQUIRE(m.at("stems").size() >= 1);
  for (const auto& s : m.at("stems")) {
    const fs::path p = dir / s.at("file").get<std::string>();
    INFO(p);
    CHECK(s.at("sha256").get<std::string>() == rz::stems::sha256_file(p));
    CHECK(s.at("bytes").get<uint64_t>() == fs::file_size(p));
    int channels = 0;
    const auto x = rz::test::read_all(p, nullptr, &channels);
    CHECK(s.at("frames").get<int64_t>() == static_cast<int64_t>(x.size()) / channels);
  }
}

// Masters `dir` (inside `cwd`) to `out` with extra flags, and checks the result against the target
// and ceiling with our own libebur128 measurement, and against the sidecar. Returns the
// measurement.
Loudness master_and_check(const fs::path& cwd, const std::string& dir, const std::string& out,
                          double target_lufs, double ceiling_dbtp,
                          const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args = {dir, "-o", out};
  args.insert(args.end(), extra.begin(), extra.end());
  const auto r = run_ok("rz-master", args, in_dir(cwd));
  CHECK(r.out == out + "\n");
  const Loudness l = measure(cwd / out);
  INFO(out << ": " << l.integrated_lufs << " LUFS, " << l.true_peak_dbtp << " dBTP (target "
           << target_lufs << " LUFS, ceiling " << ceiling_dbtp << " dBTP)");
  CHECK(std::fabs(l.integrated_lufs - target_lufs) <= kTargetToleranceLu);
  CHECK(l.true_peak_dbtp <= ceiling_dbtp);

  const json side = read_json(cwd / (out + ".json"));
  CHECK(side.at("schema") == "rz-master");
  REQUIRE(side.at("history").is_array());
  REQUIRE_FALSE(side.at("history").empty());
  const json& metrics = side.at("history").back().at("metrics");
  CHECK(metrics.at("before").contains("integrated_lufs"));
  CHECK(metrics.at("before").contains("true_peak_dbtp"));
  CHECK(std::fabs(metrics.at("after").at("integrated_lufs").get<double>() - l.integrated_lufs) <=
        kSidecarAgreementDb);
  CHECK(std::fabs(metrics.at("after").at("true_peak_dbtp").get<double>() - l.true_peak_dbtp) <=
        kSidecarAgreementDb);
  return l;
}

// Ingests `input` into cwd/name.ingest, masters it to -14 LUFS / -1 dBTP (the defaults) and checks.
Loudness ingest_and_master(const fs::path& cwd, const fs::path& input, const std::string& name) {
  run_ok("rz-ingest", {input.string(), "-o", name + ".ingest"}, in_dir(cwd));
  return master_and_check(cwd, name + ".ingest", name + ".flac", -14.0, -1.0);
}

// Adds a burst of a `freq_hz` sine (amplitude `amplitude`, `burst_s` long, decaying over its
// length unless `clip`, where it is hard-clipped to +/-1 instead) every `period_s`.
void add_bursts(std::vector<float>& x, int channels, double freq_hz, double amplitude,
                double burst_s, double period_s, bool clip) {
  const auto frames = static_cast<int64_t>(x.size()) / channels;
  const auto len = static_cast<int64_t>(burst_s * kRate),
             period = static_cast<int64_t>(period_s * kRate);
  for (int64_t start = period / 2; start + len <= frames; start += period) {
    for (int64_t i = 0; i < len; ++i) {
      double v = amplitude * std::sin(2 * M_PI * freq_hz * static_cast<double>(i) / kRate);
      if (clip)
        v = std::clamp(v, -1.0, 1.0);
      else
        v *= std::exp(-5.0 * static_cast<double>(i) / static_cast<double>(len));
      for (int c = 0; c < channels; ++c) {
        float& s = x[static_cast<size_t>((start + i) * channels + c)];
        s = static_cast<float>(std::clamp(s + v, -1.0, 1.0));
      }
    }
  }
}

// A short stereo test recording at 44.1 kHz: noise under two tones, peak -6 dBFS.
std::vector<float> test_music(double seconds, uint64_t seed = 1) {
  const auto frames = static_cast<int64_t>(seconds * kRate);
  auto x = rz::test::white_noise(0.05, frames, 2, seed);
  const auto a = rz::test::sine(220, 0.2, kRate, frames, 2);
  const auto b = rz::test::sine(1760, 0.1, kRate, frames, 2, 0.3);
  for (size_t i = 0; i < x.size(); ++i) x[i] += a[i] + b[i];
  const double scale = 0.5 / peak_abs(x);
  for (auto& v : x) v = static_cast<float>(v * scale);
  return x;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// (1) A real shell pipe on a real recording.

TEST_CASE("rz-ingest | rz-mix | rz-master works as a shell pipe on a real recording", "[cli]") {
  const fs::path ogg = shared("audio/music/sorohanro_-_solo-trumpet-06.hq.ogg");
  rz::test::TempDir tmp;
  fs::copy_file(ogg, tmp / "trumpet.ogg");
  // Each stage's exit status and stdout are kept (tee) so that every tool is checked, not only the
  // last; stderr (warnings) goes to files.
  const std::string script =
      "B=\"$1\"\n"
      "{ \"$B/rz-ingest\" trumpet.ogg 2>err1; echo $? >rc1; } | tee out1 |\n"
      "{ \"$B/rz-mix\" 2>err2; echo $? >rc2; } | tee out2 |\n"
      "{ \"$B/rz-master\" -o trumpet.flac 2>err3; echo $? >rc3; }\n";
  const auto r = rz::cli_test::run_program(
      "/bin/sh", {"-c", script, "sh", rz::cli_test::bin_dir().string()}, in_dir(tmp.path()));
  INFO(r.describe());
  for (int i = 1; i <= 3; ++i) {
    const std::string n = std::to_string(i);
    INFO("stage " << n << " stderr: " << rz::cli_test::read_text(tmp / ("err" + n)));
    CHECK(rz::cli_test::read_text(tmp / ("rc" + n)) == "0\n");
    CHECK(rz::cli_test::read_text(tmp / ("err" + n)).find("error") == std::string::npos);
  }
  CHECK(r.exit_code == 0);
  CHECK(rz::cli_test::read_text(tmp / "out1") == "trumpet.ingest\n");
  CHECK(rz::cli_test::read_text(tmp / "out2") == "trumpet.ingest.mix\n");
  CHECK(r.out == "trumpet.flac\n");
  CHECK(fs::is_regular_file(tmp / "trumpet.flac"));
  CHECK(fs::is_regular_file(tmp / "trumpet.flac.json"));
  CHECK(rz::cli_test::temp_entries(tmp.path()).empty());
  const Loudness l = measure(tmp / "trumpet.flac");
  CHECK(std::fabs(l.integrated_lufs + 14.0) <= kTargetToleranceLu);
  CHECK(l.true_peak_dbtp <= -1.0);
}

// ---------------------------------------------------------------------------------------------
// (2) --json: one object per tool, and records pipe into the next tool.

TEST_CASE("json records: one object per tool and they chain through stdin", "[cli]") {
  rz::test::TempDir tmp;
  rz::test::write_wav(tmp / "gig.wav", test_music(3.0), kRate, 2);

  const auto ingest = run_ok("rz-ingest", {"--json", "gig.wav"}, in_dir(tmp.path()));
  const json ji = one_json_object(ingest);
  CHECK(ji.at("output") == "gig.ingest");
  CHECK(fs::is_directory(tmp / "gig.ingest"));

  const auto mix = run_ok("rz-mix", {"--json"}, in_dir(tmp.path(), ingest.out));
  const json jm = one_json_object(mix);
  CHECK(jm.at("output") == "gig.ingest.mix");
  CHECK(fs::is_directory(tmp / "gig.ingest.mix"));

  const auto master =
      run_ok("rz-master", {"--json", "-o", "gig.flac"}, in_dir(tmp.path(), mix.out));
  const json jr = one_json_object(master);
  CHECK(jr.at("output") == "gig.flac");
  CHECK(jr.contains("before"));
  CHECK(jr.contains("after"));
  CHECK(fs::is_regular_file(tmp / "gig.flac"));

  // rz-metrics writes no file: its record names what it measured ("path") instead of an output.
  const auto metrics = run_ok("rz-metrics", {"--json"}, in_dir(tmp.path(), master.out));
  const json jt = one_json_object(metrics);
  CHECK(jt.at("path") == "gig.flac");
  REQUIRE(jt.at("stems").contains("mix"));
  CHECK(std::fabs(jt.at("stems").at("mix").at("integrated_lufs").get<double>() + 14.0) <=
        kTargetToleranceLu);

  // Several inputs: still one object, listing every output.
  rz::test::write_wav(tmp / "encore.wav", test_music(2.0, 2), kRate, 2);
  const auto two =
      run_ok("rz-ingest", {"--json", "-f", "gig.wav", "encore.wav"}, in_dir(tmp.path()));
  const json j2 = one_json_object(two);
  CHECK(j2.at("outputs") == json::array({"gig.ingest", "encore.ingest"}));
}

// ---------------------------------------------------------------------------------------------
// (3) Identity: ingest of 44.1 kHz float32, then a unity mix, gives the input back bit for bit.

TEST_CASE("ingest then unity mix reproduces a 44.1 kHz float32 input exactly", "[cli]") {
  rz::test::TempDir tmp;
  const auto x = test_music(2.5, 3);
  rz::test::write_wav(tmp / "take.wav", x, kRate, 2);
  run_ok("rz-ingest", {"take.wav"}, in_dir(tmp.path()));
  run_ok("rz-mix", {"take.ingest"}, in_dir(tmp.path()));

  for (const fs::path& stem :
       {tmp / "take.ingest" / "mix.wav", tmp / "take.ingest.mix" / "mix.wav"}) {
    INFO(stem);
    int rate = 0, channels = 0;
    const auto y = rz::test::read_all(stem, &rate, &channels);
    CHECK(rate == kRate);
    CHECK(channels == 2);
    CHECK(identical(y, x));
  }
  check_manifest_hashes(tmp / "take.ingest");
  check_manifest_hashes(tmp / "take.ingest.mix");
  const json m = read_json(tmp / "take.ingest" / rz::stems::kManifestFile);
  CHECK(m.at("source").at("sha256") == rz::stems::sha256_file(tmp / "take.wav"));
  const json mm = read_json(tmp / "take.ingest.mix" / rz::stems::kManifestFile);
  REQUIRE(mm.at("history").size() == 2);
  CHECK(mm.at("history")[0].at("tool") == "rz-ingest");
  CHECK(mm.at("history")[1].at("tool") == "rz-mix");
}

// ---------------------------------------------------------------------------------------------
// (4) Resampling to 44.1 kHz keeps the channel count and the content.

TEST_CASE("ingest resamples 48 kHz to 44.1 kHz and keeps the channel count", "[cli]") {
  // Frames after resampling: libsamplerate's output length is N * ratio up to its rounding.
  constexpr int64_t kFrameSlack = 2;
  // Amplitude of a 1 kHz tone after the medium-quality sinc: its passband ripple is far below
  // 0.01 dB; 0.05 dB also allows for the short edges that are left out of the measurement.
  constexpr double kAmplitudeTolDb = 0.05;
  const int in_rate = 48000;
  const int64_t in_frames = 3 * in_rate;
  for (int channels : {1, 2}) {
    DYNAMIC_SECTION(channels << " channel(s)") {
      rz::test::TempDir tmp;
      rz::test::write_wav(tmp / "take.wav", rz::test::sine(1000, 0.5, in_rate, in_frames, channels),
                          in_rate, channels);
      run_ok("rz-ingest", {"take.wav"}, in_dir(tmp.path()));
      const json m = read_json(tmp / "take.ingest" / rz::stems::kManifestFile);
      CHECK(m.at("sample_rate_hz") == kRate);
      CHECK(m.at("channels") == channels);
      CHECK(m.at("source").at("sample_rate_hz") == in_rate);
      const int64_t expected = in_frames * kRate / in_rate;
      CHECK(std::llabs(m.at("frames").get<int64_t>() - expected) <= kFrameSlack);
      check_manifest_hashes(tmp / "take.ingest");

      int rate = 0, ch = 0;
      const auto y = rz::test::read_all(tmp / "take.ingest" / "mix.wav", &rate, &ch);
      CHECK(rate == kRate);
      REQUIRE(ch == channels);
      // Project the middle second (exactly 1000 cycles) onto a 1 kHz sine/cosine pair: a wrong
      // rate would move the tone and the projection would collapse.
      const int64_t start = kRate, n = kRate;
      for (int c = 0; c < ch; ++c) {
        double s = 0, co = 0;
        for (int64_t i = 0; i < n; ++i) {
          const double v = y[static_cast<size_t>((start + i) * ch + c)];
          const double ph = 2 * M_PI * 1000.0 * static_cast<double>(i) / kRate;
          s += v * std::sin(ph);
          co += v * std::cos(ph);
        }
        const double amplitude = 2.0 * std::hypot(s, co) / static_cast<double>(n);
        CHECK(std::fabs(20 * std::log10(amplitude / 0.5)) <= kAmplitudeTolDb);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// (5) rz-master reaches the target on hard synthetic inputs.

TEST_CASE("rz-master reaches the loudness target under the true-peak ceiling", "[cli]") {
  // Gain reduction that proves a fixture drove the limiter (the peaky ones need 5 dB or more).
  constexpr double kMinLimitingDb = 3.0;
  const int64_t frames = 8 * kRate;
  rz::test::TempDir tmp;
  auto ingest = [&](const std::string& name, const std::vector<float>& x) {
    rz::test::write_wav(tmp / (name + ".wav"), x, kRate, 2);
    run_ok("rz-ingest", {name + ".wav"}, in_dir(tmp.path()));
    return name + ".ingest";
  };

  // Loud: noise and tones under drum-like hits, normalised to a 0.999 sample peak. The hits give
  // it the crest of music: at -14 LUFS they would peak far above the ceiling, so the limiter works.
  std::vector<float> loud = rz::test::white_noise(0.05, frames, 2, 11);
  {
    const auto lo = rz::test::sine(60, 0.05, kRate, frames, 2);
    const auto hi = rz::test::sine(11025, 0.03, kRate, frames, 2, 0.25 * M_PI);  // fs/4: TP > SP
    for (size_t i = 0; i < loud.size(); ++i) loud[i] += lo[i] + hi[i];
    add_bursts(loud, 2, 2000, 1.0, 0.03, 0.25, false);
    const double scale = 0.999 / peak_abs(loud);
    for (auto& v : loud) v = static_cast<float>(v * scale);
  }
  // Clipped: a 440 Hz sine driven 12 dB into hard clipping (nearly a square wave), all along.
  std::vector<float> clipped = rz::test::sine(440, 4.0, kRate, frames, 2);
  for (auto& v : clipped) v = std::clamp(v, -1.0f, 1.0f);
  // Clipped bursts: 10 ms of the same hard-clipped sine twice a second over a -30 dBFS bed, like a
  // clipped drum over a band: the square edges carry inter-sample peaks above 0 dBTP, and the
  // bursts carry most of the loudness, so the limiter takes about 10 dB off them.
  std::vector<float> clipped_bursts = rz::test::white_noise(0.03, frames, 2, 13);
  add_bursts(clipped_bursts, 2, 440, 4.0, 0.01, 0.5, true);
  // Very quiet: a tone and hiss at about -50 LUFS with hits 20 dB above the bed: +36 dB of gain
  // takes the hits far over the ceiling.
  std::vector<float> quiet = rz::test::white_noise(0.001, frames, 2, 12);
  {
    const auto tone = rz::test::sine(1000, 0.003, kRate, frames, 2);
    for (size_t i = 0; i < quiet.size(); ++i) quiet[i] += tone[i];
    add_bursts(quiet, 2, 2000, 0.03, 0.03, 0.5, false);
  }
  const std::vector<std::string> dirs = {ingest("loud", loud), ingest("clipped", clipped),
                                         ingest("clipped-bursts", clipped_bursts),
                                         ingest("quiet", quiet)};
  // The fixtures are what they claim to be.
  CHECK(measure(tmp / "loud.wav").sample_peak_dbfs > -0.01);
  CHECK(measure(tmp / "clipped.wav").sample_peak_dbfs == Approx(0.0).margin(1e-6));
  CHECK(measure(tmp / "clipped-bursts.wav").sample_peak_dbfs == Approx(0.0).margin(1e-6));
  const double quiet_lufs = measure(tmp / "quiet.wav").integrated_lufs;
  CHECK(quiet_lufs < -45.0);
  CHECK(quiet_lufs > -55.0);
  // The limiter had real work on the peaky fixtures (else the ceiling check would be idle).
  auto limiting_db = [&](const std::string& out) {
    return read_json(tmp / (out + ".json"))
        .at("history")
        .back()
        .at("metrics")
        .at("max_limiting_db")
        .get<double>();
  };

  // One fixture set for every configuration (sections would rebuild it each time).
  for (const auto& d : dirs) {
    // Defaults: -14 LUFS, -1 dBTP, 24-bit FLAC.
    master_and_check(tmp.path(), d, d + ".flac", -14, -1);
    // Broadcast loudness and a lower ceiling.
    master_and_check(tmp.path(), d, d + ".broadcast.flac", -23, -2,
                     {"--target", "-23", "--ceiling", "-2"});
    // 16-bit: dither and quantisation must not push it off target or over the ceiling.
    master_and_check(tmp.path(), d, d + ".16.flac", -14, -1, {"--bits", "16"});
    CHECK(read_json(tmp / (d + ".16.flac.json"))
              .at("history")
              .back()
              .at("parameters")
              .at("sample_format") == "pcm16");
  }
  CHECK(limiting_db("loud.ingest.flac") > kMinLimitingDb);
  CHECK(limiting_db("clipped-bursts.ingest.flac") > kMinLimitingDb);
  CHECK(limiting_db("quiet.ingest.flac") > kMinLimitingDb);
}

// ---------------------------------------------------------------------------------------------
// (6) rz-master on every real recording of ../shared/audio (README): ingest, master, measure.

TEST_CASE("rz-master on a real song with vocals and guitar (ogg)", "[cli][real]") {
  rz::test::TempDir tmp;
  ingest_and_master(tmp.path(), shared("audio/music/Karissa_Hobbs_-_Lets_Go_Fishin.hq.ogg"),
                    "song");
}
TEST_CASE("rz-master on a real solo trumpet (ogg)", "[cli][real]") {
  rz::test::TempDir tmp;
  ingest_and_master(tmp.path(), shared("audio/music/sorohanro_-_solo-trumpet-06.hq.ogg"),
                    "trumpet");
}
TEST_CASE("rz-master on a real solo piano (ogg)", "[cli][real]") {
  rz::test::TempDir tmp;
  ingest_and_master(
      tmp.path(),
      shared("audio/music/442789__lena-orsa__happy-music-pistachio-ice-cream-ragtime.hq.ogg"),
      "piano");
}
TEST_CASE("rz-master on real speech (16 kHz mono ogg)", "[cli][real]") {
  rz::test::TempDir tmp;
  ingest_and_master(tmp.path(), shared("audio/speech/198-209-0000.hq.ogg"), "speech");
}
TEST_CASE("rz-master on a real drum loop (wav)", "[cli][real]") {
  rz::test::TempDir tmp;
  ingest_and_master(tmp.path(), shared("audio/drums/break12.wav"), "drums");
}
TEST_CASE("rz-master on real concert crowd noise (32 kHz ogg)", "[cli][real]") {
  rz::test::TempDir tmp;
  ingest_and_master(tmp.path(), shared("audio/noise/concert-crowd.ogg"), "crowd");
}
TEST_CASE("rz-master on a real band mixture (MUSDB 80s rock wav)", "[cli][real]") {
  rz::test::TempDir tmp;
  ingest_and_master(tmp.path(), shared("audio/stems/musdb7-80srock/mixture.wav"), "mixture");
}

TEST_CASE("rz-master on the real MUSDB stems (bass and drums and other and vocals)",
          "[cli][real]") {
  rz::test::TempDir tmp;
  for (const std::string stem : {"bass", "drums", "other", "vocals"}) {
    INFO(stem);
    ingest_and_master(tmp.path(), shared("audio/stems/musdb7-80srock/" + stem + ".wav"), stem);
  }
}

TEST_CASE("rz-master on real room impulse responses (stereo and 4-channel wav)", "[cli][real]") {
  // Measured room responses are sound too: a hall (stereo) and a true-stereo room (4 channels).
  // The telephone-filter response is a lone click: -14 LUFS under -1 dBTP is out of reach for it,
  // and rz-master must say so rather than write something else.
  rz::test::TempDir tmp;
  ingest_and_master(tmp.path(), shared("audio/ir/omni-35-10.wav"), "hall");
  ingest_and_master(tmp.path(), shared("audio/ir/medium-room1.wav"), "room4ch");
  run_ok("rz-ingest", {shared("audio/ir/filter-telephone.wav").string(), "-o", "click.ingest"},
         in_dir(tmp.path()));
  const auto r = run("rz-master", {"click.ingest", "-o", "click.flac"}, in_dir(tmp.path()));
  rz::cli_test::check_refusal(r, "rz-master", 1);
  CHECK(r.err.find("out of reach") != std::string::npos);
  CHECK_FALSE(fs::exists(tmp / "click.flac"));
}
TEST_CASE("rz-master on real music as mp3", "[cli][real]") {
  rz::test::TempDir tmp;
  ingest_and_master(tmp.path(), shared("audio/codec/demucs-test.mp3"), "mp3");
}

// ---------------------------------------------------------------------------------------------
// (7) rz-metrics as a gate and as a comparison.

namespace {

// A mastered 3 s test recording in `tmp`: gig.ingest and gig.flac.
void make_master(const fs::path& tmp) {
  rz::test::write_wav(tmp / "gig.wav", test_music(3.0, 4), kRate, 2);
  run_ok("rz-ingest", {"gig.wav"}, in_dir(tmp));
  run_ok("rz-master", {"gig.ingest", "-o", "gig.flac"}, in_dir(tmp));
}

}  // namespace

TEST_CASE("rz-metrics --require exits 3 on a failed check and 0 when it holds", "[cli]") {
  rz::test::TempDir tmp;
  make_master(tmp.path());

  const auto pass =
      run("rz-metrics",
          {"gig.flac", "--require", "integrated_lufs>=-15", "--require", "true_peak_dbtp<=-1"},
          in_dir(tmp.path()));
  INFO(pass.describe());
  CHECK(pass.exit_code == 0);
  CHECK_FALSE(pass.out.empty());  // the table

  const auto fail =
      run("rz-metrics",
          {"gig.flac", "--require", "true_peak_dbtp<=-1", "--require", "integrated_lufs>=-10"},
          in_dir(tmp.path()));
  INFO(fail.describe());
  CHECK(fail.exit_code == rz::kExitCheckFailed);
  CHECK(fail.err.find("integrated_lufs>=-10") != std::string::npos);  // names the failed check
  CHECK(fail.err.find("true_peak_dbtp<=-1") == std::string::npos);    // and only that one

  const auto fail_json =
      run("rz-metrics", {"--json", "gig.flac", "--require", "mix.integrated_lufs<-20"},
          in_dir(tmp.path()));
  CHECK(fail_json.exit_code == rz::kExitCheckFailed);
  const json jf = one_json_object(fail_json);
  CHECK(jf.at("requirements").at("failed").size() == 1);
}

TEST_CASE("rz-metrics --reference with the same file gives identity SDR", "[cli]") {
  rz::test::TempDir tmp;
  make_master(tmp.path());
  const auto same =
      run_ok("rz-metrics", {"--json", "gig.flac", "--reference", "gig.flac"}, in_dir(tmp.path()));
  const json js = one_json_object(same);
  CHECK(js.at("stems").at("mix").at("reference").at("sdr_db").get<double>() >= kIdentitySdrDb);
  // The stem directory before mastering is a different signal: far from identity.
  const auto other =
      run_ok("rz-metrics", {"--json", "gig.ingest", "--reference", "gig.flac"}, in_dir(tmp.path()));
  CHECK(one_json_object(other).at("stems").at("mix").at("reference").at("sdr_db").get<double>() <
        kIdentitySdrDb);
}

// ---------------------------------------------------------------------------------------------
// (8) rz-mix: gain, mute and solo on a hand-made two-stem directory.

TEST_CASE("rz-mix --gain scales and --mute removes and --solo isolates", "[cli]") {
  rz::test::TempDir tmp;
  const int64_t frames = 2 * kRate;
  const auto a = rz::test::sine(440, 0.3, kRate, frames, 2);
  const auto b = rz::test::white_noise(0.1, frames, 2, 21);
  rz::cli_test::write_stem_dir(tmp / "band", {{"a", a}, {"b", b}}, kRate, 2);

  auto mix = [&](const std::string& out, std::vector<std::string> flags) {
    flags.insert(flags.begin(), {"band", "-o", out});
    run_ok("rz-mix", flags, in_dir(tmp.path()));
    check_manifest_hashes(tmp / out);
    int channels = 0;
    auto y = rz::test::read_all(tmp / out / "mix.wav", nullptr, &channels);
    CHECK(channels == 2);
    REQUIRE(y.size() == a.size());
    return y;
  };
  auto max_error = [](const std::vector<float>& y, double ga, const std::vector<float>& x1,
                      double gb, const std::vector<float>& x2) {
    double e = 0;
    for (size_t i = 0; i < y.size(); ++i)
      e = std::max(e, std::fabs(y[i] - (ga * x1[i] + gb * x2[i])));
    return e;
  };

  CHECK(max_error(mix("unity", {}), 1, a, 1, b) <= kOneRoundingTol);
  const auto g = mix("gain", {"--gain", "a=-6"});
  CHECK(max_error(g, kMinus6DbGain, a, 1, b) <= kOneRoundingTol);
  {
    // The gain as a least-squares fit of (y - b) on a: 0.501.
    double num = 0, den = 0;
    for (size_t i = 0; i < g.size(); ++i)
      num += (g[i] - b[i]) * double(a[i]), den += double(a[i]) * a[i];
    CHECK(num / den == Approx(kMinus6DbGain).margin(1e-6));
  }
  CHECK(identical(mix("mute", {"--mute", "a"}), b));  // unity gain: bit-identical
  CHECK(identical(mix("solo", {"--solo", "a"}), a));
  std::vector<float> quiet_b(b.size());
  for (size_t i = 0; i < b.size(); ++i) quiet_b[i] = static_cast<float>(kMinus6DbGain * b[i]);
  CHECK(identical(mix("solo-gain", {"--solo", "b", "--gain", "b=-6", "--gain", "a=+6"}), quiet_b));
  // --settings JSON does the same as the flags.
  rz::cli_test::write_text(tmp / "mix.json", R"({"stems": {"b": {"mute": true}}})");
  CHECK(identical(mix("settings", {"--settings", "mix.json"}), a));
}

// ---------------------------------------------------------------------------------------------
// (9) --preview keeps the loudest window.

TEST_CASE("rz-ingest --preview 2 keeps the loudest 2 s of a 10 s recording", "[cli]") {
  // The loud part starts on the 100 ms grid of the window search, so the window is exact.
  constexpr double kLoudStartS = 6.0;
  constexpr double kPreviewS = 2.0;
  const int64_t frames = 10 * kRate;
  auto x = rz::test::white_noise(0.01, frames, 1, 31);
  const auto tone = rz::test::sine(330, 0.5, kRate, frames, 1);
  const auto loud_start = static_cast<int64_t>(kLoudStartS * kRate);
  const auto preview_frames = static_cast<int64_t>(kPreviewS * kRate);
  for (int64_t i = loud_start; i < loud_start + preview_frames; ++i) x[i] += tone[i];
  rz::test::TempDir tmp;
  rz::test::write_wav(tmp / "gig.wav", x, kRate, 1);

  const auto r =
      run_ok("rz-ingest", {"--preview", "2", "gig.wav", "-o", "try"}, in_dir(tmp.path()));
  CHECK(r.out == "try\n");
  const json m = read_json(tmp / "try" / rz::stems::kManifestFile);
  CHECK(m.at("frames") == preview_frames);
  CHECK(m.at("history").back().at("parameters").at("preview_start_s").get<double>() ==
        Approx(kLoudStartS).margin(1e-9));
  const auto y = rz::test::read_all(tmp / "try" / "mix.wav");
  REQUIRE(static_cast<int64_t>(y.size()) == preview_frames);
  // 44.1 kHz in, 44.1 kHz out: the window is the input's samples, untouched.
  CHECK(identical(
      y, std::vector<float>(x.begin() + loud_start, x.begin() + loud_start + preview_frames)));
}

// ---------------------------------------------------------------------------------------------
// (10) The example generator feeds the pipeline.

TEST_CASE("rz-make-example writes a recording that rz-ingest accepts", "[cli]") {
  rz::test::TempDir tmp;
  const auto r = run_ok("rz-make-example", {"--duration", "3", "--seed", "5", "concert.wav"},
                        in_dir(tmp.path()));
  CHECK(r.out == "concert.wav\n");
  REQUIRE(fs::is_regular_file(tmp / "concert.wav"));
  const auto i = run_ok("rz-ingest", {"concert.wav"}, in_dir(tmp.path()));
  CHECK(i.out == "concert.ingest\n");
  const json m = read_json(tmp / "concert.ingest" / rz::stems::kManifestFile);
  CHECK(m.at("sample_rate_hz") == kRate);
  CHECK(m.at("channels") == 2);
  CHECK(std::llabs(m.at("frames").get<int64_t>() - 3 * kRate) <= 2);
  check_manifest_hashes(tmp / "concert.ingest");
}

// ---------------------------------------------------------------------------------------------
// (11) --help and --version.

TEST_CASE("help and version: --help prints usage on stdout and --version names the tool", "[cli]") {
  for (const std::string tool : {"rz-ingest", "rz-mix", "rz-master", "rz-metrics"}) {
    INFO(tool);
    const auto h = run_ok(tool, {"--help"});
    CHECK(h.out.find("Usage: " + tool) != std::string::npos);
    CHECK(h.out.find("Examples:") != std::string::npos);  // ends with runnable examples
    CHECK(h.err.empty());
    const auto v = run_ok(tool, {"--version"});
    CHECK(v.out.rfind(tool + " ", 0) == 0);
    CHECK(v.out.find("libsndfile") != std::string::npos);
    CHECK(v.err.empty());
  }
  const auto h = run_ok("rz-make-example", {"--help"});
  std::string usage = h.out;  // "Usage:" (CLI11) or "usage:" (hand-written parser)
  std::transform(usage.begin(), usage.end(), usage.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  CHECK(usage.find("usage: rz-make-example") != std::string::npos);
  CHECK(h.err.empty());
}

TEST_CASE("rz-master finds the target when the gate hides a quiet bed behind loud bursts",
          "[cli]") {
  // A -40 dBFS noise bed with 10 ms full-scale clipped bursts once a second: at first only the
  // bursts pass the loudness gate, and limiting them buys no loudness; the bed must be raised until
  // it passes the gate (about +25 dB). A search that gives up on the flat stretch fails here.
  rz::test::TempDir tmp;
  auto x = rz::test::white_noise(std::pow(10.0, -40.0 / 20.0), 10 * kRate, 2, 11);
  add_bursts(x, 2, 1100.0, 4.0, 0.01, 1.0, /*clip=*/true);
  rz::test::write_wav(tmp / "bursts.wav", x, kRate, 2);
  run_ok("rz-ingest", {"bursts.wav"}, in_dir(tmp.path()));
  master_and_check(tmp.path(), "bursts.ingest", "bursts.flac", -14.0, -1.0);
}

TEST_CASE("rz-master refuses a target the limiter cannot reach and leaves nothing", "[cli]") {
  // Dense noise already at its ceiling: past saturation more gain only flattens it, and 0 LUFS at a
  // -20 dBTP ceiling is beyond any amount of limiting.
  rz::test::TempDir tmp;
  rz::test::write_wav(tmp / "dense.wav", rz::test::white_noise(0.25, 4 * kRate, 2, 12), kRate, 2);
  run_ok("rz-ingest", {"dense.wav"}, in_dir(tmp.path()));
  const auto before = rz::cli_test::list_dir(tmp.path());
  const auto r =
      run("rz-master", {"dense.ingest", "-o", "dense.flac", "--target", "-3", "--ceiling", "-12"},
          in_dir(tmp.path()));
  rz::cli_test::check_refusal(r, "rz-master", 1);
  CHECK(r.err.find("out of reach") != std::string::npos);
  CHECK(rz::cli_test::list_dir(tmp.path()) == before);
}

TEST_CASE("rz-ingest decodes phone M4A through ffmpeg, and names ffmpeg when it is missing",
          "[cli]") {
  const auto ffmpeg = rz::audio::find_program("ffmpeg");
  if (ffmpeg.empty()) {
    std::printf("SKIP: ffmpeg is not installed (scripts/install-deps.sh --test installs it)\n");
    std::exit(rz::test::kSkipExitCode);
  }
  rz::test::TempDir tmp;
  rz::test::write_wav(tmp / "phone.wav", test_music(3.0), 48000, 2);
  const auto enc = rz::cli_test::run_program(
      ffmpeg.string(),
      {"-nostdin", "-v", "error", "-i", "phone.wav", "-c:a", "aac", "-b:a", "128k", "phone.m4a"},
      in_dir(tmp.path()));
  REQUIRE(enc.exit_code == 0);

  const auto ok = run_ok("rz-ingest", {"phone.m4a"}, in_dir(tmp.path()));
  CHECK(ok.out == "phone.ingest\n");
  const json source = rz::cli_test::read_json(tmp / "phone.ingest" / "manifest.json").at("source");
  CHECK(source.at("decoder") == "ffmpeg");
  CHECK(source.at("sample_rate_hz") == 48000);
  for (const auto& name : rz::cli_test::list_dir(fs::temp_directory_path())) {
    CHECK(name.rfind("rz-decode-", 0) != 0);  // ffmpeg's decoded temporary file is gone
  }

  // Without ffmpeg on PATH: one error line that says what to install, and nothing written.
  const auto before = rz::cli_test::list_dir(tmp.path());
  const auto missing = rz::cli_test::run_program(
      "/usr/bin/env",
      {"PATH=/nonexistent", rz::cli_test::tool_path("rz-ingest").string(), "phone.m4a", "-o", "x"},
      in_dir(tmp.path()));
  rz::cli_test::check_refusal(missing, "rz-ingest", 1);
  CHECK(missing.err.find("ffmpeg") != std::string::npos);
  CHECK(rz::cli_test::list_dir(tmp.path()) == before);
}

TEST_CASE(
    "common and tool flags: verbosity and progress and the less used master and ingest options",
    "[cli]") {
  rz::test::TempDir tmp;
  auto x = test_music(3.0);
  for (size_t i = 0; i < x.size(); i += 997) x[i] = 1.0f;  // sparse full-scale samples
  for (size_t i = 20000; i < 20012; ++i) x[i] = 1.0f;      // and a clipped run: a warning
  rz::test::write_wav(tmp / "song.wav", x, kRate, 2);

  // -q: errors only, so the clipping warning is gone; default: it is there.
  const auto loud = run_ok("rz-ingest", {"song.wav", "-o", "a.ingest"}, in_dir(tmp.path()));
  CHECK(loud.err.find("warning: ") != std::string::npos);
  const auto quiet = run_ok("rz-ingest", {"-q", "song.wav", "-o", "b.ingest"}, in_dir(tmp.path()));
  CHECK(quiet.err.empty());
  // -v: the resolved settings; -vv: timings; --progress: progress lines on a non-terminal.
  const auto v = run_ok("rz-mix", {"-v", "a.ingest", "-o", "v.mix"}, in_dir(tmp.path()));
  CHECK(v.err.find("settings: ") != std::string::npos);
  const auto vv = run_ok("rz-mix", {"-vv", "a.ingest", "-o", "vv.mix"}, in_dir(tmp.path()));
  CHECK(vv.err.find("peak memory") != std::string::npos);
  const auto p = run_ok("rz-mix", {"--progress", "a.ingest", "-o", "p.mix"}, in_dir(tmp.path()));
  CHECK(p.err.find("rz-mix: a.ingest: mix ") != std::string::npos);  // named by its input
  CHECK(p.out == "p.mix\n");  // progress never reaches stdout

  // rz-master --no-dither, --lookahead and --release: still on target, recorded in the sidecar.
  master_and_check(tmp.path(), "a.ingest", "nd.wav", -14.0, -1.0,
                   {"--bits", "16", "--no-dither", "--lookahead", "2", "--release", "20"});
  const json params =
      rz::cli_test::read_json(tmp / "nd.wav.json").at("history").back().at("parameters");
  CHECK(params.at("dither") == "none");
  CHECK(params.at("lookahead_ms") == 2.0);
  CHECK(params.at("release_ms") == 20.0);

  // rz-ingest --no-ffmpeg: a format only ffmpeg reads is refused (exit 1) even where it is
  // installed.
  rz::cli_test::write_text(tmp / "clip.m4a", "not audio that libsndfile reads");
  const auto nf =
      run("rz-ingest", {"--no-ffmpeg", "clip.m4a", "-o", "nf.ingest"}, in_dir(tmp.path()));
  rz::cli_test::check_refusal(nf, "rz-ingest", 1);
  CHECK_FALSE(fs::exists(tmp / "nf.ingest"));
}

TEST_CASE("rz-mix with every stem muted writes silence as long as the directory", "[cli]") {
  rz::test::TempDir tmp;
  rz::test::write_wav(tmp / "song.wav", test_music(2.0), kRate, 2);
  run_ok("rz-ingest", {"song.wav"}, in_dir(tmp.path()));
  const auto r =
      run_ok("rz-mix", {"song.ingest", "--mute", "mix", "-o", "muted"}, in_dir(tmp.path()));
  CHECK(r.err.find("muted") != std::string::npos);  // said on stderr
  const auto x = rz::test::read_all(tmp / "muted" / "mix.wav");
  CHECK(x.size() == static_cast<size_t>(2 * kRate * 2));
  CHECK(peak_abs(x) == 0.0);
}

// ---------------------------------------------------------------------------------------------
// Removed stems (role "removed", rz-manifest(5)): left out of rz-mix and rz-master unless kept.

namespace {

// A crowd remover's output in cwd/sep: `instrumental` and `crowd` (role "removed"), 2 s stereo.
struct CrowdRemoved {
  std::vector<float> instrumental = test_music(2.0);
  std::vector<float> crowd = rz::test::white_noise(0.1, 2 * kRate, 2, 33);
  explicit CrowdRemoved(const fs::path& dir) {
    rz::cli_test::write_stem_dir(dir, {{"instrumental", instrumental}, {"crowd", crowd}}, kRate, 2);
    rz::cli_test::set_role(dir, "crowd", rz::stems::kRoleRemoved);
  }
};

constexpr const char* kCrowdLeftOutNote =
    "crowd: removed stem, left out (--keep crowd brings it in)";

}  // namespace

TEST_CASE("rz-mix leaves a removed stem out, says so, and --keep brings it back", "[cli]") {
  rz::test::TempDir tmp;
  const CrowdRemoved sep(tmp / "sep");
  const auto& inst = sep.instrumental;
  const auto& crowd = sep.crowd;

  // Unity sum of the one ordinary stem: bit-identical to it.
  const auto plain = run_ok("rz-mix", {"sep", "-o", "plain"}, in_dir(tmp.path()));
  CHECK(plain.err.find(kCrowdLeftOutNote) != std::string::npos);
  check_manifest_hashes(tmp / "plain");
  CHECK(identical(rz::test::read_all(tmp / "plain" / "mix.wav"), inst));
  const json p = rz::cli_test::last_history_entry(tmp / "plain", "rz-mix").at("parameters");
  CHECK(p.at("active_stems") == json::array({"instrumental"}));
  CHECK(p.at("left_out") == json::array({"crowd"}));
  // The sum is an ordinary stem.
  CHECK_FALSE(read_json(tmp / "plain" / "manifest.json").at("stems")[0].contains("role"));

  // -q: errors only, so not the note.
  CHECK(run_ok("rz-mix", {"-q", "sep", "-o", "quiet"}, in_dir(tmp.path())).err.empty());

  auto max_error = [](const std::vector<float>& y, const std::vector<float>& x1, double g2,
                      const std::vector<float>& x2) {
    REQUIRE(y.size() == x1.size());
    double e = 0;
    for (size_t i = 0; i < y.size(); ++i) e = std::max(e, std::fabs(y[i] - (x1[i] + g2 * x2[i])));
    return e;
  };
  const auto kept = run_ok("rz-mix", {"sep", "--keep", "crowd", "-o", "kept"}, in_dir(tmp.path()));
  CHECK(kept.err.find("left out") == std::string::npos);
  CHECK(max_error(rz::test::read_all(tmp / "kept" / "mix.wav"), inst, 1, crowd) <= kOneRoundingTol);
  const json k = rz::cli_test::last_history_entry(tmp / "kept", "rz-mix").at("parameters");
  CHECK(k.at("keep") == json::array({"crowd"}));
  CHECK(k.at("left_out") == json::array());
  CHECK(k.at("active_stems") == json::array({"instrumental", "crowd"}));

  // Kept, it takes a gain like any other stem; soloed, it plays without --keep.
  run_ok("rz-mix", {"sep", "--keep", "crowd", "--gain", "crowd=-6", "-o", "some"},
         in_dir(tmp.path()));
  CHECK(max_error(rz::test::read_all(tmp / "some" / "mix.wav"), inst, kMinus6DbGain, crowd) <=
        kOneRoundingTol);
  run_ok("rz-mix", {"sep", "--solo", "crowd", "-o", "solo"}, in_dir(tmp.path()));
  CHECK(identical(rz::test::read_all(tmp / "solo" / "mix.wav"), crowd));
  // --settings "keep" does what --keep does.
  rz::cli_test::write_text(tmp / "keep.json", R"({"keep": ["crowd"]})");
  run_ok("rz-mix", {"sep", "--settings", "keep.json", "-o", "settings"}, in_dir(tmp.path()));
  CHECK(identical(rz::test::read_all(tmp / "settings" / "mix.wav"),
                  rz::test::read_all(tmp / "kept" / "mix.wav")));
}

TEST_CASE("rz-master leaves a removed stem out of its sum unless kept or named with --stem",
          "[cli]") {
  rz::test::TempDir tmp;
  const CrowdRemoved sep(tmp / "sep");
  auto sha = [&](const std::string& file) { return rz::stems::sha256_file(tmp / file); };

  // Float WAV: no dither, so equal sources give byte-identical files.
  const auto plain = run_ok("rz-master", {"sep", "-o", "plain.wav"}, in_dir(tmp.path()));
  CHECK(plain.err.find(kCrowdLeftOutNote) != std::string::npos);
  const json p = read_json(tmp / "plain.wav.json").at("history").back().at("parameters");
  CHECK(p.at("left_out") == json::array({"crowd"}));
  CHECK(p.at("stem") == "all");
  const auto inst =
      run_ok("rz-master", {"sep", "--stem", "instrumental", "-o", "inst.wav"}, in_dir(tmp.path()));
  CHECK(inst.err.find("left out") == std::string::npos);  // one stem alone: no sum to leave out of
  CHECK(sha("plain.wav") == sha("inst.wav"));  // the sum without the crowd is the instrumental

  const auto kept =
      run_ok("rz-master", {"sep", "--keep", "crowd", "-o", "kept.wav"}, in_dir(tmp.path()));
  CHECK(kept.err.find("left out") == std::string::npos);
  CHECK(sha("kept.wav") != sha("plain.wav"));
  // The same as mastering rz-mix --keep crowd: one sum, the same samples.
  run_ok("rz-mix", {"sep", "--keep", "crowd", "-o", "kept.mix"}, in_dir(tmp.path()));
  run_ok("rz-master", {"kept.mix", "-o", "kept-mix.wav"}, in_dir(tmp.path()));
  CHECK(sha("kept.wav") == sha("kept-mix.wav"));
  const json k = read_json(tmp / "kept.wav.json").at("history").back().at("parameters");
  CHECK(k.at("keep") == json::array({"crowd"}));
  CHECK(k.at("left_out") == json::array());

  // --stem names a removed stem explicitly: it is mastered, with nothing left out to mention.
  const auto alone =
      run_ok("rz-master", {"sep", "--stem", "crowd", "-o", "crowd.wav"}, in_dir(tmp.path()));
  CHECK(alone.err.find("left out") == std::string::npos);
  CHECK(measure(tmp / "crowd.wav").integrated_lufs == Approx(-14.0).margin(kTargetToleranceLu));
}

TEST_CASE("a bad --keep, or removed stems only, is a usage error that leaves nothing", "[cli]") {
  rz::test::TempDir tmp;
  const CrowdRemoved sep(tmp / "sep");
  rz::cli_test::write_stem_dir(tmp / "noise", {{"noise", sep.crowd}}, kRate, 2);
  rz::cli_test::set_role(tmp / "noise", "noise", rz::stems::kRoleRemoved);
  const auto listing = rz::cli_test::list_dir(tmp.path());
  struct Call {
    const char* label;
    const char* tool;
    std::vector<std::string> args;
    const char* says;
  };
  const std::vector<Call> calls = {
      {"--keep of a stem that does not exist",
       "rz-mix",
       {"sep", "--keep", "drums", "-o", "out"},
       "no such stem 'drums': this directory has instrumental, crowd"},
      {"--keep of an ordinary stem",
       "rz-mix",
       {"sep", "--keep", "instrumental", "-o", "out"},
       "bad --keep 'instrumental': not a removed stem"},
      {"--gain for a removed stem left out",
       "rz-mix",
       {"sep", "--gain", "crowd=-6", "-o", "out"},
       "stem left out 'crowd': a removed stem is not mixed in; add --keep crowd"},
      {"removed stems only", "rz-mix", {"noise", "-o", "out"}, "nothing to mix '"},
      {"--keep of a stem that does not exist",
       "rz-master",
       {"sep", "--keep", "drums", "-o", "out.wav"},
       "no such stem 'drums'"},
      {"--keep of an ordinary stem",
       "rz-master",
       {"sep", "--keep", "instrumental", "-o", "out.wav"},
       "bad --keep 'instrumental': not a removed stem"},
      {"--keep with --stem",
       "rz-master",
       {"sep", "--stem", "instrumental", "--keep", "crowd", "-o", "out.wav"},
       "bad --keep 'crowd': --stem masters one stem alone"},
      {"removed stems only", "rz-master", {"noise", "-o", "out.wav"}, "nothing to mix '"},
  };
  for (const auto& c : calls) {
    const auto r = run(c.tool, c.args, in_dir(tmp.path()));
    INFO(c.label << ": " << c.tool << "\n" << r.describe());
    rz::cli_test::check_refusal(r, c.tool, rz::kExitUsage);
    CHECK(r.err.find(c.says) != std::string::npos);
    CHECK(rz::cli_test::list_dir(tmp.path()) == listing);
  }
  // Brought back, the lone removed stem mixes and masters.
  run_ok("rz-mix", {"noise", "--keep", "noise", "-o", "kept"}, in_dir(tmp.path()));
  run_ok("rz-master", {"noise", "--stem", "noise", "-o", "noise.wav"}, in_dir(tmp.path()));
}

TEST_CASE("a removed stem keeps its role through rz-restore | rz-dereverb | rz-enhance", "[cli]") {
  rz::test::TempDir tmp;
  const CrowdRemoved sep(tmp / "sep");
  run_ok("rz-restore", {"sep", "-o", "sep.rst"}, in_dir(tmp.path()));
  run_ok("rz-dereverb", {"sep.rst", "-o", "sep.drv"}, in_dir(tmp.path()));
  run_ok("rz-enhance", {"sep.drv", "-o", "sep.enh"}, in_dir(tmp.path()));
  for (const char* dir : {"sep.rst", "sep.drv", "sep.enh"}) {
    INFO(dir);
    const json m = read_json(tmp / dir / rz::stems::kManifestFile);
    REQUIRE(m.at("stems").size() == 2);
    CHECK(m.at("stems")[0].at("name") == "instrumental");
    CHECK_FALSE(m.at("stems")[0].contains("role"));
    CHECK(m.at("stems")[1].at("name") == "crowd");
    CHECK(m.at("stems")[1].at("role") == "removed");
    CHECK(m.at("history").back().at("stems").at("crowd").at("role") == "removed");
  }
  // rz-mix at the end still leaves it out.
  const auto r = run_ok("rz-mix", {"sep.enh", "-o", "sep.mix"}, in_dir(tmp.path()));
  CHECK(r.err.find(kCrowdLeftOutNote) != std::string::npos);
}
