// Random cart traffic for the projection tests: opens, adds, removes and checkouts through the
// cart's repository, on whatever store the test runs.
#pragma once

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "cart/cart.h"
#include "evs/event_store.h"
#include "evs/repository.h"
#include "evs/uuid.h"

namespace evs::testing {

// Runs `commands` cart commands chosen by `seed`; `ids` holds the carts opened so far (it grows).
inline void CartTraffic(EventStore& store, std::vector<std::string>& ids, int commands,
                        unsigned seed) {
  Repository<cart::Cart> repo(store);
  std::mt19937 random(seed);
  const char* items[] = {"apple", "pear", "plum", "fig"};
  for (int i = 0; i < commands; ++i) {
    if (ids.empty() || random() % 5 == 0) {
      std::string id = Uuid::Random().ToString();
      ASSERT_TRUE(repo.Create(id, [](cart::Cart& c) { return c.Open(); }).ok());
      ids.push_back(id);
      continue;
    }
    const std::string& id = ids[random() % ids.size()];
    const std::string item = items[random() % 4];
    (void)repo.Execute(id, [&](cart::Cart& c) {
      switch (random() % 6) {
        case 0:
          return c.RemoveItem(item, 1);
        case 1:
          return c.Checkout();
        default:
          return c.AddItem(item, 1 + random() % 3, 100 * (1 + item.size()));
      }
    });
  }
}

}  // namespace evs::testing
