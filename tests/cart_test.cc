// The cart's rules, each a clear domain error, and its state.
#include "cart/cart.h"

#include <gtest/gtest.h>

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

TEST(Cart, OpensOnce) {
  Cart c = OpenCart();
  EXPECT_EQ(c.status(), Status::kOpen);
  EXPECT_EQ(CodeOf(c.Open()), evs::ErrorCode::kDomainRule);
  EXPECT_EQ(c.pending().size(), 1u);
}

TEST(Cart, CommandsNeedAnOpenCart) {
  Cart c("c1");
  EXPECT_EQ(CodeOf(c.AddItem("apple", 1, 10)), evs::ErrorCode::kDomainRule);
  EXPECT_EQ(CodeOf(c.Checkout()), evs::ErrorCode::kDomainRule);
  EXPECT_TRUE(c.pending().empty());
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

TEST(Cart, QuantityAndNameRules) {
  Cart c = OpenCart();
  EXPECT_EQ(CodeOf(c.AddItem("apple", 0, 10)), evs::ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf(c.AddItem("apple", -2, 10)), evs::ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf(c.AddItem("", 1, 10)), evs::ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf(c.AddItem(std::string(201, 'x'), 1, 10)), evs::ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf(c.AddItem("bad\xff", 1, 10)), evs::ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf(c.AddItem("tab\there", 1, 10)), evs::ErrorCode::kInvalidArgument);
  EXPECT_TRUE(c.AddItem(std::string(200, 'x'), 1, 10).ok());
  EXPECT_EQ(CodeOf(c.AddItem("apple", 1, -1)), evs::ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf(c.AddItem("apple", kMaxQuantity + 1, 1)), evs::ErrorCode::kInvalidArgument);
}

TEST(Cart, ADifferentPriceForAnItemInTheCartIsRefused) {
  Cart c = OpenCart();
  ASSERT_TRUE(c.AddItem("apple", 1, 50).ok());
  EXPECT_EQ(CodeOf(c.AddItem("apple", 1, 60)), evs::ErrorCode::kDomainRule);
}

TEST(Cart, CannotRemoveMoreThanIsInTheCart) {
  Cart c = OpenCart();
  ASSERT_TRUE(c.AddItem("apple", 2, 50).ok());
  EXPECT_EQ(CodeOf(c.RemoveItem("apple", 3)), evs::ErrorCode::kDomainRule);
  EXPECT_EQ(CodeOf(c.RemoveItem("pear", 1)), evs::ErrorCode::kDomainRule);
  ASSERT_TRUE(c.RemoveItem("apple", 1).ok());
  EXPECT_EQ(c.items().at("apple").quantity, 1);
  ASSERT_TRUE(c.RemoveItem("apple", 1).ok());
  EXPECT_TRUE(c.items().empty());
  EXPECT_EQ(c.total_cents(), 0);
}

TEST(Cart, EmptyCartCannotBeCheckedOut) {
  Cart c = OpenCart();
  EXPECT_EQ(CodeOf(c.Checkout()), evs::ErrorCode::kDomainRule);
  ASSERT_TRUE(c.AddItem("apple", 1, 50).ok());
  ASSERT_TRUE(c.RemoveItem("apple", 1).ok());
  EXPECT_EQ(CodeOf(c.Checkout()), evs::ErrorCode::kDomainRule);
}

TEST(Cart, NothingChangesAfterCheckout) {
  Cart c = OpenCart();
  ASSERT_TRUE(c.AddItem("apple", 1, 50).ok());
  ASSERT_TRUE(c.Checkout().ok());
  EXPECT_EQ(c.status(), Status::kCheckedOut);
  const size_t pending = c.pending().size();
  EXPECT_EQ(CodeOf(c.AddItem("pear", 1, 10)), evs::ErrorCode::kDomainRule);
  EXPECT_EQ(CodeOf(c.RemoveItem("apple", 1)), evs::ErrorCode::kDomainRule);
  EXPECT_EQ(CodeOf(c.Checkout()), evs::ErrorCode::kDomainRule);
  EXPECT_EQ(c.pending().size(), pending);
  EXPECT_EQ(c.ToJson()["status"], "checked_out");
}

TEST(Cart, EventsRoundTripThroughJson) {
  CartEvents::Event added = ItemAdded{"apple", 2, 75};
  evs::EventData data = *CartEvents::Encode(added);
  EXPECT_EQ(data.type, "ItemAdded");
  evs::RecordedEvent recorded;
  recorded.type = data.type;
  recorded.data = data.data;
  auto decoded = CartEvents::Decode(recorded);
  ASSERT_TRUE(decoded.ok());
  const auto& item = std::get<ItemAdded>(*decoded);
  EXPECT_EQ(item.name, "apple");
  EXPECT_EQ(item.quantity, 2);
  EXPECT_EQ(item.unit_price_cents, 75);
  recorded.type = "Nope";
  EXPECT_EQ(CartEvents::Decode(recorded).error().code, evs::ErrorCode::kUnknownEventType);
  recorded.type = "ItemAdded";
  recorded.data = "{bad";
  EXPECT_EQ(CartEvents::Decode(recorded).error().code, evs::ErrorCode::kCorruption);
}

}  // namespace
}  // namespace cart
