// End-to-end runs of rz-restore on simulated phone damage with the clean original known:
// bandwidth (LSD against the original after a phone-like low-pass), a clean full-band song left
// alone, de-clipping (SDR against the original; unclipped samples untouched), pass-through,
// recorded measurements and decisions, refusals.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_util.hpp"
#include "rz/error.hpp"
#include "rz/stems/manifest.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using rz::cli_test::compare_to;
using rz::cli_test::decision;
using rz::cli_test::in_dir;
using rz::cli_test::read_json;
using rz::cli_test::run;
using rz::cli_test::run_ok;
using rz::cli_test::shared;

namespace {

// Acceptance of the rz-restore issue, bandwidth: LSD (rz-metrics' definition) against the clean
// original, of the restored stem relative to the low-passed one.
constexpr double kMinLsdGain8k = 0.25;        // material with content above: >= 25 % lower at 8 kHz
constexpr double kMinLsdGain11k = 0.10;       // and >= 10 % lower at 11 kHz
constexpr double kMaxLsdLossNoHighsDb = 0.5;  // material with almost nothing above: <= 0.5 dB worse
// A clean full-band input must come out unchanged to the ear: 40 dB SI-SDR against the input.
constexpr double kCleanMinSiSdrDb = 40.0;
// A cutoff at or above this (a twelfth of an octave under 20 kHz) leaves no band to regenerate.
constexpr double kTwelfthOctaveUnder20k = 18877.486;
// Where the song's and the MUSDB mix's coders cut them (measured 16.8-16.9 kHz).
constexpr double kCoderCutoffTol = 0.05;
// De-clipping: SDR against the clean original at least 3 dB above the clipped input's.
constexpr double kMinDeclipGainDb = 3.0;
// Clipping seen only through a resampler: the margin under the level takes in some unclipped
// samples too (they may only grow), so less is gained; it must still be a clear improvement.
constexpr double kMinResampledDeclipGainDb = 1.0;

json restore_entry(const fs::path& dir) {
  return rz::cli_test::last_history_entry(dir, "rz-restore");
}

// The phone's low-pass: a lossy coder's steep one (16th order, 96 dB per octave). With an 8th-order
// skirt the MUSDB mix, whose own spectrum falls 8 dB from 6-8 to 8-10 kHz, shows no clear edge at
// 8 kHz and the analysis reads its cutoff near 11.5 kHz.
constexpr const char* kLowpassOrder = "16";

struct BandCase {
  const char* name;
  const char* file;
  double start_s;
  double duration_s;  // 0: the whole file
  double cutoff_hz;
  bool content_above;  // the original has content above the cutoff
};

// The song and the MUSDB mix have content above 8 and 11 kHz; the ragtime piano almost none.
const BandCase kBandCases[] = {
    {"song-8k", "audio/music/Karissa_Hobbs_-_Lets_Go_Fishin.hq.ogg", 20, 30, 8000, true},
    {"song-11k", "audio/music/Karissa_Hobbs_-_Lets_Go_Fishin.hq.ogg", 20, 30, 11000, true},
    {"musdb-8k", "audio/stems/musdb7-80srock/mixture.wav", 0, 0, 8000, true},
    {"musdb-11k", "audio/stems/musdb7-80srock/mixture.wav", 0, 0, 11000, true},
    {"piano-8k", "audio/music/442789__lena-orsa__happy-music-pistachio-ice-cream-ragtime.hq.ogg",
     10, 30, 8000, false},
};

std::vector<std::string> crop(const BandCase& c) {
  std::vector<std::string> a;
  if (c.start_s > 0) a.insert(a.end(), {"--start", std::to_string(c.start_s)});
  if (c.duration_s > 0) a.insert(a.end(), {"--duration", std::to_string(c.duration_s)});
  return a;
}

}  // namespace

TEST_CASE("restore: regenerated highs bring a low-passed recording closer to the original",
          "[cli][restore]") {
  rz::test::TempDir tmp;
  for (const auto& c : kBandCases) {
    INFO(c.name);
    const fs::path work = tmp / c.name;
    fs::create_directories(work);
    std::vector<std::string> sim = {shared(c.file),
                                    "-o",
                                    "sim.wav",
                                    "--reference",
                                    "ref.wav",
                                    "--band",
                                    "0:" + std::to_string(static_cast<int>(c.cutoff_hz)),
                                    "--band-lowpass-order",
                                    kLowpassOrder};
    const auto cr = crop(c);
    sim.insert(sim.end(), cr.begin(), cr.end());
    run_ok("rz-phone-sim", sim, in_dir(work));
    run_ok("rz-ingest", {"sim.wav", "-o", "in"}, in_dir(work));
    run_ok("rz-restore", {"in", "-o", "out"}, in_dir(work));
    const double before = compare_to(work, "in", "ref.wav").at("lsd_db").get<double>();
    const double after = compare_to(work, "out", "ref.wav").at("lsd_db").get<double>();
    const json stem = restore_entry(work / "out").at("stems").at("mix");
    INFO(stem.dump());
    INFO("LSD before " << before << " dB, after " << after << " dB");
    // The cutoff was found (the zero-phase band limit is -6 dB at its corner).
    const double found = stem.at("measurements").at("bandwidth_hz").get<double>();
    CHECK(stem.at("measurements").at("band_limited").get<bool>());
    CHECK(found == Approx(c.cutoff_hz).epsilon(0.1));
    const json highs = decision(stem, "highs");
    if (c.content_above) {
      // The programme reaches the cut: full confidence, and the LSD falls.
      CHECK(highs.at("applied").get<bool>());
      CHECK(highs.at("confidence").get<double>() == Approx(1.0));
      const double bar = c.cutoff_hz < 10000 ? kMinLsdGain8k : kMinLsdGain11k;
      CHECK(after <= (1.0 - bar) * before);
    } else {
      // Almost nothing under the cut (the piano's spectrum has fallen away there): the evidence
      // says the highs were never there, and nothing may get worse.
      CHECK(highs.at("confidence").get<double>() < 1.0);
      CHECK(highs.at("evidence").at("below_cut_re_peak_db").get<double>() < -43.0);
      CHECK(after <= before + kMaxLsdLossNoHighsDb);
    }
  }
}

TEST_CASE("restore: clean recordings come out unchanged to the ear", "[cli][restore]") {
  // The drum loop is full band (44.1 kHz PCM): no cutoff may be found. The song (Ogg Vorbis) and
  // the MUSDB mix (decoded AAC) are clean but their coders cut them near 16.9 kHz: that cutoff is
  // real and the highs above it are regenerated, at a level (the envelope falls 48 dB per octave
  // above 13 kHz) that changes nothing audible.
  rz::test::TempDir tmp;
  const BandCase clean[] = {
      {"drums", "audio/drums/break12.wav", 0, 0, 0, false},
      {"song", "audio/music/Karissa_Hobbs_-_Lets_Go_Fishin.hq.ogg", 20, 30, 16900, true},
      {"musdb", "audio/stems/musdb7-80srock/mixture.wav", 0, 0, 16900, true}};
  for (const auto& c : clean) {
    INFO(c.name);
    const fs::path work = tmp / c.name;
    fs::create_directories(work);
    std::vector<std::string> sim = {shared(c.file), "-o", "sim.wav"};
    const auto cr = crop(c);
    sim.insert(sim.end(), cr.begin(), cr.end());
    run_ok("rz-phone-sim", sim, in_dir(work));
    run_ok("rz-ingest", {"sim.wav", "-o", "in"}, in_dir(work));
    run_ok("rz-restore", {"in", "-o", "out"}, in_dir(work));
    const json stem = restore_entry(work / "out").at("stems").at("mix");
    INFO(stem.dump());
    const json& m = stem.at("measurements");
    if (c.cutoff_hz == 0) {
      // No cutoff under the regenerated band's top: the loop's own edge (its anti-aliasing
      // filter near 20.8 kHz) is within a twelfth of an octave of 20 kHz and is left alone.
      if (m.at("band_limited").get<bool>())
        CHECK(m.at("bandwidth_hz").get<double>() >= kTwelfthOctaveUnder20k);
      CHECK_FALSE(decision(stem, "highs").at("applied").get<bool>());
      // Nor up to Nyquist: the edge lies above the 0.9 Nyquist the regenerator takes.
      run_ok("rz-restore", {"in", "--max-freq", "22050", "-o", "out-nyquist"}, in_dir(work));
      CHECK_FALSE(decision(restore_entry(work / "out-nyquist").at("stems").at("mix"), "highs")
                      .at("applied")
                      .get<bool>());
    } else {
      CHECK(m.at("bandwidth_hz").get<double>() == Approx(c.cutoff_hz).epsilon(kCoderCutoffTol));
    }
    const double si_sdr = compare_to(work, "out", "in/mix.wav").at("si_sdr_db").get<double>();
    INFO("SI-SDR against the input " << si_sdr << " dB");
    CHECK(si_sdr >= kCleanMinSiSdrDb);
  }
}

TEST_CASE("restore: de-clipping at 2 % and 5 % raises SDR and keeps unclipped samples",
          "[cli][restore]") {
  rz::test::TempDir tmp;
  const BandCase sources[] = {
      {"song", "audio/music/Karissa_Hobbs_-_Lets_Go_Fishin.hq.ogg", 20, 15, 0, true},
      {"musdb", "audio/stems/musdb7-80srock/mixture.wav", 0, 0, 0, true},
      {"drums", "audio/drums/break12.wav", 0, 0, 0, true}};
  for (const auto& c : sources) {
    for (const char* ratio : {"0.02", "0.05"}) {
      INFO(c.name << " clipped at " << ratio);
      const fs::path work = tmp / (std::string(c.name) + ratio);
      fs::create_directories(work);
      std::vector<std::string> sim = {shared(c.file), "-o",           "sim.wav", "--reference",
                                      "ref.wav",      "--clip-ratio", ratio};
      const auto cr = crop(c);
      sim.insert(sim.end(), cr.begin(), cr.end());
      run_ok("rz-phone-sim", sim, in_dir(work));
      run_ok("rz-ingest", {"sim.wav", "-o", "in"}, in_dir(work));
      run_ok("rz-restore", {"in", "--only", "declip", "-o", "out"}, in_dir(work));
      const double before = compare_to(work, "in", "ref.wav").at("sdr_db").get<double>();
      const double after = compare_to(work, "out", "ref.wav").at("sdr_db").get<double>();
      const json stem = restore_entry(work / "out").at("stems").at("mix");
      INFO(stem.dump());
      INFO("SDR before " << before << " dB, after " << after << " dB");
      CHECK(decision(stem, "declip").at("applied").get<bool>());
      CHECK(after >= before + kMinDeclipGainDb);
      // Unclipped samples are unchanged: every sample below the clipped input's peak.
      const auto x = rz::test::read_all(work / "in" / "mix.wav");
      const auto y = rz::test::read_all(work / "out" / "mix.wav");
      REQUIRE(x.size() == y.size());
      float peak = 0;
      for (float v : x) peak = std::max(peak, std::fabs(v));
      size_t changed = 0, clipped = 0;
      for (size_t i = 0; i < x.size(); ++i) {
        if (std::fabs(x[i]) < peak) {
          if (y[i] != x[i]) ++changed;
        } else {
          ++clipped;
          CHECK(std::fabs(y[i]) >= peak);  // consistent: never below the clip level
          if (std::fabs(y[i]) < peak) break;
        }
      }
      CHECK(changed == 0);
      CHECK(clipped > 0);
    }
  }
}

TEST_CASE("restore: intensity 0 copies every stem bit for bit", "[cli][restore]") {
  rz::test::TempDir tmp;
  run_ok("rz-phone-sim",
         {shared("audio/stems/musdb7-80srock/mixture.wav"), "-o", "sim.wav", "--band", "0:8000",
          "--clip-ratio", "0.02"},
         in_dir(tmp.path()));
  run_ok("rz-ingest", {"sim.wav", "-o", "in"}, in_dir(tmp.path()));
  run_ok("rz-restore", {"in", "--intensity", "0", "-o", "out"}, in_dir(tmp.path()));
  const json in = read_json(tmp / "in" / rz::stems::kManifestFile);
  const json out = read_json(tmp / "out" / rz::stems::kManifestFile);
  CHECK(out.at("stems").at(0).at("sha256") == in.at("stems").at(0).at("sha256"));
  CHECK(restore_entry(tmp / "out").at("stems").at("mix").at("result") == "unprocessed");
  // The same input at full intensity is changed, and says what it did.
  run_ok("rz-restore", {"in", "-o", "full"}, in_dir(tmp.path()));
  const json stem = restore_entry(tmp / "full").at("stems").at("mix");
  CHECK(stem.at("result") == "processed");
  CHECK(decision(stem, "declip").at("applied").get<bool>());
  CHECK(decision(stem, "highs").at("applied").get<bool>());
  CHECK(stem.at("blocks").at("highs").at("statistics").contains("added_energy_db"));
  CHECK(stem.at("after").contains("bandwidth_hz"));
}

TEST_CASE("restore: bad options are refused without output", "[cli][restore]") {
  rz::test::TempDir tmp;
  run_ok("rz-phone-sim", {shared("audio/drums/break12.wav"), "-o", "sim.wav", "--duration", "1"},
         in_dir(tmp.path()));
  run_ok("rz-ingest", {"sim.wav", "-o", "in"}, in_dir(tmp.path()));
  const auto before = rz::cli_test::snapshot(tmp / "in");
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"in", "--only", "sparkle", "-o", "out"},
                                             {"in", "--intensity", "2", "-o", "out"},
                                             {"in", "--max-freq", "10", "-o", "out"},
                                             {"in", "--stems", "vocals", "-o", "out"}}) {
    const auto r = run("rz-restore", args, in_dir(tmp.path()));
    INFO(r.describe());
    rz::cli_test::check_refusal(r, "rz-restore", rz::kExitUsage);
    CHECK_FALSE(fs::exists(tmp / "out"));
    CHECK(rz::cli_test::temp_entries(tmp.path()).empty());
  }
  CHECK(rz::cli_test::snapshot(tmp / "in") == before);
}

TEST_CASE("restore: clipping that rz-ingest found before resampling is still repaired",
          "[cli][restore]") {
  // A 48 kHz recording clipped at 0.3: resampling to 44.1 kHz turns its flat tops into ripples
  // the plateau rules cannot see; rz-ingest's analysis (at 48 kHz) saw them, and rz-restore takes
  // its clip level from there.
  constexpr int kRate48 = 48000;
  constexpr float kClip = 0.3f;
  rz::test::TempDir tmp;
  const int64_t frames = 4 * kRate48;
  auto clean = rz::test::sine(220.0, 0.25, kRate48, frames, 2);
  const auto b = rz::test::sine(331.0, 0.2, kRate48, frames, 2, 0.7);
  const auto n = rz::test::white_noise(0.01, frames, 2, 5);
  for (size_t i = 0; i < clean.size(); ++i) clean[i] += b[i] + n[i];
  std::vector<float> clipped(clean);
  for (float& v : clipped) v = std::clamp(v, -kClip, kClip);
  rz::test::write_wav(tmp / "clean.wav", clean, kRate48, 2);
  rz::test::write_wav(tmp / "clipped.wav", clipped, kRate48, 2);
  run_ok("rz-ingest", {"clean.wav", "-o", "clean"}, in_dir(tmp.path()));
  run_ok("rz-ingest", {"clipped.wav", "-o", "in"}, in_dir(tmp.path()));
  run_ok("rz-restore", {"in", "--only", "declip", "-o", "out"}, in_dir(tmp.path()));
  const json stem = restore_entry(tmp / "out").at("stems").at("mix");
  INFO(stem.dump());
  // The stem's own detector sees no flat tops: at most the soft rule's near-peak samples.
  const json& own = stem.at("measurements").at("clipping");
  CHECK((!own.at("found").get<bool>() || own.at("soft").get<bool>()));
  const json d = decision(stem, "declip");
  CHECK(d.at("applied").get<bool>());
  CHECK(d.at("why").get<std::string>().find("before resampling") != std::string::npos);
  const double before = compare_to(tmp.path(), "in", "clean/mix.wav").at("sdr_db").get<double>();
  const double after = compare_to(tmp.path(), "out", "clean/mix.wav").at("sdr_db").get<double>();
  INFO("SDR before " << before << " dB, after " << after << " dB");
  CHECK(after >= before + kMinResampledDeclipGainDb);
}
