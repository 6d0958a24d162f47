#include "cli/feed_commands.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "cart/cart.h"
#include "cart/cart_summary_projection.h"
#include "cli/output.h"
#include "cli/progress.h"
#include "common/event_json.h"
#include "evs/postgres.h"
#include "evs/postgres_projection.h"
#include "evs/projection.h"
#include "evs/subscription.h"
#include "store/sqlite.h"

namespace evs::cli {

namespace {

// The files that hold checkpoints in a data folder: the feed's and each read model's.
std::vector<std::string> CheckpointFiles(const GlobalOptions& global) {
  std::vector<std::string> files;
  for (const char* name : {"feed.sqlite", "cart_summary.sqlite"}) {
    std::string path = global.data_dir + "/" + name;
    if (std::filesystem::exists(path)) files.push_back(path);
  }
  return files;
}

// The log's head, read without taking the store's lock (a running `evs serve` keeps it).
Result<int64_t> HeadPosition(const GlobalOptions& global) {
  auto store = OpenStoreForReading(global);
  if (!store.ok()) return store.error();
  if (!*store) return 0;  // no store yet
  return (*store)->HeadPosition();
}

struct NoArgs {};

int RunSubscriptions(const GlobalOptions& global, const NoArgs&) {
  auto head = HeadPosition(global);
  if (!head.ok()) return ReportError(global, head.error());
  ListPrinter out(global.json, "no subscriptions in " + global.data_dir);
  for (const std::string& path : CheckpointFiles(global)) {
    auto db = store::Database::Open(path, /*read_only=*/true);
    if (!db) return ReportError(global, db.error());
    // The state a subscription saved when it failed or kept failing to read (files of
    // earlier releases have no such table).
    const bool has_states = db->Prepare("SELECT 1 FROM subscription_states LIMIT 0").ok();
    auto stmt = db->Prepare(
        std::string("SELECT c.subscription, c.checkpoint, (SELECT COUNT(*) FROM parked p WHERE "
                    "p.subscription = c.subscription), ") +
        (has_states ? "(SELECT state FROM subscription_states s WHERE s.subscription = "
                      "c.subscription), (SELECT error FROM subscription_states s WHERE "
                      "s.subscription = c.subscription)"
                    : "NULL, NULL") +
        " FROM checkpoints c ORDER BY 1");
    if (!stmt) return ReportError(global, stmt.error());
    while (stmt->Step() == SQLITE_ROW) {
      const std::string name(stmt->Text(0));
      const int64_t checkpoint = std::atoll(std::string(stmt->Text(1)).c_str());
      const int64_t lag = std::max<int64_t>(0, *head - checkpoint);
      // Only failures and retries are saved; a healthy subscription shows no state here
      // (GET /subscriptions of the running server has the live one).
      const std::string state(stmt->Text(3));
      const std::string error(stmt->Text(4));
      const bool troubled = state == "failed" || state == "retrying";
      if (out.json()) {
        nlohmann::json item = {{"name", name}, {"checkpoint", checkpoint}, {"head", *head},
                               {"lag", lag},   {"parked", stmt->Int(2)},   {"file", path}};
        if (troubled) {
          item["state"] = state;
          item["error"] = error;
        }
        out.AddJson(item);
      } else {
        out.AddLine(name + " checkpoint=" + std::to_string(checkpoint) +
                    " head=" + std::to_string(*head) + " lag=" + std::to_string(lag) +
                    " parked=" + std::to_string(stmt->Int(2)) +
                    (troubled ? " state=" + state + " error=" + error : ""));
      }
    }
  }
  out.Finish();
  return kExitOk;
}

struct ParkedArgs {
  std::optional<int64_t> retry;
};

int RunParked(const GlobalOptions& global, const ParkedArgs& args) {
  const auto files = CheckpointFiles(global);
  if (args.retry) {
    for (const std::string& path : files) {
      auto store = OpenSqliteCheckpointStore(path);
      if (!store.ok()) return ReportError(global, store.error());
      Status s = (*store)->RequestRetry(*args.retry);
      if (s.ok()) {
        if (global.json) {
          PrintJson({{"retry_requested", *args.retry}});
        } else {
          std::cout << "retry of parked event " << *args.retry
                    << " requested; the running subscription delivers it again\n";
        }
        return kExitOk;
      }
      if (s.error().code != ErrorCode::kNotFound) return ReportError(global, s.error());
    }
    return ReportError(global, Error::Make(ErrorCode::kNotFound, "no parked event with id " +
                                                                     std::to_string(*args.retry)));
  }
  ListPrinter out(global.json, "no parked events");
  for (const std::string& path : files) {
    auto store = OpenSqliteCheckpointStore(path);
    if (!store.ok()) return ReportError(global, store.error());
    // In pages, so that a file with a million parked events does not fill the memory.
    for (int64_t after_id = 0;;) {
      auto parked = (*store)->ListParked("", after_id, 1000);
      if (!parked.ok()) return ReportError(global, parked.error());
      if (parked->empty()) break;
      after_id = parked->back().id;
      for (const ParkedEvent& p : *parked) {
        if (out.json()) {
          out.AddJson({{"id", p.id},
                       {"subscription", p.subscription},
                       {"event", EventToJson(p.event)},
                       {"error", p.error},
                       {"attempts", p.attempts},
                       {"parked_at", FormatTimestamp(p.parked_at_us)},
                       {"retry_requested", p.retry_requested}});
        } else {
          out.AddLine("id=" + std::to_string(p.id) + " subscription=" + p.subscription +
                      " position=" + std::to_string(p.event.position) + " type=" + p.event.type +
                      " attempts=" + std::to_string(p.attempts) + " error=" + p.error);
        }
      }
    }
  }
  out.Finish();
  return kExitOk;
}

struct RebuildArgs {
  std::string name;
};

int RunRebuild(const GlobalOptions& global, const RebuildArgs& args) {
  auto opened = OpenProjection(global, args.name);
  if (!opened.ok()) return ReportError(global, opened.error());
  ProjectionRunner* runner = opened->runner.get();
  Progress progress("rebuild", true);
  Status s =
      runner->Rebuild([&](int64_t position, int64_t head) { progress.Update(position, head); });
  if (!s.ok()) return ReportError(global, s.error());
  progress.Finish();
  runner->Stop();
  if (global.json) {
    PrintJson({{"projection", args.name}, {"checkpoint", runner->CheckpointName()}});
  } else {
    std::cout << "rebuilt " << args.name << " (" << runner->CheckpointName() << ")\n";
  }
  return kExitOk;
}

}  // namespace

Result<OpenedProjection> OpenProjection(const GlobalOptions& global, const std::string& name) {
  if (name != "cart_summary") {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "unknown projection '" + name + "'; known: cart_summary");
  }
  OpenedProjection opened;
  auto store = OpenStore(global);
  if (!store.ok()) return store.error();
  opened.store = std::move(store).value();
  opened.projection = std::make_unique<cart::CartSummaryProjection>();
  if (IsPostgresUrl(global.store)) {
    // The read model that `evs serve` keeps in the store's database.
    PostgresProjectionOptions options;
    options.url = global.store;
    options.upcaster = cart::CartUpcaster();
    auto runner = OpenPostgresProjectionRunner(*opened.store, *opened.projection, options);
    if (!runner.ok()) return runner.error();
    opened.runner = std::move(runner).value();
    return opened;
  }
  ProjectionOptions options;
  options.path = global.data_dir + "/" + name + ".sqlite";
  options.upcaster = cart::CartUpcaster();
  auto runner = ProjectionRunner::Open(*opened.store, *opened.projection, options);
  if (!runner.ok()) return runner.error();
  opened.runner = std::move(runner).value();
  return opened;
}

void AddFeedCommands(CLI::App& app, const GlobalOptions& global, Command& command) {
  auto no_args = std::make_shared<NoArgs>();
  CLI::App* subscriptions = app.add_subcommand(
      "subscriptions", "List the subscriptions of the data folder: checkpoint, head, lag, parked");
  RunWhenSelected(subscriptions, global, command, no_args, &RunSubscriptions);

  auto parked_args = std::make_shared<ParkedArgs>();
  CLI::App* parked = app.add_subcommand(
      "parked", "List events that a subscription's handler kept failing on, or retry one");
  parked->add_option("--retry", parked_args->retry,
                     "Ask the running subscription to deliver this parked event again");
  RunWhenSelected(parked, global, command, parked_args, &RunParked);

  CLI::App* projections = app.add_subcommand("projections", "Manage read models");
  projections->require_subcommand(1);
  auto rebuild_args = std::make_shared<RebuildArgs>();
  CLI::App* rebuild = projections->add_subcommand(
      "rebuild", "Rebuild a read model from the start of the log, with progress, then swap it in");
  rebuild->add_option("name", rebuild_args->name, "The projection: cart_summary")->required();
  RunWhenSelected(rebuild, global, command, rebuild_args, &RunRebuild);
}

}  // namespace evs::cli
