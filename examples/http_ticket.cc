// A support ticket served over HTTP through evs's public HTTP interface (evs/http/), the way the
// shopping cart is: the ticket's routes are added to an evs::http::Api next to the store's own
// routes, and the embedded server serves them on 127.0.0.1 (a free port).
//
//   POST /tickets               {"title"}    -> 201 {"ticket_id", "version"}, Location
//   GET  /tickets/{id}                       -> the ticket, ETag "<version>"
//   POST /tickets/{id}/assign   {"agent"}    -> the ticket (If-Match: "<version>" optional)
//   POST /tickets/{id}/close    {"resolution"} -> the ticket
//
// Rules: a ticket is assigned before it is closed, and a closed ticket does not change (422).
// The program then sends itself real HTTP requests, checks each answer, and exits 1 on the first
// that is not what it should be.
#include <httplib.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <variant>

#include "evs/aggregate.h"
#include "evs/event_store.h"
#include "evs/event_types.h"
#include "evs/http/api.h"
#include "evs/http/request_reading.h"
#include "evs/http/responses.h"
#include "evs/http/routes.h"
#include "evs/http/server.h"
#include "evs/repository.h"
#include "evs/uuid.h"

namespace ticket {

using nlohmann::json;

// --- The domain ---------------------------------------------------------------------------------

struct TicketOpened {
  static constexpr std::string_view kType = "TicketOpened";
  std::string title;
};
struct TicketAssigned {
  static constexpr std::string_view kType = "TicketAssigned";
  std::string agent;
};
struct TicketClosed {
  static constexpr std::string_view kType = "TicketClosed";
  std::string resolution;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(TicketOpened, title)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(TicketAssigned, agent)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(TicketClosed, resolution)

using TicketEvents = evs::EventTypes<TicketOpened, TicketAssigned, TicketClosed>;

evs::Error Rule(std::string message) {
  return evs::Error::Make(evs::ErrorCode::kDomainRule, std::move(message));
}

class Ticket : public evs::Aggregate<Ticket, TicketEvents> {
 public:
  static constexpr std::string_view kCategory = "ticket";
  explicit Ticket(std::string id) : Aggregate(std::move(id)) {}

  evs::Status Open(const std::string& title) {
    if (title.empty()) return Rule("a ticket needs a title");
    Raise(TicketOpened{title});
    return evs::OkStatus();
  }
  evs::Status Assign(const std::string& agent) {
    if (closed_) return Rule("ticket " + id() + " is closed");
    if (agent.empty()) return Rule("a ticket is assigned to an agent");
    Raise(TicketAssigned{agent});
    return evs::OkStatus();
  }
  evs::Status Close(const std::string& resolution) {
    if (closed_) return Rule("ticket " + id() + " is closed already");
    if (agent_.empty()) return Rule("ticket " + id() + " is not assigned yet");
    Raise(TicketClosed{resolution});
    return evs::OkStatus();
  }

  void Apply(const Event& event) {
    std::visit(
        [this](const auto& e) {
          using E = std::decay_t<decltype(e)>;
          if constexpr (std::is_same_v<E, TicketOpened>) title_ = e.title;
          if constexpr (std::is_same_v<E, TicketAssigned>) agent_ = e.agent;
          if constexpr (std::is_same_v<E, TicketClosed>) {
            closed_ = true;
            resolution_ = e.resolution;
          }
        },
        event);
  }

  json ToJson() const {
    return {{"ticket_id", id()},         {"title", title_},
            {"agent", agent_},           {"status", closed_ ? "closed" : "open"},
            {"resolution", resolution_}, {"version", version()}};
  }

 private:
  std::string title_, agent_, resolution_;
  bool closed_ = false;
};

// --- Its routes ---------------------------------------------------------------------------------

using evs::http::Params;
using evs::http::Request;
using evs::http::Response;

class TicketHttp {
 public:
  explicit TicketHttp(evs::EventStore& store) : tickets_(store) {}

  evs::Status Register(evs::http::Routes& routes) {
    return evs::http::AddMemberRoutes<TicketHttp>(
        routes, *this,
        {
            {"POST", "/tickets", &TicketHttp::Open},
            {"GET", "/tickets/{id}", &TicketHttp::Get},
            {"POST", "/tickets/{id}/assign", &TicketHttp::Assign},
            {"POST", "/tickets/{id}/close", &TicketHttp::Close},
        });
  }

 private:
  // The body's one string field `name`; a problem response when it is not there.
  static evs::http::Parsed<std::string> Field(const Request& request, const std::string& name) {
    auto body = evs::http::JsonBody(request);
    if (!body) return body.problem();
    if (!body->is_object() || !body->contains(name) || !(*body)[name].is_string()) {
      return evs::http::Problem(400, "invalid_body",
                                "the body must be an object with a string '" + name + "'");
    }
    return (*body)[name].get<std::string>();
  }

  static Response TicketResponse(const Ticket& ticket, int status = 200) {
    Response r = evs::http::JsonResponse(ticket.ToJson(), status);
    r.headers.emplace_back("ETag", "\"" + std::to_string(ticket.version()) + "\"");
    return r;
  }

  Response Open(const Request& request, const Params&) {
    auto title = Field(request, "title");
    if (!title) return title.problem();
    const std::string id = evs::Uuid::Random().ToString();
    auto ticket = tickets_.Create(id, [&](Ticket& t) { return t.Open(*title); });
    if (!ticket.ok()) return evs::http::ProblemFor(ticket.error());
    Response r = evs::http::JsonResponse({{"ticket_id", id}, {"version", ticket->version()}}, 201);
    r.headers.emplace_back("Location", "/tickets/" + id);
    return r;
  }

  Response Get(const Request&, const Params& params) {
    auto ticket = tickets_.Fetch(params.path.at("id"));
    if (!ticket.ok()) return evs::http::ProblemFor(ticket.error());
    return TicketResponse(*ticket);
  }

  // Load, decide, store: at the If-Match version when the request names one (412 elsewhere),
  // otherwise retried on conflicts.
  template <class Decide>
  Response Command(const Request& request, const std::string& id, Decide&& decide) {
    auto if_match = evs::http::IfMatchVersion(request);
    if (!if_match) return if_match.problem();
    if (!*if_match) {
      auto ticket = tickets_.Execute(id, decide);
      if (!ticket.ok()) return evs::http::ProblemFor(ticket.error());
      return TicketResponse(*ticket);
    }
    auto ticket = tickets_.Fetch(id);
    if (!ticket.ok()) return evs::http::ProblemFor(ticket.error());
    if (ticket->version() != **if_match) {
      return evs::http::Problem(
          412, "precondition_failed",
          "ticket " + id + " is at version " + std::to_string(ticket->version()));
    }
    if (evs::Status s = decide(*ticket); !s.ok()) return evs::http::ProblemFor(s.error());
    auto stored = tickets_.Store(std::move(ticket).value());
    if (!stored.ok()) return evs::http::ProblemFor(stored.error());
    return TicketResponse(*stored);
  }

  Response Assign(const Request& request, const Params& params) {
    auto agent = Field(request, "agent");
    if (!agent) return agent.problem();
    return Command(request, params.path.at("id"), [&](Ticket& t) { return t.Assign(*agent); });
  }

  Response Close(const Request& request, const Params& params) {
    auto resolution = Field(request, "resolution");
    if (!resolution) return resolution.problem();
    return Command(request, params.path.at("id"), [&](Ticket& t) { return t.Close(*resolution); });
  }

  evs::Repository<Ticket> tickets_;
};

}  // namespace ticket

// --- The program: serve, ask, check -------------------------------------------------------------

namespace {

constexpr const char* kToken = "example-token-of-32-characters!!";

int failures = 0;

// Checks one answer: its status and, when given, a part of its body; prints what differs.
nlohmann::json Expect(const char* what, const httplib::Result& result, int status,
                      const std::string& body_part = "") {
  if (!result) {
    std::fprintf(stderr, "FAIL %s: no answer (%s)\n", what,
                 httplib::to_string(result.error()).c_str());
    ++failures;
    return nullptr;
  }
  if (result->status != status || result->body.find(body_part) == std::string::npos) {
    std::fprintf(stderr, "FAIL %s: expected %d with '%s', got %d %s\n", what, status,
                 body_part.c_str(), result->status, result->body.c_str());
    ++failures;
  } else {
    std::printf("ok   %s: %d\n", what, result->status);
  }
  return nlohmann::json::parse(result->body, nullptr, /*allow_exceptions=*/false);
}

}  // namespace

int main() {
  auto store = evs::NewMemoryEventStore();
  evs::http::ApiOptions api_options;
  api_options.bearer_token = kToken;  // writes need it, on the ticket's routes as on the store's
  evs::http::Api api(*store, api_options);
  ticket::TicketHttp tickets(*store);
  if (evs::Status s = tickets.Register(api.routes()); !s.ok()) {
    std::fprintf(stderr, "cannot add the ticket routes: %s\n", s.error().message.c_str());
    return 1;
  }

  evs::http::ServerOptions server_options;
  server_options.host = "127.0.0.1";
  server_options.port = 0;  // a free port
  server_options.blocking_threads = 4;
  server_options.access_log = false;
  evs::http::Server server(api, server_options);
  auto port = server.Bind();
  if (!port.ok()) {
    std::fprintf(stderr, "cannot listen: %s\n", port.error().message.c_str());
    return 1;
  }
  std::thread serving([&] { server.Run(); });

  httplib::Client client("127.0.0.1", *port);
  const httplib::Headers auth = {{"Authorization", std::string("Bearer ") + kToken}};
  const char* kJson = "application/json";

  Expect("a write without the token", client.Post("/tickets", R"({"title": "x"})", kJson), 401,
         "unauthorized");
  auto opened =
      Expect("open", client.Post("/tickets", auth, R"({"title": "printer on fire"})", kJson), 201,
             "ticket_id");
  const std::string id = opened.is_object() ? opened.value("ticket_id", "") : "";
  const std::string path = "/tickets/" + id;
  Expect("read", client.Get(path), 200, R"("status":"open")");
  Expect("close before assigning",
         client.Post(path + "/close", auth, R"({"resolution": "x"})", kJson), 422,
         "not assigned yet");
  httplib::Headers at_version_1 = auth;
  at_version_1.emplace("If-Match", "\"1\"");
  Expect("assign at version 1",
         client.Post(path + "/assign", at_version_1, R"({"agent": "ana"})", kJson), 200,
         R"("agent":"ana")");
  Expect("assign again at version 1",
         client.Post(path + "/assign", at_version_1, R"({"agent": "bo"})", kJson), 412,
         "precondition_failed");
  Expect("a body without the field", client.Post(path + "/close", auth, "{}", kJson), 400,
         "invalid_body");
  Expect("close", client.Post(path + "/close", auth, R"({"resolution": "extinguished"})", kJson),
         200, R"("status":"closed")");
  Expect("assign a closed ticket", client.Post(path + "/assign", auth, R"({"agent": "cy"})", kJson),
         422, "is closed");
  Expect("an unknown ticket", client.Get("/tickets/nope"), 404, "not_found");
  Expect("a method the route has not", client.Delete(path, auth), 405, "method_not_allowed");
  // The store's own routes answer beside the ticket's: its events, and the request metrics by
  // the ticket's route patterns.
  Expect("the ticket's stream", client.Get("/streams/ticket-" + id), 200, "TicketClosed");
  Expect("metrics", client.Get("/metrics"), 200,
         R"(evs_http_requests_total{route="/tickets/{id}/assign",method="POST",status="412"} 1)");

  server.Stop();
  serving.join();
  if (failures > 0) {
    std::fprintf(stderr, "%d checks failed\n", failures);
    return 1;
  }
  std::printf("all checks passed\n");
  return 0;
}
