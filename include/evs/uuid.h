// 128-bit identifiers for events and aggregates.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace evs {

// A UUID as a value: 16 bytes, compared bytewise. The default is the nil UUID (all zeros).
struct Uuid {
  std::array<uint8_t, 16> bytes{};  // in the order of the text form, first byte first

  // A random (version 4) UUID. Thread-safe; uses a per-thread generator seeded from the OS.
  static Uuid Random();
  // Parses the canonical 36-character form (8-4-4-4-12 hex digits, either case).
  static std::optional<Uuid> Parse(std::string_view text);

  // True for the nil UUID (all 16 bytes zero).
  bool IsNil() const;
  // The canonical lower-case 36-character form.
  std::string ToString() const;
  // The same, written to `out` without allocating.
  void FormatTo(char (&out)[36]) const;

  // Equal when all 16 bytes are.
  friend bool operator==(const Uuid&, const Uuid&) = default;
};

// Hashes a Uuid for unordered containers: std::unordered_set<Uuid, UuidHash>.
struct UuidHash {
  // A hash of all 16 bytes.
  size_t operator()(const Uuid& u) const noexcept;
};

}  // namespace evs
