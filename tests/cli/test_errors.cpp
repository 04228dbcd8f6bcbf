// rz- tools refuse bad input: one stderr line, exit 1 or 2, empty stdout, no output, inputs intact.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <fstream>
#include <functional>
#include <limits>
#include <random>

#include "cli_util.hpp"
#include "rz/error.hpp"
#include "rz/stems/manifest.hpp"
#include "rz/stems/stem_dir.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using rz::cli_test::check_refusal;
using rz::cli_test::in_dir;
using rz::cli_test::list_dir;
using rz::cli_test::run;
using rz::cli_test::snapshot;
using rz::cli_test::temp_entries;
using Names = std::vector<std::string>;

namespace {

constexpr int kRate = 44100;

// A recording rz-ingest accepts: 2 s of a 440 Hz sine at -6 dBFS, stereo float32.
void write_good_wav(const fs::path& path) {
  rz::test::write_wav(path, rz::test::sine(440, 0.5, kRate, 2 * kRate, 2), kRate, 2);
}

// A valid stem directory with stems "a" and "b" (1.5 s stereo), for the rz-mix/master/metrics
// cases.
void write_two_stems(const fs::path& dir) {
  const int64_t frames = kRate * 3 / 2;
  rz::cli_test::write_stem_dir(dir,
                               {{"a", rz::test::sine(440, 0.3, kRate, frames, 2)},
                                {"b", rz::test::white_noise(0.05, frames, 2, 7)}},
                               kRate, 2);
}

struct BadRecording {
  const char* label;
  const char* file;                           // name of the input inside the test's directory
  const char* reason;                         // words the one-line message must contain
  std::function<void(const fs::path&)> make;  // creates the input (nothing for "missing")
};

std::vector<float> with_sample(std::vector<float> x, size_t index, float value) {
  x.at(index) = value;
  return x;
}

std::vector<BadRecording> bad_recordings() {
  const int64_t two_s = 2 * kRate;
  return {
      {"missing file", "missing.wav", "no such file", [](const fs::path&) {}},
      {"a directory", "folder.wav", "directory",
       [](const fs::path& p) { fs::create_directory(p); }},
      {"zero bytes", "empty.wav", "empty",
       [](const fs::path& p) { rz::cli_test::write_text(p, ""); }},
      {"truncated WAV: header promises more data than present", "truncated.wav", "truncated",
       [two_s](const fs::path& p) {
         rz::test::write_wav(p, rz::test::sine(440, 0.5, kRate, two_s, 1), kRate, 1, 16);
         fs::resize_file(p, fs::file_size(p) * 3 / 5);  // the data chunk still claims 2 s
       }},
      {"truncated WAV: cut inside the header", "header-cut.wav", "cannot decode",
       [two_s](const fs::path& p) {
         rz::test::write_wav(p, rz::test::sine(440, 0.5, kRate, two_s, 1), kRate, 1, 16);
         fs::resize_file(p, 30);  // inside the fmt chunk
       }},
      {"random bytes named .wav", "random.wav", "cannot decode",
       [](const fs::path& p) {
         std::mt19937 rng(1234);
         std::string bytes(8192, '\0');
         for (auto& c : bytes) c = static_cast<char>(rng() & 0xFF);
         rz::cli_test::write_text(p, bytes);
       }},
      {"a text file", "notes.wav", "cannot decode",
       [](const fs::path& p) {
         std::string text;
         for (int i = 0; i < 200; ++i) text += "This is a set list, not a recording.\n";
         rz::cli_test::write_text(p, text);
       }},
      {"a NaN sample (float WAV)", "nan.wav", "non-finite",
       [two_s](const fs::path& p) {
         rz::test::write_wav(p,
                             with_sample(rz::test::sine(440, 0.5, kRate, two_s, 1), kRate,
                                         std::numeric_limits<float>::quiet_NaN()),
                             kRate, 1);
       }},
      {"an Inf sample (float WAV)", "inf.wav", "non-finite",
       [two_s](const fs::path& p) {
         rz::test::write_wav(p,
                             with_sample(rz::test::sine(440, 0.5, kRate, two_s, 1), 1000,
                                         -std::numeric_limits<float>::infinity()),
                             kRate, 1);
       }},
      {"digital silence", "zeros.wav", "silent",
       [two_s](const fs::path& p) {
         rz::test::write_wav(p, std::vector<float>(two_s * 2, 0.0f), kRate, 2);
       }},
      {"silence at -100 dBFS", "hiss.wav", "silent",
       [two_s](const fs::path& p) {
         // Peak 1e-5 = -100 dBFS, under rz-ingest's -90 dBFS silence threshold.
         rz::test::write_wav(p, rz::test::sine(440, 1e-5, kRate, two_s, 2), kRate, 2);
       }},
      {"0.2 s of audio", "blip.wav", "too short",
       [](const fs::path& p) {
         rz::test::write_wav(p, rz::test::sine(440, 0.5, kRate, kRate / 5, 2), kRate, 2);
       }},
  };
}

}  // namespace

TEST_CASE("rz-ingest refuses bad recordings and leaves nothing behind", "[cli]") {
  for (const auto& bad : bad_recordings()) {
    DYNAMIC_SECTION(bad.label) {
      rz::test::TempDir tmp;
      const fs::path input = tmp / bad.file;
      bad.make(input);
      const auto before_listing = list_dir(tmp.path());
      const auto before = snapshot(input);

      // Default output beside the input ("<name>.ingest").
      const auto r = run("rz-ingest", {bad.file}, in_dir(tmp.path()));
      check_refusal(r, "rz-ingest", rz::kExitFailure);
      CHECK(r.err.find(std::string("'") + bad.file + "'") != std::string::npos);  // names the input
      CHECK(r.err.find(bad.reason) != std::string::npos);
      CHECK(list_dir(tmp.path()) == before_listing);
      CHECK(snapshot(input) == before);

      // Explicit -o into an empty directory, with --json: still nothing on stdout, nothing made.
      fs::create_directory(tmp / "out");
      const auto rj =
          run("rz-ingest", {"--json", "-o", (tmp / "out" / "gig.ingest").string(), input.string()});
      check_refusal(rj, "rz-ingest", rz::kExitFailure);
      CHECK(list_dir(tmp / "out").empty());
      CHECK(snapshot(input) == before);
    }
  }
}

TEST_CASE("rz-ingest refuses an output location it cannot create", "[cli]") {
  rz::test::TempDir tmp;
  write_good_wav(tmp / "gig.wav");
  rz::cli_test::write_text(tmp / "notes.txt", "a regular file\n");
  const auto input_before = snapshot(tmp / "gig.wav");
  const auto listing = list_dir(tmp.path());

  SECTION("under a regular file") {
    const auto r = run("rz-ingest", {"gig.wav", "-o", "notes.txt/gig.ingest"}, in_dir(tmp.path()));
    check_refusal(r, "rz-ingest", rz::kExitFailure);
    CHECK(rz::cli_test::read_text(tmp / "notes.txt") == "a regular file\n");
  }
  SECTION("under a missing parent") {
    const auto r =
        run("rz-ingest", {"gig.wav", "-o", "no/such/parent/gig.ingest"}, in_dir(tmp.path()));
    check_refusal(r, "rz-ingest", rz::kExitFailure);
    CHECK_FALSE(fs::exists(tmp / "no"));
  }
  SECTION("in /proc (refused even to root)") {
    const fs::path out = "/proc/rz-cli-test-gig.ingest";
    const auto r = run("rz-ingest", {"gig.wav", "-o", out.string()}, in_dir(tmp.path()));
    check_refusal(r, "rz-ingest", rz::kExitFailure);
    CHECK_FALSE(fs::exists(out));
    CHECK(temp_entries("/proc").empty());
  }
  SECTION("in a read-only directory") {
    fs::create_directory(tmp / "ro");
    fs::permissions(tmp / "ro", fs::perms::owner_read | fs::perms::owner_exec |
                                    fs::perms::group_read | fs::perms::group_exec |
                                    fs::perms::others_read | fs::perms::others_exec);
    if (geteuid() == 0) {
      WARN(
          "running as root, which ignores directory permissions: the 0555 case is not checked "
          "(the regular-file, missing-parent and /proc cases cover unwritable outputs)");
    } else {
      const auto r = run("rz-ingest", {"gig.wav", "-o", "ro/gig.ingest"}, in_dir(tmp.path()));
      check_refusal(r, "rz-ingest", rz::kExitFailure);
      CHECK(list_dir(tmp / "ro").empty());
    }
    fs::permissions(tmp / "ro", fs::perms::owner_all, fs::perm_options::add);
    fs::remove(tmp / "ro");
  }
  CHECK(list_dir(tmp.path()) == listing);
  CHECK(snapshot(tmp / "gig.wav") == input_before);
}

TEST_CASE("rz-mix and rz-master refuse an output location they cannot create", "[cli]") {
  rz::test::TempDir tmp;
  write_two_stems(tmp / "song");
  rz::cli_test::write_text(tmp / "notes.txt", "a regular file\n");
  const auto dir_before = snapshot(tmp / "song");
  const auto listing = list_dir(tmp.path());

  check_refusal(run("rz-mix", {"song", "-o", "notes.txt/song.mix"}, in_dir(tmp.path())), "rz-mix",
                rz::kExitFailure);
  check_refusal(run("rz-mix", {"song", "-o", "/proc/rz-cli-test.mix"}, in_dir(tmp.path())),
                "rz-mix", rz::kExitFailure);
  check_refusal(run("rz-master", {"song", "-o", "notes.txt/song.flac"}, in_dir(tmp.path())),
                "rz-master", rz::kExitFailure);
  check_refusal(run("rz-master", {"song", "-o", "missing/song.flac"}, in_dir(tmp.path())),
                "rz-master", rz::kExitFailure);
  check_refusal(run("rz-master", {"song", "-o", "/proc/rz-cli-test.flac"}, in_dir(tmp.path())),
                "rz-master", rz::kExitFailure);
  CHECK_FALSE(fs::exists("/proc/rz-cli-test.flac.json"));
  CHECK(list_dir(tmp.path()) == listing);
  CHECK(snapshot(tmp / "song") == dir_before);
  CHECK(rz::cli_test::read_text(tmp / "notes.txt") == "a regular file\n");
}

TEST_CASE("an existing output is refused without --force and replaced with it", "[cli]") {
  rz::test::TempDir tmp;
  write_good_wav(tmp / "gig.wav");

  SECTION("rz-ingest over an earlier stem directory") {
    const auto first = run("rz-ingest", {"gig.wav"}, in_dir(tmp.path()));
    REQUIRE(first.exit_code == 0);
    const auto old = snapshot(tmp / "gig.ingest");
    const auto r = run("rz-ingest", {"gig.wav"}, in_dir(tmp.path()));
    check_refusal(r, "rz-ingest", rz::kExitFailure);
    CHECK(snapshot(tmp / "gig.ingest") == old);
    CHECK(list_dir(tmp.path()) == Names{"gig.ingest", "gig.wav"});

    const auto f = run("rz-ingest", {"--force", "gig.wav"}, in_dir(tmp.path()));
    INFO(f.describe());
    REQUIRE(f.exit_code == 0);
    CHECK(f.out == "gig.ingest\n");
    CHECK(list_dir(tmp / "gig.ingest") == Names{"manifest.json", "mix.wav"});
    CHECK(list_dir(tmp.path()) == Names{"gig.ingest", "gig.wav"});  // no aside or temp copy
  }
  SECTION("--force never replaces a directory that is not a stem directory") {
    // `rz-mix gig.ingest -o mythesis -f` must not delete someone's folder: only a directory that
    // holds an rz manifest may be replaced.
    fs::create_directory(tmp / "gig.ingest");
    rz::cli_test::write_text(tmp / "gig.ingest" / "keep.txt", "earlier work\n");
    const auto old = snapshot(tmp / "gig.ingest");
    for (const bool force : {false, true}) {
      std::vector<std::string> args = {"gig.wav"};
      if (force) args.push_back("--force");
      const auto r = run("rz-ingest", args, in_dir(tmp.path()));
      INFO(r.describe());
      check_refusal(r, "rz-ingest", rz::kExitFailure);
      if (force) CHECK(r.err.find("not a stem directory") != std::string::npos);
      CHECK(snapshot(tmp / "gig.ingest") == old);
      CHECK(list_dir(tmp.path()) == Names{"gig.ingest", "gig.wav"});
    }
  }
  SECTION("rz-master (audio file and sidecar)") {
    write_two_stems(tmp / "song");
    rz::cli_test::write_text(tmp / "out.flac", "an earlier master\n");
    const auto r = run("rz-master", {"song", "-o", "out.flac"}, in_dir(tmp.path()));
    check_refusal(r, "rz-master", rz::kExitFailure);
    CHECK(rz::cli_test::read_text(tmp / "out.flac") == "an earlier master\n");
    CHECK(list_dir(tmp.path()) == Names{"gig.wav", "out.flac", "song"});

    const auto f = run("rz-master", {"song", "-o", "out.flac", "-f"}, in_dir(tmp.path()));
    INFO(f.describe());
    REQUIRE(f.exit_code == 0);
    CHECK(f.out == "out.flac\n");
    CHECK(rz::cli_test::read_text(tmp / "out.flac").rfind("fLaC", 0) == 0);
    CHECK(list_dir(tmp.path()) == Names{"gig.wav", "out.flac", "out.flac.json", "song"});
  }
}

// Issue 15: `rz-separate -f` over an existing output crashed (SIGSEGV in
// std::filesystem::remove_all bound into a pip libtorch). Every tool that writes replaces an
// earlier output of its own with -f: the new output is complete (its manifest verifies), nothing of
// the old one is left (a stray file in it is gone), and no temporary or aside copy remains. The
// sanitizer job runs this too. rz-metrics writes nothing and is left out.
TEST_CASE("every tool replaces an earlier output of its own with -f", "[cli]") {
  rz::test::TempDir tmp;
  const std::string tiny = rz::cli_test::shared("demucs/models/tiny4000-0421bf8f.th");
  write_good_wav(tmp / "gig.wav");
  struct Step {
    const char* tool;
    std::vector<std::string> args;  // without -o
    const char* out;
  };
  const std::vector<Step> steps = {
      {"rz-ingest", {"gig.wav"}, "gig.ingest"},
      {"rz-separate",
       {"gig.ingest", "--model", tiny, "--shifts", "0", "-d", "cpu", "--no-cache"},
       "gig.sep"},
      {"rz-enhance", {"gig.sep"}, "gig.enh"},
      {"rz-restore", {"gig.sep"}, "gig.rest"},
      {"rz-dereverb", {"gig.sep"}, "gig.der"},
      {"rz-mix", {"gig.sep"}, "gig.mix"},
      {"rz-master", {"gig.mix"}, "gig.flac"},
  };
  for (const auto& step : steps) {
    std::vector<std::string> args = step.args;
    args.insert(args.end(), {"-o", step.out});
    rz::cli_test::run_ok(step.tool, args, in_dir(tmp.path()));
    const fs::path out = tmp / step.out;
    const bool is_dir = fs::is_directory(out);
    if (is_dir) rz::cli_test::write_text(out / "earlier.txt", "left by the earlier run\n");
    args.push_back("-f");
    const auto r = run(step.tool, args, in_dir(tmp.path()));
    INFO(step.tool << ": " << r.describe());
    REQUIRE(r.exit_code == 0);
    CHECK(r.out == std::string(step.out) + "\n");
    if (is_dir) {
      CHECK_FALSE(fs::exists(out / "earlier.txt"));
      CHECK_NOTHROW(rz::stems::StemDir::open(out, rz::stems::Verify::kHashes));
    } else {
      CHECK(rz::cli_test::read_text(out).rfind("fLaC", 0) == 0);
    }
    CHECK(temp_entries(tmp.path()).empty());
  }
}

TEST_CASE("rz-master fails cleanly when its target cannot be reached", "[cli]") {
  rz::test::TempDir tmp;
  write_two_stems(tmp / "song");
  rz::cli_test::write_stem_dir(tmp / "silent", {{"mix", std::vector<float>(kRate * 4, 0.0f)}},
                               kRate, 2);
  const auto listing = list_dir(tmp.path());

  SECTION("silent input") {
    const auto r = run("rz-master", {"silent", "-o", "out.flac"}, in_dir(tmp.path()));
    check_refusal(r, "rz-master", rz::kExitFailure);
    CHECK(r.err.find("silent") != std::string::npos);
    CHECK(list_dir(tmp.path()) == listing);
  }
  SECTION("0 LUFS under a -20 dBTP ceiling (no signal can have both)") {
    const auto r = run("rz-master", {"song", "-o", "out.flac", "--target", "0", "--ceiling", "-20"},
                       in_dir(tmp.path()));
    check_refusal(r, "rz-master", rz::kExitFailure);
    CHECK(list_dir(tmp.path()) == listing);
  }
  SECTION("the same with --force over an earlier master: the earlier one stays") {
    rz::cli_test::write_text(tmp / "out.flac", "an earlier master\n");
    rz::cli_test::write_text(tmp / "out.flac.json", "{}\n");
    const auto r =
        run("rz-master", {"song", "-o", "out.flac", "-f", "--target", "0", "--ceiling", "-20"},
            in_dir(tmp.path()));
    check_refusal(r, "rz-master", rz::kExitFailure);
    CHECK(rz::cli_test::read_text(tmp / "out.flac") == "an earlier master\n");
    CHECK(rz::cli_test::read_text(tmp / "out.flac.json") == "{}\n");
    CHECK(temp_entries(tmp.path()).empty());
  }
}

namespace {

// Runs rz-mix, rz-master and rz-metrics on the broken stem directory `dir` (inside `tmp`) and
// checks that each refuses with exit 1, leaves nothing beside it and does not touch it.
void check_every_reader_refuses(const fs::path& tmp, const std::string& dir,
                                const std::string& reason) {
  const auto listing = list_dir(tmp);
  const auto before = snapshot(tmp / dir);
  struct Call {
    const char* tool;
    std::vector<std::string> args;
  };
  const std::vector<Call> calls = {{"rz-mix", {dir}},     {"rz-mix", {dir, "-o", "out.mix"}},
                                   {"rz-master", {dir}},  {"rz-master", {dir, "-o", "out.flac"}},
                                   {"rz-metrics", {dir}}, {"rz-metrics", {"--json", dir}}};
  for (const auto& c : calls) {
    const auto r = run(c.tool, c.args, in_dir(tmp));
    INFO(c.tool << " " << c.args.back() << "\n" << r.describe());
    check_refusal(r, c.tool, rz::kExitFailure);
    CHECK(r.err.find(reason) != std::string::npos);
    CHECK(list_dir(tmp) == listing);
    CHECK(snapshot(tmp / dir) == before);
  }
}

}  // namespace

TEST_CASE("a manifest that is not valid JSON is refused", "[cli]") {
  rz::test::TempDir tmp;
  write_two_stems(tmp / "song");
  rz::cli_test::write_text(tmp / "song" / rz::stems::kManifestFile,
                           "{\"schema\": \"rz-manifest\", \"stems\": [");
  check_every_reader_refuses(tmp.path(), "song", "manifest");
}

TEST_CASE("a manifest naming a missing stem is refused", "[cli]") {
  rz::test::TempDir tmp;
  write_two_stems(tmp / "song");
  fs::remove(tmp / "song" / "b.wav");
  check_every_reader_refuses(tmp.path(), "song", "b.wav");
}

TEST_CASE("a stem whose sample rate disagrees with the manifest is refused", "[cli]") {
  rz::test::TempDir tmp;
  write_two_stems(tmp / "song");
  // Same samples, same length and size, but a 48 kHz header; bytes and hash updated so that the
  // rate is the only disagreement.
  const auto a = rz::test::read_all(tmp / "song" / "a.wav");
  rz::test::write_wav(tmp / "song" / "a.wav", a, 48000, 2);
  rz::cli_test::refresh_manifest_hashes(tmp / "song");
  check_every_reader_refuses(tmp.path(), "song", "48000 Hz");
}

TEST_CASE("rz-mix, rz-master and rz-metrics with --verify refuse a stem that fails its SHA-256",
          "[cli]") {
  rz::test::TempDir tmp;
  write_two_stems(tmp / "song");
  // Flip one bit of a sample near the end of a.wav: size, rate and length still agree.
  {
    std::fstream f(tmp / "song" / "a.wav", std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(-16, std::ios::end);
    char byte = 0;
    f.get(byte);
    f.seekp(-16, std::ios::end);
    f.put(static_cast<char>(byte ^ 1));
  }
  // Without --verify the header checks pass (hashing every input is opt-in: it costs a read).
  CHECK(run("rz-metrics", {"song"}, in_dir(tmp.path())).exit_code == 0);
  const auto listing = list_dir(tmp.path());
  for (const std::string tool : {"rz-mix", "rz-master", "rz-metrics"}) {
    const auto r = run(tool, {"--verify", "song"}, in_dir(tmp.path()));
    INFO(r.describe());
    check_refusal(r, tool, rz::kExitFailure);
    CHECK(r.err.find("SHA-256") != std::string::npos);
    CHECK(list_dir(tmp.path()) == listing);
  }
}

TEST_CASE("usage errors exit 2 and create nothing", "[cli]") {
  rz::test::TempDir tmp;
  write_good_wav(tmp / "gig.wav");
  write_two_stems(tmp / "song");
  rz::cli_test::write_text(tmp / "broken.json", "{\"stems\": {\"a\": ");
  const auto listing = list_dir(tmp.path());
  const auto song = snapshot(tmp / "song");
  struct Call {
    const char* label;
    const char* tool;
    std::vector<std::string> args;
  };
  const std::vector<Call> calls = {
      {"unknown flag", "rz-ingest", {"--no-such-flag", "gig.wav"}},
      {"unknown flag", "rz-mix", {"--no-such-flag", "song"}},
      {"unknown flag", "rz-master", {"song", "-o", "out.flac", "--no-such-flag"}},
      {"unknown flag", "rz-metrics", {"song", "--no-such-flag"}},
      {"--require without operator", "rz-metrics", {"song", "--require", "integrated_lufs"}},
      {"--require with a bad number", "rz-metrics", {"song", "--require", "integrated_lufs>=loud"}},
      {"--require with a bad operator",
       "rz-metrics",
       {"song", "--require", "integrated_lufs=>-14"}},
      {"--bits 12", "rz-master", {"song", "-o", "out.flac", "--bits", "12"}},
      {"--gain for an unknown stem", "rz-mix", {"song", "--gain", "vocals=-6"}},
      {"--gain without a number", "rz-mix", {"song", "--gain", "a=loud"}},
      {"--solo for an unknown stem", "rz-mix", {"song", "--solo", "vocals"}},
      {"--stem for an unknown stem", "rz-master", {"song", "-o", "out.flac", "--stem", "vocals"}},
      {"--settings that is not JSON", "rz-mix", {"song", "--settings", "broken.json"}},
      {"--target out of range", "rz-master", {"song", "-o", "out.flac", "--target", "+5"}},
      {"--preview shorter than a second", "rz-ingest", {"--preview", "0.5", "gig.wav"}},
      {"no input at all", "rz-mix", {}},
  };
  for (const auto& c : calls) {
    const auto r = run(c.tool, c.args, in_dir(tmp.path()));
    INFO(c.label << ": " << c.tool << "\n" << r.describe());
    check_refusal(r, c.tool, rz::kExitUsage);
    CHECK(list_dir(tmp.path()) == listing);
  }
  CHECK(snapshot(tmp / "song") == song);
}

TEST_CASE("an interrupted run exits 130 and leaves nothing", "[cli]") {
  // A recording long enough (60 s at 48 kHz: resampled) that the signal lands mid-run.
  constexpr int kLongRate = 48000;
  constexpr double kSignalAfterS = 0.3;
  rz::test::TempDir tmp;
  rz::test::write_wav(tmp / "long.wav", rz::test::white_noise(0.1, 60 * kLongRate, 2, 5), kLongRate,
                      2);
  const auto listing = list_dir(tmp.path());
  const std::string tool = rz::cli_test::tool_path("rz-ingest").string();
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (chdir(tmp.path().c_str()) != 0) _exit(127);
    const int devnull = open("/dev/null", O_RDWR);
    dup2(devnull, 0);
    dup2(devnull, 1);
    dup2(devnull, 2);
    execl(tool.c_str(), tool.c_str(), "long.wav", static_cast<char*>(nullptr));
    _exit(127);
  }
  usleep(static_cast<useconds_t>(kSignalAfterS * 1e6));
  kill(pid, SIGINT);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == rz::kExitInterrupted);
  CHECK(list_dir(tmp.path()) == listing);
}
