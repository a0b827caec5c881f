// The relay's server code in-process with a FakeClock, over real TLS on 127.0.0.1: expiry and
// throttling windows are tested by moving the clock, not by sleeping.
#include <gtest/gtest.h>

#include "http_server.h"
#include "relay_service.h"
#include "relay_test_env.h"
#include "tsunagu/common/crypto.h"
#include "tsunagu/common/logging.h"
#include "tsunagu/relay/relay_client.h"
#include "tsunagu/retention/study_store.h"

namespace tsunagu::relay {
namespace {

using std::chrono::hours;
using std::chrono::seconds;

class RelayInProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir(std::string("inproc_") +
                                ::testing::UnitTest::GetInstance()->current_test_info()->name());
    pki_ = testing::TestPki::Create(dir_ / "pki");
    clock_ = std::make_shared<common::FakeClock>(
        std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now()));
    logger_ = common::MakeLogger("relay", {}, spdlog::level::off);
    retention::StoreOptions so;
    so.data_directory = dir_ / "data";
    so.key_directory = dir_ / "keys";
    so.retention = hours(72);
    auto store = retention::StudyStore::Open(so, {clock_, logger_});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    upload_port_ = testing::FreePort();
    viewer_port_ = testing::FreePort();
    RelayServiceOptions ro;
    ro.public_url = "https://127.0.0.1:" + std::to_string(viewer_port_);
    service_ = std::make_shared<RelayService>(ro, RelayServiceDeps{store_, clock_, logger_});
    TlsListenerOptions up{"127.0.0.1", upload_port_,     pki_.server_cert, pki_.server_key,
                          pki_.ca,     {"gateway.test"}, 8 << 20,          nullptr};
    TlsListenerOptions view{"127.0.0.1", viewer_port_, pki_.server_cert, pki_.server_key,
                            {},          {},           64 << 10,         nullptr};
    auto s1 = MakeHttpsServer(
        up, [this](const HttpRequest& r) { return service_->HandleUpload(r); }, logger_);
    auto s2 = MakeHttpsServer(
        view, [this](const HttpRequest& r) { return service_->HandleViewer(r); }, logger_);
    ASSERT_TRUE(s1.ok() && s2.ok());
    upload_ = std::move(*s1);
    viewer_ = std::move(*s2);
    ASSERT_TRUE(upload_->Start().ok());
    ASSERT_TRUE(viewer_->Start().ok());
    RelayClientOptions co;
    co.base_url = "https://127.0.0.1:" + std::to_string(upload_port_);
    co.ca_file = pki_.ca;
    co.client_cert_file = pki_.gateway_cert;
    co.client_key_file = pki_.gateway_key;
    co.timeout = seconds(10);
    co.chunk_size = 4096;
    auto client = MakeHttpsRelayClient(co, {clock_, logger_, [](auto) {}});
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(*client);
  }
  void TearDown() override {
    upload_.reset();
    viewer_.reset();
    service_.reset();  // joins the viewer preparation thread before its files go
    std::filesystem::remove_all(dir_);
  }
  int View(const std::string& path) {
    return testing::Https("GET", "https://127.0.0.1:" + std::to_string(viewer_port_) + path, {}, "",
                          pki_.ca)
        .status;
  }

  std::filesystem::path dir_;
  testing::TestPki pki_;
  std::shared_ptr<common::FakeClock> clock_;
  std::shared_ptr<spdlog::logger> logger_;
  std::shared_ptr<retention::StudyStore> store_;
  std::shared_ptr<RelayService> service_;
  std::uint16_t upload_port_ = 0, viewer_port_ = 0;
  std::unique_ptr<HttpServer> upload_, viewer_;
  std::unique_ptr<RelayClient> client_;
};

TEST_F(RelayInProcessTest, ExpiryWithFakeClockClosesTheLinkBeforeAnyPurge) {
  const std::string study = "1.2.826.0.1.3680043.10.20";
  const std::string sop = study + ".1.1";
  const auto path = dir_ / "a.dcm";
  testing::WriteInstance(path, {study, study + ".1", sop, "5678", true, false, false, 2, 32, 32});
  ASSERT_TRUE(client_->UploadInstance(study, sop, path).ok());
  const std::string bytes = testing::ReadFile(path);
  auto commit = client_->Commit(
      {study, {{sop, common::HexEncode(common::Sha256(bytes)), bytes.size()}}, "t", {}, {}});
  ASSERT_TRUE(commit.ok()) << commit.status();
  EXPECT_EQ(commit->expires_at, clock_->SystemNow() + hours(72));
  const std::string token = commit->viewer_url.substr(commit->viewer_url.rfind('/') + 1);
  const std::string frames = "/t/" + token + "/dicomweb/studies/" + study + "/series/" + study +
                             ".1/instances/" + sop + "/frames/1";
  ASSERT_EQ(View(frames), 200);
  clock_->Advance(hours(72) - seconds(1));
  // The link cache must not outlive the study either.
  EXPECT_EQ(View(frames), 200);
  clock_->Advance(seconds(1));
  EXPECT_EQ(View(frames), 404);
  EXPECT_EQ(View("/t/" + token + "/dicomweb/studies"), 404);
  // A late commit of the expired study does not bring it back.
  auto late = client_->Commit(
      {study, {{sop, common::HexEncode(common::Sha256(bytes)), bytes.size()}}, "t", {}, {}});
  EXPECT_EQ(late.status().code(), common::ErrorCode::kNotFound);
  EXPECT_EQ(client_->GetReceipt(study).status().code(), common::ErrorCode::kNotFound);
  auto receipts = store_->Purge();
  ASSERT_TRUE(receipts.ok());
  ASSERT_EQ(receipts->size(), 1u);
  auto receipt = client_->GetReceipt(study);
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_EQ(receipt->deleted_at, clock_->SystemNow());
  EXPECT_EQ(receipt->instance_count, 1u);
}

TEST_F(RelayInProcessTest, BruteForceThrottleWindowReopensAfterAMinute) {
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(View("/t/guess" + std::to_string(i) + "/dicomweb/studies"), 404);
  EXPECT_EQ(View("/t/guess/dicomweb/studies"), 429);
  clock_->Advance(seconds(59));
  EXPECT_EQ(View("/t/guess/dicomweb/studies"), 429);
  clock_->Advance(seconds(1));
  EXPECT_EQ(View("/t/guess/dicomweb/studies"), 404);
}

}  // namespace
}  // namespace tsunagu::relay
