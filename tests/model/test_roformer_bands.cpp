// The RoFormer band tables against the buffers of the official MelBandRoformer and the librosa
// 0.11 filter bank they come from (../shared/roformer/mel_bands, n_fft 2048 and 4096, sr 44100,
// 60 bands, stereo), and the BS-RoFormer split of MSST's default bands.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "npy.hpp"
#include "rz/roformer/bands.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using rz::roformer::BandLayout;

namespace {

// The filter bank is computed in float64 with librosa's formulas and rounded to float32 where
// librosa rounds (the triangle, then the triangle times the Slaney factor). What can still differ
// is the last bit of std::log / std::exp against numpy's, < 1 ulp of float64 (1.1e-16 relative)
// before the roundings: that flips a float32 rounding only next to a tie, by one float32 ulp
// (<= 2^-23 = 1.19e-7 relative). So a positive reference weight must agree to one ulp:
constexpr double kMaxRelDiff = 1.2e-7;
// A zero reference weight sits at a triangle's end, where the last float64 bit of an edge
// frequency decides between 0 and a residue of about ulp(edge) / band width x Slaney factor:
// at most ~5e-17 over these banks (1.1e-13 Hz / 66 Hz x 0.015 at 1 kHz, less elsewhere), such as
// the "~1.9e-18" that MSST's comment says some systems give at the top band's Nyquist bin.
// Positive weights are >= 6e-8, far above the bound.
constexpr double kMaxAbsDiffAtZero = 1e-15;

// The raw data of a C-ordered .npy array of dtype `descr` ('|b1', '<i8'), with its shape.
std::vector<char> npy_bytes(const fs::path& path, const std::string& descr,
                            std::vector<int64_t>& shape) {
  std::ifstream f(path, std::ios::binary);
  const std::vector<char> all{std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
  if (all.size() < 10 || std::memcmp(all.data(), "\x93NUMPY", 6) != 0 || all[6] != 1) {
    throw std::runtime_error("not a version-1 npy file: " + path.string());
  }
  const size_t header_len = static_cast<unsigned char>(all[8]) |
                            (static_cast<size_t>(static_cast<unsigned char>(all[9])) << 8);
  const std::string header(all.data() + 10, header_len);
  if (header.find("'descr': '" + descr + "'") == std::string::npos ||
      header.find("'fortran_order': False") == std::string::npos) {
    throw std::runtime_error("unexpected npy header in " + path.string() + ": " + header);
  }
  shape.clear();
  const size_t open = header.find('(', header.find("'shape'"));
  size_t pos = open + 1;
  while (pos < header.size() && header[pos] != ')') {
    if (header[pos] == ' ' || header[pos] == ',') {
      ++pos;
      continue;
    }
    size_t used = 0;
    shape.push_back(std::stoll(header.substr(pos), &used));
    pos += used;
  }
  return {all.begin() + static_cast<std::ptrdiff_t>(10 + header_len), all.end()};
}

std::vector<int64_t> read_i8(const fs::path& path, std::vector<int64_t>& shape) {
  const std::vector<char> raw = npy_bytes(path, "<i8", shape);
  std::vector<int64_t> out(raw.size() / 8);
  std::memcpy(out.data(), raw.data(), out.size() * 8);
  return out;
}

}  // namespace

TEST_CASE("mel band tables match MelBandRoformer's buffers and librosa's filter bank",
          "[roformer][bands]") {
  const fs::path dir = rz::test::require_shared("roformer/mel_bands");
  constexpr int kSampleRateHz = 44100;
  constexpr int64_t kBands = 60;
  constexpr int kChannels = 2;
  // Total band memberships (index.json): bins in two bands count twice.
  for (const auto& [n_fft, memberships] : {std::pair<int64_t, size_t>{2048, 1979}, {4096, 3957}}) {
    INFO("n_fft " << n_fft);
    const int64_t bins = n_fft / 2 + 1;
    const std::string prefix = "nfft" + std::to_string(n_fft) + ".";
    std::vector<int64_t> shape;

    // The filter bank as librosa returns it.
    const rz::test::NpyArray ref_fb = rz::test::read_npy(dir / (prefix + "mel_fb_librosa.npy"));
    REQUIRE(ref_fb.shape == std::vector<int64_t>{kBands, bins});
    const std::vector<float> fb = rz::roformer::mel_filter_bank(kSampleRateHz, n_fft, kBands);
    REQUIRE(fb.size() == ref_fb.data.size());
    double max_rel = 0, max_abs_at_zero = 0;
    size_t differing = 0, sign_mismatch = 0, last_differing = 0;
    for (size_t i = 0; i < fb.size(); ++i) {
      const double a = fb[i], r = ref_fb.data[i];
      const double d = std::fabs(a - r);
      if (r != 0) {
        max_rel = std::max(max_rel, d / std::fabs(r));
      } else {
        max_abs_at_zero = std::max(max_abs_at_zero, d);
      }
      if (d != 0) {
        ++differing;
        last_differing = i;
      }
      if ((a > 0) != (r > 0)) ++sign_mismatch;
    }
    INFO("max relative diff " << max_rel << ", max |diff| at zeros " << max_abs_at_zero << ", "
                              << differing << " of " << fb.size() << " weights differ");
    CHECK(max_rel <= kMaxRelDiff);
    CHECK(max_abs_at_zero <= kMaxAbsDiffAtZero);
    // `> 0` decides membership: it agrees everywhere but at the top band's Nyquist bin, which
    // MSST forces into the band anyway (below: the band tables agree exactly).
    CHECK(sign_mismatch <= 1);
    // Regression values (glibc 2.36, x86-64): every weight equals librosa's to the bit except
    // that one, 1.8e-18 here and 0.0 in the reference.
    CHECK(differing <= 1);
    if (differing == 1) CHECK(last_differing == fb.size() - 1);
    CHECK(fb.front() == 0.0f);  // librosa's -0.0 at [0][0], which MSST forces to 1
    CHECK(std::fabs(fb.back()) <= kMaxAbsDiffAtZero);

    const BandLayout layout = rz::roformer::mel_bands(kSampleRateHz, n_fft, kBands);
    REQUIRE(layout.bins.size() == static_cast<size_t>(kBands));

    // freqs_per_band: bool [bands][bins].
    const std::vector<char> member = npy_bytes(dir / (prefix + "freqs_per_band.npy"), "|b1", shape);
    REQUIRE(shape == std::vector<int64_t>{kBands, bins});
    std::vector<char> ours(member.size(), 0);
    for (size_t b = 0; b < layout.bins.size(); ++b) {
      for (const int64_t k : layout.bins[b])
        ours[b * static_cast<size_t>(bins) + static_cast<size_t>(k)] = 1;
    }
    CHECK(ours == member);

    const std::vector<int64_t> per_band = read_i8(dir / (prefix + "num_freqs_per_band.npy"), shape);
    std::vector<int64_t> our_per_band;
    size_t total = 0;
    for (const auto& band : layout.bins) {
      our_per_band.push_back(static_cast<int64_t>(band.size()));
      total += band.size();
    }
    CHECK(our_per_band == per_band);
    CHECK(total == memberships);

    CHECK(layout.bands_per_bin == read_i8(dir / (prefix + "num_bands_per_freq.npy"), shape));
    CHECK(layout.rows(kChannels) == read_i8(dir / (prefix + "freq_indices_stereo.npy"), shape));

    const std::vector<int64_t> widths = layout.widths(kChannels);
    REQUIRE(widths.size() == per_band.size());
    for (size_t b = 0; b < widths.size(); ++b) CHECK(widths[b] == 2 * kChannels * per_band[b]);
  }
}

TEST_CASE("split_bands lays consecutive bins out band by band", "[roformer][bands]") {
  const BandLayout layout = rz::roformer::split_bands({2, 3, 1});
  CHECK(layout.bins == std::vector<std::vector<int64_t>>{{0, 1}, {2, 3, 4}, {5}});
  CHECK(layout.bands_per_bin == std::vector<int64_t>(6, 1));
  CHECK(layout.rows(2) == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  CHECK(layout.rows(1) == std::vector<int64_t>{0, 1, 2, 3, 4, 5});
  CHECK(layout.widths(2) == std::vector<int64_t>{8, 12, 4});
  CHECK(layout.widths(1) == std::vector<int64_t>{4, 6, 2});
  CHECK_THROWS_AS(rz::roformer::split_bands({2, 0}), std::invalid_argument);
  // Mel triangles narrower than a bin leave bands without bins (read_config refuses those).
  const BandLayout sparse = rz::roformer::mel_bands(44100, 2048, 1000);
  CHECK(std::any_of(sparse.bins.begin(), sparse.bins.end(),
                    [](const std::vector<int64_t>& band) { return band.empty(); }));
}
