// Unit tests of rz::io: regular-file-only opening, capped reads, bounded JSON, checked numbers,
// locked temporaries and the removal of those whose owner died.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <csignal>
#include <fstream>
#include <functional>
#include <limits>

#include "rz/error.hpp"
#include "rz/io/file.hpp"
#include "rz/io/json.hpp"
#include "rz/io/temp.hpp"
#include "rz/stems/manifest.hpp"
#include "rz/stems/stem_dir.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

void write_file(const fs::path& p, const std::string& text) { rz::stems::write_text_file(p, text); }

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const rz::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("io: open_regular refuses what is not a regular file without blocking", "[unit][io]") {
  rz::test::TempDir tmp;
  write_file(tmp / "file.txt", "12345");
  uint64_t bytes = 0;
  CHECK(rz::io::open_regular(tmp / "file.txt", &bytes).valid());
  CHECK(bytes == 5);
  REQUIRE(mkfifo((tmp / "fifo").c_str(), 0644) == 0);
  // No writer ever opens the FIFO: a blocking open would hang this test.
  CHECK_THAT(message_of([&] { rz::io::open_regular(tmp / "fifo"); }), Catch::Contains("FIFO"));
  CHECK_THAT(message_of([&] { rz::io::open_regular("/dev/zero"); }), Catch::Contains("device"));
  CHECK_THAT(message_of([&] { rz::io::open_regular(tmp.path()); }),
             Catch::Contains("is a directory"));
  CHECK_THAT(message_of([&] { rz::io::open_regular(tmp / "absent"); }),
             Catch::Contains("no such file"));
  fs::create_symlink("/dev/zero", tmp / "zero.json");
  CHECK_THAT(message_of([&] { rz::io::read_file(tmp / "zero.json", 100, "manifest"); }),
             Catch::Contains("device"));
  write_file(tmp / "empty.wav", "");
  CHECK_THAT(message_of([&] { rz::io::require_regular_file(tmp / "empty.wav"); }),
             Catch::Contains("empty"));
}

TEST_CASE("io: read_file caps the size before reading", "[unit][io]") {
  rz::test::TempDir tmp;
  write_file(tmp / "small", "abc");
  CHECK(rz::io::read_file(tmp / "small", 3, "settings file") == "abc");
  CHECK_THAT(message_of([&] { rz::io::read_file(tmp / "small", 2, "settings file"); }),
             Catch::Contains("larger than 2 bytes") && Catch::Contains("settings file"));
  // A sparse 1 TiB file is refused from its size alone.
  write_file(tmp / "huge", "");
  fs::resize_file(tmp / "huge", uint64_t{1} << 40);
  CHECK_THAT(message_of([&] { rz::io::read_file(tmp / "huge", 1 << 20, "manifest"); }),
             Catch::Contains("larger than"));
}

TEST_CASE("io: parse_json takes one document of bounded depth", "[unit][io]") {
  CHECK(rz::io::parse_json(" {\"a\": [1, 2]} \n", "x", "bad") == json({{"a", {1, 2}}}));
  // Exactly the limit passes; one more level is refused before it is built.
  const std::string at_limit = std::string(rz::io::kMaxJsonDepth, '[') +
                               std::string(rz::io::kMaxJsonDepth, ']');
  CHECK_NOTHROW(rz::io::parse_json(at_limit, "x", "bad"));
  CHECK_THAT(message_of([&] { rz::io::parse_json("[" + at_limit + "]", "x", "bad"); }),
             Catch::Contains("nested deeper than 64 levels"));
  const std::string million = std::string(1000000, '[') + std::string(1000000, ']');
  CHECK_THAT(message_of([&] { rz::io::parse_json(million, "x", "bad"); }),
             Catch::Contains("nested deeper"));
  CHECK_THAT(message_of([&] { rz::io::parse_json("{} {}", "x", "bad"); }),
             Catch::Contains("bad JSON"));
  CHECK_THAT(message_of([&] { rz::io::parse_json("[1e400]", "x", "bad"); }),
             Catch::Contains("bad JSON") && !Catch::Contains("json.exception"));
  CHECK_THAT(message_of([&] { rz::io::parse_json("\"\xff\"", "x", "bad"); }),
             Catch::Contains("bad JSON"));
  CHECK_THAT(message_of([&] { rz::io::parse_json("", "subject", "what"); }),
             Catch::StartsWith("what 'subject': bad JSON"));
}

TEST_CASE("io: get_checked never narrows", "[unit][io]") {
  using rz::io::get_checked;
  CHECK(get_checked<int>(json(44100)) == 44100);
  CHECK_FALSE(get_checked<int>(json((uint64_t{1} << 32) + 44100)));
  CHECK_FALSE(get_checked<int>(json(-2147483649LL)));
  CHECK(get_checked<int>(json(-2147483648LL)) == std::numeric_limits<int>::min());
  CHECK_FALSE(get_checked<int>(json(1.5)));
  CHECK_FALSE(get_checked<int>(json(1.0)));  // a count is an integer in JSON too
  CHECK_FALSE(get_checked<int>(json("7")));
  CHECK_FALSE(get_checked<uint64_t>(json(-1)));
  CHECK(get_checked<uint64_t>(json(std::numeric_limits<uint64_t>::max())) ==
        std::numeric_limits<uint64_t>::max());
  // 2^64 parses as a double: not an integer of any width.
  CHECK_FALSE(get_checked<uint64_t>(json::parse("18446744073709551616")));
  CHECK(get_checked<double>(json(3)) == 3.0);
  CHECK(get_checked<float>(json(1e300)) == std::nullopt);
  CHECK(get_checked<bool>(json(true)) == true);
  CHECK_FALSE(get_checked<bool>(json(1)));
  CHECK(get_checked<std::string>(json::object({{"k", "v"}}), "k") == std::string("v"));
  CHECK_FALSE(get_checked<std::string>(json::array(), "k"));
}

TEST_CASE("io: dump_json writes names that are not UTF-8", "[unit][io]") {
  const json j = {{"path", std::string("caf\xe9.wav")}};
  CHECK_THROWS(j.dump());  // what nlohmann does by default (type_error.316)
  CHECK(rz::io::dump_json(j) == "{\"path\":\"caf\xef\xbf\xbd.wav\"}");
}

TEST_CASE("io: unsafe path components and paths that resolve outside", "[unit][io]") {
  using rz::io::unsafe_component_reason;
  CHECK(unsafe_component_reason("mix.wav").empty());
  CHECK(unsafe_component_reason("caf\xc3\xa9.wav").empty());  // UTF-8 is fine
  for (const std::string& bad : std::vector<std::string>{"", ".", "..", ".hidden", "a/b",
                                                          "/etc/passwd", "a\\b",
                                                          std::string("a\0b", 3), "a\nb",
                                                          std::string(256, 'x')}) {
    INFO(bad);
    CHECK_FALSE(unsafe_component_reason(bad).empty());
  }
  rz::test::TempDir tmp;
  fs::create_directory(tmp / "dir");
  write_file(tmp / "dir" / "in.wav", "x");
  write_file(tmp / "out.wav", "x");
  fs::create_symlink("in.wav", tmp / "dir" / "inner-link.wav");
  fs::create_symlink("../out.wav", tmp / "dir" / "outer-link.wav");
  CHECK(rz::io::resolves_inside(tmp / "dir" / "in.wav", tmp / "dir"));
  CHECK(rz::io::resolves_inside(tmp / "dir" / "inner-link.wav", tmp / "dir"));
  CHECK_FALSE(rz::io::resolves_inside(tmp / "dir" / "outer-link.wav", tmp / "dir"));
  CHECK_FALSE(rz::io::resolves_inside(tmp / "dir" / "absent.wav", tmp / "dir"));
}

TEST_CASE("stems: stem names are plain words", "[unit][stems]") {
  using rz::stems::bad_stem_name_reason;
  for (const std::string good : {"mix", "vocals", "no_vocals", "Lead-Vox.2", "a+b", "8"}) {
    INFO(good);
    CHECK(bad_stem_name_reason(good).empty());
  }
  for (const std::string& bad :
       std::vector<std::string>{"", "-rf", ".hidden", "_x", "a b", "a/b", "../x", "a,b", "a=b",
                                std::string("a\0", 2), "caf\xc3\xa9", std::string(65, 'a')}) {
    INFO(bad);
    CHECK_FALSE(bad_stem_name_reason(bad).empty());
  }
  CHECK(bad_stem_name_reason(std::string(64, 'a')).empty());
}

TEST_CASE("io: a locked temporary survives cleaners while it lives", "[unit][io]") {
  rz::test::TempDir tmp;
  {
    rz::io::LockedTemp live = rz::io::LockedTemp::create(tmp.path(), "out", true);
    CHECK(rz::io::is_temp_name(live.path().filename().string()));
    CHECK(live.path().filename().string().rfind(".out.rz-tmp-", 0) == 0);
    write_file(live.path() / "stem.wav", "data");
    // Another cleaner (another open file description: flock conflicts even in this process).
    CHECK(rz::io::remove_stale_temps(tmp.path()) == 0);
    CHECK(fs::exists(live.path() / "stem.wav"));
  }
  CHECK(fs::is_empty(tmp.path()));  // removed with its owner
}

TEST_CASE("io: temporaries of dead processes are removed, others are not", "[unit][io]") {
  rz::test::TempDir tmp;
  // A child creates a temporary and dies by SIGKILL, as a killed rz run does.
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    rz::io::LockedTemp t = rz::io::LockedTemp::create(tmp.path(), "gig.ingest", true);
    std::FILE* f = std::fopen((t.path() / "mix.wav").c_str(), "w");
    if (f) std::fclose(f);
    raise(SIGKILL);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFSIGNALED(status));
  std::vector<fs::path> left;
  for (const auto& e : fs::directory_iterator(tmp.path())) left.push_back(e.path());
  REQUIRE(left.size() == 1);
  CHECK(rz::io::is_temp_name(left[0].filename().string()));
  // Names that merely look alike, a symlink with a temporary's name, and the user's own files are
  // never touched.
  write_file(tmp / ".notes.tmp-abcdef", "someone else's\n");
  write_file(tmp / "gig.rz-tmp-abcdef", "visible, not ours\n");
  fs::create_symlink(tmp.path(), tmp / ".link.rz-tmp-abcdef");
  CHECK(rz::io::remove_stale_temps(tmp.path()) == 1);
  CHECK_FALSE(fs::exists(left[0]));
  CHECK(fs::exists(tmp / ".notes.tmp-abcdef"));
  CHECK(fs::exists(tmp / "gig.rz-tmp-abcdef"));
  CHECK(fs::is_symlink(tmp / ".link.rz-tmp-abcdef"));
  // The next temporary made there cleans up on its own.
  const pid_t pid2 = fork();
  REQUIRE(pid2 >= 0);
  if (pid2 == 0) {
    rz::io::LockedTemp t = rz::io::LockedTemp::create(tmp.path(), "x", false);
    raise(SIGKILL);
  }
  REQUIRE(waitpid(pid2, &status, 0) == pid2);
  { rz::io::LockedTemp next = rz::io::LockedTemp::create(tmp.path(), "y", false); }
  for (const auto& e : fs::directory_iterator(tmp.path())) {
    if (!e.is_symlink()) CHECK_FALSE(rz::io::is_temp_name(e.path().filename().string()));
  }
}

TEST_CASE("stems: --force replaces only a stem directory, swapping it whole", "[unit][stems]") {
  rz::test::TempDir tmp;
  fs::create_directory(tmp / "thesis");
  write_file(tmp / "thesis" / "chapter.tex", "work\n");
  CHECK_THROWS_WITH(rz::stems::StemDirWriter(tmp / "thesis", true),
                    Catch::Contains("not a stem directory"));
  CHECK(fs::exists(tmp / "thesis" / "chapter.tex"));
  // A stem directory is replaced; the writer's commit leaves no aside copy.
  auto make = [&](const std::string& tag) {
    rz::stems::StemDirWriter w(tmp / "out", true);
    write_file(w.stem_file_path("mix"), tag);
    w.manifest().sample_rate_hz = 44100;
    w.manifest().channels = 2;
    w.add_stem("mix", 0);
    w.commit();
  };
  make("first");
  CHECK(rz::stems::is_stem_dir(tmp / "out"));
  make("second");
  std::ifstream in(tmp / "out" / "mix.wav");
  std::string text;
  in >> text;
  CHECK(text == "second");
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(tmp.path())) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"out", "thesis"});
  // A name that would be a path elsewhere never becomes one.
  rz::stems::StemDirWriter w(tmp / "other", false);
  CHECK_THROWS_AS(w.stem_file_path("../../escaped"), rz::InputError);
  CHECK_THROWS_AS(w.stem_file_path(std::string("/tmp/x\0", 7)), rz::InputError);
}
