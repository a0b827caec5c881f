// The study pipeline end to end with fault-injecting fakes for the PACS, the anonymizer, the
// relay and chat: completeness, re-requests, retries, exactly-once commit and post, cleanup,
// intake refusals and the spool ceiling.
#include "tsunagu/gateway/pipeline.h"

#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "test_util.h"
#include "tsunagu/common/crypto.h"

namespace tsunagu::gateway {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

constexpr char kPatientId[] = "CANARY-PID-987654321";
constexpr char kStudy[] = "1.2.826.0.1.3680043.99.1";

// A file system whose free space the test sets (leveldb's SpecialEnv).
class FaultyFileSystem final : public common::FileSystem {
 public:
  std::uint64_t free_space = 100ULL << 30;
  common::Status WriteAtomically(const fs::path& p, std::string_view d, fs::perms m) override {
    return local_.WriteAtomically(p, d, m);
  }
  common::Result<std::string> ReadFile(const fs::path& p) override { return local_.ReadFile(p); }
  common::Status Rename(const fs::path& a, const fs::path& b) override {
    return local_.Rename(a, b);
  }
  common::Status Remove(const fs::path& p) override { return local_.Remove(p); }
  common::Status CreateDirectories(const fs::path& p) override {
    return local_.CreateDirectories(p);
  }
  common::Result<std::uint64_t> FreeSpace(const fs::path&) override { return free_space; }

 private:
  common::LocalFileSystem local_;
};

// A PACS holding one study; its C-MOVE delivers through the Intake like the DICOM node would.
class FakePacs final : public PacsClient {
 public:
  std::map<std::string, std::vector<std::string>> series;  // series UID -> SOP UIDs
  std::set<std::string> never_send;                        // listed but never delivered
  std::set<std::string> skip_first_move;                   // not delivered by the first C-MOVE
  int busy_moves = 0;                                      // C-MOVEs answered "out of resources"
  int moves = 0;
  Intake* intake = nullptr;
  fs::path incoming;
  std::function<void(int delivered)> after_each;  // runs inside the C-MOVE, after each C-STORE

  common::Status Echo() override { return common::Status(); }
  common::Result<std::vector<FindMatch>> Find(const FindQuery& q) override {
    std::vector<FindMatch> out;
    if (q.study_uid != kStudy) return out;
    for (const auto& [s, sops] : series) {
      if (q.level == QueryLevel::kSeries) {
        FindMatch m;
        m.study_uid = kStudy;
        m.series_uid = s;
        out.push_back(m);
      } else if (q.level == QueryLevel::kImage && q.series_uid == s) {
        for (const std::string& sop : sops) {
          FindMatch m;
          m.study_uid = kStudy;
          m.series_uid = s;
          m.sop_uid = sop;
          out.push_back(m);
        }
      }
    }
    return out;
  }
  common::Result<MoveOutcome> Move(
      const MoveRequest& req, std::chrono::milliseconds,
      const std::function<void(const MoveProgress&)>& progress) override {
    ++moves;
    if (busy_moves > 0) {
      --busy_moves;
      return common::PacsBusyError("the PACS is out of resources for the C-MOVE");
    }
    std::vector<std::pair<std::string, std::string>> todo;
    for (const auto& [s, sops] : series) {
      for (const std::string& sop : sops) {
        const bool wanted =
            req.sop_uids.empty() ||
            (s == req.series_uid &&
             std::find(req.sop_uids.begin(), req.sop_uids.end(), sop) != req.sop_uids.end());
        if (wanted) todo.emplace_back(s, sop);
      }
    }
    MoveOutcome outcome;
    int done = 0;
    for (const auto& [s, sop] : todo) {
      if (never_send.count(sop) || (moves == 1 && skip_first_move.count(sop))) continue;
      ReceivedInstance in;
      in.called_ae_title = "GW";
      in.calling_ae_title = "PACS";
      in.study_uid = kStudy;
      in.series_uid = s;
      in.sop_uid = sop;
      in.modality = "CT";
      in.file = incoming / (sop + ".part");
      WriteFile(in.file, std::string("DICM|") + kPatientId + "|" + sop);
      in.bytes = fs::file_size(in.file);
      common::Status st = intake->OnReceived(in);
      if (!st.ok()) return st;
      ++done;
      if (after_each) after_each(done);
      progress(MoveProgress{done, static_cast<int>(todo.size()) - done, 0, 0});
      // As DcmtkPacsClient: asked after each response; C-CANCEL ends the move.
      if (req.should_stop && req.should_stop()) {
        return common::CancelledError("C-MOVE cancelled: the job was cancelled");
      }
    }
    outcome.last.completed = done;
    outcome.last.remaining = 0;
    return outcome;
  }
};

// De-identifies by rewriting the content; refuses listed SOP UIDs.
class FakeDeidentifier final : public InstanceDeidentifier {
 public:
  std::set<std::string> refuse;  // content substrings
  std::string secret;            // the site secret: other secrets give other UIDs
  int calls = 0;
  std::mutex mu;
  common::Result<DeidentifiedInstance> Deidentify(const fs::path& input,
                                                  const fs::path& out_dir) override {
    std::lock_guard<std::mutex> lock(mu);
    ++calls;
    const std::string content = ReadFile(input);
    for (const std::string& r : refuse) {
      if (content.find(r) != std::string::npos) {
        return common::DeidentificationRefusedError("burned-in text without a mask rule");
      }
    }
    const std::string uid =
        "2.25." + common::HexEncode(common::Sha256(secret + content)).substr(0, 12);
    DeidentifiedInstance d;
    d.sop_uid = uid;
    d.study_uid = "2.25.1000";
    d.file = out_dir / (uid + ".dcm");
    d.patient_id_suffix = "4321";
    d.modality = "CT";
    d.body_part = "CHEST";
    d.study_description = "CT chest";
    d.study_date = "20261120";
    d.study_time = "031400";
    d.patient_key = "hmac-of-the-patient";
    WriteFile(d.file, "DEID|" + uid);
    return d;
  }
};

// The relay: idempotent uploads and commits; fails the first `fail_uploads` uploads.
class FakeRelay final : public StudyUploader {
 public:
  int fail_uploads = 0;
  int fail_commits = 0;
  // Answer a missing instance as the relay does after losing it (relay/PROTOCOL.md "Durability").
  bool relay_lost_message = false;
  int upload_calls = 0;
  int commit_calls = 0;
  std::vector<std::string> commit_access_codes;  // as each commit was asked
  std::function<void()> on_upload;               // runs once, at the next upload
  std::map<std::string, std::string> stored;     // sop -> content
  std::set<std::string> committed;
  std::mutex mu;

  common::Status Upload(const std::string& study, const std::string& sop,
                        const fs::path& file) override {
    std::lock_guard<std::mutex> lock(mu);
    ++upload_calls;
    if (on_upload) {
      on_upload();
      on_upload = nullptr;
    }
    if (fail_uploads > 0) {
      --fail_uploads;
      return common::UnavailableError("relay unreachable");
    }
    if (study != "2.25.1000") return common::InvalidArgumentError("wrong study");
    stored[sop] = ReadFile(file);
    return common::Status();
  }
  common::Result<CommitOutcome> Commit(const std::string& study,
                                       const std::vector<UploadedInstance>& list,
                                       const std::string&, std::optional<std::chrono::milliseconds>,
                                       const std::string& access_code) override {
    ++commit_calls;
    commit_access_codes.push_back(access_code);
    if (fail_commits > 0) {
      --fail_commits;
      return common::DeadlineExceededError("relay timed out");
    }
    for (size_t i = 0; i < list.size(); ++i) {
      const UploadedInstance& u = list[i];
      auto it = stored.find(u.sop_uid);
      if (it == stored.end() && relay_lost_message) {
        return common::FailedPreconditionError(
            "relay: instance " + std::to_string(i + 1) +
            " of the commit was lost by the relay (host restart); upload it again");
      }
      if (it == stored.end()) return common::FailedPreconditionError("instance missing");
      if (common::HexEncode(common::Sha256(it->second)) != u.sha256_hex ||
          static_cast<std::int64_t>(it->second.size()) != u.size) {
        return common::IntegrityError("hash mismatch");
      }
    }
    CommitOutcome c;
    c.already_committed = !committed.insert(study).second;
    c.viewer_url = "https://relay.test/v/" + std::to_string(commit_calls);
    c.expires_at = "2026-11-25T00:00:00Z";
    return c;
  }
};

class CountingPoster final : public LinkPoster {
 public:
  std::vector<LinkPost> posts;
  int fail = 0;
  std::optional<std::chrono::milliseconds> retry_after;  // with the failures above
  common::Status Post(const LinkPost& p) override { return PostWithRetryAfter(p).status; }
  Outcome PostWithRetryAfter(const LinkPost& p) override {
    if (fail > 0) {
      --fail;
      return {common::ResourceExhaustedError("rate limited"), retry_after};
    }
    posts.push_back(p);
    return {common::Status(), std::nullopt};
  }
};

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spool_ = dir_.path() / "spool";
    incoming_ = spool_ / "incoming";
    fs::create_directories(incoming_);
    auto s = JobStore::Open((dir_.path() / "gateway.db").string(), &clock_);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
    pacs_.series = {{"1.2.826.0.1.3680043.99.1.1",
                     {"1.2.826.0.1.3680043.99.1.1.1", "1.2.826.0.1.3680043.99.1.1.2",
                      "1.2.826.0.1.3680043.99.1.1.3"}},
                    {"1.2.826.0.1.3680043.99.1.2",
                     {"1.2.826.0.1.3680043.99.1.2.1", "1.2.826.0.1.3680043.99.1.2.2"}}};
    pacs_.incoming = incoming_;
    Build();
  }

  // (Re)creates everything but the database and the fakes, as a restarted process would.
  void Build() {
    intake_ = std::make_unique<Intake>(
        spool_, 1ULL << 30, routes_,
        Intake::Deps{store_.get(), &fs_, &keyer_, &metrics_, log_.logger, [this] {
                       if (pipeline_) pipeline_->NotifyArrival();
                     }});
    pacs_.intake = intake_.get();
    PipelineOptions o;
    o.own_ae_title = "GW";
    o.max_move_retries = 2;
    o.quiet_period = 30s;
    o.settle_time = 1s;
    o.outbox_dir = dir_.path() / "outbox";
    o.spool_dir = spool_;
    o.spool_max_age = 24h;
    o.parallelism = 3;
    o.batch_size = 2;
    o.stream = stream_;
    o.upload_connections = upload_connections_;
    o.access_code_threads = access_code_threads_;
    pipeline_.reset();
    pipeline_ = std::make_unique<StudyPipeline>(
        o, StudyPipeline::Deps{store_.get(), &pacs_, &deid_, &relay_, &poster_, &fs_, &clock_,
                               &metrics_, &keyer_, log_.logger, generations_});
    jobs::EngineOptions e;
    e.max_attempts = 6;
    e.backoff = {100ms, 5s};
    engine_ = std::make_unique<jobs::JobEngine>(
        e, jobs::JobEngine::Deps{store_.get(), pipeline_.get(), &clock_, &random_, {}});
  }

  // Runs steps (advancing the fake clock when nothing is due) until `id` is terminal. Bounded.
  JobRecord RunToEnd(JobId id) {
    for (int i = 0; i < 500; ++i) {
      auto ran = engine_->RunOnceForTest();
      EXPECT_TRUE(ran.ok()) << ran.status();
      auto job = store_->GetJob(id);
      if (job->stage == stage::kCleaned || job->stage == stage::kFailed) return *job;
      if (!*ran) clock_.Advance(500ms);
    }
    ADD_FAILURE() << "job did not finish";
    return *store_->GetJob(id);
  }

  int SpoolFiles() {
    int n = 0;
    for (auto& e : fs::recursive_directory_iterator(spool_)) n += e.is_regular_file() ? 1 : 0;
    return n;
  }

  JobId Send() {
    auto id = store_->CreateSend(kStudy, keyer_.Key(kStudy), "cardio", "note");
    EXPECT_TRUE(id.ok());
    return *id;
  }

  TempDir dir_;
  fs::path spool_, incoming_;
  common::FakeClock clock_;
  FaultyFileSystem fs_;
  UidKeyer keyer_{"spool-key"};
  std::vector<SecretGeneration> generations_;
  PipelineMetrics metrics_;
  testing::CapturedLog log_;
  jobs::SeededRandom random_{7};
  std::vector<Route> routes_;
  bool stream_ = true;
  int upload_connections_ = 4;
  std::set<std::string> access_code_threads_;
  std::unique_ptr<JobStore> store_;
  FakePacs pacs_;
  FakeDeidentifier deid_;
  FakeRelay relay_;
  CountingPoster poster_;
  std::unique_ptr<Intake> intake_;
  std::unique_ptr<StudyPipeline> pipeline_;
  std::unique_ptr<jobs::JobEngine> engine_;
};

TEST_F(PipelineTest, SendFetchesDeidentifiesUploadsCommitsPostsAndCleans) {
  const JobId id = Send();
  const JobRecord job = RunToEnd(id);
  EXPECT_EQ(job.stage, stage::kCleaned) << job.last_error;
  EXPECT_EQ(job.expected_count, 5);
  EXPECT_EQ(job.move_rounds, 1);
  EXPECT_EQ(relay_.stored.size(), 5u);
  EXPECT_EQ(relay_.commit_calls, 1);
  ASSERT_EQ(poster_.posts.size(), 1u);
  EXPECT_EQ(poster_.posts[0].viewer_url, "https://relay.test/v/1");
  EXPECT_EQ(poster_.posts[0].patient_id_suffix, "4321");
  EXPECT_EQ(poster_.posts[0].instances, 5);
  EXPECT_EQ(SpoolFiles(), 0) << "identified files left in the spool";
  EXPECT_FALSE(fs::exists(dir_.path() / "outbox" / std::to_string(id.value())));
  EXPECT_EQ(job.study_uid, "") << "original UID kept after cleaning";
  // Privacy: nothing identifying in the logs.
  const std::string logs = log_.text();
  EXPECT_EQ(logs.find(kPatientId), std::string::npos);
  EXPECT_EQ(logs.find("1.2.826.0.1.3680043.99"), std::string::npos) << logs;
}

TEST_F(PipelineTest, InstancesAreDeidentifiedAndUploadedWhileTheMoveIsRunning) {
  // The PACS sends the next instance only once the relay holds the previous ones: without
  // streaming each wait would time out and nothing would be at the relay before the move ends.
  int seen_at_relay_during_move = 0;
  pacs_.after_each = [&](int delivered) {
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < until) {
      {
        std::lock_guard<std::mutex> lock(relay_.mu);
        if (static_cast<int>(relay_.stored.size()) >= delivered) {
          seen_at_relay_during_move = delivered;
          return;
        }
      }
      std::this_thread::sleep_for(5ms);
    }
  };
  const JobRecord job = RunToEnd(Send());
  EXPECT_EQ(job.stage, stage::kCleaned) << job.last_error;
  EXPECT_EQ(seen_at_relay_during_move, 5);
  EXPECT_EQ(deid_.calls, 5);
  EXPECT_EQ(relay_.upload_calls, 5);
  EXPECT_EQ(relay_.commit_calls, 1);
  ASSERT_EQ(poster_.posts.size(), 1u);
}

TEST_F(PipelineTest, PostCarriesTheCardFactsAndThePatientRouteKey) {
  const JobId id = Send();
  const JobRecord job = RunToEnd(id);
  EXPECT_EQ(job.stage, stage::kCleaned) << job.last_error;
  ASSERT_EQ(poster_.posts.size(), 1u);
  const LinkPost& p = poster_.posts[0];
  EXPECT_EQ(p.series, 2) << "the fake PACS holds two series";
  EXPECT_EQ(p.instances, 5);
  EXPECT_EQ(p.modality, "CT");
  EXPECT_EQ(p.body_part, "CHEST");
  EXPECT_EQ(p.study_description, "CT chest");
  EXPECT_EQ(p.study_date, "20261120");
  EXPECT_EQ(p.study_time, "031400");
  EXPECT_EQ(p.deid_study_uid, "2.25.1000");
  EXPECT_EQ(p.patient_key, "hmac-of-the-patient");
  auto facts = store_->GetCardFacts(id);
  ASSERT_TRUE(facts.ok());
  EXPECT_EQ(facts->patient_key, "") << "the route key is forgotten when the job is cleaned";
  EXPECT_EQ(facts->body_part, "CHEST");
  EXPECT_EQ(log_.text().find("hmac-of-the-patient"), std::string::npos);
}

TEST_F(PipelineTest, PartialMoveReRequestsOnlyTheMissingInstances) {
  pacs_.skip_first_move = {"1.2.826.0.1.3680043.99.1.1.2", "1.2.826.0.1.3680043.99.1.2.1"};
  const JobRecord job = RunToEnd(Send());
  EXPECT_EQ(job.stage, stage::kCleaned) << job.last_error;
  EXPECT_EQ(job.move_rounds, 2);
  EXPECT_EQ(pacs_.moves, 3);  // one study-level move, then one per series with missing instances
  EXPECT_EQ(relay_.stored.size(), 5u);
}

TEST_F(PipelineTest, InstancesThePacsNeverSendsFailTheJobWithACount) {
  pacs_.never_send = {"1.2.826.0.1.3680043.99.1.1.3", "1.2.826.0.1.3680043.99.1.2.2"};
  const JobRecord job = RunToEnd(Send());
  EXPECT_EQ(job.stage, stage::kFailed);
  EXPECT_EQ(job.last_error,
            "not_found: 2 of 5 instances still missing after 3 C-MOVE requests (the PACS listed "
            "them but did not send them)");
  // What did arrive was streamed (de-identified, maybe uploaded) but never committed: the relay
  // deletes such uploads as abandoned.
  EXPECT_EQ(relay_.commit_calls, 0);
  EXPECT_TRUE(poster_.posts.empty());
}

TEST_F(PipelineTest, BusyPacsIsRetriedWithBackoff) {
  pacs_.busy_moves = 2;
  const JobRecord job = RunToEnd(Send());
  EXPECT_EQ(job.stage, stage::kCleaned) << job.last_error;
  EXPECT_EQ(pacs_.moves, 3);
}

TEST_F(PipelineTest, RelayFailuresAreRetriedWithoutDuplicatesAndOneCommit) {
  relay_.fail_uploads = 3;
  relay_.fail_commits = 1;
  poster_.fail = 2;
  const JobRecord job = RunToEnd(Send());
  EXPECT_EQ(job.stage, stage::kCleaned) << job.last_error;
  EXPECT_EQ(relay_.stored.size(), 5u);
  EXPECT_EQ(relay_.upload_calls, 5 + 3);  // each failure costs one call, nothing re-uploaded
  EXPECT_EQ(relay_.committed.size(), 1u);
  EXPECT_EQ(poster_.posts.size(), 1u);
}

TEST_F(PipelineTest, ThreadWithoutAccessCodesCommitsWithoutOne) {
  const JobRecord job = RunToEnd(Send());
  EXPECT_EQ(job.stage, stage::kCleaned) << job.last_error;
  EXPECT_EQ(job.access_code, "");
  EXPECT_EQ(relay_.commit_access_codes, std::vector<std::string>{""});
}

TEST_F(PipelineTest, ThreadWithAccessCodesCommitsEveryAttemptWithTheJobsOneCode) {
  access_code_threads_ = {"cardio"};
  Build();
  relay_.fail_commits = 1;
  const JobId id = Send();
  // The first commit fails; the gateway restarts before the retry: the code was recorded.
  for (int i = 0; i < 200 && relay_.commit_calls == 0; ++i) {
    auto ran = engine_->RunOnceForTest();
    ASSERT_TRUE(ran.ok()) << ran.status();
    if (!*ran) clock_.Advance(500ms);
  }
  ASSERT_EQ(relay_.commit_calls, 1);
  Build();
  const JobRecord job = RunToEnd(id);
  EXPECT_EQ(job.stage, stage::kCleaned) << job.last_error;
  ASSERT_EQ(relay_.commit_access_codes.size(), 2u);
  const std::string code = relay_.commit_access_codes[0];
  EXPECT_EQ(code.size(), 6u);
  EXPECT_EQ(code.find_first_not_of("0123456789"), std::string::npos) << code;
  EXPECT_EQ(relay_.commit_access_codes[1], code);
  EXPECT_EQ(job.access_code, code);
  // The code is for the sender only: not in the card, not in the log.
  ASSERT_EQ(poster_.posts.size(), 1u);
  EXPECT_EQ(poster_.posts[0].viewer_url.find(code), std::string::npos);
  EXPECT_EQ(poster_.posts[0].note.find(code), std::string::npos);
  EXPECT_EQ(log_.text().find(code), std::string::npos);
}

TEST(NewAccessCode, SixDigitsEveryDigitDrawn) {
  std::set<char> seen;
  std::set<std::string> codes;
  for (int i = 0; i < 200; ++i) {
    auto code = NewAccessCode();
    ASSERT_TRUE(code.ok()) << code.status();
    ASSERT_EQ(code->size(), 6u);
    ASSERT_EQ(code->find_first_not_of("0123456789"), std::string::npos) << *code;
    seen.insert(code->begin(), code->end());
    codes.insert(*code);
  }
  EXPECT_EQ(seen.size(), 10u);
  EXPECT_GT(codes.size(), 190u);  // 200 draws from 10^6: repeats are rare
}

TEST_F(PipelineTest, RestartAfterCommitPostsTheLinkOnce) {
  const JobId id = Send();
  // Run until committed, then "crash": new engine, pipeline and intake on the same database.
  for (int i = 0; i < 100 && store_->GetJob(id)->stage != stage::kCommitted; ++i) {
    ASSERT_TRUE(engine_->RunOnceForTest().ok());
  }
  ASSERT_EQ(store_->GetJob(id)->stage, stage::kCommitted);
  // Deleted beside the post, not before it: no step runs here.
  pipeline_->WaitForSpoolDeletionsForTest();
  EXPECT_EQ(SpoolFiles(), 0) << "identified files must go once the relay holds the study";
  engine_.reset();
  Build();
  const JobRecord job = RunToEnd(id);
  EXPECT_EQ(job.stage, stage::kCleaned);
  EXPECT_EQ(relay_.commit_calls, 1);
  EXPECT_EQ(poster_.posts.size(), 1u);
}

TEST_F(PipelineTest, SpoolFilesGoAfterTheCommitWhileThePostKeepsFailing) {
  const JobId id = Send();
  for (int i = 0; i < 100 && store_->GetJob(id)->stage != stage::kCommitted; ++i) {
    ASSERT_TRUE(engine_->RunOnceForTest().ok());
  }
  ASSERT_EQ(store_->GetJob(id)->stage, stage::kCommitted);
  poster_.fail = 100;
  ASSERT_TRUE(engine_->RunOnceForTest().ok());  // the post fails and is retried later
  EXPECT_EQ(store_->GetJob(id)->stage, stage::kCommitted);
  EXPECT_TRUE(poster_.posts.empty());
  pipeline_->WaitForSpoolDeletionsForTest();
  EXPECT_EQ(SpoolFiles(), 0) << "identified files kept while the link could not be posted";
}

TEST_F(PipelineTest, PlatformRetryAfterDelaysTheNextPost) {
  const JobId id = Send();
  for (int i = 0; i < 100 && store_->GetJob(id)->stage != stage::kCommitted; ++i) {
    ASSERT_TRUE(engine_->RunOnceForTest().ok());
  }
  ASSERT_EQ(store_->GetJob(id)->stage, stage::kCommitted);
  poster_.fail = 1;
  poster_.retry_after = 42s;
  const auto before = clock_.SystemNow();
  ASSERT_TRUE(engine_->RunOnceForTest().ok());
  const JobRecord job = *store_->GetJob(id);
  EXPECT_EQ(job.stage, stage::kCommitted);
  EXPECT_EQ(job.next_attempt_at_ms,
            std::chrono::duration_cast<std::chrono::milliseconds>((before + 42s).time_since_epoch())
                .count())
      << "the platform's Retry-After, not the engine's backoff";
  EXPECT_EQ(RunToEnd(id).stage, stage::kCleaned);
  EXPECT_EQ(poster_.posts.size(), 1u);
}

TEST_F(PipelineTest, RunningAStepAgainIsHarmless) {
  const JobId id = Send();
  for (int i = 0; i < 100 && store_->GetJob(id)->stage != stage::kDeidentified; ++i) {
    ASSERT_TRUE(engine_->RunOnceForTest().ok());
  }
  // A stale worker replays the de-identification and retrieve steps: no state change.
  EXPECT_EQ(pipeline_->RunStep(jobs::Lease{id, stage::kDeidentified, 1}).kind(),
            jobs::StepResult::Kind::kDone);
  const JobRecord job = RunToEnd(id);
  EXPECT_EQ(job.stage, stage::kCleaned);
  EXPECT_EQ(relay_.stored.size(), 5u);
  EXPECT_EQ(deid_.calls, 5);
}

TEST_F(PipelineTest, RefusedDeidentificationFailsTheJobAndUploadsNothing) {
  deid_.refuse = {"1.2.826.0.1.3680043.99.1.2.1"};
  const JobRecord job = RunToEnd(Send());
  EXPECT_EQ(job.stage, stage::kFailed);
  EXPECT_EQ(job.failed_stage, stage::kReceived);
  EXPECT_NE(job.last_error.find("deidentification_refused"), std::string::npos) << job.last_error;
  // The refused instance itself never leaves; the others may have been uploaded while it was
  // refused, but the study is never committed and no link is posted.
  for (const auto& [sop, content] : relay_.stored) {
    EXPECT_EQ(content.find("1.2.826.0.1.3680043.99.1.2.1"), std::string::npos);
  }
  EXPECT_EQ(relay_.commit_calls, 0);
  EXPECT_TRUE(poster_.posts.empty());
}

TEST_F(PipelineTest, PushedStudyWaitsForTheQuietPeriodThenIsSent) {
  routes_ = {Route{"cardio", "GW", "", "", ""}};
  Build();
  ReceivedInstance in;
  in.called_ae_title = "GW";
  in.calling_ae_title = "MODALITY";
  in.study_uid = kStudy;
  in.series_uid = "1.2.826.0.1.3680043.99.1.1";
  in.modality = "CT";
  JobId id;
  for (const std::string sop : {"1.2.826.0.1.3680043.99.1.1.1", "1.2.826.0.1.3680043.99.1.1.2",
                                "1.2.826.0.1.3680043.99.1.1.3"}) {
    in.sop_uid = sop;
    in.file = incoming_ / "x.part";
    WriteFile(in.file, std::string("DICM|") + kPatientId + "|" + sop);
    ASSERT_TRUE(intake_->CheckCanReceive().ok());
    ASSERT_TRUE(intake_->OnReceived(in).ok());
  }
  auto jobs = store_->ListJobs(10);
  ASSERT_EQ(jobs->size(), 1u);
  id = jobs->front().id;
  EXPECT_EQ(jobs->front().kind, JobKind::kPush);
  ASSERT_TRUE(engine_->RunOnceForTest().ok());
  EXPECT_EQ(store_->GetJob(id)->stage, stage::kCollecting);  // quiet period not over
  // The PACS has the whole study (5 instances): reconciliation fetches the 2 missing ones.
  const JobRecord job = RunToEnd(id);
  EXPECT_EQ(job.stage, stage::kCleaned) << job.last_error;
  EXPECT_EQ(relay_.stored.size(), 5u);
  EXPECT_EQ(pacs_.moves, 1);  // one instance-level move for the one series with missing ones
  EXPECT_EQ(poster_.posts.size(), 1u);
  EXPECT_EQ(poster_.posts[0].thread, "cardio");
}

TEST_F(PipelineTest, PushWithoutAMatchingRouteIsRefusedAndNotKept) {
  routes_ = {Route{"cardio", "GW", "", "XA", ""}};
  Build();
  ReceivedInstance in;
  in.called_ae_title = "GW";
  in.study_uid = kStudy;
  in.series_uid = "s";
  in.sop_uid = "1.2.826.0.1.3680043.99.1.1.1";
  in.modality = "CT";
  in.file = incoming_ / "x.part";
  WriteFile(in.file, "DICM");
  EXPECT_EQ(intake_->OnReceived(in).code(), common::ErrorCode::kNotFound);
  EXPECT_EQ(SpoolFiles(), 0);
  EXPECT_EQ(metrics_.intake_refused_no_route, 1u);
}

TEST_F(PipelineTest, FullSpoolStopsIntakeWithDiskFull) {
  fs_.free_space = 10 << 20;
  common::Status st = intake_->CheckCanReceive();
  EXPECT_EQ(st.code(), common::ErrorCode::kDiskFull);
  EXPECT_EQ(st.message(),
            "spool has 10 MiB free, below spool_min_free (1024 MiB): intake stopped until space "
            "is freed");
  EXPECT_TRUE(st.retryable());
}

TEST_F(PipelineTest, SpoolCeilingDeletesOldIdentifiedFilesAndFailsTheirJob) {
  pacs_.never_send = {"1.2.826.0.1.3680043.99.1.1.3"};
  const JobId id = Send();
  ASSERT_TRUE(engine_->RunOnceForTest().ok());  // listed and moved, one missing: waiting
  ASSERT_EQ(store_->GetJob(id)->stage, stage::kRetrieving);
  ASSERT_EQ(SpoolFiles(), 4);
  for (auto& e : fs::recursive_directory_iterator(spool_)) {
    if (e.is_regular_file()) {
      fs::last_write_time(e.path(), fs::file_time_type::clock::now() - 25h);
    }
  }
  auto deleted = pipeline_->SweepSpool();
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(*deleted, 4);
  EXPECT_EQ(SpoolFiles(), 0);
  const JobRecord job = *store_->GetJob(id);
  EXPECT_EQ(job.stage, stage::kFailed);
  EXPECT_NE(job.last_error.find("spool ceiling"), std::string::npos);
}

}  // namespace
}  // namespace tsunagu::gateway

namespace tsunagu::gateway {
namespace {

TEST_F(PipelineTest, CommitRefusedForAMissingUploadReuploadsAndCommitsOnce) {
  const JobId id = Send();
  for (int i = 0; i < 100 && store_->GetJob(id)->stage != stage::kUploaded; ++i) {
    ASSERT_TRUE(engine_->RunOnceForTest().ok());
  }
  ASSERT_EQ(store_->GetJob(id)->stage, stage::kUploaded);
  // The relay was killed and lost one upload it had acknowledged.
  relay_.stored.erase(relay_.stored.begin());
  const JobRecord job = RunToEnd(id);
  EXPECT_EQ(job.stage, stage::kCleaned) << job.last_error;
  EXPECT_EQ(relay_.stored.size(), 5u);
  EXPECT_EQ(relay_.committed.size(), 1u);
  EXPECT_EQ(relay_.commit_calls, 2);
  EXPECT_EQ(poster_.posts.size(), 1u);
}

}  // namespace
}  // namespace tsunagu::gateway

namespace tsunagu::gateway {
namespace {

TEST_F(PipelineTest, CommitNamingALostInstanceReuploadsOnlyThatOneAndCommitsAgain) {
  relay_.relay_lost_message = true;
  const JobId id = Send();
  for (int i = 0; i < 100 && store_->GetJob(id)->stage != stage::kUploaded; ++i) {
    ASSERT_TRUE(engine_->RunOnceForTest().ok());
  }
  ASSERT_EQ(store_->GetJob(id)->stage, stage::kUploaded);
  // The relay's host restarted before its sync and lost two instances it had acknowledged.
  relay_.stored.erase(std::next(relay_.stored.begin(), 3));
  relay_.stored.erase(relay_.stored.begin());
  const int uploads_before = relay_.upload_calls;
  // One commit step: commit, re-upload, commit, re-upload, commit.
  ASSERT_TRUE(engine_->RunOnceForTest().ok());
  const JobRecord job = *store_->GetJob(id);
  EXPECT_EQ(job.stage, stage::kCommitted) << job.last_error;
  EXPECT_EQ(relay_.upload_calls - uploads_before, 2);
  EXPECT_EQ(relay_.commit_calls, 3);
  EXPECT_EQ(relay_.stored.size(), 5u);
  EXPECT_EQ(relay_.committed.size(), 1u);
  EXPECT_EQ(RunToEnd(id).stage, stage::kCleaned);
  EXPECT_EQ(poster_.posts.size(), 1u);
}

TEST_F(PipelineTest, CommitNamingALostInstanceThatCannotBeUploadedIsRetried) {
  relay_.relay_lost_message = true;
  const JobId id = Send();
  for (int i = 0; i < 100 && store_->GetJob(id)->stage != stage::kUploaded; ++i) {
    ASSERT_TRUE(engine_->RunOnceForTest().ok());
  }
  relay_.stored.erase(relay_.stored.begin());
  relay_.fail_uploads = 1;  // the relay is down again when the lost instance is re-sent
  ASSERT_TRUE(engine_->RunOnceForTest().ok());
  EXPECT_EQ(store_->GetJob(id)->stage, stage::kUploaded);
  const JobRecord job = RunToEnd(id);
  EXPECT_EQ(job.stage, stage::kCleaned) << job.last_error;
  EXPECT_EQ(relay_.stored.size(), 5u);
  EXPECT_EQ(relay_.committed.size(), 1u);
}

TEST(JobLeaseTest, LeaseOutlastsTheMoveDeadlineAndTheStreamedWorkAfterIt) {
  PipelineOptions o;
  EXPECT_EQ(o.move_deadline, std::chrono::minutes(30));
  EXPECT_GE(JobLeaseFor(o), o.move_deadline + std::chrono::minutes(10));
  o.move_deadline = std::chrono::hours(2);
  EXPECT_GE(JobLeaseFor(o), o.move_deadline + std::chrono::minutes(10));
  o.move_deadline = std::chrono::seconds(10);
  EXPECT_GE(JobLeaseFor(o), std::chrono::minutes(10)) << "never shorter than the engine default";
}

TEST_F(PipelineTest, NoOtherWorkerTakesAJobWhileItsMoveMayStillRun) {
  PipelineOptions o;  // the default 30 minute move deadline
  const JobId id = Send();
  auto first = store_->Claim("w1", clock_.SystemNow(), JobLeaseFor(o));
  ASSERT_TRUE(first.ok() && first->has_value());
  EXPECT_EQ((*first)->id, id);
  clock_.Advance(o.move_deadline + std::chrono::minutes(5));
  auto second = store_->Claim("w2", clock_.SystemNow(), JobLeaseFor(o));
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->has_value());
}

TEST_F(PipelineTest, LostSpoolFilesOfASendAreFetchedAgain) {
  // Without streaming, so that the instances are still waiting for de-identification when the
  // power cut hits (as after a crash that stopped the stream).
  stream_ = false;
  Build();
  const JobId id = Send();
  for (int i = 0; i < 100 && store_->GetJob(id)->stage != stage::kReceived; ++i) {
    ASSERT_TRUE(engine_->RunOnceForTest().ok());
  }
  ASSERT_EQ(store_->GetJob(id)->stage, stage::kReceived);
  // A power cut lost two files that were renamed into the spool but not fsynced.
  auto instances = store_->ListInstances(id);
  fs::remove(instances->at(0).spool_path);
  fs::remove(instances->at(3).spool_path);
  const JobRecord job = RunToEnd(id);
  EXPECT_EQ(job.stage, stage::kCleaned) << job.last_error;
  EXPECT_EQ(relay_.stored.size(), 5u);
  EXPECT_EQ(job.move_rounds, 2);
}

}  // namespace
}  // namespace tsunagu::gateway

namespace tsunagu::gateway {
namespace {

TEST(RedactLinkToken, KeepsHostAndKindButNotTheToken) {
  EXPECT_EQ(RedactLinkToken("https://relay.example:8443/v/AbC-tok3n_xyz"),
            "https://relay.example:8443/v/<redacted>");
  EXPECT_EQ(RedactLinkToken("https://relay.example/thumb/s3cr3t.jpg"),
            "https://relay.example/thumb/<redacted>");
  EXPECT_EQ(RedactLinkToken("https://relay.example/other/s3cr3t"),
            "https://relay.example/<redacted>");
  EXPECT_EQ(RedactLinkToken(""), "");
}

}  // namespace
}  // namespace tsunagu::gateway

namespace tsunagu::gateway {
namespace {

std::set<std::string> StoredSops(const FakeRelay& relay) {
  std::set<std::string> out;
  for (const auto& [sop, content] : relay.stored) out.insert(sop);
  return out;
}

// Site-secret rotation (docs/operations.md): a study first sent under the old secret keeps its
// de-identified UIDs when sent again after the rotation; the job records which secret it used.
TEST_F(PipelineTest, StudySentAgainAfterSecretRotationKeepsItsUids) {
  generations_ = {{"old-secret-id", &keyer_, &deid_}};
  Build();
  const JobId first = Send();
  ASSERT_EQ(RunToEnd(first).stage, stage::kCleaned);
  const std::set<std::string> before = StoredSops(relay_);
  ASSERT_EQ(before.size(), 5u);
  EXPECT_EQ(*store_->GetSecretGeneration(first), "old-secret-id");

  // Rotate: a new secret (new spool key, new de-identifier), the old one retained.
  const UidKeyer old_keyer = keyer_;
  keyer_ = UidKeyer("spool-key-after-rotation");
  FakeDeidentifier new_deid;
  new_deid.secret = "new";
  generations_ = {{"new-secret-id", &keyer_, &new_deid}, {"old-secret-id", &old_keyer, &deid_}};
  Build();
  ASSERT_EQ(*pipeline_->AdoptCurrentSecret(), 0) << "nothing was in flight";
  relay_.stored.clear();
  const JobId again = Send();
  ASSERT_NE(again, first);
  EXPECT_NE(store_->GetJob(again)->study_key, store_->GetJob(first)->study_key);
  ASSERT_EQ(RunToEnd(again).stage, stage::kCleaned);
  EXPECT_EQ(StoredSops(relay_), before) << "same de-identified UIDs as the first send";
  EXPECT_EQ(new_deid.calls, 0);
  EXPECT_EQ(*store_->GetSecretGeneration(again), "old-secret-id");
  EXPECT_NE(log_.text().find("deidentify.previous_secret job=" + std::to_string(again.value())),
            std::string::npos);

  // A third send keeps the old secret too (found through the second job's new key as well).
  relay_.stored.clear();
  const JobId third = Send();
  ASSERT_EQ(RunToEnd(third).stage, stage::kCleaned);
  EXPECT_EQ(StoredSops(relay_), before);

  // Once the old secret is dropped, the study is mapped under the new one.
  generations_ = {{"new-secret-id", &keyer_, &new_deid}};
  Build();
  relay_.stored.clear();
  const JobId after_drop = Send();
  ASSERT_EQ(RunToEnd(after_drop).stage, stage::kCleaned);
  EXPECT_EQ(relay_.stored.size(), 5u);
  for (const std::string& sop : StoredSops(relay_)) EXPECT_EQ(before.count(sop), 0u) << sop;
  EXPECT_EQ(*store_->GetSecretGeneration(after_drop), "new-secret-id");
}

TEST_F(PipelineTest, StudyNeverSentBeforeUsesTheCurrentSecret) {
  const UidKeyer old_keyer("spool-key-before-rotation");
  FakeDeidentifier new_deid;
  new_deid.secret = "new";
  generations_ = {{"new-secret-id", &keyer_, &new_deid}, {"old-secret-id", &old_keyer, &deid_}};
  Build();
  const JobId id = Send();
  ASSERT_EQ(RunToEnd(id).stage, stage::kCleaned);
  EXPECT_EQ(deid_.calls, 0);
  EXPECT_EQ(new_deid.calls, 5);
  EXPECT_EQ(*store_->GetSecretGeneration(id), "new-secret-id");
}

// A send in flight when the gateway restarts with a new secret: it is moved to the new spool
// key (so the instances the PACS sends join it) and finishes under the secret it started with.
TEST_F(PipelineTest, JobInFlightAtRotationIsRekeyedAndKeepsItsSecret) {
  generations_ = {{"old-secret-id", &keyer_, &deid_}};
  Build();
  const JobId id = Send();  // created under the old spool key, not run yet
  const UidKeyer old_keyer = keyer_;
  keyer_ = UidKeyer("spool-key-after-rotation");
  FakeDeidentifier new_deid;
  new_deid.secret = "new";
  generations_ = {{"new-secret-id", &keyer_, &new_deid}, {"old-secret-id", &old_keyer, &deid_}};
  Build();
  ASSERT_EQ(*pipeline_->AdoptCurrentSecret(), 1);
  EXPECT_EQ(store_->GetJob(id)->study_key, keyer_.Key(kStudy));
  EXPECT_EQ(*store_->GetSecretGeneration(id), "old-secret-id");
  const JobRecord job = RunToEnd(id);
  ASSERT_EQ(job.stage, stage::kCleaned) << job.last_error;
  EXPECT_EQ(relay_.stored.size(), 5u);
  EXPECT_EQ(new_deid.calls, 0);
  EXPECT_GE(deid_.calls, 5);
  EXPECT_EQ(*pipeline_->AdoptCurrentSecret(), 0) << "a second start has nothing to move";
}

// `cancel JOB` while a worker holds the job in a long C-MOVE: the worker stops after the
// instance in flight, cancels the job, deletes its spool and outbox, and posts nothing.
TEST_F(PipelineTest, CancelRequestedDuringTheMoveStopsItAndCleansUp) {
  const JobId id = Send();
  pacs_.after_each = [&](int delivered) {
    if (delivered == 2) {
      EXPECT_EQ(store_->Cancel(id, clock_.SystemNow()).status().code(),
                common::ErrorCode::kUnavailable)
          << "the worker holds the lease";
      EXPECT_TRUE(store_->RequestCancel(id).ok());
    }
  };
  const JobRecord job = RunToEnd(id);
  EXPECT_EQ(job.stage, stage::kCleaned);
  EXPECT_EQ(job.last_error.rfind("cancelled:", 0), 0u) << job.last_error;
  EXPECT_EQ(job.failed_stage, stage::kRetrieving);
  EXPECT_EQ(store_->Progress(id)->received, 2) << "the move stopped after the second instance";
  EXPECT_EQ(pacs_.moves, 1);
  EXPECT_EQ(SpoolFiles(), 0);
  EXPECT_FALSE(fs::exists(dir_.path() / "outbox" / std::to_string(id.value())));
  EXPECT_TRUE(poster_.posts.empty());
  EXPECT_TRUE(relay_.committed.empty());
  EXPECT_EQ(job.study_uid, "") << "identifiers forgotten";
  EXPECT_NE(log_.text().find("job.cancelled job=" + std::to_string(id.value())), std::string::npos);
  EXPECT_EQ(store_->RequestCancel(id).code(), common::ErrorCode::kFailedPrecondition);
}

// A cancel requested between stages (the worker took the job again) ends it before the next one.
TEST_F(PipelineTest, CancelRequestedBetweenStagesEndsTheJobAtTheNextStep) {
  const JobId id = Send();
  for (int i = 0; i < 100 && store_->GetJob(id)->stage != stage::kDeidentified; ++i) {
    ASSERT_TRUE(engine_->RunOnceForTest().ok());
  }
  ASSERT_EQ(store_->GetJob(id)->stage, stage::kDeidentified);
  ASSERT_TRUE(store_->RequestCancel(id).ok());
  EXPECT_TRUE(*store_->IsCancelRequested(id));
  const JobRecord job = RunToEnd(id);
  EXPECT_EQ(job.stage, stage::kCleaned);
  EXPECT_EQ(job.last_error.rfind("cancelled:", 0), 0u) << job.last_error;
  EXPECT_TRUE(relay_.committed.empty());
  EXPECT_TRUE(poster_.posts.empty());
  EXPECT_EQ(SpoolFiles(), 0);
}

// A cancel requested while the upload step runs stops it after the batch in flight.
TEST_F(PipelineTest, CancelRequestedDuringUploadsStopsAfterTheBatch) {
  stream_ = false;          // stage after stage, so that the upload step uploads all five
  upload_connections_ = 1;  // one batch after another
  Build();
  const JobId id = Send();
  for (int i = 0; i < 100 && store_->GetJob(id)->stage != stage::kDeidentified; ++i) {
    ASSERT_TRUE(engine_->RunOnceForTest().ok());
  }
  ASSERT_EQ(store_->GetJob(id)->stage, stage::kDeidentified);
  // The first upload asks for the cancel, as an operator would while the step runs.
  relay_.on_upload = [&] { EXPECT_TRUE(store_->RequestCancel(id).ok()); };
  const JobRecord job = RunToEnd(id);
  EXPECT_EQ(job.stage, stage::kCleaned);
  EXPECT_EQ(job.last_error.rfind("cancelled:", 0), 0u) << job.last_error;
  EXPECT_EQ(relay_.upload_calls, 2) << "stopped after the first batch (batch size 2)";
  EXPECT_TRUE(relay_.committed.empty());
  EXPECT_TRUE(poster_.posts.empty());
}

TEST(PatientKeys, JoinAndSplitRoundTrip) {
  EXPECT_EQ(JoinPatientKeys("aa", {}), "aa");
  EXPECT_EQ(JoinPatientKeys("aa", {"bb", "", "cc"}), "aa,bb,cc");
  EXPECT_EQ(JoinPatientKeys("", {"bb"}), "") << "no Patient ID, no route";
  EXPECT_EQ(SplitPatientKeys("aa,bb,cc"), (std::vector<std::string>{"aa", "bb", "cc"}));
  EXPECT_EQ(SplitPatientKeys("aa"), (std::vector<std::string>{"aa"}));
  EXPECT_EQ(SplitPatientKeys(""), (std::vector<std::string>{""}));
  EXPECT_EQ(SecretGenerationId("a").size(), 16u);
  EXPECT_NE(SecretGenerationId("a"), SecretGenerationId("b"));
}

}  // namespace
}  // namespace tsunagu::gateway
