// Hostile input against every stem-directory tool: each case is refused with one stderr line and a
// documented exit status, within seconds (nothing blocks on a FIFO or reads a device), and leaves
// no output, no temporary and the input byte for byte as it was.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <functional>
#include <limits>

#include "cli_util.hpp"
#include "rz/audio/decode.hpp"
#include "rz/error.hpp"
#include "rz/stems/manifest.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using rz::cli_test::check_refusal;
using rz::cli_test::in_dir;
using rz::cli_test::read_json;
using rz::cli_test::RunOptions;
using rz::cli_test::snapshot;
using rz::cli_test::write_text;

namespace {

constexpr int kRate = 44100;
constexpr int64_t kFrames = kRate * 3 / 2;
// A refusal takes milliseconds; a tool that blocks on a FIFO or reads /dev/zero would run into
// this limit and be killed (exit 137), failing the exit-status check.
constexpr double kRefuseWithinS = 30;

// The input every case starts from: stem directory "in" with stems "a" and "b", stereo.
void write_good_input(const fs::path& tmp) {
  rz::cli_test::write_stem_dir(tmp / "in",
                               {{"a", rz::test::sine(440, 0.3, kRate, kFrames, 2)},
                                {"b", rz::test::white_noise(0.05, kFrames, 2, 7)}},
                               kRate, 2);
}

json manifest(const fs::path& tmp) { return read_json(tmp / "in" / rz::stems::kManifestFile); }
void put_manifest(const fs::path& tmp, const json& m) {
  write_text(tmp / "in" / rz::stems::kManifestFile, m.dump(2) + "\n");
}
void put_manifest_text(const fs::path& tmp, const std::string& text) {
  write_text(tmp / "in" / rz::stems::kManifestFile, text);
}
// The manifest with one field changed by `edit`.
void edit_manifest(const fs::path& tmp, const std::function<void(json&)>& edit) {
  json m = manifest(tmp);
  edit(m);
  put_manifest(tmp, m);
}
// The manifest text with the first occurrence of `from` replaced by `to` (for numbers and
// documents nlohmann cannot build).
void replace_in_manifest(const fs::path& tmp, const std::string& from, const std::string& to) {
  std::string text = rz::cli_test::read_text(tmp / "in" / rz::stems::kManifestFile);
  const size_t at = text.find(from);
  REQUIRE(at != std::string::npos);
  text.replace(at, from.size(), to);
  put_manifest_text(tmp, text);
}
std::string nested(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

using Args = std::function<std::vector<std::string>(const std::string& out)>;

struct Hostile {
  Hostile(std::string label_, std::string reason_, int exit_code_,
          std::function<void(const fs::path&)> make_ = {})
      : label(std::move(label_)),
        reason(std::move(reason_)),
        exit_code(exit_code_),
        make(std::move(make_)) {}
  // Runs the tool with these arguments instead of "in -o OUT" (OUT: its usual output).
  Hostile with_args(Args a) && {
    args = std::move(a);
    return std::move(*this);
  }
  // Feeds `text` on stdin and gives no positional input.
  Hostile on_stdin(std::string text) && {
    stdin_text = std::move(text);
    args = [](const std::string&) { return std::vector<std::string>{}; };
    return std::move(*this);
  }
  // A case about the output: not for rz-metrics, which writes none.
  Hostile for_writers() && {
    writers_only = true;
    return std::move(*this);
  }

  std::string label;
  std::string reason;  // words the one-line message must contain ('|' separates alternatives)
  int exit_code;
  std::function<void(const fs::path&)> make;  // turns the good input into the hostile one
  Args args;
  std::optional<std::string> stdin_text;
  bool writers_only = false;
};

std::vector<Hostile> stem_dir_cases() {
  const int kFail = rz::kExitFailure, kUsage = rz::kExitUsage;
  auto stem_field = [](const char* key, json value) {
    return [key, value](const fs::path& tmp) {
      edit_manifest(tmp, [&](json& m) { m["stems"][0][key] = value; });
    };
  };
  std::vector<Hostile> cases = {
      // The directory and its manifest file.
      // rz-metrics also measures plain audio files: it says "no such file" / "cannot decode".
      {"no such directory", "no such", kFail,
       [](const fs::path& tmp) { fs::remove_all(tmp / "in"); }},
      {"a file where the directory should be", "is a file|cannot decode", kFail,
       [](const fs::path& tmp) {
         fs::remove_all(tmp / "in");
         write_text(tmp / "in", "not a directory\n");
       }},
      {"no manifest.json", "no manifest.json", kFail,
       [](const fs::path& tmp) { fs::remove(tmp / "in" / "manifest.json"); }},
      {"manifest.json is a directory", "is a directory", kFail,
       [](const fs::path& tmp) {
         fs::remove(tmp / "in" / "manifest.json");
         fs::create_directory(tmp / "in" / "manifest.json");
       }},
      {"manifest.json is a FIFO (must not block)", "FIFO", kFail,
       [](const fs::path& tmp) {
         fs::remove(tmp / "in" / "manifest.json");
         REQUIRE(mkfifo((tmp / "in" / "manifest.json").c_str(), 0644) == 0);
       }},
      {"manifest.json links to /dev/zero (must not read forever)", "device", kFail,
       [](const fs::path& tmp) {
         fs::remove(tmp / "in" / "manifest.json");
         fs::create_symlink("/dev/zero", tmp / "in" / "manifest.json");
       }},
      {"manifest.json of 65 MiB", "larger than", kFail,
       [](const fs::path& tmp) {
         fs::resize_file(tmp / "in" / "manifest.json", size_t{65} << 20);  // sparse: cheap
       }},
      {"manifest.json is empty", "bad JSON", kFail,
       [](const fs::path& tmp) { put_manifest_text(tmp, ""); }},
      {"manifest.json is not JSON", "bad JSON", kFail,
       [](const fs::path& tmp) {
         put_manifest_text(tmp, "{\"schema\": \"rz-manifest\", \"stems\": [");
       }},
      {"text after the JSON document", "bad JSON", kFail,
       [](const fs::path& tmp) {
         put_manifest_text(tmp, manifest(tmp).dump(2) + "\n{\"second\": \"document\"}\n");
       }},
      {"a member nested 100000 levels deep", "nested deeper", kFail,
       [](const fs::path& tmp) {
         std::string text = manifest(tmp).dump();
         text.insert(1, "\"x\": " + nested(100000) + ", ");
         put_manifest_text(tmp, text);
       }},
      {"history nested 1000000 levels deep", "nested deeper", kFail,
       [](const fs::path& tmp) {
         replace_in_manifest(tmp, "\"history\": []", "\"history\": " + nested(1000000));
       }},
      {"history nested 30000 levels deep (62 kB; dump(2) would write 1.8 GB)", "nested deeper",
       kFail,
       [](const fs::path& tmp) {
         replace_in_manifest(tmp, "\"history\": []", "\"history\": [" + nested(30000) + "]");
       }},
      {"a number that overflows a double", "bad JSON", kFail,
       [](const fs::path& tmp) {
         replace_in_manifest(tmp, "\"frames\": ", "\"x\": 1e400, \"frames\": ");
       }},
      {"invalid UTF-8 in a string", "bad JSON", kFail,
       [](const fs::path& tmp) {
         replace_in_manifest(tmp, "\"source\": {}", "\"source\": \"\xff\xfe\"");
       }},
      // Fields.
      {"schema is not rz-manifest", "schema", kFail,
       [](const fs::path& tmp) { edit_manifest(tmp, [](json& m) { m["schema"] = "other"; }); }},
      {"schema_version 2", "schema_version 2", kFail,
       [](const fs::path& tmp) { edit_manifest(tmp, [](json& m) { m["schema_version"] = 2; }); }},
      {"sample_rate_hz 2^32 + 44100 (would narrow to 44100)", "out of range", kFail,
       [](const fs::path& tmp) {
         edit_manifest(tmp, [](json& m) { m["sample_rate_hz"] = (uint64_t{1} << 32) + kRate; });
       }},
      {"sample_rate_hz 1 Hz", "outside", kFail,
       [](const fs::path& tmp) { edit_manifest(tmp, [](json& m) { m["sample_rate_hz"] = 1; }); }},
      {"sample_rate_hz as a string", "wrong type", kFail,
       [](const fs::path& tmp) {
         edit_manifest(tmp, [](json& m) { m["sample_rate_hz"] = "44100"; });
       }},
      {"channels 0", "non-positive", kFail,
       [](const fs::path& tmp) { edit_manifest(tmp, [](json& m) { m["channels"] = 0; }); }},
      {"channels 65535", "channels", kFail,
       [](const fs::path& tmp) { edit_manifest(tmp, [](json& m) { m["channels"] = 65535; }); }},
      {"frames -1", "non-positive", kFail,
       [](const fs::path& tmp) { edit_manifest(tmp, [](json& m) { m["frames"] = -1; }); }},
      {"stems[].bytes 2^64 (beyond uint64)", "out of range", kFail,
       [](const fs::path& tmp) {
         edit_manifest(tmp, [](json& m) { m["stems"][0]["bytes"] = 123456789; });
         replace_in_manifest(tmp, "123456789", "18446744073709551616");
       }},
      {"stems[].frames 1.5", "out of range", kFail, stem_field("frames", 1.5)},
      {"no stems", "no stems", kFail,
       [](const fs::path& tmp) {
         edit_manifest(tmp, [](json& m) { m["stems"] = json::array(); });
       }},
      {"stems is an object", "no stems", kFail,
       [](const fs::path& tmp) {
         edit_manifest(tmp, [](json& m) { m["stems"] = json::object(); });
       }},
      {"a stem that is a number", "not an object", kFail,
       [](const fs::path& tmp) { edit_manifest(tmp, [](json& m) { m["stems"][1] = 5; }); }},
      // Names and files that would lead elsewhere.
      {"stem name '/some/victim.txt\\0' (absolute, NUL drops '.wav')", "stem name", kFail,
       stem_field("name", std::string("/some/victim.txt") + std::string(1, '\0'))},
      {"stem name '../../escaped'", "stem name", kFail, stem_field("name", "../../escaped")},
      {"empty stem name", "stem name", kFail, stem_field("name", "")},
      {"stem name with a newline", "stem name", kFail, stem_field("name", "a\nb")},
      {"stem name starting with '-'", "stem name", kFail, stem_field("name", "-rf")},
      {"stem name of 200 characters", "stem name", kFail,
       stem_field("name", std::string(200, 'a'))},
      {"the same stem name twice", "twice", kFail,
       [](const fs::path& tmp) {
         edit_manifest(tmp, [](json& m) { m["stems"][1]["name"] = "a"; });
       }},
      {"file '../a.wav'", "bad file name", kFail, stem_field("file", "../a.wav")},
      {"file '/etc/passwd'", "bad file name", kFail, stem_field("file", "/etc/passwd")},
      {"hidden file '.a.wav'", "bad file name", kFail, stem_field("file", ".a.wav")},
      {"two stems share one file", "share", kFail,
       [](const fs::path& tmp) {
         edit_manifest(tmp, [](json& m) { m["stems"][1]["file"] = "a.wav"; });
       }},
      // Stem files.
      {"a stem file that is a symlink out of the directory", "leads out", kFail,
       [](const fs::path& tmp) {
         fs::rename(tmp / "in" / "a.wav", tmp / "outside.wav");
         fs::create_symlink("../outside.wav", tmp / "in" / "a.wav");
       }},
      {"a stem file that is a FIFO (must not block)", "FIFO", kFail,
       [](const fs::path& tmp) {
         fs::remove(tmp / "in" / "a.wav");
         REQUIRE(mkfifo((tmp / "in" / "a.wav").c_str(), 0644) == 0);
       }},
      {"a stem file that is a directory", "is a directory", kFail,
       [](const fs::path& tmp) {
         fs::remove(tmp / "in" / "a.wav");
         fs::create_directory(tmp / "in" / "a.wav");
       }},
      {"a missing stem file", "missing stem", kFail,
       [](const fs::path& tmp) { fs::remove(tmp / "in" / "a.wav"); }},
      {"a stem file shorter than the manifest says", "does not match", kFail,
       [](const fs::path& tmp) {
         fs::resize_file(tmp / "in" / "a.wav", fs::file_size(tmp / "in" / "a.wav") / 2);
       }},
      {"a stem WAV whose header declares 1000 channels", "channels", kFail,
       [](const fs::path& tmp) {
         std::string wav = rz::cli_test::read_text(tmp / "in" / "a.wav");
         const size_t fmt = wav.find("fmt ");
         REQUIRE(fmt != std::string::npos);
         wav[fmt + 10] = static_cast<char>(1000 & 0xff);  // channels: 2 bytes into the chunk
         wav[fmt + 11] = static_cast<char>(1000 >> 8);
         write_text(tmp / "in" / "a.wav", wav);
         rz::cli_test::refresh_manifest_hashes(tmp / "in");
       }},
      {"a NaN sample", "NaN", kFail,
       [](const fs::path& tmp) {
         auto x = rz::test::sine(440, 0.3, kRate, kFrames, 2);
         x[1000] = std::numeric_limits<float>::quiet_NaN();
         rz::test::write_wav(tmp / "in" / "a.wav", x, kRate, 2);
         rz::cli_test::refresh_manifest_hashes(tmp / "in");
       }},
      {"an infinite sample", "infinity", kFail,
       [](const fs::path& tmp) {
         auto x = rz::test::sine(440, 0.3, kRate, kFrames, 2);
         x[kFrames] = -std::numeric_limits<float>::infinity();
         rz::test::write_wav(tmp / "in" / "a.wav", x, kRate, 2);
         rz::cli_test::refresh_manifest_hashes(tmp / "in");
       }},
      // The input on stdin.
      Hostile("stdin: a JSON record whose outputs are not paths", "not a path", kUsage)
          .on_stdin("{\"outputs\": [1, 2]}\n"),
      Hostile("stdin: a JSON record nested 100000 levels deep", "nested deeper", kUsage)
          .on_stdin("{\"output\": " + nested(100000) + "}\n"),
      // The output.
      Hostile("--force over a directory that is not a stem directory", "not a stem directory",
              kFail,
              [](const fs::path& tmp) {
                fs::create_directory(tmp / "thesis.flac");
                write_text(tmp / "thesis.flac" / "chapter1.tex", "years of work\n");
              })
          .with_args([](const std::string&) {
            return std::vector<std::string>{"in", "-o", "thesis.flac", "-f"};
          })
          .for_writers(),
      Hostile("-o inside the input", "inside the input", kUsage)
          .with_args([](const std::string& out) {
            return std::vector<std::string>{"in", "-o", "in/" + out};
          })
          .for_writers(),
      Hostile("-o is the input, with --force", "the input", kUsage)
          .with_args([](const std::string&) {
            return std::vector<std::string>{"in", "-o", "in", "-f"};
          })
          .for_writers(),
  };
  return cases;
}

struct StemTool {
  const char* name;
  const char* output;  // "" for a tool that writes nothing (rz-metrics)
  std::vector<std::string> extra;
};

// Runs every hostile case against `tool` and checks the refusal contract.
void check_tool_refuses_hostile_input(const StemTool& tool) {
  for (const Hostile& c : stem_dir_cases()) {
    const bool writes = *tool.output != '\0';
    // rz-master writes a file: "--force over a directory" is then refused as "is a directory".
    const bool file_output = std::string(tool.name) == "rz-master";
    if (c.writers_only && !writes) continue;
    DYNAMIC_SECTION(c.label) {
      rz::test::TempDir tmp;
      write_good_input(tmp.path());
      if (c.make) c.make(tmp.path());
      std::vector<std::string> args;
      if (c.args) {
        args = c.args(tool.output);
      } else {
        args = {"in"};
        if (writes) args.insert(args.end(), {"-o", tool.output});
      }
      if (!c.stdin_text && args.empty()) args = {"in"};
      args.insert(args.end(), tool.extra.begin(), tool.extra.end());
      const auto before = snapshot(tmp.path());
      RunOptions options = in_dir(tmp.path(), c.stdin_text);
      options.timeout_s = kRefuseWithinS;
      const auto r = rz::cli_test::run(tool.name, args, options);
      INFO(tool.name << ": " << c.label << "\n" << r.describe());
      check_refusal(r, tool.name, c.exit_code);
      const std::string reasons =
          c.label.rfind("--force over", 0) == 0 && file_output ? "is a directory" : c.reason;
      bool named = false;
      for (size_t a = 0, b; a <= reasons.size(); a = b + 1) {
        b = std::min(reasons.find('|', a), reasons.size());
        named = named || r.err.find(reasons.substr(a, b - a)) != std::string::npos;
      }
      CHECK(named);
      CHECK(r.wall_s < kRefuseWithinS);
      // Nothing made (no output, no temporary), nothing changed, the input included.
      CHECK(snapshot(tmp.path()) == before);
    }
  }
}

}  // namespace

TEST_CASE("hostile input: rz-mix", "[cli][hostile]") {
  check_tool_refuses_hostile_input({"rz-mix", "out.mix", {}});
}
TEST_CASE("hostile input: rz-master", "[cli][hostile]") {
  check_tool_refuses_hostile_input({"rz-master", "out.flac", {}});
}
TEST_CASE("hostile input: rz-metrics", "[cli][hostile]") {
  check_tool_refuses_hostile_input({"rz-metrics", "", {"--json"}});
}
TEST_CASE("hostile input: rz-enhance", "[cli][hostile]") {
  check_tool_refuses_hostile_input({"rz-enhance", "out.enh", {}});
}
TEST_CASE("hostile input: rz-restore", "[cli][hostile]") {
  check_tool_refuses_hostile_input({"rz-restore", "out.rst", {}});
}
TEST_CASE("hostile input: rz-dereverb", "[cli][hostile]") {
  check_tool_refuses_hostile_input({"rz-dereverb", "out.drv", {}});
}
TEST_CASE("hostile input: rz-separate", "[cli][hostile]") {
  const std::string model = rz::cli_test::shared("demucs/models/tiny4000-0421bf8f.th");
  check_tool_refuses_hostile_input(
      {"rz-separate", "out.sep", {"--stem", "a", "--model", model, "--no-cache"}});
}

// ---------------------------------------------------------------------------------------------
// Findings of the hostile review, one regression test each (the checkpoint and cache findings are
// in test_separate.cpp, signals and leftovers in test_faults.cpp).

TEST_CASE(
    "a stem named '/some/victim.txt' and a NUL cannot overwrite a file through a copying stage",
    "[cli][hostile]") {
  // rz-enhance --intensity 0 once copied such a stem to "/some/victim.txt" (the NUL dropped the
  // ".wav"), deleting the file first. Every copying stage refuses the name instead.
  struct Copying {
    const char* tool;
    std::vector<std::string> args;
  };
  const std::vector<Copying> stages = {{"rz-enhance", {"--intensity", "0"}},
                                       {"rz-restore", {"--intensity", "0"}},
                                       {"rz-dereverb", {"--strength", "0"}}};
  for (const auto& stage : stages) {
    DYNAMIC_SECTION(stage.tool) {
      rz::test::TempDir tmp;
      write_good_input(tmp.path());
      write_text(tmp / "victim.txt", "precious\n");
      edit_manifest(tmp.path(), [&](json& m) {
        m["stems"][0]["name"] = (tmp / "victim.txt").string() + std::string(1, '\0');
      });
      const auto before = snapshot(tmp.path());
      std::vector<std::string> args = {"in", "-o", "out"};
      args.insert(args.end(), stage.args.begin(), stage.args.end());
      const auto r = rz::cli_test::run(stage.tool, args, in_dir(tmp.path()));
      check_refusal(r, stage.tool, rz::kExitFailure);
      CHECK(r.err.find("stem name") != std::string::npos);
      CHECK(rz::cli_test::read_text(tmp / "victim.txt") == "precious\n");
      CHECK(snapshot(tmp.path()) == before);
    }
  }
}

TEST_CASE("a recording whose file name is not UTF-8 is ingested", "[cli][hostile]") {
  // File names are bytes; the manifest is UTF-8 JSON. The name once made rz-ingest fail with
  // nlohmann's "type_error.316"; it is now written with U+FFFD in place of the bad bytes.
  rz::test::TempDir tmp;
  const std::string name = "caf\xe9-live.wav";  // Latin-1 e-acute: not UTF-8
  rz::test::write_wav(tmp / name, rz::test::sine(440, 0.5, kRate, 2 * kRate, 2), kRate, 2);
  const auto r =
      rz::cli_test::run("rz-ingest", {name, "-o", "gig.ingest", "--json"}, in_dir(tmp.path()));
  INFO(r.describe());
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.find("type_error") == std::string::npos);
  const json record = json::parse(r.out);  // valid UTF-8 JSON on stdout
  CHECK(record.at("output") == "gig.ingest");
  const json m = read_json(tmp / "gig.ingest" / rz::stems::kManifestFile);
  CHECK(m.dump().find("caf\xef\xbf\xbd-live.wav") != std::string::npos);  // U+FFFD
  // The next stage reads that manifest.
  CHECK(
      rz::cli_test::run("rz-mix", {"gig.ingest", "-o", "gig.mix"}, in_dir(tmp.path())).exit_code ==
      0);
}

TEST_CASE("a damaged MP3 is decoded without libmpg123 writing to stderr", "[cli][hostile]") {
  const auto ffmpeg = rz::audio::find_program("ffmpeg");
  if (ffmpeg.empty()) {
    WARN("SKIP: ffmpeg is not installed (it makes the MP3)");
    return;
  }
  rz::test::TempDir tmp;
  rz::test::write_wav(tmp / "src.wav", rz::test::white_noise(0.1, 3 * kRate, 2, 3), kRate, 2);
  REQUIRE(rz::cli_test::run_program(ffmpeg.string(), {"-v", "error", "-i", "src.wav", "gig.mp3"},
                                    in_dir(tmp.path()))
              .exit_code == 0);
  // Flip bytes all over the frames (past the first 1000 bytes, so the stream is still found).
  std::string mp3 = rz::cli_test::read_text(tmp / "gig.mp3");
  uint32_t state = 12345;
  for (int i = 0; i < 300; ++i) {
    state = state * 1664525u + 1013904223u;
    mp3[1000 + state % (mp3.size() - 1000)] ^= static_cast<char>(0x5a);
  }
  write_text(tmp / "gig.mp3", mp3);
  const auto r = rz::cli_test::run("rz-ingest", {"gig.mp3"}, in_dir(tmp.path()));
  INFO(r.describe());
  CHECK(r.err.find("libmpg123") == std::string::npos);
  CHECK(r.err.find("[src/") == std::string::npos);
  for (const auto& line : r.err_lines()) CHECK(line.rfind("rz-ingest: ", 0) == 0);
}

TEST_CASE("what the input cannot do is an input problem (exit 1), not a usage error",
          "[cli][hostile]") {
  rz::test::TempDir tmp;
  SECTION("rz-dereverb on 9 channels (WPE takes 1..8)") {
    rz::cli_test::write_stem_dir(tmp / "in", {{"mix", rz::test::white_noise(0.1, kRate, 9, 1)}},
                                 kRate, 9);
    const auto r = rz::cli_test::run("rz-dereverb", {"in", "-o", "out"}, in_dir(tmp.path()));
    check_refusal(r, "rz-dereverb", rz::kExitFailure);
    CHECK(r.err.find("9 channels") != std::string::npos);
    CHECK_FALSE(fs::exists(tmp / "out"));
  }
  SECTION("rz-separate on a directory without a 'mix' stem and no --stem") {
    write_good_input(tmp.path());
    const auto r = rz::cli_test::run("rz-separate",
                                     {"in", "-o", "out", "--no-cache", "--model",
                                      rz::cli_test::shared("demucs/models/tiny4000-0421bf8f.th")},
                                     in_dir(tmp.path()));
    check_refusal(r, "rz-separate", rz::kExitFailure);
    CHECK(r.err.find("--stem") != std::string::npos);
    CHECK_FALSE(fs::exists(tmp / "out"));
  }
  SECTION("rz-enhance on 8 kHz vocals: de-essing has no band there and is left out") {
    // The vocals chain de-esses at 6.5 kHz, above what an 8 kHz recording holds: the block is
    // disabled and the reason recorded, instead of refusing the directory as a bad setting.
    rz::cli_test::write_stem_dir(tmp / "in",
                                 {{"vocals", rz::test::white_noise(0.1, 8000 * 3, 1, 5)}}, 8000, 1);
    const auto r = rz::cli_test::run("rz-enhance", {"in", "-o", "out"}, in_dir(tmp.path()));
    INFO(r.describe());
    REQUIRE(r.exit_code == 0);
    const json stem =
        rz::cli_test::last_history_entry(tmp / "out", "rz-enhance")["stems"]["vocals"];
    REQUIRE(stem.contains("out_of_band"));
    CHECK(stem["out_of_band"][0]["block"] == "deess");
    // A band the user asks for in --config is still refused as a usage error.
    write_text(tmp / "c.json", "{\"*\": {\"deess\": {\"freq_hz\": 6000}}}");
    const auto u = rz::cli_test::run("rz-enhance", {"in", "-o", "out2", "--config", "c.json"},
                                     in_dir(tmp.path()));
    check_refusal(u, "rz-enhance", rz::kExitUsage);
    CHECK(u.err.find("deess freq_hz") != std::string::npos);
  }
}

TEST_CASE("numeric options refuse nan and inf", "[cli][hostile]") {
  rz::test::TempDir tmp;
  write_good_input(tmp.path());
  rz::test::write_wav(tmp / "gig.wav", rz::test::sine(440, 0.5, kRate, 2 * kRate, 2), kRate, 2);
  struct Call {
    const char* tool;
    std::vector<std::string> args;
  };
  std::vector<Call> calls;
  for (const std::string v : {"nan", "inf", "-inf"}) {
    calls.push_back({"rz-ingest", {"gig.wav", "-o", "x", "--preview", v}});
    calls.push_back({"rz-enhance", {"in", "-o", "x", "--intensity", v}});
    calls.push_back({"rz-restore", {"in", "-o", "x", "--intensity", v}});
    calls.push_back({"rz-dereverb", {"in", "-o", "x", "--wet", v}});
    calls.push_back({"rz-dereverb", {"in", "-o", "x", "--strength", v}});
    calls.push_back({"rz-mix", {"in", "-o", "x", "--master-gain", v}});
    calls.push_back({"rz-mix", {"in", "-o", "x", "--gain", "a=" + v}});
    calls.push_back({"rz-mix", {"in", "-o", "x", "--pan", "a=" + v}});
    calls.push_back({"rz-master", {"in", "-o", "x.flac", "--target", v}});
    calls.push_back({"rz-master", {"in", "-o", "x.flac", "--ceiling", v}});
    calls.push_back({"rz-separate", {"in", "-o", "x", "--overlap", v}});
    calls.push_back({"rz-separate", {"in", "-o", "x", "--segment", v}});
  }
  const auto before = snapshot(tmp.path());
  for (const auto& c : calls) {
    const auto r = rz::cli_test::run(c.tool, c.args, in_dir(tmp.path()));
    INFO(c.tool << " " << c.args.back() << "\n" << r.describe());
    check_refusal(r, c.tool, rz::kExitUsage);
  }
  CHECK(snapshot(tmp.path()) == before);
}

// ---------------------------------------------------------------------------------------------
// rz-ingest: hostile recordings and outputs, beyond the documented bad recordings of
// test_errors.cpp (missing, directory, empty, truncated, cut header, random bytes, text, NaN, Inf,
// silence, too short).

namespace {

// A 3 s stereo 16-bit WAV with its header patched by `patch` (the bytes, and the offsets of the
// "fmt " and "data" chunk ids).
void patched_wav(const fs::path& path,
                 const std::function<void(std::string&, size_t fmt, size_t data)>& patch) {
  rz::test::write_wav(path, rz::test::sine(440, 0.5, kRate, 3 * kRate, 2), kRate, 2, 16);
  std::string wav = rz::cli_test::read_text(path);
  const size_t fmt = wav.find("fmt "), data = wav.find("data");
  REQUIRE(fmt != std::string::npos);
  REQUIRE(data != std::string::npos);
  patch(wav, fmt, data);
  write_text(path, wav);
}

void put_le32(std::string& s, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    s[at + static_cast<size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xff);
}

std::vector<Hostile> recording_cases() {
  const int kFail = rz::kExitFailure, kUsage = rz::kExitUsage;
  auto args = [](std::vector<std::string> a) { return [a](const std::string&) { return a; }; };
  return {
      Hostile("a FIFO named gig.wav (must not block)", "FIFO", kFail,
              [](const fs::path& tmp) { REQUIRE(mkfifo((tmp / "gig.wav").c_str(), 0644) == 0); }),
      Hostile("gig.wav links to /dev/zero (must not read forever)", "device", kFail,
              [](const fs::path& tmp) { fs::create_symlink("/dev/zero", tmp / "gig.wav"); }),
      Hostile("/dev/urandom as the recording", "device", kFail)
          .with_args(args({"/dev/urandom", "-o", "gig.ingest"})),
      Hostile("gig.wav links to a directory", "is a directory", kFail,
              [](const fs::path& tmp) {
                fs::create_directory(tmp / "folder");
                fs::create_directory_symlink("folder", tmp / "gig.wav");
              }),
      Hostile("a WAV header declaring 1000 channels", "channels", kFail,
              [](const fs::path& tmp) {
                patched_wav(tmp / "gig.wav", [](std::string& w, size_t fmt, size_t) {
                  w[fmt + 10] = static_cast<char>(1000 & 0xff);
                  w[fmt + 11] = static_cast<char>(1000 >> 8);
                });
              }),
      Hostile("a WAV header declaring 1 GHz (ffmpeg is not tried on it)", "sample rate", kFail,
              [](const fs::path& tmp) {
                patched_wav(tmp / "gig.wav", [](std::string& w, size_t fmt, size_t) {
                  put_le32(w, fmt + 12, 1000000000u);
                });
              }),
      Hostile("a WAV header declaring 0 Hz", "cannot decode", kFail,
              [](const fs::path& tmp) {
                patched_wav(tmp / "gig.wav",
                            [](std::string& w, size_t fmt, size_t) { put_le32(w, fmt + 12, 0); });
              }),
      Hostile("a data chunk claiming 4 GiB", "truncated", kFail,
              [](const fs::path& tmp) {
                patched_wav(tmp / "gig.wav", [](std::string& w, size_t, size_t data) {
                  put_le32(w, data + 4, 0xfffffff0u);
                });
              }),
      Hostile("random bytes named .m4a (the ffmpeg path)", "cannot decode", kFail,
              [](const fs::path& tmp) {
                std::string bytes(4096, '\0');
                uint32_t state = 99;
                for (auto& c : bytes)
                  c = static_cast<char>((state = state * 1664525u + 1013904223u) >> 24);
                write_text(tmp / "gig.m4a", bytes);
              })
          .with_args(args({"gig.m4a", "-o", "gig.ingest"})),
      Hostile("an empty .m4a", "empty", kFail,
              [](const fs::path& tmp) { write_text(tmp / "gig.m4a", ""); })
          .with_args(args({"gig.m4a", "-o", "gig.ingest"})),
      Hostile(
          "a set list named .mp3", "cannot decode", kFail,
          [](const fs::path& tmp) { write_text(tmp / "gig.mp3", std::string(300, 'x') + "\n"); })
          .with_args(args({"gig.mp3", "-o", "gig.ingest"})),
      Hostile(
          "a file name with a newline and an escape sequence", "cannot decode", kFail,
          [](const fs::path& tmp) { write_text(tmp / "a\nb\x1b[2J.wav", std::string(500, 'z')); })
          .with_args(args({"a\nb\x1b[2J.wav", "-o", "gig.ingest"})),
      Hostile("an output name longer than the file system allows", "too long", kFail,
              [](const fs::path& tmp) {
                rz::test::write_wav(tmp / (std::string(250, 'g') + ".wav"),
                                    rz::test::sine(440, 0.5, kRate, 2 * kRate, 2), kRate, 2);
              })
          .with_args(args({std::string(250, 'g') + ".wav"})),
      Hostile("--force over a directory that is not a stem directory", "not a stem directory",
              kFail,
              [](const fs::path& tmp) {
                fs::create_directory(tmp / "gig.ingest");
                write_text(tmp / "gig.ingest" / "thesis.tex", "years of work\n");
              })
          .with_args(args({"gig.wav", "-f"})),
      Hostile("-o is the recording itself, with --force", "the input", kUsage)
          .with_args(args({"gig.wav", "-o", "gig.wav", "-f"})),
      Hostile("-o a directory that holds the recording, with --force", "the input", kUsage,
              [](const fs::path& tmp) {
                fs::create_directory(tmp / "take");
                rz::test::write_wav(tmp / "take" / "gig.wav",
                                    rz::test::sine(440, 0.5, kRate, 2 * kRate, 2), kRate, 2);
              })
          .with_args(args({"take/gig.wav", "-o", "take", "-f"})),
      Hostile("stdin: more than 1 MiB", "1 MiB", kUsage).on_stdin(std::string(1100000, 'a')),
      Hostile("stdin: a JSON record nested 100000 levels deep", "nested deeper", kUsage)
          .on_stdin("{\"output\": " + nested(100000) + "}\n"),
      Hostile("stdin: a JSON record whose output is a number", "no \"output\" path", kUsage)
          .on_stdin("{\"output\": 5}\n"),
  };
}

}  // namespace

TEST_CASE("hostile input: rz-ingest", "[cli][hostile]") {
  for (const Hostile& c : recording_cases()) {
    DYNAMIC_SECTION(c.label) {
      rz::test::TempDir tmp;
      rz::test::write_wav(tmp / "gig.wav", rz::test::sine(440, 0.5, kRate, 2 * kRate, 2), kRate, 2);
      if (c.make) {
        std::error_code ec;
        if (c.label.find("gig.wav") != std::string::npos) fs::remove(tmp / "gig.wav", ec);
        c.make(tmp.path());
      }
      const std::vector<std::string> args =
          c.args ? c.args("") : std::vector<std::string>{"gig.wav"};
      const auto before = snapshot(tmp.path());
      RunOptions options = in_dir(tmp.path(), c.stdin_text);
      options.timeout_s = kRefuseWithinS;
      const auto r = rz::cli_test::run("rz-ingest", args, options);
      INFO(c.label << "\n" << r.describe());
      check_refusal(r, "rz-ingest", c.exit_code);
      CHECK(r.err.find(c.reason) != std::string::npos);
      CHECK(snapshot(tmp.path()) == before);
    }
  }
}
