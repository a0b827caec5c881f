// The chat room store over upgrades: a database from the first release (no user_version) keeps
// its rooms; one from a newer release is refused.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>

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

}  // namespace
}  // namespace tsunagu::chat
