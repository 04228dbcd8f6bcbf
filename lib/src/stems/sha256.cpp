// SHA-256 after FIPS 180-4, written for rz; streaming so that multi-GB stems hash in constant
// memory.
#include "rz/stems/sha256.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "rz/error.hpp"
#include "rz/io/file.hpp"

// The SHA-NI code is x86 only; elsewhere (ARM: Apple, aarch64 Linux) the portable code runs.
#if defined(__x86_64__) || defined(__i386__)
#define RZ_SHA256_X86 1
#include <cpuid.h>
#include <immintrin.h>
#endif

namespace rz::stems {

namespace {

constexpr uint32_t kRound[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

inline uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

bool g_force_portable = false;

#ifdef RZ_SHA256_X86

// x86 SHA extensions: ~8x the portable code, which matters when hashing GB-sized stems.
bool cpu_has_sha() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  const bool sha = (b >> 29) & 1;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
  const bool sse41 = (c >> 19) & 1, ssse3 = (c >> 9) & 1;
  return sha && sse41 && ssse3;
}

// Processes `blocks` 64-byte blocks with the SHA-NI instructions. The state is kept as the two
// lanes the instructions use: ABEF and CDGH.
__attribute__((target("sha,sse4.1,ssse3"))) void blocks_shani(uint32_t* h, const uint8_t* p,
                                                              size_t blocks) {
  const __m128i byte_swap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
  __m128i abcd = _mm_loadu_si128(reinterpret_cast<const __m128i*>(h));
  __m128i efgh = _mm_loadu_si128(reinterpret_cast<const __m128i*>(h + 4));
  __m128i cdab = _mm_shuffle_epi32(abcd, 0xB1);
  efgh = _mm_shuffle_epi32(efgh, 0x1B);                // HGFE
  __m128i state0 = _mm_alignr_epi8(cdab, efgh, 8);     // ABEF
  __m128i state1 = _mm_blend_epi16(efgh, cdab, 0xF0);  // CDGH
  for (; blocks > 0; --blocks, p += 64) {
    const __m128i save0 = state0, save1 = state1;
    __m128i w[4];
    for (int i = 0; i < 16; ++i) {
      __m128i m;
      if (i < 4) {
        m = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * i)),
                             byte_swap);
      } else {
        // W[t] = s1(W[t-2]) + W[t-7] + s0(W[t-15]) + W[t-16], four words at a time.
        __m128i t = _mm_sha256msg1_epu32(w[i & 3], w[(i + 1) & 3]);
        t = _mm_add_epi32(t, _mm_alignr_epi8(w[(i + 3) & 3], w[(i + 2) & 3], 4));
        m = _mm_sha256msg2_epu32(t, w[(i + 3) & 3]);
      }
      w[i & 3] = m;
      __m128i wk =
          _mm_add_epi32(m, _mm_loadu_si128(reinterpret_cast<const __m128i*>(&kRound[4 * i])));
      state1 = _mm_sha256rnds2_epu32(state1, state0, wk);
      wk = _mm_shuffle_epi32(wk, 0x0E);
      state0 = _mm_sha256rnds2_epu32(state0, state1, wk);
    }
    state0 = _mm_add_epi32(state0, save0);
    state1 = _mm_add_epi32(state1, save1);
  }
  const __m128i feba = _mm_shuffle_epi32(state0, 0x1B);
  const __m128i dchg = _mm_shuffle_epi32(state1, 0xB1);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(h), _mm_blend_epi16(feba, dchg, 0xF0));   // ABCD
  _mm_storeu_si128(reinterpret_cast<__m128i*>(h + 4), _mm_alignr_epi8(dchg, feba, 8));  // EFGH
}

#else

bool cpu_has_sha() { return false; }

// Never called: sha256_uses_hardware() is false off x86.
[[noreturn]] void blocks_shani(uint32_t*, const uint8_t*, size_t) { std::abort(); }

#endif  // RZ_SHA256_X86

}  // namespace

namespace detail {
void sha256_force_portable(bool portable) { g_force_portable = portable; }
bool sha256_uses_hardware() {
  static const bool has = cpu_has_sha();
  return has && !g_force_portable;
}
}  // namespace detail

Sha256::Sha256()
    : h_{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
         0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19} {}

void Sha256::block(const uint8_t* p) {
  uint32_t w[64];
  for (int i = 0; i < 16; ++i) {
    w[i] = (uint32_t(p[4 * i]) << 24) | (uint32_t(p[4 * i + 1]) << 16) |
           (uint32_t(p[4 * i + 2]) << 8) | uint32_t(p[4 * i + 3]);
  }
  for (int i = 16; i < 64; ++i) {
    uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
    uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3], e = h_[4], f = h_[5], g = h_[6], h = h_[7];
  for (int i = 0; i < 64; ++i) {
    uint32_t t1 =
        h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + kRound[i] + w[i];
    uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    h = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  h_[0] += a;
  h_[1] += b;
  h_[2] += c;
  h_[3] += d;
  h_[4] += e;
  h_[5] += f;
  h_[6] += g;
  h_[7] += h;
}

void Sha256::update(const void* data, size_t bytes) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  total_bytes_ += bytes;
  if (buffered_ > 0) {
    size_t take = std::min(bytes, 64 - buffered_);
    std::memcpy(buffer_.data() + buffered_, p, take);
    buffered_ += take;
    p += take;
    bytes -= take;
    if (buffered_ < 64) return;
    if (detail::sha256_uses_hardware()) {
      blocks_shani(h_.data(), buffer_.data(), 1);
    } else {
      block(buffer_.data());
    }
    buffered_ = 0;
  }
  if (bytes >= 64 && detail::sha256_uses_hardware()) {
    const size_t blocks = bytes / 64;
    blocks_shani(h_.data(), p, blocks);
    p += blocks * 64;
    bytes -= blocks * 64;
  }
  for (; bytes >= 64; p += 64, bytes -= 64) block(p);
  std::memcpy(buffer_.data(), p, bytes);
  buffered_ = bytes;
}

std::array<uint8_t, 32> Sha256::digest() {
  const uint64_t bits = total_bytes_ * 8;
  const uint8_t pad = 0x80;
  update(&pad, 1);
  const uint8_t zero = 0;
  while (buffered_ != 56) update(&zero, 1);
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(bits >> (56 - 8 * i));
  update(len, 8);
  std::array<uint8_t, 32> out{};
  for (int i = 0; i < 8; ++i) {
    out[4 * i] = static_cast<uint8_t>(h_[i] >> 24);
    out[4 * i + 1] = static_cast<uint8_t>(h_[i] >> 16);
    out[4 * i + 2] = static_cast<uint8_t>(h_[i] >> 8);
    out[4 * i + 3] = static_cast<uint8_t>(h_[i]);
  }
  return out;
}

std::string Sha256::hex_digest() {
  static const char* kHex = "0123456789abcdef";
  std::string s;
  for (uint8_t byte : digest()) {
    s += kHex[byte >> 4];
    s += kHex[byte & 15];
  }
  return s;
}

namespace {

// The file open for reading, refused (IoError) when it is not a regular file: hashing a FIFO
// would block, hashing /dev/zero would never end.
io::Fd open_for_hashing(const std::filesystem::path& path) {
  try {
    return io::open_regular(path, nullptr, "cannot read");
  } catch (const InputError& e) {
    throw IoError(e.what());
  }
}

// Reads up to `n` bytes; 0 at the end. Retries EINTR (after checking for an interrupt).
size_t read_some(int fd, void* buf, size_t n, const std::filesystem::path& path) {
  for (;;) {
    const ssize_t got = ::read(fd, buf, n);
    if (got >= 0) return static_cast<size_t>(got);
    if (errno != EINTR) throw IoError("cannot read", path.string(), std::strerror(errno));
    throw_if_interrupted();
  }
}

}  // namespace

std::string sha256_file(const std::filesystem::path& path) {
  const io::Fd fd = open_for_hashing(path);
  Sha256 sha;
  std::vector<uint8_t> buf(1 << 20);
  while (const size_t n = read_some(fd.get(), buf.data(), buf.size(), path)) {
    throw_if_interrupted();  // hashing a long stem or a model answers a signal
    sha.update(buf.data(), n);
  }
  return sha.hex_digest();
}

std::string copy_file_sha256(const std::filesystem::path& from, const std::filesystem::path& to,
                             uint64_t* bytes) {
  const io::Fd in = open_for_hashing(from);
  FILE* out = std::fopen(to.c_str(), "wbx");
  if (!out) throw IoError("cannot write", to.string(), std::strerror(errno));
  Sha256 sha;
  std::vector<char> buf(1 << 20);
  uint64_t total = 0;
  bool write_ok = true;
  try {
    while (const size_t n = read_some(in.get(), buf.data(), buf.size(), from)) {
      throw_if_interrupted();
      sha.update(buf.data(), n);
      total += n;
      if (std::fwrite(buf.data(), 1, n, out) != n) {
        write_ok = false;
        break;
      }
    }
  } catch (...) {
    std::fclose(out);
    throw;
  }
  int saved = write_ok ? 0 : errno;
  write_ok = std::fflush(out) == 0 && write_ok;
  write_ok = fsync(fileno(out)) == 0 && write_ok;
  if (!write_ok && saved == 0) saved = errno;
  write_ok = std::fclose(out) == 0 && write_ok;
  if (!write_ok) throw IoError("cannot write", to.string(), std::strerror(saved ? saved : errno));
  if (bytes) *bytes = total;
  return sha.hex_digest();
}

}  // namespace rz::stems
