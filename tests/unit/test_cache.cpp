// Unit tests of rz::demucs::SeparationCache: keys, complete entries only, concurrent publishing.
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "rz/demucs/cache.hpp"
#include "rz/stems/sha256.hpp"
#include "rz/stems/stem_dir.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using rz::demucs::SeparationCache;

namespace {

fs::path write_file(const fs::path& p, const std::string& text) {
  rz::stems::write_text_file(p, text);
  return p;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Names under `dir` that start with '.' (temporary or aside directories).
std::vector<std::string> hidden_entries(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (!n.empty() && n[0] == '.') names.push_back(n);
  }
  return names;
}

size_t count_entries(const fs::path& dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

// Two small "stems" in `src` with distinct contents.
std::vector<fs::path> make_outputs(const rz::test::TempDir& src) {
  return {write_file(src / "vocals.wav", std::string(1000, 'v')),
          write_file(src / "drums.wav", std::string(3000, 'd'))};
}

const json kIdentity = {{"input_sha256", std::string(64, 'a')},
                        {"model", "htdemucs"},
                        {"shifts", 1},
                        {"overlap", 0.25}};

}  // namespace

TEST_CASE("cache: key is the SHA-256 of the canonical JSON", "[unit][cache]") {
  // sha256("{}"), from sha256sum.
  CHECK(SeparationCache::key(json::object()) ==
        "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");

  json a;
  a["model"] = "htdemucs";
  a["shifts"] = 1;
  a["segment"] = 7.8;
  json b;
  b["segment"] = 7.8;
  b["shifts"] = 1;
  b["model"] = "htdemucs";
  CHECK(SeparationCache::key(a) == SeparationCache::key(b));
  CHECK(SeparationCache::key(a).size() == 64);

  json c = a;
  c["shifts"] = 2;
  CHECK(SeparationCache::key(c) != SeparationCache::key(a));
  // Same key twice in one run and across runs (a fixed value).
  const std::string text = a.dump();
  rz::stems::Sha256 sha;
  sha.update(text.data(), text.size());
  CHECK(SeparationCache::key(a) == sha.hex_digest());
  CHECK(text == R"({"model":"htdemucs","segment":7.8,"shifts":1})");
}

TEST_CASE("cache: lookup of an absent key is a miss", "[unit][cache]") {
  rz::test::TempDir root;
  SeparationCache cache(root / "cache");  // the root need not exist yet
  CHECK_FALSE(cache.lookup(SeparationCache::key(kIdentity)).has_value());
  CHECK_FALSE(cache.lookup("../escape").has_value());
  CHECK_FALSE(cache.lookup("").has_value());
}

TEST_CASE("cache: store then lookup returns a copy of the files", "[unit][cache]") {
  rz::test::TempDir root;
  rz::test::TempDir src;
  const auto files = make_outputs(src);
  SeparationCache cache(root / "cache");
  CHECK(cache.root() == root / "cache");
  const std::string key = SeparationCache::key(kIdentity);

  std::string why;
  REQUIRE(
      cache.store(key, files, {{"identity", kIdentity}, {"sources", {"vocals", "drums"}}}, &why));
  CHECK(why.empty());
  const auto hit = cache.lookup(key);
  REQUIRE(hit.has_value());
  CHECK(*hit == root / "cache" / key);
  CHECK(read_file(*hit / "vocals.wav") == std::string(1000, 'v'));
  CHECK(read_file(*hit / "drums.wav") == std::string(3000, 'd'));

  const json entry = json::parse(read_file(*hit / "entry.json"));
  CHECK(entry.at("key") == key);
  CHECK(entry.at("meta").at("identity") == kIdentity);
  REQUIRE(entry.at("files").size() == 2);
  CHECK(entry["files"][0]["name"] == "vocals.wav");
  CHECK(entry["files"][0]["bytes"] == 1000);
  CHECK(entry["files"][0]["sha256"] == rz::stems::sha256_file(files[0]));
  CHECK(entry["files"][1]["sha256"] == rz::stems::sha256_file(files[1]));

  // A copy, not a link: editing the original later leaves the entry intact.
  write_file(files[0], "edited");
  CHECK(read_file(*hit / "vocals.wav") == std::string(1000, 'v'));
  CHECK(fs::hard_link_count(*hit / "vocals.wav") == 1);
  CHECK(hidden_entries(root / "cache").empty());
}

TEST_CASE("cache: storing a key that exists keeps the first entry", "[unit][cache]") {
  rz::test::TempDir root;
  rz::test::TempDir src;
  const auto files = make_outputs(src);
  SeparationCache cache(root.path());
  REQUIRE(cache.store("k1", files, {{"n", 1}}));
  REQUIRE(cache.store("k1", {files[0]}, {{"n", 2}}));
  const json entry = json::parse(read_file(root / "k1" / "entry.json"));
  CHECK(entry["meta"]["n"] == 1);
  CHECK(entry["files"].size() == 2);
}

TEST_CASE("cache: an entry with a missing or short file is a miss", "[unit][cache]") {
  rz::test::TempDir root;
  rz::test::TempDir src;
  const auto files = make_outputs(src);
  SeparationCache cache(root.path());
  const std::string key = SeparationCache::key(kIdentity);
  REQUIRE(cache.store(key, files, json::object()));
  REQUIRE(cache.lookup(key).has_value());

  SECTION("short file") {
    write_file(root / key / "drums.wav", std::string(2999, 'd'));
    CHECK_FALSE(cache.lookup(key).has_value());
  }
  SECTION("missing file") {
    fs::remove(root / key / "vocals.wav");
    CHECK_FALSE(cache.lookup(key).has_value());
  }
  SECTION("missing entry.json") {
    fs::remove(root / key / "entry.json");
    CHECK_FALSE(cache.lookup(key).has_value());
  }
  SECTION("corrupt entry.json") {
    write_file(root / key / "entry.json", "{\"files\": [");
    CHECK_FALSE(cache.lookup(key).has_value());
  }
  SECTION("entry.json of another key") {
    fs::rename(root / key, root / "otherkey");
    CHECK_FALSE(cache.lookup("otherkey").has_value());
  }
  // A broken entry is replaced by the next store.
  REQUIRE(cache.store(key, files, json::object()));
  CHECK(cache.lookup(key).has_value());
  CHECK(hidden_entries(root.path()).empty());
}

TEST_CASE("cache: a half-written temporary directory is never returned", "[unit][cache]") {
  rz::test::TempDir root;
  SeparationCache cache(root.path());
  const std::string key = SeparationCache::key(kIdentity);
  // What a process killed mid-store leaves: files but no entry.json, under a hidden name.
  const fs::path temp = root / ("." + key + ".tmp-AbC123");
  fs::create_directories(temp);
  write_file(temp / "vocals.wav", "partial");
  CHECK_FALSE(cache.lookup(key).has_value());
  // Even with an entry.json inside, the hidden name is not the entry.
  write_file(
      temp / "entry.json",
      json(
          {{"schema", "rz-separate-cache"}, {"version", 1}, {"key", key}, {"files", json::array()}})
          .dump());
  CHECK_FALSE(cache.lookup(key).has_value());
  // A fresh temporary directory belongs to a live process: store() leaves it alone.
  rz::test::TempDir src;
  REQUIRE(cache.store("another", make_outputs(src), json::object()));
  CHECK(fs::exists(temp));
}

TEST_CASE("cache: store removes temporary directories older than an hour", "[unit][cache]") {
  rz::test::TempDir root;
  SeparationCache cache(root.path());
  const fs::path stale = root / ".deadkey.tmp-ZZZZZZ";
  fs::create_directories(stale);
  write_file(stale / "vocals.wav", "partial");
  fs::last_write_time(stale, fs::file_time_type::clock::now() - std::chrono::hours(2));
  rz::test::TempDir src;
  REQUIRE(cache.store("k", make_outputs(src), json::object()));
  CHECK_FALSE(fs::exists(stale));
  CHECK(hidden_entries(root.path()).empty());
}

TEST_CASE("cache: concurrent stores of one key leave exactly one complete entry", "[unit][cache]") {
  rz::test::TempDir root;
  rz::test::TempDir src;
  const auto files = make_outputs(src);
  const std::string key = SeparationCache::key(kIdentity);
  constexpr int kRounds = 20;  // repeat: a single race is easy to win by luck
  for (int round = 0; round < kRounds; ++round) {
    const fs::path dir = root / ("round" + std::to_string(round));
    bool ok[2] = {false, false};
    std::string why[2];
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t) {
      threads.emplace_back([&, t] {
        SeparationCache cache(dir);  // separate objects, as in two processes
        ok[t] = cache.store(key, files, {{"writer", t}}, &why[t]);
      });
    }
    for (auto& th : threads) th.join();
    INFO("round " << round << ": " << why[0] << " / " << why[1]);
    CHECK(ok[0]);
    CHECK(ok[1]);
    CHECK(count_entries(dir) == 1);
    CHECK(hidden_entries(dir).empty());
    SeparationCache cache(dir);
    const auto hit = cache.lookup(key);
    REQUIRE(hit.has_value());
    CHECK(read_file(*hit / "drums.wav") == std::string(3000, 'd'));
  }
}

TEST_CASE("cache: errors while storing are reported without throwing", "[unit][cache]") {
  rz::test::TempDir root;
  rz::test::TempDir src;
  const auto files = make_outputs(src);
  SeparationCache cache(root / "cache");
  std::string why;

  CHECK_FALSE(cache.store("k", {src / "missing.wav"}, json::object(), &why));
  CHECK_THAT(why, Catch::Contains("missing.wav"));
  CHECK_FALSE(cache.lookup("k").has_value());

  CHECK_FALSE(cache.store("k", {files[0], files[0]}, json::object(), &why));
  CHECK_THAT(why, Catch::Contains("two files are named vocals.wav"));

  CHECK_FALSE(cache.store("k", files, {{"sha256", {{"vocals.wav", std::string(64, '0')}}}}, &why));
  CHECK_THAT(why, Catch::Contains("SHA-256 differs"));

  CHECK_FALSE(cache.store("../k", files, json::object(), &why));
  CHECK_THAT(why, Catch::Contains("bad cache key"));

  // A cache root that cannot be created (a file is in the way).
  write_file(root / "file", "x");
  SeparationCache blocked(root / "file" / "cache");
  CHECK_FALSE(blocked.store("k", files, json::object(), &why));
  CHECK_FALSE(why.empty());

  // Nothing half-written was left behind, and the null why_not is accepted.
  CHECK(hidden_entries(root / "cache").empty());
  CHECK_FALSE(cache.store("k", {src / "missing.wav"}, json::object()));

  // A correct digest in meta is accepted.
  CHECK(cache.store("k", files, {{"sha256", {{"vocals.wav", rz::stems::sha256_file(files[0])}}}},
                    &why));
}

TEST_CASE("cache: default directory follows XDG_CACHE_HOME then HOME", "[unit][cache]") {
  const char* old_xdg = std::getenv("XDG_CACHE_HOME");
  const std::string saved_xdg = old_xdg ? old_xdg : "";
  setenv("XDG_CACHE_HOME", "/xdg/cache", 1);
  CHECK(rz::demucs::default_cache_dir() == fs::path("/xdg/cache/rz/separate"));
  unsetenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  if (home && *home) {
    CHECK(rz::demucs::default_cache_dir() == fs::path(home) / ".cache/rz/separate");
  }
  if (old_xdg) setenv("XDG_CACHE_HOME", saved_xdg.c_str(), 1);
}
