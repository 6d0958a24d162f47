#include "postgres/pg_read_model.h"

#include <charconv>
#include <cstdlib>
#include <optional>

#include "postgres/pg_placeholders.h"

namespace evs::pg {
namespace {

// Type OIDs of the columns that do not come back as text (PostgreSQL's pg_type.dat).
constexpr Oid kBool = 16, kBytea = 17, kInt8 = 20, kInt2 = 21, kInt4 = 23, kOid = 26, kFloat4 = 700,
              kFloat8 = 701, kNumeric = 1700;

std::string TrimmedMessage(const char* message) {
  std::string text = message == nullptr ? "" : message;
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

std::optional<int64_t> ParseInt(std::string_view text) {
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

SqlValue Column(const PGresult* result, int row, int column) {
  if (PQgetisnull(result, row, column)) return nullptr;
  const std::string_view text(PQgetvalue(result, row, column),
                              static_cast<size_t>(PQgetlength(result, row, column)));
  switch (PQftype(result, column)) {
    case kBool:
      return int64_t{text == "t" ? 1 : 0};
    case kInt2:
    case kInt4:
    case kInt8:
    case kOid:
      return ParseInt(text).value_or(0);
    case kNumeric:
      if (auto whole = ParseInt(text)) return *whole;
      return std::strtod(std::string(text).c_str(), nullptr);
    case kFloat4:
    case kFloat8:
      return std::strtod(std::string(text).c_str(), nullptr);  // also Infinity and NaN
    case kBytea: {
      size_t size = 0;
      unsigned char* bytes =
          PQunescapeBytea(reinterpret_cast<const unsigned char*>(text.data()), &size);
      if (bytes == nullptr) return std::string(text);
      std::string value(reinterpret_cast<const char*>(bytes), size);
      PQfreemem(bytes);
      return value;
    }
    default:
      return std::string(text);
  }
}

// A parameter as text: PostgreSQL parses it as the type it inferred.
std::optional<std::string> ParamText(const SqlValue& value) {
  if (const auto* n = std::get_if<int64_t>(&value)) return std::to_string(*n);
  if (const auto* text = std::get_if<std::string>(&value)) return *text;
  if (const auto* real = std::get_if<double>(&value)) {
    char buffer[32];
    auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), *real);
    return std::string(buffer, ec == std::errc() ? end : buffer);
  }
  return std::nullopt;  // NULL
}

}  // namespace

Result<std::unique_ptr<PgReadModel>> PgReadModel::Open(const std::string& url, bool reconnect) {
  auto connection = Connection::Open(url);
  if (!connection) return connection.error();
  return std::unique_ptr<PgReadModel>(
      new PgReadModel(url, std::move(connection).value(), reconnect));
}

Status PgReadModel::Reconnect() {
  statements_.clear();  // they lived on the session that is gone
  auto connection = Connection::Open(url_);
  if (!connection) return connection.error();
  connection_ = std::move(connection).value();
  return OkStatus();
}

void PgReadModel::ClearStatements() {
  for (const auto& [sql, kept] : statements_) {
    // A failure leaves a statement nobody names again on the server; the session ends it.
    (void)connection_->ExecScript("DEALLOCATE " + kept.name);
  }
  statements_.clear();
}

Status PgReadModel::Execute(std::string_view sql, std::span<const SqlValue> params) {
  auto result = Run(sql, params);
  if (!result.ok()) return result.error();
  changes_ = ParseInt(PQcmdTuples(result->get())).value_or(0);
  return OkStatus();
}

Result<std::vector<SqlRow>> PgReadModel::Query(std::string_view sql,
                                               std::span<const SqlValue> params) {
  auto result = Run(sql, params);
  if (!result.ok()) return result.error();
  const PGresult* r = result->get();
  std::vector<SqlRow> rows(static_cast<size_t>(PQntuples(r)));
  for (int row = 0; row < PQntuples(r); ++row) {
    rows[row].reserve(static_cast<size_t>(PQnfields(r)));
    for (int column = 0; column < PQnfields(r); ++column) {
      rows[row].push_back(Column(r, row, column));
    }
  }
  return rows;
}

Result<ResultPtr> PgReadModel::Run(std::string_view sql, std::span<const SqlValue> params) {
  for (int attempt = 0;; ++attempt) {
    if (reconnect_ && connection_->Broken()) {
      if (auto s = Reconnect(); !s) return s.error();
    }
    auto result = RunOnce(sql, params);
    if (result.ok() || !reconnect_ || !connection_->Broken() || attempt > 0) return result;
  }
}

Result<ResultPtr> PgReadModel::RunOnce(std::string_view sql, std::span<const SqlValue> params) {
  auto kept = Prepared(sql);
  if (!kept.ok()) return kept.error();
  if ((*kept)->parameters != static_cast<int>(params.size())) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "read model: the statement takes " + std::to_string((*kept)->parameters) +
                           " parameters and " + std::to_string(params.size()) +
                           " were given: " + std::string(sql));
  }
  std::vector<std::optional<std::string>> texts;
  texts.reserve(params.size());
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const SqlValue& value : params) {
    texts.push_back(ParamText(value));
    values.push_back(texts.back() ? texts.back()->c_str() : nullptr);
  }
  ResultPtr result(PQexecPrepared(connection_->raw(), (*kept)->name.c_str(),
                                  static_cast<int>(values.size()), values.data(), nullptr, nullptr,
                                  /*resultFormat=*/0));
  const ExecStatusType status =
      result == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return Failed(result.get(), "read model: statement failed", sql);
  }
  return result;
}

Result<const PgReadModel::Kept*> PgReadModel::Prepared(std::string_view sql) {
  if (auto it = statements_.find(sql); it != statements_.end()) return &it->second;
  if (statements_.size() >= kMaxStatements) ClearStatements();
  const Translated translated = TranslatePlaceholders(sql);
  Kept kept{"evs_rm_" + std::to_string(++prepared_), translated.parameters};
  ResultPtr result(PQprepare(connection_->raw(), kept.name.c_str(), translated.sql.c_str(),
                             /*nParams=*/0, nullptr));
  if (result == nullptr || PQresultStatus(result.get()) != PGRES_COMMAND_OK) {
    return Failed(result.get(), "read model: cannot prepare", sql);
  }
  return &statements_.emplace(std::string(sql), std::move(kept)).first->second;
}

Error PgReadModel::Failed(const PGresult* result, std::string_view what,
                          std::string_view sql) const {
  const char* field = result == nullptr ? nullptr : PQresultErrorField(result, PG_DIAG_SQLSTATE);
  const std::string state = field == nullptr ? "" : field;
  std::string message = TrimmedMessage(result != nullptr ? PQresultErrorMessage(result) : nullptr);
  if (message.empty()) message = TrimmedMessage(PQerrorMessage(connection_->raw()));
  if (connection_->Broken()) {
    return Error::Make(ErrorCode::kUnavailable, std::string(what) +
                                                    ": the connection to PostgreSQL was lost (" +
                                                    message + "): " + std::string(sql));
  }
  // What the statement asked for is wrong: syntax, a missing table or column, a broken
  // constraint, a value of the wrong type (SQLSTATE classes 42, 23, 22, 21, 0A).
  ErrorCode code = ErrorCode::kIOError;
  const std::string_view cls = std::string_view(state).substr(0, 2);
  if (cls == "42" || cls == "23" || cls == "22" || cls == "21" || cls == "0A") {
    code = ErrorCode::kInvalidArgument;
  } else if (cls == "40" || cls == "55" || cls == "57") {  // deadlock, lock timeout, shutdown
    code = ErrorCode::kUnavailable;
  }
  return Error::Make(code, std::string(what) + ": " + message +
                               (state.empty() ? "" : " (SQLSTATE " + state + ")") + ": " +
                               std::string(sql));
}

}  // namespace evs::pg
