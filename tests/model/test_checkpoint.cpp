// Tests of rz::demucs::read_checkpoint and read_bag: the five reference checkpoints in
// ../shared/demucs/models against values torch.load computed, and hand-built archives for every
// refusal and for the format variants the reference files do not exercise.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "rz/demucs/bag.hpp"
#include "rz/demucs/checkpoint.hpp"
#include "rz/error.hpp"
#include "test_support.hpp"
#include "th_writer.hpp"

namespace {

namespace fs = std::filesystem;
using rz::demucs::Bag;
using rz::demucs::Checkpoint;
using rz::demucs::read_bag;
using rz::demucs::read_checkpoint;
using rz::demucs::Tensor;

// The expected sums were computed with Python's math.fsum (exactly rounded) over the tensors that
// torch 1.13's torch.load returns, widened to float64. The fp16 -> fp32 widening is exact, so the
// only difference is the rounding of our long double running sum: below 1e-12 relative even for
// FULL's 42 M values. 1e-9 leaves room and still catches a single wrong fp16 value.
constexpr double kSumRelTol = 1e-9;

constexpr const char* kFull = "demucs/models/rand0000-dc06c826.th";
constexpr const char* kTiny4 = "demucs/models/tiny4000-0421bf8f.th";
constexpr const char* kTiny6 = "demucs/models/tiny6000-eb9664a2.th";
constexpr const char* kBag01 = "demucs/models/tinybg01-8f59cb43.th";
constexpr const char* kBag02 = "demucs/models/tinybg02-b7d36bf9.th";
constexpr const char* kTinyBag = "demucs/models/tinybag.yaml";

// The message of the rz::InputError that `f` throws; fails the test when it throws nothing or
// something else.
std::string input_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const rz::InputError& e) {
    return e.what();
  }
  FAIL("no rz::InputError was thrown");
  return "";
}

long double sum_of(const Tensor& t) {
  long double s = 0;
  for (float v : t.data) s += v;
  return s;
}

int64_t product(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// Whole-checkpoint invariants and checksums.
struct Expected {
  size_t entries;
  int64_t numel;
  double sum;
  double abs_sum;
  const char* sha256;
};

void check_totals(const Checkpoint& ck, const Expected& want) {
  CHECK(ck.klass == "demucs.htdemucs.HTDemucs");
  CHECK(ck.args == nlohmann::json::array());
  CHECK(ck.sha256 == want.sha256);
  REQUIRE(ck.state.size() == want.entries);
  int64_t numel = 0;
  long double sum = 0, abs_sum = 0;
  for (const auto& [key, t] : ck.state) {
    INFO(key);
    REQUIRE(t.numel() == product(t.shape));
    numel += t.numel();
    for (float v : t.data) {
      sum += v;
      abs_sum += std::fabs(v);
    }
  }
  CHECK(numel == want.numel);
  CHECK(static_cast<double>(sum) == Approx(want.sum).epsilon(kSumRelTol));
  CHECK(static_cast<double>(abs_sum) == Approx(want.abs_sum).epsilon(kSumRelTol));
  CHECK(ck.state.front().first == "encoder.0.conv.weight");
}

// One tensor: shape, sum and a few elements (flat row-major indices). The element values are
// fp16 numbers printed exactly by Python, so they compare with ==.
void check_tensor(const Checkpoint& ck, const std::string& key, std::vector<int64_t> shape,
                  double sum, std::vector<std::pair<int64_t, double>> elements) {
  INFO(key);
  const Tensor* t = ck.find(key);
  REQUIRE(t != nullptr);
  CHECK(t->shape == shape);
  REQUIRE(t->numel() == product(shape));
  CHECK(static_cast<double>(sum_of(*t)) == Approx(sum).epsilon(kSumRelTol));
  for (const auto& [index, value] : elements) {
    INFO("element " << index);
    CHECK(static_cast<double>(t->data[static_cast<size_t>(index)]) == value);
  }
}

void copy_prefix(const fs::path& from, const fs::path& to, uint64_t bytes) {
  std::ifstream in(from, std::ios::binary);
  std::vector<char> buf(static_cast<size_t>(bytes));
  in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
  REQUIRE(in.gcount() == static_cast<std::streamsize>(bytes));
  std::ofstream out(to, std::ios::binary);
  out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
  REQUIRE(out.good());
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  REQUIRE(out.good());
}

using rz::test::th::le;
using rz::test::th::write_zip;
using rz::test::th::ZipEntryIn;
namespace pk = rz::test::th::pk;

std::string floats(const std::vector<float>& v) {
  std::string s(v.size() * 4, '\0');
  std::memcpy(s.data(), v.data(), s.size());
  return s;
}

// A checkpoint with storage "0" = 12 fp32 values 0..11 and the given pickle.
std::vector<ZipEntryIn> archive(const std::string& pickle, const std::string& root = "archive") {
  std::vector<float> v(12);
  for (int i = 0; i < 12; ++i) v[static_cast<size_t>(i)] = static_cast<float>(i);
  return {{root + "/data.pkl", pickle},
          {root + "/data/0", floats(v), 0, false, 64},
          {root + "/version", "3\n"}};
}

const std::string kSimpleKwargs = pk::dict({{pk::str("channels"), pk::integer(8)}});
const std::string kSimpleState =
    pk::dict({{pk::str("w"), pk::tensor("FloatStorage", "0", 12, 0, {3, 4}, {4, 1})}});

// The InputError message of reading a checkpoint whose data.pkl is `pickle`, written to `path`.
std::string pickle_refusal(const fs::path& path, const std::string& pickle) {
  write_zip(path, archive(pickle), false);
  return input_error([&] { read_checkpoint(path); });
}

}  // namespace

// ------------------------------------------------------------------ the reference checkpoints

TEST_CASE("FULL checkpoint reads with its kwargs and 533 tensors", "[checkpoint]") {
  const fs::path path = rz::test::require_shared(kFull);
  const Checkpoint ck = read_checkpoint(path);

  CHECK(ck.name == "rand0000");
  check_totals(ck, {533, 41984456, 40136.425764381886, 1035124.2708885074,
                    "dc06c826cb1fce6c2bfe2c49fd8ba82899155bd88747452d274615cc4966a406"});
  CHECK(ck.state.back().first == "crosstransformer.layers_t.4.gamma_2.scale");

  const nlohmann::json& kw = ck.kwargs;
  CHECK(kw.size() == 62);
  CHECK(kw["sources"] == nlohmann::json({"drums", "bass", "other", "vocals"}));
  CHECK(kw["audio_channels"] == 2);
  CHECK(kw["samplerate"] == 44100);
  REQUIRE(kw["segment"].is_number_float());  // fractions.Fraction(39, 5)
  CHECK(kw["segment"].get<double>() == 39.0 / 5.0);
  CHECK(kw["segment"].get<double>() == 7.8);
  CHECK(kw["channels"] == 48);
  CHECK(kw["channels_time"].is_null());
  CHECK(kw["growth"] == 2);
  CHECK(kw["nfft"] == 4096);
  CHECK(kw["cac"] == true);
  CHECK(kw["wiener_residual"] == false);
  CHECK(kw["depth"] == 4);
  CHECK(kw["multi_freqs"] == nlohmann::json::array());
  CHECK(kw["freq_emb"].get<double>() == 0.2);
  REQUIRE(kw["emb_scale"].is_number_integer());
  CHECK(kw["emb_scale"] == 10);
  CHECK(kw["dconv_mode"] == 3);
  CHECK(kw["dconv_init"].get<double>() == 1e-3);
  CHECK(kw["bottom_channels"] == 512);
  CHECK(kw["t_layers"] == 5);
  REQUIRE(kw["t_hidden_scale"].is_number_float());
  CHECK(kw["t_hidden_scale"].get<double>() == 4.0);
  CHECK(kw["t_heads"] == 8);
  CHECK(kw["t_emb"] == "sin");
  CHECK(kw["t_cape_glob_loc_scale"] == nlohmann::json({5000.0, 1.0, 1.4}));
  CHECK(kw["t_lr"].is_null());
  CHECK(kw["t_mask_type"] == "diag");
  CHECK(kw["rescale"].get<double>() == 0.1);

  check_tensor(ck, "encoder.0.conv.weight", {48, 4, 8, 1}, -1.7915888428688049,
               {{0, -0.0012979507446289062},
                {768, -0.1329345703125},
                {1535, -0.10107421875},
                {57, -0.1343994140625}});
  check_tensor(ck, "encoder.0.conv.bias", {48}, -0.77958917617797852,
               {{0, -0.0751953125}, {24, -0.030029296875}, {47, 0.0008063316345214844}});
  check_tensor(ck, "decoder.0.rewrite.weight", {768, 384, 3, 3}, -48.23217248916626,
               {{0, 0.04132080078125},
                {1327104, -0.053192138671875},
                {2654207, -0.012908935546875},
                {12345, -0.032257080078125}});
  check_tensor(ck, "crosstransformer.layers.0.linear1.weight", {2048, 512}, 18.932699799537659,
               {{0, 0.0035762786865234375},
                {524288, -0.04388427734375},
                {1048575, 0.0156097412109375},
                {12345, -0.0014142990112304688}});
  check_tensor(ck, "freq_emb.embedding.weight", {512, 48}, -240.63187319040298,
               {{0, -0.11895751953125}, {12288, -0.1397705078125}, {24575, 0.0195159912109375}});
  check_tensor(ck, "crosstransformer.layers_t.4.gamma_2.scale", {512}, 300.0321044921875,
               {{0, 0.71630859375}, {256, 0.2115478515625}, {511, 0.5478515625}});
  // An fp16 subnormal (bits 0x83be), which a widening that ignores subnormals would get wrong.
  const Tensor* rewrite = ck.find("encoder.0.rewrite.weight");
  REQUIRE(rewrite != nullptr);
  CHECK(static_cast<double>(rewrite->data[49]) == -5.733966827392578e-05);
}

TEST_CASE("TINY4 checkpoint reads with 433 tensors", "[checkpoint]") {
  const Checkpoint ck = read_checkpoint(rz::test::require_shared(kTiny4));
  CHECK(ck.name == "tiny4000");
  check_totals(ck, {433, 323296, 3266.5841416716576, 22999.168314278126,
                    "0421bf8f56a5f71cdb252e368d6a8d41055d996d1443732cf6868b01820cc592"});
  CHECK(ck.state.back().first == "crosstransformer.layers_t.1.gamma_2.scale");
  CHECK(ck.kwargs.size() == 62);
  CHECK(ck.kwargs["sources"] == nlohmann::json({"drums", "bass", "other", "vocals"}));
  CHECK(ck.kwargs["segment"].get<double>() == 7.8);
  CHECK(ck.kwargs["channels"] == 8);
  CHECK(ck.kwargs["bottom_channels"] == 32);
  CHECK(ck.kwargs["t_layers"] == 2);
  CHECK(ck.kwargs["t_heads"] == 2);
  CHECK(ck.kwargs["t_hidden_scale"].get<double>() == 2.0);
  check_tensor(ck, "encoder.0.conv.weight", {8, 4, 8, 1}, -1.4676856994628906,
               {{0, -0.1339111328125}, {128, -0.150634765625}, {255, 0.131103515625}});
  check_tensor(ck, "freq_emb.embedding.weight", {512, 8}, -40.129087209701538,
               {{0, 0.00836944580078125}, {2048, -0.07513427734375}, {4095, 0.11737060546875}});
  check_tensor(ck, "crosstransformer.layers_t.1.gamma_2.scale", {32}, 18.2034912109375,
               {{0, 0.58642578125}, {16, 0.377685546875}, {31, 0.343994140625}});
}

TEST_CASE("TINY6 checkpoint has six sources", "[checkpoint]") {
  const Checkpoint ck = read_checkpoint(rz::test::require_shared(kTiny6));
  CHECK(ck.name == "tiny6000");
  check_totals(ck, {433, 324076, 3338.5065634846687, 23129.131849110126,
                    "eb9664a24d950571092995d000f89eeff864fb30cb50d0e8e1f84f44dd4c2ede"});
  CHECK(ck.kwargs["sources"] ==
        nlohmann::json({"drums", "bass", "other", "vocals", "guitar", "piano"}));
  check_tensor(ck, "tdecoder.3.conv_tr.weight", {8, 12, 8}, -2.8264366984367371,
               {{0, 0.028228759765625}, {384, 0.09100341796875}, {767, 0.1070556640625}});
  check_tensor(ck, "decoder.3.conv_tr.weight", {8, 24, 8, 1}, 4.9977125525474548,
               {{0, 0.0217437744140625}, {768, 0.08251953125}, {1535, 0.08990478515625}});
}

TEST_CASE("bag member checkpoints read", "[checkpoint]") {
  const Checkpoint a = read_checkpoint(rz::test::require_shared(kBag01));
  CHECK(a.name == "tinybg01");
  check_totals(a, {433, 323296, 3085.9657102823257, 23086.225069403648,
                   "8f59cb43a21384742f681a6e8da45ae1766d0cccf55502913543c54b1bead552"});
  check_tensor(a, "encoder.0.conv.weight", {8, 4, 8, 1}, -2.6815717220306396,
               {{0, -0.00434112548828125}, {128, -0.0865478515625}, {255, -0.1678466796875}});
  // fp16 subnormal, bits 0x023a.
  CHECK(static_cast<double>(a.find("encoder.0.dconv.layers.0.0.weight")->data[1]) ==
        3.3974647521972656e-05);

  const Checkpoint b = read_checkpoint(rz::test::require_shared(kBag02));
  CHECK(b.name == "tinybg02");
  check_totals(b, {433, 323296, 3290.9022680521011, 23023.165280342102,
                   "b7d36bf9adf1470e72669dcc8a8d82b90feb39a2515b573d9d771a426164c2fe"});
  check_tensor(b, "encoder.0.conv.weight", {8, 4, 8, 1}, -0.63282489776611328,
               {{0, -0.10467529296875}, {128, -0.015899658203125}, {255, 0.1641845703125}});
  CHECK(a.find("no.such.key") == nullptr);
}

// ------------------------------------------------------- refusals on copies of a real file

TEST_CASE("truncated checkpoint is refused", "[checkpoint]") {
  const fs::path tiny = rz::test::require_shared(kTiny4);
  rz::test::TempDir tmp;
  const fs::path cut = tmp / tiny.filename().string();
  copy_prefix(tiny, cut, fs::file_size(tiny) / 2);
  const std::string msg = input_error([&] { read_checkpoint(cut); });
  CHECK_THAT(msg, Catch::Contains("bad checkpoint") && Catch::Contains("truncated"));
}

TEST_CASE("wrong SHA-256 prefix in the name is refused", "[checkpoint]") {
  const fs::path tiny = rz::test::require_shared(kTiny4);
  rz::test::TempDir tmp;
  const fs::path renamed = tmp / "tiny4000-deadbeef.th";
  fs::copy_file(tiny, renamed);
  const std::string msg = input_error([&] { read_checkpoint(renamed); });
  CHECK_THAT(msg, Catch::Contains("SHA-256") && Catch::Contains("deadbeef") &&
                      Catch::Contains("0421bf8f"));
}

TEST_CASE("a text file is not a zip", "[checkpoint]") {
  rz::test::TempDir tmp;
  write_text(tmp / "x-00000000.th", "this is not a checkpoint\n");
  CHECK_THAT(input_error([&] { read_checkpoint(tmp / "x-00000000.th"); }),
             Catch::Contains("not a zip"));
  CHECK_THAT(input_error([&] { read_checkpoint(tmp / "absent-00000000.th"); }),
             Catch::Contains("cannot read"));
  write_text(tmp / "empty.th", "");
  CHECK_THAT(input_error([&] { read_checkpoint(tmp / "empty.th"); }), Catch::Contains("not a zip"));
}

TEST_CASE("a name without a hash loads without verification", "[checkpoint]") {
  const fs::path tiny = rz::test::require_shared(kTiny4);
  rz::test::TempDir tmp;
  for (const char* name : {"tiny4000.th", "my-model.th", "tiny4000-0421BF8F.th", "x-0421bf8f"}) {
    INFO(name);
    fs::copy_file(tiny, tmp / name);
    const Checkpoint ck = read_checkpoint(tmp / name);
    CHECK(ck.name == fs::path(name).stem().string());
    CHECK(ck.state.size() == 433);
    CHECK(ck.sha256.substr(0, 8) == "0421bf8f");
  }
}

TEST_CASE("a corrupt storage in an unhashed copy fails its CRC", "[checkpoint]") {
  const fs::path tiny = rz::test::require_shared(kTiny4);
  rz::test::TempDir tmp;
  const fs::path copy = tmp / "tiny4000.th";
  fs::copy_file(tiny, copy);
  {
    // archive/data/0's local header is at 57347; torch pads it so that the data starts at the
    // 64-byte boundary 57408.
    std::fstream f(copy, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(57408 + 10);
    f.put('\x55');
    REQUIRE(f.good());
  }
  CHECK_THAT(input_error([&] { read_checkpoint(copy); }),
             Catch::Contains("CRC-32") && Catch::Contains("archive/data/0"));
}

TEST_CASE("a checkpoint written back from its contents reads the same", "[checkpoint]") {
  // th_writer's checkpoint writer makes the malformed models of the CLI tests; this shows that
  // what it writes differs from a real checkpoint only in what a test changes on purpose.
  const Checkpoint ck = read_checkpoint(rz::test::require_shared(kTiny4));
  rz::test::TempDir tmp;
  for (const auto storage : {rz::test::th::Storage::kHalf, rz::test::th::Storage::kFloat}) {
    const bool half = storage == rz::test::th::Storage::kHalf;
    INFO((half ? "HalfStorage" : "FloatStorage"));
    const fs::path path = tmp / (half ? "half.th" : "float.th");
    rz::test::th::write_checkpoint(path, ck, storage);
    const Checkpoint back = read_checkpoint(path);
    CHECK(back.klass == ck.klass);
    CHECK(back.args == ck.args);
    CHECK(back.kwargs == ck.kwargs);
    REQUIRE(back.state.size() == ck.state.size());
    size_t differing = 0;
    for (size_t i = 0; i < ck.state.size(); ++i) {
      if (back.state[i].first != ck.state[i].first ||
          back.state[i].second.shape != ck.state[i].second.shape ||
          back.state[i].second.data != ck.state[i].second.data)
        ++differing;
    }
    CHECK(differing == 0);
    // fp16 storages take half the bytes of fp32 ones: 323,296 values.
    CHECK(fs::file_size(path) > (half ? 2u : 4u) * 323296u);
    CHECK(fs::file_size(path) < (half ? 2u : 4u) * 323296u + 200000u);
  }
}

// ---------------------------------------------------------------- hand-built archives

TEST_CASE("hand-built checkpoint with and without zip64 records", "[checkpoint]") {
  rz::test::TempDir tmp;
  for (bool zip64 : {false, true}) {
    INFO("zip64 " << zip64);
    write_zip(tmp / "m.th", archive(pk::checkpoint(kSimpleKwargs, kSimpleState)), zip64);
    const Checkpoint ck = read_checkpoint(tmp / "m.th");
    CHECK(ck.name == "m");
    CHECK(ck.kwargs == nlohmann::json({{"channels", 8}}));
    REQUIRE(ck.state.size() == 1);
    CHECK(ck.state[0].second.shape == std::vector<int64_t>{3, 4});
    CHECK(ck.state[0].second.data == std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  }
  // torch.save to a path names the root folder after the file, not "archive".
  write_zip(tmp / "n.th", archive(pk::checkpoint(kSimpleKwargs, kSimpleState), "n"), false);
  CHECK(read_checkpoint(tmp / "n.th").state.size() == 1);
}

TEST_CASE("strides and storage offset give a contiguous tensor", "[checkpoint]") {
  rz::test::TempDir tmp;
  const std::string state = pk::dict({
      {pk::str("transposed"), pk::tensor("FloatStorage", "0", 12, 1, {3, 2}, {1, 3})},
      {pk::str("tail"), pk::tensor("FloatStorage", "0", 12, 10, {2}, {1})},
      {pk::str("scalar"), pk::tensor("FloatStorage", "0", 12, 7, {}, {})},
      {pk::str("expanded"), pk::tensor("FloatStorage", "0", 12, 0, {2, 3}, {0, 1})},
      {pk::str("empty"), pk::tensor("FloatStorage", "0", 12, 0, {0, 5}, {5, 1})},
      {pk::str("unit_dim"), pk::tensor("FloatStorage", "0", 12, 4, {1, 4}, {99, 1})},
  });
  write_zip(tmp / "m.th", archive(pk::checkpoint(kSimpleKwargs, state)), false);
  const Checkpoint ck = read_checkpoint(tmp / "m.th");
  REQUIRE(ck.state.size() == 6);
  CHECK(ck.state[0].first == "transposed");  // file order
  CHECK(ck.find("transposed")->shape == std::vector<int64_t>{3, 2});
  CHECK(ck.find("transposed")->data == std::vector<float>{1, 4, 2, 5, 3, 6});
  CHECK(ck.find("tail")->data == std::vector<float>{10, 11});
  CHECK(ck.find("scalar")->shape.empty());
  CHECK(ck.find("scalar")->data == std::vector<float>{7});
  CHECK(ck.find("expanded")->data == std::vector<float>{0, 1, 2, 0, 1, 2});
  CHECK(ck.find("empty")->shape == std::vector<int64_t>{0, 5});
  CHECK(ck.find("empty")->data.empty());
  CHECK(ck.find("unit_dim")->data == std::vector<float>{4, 5, 6, 7});
}

TEST_CASE("fp16 and fp64 storages convert to fp32", "[checkpoint]") {
  rz::test::TempDir tmp;
  // 1, -0, 2^-24 (smallest subnormal), 1023 * 2^-24 (largest subnormal), 65504, -inf, NaN.
  const std::vector<uint16_t> halves = {0x3c00, 0x8000, 0x0001, 0x03ff, 0x7bff, 0xfc00, 0x7e00};
  std::string half_bytes;
  for (uint16_t h : halves) half_bytes += le(h, 2);
  const std::vector<double> doubles = {0.1, -2.5, 1e300};
  std::string double_bytes(doubles.size() * 8, '\0');
  std::memcpy(double_bytes.data(), doubles.data(), double_bytes.size());
  const std::string state = pk::dict({
      {pk::str("h"), pk::tensor("HalfStorage", "0", 7, 0, {7}, {1})},
      {pk::str("d"), pk::tensor("DoubleStorage", "1", 3, 0, {3}, {1})},
  });
  write_zip(tmp / "m.th",
            {{"archive/data.pkl", pk::checkpoint(kSimpleKwargs, state)},
             {"archive/data/0", half_bytes},
             {"archive/data/1", double_bytes}},
            false);
  const Checkpoint ck = read_checkpoint(tmp / "m.th");
  const std::vector<float>& h = ck.find("h")->data;
  REQUIRE(h.size() == 7);
  CHECK(h[0] == 1.0f);
  CHECK(h[1] == 0.0f);
  CHECK(std::signbit(h[1]));
  CHECK(h[2] == std::ldexp(1.0f, -24));
  CHECK(h[3] == std::ldexp(1023.0f, -24));
  CHECK(h[4] == 65504.0f);
  CHECK(h[5] == -std::numeric_limits<float>::infinity());
  CHECK(std::isnan(h[6]));
  const std::vector<float>& d = ck.find("d")->data;
  CHECK(d == std::vector<float>{0.1f, -2.5f, std::numeric_limits<float>::infinity()});
}

TEST_CASE("big-endian byteorder record is honoured", "[checkpoint]") {
  rz::test::TempDir tmp;
  std::string be;
  for (float v : {1.5f, -3.0f}) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    for (int i = 3; i >= 0; --i) be += static_cast<char>((bits >> (8 * i)) & 0xff);
  }
  const std::string state =
      pk::dict({{pk::str("w"), pk::tensor("FloatStorage", "0", 2, 0, {2}, {1})}});
  write_zip(tmp / "m.th",
            {{"archive/data.pkl", pk::checkpoint(kSimpleKwargs, state)},
             {"archive/byteorder", "big"},
             {"archive/data/0", be}},
            false);
  CHECK(read_checkpoint(tmp / "m.th").find("w")->data == std::vector<float>{1.5f, -3.0f});
}

TEST_CASE("kwargs convert to JSON with Fractions as doubles", "[checkpoint]") {
  rz::test::TempDir tmp;
  const std::string kwargs = pk::dict({
      {pk::str("segment"),
       pk::global("fractions", "Fraction") + pk::tuple({pk::integer(39), pk::integer(5)}) + "R"},
      // Pythons before 3.11 pickle a Fraction as its string.
      {pk::str("old_segment"),
       pk::global("fractions", "Fraction") + pk::tuple({pk::str("39/5")}) + "R"},
      {pk::str("none"), "N"},
      {pk::str("flags"), pk::list({"\x88", "\x89"})},
      {pk::str("pair"), pk::tuple({pk::integer(-7), "G" + std::string("\x3f\xf8\0\0\0\0\0\0", 8)})},
      {pk::str("small"), "K\xff"},
      {pk::str("big"), std::string("\x8a\x05\0\0\0\0\x80", 7)},  // LONG1: -2^39
      {pk::str("nested"), pk::dict({{pk::str("a"), pk::list({pk::str("x")})}})},
      {pk::str("ordered"), pk::global("collections", "OrderedDict") + ")R"},
  });
  write_zip(tmp / "m.th", archive(pk::checkpoint(kwargs, kSimpleState)), false);
  const Checkpoint ck = read_checkpoint(tmp / "m.th");
  const nlohmann::json want = {
      {"segment", 7.8},         {"old_segment", 7.8},       {"none", nullptr},
      {"flags", {true, false}}, {"pair", {-7, 1.5}},        {"small", 255},
      {"big", -549755813888},   {"nested", {{"a", {"x"}}}}, {"ordered", nlohmann::json::object()},
  };
  CHECK(ck.kwargs == want);
}

TEST_CASE("protocol 4 opcodes are understood", "[checkpoint]") {
  rz::test::TempDir tmp;
  auto short_str = [](const std::string& s) {
    return "\x8c" + std::string(1, static_cast<char>(s.size())) + s;
  };
  // PROTO 4, FRAME, SHORT_BINUNICODE, STACK_GLOBAL, MEMOIZE, BINGET, EMPTY_SET + ADDITEMS.
  const std::string tensor =
      short_str("torch._utils") + short_str("_rebuild_tensor_v2") + std::string("\x93\x94(") +
      pk::tuple({short_str("storage"), short_str("torch") + short_str("FloatStorage") + "\x93",
                 short_str("0"), short_str("cpu"), "K\x0c"}) +
      std::string("QK\0", 3) + pk::ints({2, 6}) + pk::ints({6, 1}) + "\x89}tR";
  const std::string body =
      "}\x94(" + short_str("klass") + short_str("demucs.htdemucs") + short_str("HTDemucs") +
      "\x93" + short_str("args") + ")" + short_str("kwargs") + "}\x94(" + short_str("tag") +
      short_str("x") + "\x94" + short_str("again") + "h\x02" + short_str("set") + "\x8f(K\x01\x90" +
      "u" + short_str("state") + "}(" + short_str("w") + tensor + "u" + "u.";
  const std::string pickle = "\x80\x04\x95" + le(body.size(), 8) + body;
  write_zip(tmp / "m.th", archive(pickle), false);
  const Checkpoint ck = read_checkpoint(tmp / "m.th");
  CHECK(ck.kwargs == nlohmann::json({{"tag", "x"}, {"again", "x"}, {"set", {1}}}));
  CHECK(ck.find("w")->shape == std::vector<int64_t>{2, 6});
  CHECK(ck.find("w")->data.back() == 11.0f);
}

TEST_CASE("unknown objects in training_args are skipped", "[checkpoint]") {
  rz::test::TempDir tmp;
  // GLOBAL + REDUCE, NEWOBJ + BUILD, a bare class and a huge int, nested in dicts and lists.
  const std::string training_args = pk::dict({
      {pk::str("optim"), pk::global("omegaconf.dictconfig", "DictConfig") +
                             pk::tuple({pk::str("adam")}) + "R" + "}b"},
      {pk::str("cls"), pk::global("builtins", "object")},
      {pk::str("obj"), pk::list({pk::global("argparse", "Namespace") + ")\x81" +
                                 pk::dict({{pk::str("lr"), "G" + std::string(8, '\0')}}) + "b"})},
      {pk::str("huge"), std::string("\x8a\x09", 2) + std::string(9, '\x01')},
      {pk::str("tensor"), pk::tensor("BFloat16Storage", "9", 1, 0, {1}, {1})},
  });
  write_zip(tmp / "m.th", archive(pk::checkpoint(kSimpleKwargs, kSimpleState, training_args)),
            false);
  const Checkpoint ck = read_checkpoint(tmp / "m.th");
  CHECK(ck.state.size() == 1);
  CHECK(ck.kwargs == nlohmann::json({{"channels", 8}}));
}

TEST_CASE("unsupported globals outside training_args are refused", "[checkpoint]") {
  rz::test::TempDir tmp;
  const fs::path path = tmp / "m.th";
  const auto message = [&](const std::string& pickle) { return pickle_refusal(path, pickle); };
  const std::string call = pk::global("os", "system") + pk::tuple({pk::str("true")}) + "R";
  CHECK_THAT(message(pk::checkpoint(pk::dict({{pk::str("x"), call}}), kSimpleState)),
             Catch::Contains("unsupported pickle global 'os.system' in kwargs['x']"));
  CHECK_THAT(message(pk::checkpoint(pk::dict({{pk::str("x"), pk::list({pk::str("a"), call})}}),
                                    kSimpleState)),
             Catch::Contains("'os.system' in kwargs['x'][1]"));
  CHECK_THAT(message(pk::checkpoint(kSimpleKwargs, pk::dict({{pk::str("w"), call}}))),
             Catch::Contains("unsupported pickle global 'os.system' in state['w']"));
  const std::string parameter =
      pk::global("torch._utils", "_rebuild_parameter") +
      pk::tuple({pk::tensor("FloatStorage", "0", 12, 0, {12}, {1}), "\x88",
                 pk::global("collections", "OrderedDict") + ")R"}) +
      "R";
  CHECK_THAT(message(pk::checkpoint(kSimpleKwargs, pk::dict({{pk::str("w"), parameter}}))),
             Catch::Contains("'torch._utils._rebuild_parameter' in state['w']"));
  CHECK_THAT(
      message(pk::checkpoint(kSimpleKwargs, kSimpleState, "}", pk::global("builtins", "eval"))),
      Catch::Contains("unsupported model class 'builtins.eval'"));
  CHECK_THAT(message(pk::checkpoint(
                 kSimpleKwargs,
                 pk::dict({{pk::str("w"), pk::tensor("BFloat16Storage", "0", 24, 0, {2}, {1})}}))),
             Catch::Contains("unsupported pickle global 'torch.BFloat16Storage'"));
  const std::string huge = std::string("\x8a\x09", 2) + std::string(9, '\x01');  // LONG1, 72 bits
  CHECK_THAT(message(pk::checkpoint(pk::dict({{pk::str("n"), huge}}), kSimpleState)),
             Catch::Contains("unsupported value (int wider than 64 bits) in kwargs['n']"));
  CHECK_THAT(message(pk::checkpoint(kSimpleKwargs, pk::dict({{pk::str("w"), pk::integer(3)}}))),
             Catch::Contains("state['w'] is not a tensor (int)"));
  // Other demucs model classes are read; the caller decides whether it can build them.
  write_zip(path,
            archive(pk::checkpoint(kSimpleKwargs, kSimpleState, "}",
                                   pk::global("demucs.hdemucs", "HDemucs"))),
            false);
  CHECK(read_checkpoint(path).klass == "demucs.hdemucs.HDemucs");
}

TEST_CASE("unsupported pickle opcodes are named", "[checkpoint]") {
  rz::test::TempDir tmp;
  const fs::path path = tmp / "m.th";
  const auto message = [&](const std::string& pickle) { return pickle_refusal(path, pickle); };
  CHECK_THAT(message(std::string("\x80\x02", 2) + "(" + pk::global("os", "system") + "i"),
             Catch::Contains("unsupported pickle opcode INST (0x69)"));
  CHECK_THAT(message(std::string("\x80\x05\x97.", 4)),
             Catch::Contains("unsupported pickle opcode NEXT_BUFFER (0x97) at byte 2"));
  CHECK_THAT(message(std::string("\x80\x02\xff.", 4)),
             Catch::Contains("unknown pickle opcode 0xff"));
  const std::string whole = pk::checkpoint(kSimpleKwargs, kSimpleState);
  CHECK_THAT(message(whole.substr(0, whole.size() / 2)), Catch::Contains("pickle truncated"));
  CHECK_THAT(message(std::string("\x80\x02", 2) + "h\x07."),
             Catch::Contains("memo entry 7 is missing"));
  CHECK_THAT(message(std::string("\x80\x02", 2) + "]."), Catch::Contains("not a dict"));
  CHECK_THAT(message(std::string("\x80\x02", 2) + "}."), Catch::Contains("no 'klass'"));
}

// Found by tests/fuzz (fuzz_pickle): TUPLE2 took items from below a MARK, which left the MARK past
// the end of the stack, and the next opcode that closed it threw std::length_error.
TEST_CASE("opcodes never take items from below a MARK", "[checkpoint]") {
  rz::test::TempDir tmp;
  const fs::path path = tmp / "m.th";
  const auto message = [&](const std::string& pickle) { return pickle_refusal(path, pickle); };
  CHECK_THAT(message(std::string("}}(\x86") + "e"), Catch::Contains("stack underflow at byte 3"));
  CHECK_THAT(message("N(\x85l."), Catch::Contains("stack underflow at byte 2"));
  CHECK_THAT(message("NN(N\x87t."), Catch::Contains("stack underflow at byte 4"));
  CHECK_THAT(message("}(\x85\x85."), Catch::Contains("stack underflow at byte 2"));
  // Within the MARK they still build tuples.
  CHECK_THAT(message("(NN\x86t."), Catch::Contains("not a dict"));
}

// Found by tests/fuzz (fuzz_pickle, by reading the code after the first case): the memo lets a
// pickle repeat one long string for two bytes a time, and every repetition was copied. 70 copies
// of a 1 MiB string pass kMaxTextCopyBytes (64 MiB) long before they could exhaust memory.
TEST_CASE("repeated references to a long string are refused, not copied without end",
          "[checkpoint]") {
  rz::test::TempDir tmp;
  const fs::path path = tmp / "m.th";
  const auto message = [&](const std::string& pickle) { return pickle_refusal(path, pickle); };
  const std::string long_string = pk::str(std::string(size_t{1} << 20, 'x')) + "q\x01";
  std::string references;
  for (int i = 0; i < 70; ++i) references += "h\x01";
  // In kwargs: the JSON would hold 70 MiB of text.
  CHECK_THAT(message(pk::checkpoint("}(" + pk::str("a") + "](" + long_string + references + "eu",
                                    kSimpleState)),
             Catch::Contains("kwargs['a'][") &&
                 Catch::Contains("expands to more than 67108864 bytes of text"));
  // Inside the pickle machine: as the module of STACK_GLOBAL, and as a dict key.
  std::string globals = std::string("\x80\x04", 2) + long_string + pk::str("n") + "q\x02";
  for (int i = 0; i < 70; ++i) globals += std::string("h\x01h\x02\x93") + "0";
  CHECK_THAT(message(globals + "}."),
             Catch::Contains("copies more than 67108864 bytes of names and keys"));
  std::string keys = "}" + long_string + "Ns";
  for (int i = 0; i < 70; ++i) keys += "h\x01Ns";
  CHECK_THAT(message(keys + "."), Catch::Contains("copies more than 67108864 bytes of names"));
}

TEST_CASE("a pickle that builds millions of objects is refused before it eats memory",
          "[checkpoint]") {
  // Each opcode builds an object of about 240 bytes: 4 MB of NONE opcodes would take 1 GB.
  rz::test::TempDir tmp;
  const fs::path path = tmp / "m.th";
  write_zip(path, archive(std::string("\x80\x02", 2) + std::string(size_t{4} << 20, 'N') + "."),
            false);
  CHECK_THAT(input_error([&] { read_checkpoint(path); }),
             Catch::Contains("builds more than 2097152 objects"));
}

TEST_CASE("missing or mis-sized storages are refused", "[checkpoint]") {
  rz::test::TempDir tmp;
  const fs::path path = tmp / "m.th";
  auto message = [&](const std::string& state) {
    write_zip(path, archive(pk::checkpoint(kSimpleKwargs, state)), false);
    return input_error([&] { read_checkpoint(path); });
  };
  CHECK_THAT(
      message(pk::dict({{pk::str("w"), pk::tensor("FloatStorage", "7", 12, 0, {12}, {1})}})),
      Catch::Contains("storage '7' of state['w'] is absent") && Catch::Contains("archive/data/7"));
  CHECK_THAT(message(pk::dict({{pk::str("w"), pk::tensor("FloatStorage", "0", 10, 0, {10}, {1})}})),
             Catch::Contains("has 48 bytes, expected 10 x 4"));
  CHECK_THAT(message(pk::dict({{pk::str("w"), pk::tensor("HalfStorage", "0", 12, 0, {12}, {1})}})),
             Catch::Contains("has 48 bytes, expected 12 x 2"));
  CHECK_THAT(
      message(pk::dict({{pk::str("w"), pk::tensor("FloatStorage", "0", 12, 5, {2, 4}, {4, 1})}})),
      Catch::Contains("state['w'] reaches past the end of storage '0'"));
}

TEST_CASE("malformed zip archives are refused", "[checkpoint]") {
  rz::test::TempDir tmp;
  const fs::path path = tmp / "m.th";
  const std::string pickle = pk::checkpoint(kSimpleKwargs, kSimpleState);
  auto message = [&](const std::vector<ZipEntryIn>& entries) {
    write_zip(path, entries, true);
    return input_error([&] { read_checkpoint(path); });
  };
  std::vector<ZipEntryIn> entries = archive(pickle);
  entries.erase(entries.begin());
  CHECK_THAT(message(entries), Catch::Contains("no 'archive/data.pkl' in the zip"));
  entries = archive(pickle);
  entries[1].method = 8;
  CHECK_THAT(message(entries), Catch::Contains("entry 'archive/data/0' is compressed (method 8)"));
  entries = archive(pickle);
  entries[0].bad_crc = true;
  CHECK_THAT(message(entries), Catch::Contains("CRC-32 mismatch in entry 'archive/data.pkl'"));
  CHECK_THAT(message({{"data.pkl", pickle}}), Catch::Contains("no top-level folder"));

  // A central directory that points past its own start.
  write_zip(path, archive(pickle), false);
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const std::string patched = bytes.substr(0, bytes.size() - 6) + le(bytes.size(), 4) + le(0, 2);
  write_text(path, patched);
  CHECK_THAT(input_error([&] { read_checkpoint(path); }),
             Catch::Contains("central directory outside the file"));
}

// ------------------------------------------------------------------------------- bags

TEST_CASE("tinybag.yaml reads", "[bag]") {
  const Bag bag = read_bag(rz::test::require_shared(kTinyBag));
  CHECK(bag.models == std::vector<std::string>{"tinybg01", "tinybg02"});
  CHECK(bag.weights == std::vector<std::vector<double>>{{1, 0, 1, 0}, {0, 1, 0, 1}});
  CHECK_FALSE(bag.segment.has_value());
}

TEST_CASE("bag YAML forms of the official files", "[bag]") {
  rz::test::TempDir tmp;
  const fs::path path = tmp / "bag.yaml";
  // htdemucs_ft.yaml's layout.
  write_text(path,
             "models: ['f7e0c4bc', 'd12395a8', '92cfc3b6', '04573f0d']\n"
             "weights: [\n  [1., 0., 0., 0.],\n  [0., 1., 0., 0.],\n  [0., 0., 1., 0.],\n"
             "  [0., 0., 0., 1.],\n]\n");
  Bag bag = read_bag(path);
  CHECK(bag.models == std::vector<std::string>{"f7e0c4bc", "d12395a8", "92cfc3b6", "04573f0d"});
  REQUIRE(bag.weights.size() == 4);
  CHECK(bag.weights[2] == std::vector<double>{0, 0, 1, 0});

  // A single model (htdemucs.yaml) with a segment (mdx.yaml) and comments.
  write_text(path, "# one model\nmodels: ['955717e8']  # the release\n\nsegment: 44\n");
  bag = read_bag(path);
  CHECK(bag.models == std::vector<std::string>{"955717e8"});
  CHECK(bag.weights.empty());
  REQUIRE(bag.segment.has_value());
  CHECK(*bag.segment == 44.0);

  // Block lists, plain and double-quoted scalars, CRLF line ends.
  write_text(path,
             "---\r\nmodels:\r\n  - a1\r\n  - \"b 2\"\r\nweights:\r\n- [0.25, 0.75]\r\n"
             "- [+1, .5]\r\nsegment: 7.8\r\n");
  bag = read_bag(path);
  CHECK(bag.models == std::vector<std::string>{"a1", "b 2"});
  CHECK(bag.weights == std::vector<std::vector<double>>{{0.25, 0.75}, {1, 0.5}});
  CHECK(*bag.segment == 7.8);
}

TEST_CASE("malformed bag YAML is refused with its line", "[bag]") {
  rz::test::TempDir tmp;
  const fs::path path = tmp / "bag.yaml";
  auto message = [&](const std::string& text) {
    write_text(path, text);
    return input_error([&] { read_bag(path); });
  };
  CHECK_THAT(message("models: [a]\nrepo: x\n"),
             Catch::Contains("bad model bag") && Catch::Contains("line 2: unsupported key 'repo'"));
  CHECK_THAT(message("models: [a, b]\nweights: [[1, 0]]\n"),
             Catch::Contains("'weights' has 1 rows for 2 models"));
  CHECK_THAT(message("models: [a, b]\nweights: [[1, 0], [1]]\n"),
             Catch::Contains("rows of 'weights' differ"));
  CHECK_THAT(message("models: [a, b\nweights: [[1]]\n"), Catch::Contains("expected ',' or ']'"));
  CHECK_THAT(message("models: [a, b\n"), Catch::Contains("unterminated '['"));
  CHECK_THAT(message("models: [a]\nweights: [['1']]\n"), Catch::Contains("not a finite number"));
  CHECK_THAT(message("models: [a]\nweights: [[x]]\n"),
             Catch::Contains("line 2: 'x' is not a finite number"));
  CHECK_THAT(message("models: {a: 1}\n"), Catch::Contains("unsupported YAML '{'"));
  CHECK_THAT(message("models:\n  a: 1\n"), Catch::Contains("line 2: missing value"));
  CHECK_THAT(message("models: a\n"), Catch::Contains("'models' must be a list"));
  CHECK_THAT(message("models: [a]\nmodels: [b]\n"), Catch::Contains("duplicate key 'models'"));
  CHECK_THAT(message("segment: 4\n"), Catch::Contains("no 'models' list"));
  CHECK_THAT(message("models: []\n"), Catch::Contains("'models' is empty"));
  CHECK_THAT(message("models: [a,,b]\n"), Catch::Contains("empty list item"));
  CHECK_THAT(message("  models: [a]\n"), Catch::Contains("line 1: expected a top-level"));
  CHECK_THAT(message("models: [a]\nsegment: -1\n"), Catch::Contains("'segment' must be positive"));
  CHECK_THAT(message("models: &x [a]\n"), Catch::Contains("unsupported YAML '&'"));
  CHECK_THAT(input_error([&] { read_bag(tmp / "absent.yaml"); }), Catch::Contains("cannot read"));
}
