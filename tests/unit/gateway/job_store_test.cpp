#include "tsunagu/gateway/job_store.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace tsunagu::gateway {
namespace {

using namespace std::chrono_literals;

class JobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = JobStore::Open(":memory:", &clock_);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
  }
  ArrivedInstance Arrived(const std::string& study, const std::string& sop) {
    return ArrivedInstance{study,      "k-" + study, sop,
                           "k-" + sop, "series-1",   "/spool/k-" + study + "/k-" + sop + ".dcm",
                           "CT"};
  }
  common::FakeClock clock_;
  std::unique_ptr<JobStore> store_;
};

TEST_F(JobStoreTest, JobRecordRoundTripsThroughTheDatabase) {
  testing::TempDir dir;
  const std::string db = (dir.path() / "gateway.db").string();
  JobRecord expected;
  {
    auto store = JobStore::Open(db, &clock_);
    ASSERT_TRUE(store.ok()) << store.status();
    auto id = (*store)->CreateSend("1.2.3", "key-123", "cardio", "please look");
    ASSERT_TRUE(id.ok()) << id.status();
    InstanceRecord r;
    r.sop_key = "sk1";
    r.sop_uid = "1.2.3.4";
    r.series_uid = "1.2.3.9";
    ASSERT_TRUE((*store)->SetExpected(*id, {r}).ok());
    ASSERT_TRUE((*store)->SetMoveCounters(*id, 2, 5, 1).ok());
    ASSERT_TRUE((*store)->SetStudyInfo(*id, "2.25.77", "2345", "MR").ok());
    ASSERT_TRUE(
        (*store)
            ->AttachArrived({"1.2.3", "key-123", "1.2.3.4", "sk1", "1.2.3.9", "/spool/a.dcm", "MR"},
                            std::nullopt)
            .ok());
    ASSERT_TRUE((*store)->SetDeidentified(*id, "sk1", "2.25.5", "/out/2.25.5.dcm", "ab", 42).ok());
    ASSERT_TRUE((*store)->SetUploaded(*id, "sk1").ok());
    ASSERT_TRUE((*store)->SetCommitted(*id, "https://v/x", "2026-11-25T00:00:00Z").ok());
    expected = *(*store)->GetJob(*id);
  }
  // Reopened: every field as written.
  auto store = JobStore::Open(db, &clock_);
  ASSERT_TRUE(store.ok()) << store.status();
  auto job = (*store)->GetJob(expected.id);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(*job, expected);
  EXPECT_EQ(job->kind, JobKind::kSend);
  EXPECT_EQ(job->stage, stage::kCommitted);
  EXPECT_EQ(job->study_uid, "1.2.3");
  EXPECT_EQ(job->note, "please look");
  EXPECT_EQ(job->expected_count, 1);
  EXPECT_EQ(job->move_rounds, 2);
  EXPECT_EQ(job->move_completed, 5);
  EXPECT_EQ(job->deid_study_uid, "2.25.77");
  EXPECT_EQ(job->patient_id_suffix, "2345");
  EXPECT_EQ(job->viewer_url, "https://v/x");
  auto instances = (*store)->ListInstances(expected.id);
  ASSERT_TRUE(instances.ok());
  ASSERT_EQ(instances->size(), 1u);
  const InstanceRecord& i = instances->front();
  EXPECT_EQ(i.state, instance_state::kUploaded);
  EXPECT_EQ(i.sop_uid, "1.2.3.4");
  EXPECT_EQ(i.series_uid, "1.2.3.9");
  EXPECT_EQ(i.spool_path, "/spool/a.dcm");
  EXPECT_EQ(i.deid_sop_uid, "2.25.5");
  EXPECT_EQ(i.deid_path, "/out/2.25.5.dcm");
  EXPECT_EQ(i.sha256_hex, "ab");
  EXPECT_EQ(i.size, 42);
}

TEST_F(JobStoreTest, CardFactsRoundTripAndTheKeyIsForgottenOnClean) {
  auto id = store_->CreateSend("1.2", "k", "cardio", "");
  ASSERT_TRUE(id.ok());
  auto none = store_->GetCardFacts(*id);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, CardFacts{});
  const CardFacts f{"key", "CHEST", "CT chest", "20261120", "031400"};
  ASSERT_TRUE(store_->SetCardFacts(*id, f).ok());
  ASSERT_TRUE(store_->SetCardFacts(*id, f).ok()) << "repeatable";
  EXPECT_EQ(store_->GetCardFacts(*id).value(), f);
  ASSERT_TRUE(store_->ForgetIdentifiers(*id).ok());
  CardFacts cleaned = f;
  cleaned.patient_key.clear();
  EXPECT_EQ(store_->GetCardFacts(*id).value(), cleaned);
}

TEST_F(JobStoreTest, RepeatedSendOfTheSameStudyToTheSameThreadIsOneJob) {
  auto a = store_->CreateSend("1.2", "k", "cardio", "");
  auto b = store_->CreateSend("1.2", "k", "cardio", "again");
  auto c = store_->CreateSend("1.2", "k", "neuro", "");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_NE(*a, *c);
}

TEST_F(JobStoreTest, ArrivingInstanceJoinsTheRetrievingSend) {
  auto id = store_->CreateSend("S", "k-S", "cardio", "");
  ASSERT_TRUE(id.ok());
  InstanceRecord r;
  r.sop_key = "k-I1";
  r.sop_uid = "I1";
  r.series_uid = "series-1";
  ASSERT_TRUE(store_->SetExpected(*id, {r}).ok());
  auto a = store_->AttachArrived(Arrived("S", "I1"), std::nullopt);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->job_id, *id);
  EXPECT_FALSE(a->duplicate);
  EXPECT_TRUE(a->file_referenced);
  auto p = store_->Progress(*id);
  EXPECT_EQ(p->received, 1);
  EXPECT_EQ(p->expected, 0);
  // The same instance again is a duplicate.
  auto again = store_->AttachArrived(Arrived("S", "I1"), std::nullopt);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->duplicate);
}

TEST_F(JobStoreTest, PushedInstancesCollectIntoOneJobPerStudyAndThread) {
  auto a = store_->AttachArrived(Arrived("S", "I1"), std::string("cardio"));
  auto b = store_->AttachArrived(Arrived("S", "I2"), std::string("cardio"));
  auto c = store_->AttachArrived(Arrived("T", "I3"), std::string("cardio"));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_TRUE(a->created_job);
  EXPECT_FALSE(b->created_job);
  EXPECT_EQ(a->job_id, b->job_id);
  EXPECT_NE(a->job_id, c->job_id);
  auto job = store_->GetJob(a->job_id);
  EXPECT_EQ(job->kind, JobKind::kPush);
  EXPECT_EQ(job->stage, stage::kCollecting);
  EXPECT_EQ(job->modality, "CT");
}

TEST_F(JobStoreTest, UnroutedPushIsNotFound) {
  auto a = store_->AttachArrived(Arrived("S", "I1"), std::nullopt);
  EXPECT_EQ(a.status().code(), common::ErrorCode::kNotFound);
}

TEST_F(JobStoreTest, LateInstanceOfAFinishedJobIsADuplicateWithoutAReference) {
  auto a = store_->AttachArrived(Arrived("S", "I1"), std::string("cardio"));
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(store_->ClearSpoolPath(a->job_id, "k-I1").ok());
  ASSERT_TRUE(store_->SetStage(a->job_id, stage::kCleaned).ok());
  auto late = store_->AttachArrived(Arrived("S", "I1"), std::string("cardio"));
  ASSERT_TRUE(late.ok());
  EXPECT_TRUE(late->duplicate);
  EXPECT_FALSE(late->file_referenced);  // the caller deletes the new file
}

TEST_F(JobStoreTest, ClaimTakesALeaseThatBlocksOtherClaimsUntilItExpires) {
  auto id = store_->CreateSend("S", "k", "cardio", "");
  ASSERT_TRUE(id.ok());
  auto first = store_->Claim("w1", clock_.SystemNow(), 10s);
  ASSERT_TRUE(first.ok() && first->has_value());
  EXPECT_EQ((*first)->id, *id);
  EXPECT_EQ((*first)->stage, stage::kRetrieving);
  EXPECT_EQ((*first)->attempt, 1);
  auto second = store_->Claim("w2", clock_.SystemNow(), 10s);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->has_value());
  // The holder died: after the lease, another worker takes it (attempt 2).
  clock_.Advance(10s);
  auto third = store_->Claim("w2", clock_.SystemNow(), 10s);
  ASSERT_TRUE(third.ok() && third->has_value());
  EXPECT_EQ((*third)->attempt, 2);
}

TEST_F(JobStoreTest, ReleaseSchedulesAndRecordsTheError) {
  auto id = store_->CreateSend("S", "k", "cardio", "");
  auto lease = store_->Claim("w", clock_.SystemNow(), 10s);
  ASSERT_TRUE(lease.ok() && lease->has_value());
  ASSERT_TRUE(
      store_->Release(**lease, clock_.SystemNow() + 5s, false, common::PacsBusyError("PACS busy"))
          .ok());
  EXPECT_FALSE(store_->Claim("w", clock_.SystemNow(), 10s)->has_value());
  auto job = store_->GetJob(*id);
  EXPECT_EQ(job->last_error, "pacs_busy: PACS busy");
  EXPECT_EQ(job->attempts, 1);
  clock_.Advance(5s);
  EXPECT_TRUE(store_->Claim("w", clock_.SystemNow(), 10s)->has_value());
}

TEST_F(JobStoreTest, ReleaseLeasesOfOwnerMakesJobsClaimableAtOnce) {
  ASSERT_TRUE(store_->CreateSend("S", "k", "cardio", "").ok());
  ASSERT_TRUE(store_->Claim("service", clock_.SystemNow(), 10min)->has_value());
  auto n = store_->ReleaseLeasesOf("service");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1);
  EXPECT_TRUE(store_->Claim("service", clock_.SystemNow(), 10min)->has_value());
}

TEST_F(JobStoreTest, FailIsTerminalAndCountedByCode) {
  auto id = store_->CreateSend("S", "k", "cardio", "");
  auto lease = store_->Claim("w", clock_.SystemNow(), 10s);
  ASSERT_TRUE(store_->Fail(**lease, common::NotFoundError("3 of 10 instances missing")).ok());
  auto job = store_->GetJob(*id);
  EXPECT_EQ(job->stage, stage::kFailed);
  EXPECT_EQ(job->failed_stage, stage::kRetrieving);
  EXPECT_FALSE(store_->Claim("w", clock_.SystemNow() + 1h, 10s)->has_value());
  auto failures = store_->CountFailuresByCode();
  ASSERT_TRUE(failures.ok());
  ASSERT_EQ(failures->size(), 1u);
  EXPECT_EQ(failures->front(), std::make_pair(std::string("not_found"), 1));
}

TEST_F(JobStoreTest, ForgetIdentifiersClearsOriginalUids) {
  auto id = store_->CreateSend("S", "k-S", "cardio", "");
  ASSERT_TRUE(store_->AttachArrived(Arrived("S", "I1"), std::nullopt).ok());
  ASSERT_TRUE(store_->ForgetIdentifiers(*id).ok());
  EXPECT_EQ(store_->GetJob(*id)->study_uid, "");
  auto instances = store_->ListInstances(*id);
  ASSERT_EQ(instances->size(), 1u);
  EXPECT_EQ(instances->front().sop_uid, "");
  EXPECT_EQ(instances->front().spool_path, "");
  EXPECT_EQ(instances->front().sop_key, "k-I1");
}

}  // namespace
}  // namespace tsunagu::gateway

namespace tsunagu::gateway {
namespace {

TEST_F(JobStoreTest, ListInstancesInStatesReturnsOnlyTheWorkOfTheStream) {
  auto id = store_->CreateSend("S", "k-S", "cardio", "");
  ASSERT_TRUE(id.ok());
  std::vector<InstanceRecord> expected;
  for (const char* sop : {"I1", "I2", "I3", "I4"}) {
    InstanceRecord r;
    r.sop_key = std::string("k-") + sop;
    r.sop_uid = sop;
    r.series_uid = "series-1";
    expected.push_back(r);
  }
  ASSERT_TRUE(store_->SetExpected(*id, expected).ok());
  for (const char* sop : {"I1", "I2", "I3"}) {
    ASSERT_TRUE(store_->AttachArrived(Arrived("S", sop), std::nullopt).ok());
  }
  ASSERT_TRUE(store_
                  ->SetDeidentifiedMany(
                      *id,
                      {{"k-I2", "2.25.2", "/o/2", "ab", 2}, {"k-I3", "2.25.3", "/o/3", "cd", 3}},
                      /*durable=*/false)
                  .ok());
  ASSERT_TRUE(store_->SetUploadedMany(*id, {"k-I3"}, /*durable=*/false).ok());
  auto work =
      store_->ListInstancesInStates(*id, instance_state::kReceived, instance_state::kDeidentified);
  ASSERT_TRUE(work.ok()) << work.status();
  ASSERT_EQ(work->size(), 2u);
  EXPECT_EQ((*work)[0].sop_key, "k-I1");
  EXPECT_EQ((*work)[0].state, instance_state::kReceived);
  EXPECT_EQ((*work)[1].sop_key, "k-I2");
  EXPECT_EQ((*work)[1].state, instance_state::kDeidentified);
  EXPECT_EQ((*work)[1].deid_path, "/o/2");
}

}  // namespace
}  // namespace tsunagu::gateway
