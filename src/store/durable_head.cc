#include "store/durable_head.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace evs::store {
namespace {

constexpr size_t kBytes = 16;

void Encode(int64_t position, unsigned char* out) {
  const auto value = static_cast<uint64_t>(position);
  for (int i = 0; i < 8; ++i) {
    out[i] = static_cast<unsigned char>(value >> (8 * i));
    out[8 + i] = static_cast<unsigned char>(~value >> (8 * i));
  }
}

std::optional<int64_t> Decode(const unsigned char* in) {
  uint64_t value = 0, complement = 0;
  for (int i = 0; i < 8; ++i) {
    value |= static_cast<uint64_t>(in[i]) << (8 * i);
    complement |= static_cast<uint64_t>(in[8 + i]) << (8 * i);
  }
  if (value != ~complement || static_cast<int64_t>(value) < 0) return std::nullopt;
  return static_cast<int64_t>(value);
}

Error IOError(const std::string& what, const std::string& path, int err) {
  return Error::Make(ErrorCode::kIOError, what + " " + path + ": " + std::strerror(err));
}

}  // namespace

Result<DurableHeadWriter> DurableHeadWriter::Open(FileSystem& fs, const std::string& store_path) {
  std::string path = DurableHeadPath(store_path);
  const int fd = fs.Open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return IOError("cannot open the durable head file", path, errno);
  return DurableHeadWriter(fs, fd, std::move(path));
}

DurableHeadWriter::~DurableHeadWriter() {
  if (fd_ >= 0) fs_->Close(fd_);
}

Status DurableHeadWriter::Publish(int64_t position) {
  unsigned char bytes[kBytes];
  Encode(position, bytes);
  if (int err = PwriteFully(*fs_, fd_, bytes, kBytes, 0); err != 0) {
    return IOError("cannot write the durable head to", path_, err);
  }
  return OkStatus();
}

Result<std::optional<int64_t>> ReadDurableHead(FileSystem& fs, const std::string& store_path) {
  const std::string path = DurableHeadPath(store_path);
  const int fd = fs.Open(path.c_str(), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<int64_t>();
    return IOError("cannot open the durable head file", path, errno);
  }
  // A read that races the owner's write can see half of each: read again.
  std::optional<int64_t> head;
  int err = 0;
  for (int attempt = 0; attempt < 100 && !head; ++attempt) {
    unsigned char bytes[kBytes];
    err = PreadFully(fs, fd, bytes, kBytes, 0);
    if (err == EIO) {  // shorter than a head: created, not written yet (or cut by a power loss)
      head = 0;
      err = 0;
      break;
    }
    if (err != 0) break;
    head = Decode(bytes);
  }
  fs.Close(fd);
  if (err != 0) return IOError("cannot read the durable head from", path, err);
  if (!head) {
    return Error::Make(ErrorCode::kCorruption,
                       "the durable head file " + path +
                           " holds no valid position; stop every process using the store, "
                           "delete the file, and open the store again to rewrite it");
  }
  return head;
}

}  // namespace evs::store
