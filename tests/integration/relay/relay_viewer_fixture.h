// The web viewer's integration fixture: a small synthetic CT (samples/generate_study.py)
// de-identified by the real tsunagu-anonymize, the real tsunagu-relay process, and the real
// RelayClient to upload and commit it. Shared by the HTTPS tests (relay_viewer_test.cpp) and the
// Chromium smoke test (relay_viewer_browser_test.cpp).
#ifndef TSUNAGU_TESTS_INTEGRATION_RELAY_RELAY_VIEWER_FIXTURE_H_
#define TSUNAGU_TESTS_INTEGRATION_RELAY_RELAY_VIEWER_FIXTURE_H_

#include <cpprest/json.h>
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "relay_test_env.h"
#include "tsunagu/common/clock.h"
#include "tsunagu/common/crypto.h"
#include "tsunagu/common/logging.h"
#include "tsunagu/relay/relay_client.h"

namespace tsunagu::relay::testing {

inline constexpr char kViewerCsp[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src "
    "'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

struct DeidentifiedInstance {
  std::filesystem::path path;
  std::string study_uid, sop_uid, study_date;
};

inline std::string DicomString(DcmDataset& ds, const DcmTagKey& tag) {
  OFString v;
  return ds.findAndGetOFString(tag, v).good() ? std::string(v.c_str()) : std::string();
}

class RelayViewerTest : public ::testing::Test {
 protected:
  using json = web::json::value;

  void SetUp() override {
    dir_ = MakeTempDir(std::string("viewer_") +
                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    pki_ = TestPki::Create(dir_ / "pki");
    // A 5-slice CT, de-identified as the gateway does before anything leaves the hospital.
    ASSERT_EQ(Shell("/usr/bin/python3 " TSUNAGU_SOURCE_DIR
                    "/samples/generate_study.py --kind ct --slices 5 --size 128 "
                    "--patient-id PID12345678 --out " +
                    (dir_ / "raw").string() + " >/dev/null"),
              0);
    WriteFile(dir_ / "secret", "viewer-integration-test-site-secret\n");
    std::filesystem::permissions(
        dir_ / "secret", std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    ASSERT_EQ(Shell(std::string(TSUNAGU_ANONYMIZE_BINARY) + " --secret-file " +
                    (dir_ / "secret").string() + " --output " + (dir_ / "anon").string() + " " +
                    (dir_ / "raw").string() + " >/dev/null"),
              0);
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir_ / "anon")) {
      if (!e.is_regular_file()) continue;
      DcmFileFormat file;
      if (file.loadFile(e.path().c_str()).bad()) continue;
      DcmDataset& ds = *file.getDataset();
      instances_.push_back({e.path(), DicomString(ds, DCM_StudyInstanceUID),
                            DicomString(ds, DCM_SOPInstanceUID), DicomString(ds, DCM_StudyDate)});
    }
    ASSERT_EQ(instances_.size(), 5u);
  }
  void TearDown() override {
    relay_.reset();
    if (!HasFailure()) std::filesystem::remove_all(dir_);
  }
  void StartRelay() {
    RelayConfig config;
    config.dir = dir_ / "relay";
    std::filesystem::create_directories(config.dir);
    relay_ = std::make_unique<RelayProcess>(pki_, config);
    ASSERT_TRUE(relay_->Start()) << relay_->Log();
  }
  // Uploads the study and commits it; returns the link token.
  std::string UploadAndCommit(std::optional<std::string> code = std::nullopt,
                              std::optional<std::chrono::milliseconds> retention = {}) {
    RelayClientOptions o;
    o.base_url = relay_->upload_url();
    o.ca_file = pki_.ca;
    o.client_cert_file = pki_.gateway_cert;
    o.client_key_file = pki_.gateway_key;
    o.timeout = std::chrono::seconds(10);
    o.max_attempts = 2;
    o.initial_backoff = std::chrono::milliseconds(10);
    auto logger = common::MakeLogger("client", {}, spdlog::level::warn);
    auto client = MakeHttpsRelayClient(o, {std::make_shared<common::SystemClock>(), logger, {}});
    EXPECT_TRUE(client.ok()) << client.status();
    if (!client.ok()) return {};
    CommitRequest req{instances_[0].study_uid, {}, "thread-v", std::move(code), retention};
    for (const auto& i : instances_) {
      const auto st = (*client)->UploadInstance(i.study_uid, i.sop_uid, i.path);
      EXPECT_TRUE(st.ok()) << st;
      req.instances.push_back({i.sop_uid, common::HexEncode(common::Sha256(ReadFile(i.path))),
                               std::filesystem::file_size(i.path)});
    }
    auto r = (*client)->Commit(req);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return {};
    EXPECT_EQ(r->viewer_url.rfind(relay_->viewer_url() + "/v/", 0), 0u) << r->viewer_url;
    return r->viewer_url.substr(r->viewer_url.rfind("/v/") + 3);
  }
  HttpReply View(const std::string& path, std::map<std::string, std::string> headers = {}) {
    return Https("GET", relay_->viewer_url() + path, headers, "", pki_.ca);
  }
  HttpReply PostCode(const std::string& token, const std::string& code) {
    return Https("POST", relay_->viewer_url() + "/v/" + token + "/access-code",
                 {{"Content-Type", "application/json"}}, "{\"code\":\"" + code + "\"}", pki_.ca);
  }
  static std::string ErrorOf(const HttpReply& r) {
    try {
      return json::parse(r.body).at("error").as_string();
    } catch (const std::exception&) {
      return "<not json: " + r.body.substr(0, 80) + ">";
    }
  }
  // The access log as `tsunagu-relay audit` prints it, once it holds `event` (bounded wait: the
  // service writes its log buffer every second).
  std::string AuditUntil(const std::string& event) {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      out = relay_->Command("audit " + instances_[0].study_uid).second;
      if (out.find("event=" + event) != std::string::npos) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return out;
  }

  std::filesystem::path dir_;
  TestPki pki_;
  std::vector<DeidentifiedInstance> instances_;
  std::unique_ptr<RelayProcess> relay_;
};

}  // namespace tsunagu::relay::testing

#endif  // TSUNAGU_TESTS_INTEGRATION_RELAY_RELAY_VIEWER_FIXTURE_H_
