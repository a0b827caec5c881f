// The chat room store over upgrades: a database from the first release (no user_version) keeps
// its rooms; one from a newer release is refused.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>

#include "tsunagu/chat/card_follow_up.h"
#include "tsunagu/chat/patient_threads.h"
#include "tsunagu/common/clock.h"

namespace tsunagu::chat {
namespace {

class OpsRoomStoreMigrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tsunagu-rooms-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void Exec(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(Db().c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
    sqlite3_free(err);
    sqlite3_close(db);
  }
  std::filesystem::path Db() const { return dir_ / "chat-rooms.sqlite"; }
  std::filesystem::path dir_;
  common::FakeClock clock_;
};

TEST_F(OpsRoomStoreMigrationTest, FirstReleaseDatabaseKeepsItsRooms) {
  // The first release's table (commit ce4a52d), verbatim, with a room in it.
  Exec(
      "CREATE TABLE IF NOT EXISTS chat_patient_rooms( patient_key TEXT NOT NULL, thread TEXT "
      "NOT NULL, destination TEXT NOT NULL, created_unix INTEGER NOT NULL, PRIMARY "
      "KEY(patient_key, thread));"
      "INSERT INTO chat_patient_rooms VALUES('pk-1', 'cardio', 'room-42', 1700000000);");
  auto store = PatientThreadStore::Open(Db(), &clock_);
  ASSERT_TRUE(store.ok()) << store.status();
  auto found = (*store)->Find("pk-1", "cardio");
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ(**found, "room-42");
  // Put keeps the stored room (two creators agree), also after the upgrade.
  EXPECT_EQ(*(*store)->Put("pk-1", "cardio", "room-43"), "room-42");
}

TEST_F(OpsRoomStoreMigrationTest, DatabaseFromANewerReleaseIsRefused) {
  Exec(
      "CREATE TABLE chat_patient_rooms(patient_key TEXT, thread TEXT, destination TEXT, "
      "created_unix INTEGER, extra TEXT); PRAGMA user_version = 3;");
  auto store = PatientThreadStore::Open(Db(), &clock_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), common::ErrorCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("chat room store has schema version 3"),
            std::string::npos)
      << store.status().message();
}

// The chat post store had no user_version before it was backed up (issue 11): such a file takes
// the baseline as it is and keeps its cards.
TEST_F(OpsRoomStoreMigrationTest, UnversionedPostStoreKeepsItsCards) {
  const std::filesystem::path posts = dir_ / "chat-posts.sqlite";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(posts.c_str(), &db), SQLITE_OK);
  // The table as the release before versioning created it, verbatim, with one card.
  const char* sql =
      "CREATE TABLE IF NOT EXISTS chat_posted_cards("
      " job_id INTEGER PRIMARY KEY, thread TEXT NOT NULL, study_uid TEXT NOT NULL,"
      " destination TEXT NOT NULL, message_id TEXT NOT NULL,"
      " exactly_once INTEGER NOT NULL, modality TEXT NOT NULL,"
      " body_part TEXT NOT NULL, study_description TEXT NOT NULL,"
      " study_date TEXT NOT NULL, study_time TEXT NOT NULL,"
      " series_count INTEGER NOT NULL, image_count INTEGER NOT NULL,"
      " patient_id_suffix TEXT NOT NULL, sender_note TEXT NOT NULL,"
      " expires_at_ms INTEGER NOT NULL, access_code_required INTEGER NOT NULL,"
      " viewer_url TEXT NOT NULL, state TEXT NOT NULL,"
      " opened_at_ms INTEGER NOT NULL, done INTEGER NOT NULL);"
      "INSERT INTO chat_posted_cards VALUES(7, 'cardio', '2.25.9', 'room-1', 'msg-1', 1, 'CT', "
      "'CHEST', 'CT chest', '20261120', '031400', 1, 4, '4321', '', 0, 0, "
      "'https://relay.test/v/x', 'active', 0, 0);";
  char* err = nullptr;
  ASSERT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
  sqlite3_close(db);
  auto store = PostedCardStore::Open(posts);
  ASSERT_TRUE(store.ok()) << store.status();
  auto card = (*store)->Get(7);
  ASSERT_TRUE(card.ok()) << card.status();
  ASSERT_TRUE(card->has_value());
  EXPECT_EQ((*card)->study_uid, "2.25.9");
  EXPECT_EQ((*card)->posted.message_id, "msg-1");
  ASSERT_EQ(sqlite3_open(posts.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(stmt, 0), PostedCardStoreSchema().latest());
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

}  // namespace
}  // namespace tsunagu::chat
