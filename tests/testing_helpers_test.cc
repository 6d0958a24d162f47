// evs/testing.h itself: specs that pass, specs that fail with messages naming both sides, errors,
// events that do not survive their JSON, and a decider.
#include <gtest/gtest.h>

#include <string>
#include <variant>
#include <vector>

#include "cart/cart.h"
#include "evs/testing.h"

namespace evs {
namespace {

using cart::Cart;
using cart::CartOpened;
using cart::ItemAdded;
using cart::ItemRemoved;
using testing::AggregateSpec;
using testing::DeciderSpec;
using testing::SpecResult;

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

ItemAdded Apples(int64_t quantity) { return ItemAdded{"apple", quantity, cart::Price{50, "USD"}}; }

auto AddApples(int64_t quantity) {
  return [=](Cart& c) { return c.AddItem("apple", quantity, 50); };
}

TEST(AggregateSpec, PassesWhenTheNewEventsAreTheExpectedOnes) {
  AggregateSpec<Cart> spec;
  auto when = spec.Given({CartOpened{}}).When(AddApples(2));
  SpecResult r = when.Then({Apples(2)});
  EXPECT_TRUE(r) << r.message();
  EXPECT_TRUE(r.message().empty());
  // result() is the aggregate fetched again from the store after the new event.
  ASSERT_TRUE(when.result().ok());
  EXPECT_EQ(when.result()->version(), 2);
  EXPECT_EQ(when.result()->items().at("apple").quantity, 2);
}

TEST(AggregateSpec, AWrongExpectationFailsNamingBothSides) {
  AggregateSpec<Cart> spec;
  SpecResult r = spec.Given({CartOpened{}}).When(AddApples(3)).Then({Apples(2)});
  EXPECT_FALSE(r);
  EXPECT_FALSE(r.ok());
  const std::string& m = r.message();
  EXPECT_TRUE(Contains(m, "expected 1 event:\n  ItemAdded")) << m;
  EXPECT_TRUE(Contains(m, R"("quantity":2)")) << m;
  EXPECT_TRUE(Contains(m, "actual:   1 event:\n  ItemAdded")) << m;
  EXPECT_TRUE(Contains(m, R"("quantity":3)")) << m;

  SpecResult extra = spec.When(AddApples(1)).Then({});
  EXPECT_FALSE(extra);
  EXPECT_TRUE(Contains(extra.message(), "expected no new events")) << extra.message();
  SpecResult other = spec.When(AddApples(1)).Then({ItemRemoved{"apple", 1}});
  EXPECT_TRUE(Contains(other.message(), R"(ItemRemoved {"name":"apple","quantity":1})"))
      << other.message();
}

TEST(AggregateSpec, ErrorExpectations) {
  AggregateSpec<Cart> spec;
  spec.Given({CartOpened{}, Apples(2)});
  auto refused = spec.When([](Cart& c) { return c.RemoveItem("apple", 3); });
  EXPECT_TRUE(refused.ThenError(ErrorCode::kDomainRule));
  EXPECT_TRUE(refused.ThenError(ErrorCode::kDomainRule, "cannot remove 3"));
  ASSERT_FALSE(refused.result().ok());

  SpecResult wrong_code = refused.ThenError(ErrorCode::kNotFound);
  EXPECT_FALSE(wrong_code);
  EXPECT_TRUE(Contains(wrong_code.message(), "expected error not_found")) << wrong_code.message();
  EXPECT_TRUE(Contains(wrong_code.message(), "actual error domain_rule: cannot remove 3"))
      << wrong_code.message();
  SpecResult wrong_text = refused.ThenError(ErrorCode::kDomainRule, "is empty");
  EXPECT_TRUE(Contains(wrong_text.message(), R"(with "is empty")")) << wrong_text.message();

  // Events expected and an error found, or the other way round: each side is named.
  SpecResult events_expected = refused.Then({ItemRemoved{"apple", 3}});
  EXPECT_TRUE(Contains(events_expected.message(), "ItemRemoved")) << events_expected.message();
  EXPECT_TRUE(Contains(events_expected.message(), "the command failed, domain_rule"))
      << events_expected.message();
  SpecResult error_expected =
      spec.When([](Cart& c) { return c.RemoveItem("apple", 1); }).ThenError(ErrorCode::kDomainRule);
  EXPECT_TRUE(Contains(error_expected.message(), "the command succeeded with 1 event:"))
      << error_expected.message();
  EXPECT_TRUE(Contains(error_expected.message(), "ItemRemoved")) << error_expected.message();
}

TEST(AggregateSpec, WithNothingGivenTheCommandRunsOnANewAggregate) {
  auto opened =
      AggregateSpec<Cart>(testing::SpecOptions{.id = "c7"}).When([](Cart& c) { return c.Open(); });
  EXPECT_TRUE(opened.Then({CartOpened{}})) << opened.Then({CartOpened{}}).message();
  EXPECT_EQ(opened.result()->stream_id(), "cart-c7");
  EXPECT_TRUE(AggregateSpec<Cart>().When([](Cart&) { return OkStatus(); }).ThenNothing());
}

TEST(AggregateSpec, AHistoryThatCannotBeReadFailsEveryThenStep) {
  AggregateSpec<Cart> spec;
  spec.GivenStored({EventData{Uuid{}, "CartRenamed", "{}", "{}"}});
  auto when = spec.When(AddApples(1));
  SpecResult r = when.ThenError(ErrorCode::kUnknownEventType);
  EXPECT_FALSE(r);  // a broken history is the spec's problem, not the command's outcome
  EXPECT_TRUE(Contains(r.message(), "given: the aggregate cannot be fetched")) << r.message();
  EXPECT_TRUE(Contains(r.message(), "CartRenamed")) << r.message();
  EXPECT_FALSE(when.Then({}));
}

// An event whose from_json forgets a field: stored right, read back wrong.
struct Noted {
  static constexpr std::string_view kType = "Noted";
  std::string text;
  int count = 0;
};
void to_json(nlohmann::json& j, const Noted& e) { j = {{"text", e.text}, {"count", e.count}}; }
void from_json(const nlohmann::json& j, Noted& e) { j.at("text").get_to(e.text); }
using NoteEvents = EventTypes<Noted>;

class Notebook : public Aggregate<Notebook, NoteEvents> {
 public:
  static constexpr std::string_view kCategory = "notebook";
  explicit Notebook(std::string id) : Aggregate(std::move(id)) {}
  Status Note(std::string text, int count) {
    Raise(Noted{std::move(text), count});
    return OkStatus();
  }

 private:
  friend Aggregate;  // Apply may be private
  void Apply(const Event&) {}
};

TEST(AggregateSpec, AnEventThatDoesNotSurviveItsJsonFails) {
  SpecResult r = AggregateSpec<Notebook>()
                     .When([](Notebook& n) { return n.Note("hello", 2); })
                     .Then({Noted{"hello", 2}});
  EXPECT_FALSE(r);
  EXPECT_TRUE(Contains(r.message(), "does not come back the same from its JSON")) << r.message();
  EXPECT_TRUE(Contains(r.message(), R"("count":0)")) << r.message();
  // The same for a given event.
  SpecResult given = AggregateSpec<Notebook>()
                         .Given({Noted{"hi", 1}})
                         .When([](Notebook& n) { return n.Note("x", 0); })
                         .Then({Noted{"x", 0}});
  EXPECT_TRUE(Contains(given.message(), "given: the event at version 1")) << given.message();
}

// A decider: a tally that may not pass 10.
struct Added {
  static constexpr std::string_view kType = "Added";
  int amount = 0;
};
struct Cleared {
  static constexpr std::string_view kType = "Cleared";
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Added, amount)
void to_json(nlohmann::json& j, const Cleared&) { j = nlohmann::json::object(); }
void from_json(const nlohmann::json&, Cleared&) {}

struct Add {
  int amount = 0;
};
struct Clear {};

struct Tally {
  using EventTypes = evs::EventTypes<Added, Cleared>;
  using Event = EventTypes::Event;
  using Command = std::variant<Add, Clear>;
  struct State {
    int total = 0;
  };
  static State Initial() { return {}; }
  static Result<std::vector<Event>> Decide(const Command& command, const State& state) {
    if (const Add* add = std::get_if<Add>(&command)) {
      if (add->amount < 1) return Error::Make(ErrorCode::kInvalidArgument, "add at least 1");
      if (state.total + add->amount > 10) {
        return Error::Make(ErrorCode::kDomainRule,
                           "the tally would pass 10: it is " + std::to_string(state.total));
      }
      return std::vector<Event>{Added{add->amount}};
    }
    if (state.total == 0) return std::vector<Event>{};
    return std::vector<Event>{Cleared{}};
  }
  static State Evolve(const State& state, const Event& event) {
    if (const Added* added = std::get_if<Added>(&event)) return {state.total + added->amount};
    return {};
  }
};
static_assert(testing::Decider<Tally>);
static_assert(!testing::Decider<Cart>);

TEST(DeciderSpec, GivenWhenThen) {
  DeciderSpec<Tally> spec;
  spec.Given({Added{3}, Added{4}});
  auto added = spec.When(Add{2});
  EXPECT_TRUE(added.Then({Added{2}})) << added.Then({Added{2}}).message();
  ASSERT_TRUE(added.result().ok());
  EXPECT_EQ(added.result()->total, 9);  // the given events and the new one, folded

  SpecResult refused = spec.When(Add{5}).ThenError(ErrorCode::kDomainRule, "it is 9");
  EXPECT_TRUE(refused) << refused.message();
  EXPECT_TRUE(spec.When(Add{0}).ThenError(ErrorCode::kInvalidArgument));
  EXPECT_TRUE(spec.When(Clear{}).Then({Cleared{}}));
  SpecResult nothing = spec.When(Clear{}).ThenNothing();  // cleared already
  EXPECT_TRUE(nothing) << nothing.message();
}

TEST(DeciderSpec, AWrongExpectationFailsNamingBothSides) {
  SpecResult r = DeciderSpec<Tally>().Given({Added{1}}).When(Add{2}).Then({Added{3}});
  EXPECT_FALSE(r);
  EXPECT_TRUE(Contains(r.message(), "expected 1 event:\n  Added {\"amount\":3}")) << r.message();
  EXPECT_TRUE(Contains(r.message(), "actual:   1 event:\n  Added {\"amount\":2}")) << r.message();
  SpecResult error = DeciderSpec<Tally>().When(Add{11}).Then({Added{11}});
  EXPECT_TRUE(Contains(error.message(), "the command failed, domain_rule: the tally would pass"))
      << error.message();
}

}  // namespace
}  // namespace evs
