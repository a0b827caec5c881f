#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>

#include "tsunagu/common/logging.h"
#include "tsunagu/gateway/stage_adapters.h"
#include "tsunagu/ipsec/tunnel_monitor.h"

namespace tsunagu::gateway {
namespace {

using namespace std::chrono_literals;

class FakeMonitor final : public ipsec::TunnelMonitor {
 public:
  explicit FakeMonitor(int* calls, bool* up) : calls_(calls), up_(up) {}
  common::Result<ipsec::TunnelState> Check() override {
    ++*calls_;
    if (*up_) return ipsec::TunnelState{true, "child SA tsunagu-upload INSTALLED"};
    return ipsec::TunnelState{false, "no IKE SA"};
  }

 private:
  int* calls_;
  bool* up_;
};

class CountingUploader final : public StudyUploader {
 public:
  explicit CountingUploader(int* uploads) : uploads_(uploads) {}
  common::Status Upload(const std::string&, const std::string&,
                        const std::filesystem::path&) override {
    ++*uploads_;
    return common::Status::Ok();
  }
  common::Result<CommitOutcome> Commit(const std::string&, const std::vector<UploadedInstance>&,
                                       const std::string&, std::optional<std::chrono::milliseconds>,
                                       const std::string&) override {
    ++*uploads_;
    return CommitOutcome{"https://relay.example/v/x", "2026-11-25T00:00:00Z", false};
  }

 private:
  int* uploads_;
};

class TunnelGuardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    guard_ = MakeTunnelGuardedUploader(
        std::make_unique<CountingUploader>(&uploads_),
        std::make_unique<FakeMonitor>(&checks_, &up_), clock_, 1s, &metrics_,
        common::MakeLogger("test", {std::make_shared<spdlog::sinks::null_sink_mt>()},
                           spdlog::level::off));
  }

  int uploads_ = 0;
  int checks_ = 0;
  bool up_ = false;
  PipelineMetrics metrics_;
  std::shared_ptr<common::FakeClock> clock_ = std::make_shared<common::FakeClock>();
  std::unique_ptr<StudyUploader> guard_;
};

TEST_F(TunnelGuardTest, TunnelDownSendsNothingAndIsRetryableWithTheReason) {
  common::Status s = guard_->Upload("2.25.1", "2.25.2", "/nonexistent");
  EXPECT_EQ(s.code(), common::ErrorCode::kUnavailable);
  EXPECT_TRUE(s.retryable());
  EXPECT_EQ(s.message(), "IPsec tunnel to relay is down (no IKE SA)");
  EXPECT_FALSE(guard_->Commit("2.25.1", {}, "t", std::nullopt, "").ok());
  EXPECT_EQ(uploads_, 0) << "no upload may leave while the tunnel is down";
  EXPECT_EQ(metrics_.ipsec_tunnel_up.load(), 0);
}

TEST_F(TunnelGuardTest, ResumesWhenTheTunnelComesBack) {
  EXPECT_FALSE(guard_->Upload("2.25.1", "2.25.2", "/x").ok());
  up_ = true;
  EXPECT_FALSE(guard_->Upload("2.25.1", "2.25.2", "/x").ok()) << "the answer is cached for 1 s";
  clock_->Advance(1s);
  EXPECT_TRUE(guard_->Upload("2.25.1", "2.25.2", "/x").ok());
  EXPECT_TRUE(guard_->Commit("2.25.1", {}, "t", std::nullopt, "").ok());
  EXPECT_EQ(uploads_, 2);
  EXPECT_EQ(metrics_.ipsec_tunnel_up.load(), 1);
}

TEST_F(TunnelGuardTest, AsksStrongSwanAtMostOncePerInterval) {
  up_ = true;
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(guard_->Upload("2.25.1", "2.25.2", "/x").ok());
  EXPECT_EQ(checks_, 1);
  clock_->Advance(1s);
  ASSERT_TRUE(guard_->Upload("2.25.1", "2.25.2", "/x").ok());
  EXPECT_EQ(checks_, 2);
}

TEST_F(TunnelGuardTest, TunnelDropsMidSend) {
  up_ = true;
  ASSERT_TRUE(guard_->Upload("2.25.1", "2.25.2", "/x").ok());
  up_ = false;
  clock_->Advance(1s);
  common::Status s = guard_->Upload("2.25.1", "2.25.3", "/x");
  EXPECT_EQ(s.message(), "IPsec tunnel to relay is down (no IKE SA)");
  EXPECT_EQ(uploads_, 1);
  EXPECT_EQ(metrics_.ipsec_tunnel_up.load(), 0);
}

}  // namespace
}  // namespace tsunagu::gateway
