// The cart's rules, each a clear domain error, and its state.
#include "cart/cart.h"

#include <gtest/gtest.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "evs/testing.h"

namespace cart {
namespace {

Cart OpenCart() {
  Cart c("c1");
  EXPECT_TRUE(c.Open().ok());
  return c;
}

evs::ErrorCode CodeOf(const evs::Status& s) {
  EXPECT_FALSE(s.ok());
  return s.ok() ? evs::ErrorCode::kUnsupported : s.error().code;
}

TEST(Cart, AddsItemsAndTotals) {
  Cart c = OpenCart();
  ASSERT_TRUE(c.AddItem("apple", 3, 50).ok());
  ASSERT_TRUE(c.AddItem("pear", 1, 120).ok());
  ASSERT_TRUE(c.AddItem("apple", 2, std::nullopt).ok());  // keeps its price
  EXPECT_EQ(c.items().at("apple").quantity, 5);
  EXPECT_EQ(c.items().at("apple").unit_price_cents, 50);
  EXPECT_EQ(c.total_cents(), 5 * 50 + 120);
  auto json = c.ToJson();
  EXPECT_EQ(json["status"], "open");
  EXPECT_EQ(json["total_cents"], 370);
  EXPECT_EQ(json["items"].size(), 2u);
  EXPECT_EQ(json["items"][0]["name"], "apple");
  EXPECT_EQ(json["items"][0]["line_total_cents"], 250);
}

// The command rules as specifications: given past events, when a command, then new events or an
// error (evs/testing.h). Each goes through the repository and a memory store, as in production.

using evs::testing::AggregateSpec;

// A spec's verdict as an assertion, with its message on failure.
::testing::AssertionResult Holds(const evs::testing::SpecResult& result) {
  if (result) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << result.message();
}

ItemAdded Added(std::string name, int64_t quantity, int64_t cents, std::string currency = "USD") {
  return ItemAdded{std::move(name), quantity, Price{cents, std::move(currency)}};
}

auto Add(std::string name, int64_t quantity, std::optional<int64_t> cents,
         std::string currency = "") {
  return [=](Cart& c) { return c.AddItem(name, quantity, cents, currency); };
}
auto Remove(std::string name, int64_t quantity) {
  return [=](Cart& c) { return c.RemoveItem(name, quantity); };
}
evs::Status Checkout(Cart& c) { return c.Checkout(); }

TEST(CartRules, OpensOnce) {
  auto opened = AggregateSpec<Cart>().When([](Cart& c) { return c.Open(); });
  EXPECT_TRUE(Holds(opened.Then({CartOpened{}})));
  EXPECT_EQ(opened.result()->status(), Status::kOpen);
  EXPECT_TRUE(Holds(AggregateSpec<Cart>()
                        .Given({CartOpened{}})
                        .When([](Cart& c) { return c.Open(); })
                        .ThenError(evs::ErrorCode::kDomainRule, "already open")));
}

TEST(CartRules, CommandsNeedAnOpenCart) {
  AggregateSpec<Cart> spec;  // nothing given: a new cart
  EXPECT_TRUE(
      Holds(spec.When(Add("apple", 1, 10)).ThenError(evs::ErrorCode::kDomainRule, "is not open")));
  EXPECT_TRUE(Holds(spec.When(Remove("apple", 1)).ThenError(evs::ErrorCode::kDomainRule)));
  EXPECT_TRUE(Holds(spec.When(Checkout).ThenError(evs::ErrorCode::kDomainRule, "is not open")));
}

TEST(CartRules, AddingAnItemRaisesItAtItsPrice) {
  AggregateSpec<Cart> spec;
  spec.Given({CartOpened{}, Added("apple", 3, 50)});
  EXPECT_TRUE(Holds(spec.When(Add("pear", 1, 120)).Then({Added("pear", 1, 120)})));
  // Without a price, an item already in the cart keeps its own.
  auto more = spec.When(Add("apple", 2, std::nullopt));
  EXPECT_TRUE(Holds(more.Then({Added("apple", 2, 50)})));
  EXPECT_EQ(more.result()->items().at("apple").quantity, 5);
}

TEST(CartRules, QuantityAndNameRules) {
  AggregateSpec<Cart> spec;
  spec.Given({CartOpened{}});
  for (auto command :
       {Add("apple", 0, 10), Add("apple", -2, 10), Add("", 1, 10),
        Add(std::string(201, 'x'), 1, 10), Add("bad\xff", 1, 10), Add("tab\there", 1, 10),
        Add("apple", 1, -1), Add("apple", kMaxQuantity + 1, 1), Add("apple", 1, 10, "usd")}) {
    EXPECT_TRUE(Holds(spec.When(command).ThenError(evs::ErrorCode::kInvalidArgument)));
  }
  EXPECT_TRUE(Holds(
      spec.When(Add(std::string(200, 'x'), 1, 10)).Then({Added(std::string(200, 'x'), 1, 10)})));
}

TEST(CartRules, ADifferentPriceForAnItemInTheCartIsRefused) {
  AggregateSpec<Cart> spec;
  spec.Given({CartOpened{}, Added("apple", 1, 50)});
  EXPECT_TRUE(
      Holds(spec.When(Add("apple", 1, 60)).ThenError(evs::ErrorCode::kDomainRule, "remove it")));
}

TEST(CartRules, ACartHasOneCurrency) {
  AggregateSpec<Cart> spec;
  spec.Given({CartOpened{}, Added("apple", 1, 50, "EUR")});
  EXPECT_TRUE(Holds(spec.When(Add("pear", 1, 10, "USD"))
                        .ThenError(evs::ErrorCode::kDomainRule, "priced in EUR, not USD")));
  EXPECT_TRUE(Holds(spec.When(Add("pear", 1, 10)).Then({Added("pear", 1, 10, "EUR")})));
}

TEST(CartRules, CannotRemoveMoreThanIsInTheCart) {
  AggregateSpec<Cart> spec;
  spec.Given({CartOpened{}, Added("apple", 2, 50)});
  EXPECT_TRUE(Holds(spec.When(Remove("apple", 3))
                        .ThenError(evs::ErrorCode::kDomainRule, "cannot remove 3 of 'apple'")));
  EXPECT_TRUE(Holds(spec.When(Remove("pear", 1)).ThenError(evs::ErrorCode::kDomainRule)));
  auto removed = spec.When(Remove("apple", 2));
  EXPECT_TRUE(Holds(removed.Then({ItemRemoved{"apple", 2}})));
  EXPECT_TRUE(removed.result()->items().empty());
  EXPECT_EQ(removed.result()->total_cents(), 0);
}

TEST(CartRules, EmptyCartCannotBeCheckedOut) {
  EXPECT_TRUE(Holds(AggregateSpec<Cart>()
                        .Given({CartOpened{}})
                        .When(Checkout)
                        .ThenError(evs::ErrorCode::kDomainRule, "is empty")));
  EXPECT_TRUE(Holds(AggregateSpec<Cart>()
                        .Given({CartOpened{}, Added("apple", 1, 50), ItemRemoved{"apple", 1}})
                        .When(Checkout)
                        .ThenError(evs::ErrorCode::kDomainRule, "is empty")));
}

TEST(CartRules, NothingChangesAfterCheckout) {
  AggregateSpec<Cart> spec;
  spec.Given({CartOpened{}, Added("apple", 1, 50)});
  auto checked_out = spec.When(Checkout);
  EXPECT_TRUE(Holds(checked_out.Then({CartCheckedOut{}})));
  EXPECT_EQ(checked_out.result()->ToJson()["status"], "checked_out");
  for (auto command : std::vector<std::function<evs::Status(Cart&)>>{
           Add("pear", 1, 10), Remove("apple", 1), Checkout}) {
    EXPECT_TRUE(Holds(spec.When(command).ThenError(evs::ErrorCode::kDomainRule, "checked out")));
  }
}

// A version-1 ItemAdded (priced in dollars, without a currency) in the history is upcast.
TEST(CartRules, AHistoryInTheOldSchemaIsUpcast) {
  AggregateSpec<Cart> spec(evs::testing::SpecOptions{.id = "old", .upcaster = CartUpcaster()});
  spec.Given({CartOpened{}})
      .GivenStored({{evs::Uuid{}, "ItemAdded",
                     R"({"name":"apple","quantity":1,"unit_price_cents":50})", "{}"}});
  EXPECT_TRUE(Holds(spec.When(Add("apple", 1, std::nullopt)).Then({Added("apple", 1, 50)})));
}

TEST(Cart, EventsRoundTripThroughJson) {
  CartEvents::Event added = ItemAdded{"apple", 2, 75};
  evs::EventData data = *CartEvents::Encode(added);
  EXPECT_EQ(data.type, "ItemAdded");
  evs::RecordedEvent recorded;
  EXPECT_EQ(data.metadata, R"({"schema_version":2})");
  recorded.type = data.type;
  recorded.data = data.data;
  recorded.metadata = data.metadata;
  auto decoded = CartEvents::Decode(recorded);
  ASSERT_TRUE(decoded.ok());
  const auto& item = std::get<ItemAdded>(*decoded);
  EXPECT_EQ(item.name, "apple");
  EXPECT_EQ(item.quantity, 2);
  EXPECT_EQ(item.unit_price.cents, 75);
  EXPECT_EQ(item.unit_price.currency, "USD");
  recorded.type = "Nope";
  EXPECT_EQ(CartEvents::Decode(recorded).error().code, evs::ErrorCode::kUnknownEventType);
  recorded.type = "ItemAdded";
  recorded.data = "{bad";
  EXPECT_EQ(CartEvents::Decode(recorded).error().code, evs::ErrorCode::kCorruption);
}

// Found while writing fuzz/fuzz_cart_commands: 93 lines at the largest quantity and price
// overflowed the total (undefined behaviour) through the API; the total has a limit now.
TEST(Cart, TotalPastTheLimitIsRefused) {
  Cart c = OpenCart();
  const int64_t line = kMaxQuantity * kMaxUnitPriceCents;
  int64_t added = 0;
  for (int i = 0; added + line <= kMaxTotalCents; ++i, added += line) {
    ASSERT_TRUE(c.AddItem("gold " + std::to_string(i), kMaxQuantity, kMaxUnitPriceCents).ok());
  }
  EXPECT_EQ(c.total_cents(), added);
  EXPECT_EQ(CodeOf(c.AddItem("one more", kMaxQuantity, kMaxUnitPriceCents)),
            evs::ErrorCode::kInvalidArgument);
  EXPECT_TRUE(c.AddItem("free", 1, 0).ok());
  EXPECT_EQ(c.total_cents(), added);
}

// Found by fuzz/fuzz_stored_event: a stored ItemAdded with a quantity and price no command
// allows overflowed the line total when the cart was rebuilt. Such events are corruption now.
// CartUpcaster() aborts on a registration that does not check out: this catches it first.
TEST(CartSchemas, CheckOut) {
  auto built = BuildCartUpcaster();
  ASSERT_TRUE(built.ok()) << built.error().message;
  EXPECT_EQ((*built)->CurrentVersion("ItemAdded"), ItemAdded::kSchemaVersion);
  EXPECT_EQ((*built)->CurrentVersion("CartOpened"), 1);
}

// A stored event as the application reads it: upcast by the cart's schemas, then decoded.
evs::Result<CartEvents::Event> DecodeStored(evs::RecordedEvent recorded) {
  auto upcast = CartUpcaster()->Upcast(recorded);
  if (!upcast.ok()) return upcast.error();
  return CartEvents::Decode(recorded);
}

TEST(Cart, StoredEventsOutsideTheLimitsAreCorruption) {
  evs::RecordedEvent recorded;
  recorded.stream_id = "cart-c1";
  recorded.version = 2;
  recorded.type = "ItemAdded";
  for (const char* data : {
           R"({"name":"gold","quantity":4203169,"unit_price_cents":1000000333300000})",
           R"({"name":"gold","quantity":0,"unit_price_cents":1})",
           R"({"name":"gold","quantity":-1,"unit_price_cents":1})",
           R"({"name":"gold","quantity":1,"unit_price_cents":-1})",
           R"({"name":"gold","quantity":18446744073709551615,"unit_price_cents":1})",
           R"({"name":"gold","quantity":1.5,"unit_price_cents":1})",
           R"({"name":"gold","quantity":1e300,"unit_price_cents":1})",
       }) {
    recorded.data = data;
    auto decoded = DecodeStored(recorded);
    ASSERT_FALSE(decoded.ok()) << data;
    EXPECT_EQ(decoded.error().code, evs::ErrorCode::kCorruption) << data;
  }
  recorded.type = "ItemRemoved";
  recorded.data = R"({"name":"gold","quantity":0})";
  EXPECT_FALSE(DecodeStored(recorded).ok());
  recorded.type = "ItemAdded";
  recorded.data = R"({"name":"gold","quantity":1000000,"unit_price_cents":100000000000})";
  EXPECT_TRUE(DecodeStored(recorded).ok());
  // Version 2: the currency must be an ISO 4217 code.
  recorded.metadata = R"({"schema_version":2})";
  recorded.data = R"({"name":"gold","quantity":1,"unit_price":{"cents":5,"currency":"usd"}})";
  EXPECT_EQ(DecodeStored(recorded).error().code, evs::ErrorCode::kCorruption);
  recorded.data = R"({"name":"gold","quantity":1,"unit_price":{"cents":5,"currency":"EUR"}})";
  ASSERT_TRUE(DecodeStored(recorded).ok());
  EXPECT_EQ(std::get<ItemAdded>(*DecodeStored(recorded)).unit_price.currency, "EUR");
}

// A stream that the commands did not write (each event within the limits, but too many of
// them) saturates instead of overflowing.
TEST(Cart, RebuildingAStreamPastTheLimitsSaturates) {
  Cart c = OpenCart();
  const CartEvents::Event gold = ItemAdded{"gold", kMaxQuantity, kMaxUnitPriceCents};
  for (int i = 0; i < 200; ++i) c.Apply(gold);
  EXPECT_EQ(c.items().at("gold").quantity, 200 * kMaxQuantity);
  EXPECT_EQ(c.total_cents(), INT64_MAX);
  EXPECT_EQ(c.ToJson()["items"][0]["line_total_cents"], INT64_MAX);
  EXPECT_EQ(CodeOf(c.AddItem("pear", 1, 1)), evs::ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace cart
