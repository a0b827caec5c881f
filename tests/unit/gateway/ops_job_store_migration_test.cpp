// The job store over upgrades: a database from each earlier schema opens with its jobs in flight
// intact (nothing lost, nothing repeated); a database from a newer release is refused.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <set>

#include "test_util.h"
#include "tsunagu/common/clock.h"
#include "tsunagu/common/sqlite_backup.h"
#include "tsunagu/gateway/job_store.h"

namespace tsunagu::gateway {
namespace {

// The schema of the first release (commit 41d4bb1), before user_version was kept: verbatim.
constexpr char kFirstReleaseSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS jobs(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,
  stage TEXT NOT NULL,
  study_uid TEXT NOT NULL DEFAULT '',
  study_key TEXT NOT NULL,
  thread TEXT NOT NULL,
  note TEXT NOT NULL DEFAULT '',
  attempts INTEGER NOT NULL DEFAULT 0,
  lease_owner TEXT NOT NULL DEFAULT '',
  lease_until INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '',
  failed_stage TEXT NOT NULL DEFAULT '',
  expected_count INTEGER NOT NULL DEFAULT -1,
  move_rounds INTEGER NOT NULL DEFAULT 0,
  move_completed INTEGER NOT NULL DEFAULT 0,
  move_remaining INTEGER NOT NULL DEFAULT 0,
  deid_study_uid TEXT NOT NULL DEFAULT '',
  viewer_url TEXT NOT NULL DEFAULT '',
  expires_at TEXT NOT NULL DEFAULT '',
  patient_id_suffix TEXT NOT NULL DEFAULT '',
  modality TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  last_instance_at INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS jobs_due ON jobs(stage, next_attempt_at);
CREATE INDEX IF NOT EXISTS jobs_study ON jobs(study_key, stage);
CREATE TABLE IF NOT EXISTS instances(
  job_id INTEGER NOT NULL REFERENCES jobs(id),
  sop_key TEXT NOT NULL,
  sop_uid TEXT NOT NULL DEFAULT '',
  series_uid TEXT NOT NULL DEFAULT '',
  state TEXT NOT NULL,
  spool_path TEXT NOT NULL DEFAULT '',
  deid_sop_uid TEXT NOT NULL DEFAULT '',
  deid_path TEXT NOT NULL DEFAULT '',
  sha256 TEXT NOT NULL DEFAULT '',
  size INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(job_id, sop_key));
)sql";

void Exec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

class OpsJobStoreMigrationTest : public ::testing::Test {
 protected:
  std::string Db() const { return (dir_.path() / "gateway.db").string(); }
  // A send part-way through de-identification: one instance uploaded, one received, one expected.
  void WriteFirstReleaseDatabase() {
    Exec(Db(), std::string("PRAGMA journal_mode=WAL;") + kFirstReleaseSchema +
                   "INSERT INTO jobs(id, kind, stage, study_uid, study_key, thread, note, "
                   "attempts, lease_owner, lease_until, next_attempt_at, last_error, "
                   "expected_count, move_rounds, deid_study_uid, patient_id_suffix, modality, "
                   "created_at, updated_at, last_instance_at) VALUES(7, 'send', 'received', "
                   "'2.25.1', 'k-study', 'cardio', 'night', 2, 'w1', 1000, 2000, "
                   "'unavailable: relay down', 3, 1, '2.25.99', '1234', 'CT', 100, 200, 150);"
                   "INSERT INTO instances VALUES(7, 'k-a', '2.25.1.1', '2.25.1.0', 'uploaded', "
                   "'', '2.25.99.1', '/spool/a.deid', 'aa', 10);"
                   "INSERT INTO instances VALUES(7, 'k-b', '2.25.1.2', '2.25.1.0', 'received', "
                   "'/spool/b.dcm', '', '', '', 0);"
                   "INSERT INTO instances VALUES(7, 'k-c', '2.25.1.3', '2.25.1.0', 'expected', "
                   "'', '', '', '', 0);");
  }

  testing::TempDir dir_;
  common::FakeClock clock_;
};

TEST_F(OpsJobStoreMigrationTest, FirstReleaseDatabaseKeepsItsJobInFlight) {
  WriteFirstReleaseDatabase();
  auto store = JobStore::Open(Db(), &clock_);
  ASSERT_TRUE(store.ok()) << store.status();
  auto job = (*store)->GetJob(JobId(7));
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->stage, "received");
  EXPECT_EQ(job->study_key, "k-study");
  EXPECT_EQ(job->thread, "cardio");
  EXPECT_EQ(job->note, "night");
  EXPECT_EQ(job->attempts, 2);
  EXPECT_EQ(job->lease_owner, "w1");
  EXPECT_EQ(job->lease_until_ms, 1000);
  EXPECT_EQ(job->next_attempt_at_ms, 2000);
  EXPECT_EQ(job->last_error, "unavailable: relay down");
  EXPECT_EQ(job->expected_count, 3);
  EXPECT_EQ(job->deid_study_uid, "2.25.99");
  EXPECT_EQ(job->patient_id_suffix, "1234");
  EXPECT_EQ(job->created_at_ms, 100);
  auto instances = (*store)->ListInstances(JobId(7));
  ASSERT_TRUE(instances.ok()) << instances.status();
  ASSERT_EQ(instances->size(), 3u);
  EXPECT_EQ((*instances)[0].state, "uploaded");
  EXPECT_EQ((*instances)[0].deid_path, "/spool/a.deid");
  EXPECT_EQ((*instances)[1].spool_path, "/spool/b.dcm");
  EXPECT_EQ((*instances)[2].state, "expected");
  // Sending the same study to the same thread again finds the job: the upgrade repeats nothing.
  auto again = (*store)->CreateSend("2.25.1", "k-study", "cardio", "");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, JobId(7));
  auto next = (*store)->CreateSend("2.25.2", "k-other", "cardio", "");
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(*next, JobId(8));
  // Step 2 (site-secret rotation): the job has no recorded secret and is found by its study key.
  EXPECT_EQ(*(*store)->GetSecretGeneration(JobId(7)), "");
  auto origin = (*store)->FirstJobOfStudy({"k-none", "k-study"});
  ASSERT_TRUE(origin.ok()) << origin.status();
  ASSERT_TRUE(origin->has_value());
  EXPECT_EQ((*origin)->job, JobId(7));
  EXPECT_EQ((*origin)->study_key, "k-study");
}

TEST_F(OpsJobStoreMigrationTest, VersionOneDatabaseGainsTheSecretGenerationColumn) {
  WriteFirstReleaseDatabase();
  Exec(Db(), "PRAGMA user_version = 1");
  auto store = JobStore::Open(Db(), &clock_);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(*(*store)->GetSecretGeneration(JobId(7)), "");
  ASSERT_TRUE((*store)->SetSecretGeneration(JobId(7), "0123456789abcdef").ok());
  EXPECT_EQ(*(*store)->GetSecretGeneration(JobId(7)), "0123456789abcdef");
  EXPECT_EQ((*store)->SetSecretGeneration(JobId(99), "x").code(), common::ErrorCode::kNotFound);
  auto unfinished = (*store)->ListUnfinishedWithUids();
  ASSERT_TRUE(unfinished.ok()) << unfinished.status();
  ASSERT_EQ(unfinished->size(), 1u);
  EXPECT_EQ((*unfinished)[0].secret_generation, "0123456789abcdef");
  ASSERT_TRUE((*store)->RekeyJob(JobId(7), "k-new", {{"k-b", "k-b2"}}).ok());
  EXPECT_EQ((*store)->GetJob(JobId(7))->study_key, "k-new");
  auto instances = (*store)->ListInstances(JobId(7));
  ASSERT_EQ(instances->size(), 3u);
  std::set<std::string> keys;
  for (const auto& r : *instances) keys.insert(r.sop_key);
  EXPECT_EQ(keys, (std::set<std::string>{"k-a", "k-b2", "k-c"}));
}

TEST_F(OpsJobStoreMigrationTest, OpenRecordsTheLatestVersionAndReopensWithoutChange) {
  WriteFirstReleaseDatabase();
  ASSERT_TRUE(JobStore::Open(Db(), &clock_).ok());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(Db().c_str(), &db), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, nullptr);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(s, 0), JobStoreSchema().latest());
  sqlite3_finalize(s);
  sqlite3_close(db);
  auto reopened = JobStore::Open(Db(), &clock_);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ((*reopened)->GetJob(JobId(7))->stage, "received");
}

TEST_F(OpsJobStoreMigrationTest, FirstReleaseDatabaseGainsTheSpoolPathIndex) {
  WriteFirstReleaseDatabase();
  ASSERT_TRUE(JobStore::Open(Db(), &clock_).ok());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(Db().c_str(), &db), SQLITE_OK);
  // The per-C-STORE question "is this spool file referenced" is answered from the index, not
  // by scanning every instance row.
  sqlite3_stmt* s = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db,
                               "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM instances WHERE "
                               "spool_path = 'x'",
                               -1, &s, nullptr),
            SQLITE_OK);
  std::string plan;
  while (sqlite3_step(s) == SQLITE_ROW) {
    plan += reinterpret_cast<const char*>(sqlite3_column_text(s, 3));
    plan += "\n";
  }
  sqlite3_finalize(s);
  sqlite3_close(db);
  EXPECT_NE(plan.find("USING COVERING INDEX instances_spool"), std::string::npos) << plan;
}

TEST_F(OpsJobStoreMigrationTest, DatabaseFromANewerReleaseIsRefusedUntouched) {
  WriteFirstReleaseDatabase();
  Exec(Db(), "PRAGMA user_version = 12");
  auto store = JobStore::Open(Db(), &clock_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), common::ErrorCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("job store has schema version 12"), std::string::npos)
      << store.status().message();
}

TEST_F(OpsJobStoreMigrationTest, BackupTakenWhileOpenRestoresTheJobs) {
  WriteFirstReleaseDatabase();
  auto store = JobStore::Open(Db(), &clock_);
  ASSERT_TRUE(store.ok()) << store.status();
  const auto backup = dir_.path() / "jobs-backup.sqlite";
  auto info = common::BackupDatabase(Db(), backup);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->schema_version, JobStoreSchema().latest());
  ASSERT_TRUE((*store)->CreateSend("2.25.2", "k-other", "cardio", "").ok());
  // Restoring under the running store is refused.
  EXPECT_EQ(common::RestoreDatabase(backup, Db(), JobStoreSchema()).status().code(),
            common::ErrorCode::kFailedPrecondition);
  store->reset();
  auto restored = common::RestoreDatabase(backup, Db(), JobStoreSchema());
  ASSERT_TRUE(restored.ok()) << restored.status();
  auto reopened = JobStore::Open(Db(), &clock_);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ((*reopened)->GetJob(JobId(7))->stage, "received");
  EXPECT_EQ((*reopened)->GetJob(JobId(8)).status().code(), common::ErrorCode::kNotFound);
}

}  // namespace
}  // namespace tsunagu::gateway
