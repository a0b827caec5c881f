// The relay index over time: migration from each earlier schema, and backup -> purge -> restore,
// after which an expired study stays unreadable because its key is gone.
#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>
#include <sqlite3.h>
#include <unistd.h>

#include <fstream>
#include <random>

#include "tsunagu/common/crypto.h"
#include "tsunagu/common/logging.h"
#include "tsunagu/common/sqlite_backup.h"
#include "tsunagu/retention/index_report.h"
#include "tsunagu/retention/study_store.h"

namespace tsunagu::retention {
namespace {

using std::chrono::hours;

std::string ReadAll(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void Exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  ASSERT_EQ(rc, SQLITE_OK) << sql << ": " << (err ? err : "");
  sqlite3_free(err);
}

int UserVersion(const std::filesystem::path& path) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, nullptr);
  const int v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
  sqlite3_finalize(s);
  sqlite3_close(db);
  return v;
}

class OpsIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tsunagu-index-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    clock_ = std::make_shared<common::FakeClock>();
    std::mt19937 rng(7);
    for (int i = 0; i < 3000; ++i) payload_.push_back(static_cast<char>(rng()));
    hash_ = common::HexEncode(common::Sha256(payload_));
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  common::Status Open() {
    store_.reset();
    StoreOptions o;
    o.data_directory = dir_ / "data";
    o.quota_bytes = 1ULL << 30;
    o.retention = hours(72);
    auto logger = common::MakeLogger("test", {std::make_shared<spdlog::sinks::null_sink_mt>()},
                                     spdlog::level::info);
    auto s = StudyStore::Open(o, {clock_, logger});
    if (!s.ok()) return s.status();
    store_ = std::move(*s);
    return common::Status::Ok();
  }
  void UploadAndCommit(const std::string& study, const std::string& sop) {
    InstanceValidator accept = [](std::string_view, std::string_view,
                                  std::string_view) -> common::Result<InstanceInfo> {
      return InstanceInfo{"1.2.3.4", "{\"x\":1}"};
    };
    auto p = store_->AppendChunk(study, sop, 0, payload_.size(), hash_, payload_, accept);
    ASSERT_TRUE(p.ok()) << p.status();
    auto c =
        store_->Commit(study, {{sop, hash_, payload_.size()}}, "t", std::nullopt, std::nullopt);
    ASSERT_TRUE(c.ok()) << c.status();
  }
  std::filesystem::path Index() const { return dir_ / "data" / "index.sqlite"; }
  std::filesystem::path Keys() const { return dir_ / "data" / "keys" / "keys.sqlite"; }

  std::filesystem::path dir_;
  std::shared_ptr<common::FakeClock> clock_;
  std::unique_ptr<StudyStore> store_;
  std::string payload_;
  std::string hash_;
};

TEST_F(OpsIndexTest, NewIndexIsAtTheLatestVersion) {
  ASSERT_TRUE(Open().ok());
  store_.reset();
  EXPECT_EQ(UserVersion(Index()), StudyIndexSchema().latest());
  EXPECT_EQ(UserVersion(Keys()), 2);
}

// Version 1 without a version number: the tables of today, made before versioning existed.
TEST_F(OpsIndexTest, UnversionedIndexKeepsItsStudies) {
  ASSERT_TRUE(Open().ok());
  UploadAndCommit("1.2", "1.2.1");
  store_.reset();
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(Index().c_str(), &db), SQLITE_OK);
    Exec(db, "PRAGMA user_version = 0");
    sqlite3_close(db);
  }
  ASSERT_TRUE(Open().ok());
  auto bytes = store_->ReadInstance("1.2", "1.2.1");
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(*bytes, payload_);
  store_.reset();
  EXPECT_EQ(UserVersion(Index()), StudyIndexSchema().latest());
}

// The first release (commit 7c04d3c) kept each key in studies.key, in the index, and had no key
// store: the upgrade moves the keys out, the studies stay readable and new studies can be added.
TEST_F(OpsIndexTest, FirstReleaseIndexMovesKeysOutOfTheIndex) {
  ASSERT_TRUE(Open().ok());
  UploadAndCommit("1.2", "1.2.1");
  const std::string key = *store_->StudyKeyForTest("1.2");
  store_.reset();
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(Index().c_str(), &db), SQLITE_OK);
    Exec(db, "ATTACH DATABASE '" + Keys().string() + "' AS keys");
    // That release's studies table, verbatim.
    Exec(db,
         "CREATE TABLE old_studies(uid TEXT PRIMARY KEY, dir TEXT NOT NULL, key BLOB "
         "NOT NULL, state TEXT NOT NULL, created_at INTEGER NOT NULL, committed_at INTEGER, "
         "expires_at INTEGER, thread TEXT);"
         "INSERT INTO old_studies SELECT s.uid, s.dir, k.key, s.state, s.created_at, "
         "s.committed_at, s.expires_at, s.thread FROM studies s JOIN keys.study_keys k ON "
         "k.uid = s.uid;"
         "DROP TABLE studies; ALTER TABLE old_studies RENAME TO studies;"
         "PRAGMA user_version = 0; DETACH DATABASE keys;");
    sqlite3_close(db);
  }
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::filesystem::remove(Keys().string() + suffix);
  }
  ASSERT_TRUE(Open().ok());
  auto bytes = store_->ReadInstance("1.2", "1.2.1");
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(*bytes, payload_);
  EXPECT_EQ(*store_->StudyKeyForTest("1.2"), key);
  UploadAndCommit("1.3", "1.3.1");  // refused by NOT NULL key before the migration
  store_.reset();
  EXPECT_EQ(UserVersion(Index()), 2);
  EXPECT_EQ(ReadAll(Index()).find(key), std::string::npos) << "key left in the index";
  EXPECT_FALSE(std::filesystem::exists(Index().string() + "-wal") &&
               ReadAll(Index().string() + "-wal").find(key) != std::string::npos)
      << "key left in the index's WAL";
}

TEST_F(OpsIndexTest, IndexFromANewerReleaseIsRefused) {
  ASSERT_TRUE(Open().ok());
  store_.reset();
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(Index().c_str(), &db), SQLITE_OK);
    Exec(db, "PRAGMA user_version = 40");
    sqlite3_close(db);
  }
  const common::Status st = Open();
  EXPECT_EQ(st.code(), common::ErrorCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("relay index has schema version 40"), std::string::npos)
      << st.message();
}

// Issue #11: backup -> purge -> restore; the restored index cannot bring back an expired study,
// even with the encrypted files put back from a file-level backup and the clock turned back.
TEST_F(OpsIndexTest, RestoredIndexCannotBringBackAnExpiredStudy) {
  ASSERT_TRUE(Open().ok());
  UploadAndCommit("1.2", "1.2.1");
  auto backup = common::BackupDatabase(Index(), dir_ / "index-backup.sqlite");
  ASSERT_TRUE(backup.ok()) << backup.status();
  std::filesystem::copy(dir_ / "data" / "studies", dir_ / "files-backup",
                        std::filesystem::copy_options::recursive);
  const std::string key = *store_->StudyKeyForTest("1.2");
  EXPECT_EQ(ReadAll(dir_ / "index-backup.sqlite").find(key), std::string::npos)
      << "a backup of the index must not carry study keys";
  clock_->Advance(hours(73));
  auto purged = store_->Purge();
  ASSERT_TRUE(purged.ok()) << purged.status();
  ASSERT_EQ(purged->size(), 1u);
  store_.reset();  // the relay is stopped for the restore

  auto restored =
      common::RestoreDatabase(dir_ / "index-backup.sqlite", Index(), StudyIndexSchema());
  ASSERT_TRUE(restored.ok()) << restored.status();
  std::filesystem::copy(
      dir_ / "files-backup", dir_ / "data" / "studies",
      std::filesystem::copy_options::recursive | std::filesystem::copy_options::overwrite_existing);
  clock_->SetSystemTime(clock_->SystemNow() - hours(48));  // before the expiry again
  ASSERT_TRUE(Open().ok());
  EXPECT_EQ(store_->StudyKeyForTest("1.2").status().code(), common::ErrorCode::kNotFound);
  auto read = store_->ReadInstance("1.2", "1.2.1");
  EXPECT_FALSE(read.ok());
  // With the right time the next sweep deletes it again and writes a fresh receipt.
  clock_->Advance(hours(48));
  auto again = store_->Purge();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->size(), 1u);
  EXPECT_TRUE(store_->GetReceipt("1.2").ok());
}

// A study committed before the backup and still live comes back whole after a restore (the key
// store was not touched): restore is for the index, not a way to lose current studies.
TEST_F(OpsIndexTest, RestoredIndexKeepsLiveStudiesReadable) {
  ASSERT_TRUE(Open().ok());
  UploadAndCommit("1.2", "1.2.1");
  ASSERT_TRUE(common::BackupDatabase(Index(), dir_ / "index-backup.sqlite").ok());
  store_.reset();
  auto restored =
      common::RestoreDatabase(dir_ / "index-backup.sqlite", Index(), StudyIndexSchema());
  ASSERT_TRUE(restored.ok()) << restored.status();
  ASSERT_TRUE(Open().ok());
  auto bytes = store_->ReadInstance("1.2", "1.2.1");
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(*bytes, payload_);
}

// The operator's view (tsunagu-relay studies): by expiry, sizes that add up to the quota's
// count, live links, last access, and receipts newest first.
TEST_F(OpsIndexTest, IndexReportListsStudiesByExpiryAndReceipts) {
  ASSERT_TRUE(Open().ok());
  UploadAndCommit("1.2", "1.2.1");
  clock_->Advance(hours(1));
  UploadAndCommit("1.3", "1.3.1");
  InstanceValidator accept = [](std::string_view, std::string_view,
                                std::string_view) -> common::Result<InstanceInfo> {
    return InstanceInfo{"1.2.3.4", "{}"};
  };
  ASSERT_TRUE(store_
                  ->AppendChunk("1.4", "1.4.1", 0, payload_.size(), hash_,
                                std::string_view(payload_).substr(0, 1000), accept)
                  .ok());
  ASSERT_TRUE(
      store_->RecordAccess({{"1.3", AccessEntry{clock_->SystemNow(), 0, "open", "", ""}}}).ok());
  auto report = ReadIndexReport(dir_ / "data", clock_->SystemNow());
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->studies.size(), 3u);
  EXPECT_EQ(report->studies[0].study_uid, "1.2");
  EXPECT_EQ(report->studies[1].study_uid, "1.3");
  EXPECT_EQ(report->studies[2].study_uid, "1.4");
  EXPECT_EQ(report->studies[2].state, "uploading");
  EXPECT_FALSE(report->studies[2].expires_at.has_value());
  EXPECT_EQ(report->studies[0].instances, 1u);
  EXPECT_EQ(report->studies[0].links, 1);
  EXPECT_GT(report->studies[0].stored_bytes, payload_.size());  // ciphertext + tags
  EXPECT_FALSE(report->studies[0].last_access.has_value());
  ASSERT_TRUE(report->studies[1].last_access.has_value());
  EXPECT_EQ(*report->studies[1].last_access, clock_->SystemNow());
  EXPECT_EQ(report->used_bytes, *store_->UsedBytes());
  EXPECT_TRUE(report->receipts.empty());
  clock_->Advance(hours(71) + std::chrono::minutes(30));  // 1.2 expires; 1.3 and 1.4 not yet
  ASSERT_EQ(store_->Purge()->size(), 1u);
  report = ReadIndexReport(dir_ / "data", clock_->SystemNow());
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->receipts.size(), 1u);
  EXPECT_EQ(report->receipts[0].study_uid, "1.2");
  EXPECT_EQ(report->receipts[0].reason, "expired");
  EXPECT_EQ(report->studies.front().study_uid, "1.3");
  EXPECT_EQ(ReadIndexReport(dir_ / "absent", clock_->SystemNow()).status().code(),
            common::ErrorCode::kNotFound);
}

}  // namespace
}  // namespace tsunagu::retention
