// The real tsunagu-relay process over real TLS on 127.0.0.1, driven by the real RelayClient
// (the gateway's side) and a plain HTTPS client (a viewer such as OHIF or Weasis).
#include <cpprest/json.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <sstream>
#include <thread>

#include "relay_test_env.h"
#include "tsunagu/common/crypto.h"
#include "tsunagu/common/logging.h"
#include "tsunagu/relay/relay_client.h"
#include "tsunagu/retention/study_store.h"

namespace tsunagu::relay {
namespace {

using common::Result;
using common::Status;
using testing::HttpReply;
using testing::InstanceSpec;
using testing::RelayConfig;
using testing::RelayProcess;
using testing::TestPki;
using json = web::json::value;

RelayConfig Config(std::string retention, std::string purge_interval, std::string quota = "1GiB",
                   std::string max_request_size = "4MiB") {
  RelayConfig c;
  c.retention = std::move(retention);
  c.purge_interval = std::move(purge_interval);
  c.quota = std::move(quota);
  c.max_request_size = std::move(max_request_size);
  return c;
}

std::string Sha256File(const std::filesystem::path& p) {
  return common::HexEncode(common::Sha256(testing::ReadFile(p)));
}

class RelayProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    pki_ = TestPki::Create(dir_ / "pki");
    log_stream_ = std::make_shared<std::ostringstream>();
  }
  void TearDown() override {
    relay_.reset();
    if (!HasFailure()) std::filesystem::remove_all(dir_);
  }
  void StartRelay(RelayConfig config = {}) {
    config.dir = dir_ / ("relay" + std::to_string(++relays_));
    std::filesystem::create_directories(config.dir);
    relay_ = std::make_unique<RelayProcess>(pki_, config);
    ASSERT_TRUE(relay_->Start()) << relay_->Log();
  }
  std::unique_ptr<RelayClient> Client(std::uint64_t chunk_size = 1 << 20,
                                      std::filesystem::path cert = {},
                                      std::filesystem::path key = {}) {
    RelayClientOptions o;
    o.base_url = relay_->upload_url();
    o.ca_file = pki_.ca;
    o.client_cert_file = cert.empty() ? pki_.gateway_cert : cert;
    o.client_key_file = key.empty() ? pki_.gateway_key : key;
    o.timeout = std::chrono::seconds(10);
    o.chunk_size = chunk_size;
    o.max_attempts = 2;
    o.initial_backoff = std::chrono::milliseconds(10);
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(*log_stream_);
    auto logger = common::MakeLogger("client", {sink}, spdlog::level::debug);
    auto c = MakeHttpsRelayClient(o, {std::make_shared<common::SystemClock>(), logger, {}});
    EXPECT_TRUE(c.ok()) << c.status();
    return std::move(*c);
  }
  std::filesystem::path Instance(const InstanceSpec& spec, std::vector<std::string>* frames = {}) {
    const auto path = dir_ / (spec.sop_uid + ".dcm");
    auto f = testing::WriteInstance(path, spec);
    if (frames) *frames = std::move(f);
    return path;
  }
  InstanceRef Ref(const std::string& sop, const std::filesystem::path& p) {
    return {sop, Sha256File(p), std::filesystem::file_size(p)};
  }
  // Uploads one single-frame instance and commits it; returns the commit's answer.
  CommitResult UploadAndCommit(const std::string& study,
                               std::optional<std::string> code = std::nullopt,
                               std::optional<std::chrono::milliseconds> retention = {}) {
    auto client = Client();
    const std::string sop = study + ".1.1";
    auto path = Instance({study, study + ".1", sop});
    EXPECT_TRUE(client->UploadInstance(study, sop, path).ok());
    CommitRequest req{study, {Ref(sop, path)}, "thread-a", std::move(code), retention};
    auto r = client->Commit(req);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : CommitResult{};
  }
  static std::string Token(const CommitResult& r) {
    return r.viewer_url.substr(r.viewer_url.rfind("/v/") + 3);
  }
  HttpReply View(const std::string& path, std::map<std::string, std::string> headers = {}) {
    return testing::Https("GET", relay_->viewer_url() + path, headers, "", pki_.ca);
  }
  HttpReply Upload(const std::string& method, const std::string& path,
                   std::map<std::string, std::string> headers = {}, const std::string& body = "") {
    return testing::Https(method, relay_->upload_url() + path, headers, body, pki_.ca,
                          testing::HttpsClientCert{pki_.gateway_cert, pki_.gateway_key});
  }

  std::filesystem::path dir_;
  TestPki pki_;
  std::unique_ptr<RelayProcess> relay_;
  int relays_ = 0;
  std::shared_ptr<std::ostringstream> log_stream_;
};

TEST_F(RelayProcessTest, EnrolledGatewayUploadsCommitsAndViewerReadsTheStudy) {
  StartRelay();
  auto client = Client(/*chunk_size=*/1000);
  const std::string study = "1.2.826.0.1.3680043.10.1";
  std::vector<std::string> frames;
  auto a = Instance({study, study + ".1", study + ".1.1"});
  auto b = Instance({study, study + ".1", study + ".1.2", "5678", true, false, false, 3, 16, 16, 2},
                    &frames);
  ASSERT_TRUE(client->UploadInstance(study, study + ".1.1", a).ok());
  ASSERT_TRUE(client->UploadInstance(study, study + ".1.2", b).ok());
  // Re-sending a held instance is a no-op that answers success.
  ASSERT_TRUE(client->UploadInstance(study, study + ".1.2", b).ok());
  CommitRequest req{study, {Ref(study + ".1.1", a), Ref(study + ".1.2", b)}, "thread-a", {}, {}};
  auto commit = client->Commit(req);
  ASSERT_TRUE(commit.ok()) << commit.status();
  EXPECT_FALSE(commit->already_committed);
  EXPECT_EQ(commit->viewer_url.rfind(relay_->viewer_url() + "/v/", 0), 0u) << commit->viewer_url;
  const std::string token = Token(*commit);
  EXPECT_GE(token.size(), 22u);  // >= 128 bits in base64url

  // QIDO-RS: the one study, its series, its instances.
  HttpReply studies = View("/t/" + token + "/dicomweb/studies");
  ASSERT_EQ(studies.status, 200) << studies.body;
  json s = json::parse(studies.body);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].at("0020000D").at("Value")[0].as_string(), study);
  EXPECT_EQ(s[0].at("00201208").at("Value")[0].as_integer(), 2);
  EXPECT_EQ(s[0].at("00100020").at("Value")[0].as_string(), "5678");
  HttpReply series = View("/t/" + token + "/dicomweb/studies/" + study + "/series");
  ASSERT_EQ(series.status, 200);
  EXPECT_EQ(json::parse(series.body).size(), 1u);
  HttpReply instances =
      View("/t/" + token + "/dicomweb/studies/" + study + "/series/" + study + ".1/instances");
  ASSERT_EQ(instances.status, 200);
  EXPECT_EQ(json::parse(instances.body).size(), 2u);

  // WADO-RS metadata without bulk data.
  HttpReply meta =
      View("/t/" + token + "/dicomweb/studies/" + study + "/series/" + study + ".1/metadata");
  ASSERT_EQ(meta.status, 200);
  EXPECT_EQ(meta.headers["content-type"], "application/dicom+json");
  EXPECT_EQ(meta.body.find("7FE00010"), std::string::npos);
  EXPECT_NE(meta.body.find("\"00280010\""), std::string::npos);

  // Frames, with the token in an Authorization header this time.
  HttpReply f2 = View(
      "/dicomweb/studies/" + study + "/series/" + study + ".1/instances/" + study + ".1.2/frames/2",
      {{"Authorization", "Bearer " + token}});
  ASSERT_EQ(f2.status, 200) << f2.body;
  EXPECT_NE(f2.headers["content-type"].find("multipart/related"), std::string::npos);
  EXPECT_NE(f2.body.find(frames[1]), std::string::npos);
  EXPECT_EQ(f2.body.find(frames[0]), std::string::npos);
  HttpReply bad_frame = View("/t/" + token + "/dicomweb/studies/" + study + "/series/" + study +
                             ".1/instances/" + study + ".1.2/frames/4");
  EXPECT_EQ(bad_frame.status, 404);

  // WADO-RS instance: the exact uploaded bytes.
  HttpReply inst = View("/t/" + token + "/dicomweb/studies/" + study + "/series/" + study +
                        ".1/instances/" + study + ".1.1");
  ASSERT_EQ(inst.status, 200);
  EXPECT_NE(inst.body.find(testing::ReadFile(a)), std::string::npos);

  // Security headers everywhere, CORS only for the configured origin.
  for (const auto* r : {&studies, &meta, &f2, &bad_frame}) {
    EXPECT_EQ(r->headers.at("cache-control"), "no-store, private");
    EXPECT_EQ(r->headers.at("referrer-policy"), "no-referrer");
    EXPECT_NE(r->headers.at("content-security-policy").find("default-src 'none'"),
              std::string::npos);
    EXPECT_NE(r->headers.at("strict-transport-security").find("max-age="), std::string::npos);
  }
  EXPECT_EQ(View("/t/" + token + "/dicomweb/studies", {{"Origin", "https://ohif.example"}})
                .headers["access-control-allow-origin"],
            "https://ohif.example");
  EXPECT_EQ(View("/t/" + token + "/dicomweb/studies", {{"Origin", "https://evil.example"}})
                .headers.count("access-control-allow-origin"),
            0u);

  // Another study is not reachable through this link, nor without a link.
  const std::string other = "1.2.826.0.1.3680043.10.2";
  UploadAndCommit(other);
  EXPECT_EQ(View("/t/" + token + "/dicomweb/studies/" + other + "/series").status, 404);
  EXPECT_EQ(View("/t/" + token + "/dicomweb/studies/" + other + "/series/" + other +
                 ".1/instances/" + other + ".1.1")
                .status,
            404);
  EXPECT_EQ(View("/dicomweb/studies").status, 401);

  // A repeated commit succeeds, says so, and its new link opens the same study.
  auto again = client->Commit(req);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->already_committed);
  EXPECT_EQ(again->expires_at, commit->expires_at);
  EXPECT_EQ(View("/t/" + Token(*again) + "/dicomweb/studies").status, 200);

  // The access log: opens and frame batches, with address and user agent, printed by audit.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // flushed every second
  auto [rc, audit] = relay_->Command("audit " + study);
  EXPECT_EQ(rc, 0);
  EXPECT_NE(audit.find("event=open"), std::string::npos) << audit;
  EXPECT_NE(audit.find("event=frames address=127.0.0.1"), std::string::npos) << audit;
  EXPECT_EQ(audit.find(frames[1]), std::string::npos);
}

TEST_F(RelayProcessTest, OnlyEnrolledClientCertificatesReachTheUploadApi) {
  StartRelay();
  const testing::HttpsClientCert gateway{pki_.gateway_cert, pki_.gateway_key};
  EXPECT_EQ(
      testing::Https("GET", relay_->upload_url() + "/v1/health", {}, "", pki_.ca, gateway).status,
      200);
  // Same CA, not enrolled.
  HttpReply rogue = testing::Https("GET", relay_->upload_url() + "/v1/health", {}, "", pki_.ca,
                                   testing::HttpsClientCert{pki_.rogue_cert, pki_.rogue_key});
  EXPECT_EQ(rogue.status, 0) << rogue.body;
  // Enrolled name, foreign CA.
  HttpReply foreign = testing::Https("GET", relay_->upload_url() + "/v1/health", {}, "", pki_.ca,
                                     testing::HttpsClientCert{pki_.foreign_cert, pki_.foreign_key});
  EXPECT_EQ(foreign.status, 0);
  // No certificate at all.
  EXPECT_EQ(testing::Https("GET", relay_->upload_url() + "/v1/health", {}, "", pki_.ca).status, 0);
  // Plain HTTP on the upload port gets no HTTP answer.
  const std::string plain =
      testing::RawExchange(relay_->upload_port(), "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(plain.find("HTTP/1."), std::string::npos) << plain;
  // The gateway's client sees a clear, retryable failure with an unenrolled certificate.
  auto rogue_client = Client(1 << 20, pki_.rogue_cert, pki_.rogue_key);
  auto st = rogue_client->GetReceipt("1.2.3");
  EXPECT_EQ(st.status().code(), common::ErrorCode::kUnavailable) << st.status();
  EXPECT_NE(relay_->Log().find("tls.client_refused reason=not_enrolled cn=\"rogue.test\""),
            std::string::npos)
      << relay_->Log();
}

TEST_F(RelayProcessTest, InterruptedUploadResumesAfterRelayCrash) {
  StartRelay();
  const std::string study = "1.2.826.0.1.3680043.10.3";
  const std::string sop = study + ".1.1";
  std::vector<std::string> frames;
  auto path =
      Instance({study, study + ".1", sop, "5678", true, false, false, 4, 128, 128, 1}, &frames);
  const std::string bytes = testing::ReadFile(path);
  const std::string sha = common::HexEncode(common::Sha256(bytes));
  // The first 3 chunks of 32 KiB arrive, then the relay is killed.
  const std::size_t chunk = 32 << 10;
  for (std::size_t off = 0; off < 3 * chunk; off += chunk) {
    const std::string part = bytes.substr(off, chunk);
    HttpReply r = Upload("PUT", "/v1/studies/" + study + "/instances/" + sop,
                         {{"Content-Range", "bytes " + std::to_string(off) + "-" +
                                                std::to_string(off + part.size() - 1) + "/" +
                                                std::to_string(bytes.size())},
                          {"X-Tsunagu-Sha256", sha},
                          {"X-Tsunagu-Chunk-Sha256", common::HexEncode(common::Sha256(part))}},
                         part);
    ASSERT_EQ(r.status, 200) << r.body;
  }
  relay_->Kill();
  ASSERT_TRUE(relay_->Start()) << relay_->Log();
  auto client = Client(chunk);
  ASSERT_TRUE(client->UploadInstance(study, sop, path).ok());
  EXPECT_NE(log_stream_->str().find("upload.resume"), std::string::npos);
  EXPECT_NE(log_stream_->str().find("offset=" + std::to_string(3 * chunk)), std::string::npos)
      << log_stream_->str();
  auto commit = client->Commit({study, {Ref(sop, path)}, "t", {}, {}});
  ASSERT_TRUE(commit.ok()) << commit.status();
  HttpReply f = View("/t/" + Token(*commit) + "/dicomweb/studies/" + study + "/series/" + study +
                     ".1/instances/" + sop + "/frames/4");
  ASSERT_EQ(f.status, 200);
  EXPECT_NE(f.body.find(frames[3]), std::string::npos);
}

TEST_F(RelayProcessTest, TamperedChunkAndWrongWholeHashAreRejected) {
  StartRelay();
  const std::string study = "1.2.826.0.1.3680043.10.4";
  const std::string sop = study + ".1.1";
  auto path = Instance({study, study + ".1", sop});
  std::string bytes = testing::ReadFile(path);
  const std::string sha = common::HexEncode(common::Sha256(bytes));
  const std::string range =
      "bytes 0-" + std::to_string(bytes.size() - 1) + "/" + std::to_string(bytes.size());
  std::string tampered = bytes;
  tampered[tampered.size() / 2] ^= 0x55;
  HttpReply r = Upload("PUT", "/v1/studies/" + study + "/instances/" + sop,
                       {{"Content-Range", range},
                        {"X-Tsunagu-Sha256", sha},
                        {"X-Tsunagu-Chunk-Sha256", common::HexEncode(common::Sha256(bytes))}},
                       tampered);
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_NE(r.body.find("\"integrity\""), std::string::npos);
  // Consistent chunk, but not the instance the gateway declared.
  r = Upload("PUT", "/v1/studies/" + study + "/instances/" + sop,
             {{"Content-Range", range},
              {"X-Tsunagu-Sha256", sha},
              {"X-Tsunagu-Chunk-Sha256", common::HexEncode(common::Sha256(tampered))}},
             tampered);
  EXPECT_EQ(r.status, 422) << r.body;
  HttpReply progress = Upload("GET", "/v1/studies/" + study + "/instances/" + sop);
  ASSERT_EQ(progress.status, 200);
  EXPECT_EQ(json::parse(progress.body).at("received").as_integer(), 0);
  // Nothing to commit.
  auto client = Client();
  auto c = client->Commit({study, {Ref(sop, path)}, "t", {}, {}});
  EXPECT_EQ(c.status().code(), common::ErrorCode::kFailedPrecondition);
  // The honest upload still works afterwards.
  EXPECT_TRUE(client->UploadInstance(study, sop, path).ok());
}

// A gateway passes the SHA-256 it recorded at de-identification instead of hashing the file
// again; the relay still checks every byte against it, so a file that changed since (or a wrong
// record) is refused, nothing of it is kept, and the client says so without retrying forever.
TEST_F(RelayProcessTest, KnownHashThatDoesNotMatchTheFileIsRefused) {
  StartRelay();
  const std::string study = "1.2.826.0.1.3680043.10.14";
  const std::string sop = study + ".1.1";
  auto path = Instance({study, study + ".1", sop, "5678", true, false, false, 4, 128, 128, 1});
  const InstanceRef right = Ref(sop, path);
  InstanceRef wrong = right;
  wrong.sha256_hex = common::HexEncode(common::Sha256("another instance"));
  for (const std::uint64_t chunk : {std::uint64_t{1} << 20, std::uint64_t{32} << 10}) {
    SCOPED_TRACE(chunk);
    auto client = Client(chunk);
    const Status st = client->UploadKnownInstance(study, wrong, path);
    EXPECT_EQ(st.code(), common::ErrorCode::kDataLoss) << st;
    EXPECT_FALSE(st.retryable());
    HttpReply progress = Upload("GET", "/v1/studies/" + study + "/instances/" + sop);
    ASSERT_EQ(progress.status, 200);
    EXPECT_FALSE(json::parse(progress.body).at("complete").as_bool());
  }
  auto client = Client(32 << 10);
  InstanceRef short_size = right;
  short_size.size -= 1;
  EXPECT_EQ(client->UploadKnownInstance(study, short_size, path).code(),
            common::ErrorCode::kInvalidArgument);
  InstanceRef upper = right;
  upper.sha256_hex[0] = 'X';
  EXPECT_EQ(client->UploadKnownInstance(study, upper, path).code(),
            common::ErrorCode::kInvalidArgument);
  auto c = client->Commit({study, {right}, "t", {}, {}});
  EXPECT_EQ(c.status().code(), common::ErrorCode::kFailedPrecondition);
  // The right hash, in chunks and whole: stored and committed.
  ASSERT_TRUE(client->UploadKnownInstance(study, right, path).ok());
  ASSERT_TRUE(Client()->UploadKnownInstance(study, right, path).ok()) << "a repeat is a no-op";
  c = client->Commit({study, {right}, "t", {}, {}});
  ASSERT_TRUE(c.ok()) << c.status();
}

TEST_F(RelayProcessTest, InstancesThatAreNotDeidentifiedAreRefused) {
  StartRelay();
  auto client = Client();
  const std::string study = "1.2.826.0.1.3680043.10.5";
  struct Case {
    const char* what;
    InstanceSpec spec;
    common::ErrorCode code;
  };
  std::vector<Case> cases = {
      {"identity not removed",
       {study, study + ".1", study + ".1.1", "5678", false},
       common::ErrorCode::kDeidentificationRefused},
      {"private tag",
       {study, study + ".1", study + ".1.2", "5678", true, true},
       common::ErrorCode::kDeidentificationRefused},
      {"private tag in sequence",
       {study, study + ".1", study + ".1.3", "5678", true, false, true},
       common::ErrorCode::kDeidentificationRefused},
      {"full patient ID",
       {study, study + ".1", study + ".1.4", "PAT0012345678"},
       common::ErrorCode::kDeidentificationRefused},
      {"another study's instance",
       {"1.2.999", study + ".1", study + ".1.5"},
       common::ErrorCode::kInvalidArgument},
  };
  for (const auto& c : cases) {
    auto path = Instance(c.spec);
    const Status st = client->UploadInstance(study, c.spec.sop_uid, path);
    EXPECT_EQ(st.code(), c.code) << c.what << ": " << st;
    EXPECT_FALSE(st.retryable()) << c.what;
  }
  // Not a DICOM file at all.
  testing::WriteFile(dir_ / "junk.dcm", std::string(4000, 'x'));
  EXPECT_EQ(client->UploadInstance(study, study + ".1.6", dir_ / "junk.dcm").code(),
            common::ErrorCode::kInvalidArgument);
  EXPECT_NE(relay_->Log().find("upload.rejected"), std::string::npos);
  // The private value never reaches the relay's log.
  EXPECT_EQ(relay_->Log().find("PAT0012345678"), std::string::npos);
  EXPECT_EQ(relay_->Log().find("hidden"), std::string::npos);
}

TEST_F(RelayProcessTest, PathTraversalAndOversizedRequestsAreRefused) {
  StartRelay(Config("3d", "30s", "1GiB", "1MiB"));
  const auto commit = UploadAndCommit("1.2.826.0.1.3680043.10.6");
  const std::string token = Token(commit);
  for (const std::string& p : std::vector<std::string>{
           "/v1/studies/..%2F..%2Fetc/instances/1.2", "/v1/studies/1.2/instances/..%2F..%2Fpasswd",
           "/v1/studies/1.2/instances/../../../etc/passwd", "/v1/studies/1.2%00/instances/1.3"}) {
    HttpReply r = Upload("PUT", p, {{"Content-Range", "bytes 0-0/1"}}, "x");
    EXPECT_TRUE(r.status == 400 || r.status == 404) << p << " -> " << r.status;
  }
  for (const std::string& p : std::vector<std::string>{
           "/t/" + token + "/dicomweb/studies/..%2F..%2F/series",
           "/t/" + token + "/../../etc/passwd", "/t/..%2F..%2Fetc%2Fpasswd/dicomweb/studies"}) {
    HttpReply r = View(p);
    EXPECT_TRUE(r.status >= 400 && r.status < 500) << p << " -> " << r.status;
    EXPECT_EQ(r.body.find("root:"), std::string::npos);
  }
  // A body larger than max_request_size is refused before it reaches the store.
  const std::string big(2 << 20, 'x');
  HttpReply r = Upload("PUT", "/v1/studies/1.2.3/instances/1.2.3.4",
                       {{"Content-Range", "bytes 0-" + std::to_string(big.size() - 1) + "/" +
                                              std::to_string(big.size())},
                        {"X-Tsunagu-Sha256", std::string(64, 'a')},
                        {"X-Tsunagu-Chunk-Sha256", std::string(64, 'a')}},
                       big);
  EXPECT_EQ(r.status, 413) << r.error;
  // Nothing was written outside the store's own layout.
  for (const auto& e : std::filesystem::recursive_directory_iterator(relay_->data_dir())) {
    const auto rel = std::filesystem::relative(e.path(), relay_->data_dir()).string();
    EXPECT_TRUE(rel.rfind("studies", 0) == 0 || rel.rfind("index.sqlite", 0) == 0) << rel;
  }
}

TEST_F(RelayProcessTest, TokenBruteForceIsThrottled) {
  StartRelay();
  const auto commit = UploadAndCommit("1.2.826.0.1.3680043.10.7");
  int not_found = 0, throttled = 0;
  for (int i = 0; i < 30; ++i) {
    auto guess = common::Base64UrlEncode(*common::RandomBytes(32));
    const int status = View("/t/" + guess + "/dicomweb/studies").status;
    if (status == 404) ++not_found;
    if (status == 429) ++throttled;
  }
  EXPECT_EQ(not_found, 20);
  EXPECT_EQ(throttled, 10);
  // While throttled, even a right token from that address waits.
  HttpReply r = View("/t/" + Token(commit) + "/dicomweb/studies");
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.headers["retry-after"], "30");
}

TEST_F(RelayProcessTest, RevokedLinksAreRefused) {
  StartRelay();
  const std::string a = "1.2.826.0.1.3680043.10.8";
  const std::string b = "1.2.826.0.1.3680043.10.9";
  const auto ca = UploadAndCommit(a);
  const auto cb = UploadAndCommit(b);
  ASSERT_EQ(View("/t/" + Token(ca) + "/dicomweb/studies").status, 200);
  ASSERT_EQ(View("/t/" + Token(cb) + "/dicomweb/studies").status, 200);
  // Through the gateway's authenticated API: effective on the next request.
  ASSERT_TRUE(Client()->RevokeLinks(a).ok());
  EXPECT_EQ(View("/t/" + Token(ca) + "/dicomweb/studies").status, 403);
  // Through the CLI (another process): within the revocation cache (1 s here).
  auto [rc, out] = relay_->Command("revoke " + b);
  EXPECT_EQ(rc, 0);
  EXPECT_NE(out.find("links revoked: 1"), std::string::npos) << out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  int status = 200;
  while (std::chrono::steady_clock::now() < deadline && status != 403) {
    status = View("/t/" + Token(cb) + "/dicomweb/studies").status;
    if (status != 403) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(status, 403);
}

TEST_F(RelayProcessTest, AccessCodeIsRequiredAndLocksAfterFailures) {
  StartRelay();
  const auto c = UploadAndCommit("1.2.826.0.1.3680043.10.10", std::string("2468"));
  const std::string url = "/t/" + Token(c) + "/dicomweb/studies";
  EXPECT_EQ(View(url).status, 401);
  EXPECT_EQ(View(url, {{"X-Tsunagu-Access-Code", "2468"}}).status, 200);
  EXPECT_EQ(View(url, {{"X-Tsunagu-Access-Code", "0000"}}).status, 401);
  // Immediately again: throttled.
  EXPECT_EQ(View(url, {{"X-Tsunagu-Access-Code", "1111"}}).status, 429);
  for (int i = 0; i < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    View(url, {{"X-Tsunagu-Access-Code", "1111"}});
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  // Locked: even the right code is refused now.
  EXPECT_EQ(View(url, {{"X-Tsunagu-Access-Code", "2468"}}).status, 403);
}

TEST_F(RelayProcessTest, ShortRetentionExpiresThenPurgesWithReceipt) {
  StartRelay(Config("3s", "1s"));
  const std::string study = "1.2.826.0.1.3680043.10.11";
  const auto c = UploadAndCommit(study);
  const std::string url = "/t/" + Token(c) + "/dicomweb/studies";
  ASSERT_EQ(View(url).status, 200);
  auto client = Client();
  EXPECT_EQ(client->GetReceipt(study).status().code(), common::ErrorCode::kNotFound);
  // Unreachable from the moment it expires.
  std::this_thread::sleep_until(c.expires_at);
  EXPECT_EQ(View(url).status, 404);
  // Purged (key, then files) within the purge interval, with a receipt for the gateway.
  Result<DeletionReceipt> receipt = common::NotFoundError("not yet");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline && !receipt.ok()) {
    receipt = client->GetReceipt(study);
    if (!receipt.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_EQ(receipt->instance_count, 1u);
  EXPECT_EQ(receipt->reason, "expired");
  EXPECT_GE(receipt->deleted_at, c.expires_at);
  EXPECT_LE(receipt->deleted_at, c.expires_at + std::chrono::seconds(3));
  EXPECT_TRUE(std::filesystem::is_empty(relay_->data_dir() / "studies"));
}

TEST_F(RelayProcessTest, PerGatewayRetentionFollowsTheClientCertificate) {
  // gateway2.test keeps studies 1 h, gateway.test the relay's 3 d (retention.per_gateway).
  RelayConfig config = Config("3d", "30s");
  config.extra = "[retention.per_gateway]\n\"gateway2.test\" = \"1h\"\n";
  StartRelay(config);
  auto commit_as = [&](const std::filesystem::path& cert, const std::filesystem::path& key,
                       const std::string& study,
                       std::optional<std::chrono::milliseconds> retention) {
    auto client = Client(1 << 20, cert, key);
    const std::string sop = study + ".1.1";
    auto path = Instance({study, study + ".1", sop});
    EXPECT_TRUE(client->UploadInstance(study, sop, path).ok());
    auto r = client->Commit({study, {Ref(sop, path)}, "thread-a", {}, retention});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->expires_at : std::chrono::system_clock::time_point{};
  };
  const auto now = std::chrono::system_clock::now();
  const auto first =
      commit_as(pki_.gateway_cert, pki_.gateway_key, "1.2.826.0.1.3680043.10.31", std::nullopt);
  const auto second =
      commit_as(pki_.gateway2_cert, pki_.gateway2_key, "1.2.826.0.1.3680043.10.32", std::nullopt);
  // A commit may shorten the gateway's period further, never lengthen it.
  const auto shorter = commit_as(pki_.gateway2_cert, pki_.gateway2_key, "1.2.826.0.1.3680043.10.33",
                                 std::chrono::minutes(10));
  const auto longer = commit_as(pki_.gateway2_cert, pki_.gateway2_key, "1.2.826.0.1.3680043.10.34",
                                std::chrono::hours(5));
  const auto slack = std::chrono::seconds(30);
  EXPECT_GE(first, now + std::chrono::hours(72));
  EXPECT_LE(first, now + std::chrono::hours(72) + slack);
  EXPECT_GE(second, now + std::chrono::hours(1));
  EXPECT_LE(second, now + std::chrono::hours(1) + slack);
  EXPECT_GE(shorter, now + std::chrono::minutes(10));
  EXPECT_LE(shorter, now + std::chrono::minutes(10) + slack);
  EXPECT_LE(longer, now + std::chrono::hours(1) + slack);
}

TEST_F(RelayProcessTest, SnapshotTakenBeforePurgeCannotBeDecryptedAfter) {
  StartRelay(Config("4s", "1s"));
  const std::string study = "1.2.826.0.1.3680043.10.12";
  const std::string sop = study + ".1.1";
  const auto c = UploadAndCommit(study);
  // Snapshot of the data directory while the study is live; read its key for the check below.
  relay_->Stop();
  std::filesystem::copy(relay_->data_dir(), dir_ / "snapshot",
                        std::filesystem::copy_options::recursive);
  std::string key;
  auto logger = common::MakeLogger("t", {}, spdlog::level::off);
  {
    auto store = retention::StudyStore::Open({relay_->data_dir(), relay_->key_dir()},
                                             {std::make_shared<common::SystemClock>(), logger});
    ASSERT_TRUE(store.ok()) << store.status();
    key = *(*store)->StudyKeyForTest(study);
  }
  std::string ciphertext;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir_ / "snapshot")) {
    if (e.path().extension() == ".enc") ciphertext = testing::ReadFile(e.path());
  }
  ASSERT_TRUE(retention::DecryptInstanceFile(key, study, sop, ciphertext).ok());
  ASSERT_TRUE(relay_->Start());
  std::this_thread::sleep_until(c.expires_at);
  auto client = Client();
  Result<DeletionReceipt> receipt = common::NotFoundError("not yet");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline && !receipt.ok()) {
    receipt = client->GetReceipt(study);
    if (!receipt.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  relay_->Stop();
  // The key is gone from every file the relay keeps; the snapshot next to the relay's keys
  // cannot be read, even with the study's expiry not yet reached on the reader's clock.
  for (const auto& root : {relay_->key_dir(), relay_->data_dir()}) {
    for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
      if (e.is_regular_file()) {
        EXPECT_EQ(testing::ReadFile(e.path()).find(key), std::string::npos) << e.path();
      }
    }
  }
  auto past = std::make_shared<common::FakeClock>(c.expires_at - std::chrono::seconds(1));
  auto restored =
      retention::StudyStore::Open({dir_ / "snapshot", relay_->key_dir()}, {past, logger});
  ASSERT_TRUE(restored.ok()) << restored.status();
  auto read = (*restored)->ReadInstance(study, sop);
  EXPECT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), common::ErrorCode::kDataLoss) << read.status();
}

TEST_F(RelayProcessTest, QuotaFullIsARetryableRefusal) {
  StartRelay(Config("3d", "30s", "12KiB"));
  auto client = Client();
  const std::string study = "1.2.826.0.1.3680043.10.13";
  auto a = Instance({study, study + ".1", study + ".1.1", "5678", true, false, false, 1, 64, 64});
  auto b = Instance({study, study + ".1", study + ".1.2", "5678", true, false, false, 1, 64, 64});
  ASSERT_TRUE(client->UploadInstance(study, study + ".1.1", a).ok());
  const Status st = client->UploadInstance(study, study + ".1.2", b);
  EXPECT_EQ(st.code(), common::ErrorCode::kDiskFull) << st;
  EXPECT_TRUE(st.retryable());
  EXPECT_NE(log_stream_->str().find("relay.retry"), std::string::npos);
}

TEST_F(RelayProcessTest, PurgeNowCommandDeletesExpiredStudies) {
  StartRelay(Config("2s", "1m"));
  const std::string study = "1.2.826.0.1.3680043.10.14";
  const auto c = UploadAndCommit(study);
  relay_->Stop();
  auto [rc0, out0] = relay_->Command("purge --now");
  EXPECT_EQ(rc0, 0);
  EXPECT_NE(out0.find("studies deleted: 0"), std::string::npos) << out0;
  std::this_thread::sleep_until(c.expires_at);
  auto [rc, out] = relay_->Command("purge --now");
  EXPECT_EQ(rc, 0);
  EXPECT_NE(out.find(study + " "), std::string::npos) << out;
  EXPECT_NE(out.find("studies deleted: 1"), std::string::npos) << out;
  EXPECT_EQ(relay_->Command("purge").first, 2);
}

}  // namespace
}  // namespace tsunagu::relay
