#include "tsunagu/retention/study_store.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>

#include <fstream>
#include <random>
#include <set>

#include "tsunagu/common/crypto.h"
#include "tsunagu/common/logging.h"

namespace tsunagu::retention {
namespace {

using std::chrono::hours;
using std::chrono::seconds;

std::string ReadAll(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

InstanceInfo Info(std::string series = "1.2.3.4") { return {series, "{\"x\":1}"}; }

class StudyStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("tsunagu_store_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    clock_ = std::make_shared<common::FakeClock>();
    Reopen();
    accept_ = [](std::string_view, std::string_view,
                 std::string_view) -> common::Result<InstanceInfo> { return Info(); };
    std::mt19937 rng(42);
    for (int i = 0; i < 5000; ++i) payload_.push_back(static_cast<char>(rng()));
    hash_ = common::HexEncode(common::Sha256(payload_));
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Reopen(std::uint64_t quota = 1ULL << 30) {
    store_.reset();
    StoreOptions o;
    o.data_directory = dir_;
    o.quota_bytes = quota;
    o.retention = hours(72);
    o.access_code_max_failures = 3;
    auto logger = common::MakeLogger("test", {std::make_shared<spdlog::sinks::null_sink_mt>()},
                                     spdlog::level::info);
    auto s = StudyStore::Open(o, {clock_, logger});
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
  }
  void UploadWhole(const std::string& study, const std::string& sop) {
    auto p = store_->AppendChunk(study, sop, 0, payload_.size(), hash_, payload_, accept_);
    ASSERT_TRUE(p.ok()) << p.status();
    ASSERT_TRUE(p->complete);
  }
  std::vector<CommitInstance> List(const std::string& sop) {
    return {{sop, hash_, payload_.size()}};
  }

  std::filesystem::path dir_;
  std::shared_ptr<common::FakeClock> clock_;
  std::unique_ptr<StudyStore> store_;
  InstanceValidator accept_;
  std::string payload_;
  std::string hash_;
};

TEST_F(StudyStoreTest, ResumesAChunkedUploadAndReadsItBack) {
  auto p = store_->AppendChunk("1.2", "1.2.1", 0, payload_.size(), hash_,
                               std::string_view(payload_).substr(0, 2000), accept_);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->received, 2000u);
  // A gap is refused with the current position; a repeated chunk is a no-op.
  auto gap = store_->AppendChunk("1.2", "1.2.1", 3000, payload_.size(), hash_,
                                 std::string_view(payload_).substr(3000, 100), accept_);
  EXPECT_EQ(gap.status().code(), common::ErrorCode::kFailedPrecondition);
  auto again = store_->AppendChunk("1.2", "1.2.1", 0, payload_.size(), hash_,
                                   std::string_view(payload_).substr(0, 2000), accept_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->received, 2000u);
  Reopen();  // a restart keeps the progress
  EXPECT_EQ(store_->GetProgress("1.2", "1.2.1")->received, 2000u);
  // Overlapping chunk: only the fresh part is appended.
  p = store_->AppendChunk("1.2", "1.2.1", 1500, payload_.size(), hash_,
                          std::string_view(payload_).substr(1500), accept_);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(p->complete);
  ASSERT_TRUE(store_->Commit("1.2", List("1.2.1"), "t", std::nullopt, std::nullopt).ok());
  auto bytes = store_->ReadInstance("1.2", "1.2.1");
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(*bytes, payload_);
}

TEST_F(StudyStoreTest, FilesOnDiskAreEncrypted) {
  UploadWhole("1.2", "1.2.1");
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir_ / "studies")) {
    if (!e.is_regular_file()) continue;
    EXPECT_EQ(ReadAll(e.path()).find(payload_.substr(100, 64)), std::string::npos);
  }
}

TEST_F(StudyStoreTest, WrongWholeHashDiscardsTheUpload) {
  const std::string bad = common::HexEncode(common::Sha256("other"));
  auto p = store_->AppendChunk("1.2", "1.2.1", 0, payload_.size(), bad, payload_, accept_);
  EXPECT_EQ(p.status().code(), common::ErrorCode::kIntegrity);
  EXPECT_EQ(store_->GetProgress("1.2", "1.2.1")->received, 0u);
}

TEST_F(StudyStoreTest, ValidatorRejectionDiscardsTheUpload) {
  InstanceValidator reject = [](auto, auto, auto) -> common::Result<InstanceInfo> {
    return common::DeidentificationRefusedError("private tags");
  };
  auto p = store_->AppendChunk("1.2", "1.2.1", 0, payload_.size(), hash_, payload_, reject);
  EXPECT_EQ(p.status().code(), common::ErrorCode::kDeidentificationRefused);
  EXPECT_FALSE(p.status().retryable());
  EXPECT_EQ(store_->GetProgress("1.2", "1.2.1")->received, 0u);
}

TEST_F(StudyStoreTest, QuotaRefusesWithRetryableDiskFull) {
  Reopen(/*quota=*/6000);
  UploadWhole("1.2", "1.2.1");
  auto p = store_->AppendChunk("1.2", "1.2.2", 0, payload_.size(), hash_, payload_, accept_);
  EXPECT_EQ(p.status().code(), common::ErrorCode::kDiskFull);
  EXPECT_TRUE(p.status().retryable());
}

TEST_F(StudyStoreTest, CommitIsAtomicAndIdempotent) {
  UploadWhole("1.2", "1.2.1");
  // Not visible before commit.
  EXPECT_EQ(store_->ListInstances("1.2").status().code(), common::ErrorCode::kNotFound);
  auto missing = store_->Commit("1.2", {{"1.2.1", hash_, payload_.size()}, {"1.2.9", hash_, 1}},
                                "t", std::nullopt, std::nullopt);
  EXPECT_EQ(missing.status().code(), common::ErrorCode::kFailedPrecondition);
  EXPECT_EQ(store_->ListInstances("1.2").status().code(), common::ErrorCode::kNotFound);
  auto first = store_->Commit("1.2", List("1.2.1"), "t", std::nullopt, std::nullopt);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->already_committed);
  EXPECT_EQ(first->expires_at, clock_->SystemNow() + hours(72));
  auto second = store_->Commit("1.2", List("1.2.1"), "t", std::nullopt, std::nullopt);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->already_committed);
  EXPECT_NE(first->link_token, second->link_token);
  EXPECT_TRUE(store_->ResolveLink(first->link_token, std::nullopt).ok());
  EXPECT_TRUE(store_->ResolveLink(second->link_token, std::nullopt).ok());
  // Re-uploading a held instance is a no-op.
  auto again = store_->AppendChunk("1.2", "1.2.1", 0, payload_.size(), hash_, payload_, accept_);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->complete);
}

// An instance answered before the commit is synced only by the commit; if the host lost it
// meanwhile (here: its file removed, or cut short), the commit names it and refuses, the
// instance is forgotten, and after it is sent again the commit succeeds.
TEST_F(StudyStoreTest, CommitRefusesAnInstanceWhoseFileWasLostUntilItIsSentAgain) {
  for (const bool truncate : {false, true}) {
    SCOPED_TRACE(truncate);
    const std::string study = truncate ? "1.3" : "1.2";
    std::set<std::filesystem::path> before;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir_ / "studies")) {
      before.insert(e.path());
    }
    UploadWhole(study, study + ".1");
    UploadWhole(study, study + ".2");
    std::vector<CommitInstance> list = List(study + ".1");
    list.push_back({study + ".2", hash_, payload_.size()});
    std::vector<std::filesystem::path> files;  // this study's instance files
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir_ / "studies")) {
      if (e.path().extension() == ".enc" && !before.count(e.path())) files.push_back(e.path());
    }
    ASSERT_EQ(files.size(), 2u);
    std::set<std::string> named;
    for (const auto& f : files) {
      if (truncate) {
        std::filesystem::resize_file(f, std::filesystem::file_size(f) / 2);
      } else {
        std::filesystem::remove(f);
      }
      auto c = store_->Commit(study, list, "t", std::nullopt, std::nullopt);
      ASSERT_FALSE(c.ok()) << "a study with a lost file must never become visible";
      EXPECT_EQ(c.status().code(), common::ErrorCode::kFailedPrecondition);
      ASSERT_NE(c.status().message().find("lost"), std::string::npos) << c.status();
      const std::string sop = c.status().message().find("instance 1 ") != std::string::npos
                                  ? study + ".1"
                                  : study + ".2";
      named.insert(sop);
      // The instance is forgotten, so the gateway's upload is not a no-op: it is stored again.
      EXPECT_FALSE(store_->GetProgress(study, sop)->complete);
      UploadWhole(study, sop);
    }
    EXPECT_EQ(named.size(), 2u);
    auto c = store_->Commit(study, list, "t", std::nullopt, std::nullopt);
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(*store_->ReadInstance(study, study + ".1"), payload_);
    EXPECT_EQ(*store_->ReadInstance(study, study + ".2"), payload_);
  }
}

TEST_F(StudyStoreTest, ExpiredStudyIsUnreachableBeforeAnyPurge) {
  UploadWhole("1.2", "1.2.1");
  auto c = store_->Commit("1.2", List("1.2.1"), "t", std::nullopt, std::nullopt);
  ASSERT_TRUE(c.ok());
  clock_->Advance(hours(72) - seconds(1));
  EXPECT_TRUE(store_->ResolveLink(c->link_token, std::nullopt).ok());
  EXPECT_TRUE(store_->ReadInstance("1.2", "1.2.1").ok());
  clock_->Advance(seconds(1));
  EXPECT_EQ(store_->ResolveLink(c->link_token, std::nullopt).status().code(),
            common::ErrorCode::kNotFound);
  EXPECT_EQ(store_->ReadInstance("1.2", "1.2.1").status().code(), common::ErrorCode::kNotFound);
  EXPECT_EQ(store_->ListInstances("1.2").status().code(), common::ErrorCode::kNotFound);
}

TEST_F(StudyStoreTest, PurgeDestroysKeyThenFilesAndWritesReceipt) {
  UploadWhole("1.2", "1.2.1");
  ASSERT_TRUE(store_->Commit("1.2", List("1.2.1"), "t", std::nullopt, std::nullopt).ok());
  const std::string key = *store_->StudyKeyForTest("1.2");
  // A "backup" of the ciphertext taken before the purge.
  std::string copy;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir_ / "studies")) {
    if (e.is_regular_file()) copy = ReadAll(e.path());
  }
  ASSERT_FALSE(copy.empty());
  ASSERT_EQ(*DecryptInstanceFile(key, "1.2", "1.2.1", copy), payload_);
  EXPECT_TRUE(store_->Purge()->empty());  // nothing expired yet
  clock_->Advance(hours(72));
  auto receipts = store_->Purge();
  ASSERT_TRUE(receipts.ok()) << receipts.status();
  ASSERT_EQ(receipts->size(), 1u);
  EXPECT_EQ((*receipts)[0].instance_count, 1u);
  EXPECT_EQ((*receipts)[0].reason, "expired");
  auto receipt = store_->GetReceipt("1.2");
  ASSERT_TRUE(receipt.ok());
  EXPECT_EQ(receipt->deleted_at, clock_->SystemNow());
  EXPECT_EQ(store_->StudyKeyForTest("1.2").status().code(), common::ErrorCode::kNotFound);
  // No file in the data directory (index, WAL) still holds the key bytes.
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir_)) {
    if (e.is_regular_file()) {
      EXPECT_EQ(ReadAll(e.path()).find(key), std::string::npos) << e.path();
    }
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir_ / "studies"));
  // A wrong key cannot open the copy either.
  EXPECT_EQ(DecryptInstanceFile(std::string(32, 'k'), "1.2", "1.2.1", copy).status().code(),
            common::ErrorCode::kDataLoss);
  // Uploading to a deleted study is refused, not silently recreated.
  auto late = store_->AppendChunk("1.2", "1.2.1", 0, payload_.size(), hash_, payload_, accept_);
  EXPECT_EQ(late.status().code(), common::ErrorCode::kFailedPrecondition);
}

TEST_F(StudyStoreTest, CopyOfDataDirectoryIsUnreadableAfterPurge) {
  store_.reset();
  StoreOptions o;
  o.data_directory = dir_ / "data";
  o.key_directory = dir_ / "keys";
  auto logger = common::MakeLogger("test", {std::make_shared<spdlog::sinks::null_sink_mt>()},
                                   spdlog::level::info);
  auto live = StudyStore::Open(o, {clock_, logger});
  ASSERT_TRUE(live.ok()) << live.status();
  ASSERT_TRUE(
      (*live)->AppendChunk("1.2", "1.2.1", 0, payload_.size(), hash_, payload_, accept_).ok());
  ASSERT_TRUE((*live)->Commit("1.2", List("1.2.1"), "t", std::nullopt, std::nullopt).ok());
  (*live).reset();
  // Snapshot of the data directory (files and index, WAL included) before the purge.
  std::filesystem::copy(dir_ / "data", dir_ / "snapshot", std::filesystem::copy_options::recursive);
  live = StudyStore::Open(o, {clock_, logger});
  ASSERT_TRUE(live.ok());
  clock_->Advance(hours(72));
  ASSERT_EQ((*live)->Purge()->size(), 1u);
  (*live).reset();
  // Restore the snapshot next to the live keys, as an attacker with the backup and the relay's
  // current key store would: the study cannot be read, even with the clock turned back.
  clock_->SetSystemTime(clock_->SystemNow() - hours(24));
  o.data_directory = dir_ / "snapshot";
  auto restored = StudyStore::Open(o, {clock_, logger});
  ASSERT_TRUE(restored.ok());
  EXPECT_EQ((*restored)->StudyKeyForTest("1.2").status().code(), common::ErrorCode::kNotFound);
  auto read = (*restored)->ReadInstance("1.2", "1.2.1");
  EXPECT_FALSE(read.ok());
  EXPECT_NE(read.status().code(), common::ErrorCode::kOk);
  // And the ciphertext in the snapshot really is the study (it opened with the key before).
  bool found_ciphertext = false;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir_ / "snapshot")) {
    if (e.path().extension() == ".enc") found_ciphertext = true;
  }
  EXPECT_TRUE(found_ciphertext);
}

TEST_F(StudyStoreTest, AbandonedUploadsArePurged) {
  ASSERT_TRUE(store_
                  ->AppendChunk("1.2", "1.2.1", 0, payload_.size(), hash_,
                                std::string_view(payload_).substr(0, 10), accept_)
                  .ok());
  clock_->Advance(hours(73));
  auto receipts = store_->Purge();
  ASSERT_TRUE(receipts.ok());
  ASSERT_EQ(receipts->size(), 1u);
  EXPECT_EQ((*receipts)[0].reason, "abandoned");
  EXPECT_EQ(*store_->UsedBytes(), 0u);
}

TEST_F(StudyStoreTest, ShorterRequestedRetentionIsHonouredLongerIsCapped) {
  UploadWhole("1.2", "1.2.1");
  auto c = store_->Commit("1.2", List("1.2.1"), "t", std::nullopt, hours(1000));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->expires_at, clock_->SystemNow() + hours(72));
  UploadWhole("1.3", "1.3.1");
  c = store_->Commit("1.3", List("1.3.1"), "t", std::nullopt, seconds(5));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->expires_at, clock_->SystemNow() + seconds(5));
}

TEST_F(StudyStoreTest, AccessCodeIsThrottledAndLocksTheLink) {
  UploadWhole("1.2", "1.2.1");
  auto c = store_->Commit("1.2", List("1.2.1"), "t", std::string("4321"), std::nullopt);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(store_->ResolveLink(c->link_token, std::nullopt).status().code(),
            common::ErrorCode::kUnauthenticated);
  EXPECT_EQ(store_->ResolveLink(c->link_token, std::string("0000")).status().code(),
            common::ErrorCode::kUnauthenticated);
  // Immediately again: throttled, and the attempt does not count.
  EXPECT_EQ(store_->ResolveLink(c->link_token, std::string("4321")).status().code(),
            common::ErrorCode::kResourceExhausted);
  clock_->Advance(seconds(2));
  EXPECT_TRUE(store_->ResolveLink(c->link_token, std::string("4321")).ok());
  for (int i = 0; i < 2; ++i) {
    clock_->Advance(seconds(2));
    EXPECT_FALSE(store_->ResolveLink(c->link_token, std::string("1111")).ok());
  }
  clock_->Advance(seconds(2));
  EXPECT_EQ(store_->ResolveLink(c->link_token, std::string("1111")).status().code(),
            common::ErrorCode::kPermissionDenied);
  clock_->Advance(seconds(2));
  EXPECT_EQ(store_->ResolveLink(c->link_token, std::string("4321")).status().code(),
            common::ErrorCode::kPermissionDenied);
}

TEST_F(StudyStoreTest, RevokedLinkIsRefusedAndOtherStudiesAreNotReachable) {
  UploadWhole("1.2", "1.2.1");
  UploadWhole("1.3", "1.3.1");
  auto a = store_->Commit("1.2", List("1.2.1"), "t", std::nullopt, std::nullopt);
  auto b = store_->Commit("1.3", List("1.3.1"), "t", std::nullopt, std::nullopt);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(store_->ResolveLink(a->link_token, std::nullopt)->study_uid, "1.2");
  EXPECT_EQ(*store_->RevokeLinks("1.2"), 1);
  EXPECT_EQ(store_->ResolveLink(a->link_token, std::nullopt).status().code(),
            common::ErrorCode::kPermissionDenied);
  EXPECT_EQ(store_->ResolveLink(b->link_token, std::nullopt)->study_uid, "1.3");
  EXPECT_EQ(store_->ResolveLink("not-a-token", std::nullopt).status().code(),
            common::ErrorCode::kNotFound);
}

TEST_F(StudyStoreTest, AccessLogRoundTrips) {
  AccessEntry e{clock_->SystemNow(), 7, "open", "127.0.0.1", "Weasis"};
  ASSERT_TRUE(store_->RecordAccess({{"1.2", e}}).ok());
  Reopen();
  auto log = store_->AccessLog("1.2");
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(log->size(), 1u);
  EXPECT_EQ((*log)[0].time, e.time);
  EXPECT_EQ((*log)[0].link_id, 7);
  EXPECT_EQ((*log)[0].event, "open");
  EXPECT_EQ((*log)[0].client_address, "127.0.0.1");
  EXPECT_EQ((*log)[0].user_agent, "Weasis");
}

TEST_F(StudyStoreTest, DerivedDataIsEncryptedWithTheStudyAndDestroyedByPurge) {
  UploadWhole("1.2", "1.2.1");
  const std::string render = "RENDERED-JPEG-BYTES-" + payload_.substr(0, 100);
  // Not before the study is committed (nothing to view yet).
  EXPECT_EQ(store_->PutDerived("1.2", "render|a", render).code(), common::ErrorCode::kNotFound);
  ASSERT_TRUE(store_->Commit("1.2", List("1.2.1"), "t", std::nullopt, std::nullopt).ok());
  ASSERT_TRUE(store_->PutDerived("1.2", "render|a", render).ok());
  auto back = store_->GetDerived("1.2", "render|a");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, render);
  EXPECT_EQ(store_->GetDerived("1.2", "render|b").status().code(), common::ErrorCode::kNotFound);
  // Replacing keeps one file; the file is in the study's folder and is not the plaintext.
  ASSERT_TRUE(store_->PutDerived("1.2", "render|a", render + "2").ok());
  EXPECT_EQ(*store_->GetDerived("1.2", "render|a"), render + "2");
  std::vector<std::filesystem::path> derived;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir_ / "studies")) {
    if (e.is_regular_file() && e.path().parent_path().filename() == "derived") {
      derived.push_back(e.path());
    }
  }
  ASSERT_EQ(derived.size(), 1u);
  const std::string on_disk = ReadAll(derived[0]);
  EXPECT_EQ(on_disk.find("RENDERED-JPEG-BYTES"), std::string::npos);
  // Bound to its name: copied to another name's place it does not open.
  std::filesystem::copy_file(
      derived[0], derived[0].parent_path() /
                      (common::HexEncode(common::Sha256("render|c")).substr(0, 32) + ".enc"));
  EXPECT_EQ(store_->GetDerived("1.2", "render|c").status().code(), common::ErrorCode::kDataLoss);
  const std::string key = *store_->StudyKeyForTest("1.2");
  // After expiry it is unreachable at once, and the purge destroys the key and the file.
  clock_->Advance(hours(72));
  EXPECT_EQ(store_->GetDerived("1.2", "render|a").status().code(), common::ErrorCode::kNotFound);
  auto receipts = store_->Purge();
  ASSERT_TRUE(receipts.ok()) << receipts.status();
  ASSERT_EQ(receipts->size(), 1u);
  EXPECT_FALSE(std::filesystem::exists(derived[0]));
  EXPECT_TRUE(std::filesystem::is_empty(dir_ / "studies"));
  EXPECT_EQ(store_->StudyKeyForTest("1.2").status().code(), common::ErrorCode::kNotFound);
  // A copy taken before the purge is ciphertext that needed that (now destroyed) key.
  EXPECT_FALSE(key.empty());
  EXPECT_EQ(on_disk.find(render), std::string::npos);
}

TEST_F(StudyStoreTest, DerivedDataIsCappedPerStudy) {
  store_.reset();
  StoreOptions o;
  o.data_directory = dir_;
  o.derived_bytes_per_study = 1000;
  auto logger = common::MakeLogger("test", {std::make_shared<spdlog::sinks::null_sink_mt>()},
                                   spdlog::level::info);
  auto s = StudyStore::Open(o, {clock_, logger});
  ASSERT_TRUE(s.ok()) << s.status();
  store_ = std::move(*s);
  UploadWhole("1.2", "1.2.1");
  ASSERT_TRUE(store_->Commit("1.2", List("1.2.1"), "t", std::nullopt, std::nullopt).ok());
  ASSERT_TRUE(store_->PutDerived("1.2", "a", std::string(600, 'x')).ok());
  EXPECT_EQ(store_->PutDerived("1.2", "b", std::string(600, 'y')).code(),
            common::ErrorCode::kResourceExhausted);
  // Replacing an entry counts its old size back.
  EXPECT_TRUE(store_->PutDerived("1.2", "a", std::string(700, 'z')).ok());
  EXPECT_EQ(*store_->GetDerived("1.2", "a"), std::string(700, 'z'));
}

}  // namespace
}  // namespace tsunagu::retention
