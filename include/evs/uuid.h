// 128-bit identifiers for events and aggregates.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace evs {

struct Uuid {
  std::array<uint8_t, 16> bytes{};

  // A random (version 4) UUID. Thread-safe; uses a per-thread generator seeded from the OS.
  static Uuid Random();
  // Parses the canonical 36-character form (8-4-4-4-12 hex digits, either case).
  static std::optional<Uuid> Parse(std::string_view text);

  bool IsNil() const;
  // The canonical lower-case 36-character form.
  std::string ToString() const;
  // The same, written to `out` without allocating.
  void FormatTo(char (&out)[36]) const;

  friend bool operator==(const Uuid&, const Uuid&) = default;
};

struct UuidHash {
  size_t operator()(const Uuid& u) const noexcept;
};

}  // namespace evs
