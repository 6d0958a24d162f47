#include "postgres/pg_connection.h"

#include <cstring>
#include <optional>

namespace evs::pg {
namespace {

std::string BigEndian(uint64_t value) {
  std::string bytes(8, '\0');
  for (int i = 7; i >= 0; --i) {
    bytes[static_cast<size_t>(i)] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
  return bytes;
}

// Quotes one element of an array literal: "..." with \ and " escaped.
void AppendArrayElement(std::string& out, std::string_view value) {
  out += '"';
  for (char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}

std::string Trimmed(const char* message) {
  std::string text = message == nullptr ? "" : message;
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

}  // namespace

Params& Params::Int8(int64_t value) {
  values_.push_back({BigEndian(static_cast<uint64_t>(value)), 1});
  return *this;
}

Params& Params::Text(std::string_view value) {
  values_.push_back({std::string(value), 1});
  return *this;
}

Params& Params::Id(const Uuid& value) {
  values_.push_back({std::string(reinterpret_cast<const char*>(value.bytes.data()), 16), 1});
  return *this;
}

Params& Params::TextArray(const std::vector<std::string>& values) {
  std::string literal = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) literal += ',';
    AppendArrayElement(literal, values[i]);
  }
  literal += '}';
  values_.push_back({std::move(literal), 0});
  return *this;
}

Params& Params::TextArray(const std::vector<std::string_view>& values) {
  std::string literal = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) literal += ',';
    AppendArrayElement(literal, values[i]);
  }
  literal += '}';
  values_.push_back({std::move(literal), 0});
  return *this;
}

Params& Params::ByteaArray(const std::vector<std::string_view>& values) {
  static constexpr char kHex[] = "0123456789abcdef";
  size_t size = 2;
  for (auto v : values) size += 2 * v.size() + 6;
  std::string literal;
  literal.reserve(size);
  literal += '{';
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) literal += ',';
    literal += "\"\\\\x";  // "\\x: the array's escape of bytea's \x
    for (unsigned char c : values[i]) {
      literal += kHex[c >> 4];
      literal += kHex[c & 15];
    }
    literal += '"';
  }
  literal += '}';
  values_.push_back({std::move(literal), 0});
  return *this;
}

Params& Params::IdArray(const std::vector<Uuid>& values) {
  std::string literal = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) literal += ',';
    literal += values[i].ToString();
  }
  literal += '}';
  values_.push_back({std::move(literal), 0});
  return *this;
}

Params& Params::Int8Array(const std::vector<int64_t>& values) {
  std::string literal = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) literal += ',';
    literal += std::to_string(values[i]);
  }
  literal += '}';
  values_.push_back({std::move(literal), 0});
  return *this;
}

int64_t GetInt8(const PGresult* result, int row, int column) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(PQgetvalue(result, row, column));
  if (PQgetlength(result, row, column) != 8) return 0;
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value = (value << 8) | bytes[i];
  return static_cast<int64_t>(value);
}

std::string GetText(const PGresult* result, int row, int column) {
  return std::string(PQgetvalue(result, row, column),
                     static_cast<size_t>(PQgetlength(result, row, column)));
}

Uuid GetId(const PGresult* result, int row, int column) {
  Uuid id;
  if (PQgetlength(result, row, column) == 16) {
    std::memcpy(id.bytes.data(), PQgetvalue(result, row, column), 16);
  }
  return id;
}

bool IsNull(const PGresult* result, int row, int column) {
  return PQgetisnull(result, row, column) != 0;
}

Result<std::unique_ptr<Connection>> Connection::Open(const std::string& url) {
  char* parse_error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(url.c_str(), &parse_error);
  if (parsed == nullptr) {
    std::string message = Trimmed(parse_error);
    PQfreemem(parse_error);
    return Error::Make(ErrorCode::kInvalidArgument,
                       "not a PostgreSQL connection string (" + message +
                           "): expected postgres://USER@HOST:PORT/DB or key=value pairs");
  }
  PQconninfoFree(parsed);
  // The url comes last: what it sets wins over these defaults.
  const char* keywords[] = {"client_encoding", "application_name", "connect_timeout",
                            "options",         "dbname",           nullptr};
  const char* values[] = {"UTF8",      "evs",  "10", "-c plan_cache_mode=force_custom_plan",
                          url.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  if (conn == nullptr) return Error::Make(ErrorCode::kUnavailable, "libpq: out of memory");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message = Trimmed(PQerrorMessage(conn));
    PQfinish(conn);
    return Error::Make(ErrorCode::kUnavailable, "cannot connect to PostgreSQL: " + message);
  }
  // Notices ("relation ... already exists, skipping") are not errors: not printed on stderr.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  return std::unique_ptr<Connection>(new Connection(conn));
}

Connection::~Connection() { PQfinish(conn_); }

void Connection::Reset() {
  PQreset(conn_);
  prepared_.clear();  // a new session
}

Error Connection::Failure(const PGresult* result, std::string_view sql) {
  const char* state = result == nullptr ? nullptr : PQresultErrorField(result, PG_DIAG_SQLSTATE);
  sqlstate_ = state == nullptr ? "" : state;
  std::string message =
      Trimmed(result != nullptr ? PQresultErrorMessage(result) : PQerrorMessage(conn_));
  if (message.empty()) message = Trimmed(PQerrorMessage(conn_));
  std::string what(sql.substr(0, sql.find_first_of(" \n")));
  if (Broken()) {
    return Error::Make(ErrorCode::kUnavailable,
                       "the connection to PostgreSQL was lost (" + message + ")");
  }
  return Error::Make(ErrorCode::kIOError,
                     "PostgreSQL refused " + what + ": " + message +
                         (sqlstate_.empty() ? "" : " (SQLSTATE " + sqlstate_ + ")"));
}

Result<ResultPtr> Connection::Exec(std::string_view sql, const Params& params) {
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> formats;
  values.reserve(params.values_.size());
  for (const auto& v : params.values_) {
    values.push_back(v.bytes.data());
    lengths.push_back(static_cast<int>(v.bytes.size()));
    formats.push_back(v.format);
  }
  const std::string text(sql);
  ResultPtr result(PQexecParams(conn_, text.c_str(), static_cast<int>(values.size()), nullptr,
                                values.data(), lengths.data(), formats.data(),
                                /*resultFormat=*/1));
  const ExecStatusType status =
      result == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return Failure(result.get(), sql);
  }
  sqlstate_.clear();
  return result;
}

Result<std::vector<ResultPtr>> Connection::Pipeline(const std::vector<Step>& steps,
                                                    const std::function<void(size_t)>& done) {
  for (const Step& step : steps) {
    if (step.prepared.empty() || prepared_.count(step.prepared) != 0) continue;
    ResultPtr r(PQprepare(conn_, step.prepared.c_str(), step.sql.c_str(), 0, nullptr));
    if (r == nullptr || PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
      return Failure(r.get(), step.sql);
    }
    prepared_.insert(step.prepared);
  }
  if (PQenterPipelineMode(conn_) == 0) return Failure(nullptr, "pipeline");
  bool sent = true;
  for (const Step& step : steps) {
    std::vector<const char*> values;
    std::vector<int> lengths;
    std::vector<int> formats;
    for (const auto& v : step.params.values_) {
      values.push_back(v.bytes.data());
      lengths.push_back(static_cast<int>(v.bytes.size()));
      formats.push_back(v.format);
    }
    const int sent_one =
        step.prepared.empty()
            ? PQsendQueryParams(conn_, step.sql.c_str(), static_cast<int>(values.size()), nullptr,
                                values.data(), lengths.data(), formats.data(),
                                /*resultFormat=*/1)
            : PQsendQueryPrepared(conn_, step.prepared.c_str(), static_cast<int>(values.size()),
                                  values.data(), lengths.data(), formats.data(),
                                  /*resultFormat=*/1);
    if (sent_one == 0 || (step.flush && PQsendFlushRequest(conn_) == 0)) {
      sent = false;
      break;
    }
  }
  if (!sent || PQpipelineSync(conn_) == 0) {
    Error error = Failure(nullptr, steps.empty() ? "pipeline" : steps.front().sql);
    if (!Broken()) Reset();  // part of the pipeline went out: start afresh
    return error;
  }
  // Each step's results, each followed by a null; then the sync's.
  std::vector<ResultPtr> results;
  std::optional<Error> failed;
  std::string failed_state;
  for (size_t i = 0; i < steps.size(); ++i) {
    ResultPtr first;
    for (;;) {
      ResultPtr r(PQgetResult(conn_));
      if (r == nullptr) break;
      const ExecStatusType status = PQresultStatus(r.get());
      if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK &&
          status != PGRES_PIPELINE_ABORTED && !failed) {
        failed = Failure(r.get(), steps[i].sql);
        failed_state = sqlstate_;
      }
      if (first == nullptr) first = std::move(r);
    }
    if (Broken()) return Failure(nullptr, steps[i].sql);
    results.push_back(std::move(first));
    if (done && !failed) done(i);
  }
  ResultPtr sync(PQgetResult(conn_));
  if (sync == nullptr || PQresultStatus(sync.get()) != PGRES_PIPELINE_SYNC) {
    if (!failed) failed = Failure(sync.get(), "pipeline sync");
    if (!Broken()) Reset();  // out of step with the server: start afresh
    return *failed;
  }
  if (PQexitPipelineMode(conn_) == 0) Reset();
  if (failed) {
    sqlstate_ = failed_state;
    return *failed;
  }
  sqlstate_.clear();
  return results;
}

Status Connection::ExecScript(std::string_view sql) {
  const std::string text(sql);
  ResultPtr result(PQexec(conn_, text.c_str()));
  const ExecStatusType status =
      result == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) return Failure(result.get(), sql);
  sqlstate_.clear();
  return OkStatus();
}

Result<ResultPtr> ReopeningConnection::Exec(std::string_view sql, const Params& params) {
  std::lock_guard guard(mu_);
  for (int attempt = 0;; ++attempt) {
    if (connection_ == nullptr || connection_->Broken()) {
      auto connection = Connection::Open(url_);
      if (!connection) return connection.error();
      connection_ = std::move(connection).value();
    }
    auto result = connection_->Exec(sql, params);
    if (result.ok() || !connection_->Broken() || attempt > 0) return result;
  }
}

}  // namespace evs::pg
