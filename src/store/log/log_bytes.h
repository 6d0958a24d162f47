// The little-endian fields of the log engine's files (segment records, INDEX): integers and
// strings (u32 length + bytes) appended to a buffer, and read back front to back with every read
// checked against the bounds, so that malformed bytes are a false, never an overrun.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace evs::store::log {

inline void LogPutU8(std::string& out, uint8_t v) { out.push_back(static_cast<char>(v)); }
inline void LogPutU32(std::string& out, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out.append(b, 4);
}
inline void LogPutU64(std::string& out, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out.append(b, 8);
}
inline void LogPutI64(std::string& out, int64_t v) { LogPutU64(out, static_cast<uint64_t>(v)); }
inline void LogPutString(std::string& out, std::string_view s) {
  LogPutU32(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}
inline uint32_t LogGetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{static_cast<uint8_t>(p[i])} << (8 * i);
  return v;
}
inline uint64_t LogGetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{static_cast<uint8_t>(p[i])} << (8 * i);
  return v;
}

class LogBytesReader {
 public:
  explicit LogBytesReader(std::string_view in) : in_(in) {}
  bool U8(uint8_t& v) {
    if (in_.size() < 1) return false;
    v = static_cast<uint8_t>(in_[0]);
    in_.remove_prefix(1);
    return true;
  }
  bool U32(uint32_t& v) {
    if (in_.size() < 4) return false;
    v = LogGetU32(in_.data());
    in_.remove_prefix(4);
    return true;
  }
  bool U64(uint64_t& v) {
    if (in_.size() < 8) return false;
    v = LogGetU64(in_.data());
    in_.remove_prefix(8);
    return true;
  }
  bool I64(int64_t& v) {
    uint64_t u;
    if (!U64(u)) return false;
    v = static_cast<int64_t>(u);
    return true;
  }
  bool Bytes(size_t n, std::string_view& v) {
    if (in_.size() < n) return false;
    v = in_.substr(0, n);
    in_.remove_prefix(n);
    return true;
  }
  bool String(std::string_view& v) {
    uint32_t n;
    return U32(n) && Bytes(n, v);
  }
  size_t Remaining() const { return in_.size(); }
  bool Empty() const { return in_.empty(); }

 private:
  std::string_view in_;
};

}  // namespace evs::store::log
