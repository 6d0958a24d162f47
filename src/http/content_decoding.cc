#include "http/content_decoding.h"

#include <brotli/decode.h>
#include <strings.h>
#include <zlib.h>

#include <array>
#include <memory>

namespace evs::http {

namespace {

bool Is(std::string_view a, const char* b) {
  return a.size() == std::char_traits<char>::length(b) && strncasecmp(a.data(), b, a.size()) == 0;
}

// gzip, or deflate with its zlib wrapper (windowBits 15 + 32 detects either) or without it (raw,
// windowBits -15, which some clients send as "deflate").
Decoded Inflate(std::string_view body, size_t limit, std::string& out, int window_bits) {
  z_stream z{};
  if (inflateInit2(&z, window_bits) != Z_OK) return Decoded::kCorrupt;
  std::unique_ptr<z_stream, int (*)(z_stream*)> end(&z, inflateEnd);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data()));
  z.avail_in = static_cast<uInt>(body.size());
  std::array<char, 16384> chunk;
  for (;;) {
    z.next_out = reinterpret_cast<Bytef*>(chunk.data());
    z.avail_out = chunk.size();
    const int result = inflate(&z, Z_NO_FLUSH);
    if (result != Z_OK && result != Z_STREAM_END) return Decoded::kCorrupt;
    const size_t produced = chunk.size() - z.avail_out;
    if (produced > limit - out.size()) return Decoded::kTooLarge;
    out.append(chunk.data(), produced);
    if (result == Z_STREAM_END) return Decoded::kOk;
    if (z.avail_in == 0 && produced == 0) return Decoded::kCorrupt;  // ended early
  }
}

Decoded Unbrotli(std::string_view body, size_t limit, std::string& out) {
  std::unique_ptr<BrotliDecoderState, void (*)(BrotliDecoderState*)> state(
      BrotliDecoderCreateInstance(nullptr, nullptr, nullptr), BrotliDecoderDestroyInstance);
  if (!state) return Decoded::kCorrupt;
  size_t available_in = body.size();
  auto next_in = reinterpret_cast<const uint8_t*>(body.data());
  std::array<char, 16384> chunk;
  for (;;) {
    size_t available_out = chunk.size();
    auto next_out = reinterpret_cast<uint8_t*>(chunk.data());
    const BrotliDecoderResult result = BrotliDecoderDecompressStream(
        state.get(), &available_in, &next_in, &available_out, &next_out, nullptr);
    const size_t produced = chunk.size() - available_out;
    if (produced > limit - out.size()) return Decoded::kTooLarge;
    out.append(chunk.data(), produced);
    if (result == BROTLI_DECODER_RESULT_SUCCESS) return Decoded::kOk;
    if (result == BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT) continue;
    return Decoded::kCorrupt;  // an error, or the input ended early
  }
}

}  // namespace

bool IsSupportedEncoding(std::string_view encoding) {
  return encoding.empty() || Is(encoding, "identity") || Is(encoding, "gzip") ||
         Is(encoding, "x-gzip") || Is(encoding, "deflate") || Is(encoding, "br");
}

Decoded DecodeContent(std::string_view encoding, std::string_view body, size_t limit,
                      std::string& out) {
  out.clear();
  if (Is(encoding, "br")) return Unbrotli(body, limit, out);
  if (Is(encoding, "gzip") || Is(encoding, "x-gzip") || Is(encoding, "deflate")) {
    const Decoded wrapped = Inflate(body, limit, out, 15 + 32);
    if (wrapped != Decoded::kCorrupt || !Is(encoding, "deflate")) return wrapped;
    out.clear();
    return Inflate(body, limit, out, -15);
  }
  if (body.size() > limit) return Decoded::kTooLarge;
  out.assign(body);
  return Decoded::kOk;
}

}  // namespace evs::http
