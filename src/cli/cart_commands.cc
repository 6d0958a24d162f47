#include "cli/cart_commands.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cart/cart.h"
#include "cli/output.h"
#include "evs/repository.h"
#include "evs/uuid.h"

namespace evs::cli {
namespace {

using CartRepository = Repository<cart::Cart>;

struct CartArgs {
  std::string id;
  std::string item;
  int64_t quantity = 1;
  std::optional<int64_t> price_cents;
  std::string currency;
  std::string customer;
  std::string email;
};

// The store and the personal data in it: opening fails when the store holds sealed fields whose
// key store is missing.
struct CartStore {
  std::unique_ptr<EventStore> store;
  std::unique_ptr<PersonalData> personal;
};
Result<CartStore> OpenCartStore(const GlobalOptions& global) {
  auto store = OpenStore(global);
  if (!store.ok()) return store.error();
  auto personal = OpenPersonalData(global, **store);
  if (!personal.ok()) return personal.error();
  return CartStore{std::move(store).value(), std::move(personal).value()};
}

// Cart ids are UUIDs; the canonical lower-case form names the stream, so that "ABC..." and
// "abc..." are the same cart.
Result<std::string> ParseCartId(const std::string& text) {
  auto uuid = Uuid::Parse(text);
  if (!uuid) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "'" + text +
                           "' is not a cart id; cart ids are UUIDs, as printed by "
                           "`evs cart open`");
  }
  return uuid->ToString();
}

// Columns count characters, not bytes, so that UTF-8 item names line up.
size_t DisplayWidth(const std::string& text) {
  return static_cast<size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}
std::string PadRight(const std::string& text, size_t width) {
  size_t w = DisplayWidth(text);
  return w >= width ? text : text + std::string(width - w, ' ');
}
std::string PadLeft(const std::string& text, size_t width) {
  size_t w = DisplayWidth(text);
  return w >= width ? text : std::string(width - w, ' ') + text;
}

void PrintCartText(const cart::Cart& cart, const nlohmann::ordered_json& json) {
  std::cout << "cart " << cart.id() << '\n';
  if (!cart.customer().id.empty()) std::cout << "customer: " << cart.customer().id << '\n';
  if (json.contains("email")) std::cout << "email: " << json["email"].get<std::string>() << '\n';
  std::cout << "status: " << cart::StatusName(cart.status()) << '\n'
            << "version: " << cart.version() << '\n'
            << "currency: " << cart.currency() << '\n';
  if (cart.items().empty()) {
    std::cout << "(no items)\n";
  } else {
    std::vector<std::vector<std::string>> rows = {{"item", "quantity", "unit price", "line total"}};
    for (const auto& [name, line] : cart.items()) {
      rows.push_back({name, std::to_string(line.quantity), FormatCents(line.unit_price_cents),
                      FormatCents(line.quantity * line.unit_price_cents)});
    }
    std::vector<size_t> widths(rows.front().size(), 0);
    for (const auto& row : rows) {
      for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], DisplayWidth(row[i]));
    }
    for (const auto& row : rows) {
      std::string out = PadRight(row[0], widths[0]);
      for (size_t i = 1; i < row.size(); ++i) out += "  " + PadLeft(row[i], widths[i]);
      std::cout << out << '\n';
    }
  }
  std::cout << "total: " << FormatCents(cart.total_cents()) << '\n';
}

// The email, when the cart has one, is revealed through `personal` (redacted once forgotten).
int PrintCart(const GlobalOptions& global, const cart::Cart& cart, PersonalData& personal) {
  auto json = cart.ToJson(&personal);
  if (!json.ok()) return ReportError(global, json.error());
  if (global.json) {
    PrintJson(*json);
  } else {
    PrintCartText(cart, *json);
  }
  return kExitOk;
}

// Options for a one-shot process: nothing is worth caching.
RepositoryOptions OneShotRepositoryOptions() {
  RepositoryOptions options;
  options.cache_capacity = 0;
  options.upcaster = cart::CartUpcaster();
  return options;
}

int RunOpen(const GlobalOptions& global, const CartArgs& args) {
  auto store = OpenCartStore(global);
  if (!store) return ReportError(global, store.error());
  // The email is sealed (its key made durable) before the cart's first event is appended.
  auto customer = cart::MakeCustomer(store->personal.get(), args.customer, args.email);
  if (!customer) return ReportError(global, customer.error());
  CartRepository repository(*store->store, OneShotRepositoryOptions());
  auto cart = repository.Create(Uuid::Random().ToString(),
                                [&](cart::Cart& c) { return c.Open(*customer); });
  if (!cart) return ReportError(global, cart.error());
  if (global.json) {
    return PrintCart(global, *cart, *store->personal);
  } else {
    std::cout << cart->id() << '\n';
  }
  return kExitOk;
}

int RunShow(const GlobalOptions& global, const CartArgs& args) {
  auto id = ParseCartId(args.id);
  if (!id) return ReportError(global, id.error());
  auto store = OpenCartStore(global);
  if (!store) return ReportError(global, store.error());
  CartRepository repository(*store->store, OneShotRepositoryOptions());
  auto cart = repository.Fetch(*id);
  if (!cart) return ReportError(global, cart.error());
  return PrintCart(global, *cart, *store->personal);
}

// Loads the cart, runs `decide` on it, stores the result (retrying on conflicts) and prints the
// new state.
template <class Decide>
int RunChange(const GlobalOptions& global, const CartArgs& args, Decide&& decide) {
  auto id = ParseCartId(args.id);
  if (!id) return ReportError(global, id.error());
  auto store = OpenCartStore(global);
  if (!store) return ReportError(global, store.error());
  CartRepository repository(*store->store, OneShotRepositoryOptions());
  auto cart = repository.Execute(*id, std::forward<Decide>(decide));
  if (!cart) return ReportError(global, cart.error());
  return PrintCart(global, *cart, *store->personal);
}

int RunAdd(const GlobalOptions& global, const CartArgs& args) {
  return RunChange(global, args, [&](cart::Cart& c) {
    return c.AddItem(args.item, args.quantity, args.price_cents, args.currency);
  });
}

int RunRemove(const GlobalOptions& global, const CartArgs& args) {
  return RunChange(global, args,
                   [&](cart::Cart& c) { return c.RemoveItem(args.item, args.quantity); });
}

int RunCheckout(const GlobalOptions& global, const CartArgs& args) {
  return RunChange(global, args, [](cart::Cart& c) { return c.Checkout(); });
}

CLI::App* AddCartIdArgument(CLI::App* sub, CartArgs& args) {
  sub->add_option("id", args.id, "The cart id (a UUID, as printed by `evs cart open`)")->required();
  return sub;
}

}  // namespace

void AddCartCommands(CLI::App& app, const GlobalOptions& global, Command& command) {
  auto args = std::make_shared<CartArgs>();
  CLI::App* cart = app.add_subcommand("cart", "Work with shopping carts (the reference app)");
  cart->require_subcommand(1);

  CLI::App* open = cart->add_subcommand("open", "Open a new cart and print its id");
  open->add_option("--customer", args->customer,
                   "The customer the cart is for (a subject id: `evs forget` takes it)");
  open->add_option("--email", args->email,
                   "The customer's email: personal data, kept only encrypted under the "
                   "customer's key (needs --customer)");
  RunWhenSelected(open, global, command, args, &RunOpen);

  CLI::App* add = AddCartIdArgument(
      cart->add_subcommand("add", "Add an item to a cart and print the cart"), *args);
  add->add_option("item", args->item, "The item's name")->required();
  add->add_option("-q,--quantity", args->quantity, "How many to add")->capture_default_str();
  add->add_option("-p,--price", args->price_cents,
                  "Unit price in cents; may be left out for an item already in the cart "
                  "(default for a new item: 0)");
  add->add_option("-c,--currency", args->currency,
                  "The price's currency, an ISO 4217 code such as EUR (default: the cart's; USD "
                  "for an empty cart)");
  RunWhenSelected(add, global, command, args, &RunAdd);

  CLI::App* remove = AddCartIdArgument(
      cart->add_subcommand("remove", "Remove an item from a cart and print the cart"), *args);
  remove->add_option("item", args->item, "The item's name")->required();
  remove->add_option("-q,--quantity", args->quantity, "How many to remove")->capture_default_str();
  RunWhenSelected(remove, global, command, args, &RunRemove);

  CLI::App* checkout = AddCartIdArgument(
      cart->add_subcommand("checkout", "Check a cart out (it cannot change afterwards)"), *args);
  RunWhenSelected(checkout, global, command, args, &RunCheckout);

  CLI::App* show =
      AddCartIdArgument(cart->add_subcommand("show", "Print a cart: status, items, totals"), *args);
  RunWhenSelected(show, global, command, args, &RunShow);
}

}  // namespace evs::cli
