// Object storage with S3's semantics: whole objects put and got by key, ranges, listings by
// prefix in pages. No rename and no append: the archive is written as immutable objects, so the
// same archive code runs on a local folder and on S3.
//
// Thread safety: every method may be called concurrently from any number of threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "evs/file_system.h"
#include "evs/status.h"

namespace evs {

// An object as Head() and List() describe it.
struct ObjectInfo {
  std::string key;             // the whole key, prefix included
  uint64_t size = 0;           // its length in bytes
  int64_t modified_at_us = 0;  // microseconds since the Unix epoch
};

// One page of List().
struct ObjectList {
  std::vector<ObjectInfo> objects;  // ordered by key (bytewise, as S3 orders UTF-8 keys)
  std::string next_token;           // pass as `continuation` for the next page; empty at the end
};

// Which keys List() lists, and how many a page.
struct ListOptions {
  std::string_view prefix;       // only keys that start with this ("" for all)
  std::string_view start_after;  // only keys after this one (S3's StartAfter)
  // The page after the one that returned this next_token (opaque); with start_after as well,
  // the later of the two counts.
  std::string_view continuation;
  size_t max_keys = 1000;  // 1..1000 keys a page
};

// Bytes [offset, offset + length) of an object; a range past the end is cut at the end.
struct ByteRange {
  uint64_t offset = 0;  // the first byte's index (0: the object's first byte)
  uint64_t length = 0;  // how many bytes
};

// Keys are non-empty UTF-8 of at most 1024 bytes; '/' separates folders, and a part is at most
// 255 bytes. A key with an empty, "." or ".." part, a leading '/', a NUL or a control character
// is kInvalidArgument on every backend, so that an archive written to one backend can be copied
// to another. A key may not also be a folder of other keys ("a" and "a/b"): a folder cannot
// hold both.
class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  // Stores `bytes` under `key`, replacing any object there. Atomic: readers see the old object
  // or the whole new one, never part of it; once it returns OK the object is durable.
  virtual Status Put(std::string_view key, std::string_view bytes) = 0;

  // The object's bytes, or the given range of them. kNotFound when there is no such object.
  virtual Result<std::string> Get(std::string_view key,
                                  std::optional<ByteRange> range = std::nullopt) = 0;

  // The object's size and time. kNotFound when there is no such object.
  virtual Result<ObjectInfo> Head(std::string_view key) = 0;

  // Objects whose key starts with `options.prefix`, ordered by key, in pages.
  virtual Result<ObjectList> List(const ListOptions& options) = 0;

  // Removes the object. Removing an object that is not there is OK (as on S3).
  virtual Status Delete(std::string_view key) = 0;

  // Removes what interrupted puts left behind (a folder's temporary files). Call it only while
  // no other writer is at work on the same store. Returns how many were removed.
  virtual Result<size_t> RemoveIncompleteWrites() = 0;

  // Where the objects are, for messages: "/path/to/folder" or "s3://bucket/prefix".
  virtual std::string Location() const = 0;
};

// How OpenDirectoryObjectStore opens its folder. Only `path` must be set.
struct DirectoryObjectStoreOptions {
  std::string path;  // the folder
  // Create the folder (with its parents) when it is missing; otherwise that is kNotFound.
  bool create_if_missing = true;
  // fsync each object and its folder before Put returns. Off only for tests and benchmarks
  // that measure something else.
  bool durable = true;
  // For tests: every file call the store makes goes through it, to inject faults (a failed
  // fsync, a full disk, short writes, a power loss). Null: RealFileSystem().
  std::shared_ptr<FileSystem> file_system;
};

// Objects as files under a folder: key "a/b" is the file <path>/a/b. A put writes a temporary
// file beside the target (".evs-tmp-*", never listed), fsyncs it, renames it over the target and
// fsyncs the folder.
//
// A put that fails before its rename (a failed write or fsync, a full disk) removes its
// temporary file: no object appears, and an object it would have replaced stays as it was. A
// failed fsync of the folder after the rename is reported too, but the new object, whole, is in
// place then (undoing the rename would lose the old one as well): put it again to make it
// durable.
Result<std::unique_ptr<ObjectStore>> OpenDirectoryObjectStore(
    const DirectoryObjectStoreOptions& options);

// For a store named by a location ("s3://bucket/prefix" or a folder), see OpenObjectStore in
// evs/s3.h (the evs::aws component).

}  // namespace evs
