// The operator's job commands on the real job store (SQLite on disk): `retry` resumes a failed
// job at the stage it failed in, keeping the work before it; `cancel` ends a job before its link
// is posted so that no worker claims it again, and hands back its files (issue 11).
#include <gtest/gtest.h>

#include "test_util.h"
#include "tsunagu/gateway/job_store.h"

namespace tsunagu::gateway {
namespace {

using namespace std::chrono_literals;

class JobAdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = JobStore::Open((dir_.path() / "gateway.db").string(), &clock_);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
  }
  // A send with one instance received into the spool.
  JobId SendWithOneInstance() {
    auto id = store_->CreateSend("S", "k-S", "cardio", "");
    EXPECT_TRUE(id.ok());
    InstanceRecord r;
    r.sop_key = "k-I1";
    r.sop_uid = "I1";
    r.series_uid = "series-1";
    EXPECT_TRUE(store_->SetExpected(*id, {r}).ok());
    auto a = store_->AttachArrived(
        ArrivedInstance{"S", "k-S", "I1", "k-I1", "series-1", "/spool/k-S/k-I1.dcm", "CT"},
        std::nullopt);
    EXPECT_TRUE(a.ok());
    return *id;
  }
  testing::TempDir dir_;
  common::FakeClock clock_;
  std::unique_ptr<JobStore> store_;
};

TEST_F(JobAdminTest, RetryResumesAFailedJobAtTheStageItFailedInWithItsWorkKept) {
  const JobId id = SendWithOneInstance();
  ASSERT_TRUE(store_->SetDeidentified(id, "k-I1", "2.25.1", "/outbox/1/a.dcm", "ab", 10).ok());
  ASSERT_TRUE(store_->SetStage(id, stage::kDeidentified).ok());
  auto lease = store_->Claim("w", clock_.SystemNow(), 10s);
  ASSERT_TRUE(lease.ok() && lease->has_value());
  ASSERT_TRUE(store_->Fail(**lease, common::UnavailableError("relay down")).ok());
  ASSERT_EQ(store_->CountFailuresByCode()->size(), 1u);

  ASSERT_TRUE(store_->RetryFailed(id).ok());
  auto job = store_->GetJob(id);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->stage, stage::kDeidentified);
  EXPECT_EQ(job->last_error, "");
  EXPECT_EQ(job->failed_stage, "");
  EXPECT_EQ(job->attempts, 0);
  EXPECT_EQ(store_->Progress(id)->deidentified, 1);  // the de-identification is not redone
  EXPECT_TRUE(store_->CountFailuresByCode()->empty());
  auto again = store_->Claim("w", clock_.SystemNow(), 10s);
  ASSERT_TRUE(again.ok() && again->has_value());
  EXPECT_EQ((*again)->id, id);
  EXPECT_EQ((*again)->stage, stage::kDeidentified);
}

TEST_F(JobAdminTest, RetryRefusesJobsThatAreNotFailed) {
  const JobId id = SendWithOneInstance();
  auto st = store_->RetryFailed(id);
  EXPECT_EQ(st.code(), common::ErrorCode::kFailedPrecondition);
  EXPECT_EQ(store_->GetJob(id)->stage, stage::kRetrieving);
  EXPECT_EQ(store_->RetryFailed(JobId(999)).code(), common::ErrorCode::kNotFound);
}

TEST_F(JobAdminTest, RetryRefusesAFailedJobWhoseIdentifiersAreForgotten) {
  const JobId id = SendWithOneInstance();
  auto lease = store_->Claim("w", clock_.SystemNow(), 10s);
  ASSERT_TRUE(store_->Fail(**lease, common::NotFoundError("missing")).ok());
  ASSERT_TRUE(store_->ForgetIdentifiers(id).ok());
  EXPECT_EQ(store_->RetryFailed(id).code(), common::ErrorCode::kFailedPrecondition);
  EXPECT_EQ(store_->GetJob(id)->stage, stage::kFailed);
}

TEST_F(JobAdminTest, CancelEndsTheJobForGoodAndReturnsItsFiles) {
  const JobId id = SendWithOneInstance();
  auto files = store_->Cancel(id, clock_.SystemNow());
  ASSERT_TRUE(files.ok()) << files.status();
  ASSERT_EQ(files->size(), 1u);
  EXPECT_EQ(files->front().spool_path, "/spool/k-S/k-I1.dcm");
  auto job = store_->GetJob(id);
  EXPECT_EQ(job->stage, stage::kCleaned);
  EXPECT_EQ(job->failed_stage, stage::kRetrieving);
  EXPECT_EQ(job->last_error.rfind("cancelled:", 0), 0u) << job->last_error;
  // No worker takes it again, now or later, and it is neither a failure nor queued work.
  EXPECT_FALSE(store_->Claim("w", clock_.SystemNow() + 24h, 10s)->has_value());
  EXPECT_TRUE(store_->CountFailuresByCode()->empty());
  // Not twice, and a cancelled job is not retried.
  EXPECT_EQ(store_->Cancel(id, clock_.SystemNow()).status().code(),
            common::ErrorCode::kFailedPrecondition);
  EXPECT_EQ(store_->RetryFailed(id).code(), common::ErrorCode::kFailedPrecondition);
  // A new send of the same study is a new job.
  auto next = store_->CreateSend("S", "k-S", "cardio", "");
  ASSERT_TRUE(next.ok());
  EXPECT_NE(*next, id);
}

TEST_F(JobAdminTest, CancelWaitsForTheWorkerHoldingTheJob) {
  const JobId id = SendWithOneInstance();
  auto lease = store_->Claim("w", clock_.SystemNow(), 10s);
  ASSERT_TRUE(lease.ok() && lease->has_value());
  auto busy = store_->Cancel(id, clock_.SystemNow());
  EXPECT_EQ(busy.status().code(), common::ErrorCode::kUnavailable);
  EXPECT_TRUE(busy.status().retryable());
  EXPECT_EQ(store_->GetJob(id)->stage, stage::kRetrieving);
  clock_.Advance(11s);  // the lease has run out (a crashed worker)
  EXPECT_TRUE(store_->Cancel(id, clock_.SystemNow()).ok());
}

TEST_F(JobAdminTest, CancelRefusesAJobWhoseLinkIsPosted) {
  const JobId id = SendWithOneInstance();
  ASSERT_TRUE(store_->SetStage(id, stage::kPosted).ok());
  auto st = store_->Cancel(id, clock_.SystemNow());
  EXPECT_EQ(st.status().code(), common::ErrorCode::kFailedPrecondition);
  EXPECT_EQ(store_->GetJob(id)->stage, stage::kPosted);
}

TEST_F(JobAdminTest, CancelOfAFailedJobKeepsTheStageItFailedIn) {
  const JobId id = SendWithOneInstance();
  auto lease = store_->Claim("w", clock_.SystemNow(), 10s);
  ASSERT_TRUE(store_->Fail(**lease, common::NotFoundError("missing")).ok());
  ASSERT_TRUE(store_->Cancel(id, clock_.SystemNow()).ok());
  auto job = store_->GetJob(id);
  EXPECT_EQ(job->stage, stage::kCleaned);
  EXPECT_EQ(job->failed_stage, stage::kRetrieving);
  EXPECT_TRUE(store_->CountFailuresByCode()->empty());
}

}  // namespace
}  // namespace tsunagu::gateway
