// Personal data (evs/personal_data.h): sealed fields, the embedded key store, forgetting, the
// binding of a store to its key store, and the cart end to end: after a forget, no byte of an
// email is left in any file of the data folder or any archive object, while the store and the
// archive still verify, replay and restore.
#include "evs/personal_data.h"

#include <gtest/gtest.h>
#include <zstd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "cart/cart.h"
#include "cart/cart_summary_projection.h"
#include "evs/archive.h"
#include "evs/object_store.h"
#include "evs/projection.h"
#include "evs/repository.h"
#include "evs/snapshot.h"
#include "evs/verify.h"
#include "temp_dir.h"

namespace evs {
namespace {

using testing::TempDir;

std::unique_ptr<EventStore> OpenStore(const std::string& path) {
  SqliteStoreOptions options;
  options.path = path;
  auto store = OpenSqliteEventStore(options);
  EXPECT_TRUE(store.ok()) << store.error().message;
  return store.ok() ? std::move(store).value() : nullptr;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The text of a zstd object (as the archive writes them), or "" when it is not one.
std::string Decompress(const std::string& object) {
  const auto size = ZSTD_getFrameContentSize(object.data(), object.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN) return "";
  std::string text(size, '\0');
  const size_t n = ZSTD_decompress(text.data(), text.size(), object.data(), object.size());
  if (ZSTD_isError(n)) return "";
  text.resize(n);
  return text;
}

// Every file below `dir` (decompressed too, when it is a zstd object) that holds `needle`.
std::vector<std::string> FilesHolding(const std::string& dir, const std::string& needle) {
  std::vector<std::string> found;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    const std::string bytes = ReadFile(entry.path());
    if (bytes.find(needle) != std::string::npos ||
        Decompress(bytes).find(needle) != std::string::npos) {
      found.push_back(entry.path().string());
    }
  }
  return found;
}

class PersonalDataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = OpenStore(StorePath());
    ASSERT_NE(store_, nullptr);
    personal_ = OpenPersonal(*store_);
    ASSERT_NE(personal_, nullptr);
  }

  std::string StorePath() const { return dir_.File("events.sqlite"); }
  std::string KeyPath() const { return KeyStorePathFor(StorePath()); }

  std::unique_ptr<PersonalData> OpenPersonal(EventStore& store) {
    auto personal = OpenSqlitePersonalData(store, KeyPath());
    EXPECT_TRUE(personal.ok()) << personal.error().message;
    return personal.ok() ? std::move(personal).value() : nullptr;
  }

  SealedField Seal(const std::string& subject, const std::string& text) {
    auto sealed = personal_->Seal(subject, text);
    EXPECT_TRUE(sealed.ok()) << sealed.error().message;
    return sealed.ok() ? *sealed : SealedField{};
  }

  TempDir dir_;
  std::unique_ptr<EventStore> store_;
  std::unique_ptr<PersonalData> personal_;
};

TEST_F(PersonalDataTest, SealsWithAFreshNonceAndRevealsTheText) {
  const SealedField a = Seal("c-1", "ann@example.com");
  const SealedField b = Seal("c-1", "ann@example.com");
  EXPECT_EQ(a.subject, "c-1");
  EXPECT_EQ(a.nonce.size(), 12u);
  EXPECT_EQ(a.ciphertext.size(), std::string("ann@example.com").size() + 16);
  EXPECT_NE(a.nonce, b.nonce);
  EXPECT_NE(a.ciphertext, b.ciphertext);
  EXPECT_EQ(a.ciphertext.find("ann@"), std::string::npos);

  const nlohmann::json j = a;
  EXPECT_EQ(j.at("$enc"), "v1");
  EXPECT_EQ(j.at("subject"), "c-1");
  EXPECT_TRUE(j.at("nonce").is_string());
  EXPECT_TRUE(j.at("ct").is_string());
  EXPECT_EQ(j.size(), 4u);
  EXPECT_EQ(j.get<SealedField>(), a);

  auto shown = personal_->Reveal(a);
  ASSERT_TRUE(shown.ok()) << shown.error().message;
  EXPECT_EQ(*shown, "ann@example.com");
  auto empty = personal_->Seal("c-1", "");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*personal_->Reveal(*empty), "");
}

TEST_F(PersonalDataTest, ForgettingRedactsEveryCopyAndIsFinal) {
  const SealedField field = Seal("c-1", "ann@example.com");
  const SealedField other = Seal("c-2", "bob@example.com");
  const std::string copy = nlohmann::json(field).dump();

  auto forgotten = personal_->Forget("c-1");
  ASSERT_TRUE(forgotten.ok()) << forgotten.error().message;
  EXPECT_TRUE(*forgotten);
  EXPECT_EQ(*personal_->Reveal(field), kRedacted);
  EXPECT_EQ(*personal_->Reveal(nlohmann::json::parse(copy).get<SealedField>()), kRedacted);
  EXPECT_EQ(*personal_->Reveal(other), "bob@example.com");

  // Again: done already, not an error. Sealing under the id again is refused.
  auto again = personal_->Forget("c-1");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
  auto reseal = personal_->Seal("c-1", "ann@example.com");
  ASSERT_FALSE(reseal.ok());
  EXPECT_EQ(reseal.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(reseal.error().message.find("forgotten"), std::string::npos);

  // A second process sees it: keys are not cached.
  auto reopened = OpenPersonal(*store_);
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(*reopened->Reveal(field), kRedacted);
}

TEST_F(PersonalDataTest, ForgettingAnUnknownSubjectIsNotFound) {
  // No key store yet: nothing was ever sealed.
  auto none = personal_->Forget("c-9");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, ErrorCode::kNotFound);
  EXPECT_NE(none.error().message.find("c-9"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(KeyPath()));

  Seal("c-1", "ann@example.com");
  auto unknown = personal_->Forget("c-9");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
}

TEST_F(PersonalDataTest, BadSubjectsAndTextsAreRefused) {
  const std::string too_long(kMaxSubjectBytes + 1, 'x');
  for (const std::string& subject :
       {std::string(), too_long, std::string("a\x01"), std::string("\xff\xfe")}) {
    auto sealed = personal_->Seal(subject, "x@y.z");
    ASSERT_FALSE(sealed.ok());
    EXPECT_TRUE(sealed.error().code == ErrorCode::kInvalidArgument ||
                sealed.error().code == ErrorCode::kLimitExceeded)
        << sealed.error().message;
    auto forgotten = personal_->Forget(subject);
    ASSERT_FALSE(forgotten.ok());
    EXPECT_NE(forgotten.error().code, ErrorCode::kNotFound);
  }
  EXPECT_TRUE(personal_->Seal(std::string(kMaxSubjectBytes, 'x'), "x@y.z").ok());
  auto big = personal_->Seal("c-1", std::string(kMaxSealedTextBytes + 1, 'a'));
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code, ErrorCode::kLimitExceeded);
}

// An altered field is kCorruption, never a wrong text nor a redaction.
TEST_F(PersonalDataTest, AlteredFieldsAreCorruption) {
  const SealedField field = Seal("c-1", "ann@example.com");
  Seal("c-2", "bob@example.com");
  SealedField flipped = field;
  flipped.ciphertext[3] ^= 0x01;
  SealedField moved = field;
  moved.subject = "c-2";  // another subject's key: the subject is authenticated too
  SealedField renonced = field;
  renonced.nonce[0] ^= 0x01;
  SealedField cut = field;
  cut.ciphertext.pop_back();
  for (const SealedField& bad : {flipped, moved, renonced, cut}) {
    auto shown = personal_->Reveal(bad);
    ASSERT_FALSE(shown.ok());
    EXPECT_EQ(shown.error().code, ErrorCode::kCorruption) << shown.error().message;
  }
  // A subject the key store never had: not this store's key store.
  SealedField stranger = field;
  stranger.subject = "c-3";
  auto shown = personal_->Reveal(stranger);
  ASSERT_FALSE(shown.ok());
  EXPECT_EQ(shown.error().code, ErrorCode::kCorruption);
}

// Whatever a store hands back, parsing never throws past ParseSealedField and never accepts a
// field that is not one; from_json throws only nlohmann's exceptions (kCorruption in Decode).
TEST(SealedFieldJson, GarbageIsRefusedWithoutCrashing) {
  const char* cases[] = {
      "null",
      "42",
      "\"text\"",
      "[]",
      "{}",
      R"({"$enc": "v2", "subject": "s", "nonce": "AAAAAAAAAAAAAAAA", "ct": "AAAAAAAAAAAAAAAAAAAAAA=="})",
      R"({"$enc": 1, "subject": "s", "nonce": "AAAAAAAAAAAAAAAA", "ct": "AAAAAAAAAAAAAAAAAAAAAA=="})",
      R"({"$enc": "v1", "subject": "", "nonce": "AAAAAAAAAAAAAAAA", "ct": "AAAAAAAAAAAAAAAAAAAAAA=="})",
      R"({"$enc": "v1", "subject": "s", "nonce": "AAAA", "ct": "AAAAAAAAAAAAAAAAAAAAAA=="})",
      R"({"$enc": "v1", "subject": "s", "nonce": "AAAAAAAAAAAAAAAA", "ct": "AAAA"})",
      R"({"$enc": "v1", "subject": "s", "nonce": "!!!!!!!!!!!!!!!!", "ct": "AAAAAAAAAAAAAAAAAAAAAA=="})",
      R"({"$enc": "v1", "subject": "s", "nonce": "AAAAAAAAAAAAAAAA", "ct": "AAAAAAAAAAAAAAAAAAAAAA="})",
      R"({"$enc": "v1", "subject": 7, "nonce": "AAAAAAAAAAAAAAAA", "ct": "AAAAAAAAAAAAAAAAAAAAAA=="})",
      R"({"$enc": "v1", "subject": "s", "nonce": "AAAAAAAAAAAAAAAA", "ct": "AAAAAAAAAAAAAAAAAAAAAA==", "x": 1})",
      R"({"$enc": "v1", "subject": "s", "nonce": null, "ct": "AAAAAAAAAAAAAAAAAAAAAA=="})",
  };
  for (const char* text : cases) {
    const nlohmann::json j = nlohmann::json::parse(text);
    auto parsed = ParseSealedField(j);
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_EQ(parsed.error().code, ErrorCode::kCorruption);
    EXPECT_THROW((void)j.get<SealedField>(), nlohmann::json::exception) << text;
  }
  const nlohmann::json good = nlohmann::json::parse(
      R"({"$enc": "v1", "subject": "s", "nonce": "AAAAAAAAAAAAAAAA", "ct": "AAAAAAAAAAAAAAAAAAAAAA=="})");
  EXPECT_TRUE(ParseSealedField(good).ok());
  // Random mutations of a good field: never a crash, never an exception out of ParseSealedField.
  std::mt19937 random(15);
  const std::string base = good.dump();
  for (int i = 0; i < 20000; ++i) {
    std::string text = base;
    for (int n = 0; n < 3; ++n) {
      text[random() % text.size()] = static_cast<char>(random() % 256);
    }
    const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_discarded()) (void)ParseSealedField(j);
  }
}

TEST_F(PersonalDataTest, AStoreWithoutPersonalDataMakesNoKeyStore) {
  EXPECT_FALSE(std::filesystem::exists(KeyPath()));
  auto page = store_->ReadStream(kKeyStoreStream, {});
  EXPECT_FALSE(page.ok());
  Seal("c-1", "ann@example.com");
  EXPECT_TRUE(std::filesystem::exists(KeyPath()));
  // The store now records which key store its sealed fields need.
  auto bound = store_->ReadStream(kKeyStoreStream, {});
  ASSERT_TRUE(bound.ok());
  ASSERT_EQ(bound->events.size(), 1u);
  EXPECT_EQ(bound->events[0].type, "KeyStoreBound");
  // The key store is for its owner only.
  const auto perms = std::filesystem::status(KeyPath()).permissions();
  EXPECT_EQ(perms & (std::filesystem::perms::group_all | std::filesystem::perms::others_all),
            std::filesystem::perms::none);
}

TEST_F(PersonalDataTest, AMissingKeyStoreIsAnErrorAtOpenAndNoneIsMadeInItsPlace) {
  Seal("c-1", "ann@example.com");
  personal_.reset();
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(KeyPath() + suffix);

  auto opened = OpenSqlitePersonalData(*store_, KeyPath());
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code, ErrorCode::kCorruption);
  EXPECT_NE(opened.error().message.find("key store"), std::string::npos) << opened.error().message;
  EXPECT_NE(opened.error().message.find(KeyPath()), std::string::npos) << opened.error().message;
  EXPECT_FALSE(std::filesystem::exists(KeyPath()));

  // Another store's key store (here, a new one in its place) is refused just the same.
  auto other = OpenSqliteKeyStore({.path = KeyPath(), .create_if_missing = true});
  ASSERT_TRUE(other.ok());
  other->reset();
  auto wrong = OpenSqlitePersonalData(*store_, KeyPath());
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code, ErrorCode::kCorruption);
  EXPECT_NE(wrong.error().message.find("key store"), std::string::npos);
}

TEST_F(PersonalDataTest, AForgottenKeyLeavesNoCopyInTheKeyStoreFiles) {
  Seal("c-1", "ann@example.com");
  Seal("c-2", "bob@example.com");
  auto keys = OpenSqliteKeyStore({.path = KeyPath(), .create_if_missing = false});
  ASSERT_TRUE(keys.ok());
  auto key = (*keys)->Find("c-1");
  ASSERT_TRUE(key.ok());
  ASSERT_EQ(key->state, SubjectKey::State::kActive);
  ASSERT_FALSE(FilesHolding(dir_.path(), key->key).empty());  // the scan finds keys

  // Forgotten through one connection while another (the open PersonalData) stays open.
  auto forgotten = (*keys)->Forget("c-1");
  ASSERT_TRUE(forgotten.ok()) << forgotten.error().message;
  EXPECT_EQ(FilesHolding(dir_.path(), key->key), std::vector<std::string>());
  EXPECT_EQ((*keys)->Find("c-1")->state, SubjectKey::State::kForgotten);
  EXPECT_EQ((*keys)->Find("c-2")->state, SubjectKey::State::kActive);
}

// The cart end to end.
class CartPersonalDataTest : public ::testing::Test {
 protected:
  static constexpr const char* kAnn = "ann.archived-before@example.com";
  static constexpr const char* kBob = "bob.archived-after@example.com";

  void SetUp() override {
    std::filesystem::create_directories(dir_.File("data"));
    store_ = OpenStore(StorePath());
    ASSERT_NE(store_, nullptr);
    auto personal = OpenSqlitePersonalData(*store_, KeyStorePathFor(StorePath()));
    ASSERT_TRUE(personal.ok()) << personal.error().message;
    personal_ = std::move(personal).value();
    auto snapshots = OpenSqliteSnapshotStore(SnapshotPathFor(StorePath()));
    ASSERT_TRUE(snapshots.ok()) << snapshots.error().message;
    RepositoryOptions options;
    options.upcaster = cart::CartUpcaster();
    options.snapshots = std::move(snapshots).value();
    options.snapshot_every = 1;
    carts_ = std::make_unique<Repository<cart::Cart>>(*store_, options);
    DirectoryObjectStoreOptions folder;
    folder.path = dir_.File("archive");
    auto objects = OpenDirectoryObjectStore(folder);
    ASSERT_TRUE(objects.ok()) << objects.error().message;
    archive_ = std::move(objects).value();
  }

  std::string StorePath() const { return dir_.File("data/events.sqlite"); }

  std::string OpenCart(const std::string& customer_id, const std::string& email) {
    auto customer = cart::MakeCustomer(personal_.get(), customer_id, email);
    EXPECT_TRUE(customer.ok()) << customer.error().message;
    const std::string id = Uuid::Random().ToString();
    auto opened = carts_->Create(id, [&](cart::Cart& c) { return c.Open(*customer); });
    EXPECT_TRUE(opened.ok()) << opened.error().message;
    auto added = carts_->Execute(id, [](cart::Cart& c) { return c.AddItem("apple", 2, 50); });
    EXPECT_TRUE(added.ok()) << added.error().message;
    return id;
  }

  std::string EmailOf(const std::string& cart_id, PersonalData& personal) {
    auto cart = carts_->Fetch(cart_id);
    EXPECT_TRUE(cart.ok()) << cart.error().message;
    if (!cart.ok()) return "";
    auto json = cart->ToJson(&personal);
    EXPECT_TRUE(json.ok()) << json.error().message;
    return json.ok() ? json->value("email", "") : "";
  }

  void Archive() {
    auto archived = ArchiveOnce(*store_, *archive_, {});
    ASSERT_TRUE(archived.ok()) << archived.error().message;
  }

  // Runs the cart-summary read model over the whole log, as evs serve does.
  void Project() {
    cart::CartSummaryProjection projection;
    ProjectionOptions options;
    options.path = dir_.File("data/cart_summary.sqlite");
    options.upcaster = cart::CartUpcaster();
    auto runner = ProjectionRunner::Open(*store_, projection, options);
    ASSERT_TRUE(runner.ok()) << runner.error().message;
    ASSERT_TRUE((*runner)->Start().ok());
    ASSERT_TRUE((*runner)->WaitUntil(*store_->HeadPosition(), std::chrono::seconds(10)));
    (*runner)->Stop();
  }

  void ExpectNowhere(const std::string& email) {
    EXPECT_EQ(FilesHolding(dir_.path(), email), std::vector<std::string>()) << email;
  }

  TempDir dir_;
  std::unique_ptr<EventStore> store_;
  std::unique_ptr<PersonalData> personal_;
  std::unique_ptr<Repository<cart::Cart>> carts_;
  std::unique_ptr<ObjectStore> archive_;
};

TEST_F(CartPersonalDataTest, AfterAForgetNoByteOfTheEmailIsLeftAndEverythingStillChecks) {
  const std::string ann_cart = OpenCart("c-ann", kAnn);
  const std::string anonymous = OpenCart("", "");
  Archive();
  const std::string bob_cart = OpenCart("c-bob", kBob);
  Project();
  EXPECT_EQ(EmailOf(ann_cart, *personal_), kAnn);
  EXPECT_EQ(EmailOf(bob_cart, *personal_), kBob);
  // The text was never written: not even before the forget.
  ExpectNowhere(kAnn);
  ExpectNowhere(kBob);

  ASSERT_TRUE(personal_->Forget("c-ann").ok());
  Archive();  // Bob's cart, written after the first run, reaches the archive after the forget
  ASSERT_TRUE(personal_->Forget("c-bob").ok());
  Project();

  EXPECT_EQ(EmailOf(ann_cart, *personal_), kRedacted);
  EXPECT_EQ(EmailOf(bob_cart, *personal_), kRedacted);
  EXPECT_EQ(EmailOf(anonymous, *personal_), "");
  ExpectNowhere(kAnn);
  ExpectNowhere(kBob);
  // Nor their keys' subjects' texts in pieces: the local part alone.
  ExpectNowhere("ann.archived-before");
  ExpectNowhere("bob.archived-after");

  // The store and the archive still verify; the archive replays and restores.
  auto report = Verify(store_.get(), archive_.get());
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_TRUE(report->ok()) << (report->problems.empty() ? "" : report->problems.front());
  auto reader = ArchiveReader::Open(*archive_);
  ASSERT_TRUE(reader.ok()) << reader.error().message;
  const std::string restored_path = dir_.File("restored/events.sqlite");
  std::filesystem::create_directories(dir_.File("restored"));
  auto restored = RestoreSqliteEventStore(**reader, {}, restored_path);
  ASSERT_TRUE(restored.ok()) << restored.error().message;
  auto copy = OpenStore(restored_path);
  ASSERT_NE(copy, nullptr);
  // The restored store needs the same key store; without it, a clear error.
  auto without = OpenSqlitePersonalData(*copy, KeyStorePathFor(restored_path));
  ASSERT_FALSE(without.ok());
  EXPECT_EQ(without.error().code, ErrorCode::kCorruption);
  auto with = OpenSqlitePersonalData(*copy, KeyStorePathFor(StorePath()));
  ASSERT_TRUE(with.ok()) << with.error().message;
  Repository<cart::Cart> restored_carts(*copy, {.upcaster = cart::CartUpcaster()});
  auto cart = restored_carts.Fetch(ann_cart);
  ASSERT_TRUE(cart.ok()) << cart.error().message;
  auto json = cart->ToJson(with->get());
  ASSERT_TRUE(json.ok()) << json.error().message;
  EXPECT_EQ(json->value("email", ""), kRedacted);
  EXPECT_EQ(json->value("customer_id", ""), "c-ann");
  EXPECT_EQ(json->value("total_cents", 0), 100);
}

TEST_F(CartPersonalDataTest, OldCartOpenedEventsStillDecode) {
  EventData old;
  old.type = "CartOpened";
  old.data = "{}";
  ASSERT_TRUE(store_->Append("cart-old", ExpectedVersion::NoStream(), {old}).ok());
  auto cart = carts_->Fetch("old");
  ASSERT_TRUE(cart.ok()) << cart.error().message;
  EXPECT_EQ(cart->status(), cart::Status::kOpen);
  EXPECT_TRUE(cart->customer().id.empty());
  auto json = cart->ToJson(nullptr);
  ASSERT_TRUE(json.ok());
  EXPECT_FALSE(json->contains("email"));
  EXPECT_FALSE(json->contains("customer_id"));
}

TEST_F(CartPersonalDataTest, BadCustomersAreRefused) {
  EXPECT_EQ(cart::MakeCustomer(personal_.get(), "", "a@b.c").error().code,
            ErrorCode::kInvalidArgument);  // an email needs a customer
  EXPECT_EQ(cart::MakeCustomer(personal_.get(), "c-1", "not-an-email").error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(cart::MakeCustomer(personal_.get(), "c-1", "a b@c.d").error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(cart::MakeCustomer(personal_.get(), std::string(300, 'c'), "").error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(cart::MakeCustomer(nullptr, "c-1", "a@b.c").error().code, ErrorCode::kUnsupported);
  auto plain = cart::MakeCustomer(nullptr, "c-1", "");
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->email);
  // An email sealed for someone else is refused by the command.
  auto other = cart::MakeCustomer(personal_.get(), "c-2", "b@c.d");
  ASSERT_TRUE(other.ok());
  cart::Cart c("x");
  other->id = "c-1";
  EXPECT_EQ(c.Open(*other).error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace evs
