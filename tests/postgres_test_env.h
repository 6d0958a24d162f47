// Tests against a private PostgreSQL cluster (scripts/postgres start DIR; source DIR/env): whether
// they run, and a fresh database per test, dropped at the end.
//
// They run when EVS_TEST_POSTGRES_URL names the cluster's maintenance database
// (postgresql://evs@127.0.0.1:PORT/postgres); unset, they skip and say how to run them.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "evs/uuid.h"
#include "postgres/pg_connection.h"

namespace evs::testing {

// "" when the PostgreSQL tests run; otherwise why they skip.
inline std::string PostgresTestSkipReason() {
  const char* url = std::getenv("EVS_TEST_POSTGRES_URL");
  if (url != nullptr && *url != '\0') return "";
  return "EVS_TEST_POSTGRES_URL is not set: start a private PostgreSQL cluster to run the "
         "PostgreSQL tests (scripts/postgres start DIR; source DIR/env)";
}

// `url` (a postgres:// URI) with its database replaced by `database`.
inline std::string WithDatabase(const std::string& url, const std::string& database) {
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url + " dbname=" + database;
  const size_t query = url.find('?', scheme + 3);
  const size_t path = url.find('/', scheme + 3);
  const std::string tail = query == std::string::npos ? "" : url.substr(query);
  const size_t host_end = path != std::string::npos && (query == std::string::npos || path < query)
                              ? path
                              : (query == std::string::npos ? url.size() : query);
  return url.substr(0, host_end) + "/" + database + tail;
}

// A database of its own on the test cluster, created empty and dropped (with every connection
// still open to it) when this goes away.
class PostgresTestDatabase {
 public:
  PostgresTestDatabase() {
    const char* admin = std::getenv("EVS_TEST_POSTGRES_URL");
    if (admin == nullptr) return;
    admin_url_ = admin;
    name_ = "evs_test_" + Uuid::Random().ToString().substr(0, 8) +
            Uuid::Random().ToString().substr(0, 8);
    auto connection = pg::Connection::Open(admin_url_);
    if (!connection) {
      ADD_FAILURE() << "EVS_TEST_POSTGRES_URL is set but the cluster does not answer: "
                    << connection.error().message;
      return;
    }
    if (auto s = (*connection)->ExecScript("CREATE DATABASE " + name_); !s) {
      ADD_FAILURE() << "creating database " << name_ << ": " << s.error().message;
      return;
    }
    url_ = WithDatabase(admin_url_, name_);
  }
  ~PostgresTestDatabase() {
    if (url_.empty()) return;
    auto connection = pg::Connection::Open(admin_url_);
    if (connection) (void)(*connection)->ExecScript("DROP DATABASE " + name_ + " WITH (FORCE)");
  }
  PostgresTestDatabase(const PostgresTestDatabase&) = delete;
  PostgresTestDatabase& operator=(const PostgresTestDatabase&) = delete;

  // The database's url; empty when it could not be made (the test has failed, saying why).
  const std::string& url() const { return url_; }

 private:
  std::string admin_url_;
  std::string name_;
  std::string url_;
};

}  // namespace evs::testing
