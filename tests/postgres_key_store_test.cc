// The key store of personal data on PostgreSQL (evs/postgres_key_store.h), against the private
// cluster of scripts/postgres (EVS_TEST_POSTGRES_URL; skipped when unset): handles opened apart,
// as two processes would open them, share the keys (a race for a subject's first key ends with
// one key for both), a forget through one makes the sealed fields unreadable through both, the
// table holds keys wrapped and never as they are, another master key is refused at open, and a
// version 2 database migrates.
#include "evs/postgres_key_store.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "common/base64.h"
#include "evs/personal_data.h"
#include "evs/postgres.h"
#include "postgres/pg_schema.h"
#include "postgres_test_env.h"

namespace evs {
namespace {

std::string Hex(const std::string& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char c : bytes) {
    hex.push_back(kDigits[c >> 4]);
    hex.push_back(kDigits[c & 15]);
  }
  return hex;
}

class PostgresKeyStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto reason = testing::PostgresTestSkipReason(); !reason.empty()) GTEST_SKIP() << reason;
    database_ = std::make_unique<testing::PostgresTestDatabase>();
    ASSERT_FALSE(database_->url().empty());
  }

  Result<std::unique_ptr<KeyStore>> OpenKeys(const std::string& master_key,
                                             bool create_if_missing = true) {
    return OpenPostgresKeyStore({.url = database_->url(),
                                 .master_key = master_key,
                                 .create_if_missing = create_if_missing});
  }
  std::unique_ptr<KeyStore> Keys() {
    auto keys = OpenKeys(master_);
    EXPECT_TRUE(keys.ok()) << keys.error().message;
    return keys.ok() ? std::move(keys).value() : nullptr;
  }
  std::unique_ptr<EventStore> Store() {
    PostgresStoreOptions options;
    options.url = database_->url();
    auto store = OpenPostgresEventStore(options);
    EXPECT_TRUE(store.ok()) << store.error().message;
    return store.ok() ? std::move(store).value() : nullptr;
  }
  // PersonalData on `store` with the key store opened as evs opens it: created only for a store
  // not bound to one yet.
  std::unique_ptr<PersonalData> Personal(EventStore& store) {
    auto personal = PersonalData::Open(
        store, [this](bool create_if_missing) { return OpenKeys(master_, create_if_missing); });
    EXPECT_TRUE(personal.ok()) << personal.error().message;
    return personal.ok() ? std::move(personal).value() : nullptr;
  }
  // Every byte of evs_keys and evs_key_store, as text.
  std::string KeyTables() {
    auto c = pg::Connection::Open(database_->url());
    EXPECT_TRUE(c.ok());
    if (!c.ok()) return "";
    auto rows = (*c)->Exec(
        "SELECT coalesce(string_agg(k::text, '|'), '') FROM (SELECT * FROM evs_keys) k "
        "UNION ALL SELECT string_agg(m::text, '|') FROM evs_key_store m");
    EXPECT_TRUE(rows.ok()) << rows.error().message;
    return rows.ok() ? pg::GetText(rows->get(), 0, 0) + pg::GetText(rows->get(), 1, 0) : "";
  }

  std::unique_ptr<testing::PostgresTestDatabase> database_;
  const std::string master_ = std::string(32, '\x5a');
};

TEST_F(PostgresKeyStoreTest, HandlesShareKeysForgetsAndTheMasterKey) {
  auto a = Keys();
  auto b = Keys();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(a->id(), b->id());
  EXPECT_NE(a->name().find("evs_keys"), std::string::npos) << a->name();
  // Both handles make the first keys of the same subjects at once: each subject gets one key.
  constexpr int kSubjects = 50;
  std::vector<std::string> from_a(kSubjects), from_b(kSubjects);
  auto make = [](KeyStore& keys, std::vector<std::string>& out) {
    for (int i = 0; i < kSubjects; ++i) {
      auto key = keys.KeyFor("c-" + std::to_string(i));
      ASSERT_TRUE(key.ok()) << key.error().message;
      out[i] = *key;
    }
  };
  std::thread ta([&] { make(*a, from_a); });
  std::thread tb([&] { make(*b, from_b); });
  ta.join();
  tb.join();
  for (int i = 0; i < kSubjects; ++i) {
    EXPECT_EQ(from_a[i].size(), 32u);
    EXPECT_EQ(from_a[i], from_b[i]) << "subject c-" << i << " got two keys";
  }
  auto found = b->Find("c-0");
  ASSERT_TRUE(found.ok()) << found.error().message;
  EXPECT_EQ(found->state, SubjectKey::State::kActive);
  EXPECT_EQ(found->key, from_a[0]);
  EXPECT_EQ(b->Find("c-nobody")->state, SubjectKey::State::kUnknown);
  // The table holds the keys wrapped, never as they are (raw, in hex or in base64).
  const std::string tables = KeyTables();
  ASSERT_NE(tables.find("c-0"), std::string::npos);
  for (const std::string& key : from_a) {
    EXPECT_EQ(tables.find(key), std::string::npos);
    EXPECT_EQ(tables.find(Hex(key)), std::string::npos);
    EXPECT_EQ(tables.find(Base64Encode(key)), std::string::npos);
  }
  // Forgotten through one handle: gone for the other, a tombstone; again: false; unknown:
  // kNotFound; its id cannot hold personal data again.
  auto forgot = a->Forget("c-0");
  ASSERT_TRUE(forgot.ok()) << forgot.error().message;
  EXPECT_TRUE(*forgot);
  found = b->Find("c-0");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->state, SubjectKey::State::kForgotten);
  EXPECT_TRUE(found->key.empty());
  auto again = b->Forget("c-0");
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_FALSE(*again);
  EXPECT_EQ(a->Forget("c-nobody").error().code, ErrorCode::kNotFound);
  auto refused = b->KeyFor("c-0");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(b->Find("c-1")->key, from_b[1]);  // the others keep theirs
  // Another master key: a clear error at open, not garbage later; a short one too.
  auto wrong = OpenKeys(std::string(32, '\x11'));
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code, ErrorCode::kInvalidArgument) << wrong.error().message;
  EXPECT_NE(wrong.error().message.find("master key"), std::string::npos);
  EXPECT_EQ(OpenKeys("short").error().code, ErrorCode::kInvalidArgument);
}

TEST_F(PostgresKeyStoreTest, WithoutCreateIfMissingAnEmptyDatabaseHasNoKeyStore) {
  auto without_schema = OpenPostgresKeyStore(
      {.url = database_->url(), .master_key = master_, .create_schema = false});
  ASSERT_FALSE(without_schema.ok());
  EXPECT_NE(without_schema.error().message.find("evs pg init"), std::string::npos)
      << without_schema.error().message;
  auto missing = OpenKeys(master_, /*create_if_missing=*/false);  // makes the schema, not the row
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound) << missing.error().message;
  EXPECT_TRUE(OpenKeys(master_).ok());
}

// Two processes' views of one database (each its own event store and key store): a field sealed
// through one reveals through the other; forgotten through the other, it reads as redacted
// through both, at once (no process caches keys).
TEST_F(PostgresKeyStoreTest, ForgettingThroughOneStoreRedactsThroughBoth) {
  auto store_a = Store();
  auto store_b = Store();
  ASSERT_NE(store_a, nullptr);
  ASSERT_NE(store_b, nullptr);
  auto a = Personal(*store_a);
  auto b = Personal(*store_b);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  auto sealed = a->Seal("c-ann", "ann@example.com");
  ASSERT_TRUE(sealed.ok()) << sealed.error().message;
  auto other = b->Seal("c-bob", "bob@example.com");
  ASSERT_TRUE(other.ok()) << other.error().message;
  for (PersonalData* p : {a.get(), b.get()}) {
    auto shown = p->Reveal(*sealed);
    ASSERT_TRUE(shown.ok()) << shown.error().message;
    EXPECT_EQ(*shown, "ann@example.com");
  }
  // The store is bound to the key store once, whichever process sealed first.
  auto bound = store_b->ReadStream(kKeyStoreStream, {});
  ASSERT_TRUE(bound.ok()) << bound.error().message;
  EXPECT_EQ(bound->events.size(), 1u);

  auto forgot = b->Forget("c-ann");
  ASSERT_TRUE(forgot.ok()) << forgot.error().message;
  EXPECT_TRUE(*forgot);
  for (PersonalData* p : {a.get(), b.get()}) {
    auto shown = p->Reveal(*sealed);
    ASSERT_TRUE(shown.ok()) << shown.error().message;
    EXPECT_EQ(*shown, kRedacted);
    auto kept = p->Reveal(*other);
    ASSERT_TRUE(kept.ok()) << kept.error().message;
    EXPECT_EQ(*kept, "bob@example.com");
    EXPECT_EQ(p->Seal("c-ann", "again").error().code, ErrorCode::kInvalidArgument);
  }
  // A third process, opened after the forget, agrees.
  auto store_c = Store();
  ASSERT_NE(store_c, nullptr);
  auto c = Personal(*store_c);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(*c->Reveal(*sealed), kRedacted);
  EXPECT_EQ(*c->Reveal(*other), "bob@example.com");

  // The key store's rows gone (restored without them): the store's sealed fields need it, so
  // opening is a clear error, and no key store is made in its place.
  auto conn = pg::Connection::Open(database_->url());
  ASSERT_TRUE(conn.ok());
  ASSERT_TRUE((*conn)->ExecScript("DELETE FROM evs_keys; DELETE FROM evs_key_store").ok());
  auto refused = PersonalData::Open(
      *store_c, [this](bool create_if_missing) { return OpenKeys(master_, create_if_missing); });
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kCorruption) << refused.error().message;
  EXPECT_NE(refused.error().message.find("evs_keys"), std::string::npos) << refused.error().message;
}

// A database that version 2 left (streams with lifecycle, no key tables): `evs pg init`
// (InitPostgresSchema) migrates it to version 3, its events read as before, and personal data
// works on it.
TEST(PostgresKeySchemaTest, AVersion2DatabaseIsMigratedToVersion3) {
  if (auto reason = testing::PostgresTestSkipReason(); !reason.empty()) GTEST_SKIP() << reason;
  testing::PostgresTestDatabase database;
  ASSERT_FALSE(database.url().empty());
  {
    auto c = pg::Connection::Open(database.url());
    ASSERT_TRUE(c.ok()) << c.error().message;
    auto version = pg::MigrateSchema(**c, 2);
    ASSERT_TRUE(version.ok()) << version.error().message;
    EXPECT_EQ(*version, 2);
    auto s = (*c)->ExecScript(
        "INSERT INTO evs_streams (stream_id, version, max_count) VALUES ('cart-1', 2, 1);"
        "INSERT INTO evs_events VALUES "
        "(1, 'cart-1', 1, '00000000-0000-4000-8000-000000000001', 'Opened', '{}', '{}', 1),"
        "(2, 'cart-1', 2, '00000000-0000-4000-8000-000000000002', 'Added', '{}', '{}', 2);"
        "UPDATE evs_log_head SET position = 2, recorded_at_us = 2");
    ASSERT_TRUE(s.ok()) << s.error().message;
  }
  const std::string master(32, '\x42');
  auto refused =
      OpenPostgresKeyStore({.url = database.url(), .master_key = master, .create_schema = false});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kNotFound);
  EXPECT_NE(refused.error().message.find("evs pg init"), std::string::npos)
      << refused.error().message;

  auto migrated = InitPostgresSchema(database.url());
  ASSERT_TRUE(migrated.ok()) << migrated.error().message;
  EXPECT_EQ(*migrated, 3);
  EXPECT_EQ(*InitPostgresSchema(database.url()), 3);  // again: nothing to do
  PostgresStoreOptions options;
  options.url = database.url();
  options.create_schema = false;
  auto store = OpenPostgresEventStore(options);
  ASSERT_TRUE(store.ok()) << store.error().message;
  auto page = (*store)->ReadStream("cart-1", {});
  ASSERT_TRUE(page.ok()) << page.error().message;
  ASSERT_EQ(page->events.size(), 1u);  // its max_count kept
  EXPECT_EQ(page->events[0].type, "Added");
  auto personal = PersonalData::Open(**store, [&](bool create_if_missing) {
    return OpenPostgresKeyStore({.url = database.url(),
                                 .master_key = master,
                                 .create_schema = false,
                                 .create_if_missing = create_if_missing});
  });
  ASSERT_TRUE(personal.ok()) << personal.error().message;
  auto sealed = (*personal)->Seal("c-1", "one@example.com");
  ASSERT_TRUE(sealed.ok()) << sealed.error().message;
  EXPECT_EQ(*(*personal)->Reveal(*sealed), "one@example.com");
  // And it scavenges: the migrated stream's hidden version becomes a marker.
  auto report = (*store)->Scavenge();
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_EQ(report->events_scavenged, 1);
  EXPECT_EQ((*store)->ReadLog(0, 10)->events[0].type, kScavengedEventType);
}

}  // namespace
}  // namespace evs
