// The default LogReader, for backends without their own (event_store.h): each Read is a ReadLog.
#include "evs/event_store.h"

namespace evs {
namespace {

class ReadLogReader final : public LogReader {
 public:
  explicit ReadLogReader(EventStore& store) : store_(store) {}

  Status Read(int64_t after, size_t limit, LogPage& page) override {
    auto read = store_.ReadLog(after, limit);
    if (!read.ok()) return read.error();
    page = std::move(read).value();
    return OkStatus();
  }

 private:
  EventStore& store_;
};

}  // namespace

std::unique_ptr<LogReader> EventStore::NewLogReader() {
  return std::make_unique<ReadLogReader>(*this);
}

}  // namespace evs
