// Contract tests: each HTTP connector, through the real cpprestsdk transport with TLS
// verification on, against a local HTTPS stand-in (chat_stub_server.py) on 127.0.0.1 that
// records what it received. Checks method, path, headers and body against the documented
// shapes, and the error paths: 429 with Retry-After, 5xx, timeouts, expired tokens, and an
// untrusted certificate.
#include <cpprest/base_uri.h>
#include <cpprest/json.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "stub_process.h"
#include "tsunagu/chat/connectors.h"
#include "tsunagu/chat/webhook_signature.h"

namespace tsunagu::chat {
namespace {

using namespace std::chrono_literals;
using common::ErrorCode;
using config::ChatConnectorOptions;
using config::ChatConnectorType;
using web::json::value;

struct Received {
  std::string method;
  std::string path;
  value headers;
  std::string body;
  std::string Header(const std::string& name) const {
    return headers.has_field(name) ? headers.at(name).as_string() : "<absent>";
  }
};

Card SampleCard() {
  Card c;
  c.job_id = 42;
  c.modality = "MR";
  c.body_part = "HEAD";
  c.study_description = "Brain <stroke> & DWI";
  c.study_date = "20261121";
  c.study_time = "031400";
  c.series_count = 5;
  c.image_count = 220;
  c.patient_id_suffix = "5678";
  c.expires_at = std::chrono::system_clock::now() + 72h;
  c.access_code_required = true;
  c.viewer_url = "https://relay.example.jp/v/tok123";
  return c;
}

class HttpContractTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::filesystem::path(testing::MakeTempDir());
    cert_error_ = new std::string(testing::MakeCertificates(*dir_, "127.0.0.1"));
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
    delete cert_error_;
  }

  void SetUp() override { ASSERT_EQ(*cert_error_, ""); }

  // Starts the stub with `answers` (a JSON array of {status, headers, body, delay}).
  void StartStub(const std::string& answers, bool trusted = true) {
    const std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    script_ = *dir_ / (name + ".script.json");
    log_ = *dir_ / (name + ".log");
    testing::WriteText(script_, answers);
    std::filesystem::remove(log_);
    const std::string cert = trusted ? "server" : "untrusted";
    ASSERT_EQ(stub_.Start({"/usr/bin/python3", TSUNAGU_CHAT_STUB, "--cert",
                           (*dir_ / (cert + ".pem")).string(), "--key",
                           (*dir_ / (cert + "-key.pem")).string(), "--script", script_.string(),
                           "--log", log_.string(), "--lifetime", "60"}),
              "");
    std::string port;
    ASSERT_TRUE(stub_.WaitForLine("PORT ", 15s, &port)) << "stub did not start";
    base_ = "https://127.0.0.1:" + port;
  }

  std::vector<Received> Requests() {
    std::vector<Received> out;
    std::istringstream in(testing::ReadText(log_));
    std::string line;
    while (std::getline(in, line)) {
      const value v = value::parse(line);
      out.push_back({v.at("method").as_string(), v.at("path").as_string(), v.at("headers"),
                     v.at("body").as_string()});
    }
    return out;
  }

  std::filesystem::path Secret(const std::string& name, const std::string& content) {
    const auto p = *dir_ / name;
    testing::WriteText(p, content + "\n", 0600);
    return p;
  }

  std::unique_ptr<ChatConnector> Make(ChatConnectorOptions o) {
    o.ca_file = *dir_ / "ca.pem";
    if (o.timeout == ChatConnectorOptions().timeout) o.timeout = 5s;
    auto c = MakeConnector(o, {.clock = &clock_, .transport = nullptr});
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::move(*c) : nullptr;
  }

  static ChatConnectorOptions Opts(std::string name, ChatConnectorType type) {
    ChatConnectorOptions o;
    o.name = std::move(name);
    o.type = type;
    return o;
  }

  ThreadTarget Target(std::string destination) {
    return {"stroke", std::move(destination), {common::Language::kJapanese, 9h}};
  }

  static std::filesystem::path* dir_;
  static std::string* cert_error_;
  common::SystemClock clock_;
  testing::Child stub_;
  std::filesystem::path script_, log_;
  std::string base_;
};

std::filesystem::path* HttpContractTest::dir_ = nullptr;
std::string* HttpContractTest::cert_error_ = nullptr;

std::string FormValue(const std::string& form, const std::string& key) {
  std::istringstream in(form);
  std::string part;
  while (std::getline(in, part, '&')) {
    if (part.rfind(key + "=", 0) == 0) {
      return web::uri::decode(part.substr(key.size() + 1));
    }
  }
  return "<absent>";
}

TEST_F(HttpContractTest, WebhookSignedPost) {
  StartStub(R"([{"status": 204}])");
  auto o = Opts("hook", ChatConnectorType::kWebhook);
  o.url = base_ + "/hooks/tsunagu?site=1";
  o.secret_file = Secret("hook-secret", "s3cret");
  auto c = Make(o);
  auto r = c->Post(SampleCard(), Target(""), "tsunagu-job-42");
  ASSERT_TRUE(r.ok()) << r.status();
  auto got = Requests();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].method, "POST");
  EXPECT_EQ(got[0].path, "/hooks/tsunagu?site=1");
  EXPECT_EQ(got[0].Header("content-type"), "application/json; charset=utf-8");
  EXPECT_EQ(got[0].Header("idempotency-key"), "tsunagu-job-42");
  // The receiver's check, on the bytes as received.
  EXPECT_TRUE(VerifyWebhook("s3cret", got[0].Header("x-tsunagu-timestamp"),
                            got[0].Header("x-tsunagu-signature"), got[0].body,
                            std::chrono::system_clock::now())
                  .ok());
  const value v = value::parse(got[0].body);
  EXPECT_EQ(v.at("study").at("description").as_string(), "Brain <stroke> & DWI");
  EXPECT_EQ(v.at("patient_id_suffix").as_string(), "5678");
  EXPECT_TRUE(v.at("access_code_required").as_bool());
  EXPECT_NE(v.at("text").as_string().find("アクセスコード: 必要"), std::string::npos);
}

TEST_F(HttpContractTest, SlackBlocks) {
  StartStub(R"([{"status": 200, "body": "ok"}])");
  auto o = Opts("slack", ChatConnectorType::kSlack);
  o.url_file = Secret("slack-url", base_ + "/services/T0/B0/XYZ");
  auto c = Make(o);
  ASSERT_TRUE(c->Post(SampleCard(), Target(""), "k").ok());
  auto got = Requests();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].method, "POST");
  EXPECT_EQ(got[0].path, "/services/T0/B0/XYZ");
  EXPECT_EQ(got[0].Header("content-type"), "application/json");
  const value v = value::parse(got[0].body);
  EXPECT_EQ(v.at("blocks").as_array().at(0).at("text").at("type").as_string(), "mrkdwn");
  EXPECT_NE(v.at("blocks").as_array().at(0).at("text").at("text").as_string().find(
                "Brain &lt;stroke&gt; &amp; DWI"),
            std::string::npos);
}

TEST_F(HttpContractTest, ChatworkFormAndRateLimit) {
  StartStub(R"([{"status": 200, "body": "{\"message_id\":\"777\"}"},
                {"status": 429, "headers": {"Retry-After": "7"},
                 "body": "{\"errors\":[\"Rate limit exceeded\"]}"}])");
  auto o = Opts("cw", ChatConnectorType::kChatwork);
  o.api_base = base_;
  o.token_file = Secret("cw-token", "cwtok");
  auto c = Make(o);
  auto r = c->Post(SampleCard(), Target("4242"), "k");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->message_id, "777");
  r = c->Post(SampleCard(), Target("4242"), "k");
  EXPECT_EQ(r.status().code(), ErrorCode::kResourceExhausted);
  EXPECT_TRUE(r.status().retryable());
  EXPECT_EQ(r.retry_after(), std::chrono::milliseconds(7s));
  EXPECT_NE(r.status().message().find("Rate limit exceeded"), std::string::npos);
  auto got = Requests();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].method, "POST");
  EXPECT_EQ(got[0].path, "/v2/rooms/4242/messages");
  EXPECT_EQ(got[0].Header("x-chatworktoken"), "cwtok");
  EXPECT_EQ(got[0].Header("content-type"), "application/x-www-form-urlencoded");
  const std::string body = FormValue(got[0].body, "body");
  EXPECT_EQ(body.rfind("[info][title]画像共有: MR HEAD[/title]", 0), 0u) << body;
  EXPECT_EQ(FormValue(got[0].body, "self_unread"), "0");
}

TEST_F(HttpContractTest, MatrixServerErrorThenRetryWithSameTxnId) {
  StartStub(R"([{"status": 502, "body": "bad gateway"},
                {"status": 200, "body": "{\"event_id\":\"$e1\"}"}])");
  auto o = Opts("mx", ChatConnectorType::kMatrix);
  o.homeserver = base_;
  o.access_token_file = Secret("mx-token", "syt_abc");
  auto c = Make(o);
  auto r = c->Post(SampleCard(), Target("!room:hs.local"), "tsunagu-job-42");
  EXPECT_EQ(r.status().code(), ErrorCode::kUnavailable);
  EXPECT_TRUE(r.status().retryable());
  r = c->Post(SampleCard(), Target("!room:hs.local"), "tsunagu-job-42");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->message_id, "$e1");
  auto got = Requests();
  ASSERT_EQ(got.size(), 2u);
  for (const auto& g : got) {
    EXPECT_EQ(g.method, "PUT");
    EXPECT_EQ(g.path,
              "/_matrix/client/v3/rooms/%21room%3Ahs.local/send/m.room.message/tsunagu-job-42");
    EXPECT_EQ(g.Header("authorization"), "Bearer syt_abc");
  }
  const value v = value::parse(got[1].body);
  EXPECT_EQ(v.at("format").as_string(), "org.matrix.custom.html");
  EXPECT_NE(v.at("formatted_body").as_string().find("Brain &lt;stroke&gt; &amp; DWI"),
            std::string::npos);
}

TEST_F(HttpContractTest, LineWorksExpiredTokenIsRenewed) {
  EVP_PKEY* key = EVP_RSA_gen(2048);
  ASSERT_NE(key, nullptr);
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  const std::string pem(data, static_cast<std::size_t>(len));
  BIO_free(bio);
  EVP_PKEY_free(key);
  StartStub(R"([
    {"status": 200, "body": "{\"access_token\":\"AT1\",\"token_type\":\"Bearer\",\"expires_in\":\"86400\"}"},
    {"status": 401, "body": "{\"code\":\"UNAUTHORIZED\",\"description\":\"Token expired\"}"},
    {"status": 200, "body": "{\"access_token\":\"AT2\",\"token_type\":\"Bearer\",\"expires_in\":\"86400\"}"},
    {"status": 201, "body": ""}])");
  auto o = Opts("lw", ChatConnectorType::kLineWorks);
  o.api_base = base_;
  o.auth_url = base_ + "/oauth2/v2.0/token";
  o.client_id = "CID";
  o.client_secret_file = Secret("lw-secret", "CSECRET");
  o.service_account = "sa.serviceaccount@example.co.jp";
  o.private_key_file = Secret("lw-key.pem", pem);
  o.bot_id = "2000001";
  auto c = Make(o);
  auto r = c->Post(SampleCard(), Target("ch-1"), "k");
  ASSERT_TRUE(r.ok()) << r.status();
  auto got = Requests();
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].method, "POST");
  EXPECT_EQ(got[0].path, "/oauth2/v2.0/token");
  EXPECT_EQ(got[0].Header("content-type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(FormValue(got[0].body, "grant_type"), "urn:ietf:params:oauth:grant-type:jwt-bearer");
  EXPECT_EQ(FormValue(got[0].body, "scope"), "bot");
  EXPECT_EQ(got[1].path, "/v1.0/bots/2000001/channels/ch-1/messages");
  EXPECT_EQ(got[1].Header("authorization"), "Bearer AT1");
  EXPECT_EQ(got[2].path, "/oauth2/v2.0/token");
  EXPECT_EQ(got[3].Header("authorization"), "Bearer AT2");
  EXPECT_EQ(got[3].Header("content-type"), "application/json");
  const value v = value::parse(got[3].body);
  EXPECT_EQ(v.at("content").at("type").as_string(), "button_template");
  EXPECT_EQ(v.at("content").at("actions").as_array().at(0).at("uri").as_string(),
            "https://relay.example.jp/v/tok123");
}

TEST_F(HttpContractTest, TimeoutIsRetryableAndBounded) {
  StartStub(R"([{"status": 200, "delay": 4, "body": "late"}])");
  auto o = Opts("hook", ChatConnectorType::kWebhook);
  o.url = base_ + "/slow";
  o.secret_file = Secret("hook-secret", "s3cret");
  o.timeout = 1s;
  auto c = Make(o);
  const auto start = std::chrono::steady_clock::now();
  auto r = c->Post(SampleCard(), Target(""), "k");
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.status().code(), ErrorCode::kDeadlineExceeded) << r.status();
  EXPECT_TRUE(r.status().retryable());
  EXPECT_LT(took, 3s);
}

TEST_F(HttpContractTest, UntrustedCertificateIsRefused) {
  StartStub(R"([{"status": 204}])", /*trusted=*/false);
  auto o = Opts("hook", ChatConnectorType::kWebhook);
  o.url = base_ + "/hooks/x";
  o.secret_file = Secret("hook-secret", "s3cret");
  auto c = Make(o);
  auto r = c->Post(SampleCard(), Target(""), "k");
  EXPECT_EQ(r.status().code(), ErrorCode::kUnavailable) << r.status();
  EXPECT_TRUE(Requests().empty()) << "no request may reach a server whose certificate fails";
}

TEST_F(HttpContractTest, ThroughHospitalProxy) {
  StartStub(R"([{"status": 204}])");
  const auto proxy_log = *dir_ / "proxy.log";
  std::filesystem::remove(proxy_log);
  testing::Child proxy;
  ASSERT_EQ(proxy.Start({"/usr/bin/python3", TSUNAGU_CHAT_PROXY, "--log", proxy_log.string(),
                         "--lifetime", "60"}),
            "");
  std::string proxy_port;
  ASSERT_TRUE(proxy.WaitForLine("PORT ", 15s, &proxy_port));
  auto o = Opts("hook", ChatConnectorType::kWebhook);
  o.url = base_ + "/hooks/via-proxy";
  o.secret_file = Secret("hook-secret", "s3cret");
  o.proxy = "http://127.0.0.1:" + proxy_port;
  auto c = Make(o);
  auto r = c->Post(SampleCard(), Target(""), "k");
  ASSERT_TRUE(r.ok()) << r.status();
  auto got = Requests();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].path, "/hooks/via-proxy");
  // The proxy saw only the tunnel's target; TLS (and the certificate check) ran end to end.
  EXPECT_EQ(testing::ReadText(proxy_log), "CONNECT " + base_.substr(8) + " HTTP/1.1\n");
}

TEST_F(HttpContractTest, NothingListeningIsUnavailable) {
  StartStub(R"([])");
  const std::string dead = base_;
  stub_.Stop();
  auto o = Opts("mx", ChatConnectorType::kMatrix);
  o.homeserver = dead;
  o.access_token_file = Secret("mx-token", "syt_abc");
  auto c = Make(o);
  auto r = c->Post(SampleCard(), Target("!room:hs"), "k");
  EXPECT_EQ(r.status().code(), ErrorCode::kUnavailable) << r.status();
  EXPECT_TRUE(r.status().retryable());
  EXPECT_EQ(r.status().message().find("syt_abc"), std::string::npos);
}

}  // namespace
}  // namespace tsunagu::chat
