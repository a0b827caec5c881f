// Schema versions (MigrateSchema) and online backup / restore / quick_check of SQLite files.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "tsunagu/common/doctor_checks.h"
#include "tsunagu/common/sqlite_backup.h"
#include "tsunagu/common/sqlite_schema.h"

namespace tsunagu::common {
namespace {

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;

DbPtr Open(const std::filesystem::path& path) {
  sqlite3* raw = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
  sqlite3_busy_timeout(raw, 2000);
  return DbPtr(raw);
}

void Exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  ASSERT_EQ(rc, SQLITE_OK) << sql << ": " << (err ? err : "");
  sqlite3_free(err);
}

std::string Scalar(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* s = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr), SQLITE_OK) << sql;
  std::string out = "<none>";
  if (sqlite3_step(s) == SQLITE_ROW) {
    const auto* t = sqlite3_column_text(s, 0);
    out = t ? reinterpret_cast<const char*>(t) : "<null>";
  }
  sqlite3_finalize(s);
  return out;
}

Schema TwoSteps() {
  Schema s;
  s.store = "test store";
  s.marker_table = "notes";
  s.steps = {
      {1, "baseline", "CREATE TABLE IF NOT EXISTS notes(id INTEGER PRIMARY KEY, body TEXT);", {}},
      {2, "notes.pinned", "ALTER TABLE notes ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;", {}},
  };
  return s;
}

class SqliteOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tsunagu-sqlite-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(SqliteOpsTest, FreshDatabaseTakesEveryStep) {
  DbPtr db = Open(dir_ / "a.db");
  auto before = MigrateSchema(db.get(), TwoSteps());
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(*before, 0);
  EXPECT_EQ(*ReadSchemaVersion(db.get()), 2);
  EXPECT_TRUE(*HasColumn(db.get(), "main", "notes", "pinned"));
}

TEST_F(SqliteOpsTest, UnversionedDatabaseKeepsItsRowsThroughBaselineAndLaterSteps) {
  DbPtr db = Open(dir_ / "a.db");
  Exec(db.get(),
       "CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT);"
       "INSERT INTO notes(body) VALUES('first'), ('second');");
  auto before = MigrateSchema(db.get(), TwoSteps());
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(*before, 0);
  EXPECT_EQ(Scalar(db.get(), "SELECT group_concat(body || ':' || pinned, ',') FROM notes"),
            "first:0,second:0");
}

TEST_F(SqliteOpsTest, EachStepIsAppliedOnceAcrossOpens) {
  int applied = 0;
  Schema s = TwoSteps();
  s.steps[1].apply = [&applied](sqlite3*) {
    ++applied;
    return Status::Ok();
  };
  {
    DbPtr db = Open(dir_ / "a.db");
    ASSERT_TRUE(MigrateSchema(db.get(), s).ok());
  }
  DbPtr db = Open(dir_ / "a.db");
  auto before = MigrateSchema(db.get(), s);
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(*before, 2);
  EXPECT_EQ(applied, 1);
}

TEST_F(SqliteOpsTest, RefusesANewerDatabaseAndLeavesItAlone) {
  DbPtr db = Open(dir_ / "a.db");
  Exec(db.get(),
       "CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT, extra TEXT);"
       "PRAGMA user_version = 7;");
  auto r = MigrateSchema(db.get(), TwoSteps());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("schema version 7"), std::string::npos);
  EXPECT_NE(r.status().message().find("newer"), std::string::npos);
  EXPECT_EQ(*ReadSchemaVersion(db.get()), 7);
  EXPECT_FALSE(*HasColumn(db.get(), "main", "notes", "pinned"));
}

TEST_F(SqliteOpsTest, AFailingStepRollsBackAndKeepsTheEarlierSteps) {
  Schema s = TwoSteps();
  s.steps.push_back({3, "broken", "CREATE TABLE half(x); INSERT INTO missing VALUES(1);", {}});
  DbPtr db = Open(dir_ / "a.db");
  auto r = MigrateSchema(db.get(), s);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("schema step 3 (broken)"), std::string::npos);
  EXPECT_EQ(*ReadSchemaVersion(db.get()), 2);
  EXPECT_EQ(Scalar(db.get(), "SELECT count(*) FROM sqlite_schema WHERE name='half'"), "0");
  // Fixed in the next release: the same database continues from step 3.
  s.steps[2].sql = "CREATE TABLE half(x);";
  ASSERT_TRUE(MigrateSchema(db.get(), s).ok());
  EXPECT_EQ(*ReadSchemaVersion(db.get()), 3);
}

TEST_F(SqliteOpsTest, StepsMustBeNumberedInOrder) {
  Schema s = TwoSteps();
  s.steps[1].version = 3;
  DbPtr db = Open(dir_ / "a.db");
  auto r = MigrateSchema(db.get(), s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInternal);
  EXPECT_EQ(*ReadSchemaVersion(db.get()), 0);
}

TEST_F(SqliteOpsTest, MigratesAnAttachedDatabaseByItsOwnVersion) {
  DbPtr db = Open(dir_ / "a.db");
  Exec(db.get(), "ATTACH DATABASE '" + (dir_ / "b.db").string() + "' AS side");
  Schema s = TwoSteps();
  s.database = "side";
  s.steps[0].sql = "CREATE TABLE IF NOT EXISTS side.notes(id INTEGER PRIMARY KEY, body TEXT);";
  s.steps[1].sql = "ALTER TABLE side.notes ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;";
  ASSERT_TRUE(MigrateSchema(db.get(), s).ok());
  EXPECT_EQ(*ReadSchemaVersion(db.get(), "side"), 2);
  EXPECT_EQ(*ReadSchemaVersion(db.get(), "main"), 0);
}

// A store in WAL mode with a writer part-way through a transaction, as in a running service.
class BackupTest : public SqliteOpsTest {
 protected:
  void SetUp() override {
    SqliteOpsTest::SetUp();
    live_ = Open(dir_ / "live.db");
    Exec(live_.get(), "PRAGMA journal_mode=WAL");
    ASSERT_TRUE(MigrateSchema(live_.get(), TwoSteps()).ok());
    Exec(live_.get(), "INSERT INTO notes(body) VALUES('kept-1'), ('kept-2')");
  }
  void TearDown() override {
    live_.reset();
    SqliteOpsTest::TearDown();
  }
  DbPtr live_;
};

TEST_F(BackupTest, BackupOfARunningStoreIsAConsistentPrivateSingleFile) {
  Exec(live_.get(), "BEGIN IMMEDIATE; INSERT INTO notes(body) VALUES('uncommitted');");
  const auto out = dir_ / "backup.sqlite";
  auto info = BackupDatabase(dir_ / "live.db", out, std::chrono::seconds(5));
  Exec(live_.get(), "COMMIT");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->schema_version, 2);
  EXPECT_EQ(info->bytes, std::filesystem::file_size(out));
  struct stat st {};
  ASSERT_EQ(::stat(out.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "backup.sqlite-wal"));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "backup.sqlite.tmp"));
  DbPtr copy = Open(out);
  EXPECT_EQ(Scalar(copy.get(), "SELECT group_concat(body, ',') FROM notes"), "kept-1,kept-2");
  EXPECT_EQ(Scalar(copy.get(), "PRAGMA journal_mode"), "delete");
}

TEST_F(BackupTest, BackupNeverOverwritesAFile) {
  const auto out = dir_ / "backup.sqlite";
  { std::ofstream(out) << "precious"; }
  auto info = BackupDatabase(dir_ / "live.db", out);
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), ErrorCode::kAlreadyExists);
  std::ifstream in(out);
  std::string text;
  in >> text;
  EXPECT_EQ(text, "precious");
  EXPECT_EQ(BackupDatabase(dir_ / "absent.db", dir_ / "x.sqlite").status().code(),
            ErrorCode::kNotFound);
}

TEST_F(BackupTest, RestoreRefusesWhileTheServiceHasTheDatabaseOpen) {
  const auto out = dir_ / "backup.sqlite";
  ASSERT_TRUE(BackupDatabase(dir_ / "live.db", out).ok());
  Exec(live_.get(), "INSERT INTO notes(body) VALUES('after-backup')");
  auto r = RestoreDatabase(out, dir_ / "live.db", TwoSteps());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("stop the service"), std::string::npos);
  EXPECT_EQ(Scalar(live_.get(), "SELECT count(*) FROM notes"), "3");
}

TEST_F(BackupTest, RestoreReplacesTheStoreAndKeepsWhatItReplaced) {
  const auto out = dir_ / "backup.sqlite";
  ASSERT_TRUE(BackupDatabase(dir_ / "live.db", out).ok());
  Exec(live_.get(), "INSERT INTO notes(body) VALUES('after-backup')");
  live_.reset();  // the service stops
  auto r = RestoreDatabase(out, dir_ / "live.db", TwoSteps());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, 2);
  DbPtr db = Open(dir_ / "live.db");
  EXPECT_EQ(Scalar(db.get(), "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(Scalar(db.get(), "SELECT group_concat(body, ',') FROM notes"), "kept-1,kept-2");
  EXPECT_EQ(*QuickCheckDatabase(dir_ / "live.db"), "ok");
  DbPtr before = Open(dir_ / "live.db.before-restore");
  EXPECT_EQ(Scalar(before.get(), "SELECT count(*) FROM notes"), "3");
}

TEST_F(BackupTest, RestoreRefusesNewerForeignAndDamagedBackups) {
  live_.reset();
  {
    DbPtr newer = Open(dir_ / "newer.sqlite");
    Exec(newer.get(), "CREATE TABLE notes(id INTEGER); PRAGMA user_version = 9;");
    DbPtr foreign = Open(dir_ / "foreign.sqlite");
    Exec(foreign.get(), "CREATE TABLE studies(uid TEXT); PRAGMA user_version = 1;");
  }
  { std::ofstream(dir_ / "garbage.sqlite") << std::string(8192, 'x'); }
  auto newer = RestoreDatabase(dir_ / "newer.sqlite", dir_ / "live.db", TwoSteps());
  EXPECT_EQ(newer.status().code(), ErrorCode::kFailedPrecondition);
  auto foreign = RestoreDatabase(dir_ / "foreign.sqlite", dir_ / "live.db", TwoSteps());
  EXPECT_EQ(foreign.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(foreign.status().message().find("not a backup of the test store"), std::string::npos);
  auto garbage = RestoreDatabase(dir_ / "garbage.sqlite", dir_ / "live.db", TwoSteps());
  EXPECT_EQ(garbage.status().code(), ErrorCode::kDataLoss);
  DbPtr db = Open(dir_ / "live.db");
  EXPECT_EQ(Scalar(db.get(), "SELECT count(*) FROM notes"), "2");
  EXPECT_FALSE(std::filesystem::exists(dir_ / "live.db.before-restore"));
}

TEST_F(BackupTest, QuickCheckFindsDamage) {
  Exec(live_.get(), "CREATE TABLE big(x TEXT); CREATE INDEX big_x ON big(x);");
  Exec(live_.get(),
       "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) "
       "INSERT INTO big SELECT printf('row-%08d', i) FROM n");
  Exec(live_.get(), "PRAGMA wal_checkpoint(TRUNCATE)");
  live_.reset();
  ASSERT_EQ(*QuickCheckDatabase(dir_ / "live.db"), "ok");
  {
    std::fstream f(dir_ / "live.db", std::ios::in | std::ios::out | std::ios::binary);
    for (std::streamoff page = 3; page < 12; ++page) {
      f.seekp(page * 4096 + 100);
      f << std::string(600, '\x5a');
    }
  }
  auto r = QuickCheckDatabase(dir_ / "live.db");
  EXPECT_FALSE(r.ok() && *r == "ok") << "damage not noticed";
  EXPECT_EQ(QuickCheckDatabase(dir_ / "absent.db").status().code(), ErrorCode::kNotFound);
}

TEST_F(BackupTest, DoctorRowForAStore) {
  const Schema schema = TwoSteps();
  auto ok = CheckSqliteStore(dir_ / "live.db", &schema, Language::kEnglish);
  EXPECT_EQ(ok.level, CheckLevel::kOk) << ok.detail;
  EXPECT_NE(ok.detail.find("(schema 2)"), std::string::npos) << ok.detail;
  auto missing = CheckSqliteStore(dir_ / "absent.db", &schema, Language::kJapanese);
  EXPECT_EQ(missing.level, CheckLevel::kOk);
  EXPECT_NE(missing.detail.find("初回起動時"), std::string::npos);
  Exec(live_.get(), "PRAGMA user_version = 5");
  auto newer = CheckSqliteStore(dir_ / "live.db", &schema, Language::kEnglish);
  EXPECT_EQ(newer.level, CheckLevel::kFailed);
  EXPECT_NE(newer.detail.find("newer release"), std::string::npos) << newer.detail;
  EXPECT_FALSE(newer.fix.empty());
  live_.reset();
  { std::ofstream(dir_ / "live.db", std::ios::trunc) << std::string(9000, 'q'); }
  std::filesystem::remove(dir_ / "live.db-wal");
  std::filesystem::remove(dir_ / "live.db-shm");
  auto broken = CheckSqliteStore(dir_ / "live.db", &schema, Language::kEnglish);
  EXPECT_EQ(broken.level, CheckLevel::kFailed) << broken.detail;
  EXPECT_NE(broken.fix.find("restore"), std::string::npos) << broken.fix;
}

TEST(ClockSkewCheck, WarnsThenFailsInBothDirections) {
  using std::chrono::seconds;
  EXPECT_EQ(CheckClockSkew(seconds(2), Language::kEnglish).level, CheckLevel::kOk);
  EXPECT_EQ(CheckClockSkew(seconds(-45), Language::kEnglish).level, CheckLevel::kWarning);
  auto fail = CheckClockSkew(seconds(600), Language::kJapanese);
  EXPECT_EQ(fail.level, CheckLevel::kFailed);
  EXPECT_NE(fail.detail.find("600"), std::string::npos) << fail.detail;
  EXPECT_NE(fail.fix.find("NTP"), std::string::npos);
  EXPECT_EQ(CheckClockSkew(seconds(-301), Language::kEnglish).level, CheckLevel::kFailed);
}

}  // namespace
}  // namespace tsunagu::common
