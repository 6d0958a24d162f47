// The cart's Api (cart_api.h) over an embedded SQLite store in a temp folder, served by the real
// http::Server on an ephemeral loopback port, for the HTTP tests.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "cart_api.h"
#include "evs/event_store.h"
#include "evs/http/api.h"
#include "evs/http/server.h"
#include "http_client.h"
#include "temp_dir.h"

namespace evs::testing {

class ServedApi {
 public:
  // The Api's options, made once the store is open (for parts that need it, like personal data).
  using OptionsFor = std::function<http::ApiOptions(EventStore& store, const std::string& path)>;

  // Opens the store and serves; a failure is a test failure, and port() is then 0.
  explicit ServedApi(const OptionsFor& options = nullptr, size_t threads = 8) {
    SqliteStoreOptions store_options;
    store_options.path = dir_.File("events.sqlite");
    auto store = OpenSqliteEventStore(store_options);
    if (!store.ok()) {
      ADD_FAILURE() << store.error().message;
      return;
    }
    store_ = std::move(store).value();
    api_ = std::make_unique<CartApi>(
        *store_, options ? options(*store_, store_options.path) : http::ApiOptions{});
    http::ServerOptions server_options;
    server_options.host = "127.0.0.1";
    server_options.port = 0;
    server_options.blocking_threads = threads;
    server_options.access_log = false;
    server_ = std::make_unique<http::Server>(*api_, server_options);
    auto port = server_->Bind();
    if (!port.ok()) {
      ADD_FAILURE() << port.error().message;
      return;
    }
    server_thread_ = std::thread([this] { server_->Run(); });
    client_ = NewClient(*port);
    // Wait, bounded, until the accept loop answers.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (ToReply(client_->Get("/healthz")).status != 200) {
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "the server never answered /healthz";
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    port_ = *port;
  }
  ~ServedApi() {
    client_.reset();  // close keep-alive connections first: Run() waits for them
    if (server_thread_.joinable()) {
      server_->Stop();
      server_thread_.join();
    }
    server_.reset();
    api_.reset();
    store_.reset();
  }
  ServedApi(const ServedApi&) = delete;
  ServedApi& operator=(const ServedApi&) = delete;

  int port() const { return port_; }
  EventStore& store() { return *store_; }
  httplib::Client& client() { return *client_; }
  const TempDir& dir() const { return dir_; }

 private:
  TempDir dir_;
  std::unique_ptr<EventStore> store_;
  std::unique_ptr<CartApi> api_;
  std::unique_ptr<http::Server> server_;
  std::thread server_thread_;
  std::unique_ptr<httplib::Client> client_;
  int port_ = 0;
};

}  // namespace evs::testing
