// The AWS component of the installed evs: an object store by location (a folder here, so the
// program needs no network), with one object put and read back.
#include <evs/s3.h>

#include <cstdio>
#include <string>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  auto objects = evs::OpenObjectStore(argv[1]);
  if (!objects.ok()) {
    std::fprintf(stderr, "archive_location: %s\n", objects.error().message.c_str());
    return 1;
  }
  if (!(*objects)->Put("a/b", "hello").ok()) return 1;
  auto read = (*objects)->Get("a/b");
  if (!read.ok() || *read != "hello") return 1;
  std::printf("object a/b read back from %s\n", argv[1]);
  return 0;
}
