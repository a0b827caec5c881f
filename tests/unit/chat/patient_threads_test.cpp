#include "tsunagu/chat/patient_threads.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "fake_transport.h"
#include "tsunagu/chat/connectors.h"
#include "tsunagu/common/secret_file.h"

namespace tsunagu::chat {
namespace {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tsunagu-chat-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    path_ = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

TEST(PatientKey, IsKeyedAndNeverContainsTheId) {
  const std::string k = PatientKey("site-secret", "PID-98761234", "HOSP-A");
  EXPECT_EQ(k.size(), 64u);
  EXPECT_EQ(k.find("98761234"), std::string::npos);
  EXPECT_EQ(k, PatientKey("site-secret", "PID-98761234", "HOSP-A"));
  EXPECT_NE(k, PatientKey("other-secret", "PID-98761234", "HOSP-A"));
  EXPECT_NE(k, PatientKey("site-secret", "PID-98761234", "HOSP-B"));
  // The separator keeps issuer and ID apart.
  EXPECT_NE(PatientKey("s", "345", "12"), PatientKey("s", "45", "123"));
}

TEST(PatientRoomName, UsesLabelAndLastFourOnly) {
  EXPECT_EQ(PatientRoomName("Cardio", "1234"),
            "Cardio \xE2\x80\xA6"
            "1234");
  EXPECT_EQ(PatientRoomName("Cardio", "PID-98761234"),
            "Cardio \xE2\x80\xA6"
            "1234");
  EXPECT_EQ(PatientRoomName("", "１２３４５"),
            "\xE2\x80\xA6"
            "２３４５");
  EXPECT_EQ(PatientRoomName("a\nb", "12"),
            "a b \xE2\x80\xA6"
            "12");
}

TEST(PatientThreadStore, RoundTripsAcrossReopen) {
  TempDir dir;
  common::FakeClock clock;
  const auto db = dir.path() / "chat.sqlite";
  const std::string key = PatientKey("s", "PID-1", "H");
  {
    auto store = PatientThreadStore::Open(db, &clock);
    ASSERT_TRUE(store.ok()) << store.status();
    auto none = (*store)->Find(key, "cardio");
    ASSERT_TRUE(none.ok());
    EXPECT_FALSE(none->has_value());
    auto put = (*store)->Put(key, "cardio", "!room1:hs");
    ASSERT_TRUE(put.ok()) << put.status();
    EXPECT_EQ(*put, "!room1:hs");
    // A second creator loses the race and gets the first room.
    auto again = (*store)->Put(key, "cardio", "!room2:hs");
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, "!room1:hs");
    ASSERT_TRUE((*store)->Put(key, "neuro", "!room3:hs").ok());
  }
  auto store = PatientThreadStore::Open(db, &clock);
  ASSERT_TRUE(store.ok());
  auto found = (*store)->Find(key, "cardio");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->value_or(""), "!room1:hs");
  EXPECT_EQ((*store)->Find(key, "neuro")->value_or(""), "!room3:hs");
  EXPECT_FALSE((*store)->Find(PatientKey("s", "PID-2", "H"), "cardio")->has_value());
}

TEST(PatientThreadStore, UnwritableLocationIsAnError) {
  common::FakeClock clock;
  auto store = PatientThreadStore::Open("/nonexistent-dir/x/chat.sqlite", &clock);
  EXPECT_FALSE(store.ok());
}

TEST(ResolvePatientDestination, CreatesOneMatrixRoomPerPatientAndReusesIt) {
  TempDir dir;
  common::FakeClock clock;
  const auto token = dir.path() / "token";
  { std::ofstream(token) << "syt_secret"; }
  std::filesystem::permissions(token, std::filesystem::perms::owner_read);
  auto fake = std::make_shared<testing::FakeTransport>();
  config::ChatConnectorOptions o;
  o.name = "m";
  o.type = config::ChatConnectorType::kMatrix;
  o.homeserver = "https://hs.example";
  o.access_token_file = token;
  auto conn = MakeConnector(o, {.clock = &clock, .transport = fake});
  ASSERT_TRUE(conn.ok()) << conn.status();
  auto store = PatientThreadStore::Open(":memory:", &clock);
  ASSERT_TRUE(store.ok());
  const PatientRoute route{PatientKey("s", "PID-98761234", "H"), "1234"};
  const PatientRoomPolicy policy{"Cardio", {"@dr.sato:hs.example"}, ""};

  fake->Answer(200, R"({"room_id":"!new:hs.example"})");
  auto first = ResolvePatientDestination(**store, **conn, "cardio", route, policy);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, "!new:hs.example");
  ASSERT_EQ(fake->requests.size(), 1u);
  EXPECT_EQ(fake->requests[0].url, "https://hs.example/_matrix/client/v3/createRoom");
  EXPECT_NE(fake->requests[0].body.find("Cardio \xE2\x80\xA6"
                                        "1234"),
            std::string::npos);
  EXPECT_NE(fake->requests[0].body.find("@dr.sato:hs.example"), std::string::npos);
  EXPECT_EQ(fake->requests[0].body.find("98761234"), std::string::npos);

  auto second = ResolvePatientDestination(**store, **conn, "cardio", route, policy);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*second, "!new:hs.example");
  EXPECT_EQ(fake->requests.size(), 1u) << "no second room";
}

// Site-secret rotation: the patient's room stored under the retired secret's key is found through
// the previous key, moved to the current key, and no room is created.
TEST(ResolvePatientDestination, FindsTheRoomUnderAPreviousSecretAndMovesItToTheCurrentKey) {
  TempDir dir;
  common::FakeClock clock;
  const auto token = dir.path() / "token";
  { std::ofstream(token) << "syt_secret"; }
  std::filesystem::permissions(token, std::filesystem::perms::owner_read);
  auto fake = std::make_shared<testing::FakeTransport>();
  config::ChatConnectorOptions o;
  o.name = "m";
  o.type = config::ChatConnectorType::kMatrix;
  o.homeserver = "https://hs.example";
  o.access_token_file = token;
  auto conn = MakeConnector(o, {.clock = &clock, .transport = fake});
  ASSERT_TRUE(conn.ok()) << conn.status();
  auto store = PatientThreadStore::Open(":memory:", &clock);
  ASSERT_TRUE(store.ok());
  const std::string old_key = PatientKey("old-secret", "PID-98761234", "H");
  const std::string new_key = PatientKey("new-secret", "PID-98761234", "H");
  ASSERT_TRUE((*store)->Put(old_key, "cardio", "!room:hs.example").ok());
  ASSERT_TRUE((*store)->Put(old_key, "ward", "!ward:hs.example").ok());
  const PatientRoute route{new_key, "1234", {"unrelated-key", old_key}};
  const PatientRoomPolicy policy{"Cardio", {}, ""};

  auto found = ResolvePatientDestination(**store, **conn, "cardio", route, policy);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(*found, "!room:hs.example");
  EXPECT_TRUE(fake->requests.empty()) << "no room created";
  EXPECT_EQ(**(*store)->Find(new_key, "cardio"), "!room:hs.example");
  EXPECT_FALSE((*store)->Find(old_key, "cardio")->has_value()) << "moved, not copied";
  EXPECT_EQ(**(*store)->Find(old_key, "ward"), "!ward:hs.example") << "other threads untouched";
  // Without the previous key (the old secret dropped) the current key alone finds it now.
  auto again =
      ResolvePatientDestination(**store, **conn, "cardio", PatientRoute{new_key, "1234"}, policy);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, "!room:hs.example");
  EXPECT_TRUE(fake->requests.empty());
}

TEST(PatientThreadStore, RekeyKeepsAnExistingMappingUnderTheNewKey) {
  common::FakeClock clock;
  auto store = PatientThreadStore::Open(":memory:", &clock);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->Put("old", "t", "!a").ok());
  ASSERT_TRUE((*store)->Put("new", "t", "!b").ok());
  ASSERT_TRUE((*store)->Rekey("old", "new", "t").ok());
  EXPECT_EQ(**(*store)->Find("new", "t"), "!b");
  ASSERT_TRUE((*store)->Rekey("missing", "other", "t").ok());
  EXPECT_FALSE((*store)->Find("other", "t")->has_value());
}

}  // namespace
}  // namespace tsunagu::chat
