// Histories of recorded events for the bulk importers' tests: interleaved streams, text that must
// survive byte for byte, events that share their commit's time.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "evs/event.h"

namespace evs {

inline RecordedEvent Recorded(std::string stream, int64_t version, int64_t position) {
  RecordedEvent e;
  e.stream_id = std::move(stream);
  e.version = version;
  e.position = position;
  e.id = Uuid::Random();
  e.type = "T";
  e.data = "{\"p\":" + std::to_string(position) + "}";
  e.metadata = "{}";
  e.recorded_at_us = 1'700'000'000'000'000 + position;
  return e;
}

// `count` events over `streams` streams, interleaved, with text that must survive exactly.
inline std::vector<RecordedEvent> History(int count, int streams) {
  std::map<std::string, int64_t> versions;
  std::vector<RecordedEvent> events;
  for (int i = 0; i < count; ++i) {
    const std::string stream = "cart-" + std::to_string(i * 7 % streams);
    RecordedEvent e = Recorded(stream, ++versions[stream], i + 1);
    switch (i % 4) {
      case 0:
        e.type = "ItemAdded";
        e.data = "{ \"a\" : 1 }";
        break;
      case 1:
        e.type = "Näme über 🛒";
        e.data = R"({"name":"crème brûlée","emoji":"🍮","escaped":"\u00e9\n"})";
        e.metadata = R"({"correlation_id":"c-1", "causation_id" : "x"})";
        break;
      case 2:
        e.data = "[1, 2,\t3]";
        e.metadata = "{}";
        break;
      default:
        e.data = "\"\"";
        e.recorded_at_us = 1'700'000'000'000'000 + i;  // the same time as the event before
        break;
    }
    events.push_back(std::move(e));
  }
  return events;
}

inline void ExpectSame(const RecordedEvent& got, const RecordedEvent& want) {
  EXPECT_EQ(got.stream_id, want.stream_id) << "position " << want.position;
  EXPECT_EQ(got.version, want.version) << "position " << want.position;
  EXPECT_EQ(got.position, want.position);
  EXPECT_EQ(got.id, want.id) << "position " << want.position;
  EXPECT_EQ(got.type, want.type) << "position " << want.position;
  EXPECT_EQ(got.data, want.data) << "position " << want.position;
  EXPECT_EQ(got.metadata, want.metadata) << "position " << want.position;
  EXPECT_EQ(got.recorded_at_us, want.recorded_at_us) << "position " << want.position;
}

}  // namespace evs
