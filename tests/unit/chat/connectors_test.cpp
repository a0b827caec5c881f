// Unit tests of the HTTP connectors against a scripted transport: the exact request each sends
// (method, URL, headers, body) and how each platform's refusals become errors.
#include "tsunagu/chat/connectors.h"

#include <cpprest/json.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "fake_transport.h"
#include "tsunagu/chat/webhook_signature.h"
#include "tsunagu/common/crypto.h"

namespace tsunagu::chat {
namespace {

using namespace std::chrono_literals;
using common::ErrorCode;
using config::ChatConnectorOptions;
using config::ChatConnectorType;
using testing::FakeTransport;
using testing::HeaderOf;
using web::json::value;

ChatConnectorOptions Opts(std::string name, ChatConnectorType type) {
  ChatConnectorOptions o;
  o.name = std::move(name);
  o.type = type;
  return o;
}

Card SampleCard() {
  Card c;
  c.job_id = 42;
  c.modality = "CT";
  c.body_part = "CHEST";
  c.study_description = "CT Thorax <b>";
  c.study_date = "20261121";
  c.study_time = "2345";
  c.series_count = 3;
  c.image_count = 412;
  c.patient_id_suffix = "1234";
  c.expires_at = std::chrono::system_clock::time_point(1'800'259'200s);
  c.viewer_url = "https://relay.example.jp/v/abc";
  return c;
}

std::string FormValue(const std::string& form, const std::string& key) {
  const std::string k = key + "=";
  std::size_t pos = 0;
  while (pos < form.size()) {
    std::size_t end = form.find('&', pos);
    if (end == std::string::npos) end = form.size();
    if (form.compare(pos, k.size(), k) == 0) {
      std::string raw = form.substr(pos + k.size(), end - pos - k.size()), out;
      for (std::size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] == '%' && i + 2 < raw.size() + 0 && i + 2 <= raw.size() - 1 + 1) {
          out += static_cast<char>(std::stoi(raw.substr(i + 1, 2), nullptr, 16));
          i += 2;
        } else if (raw[i] == '+') {
          out += ' ';
        } else {
          out += raw[i];
        }
      }
      return out;
    }
    pos = end + 1;
  }
  return "<absent>";
}

class ConnectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tsunagu-chat-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path Secret(const std::string& name, const std::string& content) {
    const auto p = dir_ / name;
    std::ofstream(p) << content << "\n";
    std::filesystem::permissions(
        p, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    return p;
  }

  std::unique_ptr<ChatConnector> Make(const ChatConnectorOptions& o) {
    auto c = MakeConnector(o, {.clock = &clock_, .transport = fake_});
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::move(*c) : nullptr;
  }

  ThreadTarget Target(std::string destination, common::Language l = common::Language::kEnglish) {
    return {"cardio", std::move(destination), {l, 9h}};
  }

  std::filesystem::path dir_;
  common::FakeClock clock_;
  std::shared_ptr<FakeTransport> fake_ = std::make_shared<FakeTransport>();
};

// --- webhook ---

TEST_F(ConnectorTest, WebhookPostsSignedJson) {
  ChatConnectorOptions o = Opts("w", ChatConnectorType::kWebhook);
  o.url = "https://hospital.local/hooks/tsunagu";
  o.secret_file = Secret("whsec", "webhook-secret");
  auto c = Make(o);
  fake_->Answer(204);
  auto r = c->Post(SampleCard(), Target(""), "job-42");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(fake_->requests.size(), 1u);
  const HttpRequest& req = fake_->requests[0];
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.url, o.url);
  EXPECT_EQ(HeaderOf(req, "Content-Type"), "application/json; charset=utf-8");
  EXPECT_EQ(HeaderOf(req, "Idempotency-Key"), "job-42");
  const std::string ts = HeaderOf(req, kWebhookTimestampHeader);
  EXPECT_EQ(ts, "1800000000");
  EXPECT_TRUE(VerifyWebhook("webhook-secret", ts, HeaderOf(req, kWebhookSignatureHeader), req.body,
                            clock_.SystemNow())
                  .ok());
  const value v = value::parse(req.body);
  EXPECT_EQ(v.at("event").as_string(), "card.posted");
  EXPECT_EQ(v.at("job_id").as_integer(), 42);
  EXPECT_EQ(v.at("patient_id_suffix").as_string(), "1234");
  EXPECT_EQ(v.at("study").at("image_count").as_integer(), 412);
  EXPECT_EQ(v.at("study").at("description").as_string(), "CT Thorax <b>");
  EXPECT_EQ(v.at("expires_at").as_string(), "2027-01-18T08:00:00Z");
  EXPECT_EQ(v.at("viewer_url").as_string(), "https://relay.example.jp/v/abc");
  EXPECT_FALSE(v.at("access_code_required").as_bool());
}

TEST_F(ConnectorTest, WebhookServerErrorIsRetryable) {
  ChatConnectorOptions o = Opts("w", ChatConnectorType::kWebhook);
  o.url = "https://hospital.local/hooks/tsunagu";
  o.secret_file = Secret("whsec", "webhook-secret");
  auto c = Make(o);
  fake_->Answer(502);
  fake_->Fail(common::DeadlineExceededError("no answer within 15000 ms"));
  auto r = c->Post(SampleCard(), Target(""), "job-42");
  EXPECT_EQ(r.status().code(), ErrorCode::kUnavailable);
  EXPECT_TRUE(r.status().retryable());
  r = c->Post(SampleCard(), Target(""), "job-42");
  EXPECT_EQ(r.status().code(), ErrorCode::kDeadlineExceeded);
  EXPECT_TRUE(r.status().retryable());
  EXPECT_EQ(r.status().message(), "webhook: no answer within 15000 ms");
}

TEST_F(ConnectorTest, InvalidCardIsRefusedBeforeSending) {
  ChatConnectorOptions o = Opts("w", ChatConnectorType::kWebhook);
  o.url = "https://hospital.local/hooks/tsunagu";
  o.secret_file = Secret("whsec", "webhook-secret");
  auto c = Make(o);
  Card card = SampleCard();
  card.patient_id_suffix = "PID-98761234";
  auto r = c->Post(card, Target(""), "job-42");
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(fake_->requests.empty());
}

// --- Slack-compatible ---

TEST_F(ConnectorTest, SlackBlocksWithButton) {
  ChatConnectorOptions o = Opts("s", ChatConnectorType::kSlack);
  o.url_file = Secret("hook", "https://hooks.slack.com/services/T000/B000/XXXX");
  o.style = "blocks";
  auto c = Make(o);
  fake_->Answer(200, "ok");
  ASSERT_TRUE(c->Post(SampleCard(), Target(""), "job-42").ok());
  const HttpRequest& req = fake_->requests[0];
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.url, "https://hooks.slack.com/services/T000/B000/XXXX");
  EXPECT_EQ(HeaderOf(req, "Content-Type"), "application/json");
  const value v = value::parse(req.body);
  EXPECT_EQ(v.at("text").as_string(), "Images shared: CT CHEST");
  const auto& blocks = v.at("blocks").as_array();
  ASSERT_EQ(blocks.size(), 2u);
  EXPECT_EQ(blocks.at(0).at("type").as_string(), "section");
  EXPECT_EQ(blocks.at(0).at("text").at("type").as_string(), "mrkdwn");
  EXPECT_NE(blocks.at(0).at("text").at("text").as_string().find("CT Thorax &lt;b&gt;"),
            std::string::npos);
  EXPECT_EQ(blocks.at(1).at("type").as_string(), "actions");
  const auto& button = blocks.at(1).at("elements").as_array().at(0);
  EXPECT_EQ(button.at("type").as_string(), "button");
  EXPECT_EQ(button.at("url").as_string(), "https://relay.example.jp/v/abc");
  EXPECT_EQ(button.at("text").at("type").as_string(), "plain_text");
}

TEST_F(ConnectorTest, MattermostAttachments) {
  ChatConnectorOptions o = Opts("s", ChatConnectorType::kSlack);
  o.url_file = Secret("hook", "https://mattermost.hospital.local/hooks/abc");
  o.style = "attachments";
  auto c = Make(o);
  fake_->Answer(200, "ok");
  ASSERT_TRUE(c->Post(SampleCard(), Target("town-square", common::Language::kJapanese), "k").ok());
  const value v = value::parse(fake_->requests[0].body);
  EXPECT_EQ(v.at("channel").as_string(), "town-square");
  const auto& a = v.at("attachments").as_array().at(0);
  EXPECT_EQ(a.at("title_link").as_string(), "https://relay.example.jp/v/abc");
  EXPECT_NE(a.at("text").as_string().find("有効期限"), std::string::npos);
  EXPECT_FALSE(a.at("fallback").as_string().empty());
}

TEST_F(ConnectorTest, SlackUnknownHookIsNotRetryable) {
  ChatConnectorOptions o = Opts("s", ChatConnectorType::kSlack);
  o.url_file = Secret("hook", "https://hooks.slack.com/services/T000/B000/XXXX");
  auto c = Make(o);
  fake_->Answer(404, "no_service");
  auto r = c->Post(SampleCard(), Target(""), "k");
  EXPECT_EQ(r.status().code(), ErrorCode::kNotFound);
  EXPECT_FALSE(r.status().retryable());
  EXPECT_NE(r.status().message().find("no_service"), std::string::npos);
  EXPECT_EQ(r.status().message().find("XXXX"), std::string::npos) << "the URL is the secret";
}

// --- Chatwork ---

TEST_F(ConnectorTest, ChatworkPostsFormEncodedBody) {
  ChatConnectorOptions o = Opts("cw", ChatConnectorType::kChatwork);
  o.api_base = "https://api.chatwork.com";
  o.token_file = Secret("cwtoken", "cw-token-value");
  auto c = Make(o);
  fake_->Answer(200, R"({"message_id":"1234567890"})");
  auto r = c->Post(SampleCard(), Target("98765"), "k");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->message_id, "1234567890");
  const HttpRequest& req = fake_->requests[0];
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.url, "https://api.chatwork.com/v2/rooms/98765/messages");
  EXPECT_EQ(HeaderOf(req, "X-ChatWorkToken"), "cw-token-value");
  EXPECT_EQ(HeaderOf(req, "Content-Type"), "application/x-www-form-urlencoded");
  const std::string body = FormValue(req.body, "body");
  EXPECT_EQ(body.rfind("[info][title]Images shared: CT CHEST[/title]", 0), 0u) << body;
  EXPECT_NE(body.find("https://relay.example.jp/v/abc"), std::string::npos);
  EXPECT_EQ(FormValue(req.body, "self_unread"), "0");
}

TEST_F(ConnectorTest, NoticesAreEscapedPlainText) {
  ChatConnectorOptions s = Opts("s", ChatConnectorType::kSlack);
  s.url_file = Secret("hook", "https://hooks.slack.com/services/T000/B000/XXXX");
  auto slack = Make(s);
  fake_->Answer(200, "ok");
  ASSERT_TRUE(slack->PostNotice("Opened 03:14: <!channel>", Target(""), "k").ok());
  EXPECT_EQ(value::parse(fake_->requests[0].body).at("text").as_string(),
            "Opened 03:14: &lt;!channel&gt;");
  ChatConnectorOptions cw = Opts("cw", ChatConnectorType::kChatwork);
  cw.api_base = "https://api.chatwork.com";
  cw.token_file = Secret("cwtoken", "t");
  auto chatwork = Make(cw);
  fake_->Answer(200, R"({"message_id":"1"})");
  ASSERT_TRUE(chatwork->PostNotice("[toall] seen", Target("1"), "k").ok());
  EXPECT_EQ(FormValue(fake_->requests[1].body, "body"), "\xEF\xBC\xBBtoall\xEF\xBC\xBD seen");
  ChatConnectorOptions m = Opts("m", ChatConnectorType::kMatrix);
  m.homeserver = "https://hs";
  m.access_token_file = Secret("t", "tok");
  EXPECT_EQ(Make(m)->PostNotice("x", Target("!r:hs"), "k").status().code(),
            ErrorCode::kFailedPrecondition);
}

TEST_F(ConnectorTest, ChatworkRateLimitUsesResetHeader) {
  ChatConnectorOptions o = Opts("cw", ChatConnectorType::kChatwork);
  o.api_base = "https://api.chatwork.com";
  o.token_file = Secret("cwtoken", "cw-token-value");
  auto c = Make(o);
  fake_->Answer(429, R"({"errors":["Rate limit exceeded"]})",
                {{"X-RateLimit-Reset", "1800000120"}});
  auto r = c->Post(SampleCard(), Target("98765"), "k");
  EXPECT_EQ(r.status().code(), ErrorCode::kResourceExhausted);
  EXPECT_TRUE(r.status().retryable());
  EXPECT_EQ(r.retry_after(), std::chrono::milliseconds(120s));
}

TEST_F(ConnectorTest, ChatworkNeedsNumericRoom) {
  ChatConnectorOptions o = Opts("cw", ChatConnectorType::kChatwork);
  o.api_base = "https://api.chatwork.com";
  o.token_file = Secret("cwtoken", "cw-token-value");
  auto c = Make(o);
  auto r = c->Post(SampleCard(), Target("#!rid98765"), "k");
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(fake_->requests.empty());
}

// --- Matrix ---

class MatrixTest : public ConnectorTest {
 protected:
  std::unique_ptr<ChatConnector> MakeMatrix() {
    ChatConnectorOptions o = Opts("m", ChatConnectorType::kMatrix);
    o.homeserver = "https://matrix.hospital.local";
    o.access_token_file = Secret("mxtoken", "syt_token");
    return Make(o);
  }
};

TEST_F(MatrixTest, PutsHtmlMessageWithTransactionId) {
  auto c = MakeMatrix();
  fake_->Answer(200, R"({"event_id":"$ev1"})");
  auto r = c->Post(SampleCard(), Target("!abc:hospital.local"), "tsunagu-job-42");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->message_id, "$ev1");
  EXPECT_TRUE(r->exactly_once);
  const HttpRequest& req = fake_->requests[0];
  EXPECT_EQ(req.method, "PUT");
  EXPECT_EQ(req.url,
            "https://matrix.hospital.local/_matrix/client/v3/rooms/%21abc%3Ahospital.local/send/"
            "m.room.message/tsunagu-job-42");
  EXPECT_EQ(HeaderOf(req, "Authorization"), "Bearer syt_token");
  const value v = value::parse(req.body);
  EXPECT_EQ(v.at("msgtype").as_string(), "m.text");
  EXPECT_EQ(v.at("format").as_string(), "org.matrix.custom.html");
  EXPECT_NE(v.at("formatted_body").as_string().find("CT Thorax &lt;b&gt;"), std::string::npos);
  EXPECT_NE(v.at("body").as_string().find("Open images: https://relay.example.jp/v/abc"),
            std::string::npos);
}

TEST_F(MatrixTest, ThumbnailIsUploadedToTheMediaRepositoryAndShownAsMxcImage) {
  auto c = MakeMatrix();
  Card card = SampleCard();
  card.thumbnail_url = "https://relay.example.jp/thumb/t0k.jpg";
  const std::string jpeg("\xFF\xD8\xFF\xE0\x00\x10JFIF\x00binary\x00\xFF\xD9", 20);
  fake_->Answer(200, jpeg, {{"Content-Type", "image/jpeg"}});
  fake_->Answer(200, R"({"content_uri":"mxc://hospital.local/AbCd"})");
  fake_->Answer(200, R"({"event_id":"$ev1"})");
  auto r = c->Post(card, Target("!abc:hospital.local", common::Language::kJapanese), "job-1");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(fake_->requests.size(), 3u);
  EXPECT_EQ(fake_->requests[0].method, "GET");
  EXPECT_EQ(fake_->requests[0].url, "https://relay.example.jp/thumb/t0k.jpg");
  EXPECT_EQ(HeaderOf(fake_->requests[0], "Authorization"), "") << "no token to the relay";
  const HttpRequest& up = fake_->requests[1];
  EXPECT_EQ(up.method, "POST");
  EXPECT_EQ(up.url, "https://matrix.hospital.local/_matrix/media/v3/upload?filename=thumbnail.jpg");
  EXPECT_EQ(HeaderOf(up, "Content-Type"), "image/jpeg");
  EXPECT_EQ(HeaderOf(up, "Authorization"), "Bearer syt_token");
  EXPECT_EQ(up.body, jpeg);
  const value v = value::parse(fake_->requests[2].body);
  const std::string html = v.at("formatted_body").as_string();
  EXPECT_EQ(html.rfind("<img src=\"mxc://hospital.local/AbCd\" alt=\"サムネイル\"", 0), 0u) << html;
  EXPECT_EQ(html.find("t0k"), std::string::npos) << "the relay's thumbnail token stays private";
}

TEST_F(MatrixTest, CardIsPostedWithoutThumbnailWhenTheUploadFails) {
  auto c = MakeMatrix();
  Card card = SampleCard();
  card.thumbnail_url = "https://relay.example.jp/thumb/t0k.jpg";
  fake_->Answer(200, "jpeg-bytes", {{"Content-Type", "image/jpeg"}});
  fake_->Answer(413, R"({"errcode":"M_TOO_LARGE"})");
  fake_->Answer(200, R"({"event_id":"$ev1"})");
  auto r = c->Post(card, Target("!abc:hs"), "job-2");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(fake_->requests.size(), 3u);
  EXPECT_EQ(value::parse(fake_->requests[2].body).at("formatted_body").as_string().find("<img"),
            std::string::npos);
  // An answer that is not an mxc URI is not put into the HTML either.
  fake_->Answer(200, "jpeg-bytes");
  fake_->Answer(200, R"({"content_uri":"https://evil.example/x\" onerror=\"x"})");
  fake_->Answer(200, R"({"event_id":"$ev2"})");
  ASSERT_TRUE(c->Post(card, Target("!abc:hs"), "job-3").ok());
  ASSERT_EQ(fake_->requests.size(), 6u);
  EXPECT_EQ(value::parse(fake_->requests[5].body).at("formatted_body").as_string().find("<img"),
            std::string::npos);
}

TEST_F(MatrixTest, RetryUsesTheSameTransactionId) {
  auto c = MakeMatrix();
  fake_->Fail(common::DeadlineExceededError("timeout"));
  fake_->Answer(200, R"({"event_id":"$ev1"})");
  EXPECT_FALSE(c->Post(SampleCard(), Target("!abc:hs"), "tsunagu-job-42").ok());
  EXPECT_TRUE(c->Post(SampleCard(), Target("!abc:hs"), "tsunagu-job-42").ok());
  ASSERT_EQ(fake_->requests.size(), 2u);
  EXPECT_EQ(fake_->requests[0].url, fake_->requests[1].url);
}

TEST_F(MatrixTest, EditReplacesTheCard) {
  auto c = MakeMatrix();
  fake_->Answer(200, R"({"event_id":"$ev2"})");
  Card card = SampleCard();
  card.state = CardState::kExpired;
  auto r = c->Update(card, Target("!abc:hs"), "$ev1", "tsunagu-job-42-expired");
  ASSERT_TRUE(r.ok()) << r.status();
  const value v = value::parse(fake_->requests[0].body);
  EXPECT_EQ(v.at("m.relates_to").at("rel_type").as_string(), "m.replace");
  EXPECT_EQ(v.at("m.relates_to").at("event_id").as_string(), "$ev1");
  EXPECT_NE(v.at("m.new_content").at("body").as_string().find("This link has expired"),
            std::string::npos);
  EXPECT_EQ(v.at("m.new_content").at("body").as_string().find("relay.example.jp"),
            std::string::npos);
  EXPECT_EQ(v.at("body").as_string().rfind("* ", 0), 0u);
}

TEST_F(MatrixTest, RateLimitCarriesRetryAfterMs) {
  auto c = MakeMatrix();
  fake_->Answer(429, R"({"errcode":"M_LIMIT_EXCEEDED","error":"Too many","retry_after_ms":2500})");
  auto r = c->Post(SampleCard(), Target("!abc:hs"), "k");
  EXPECT_EQ(r.status().code(), ErrorCode::kResourceExhausted);
  EXPECT_TRUE(r.status().retryable());
  EXPECT_EQ(r.retry_after(), std::chrono::milliseconds(2500));
  EXPECT_NE(r.status().message().find("M_LIMIT_EXCEEDED"), std::string::npos);
}

TEST_F(MatrixTest, BadTokenAndForbiddenRoomAreNotRetryable) {
  auto c = MakeMatrix();
  fake_->Answer(401, R"({"errcode":"M_UNKNOWN_TOKEN","error":"Invalid access token"})");
  fake_->Answer(403, R"({"errcode":"M_FORBIDDEN","error":"not in room"})");
  auto r = c->Post(SampleCard(), Target("!abc:hs"), "k");
  EXPECT_EQ(r.status().code(), ErrorCode::kUnauthenticated);
  EXPECT_FALSE(r.status().retryable());
  EXPECT_EQ(r.status().message().find("syt_token"), std::string::npos);
  r = c->Post(SampleCard(), Target("!abc:hs"), "k");
  EXPECT_EQ(r.status().code(), ErrorCode::kPermissionDenied);
  EXPECT_FALSE(r.status().retryable());
}

TEST_F(MatrixTest, DestinationMustBeARoomId) {
  auto c = MakeMatrix();
  EXPECT_EQ(c->Post(SampleCard(), Target("#alias:hs"), "k").status().code(),
            ErrorCode::kInvalidArgument);
}

// --- LINE WORKS ---

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};

class LineWorksTest : public ConnectorTest {
 protected:
  void SetUp() override {
    ConnectorTest::SetUp();
    key_.reset(EVP_RSA_gen(2048));
    ASSERT_TRUE(key_);
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, key_.get(), nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio, &data);
    pem_.assign(data, static_cast<std::size_t>(len));
    BIO_free(bio);
  }

  std::unique_ptr<ChatConnector> MakeLineWorks(const std::string& type = "button_template") {
    ChatConnectorOptions o = Opts("lw", ChatConnectorType::kLineWorks);
    o.api_base = "https://www.worksapis.com";
    o.auth_url = "https://auth.worksmobile.com/oauth2/v2.0/token";
    o.client_id = "CLIENT_ID";
    o.client_secret_file = Secret("lwsecret", "CLIENT_SECRET");
    o.service_account = "abcde.serviceaccount@example.co.jp";
    o.private_key_file = Secret("lwkey", pem_);
    o.bot_id = "2000001";
    o.message_type = type;
    return Make(o);
  }

  bool VerifyJwt(const std::string& jwt) {
    const auto dot2 = jwt.rfind('.');
    auto sig = common::Base64UrlDecode(jwt.substr(dot2 + 1));
    if (!sig.ok()) return false;
    const std::string input = jwt.substr(0, dot2);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    bool ok =
        EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key_.get()) == 1 &&
        EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig->data()), sig->size(),
                         reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
  }

  std::unique_ptr<EVP_PKEY, PkeyFree> key_;
  std::string pem_;
};

TEST_F(LineWorksTest, GetsTokenWithSignedJwtThenPostsButtonTemplate) {
  auto c = MakeLineWorks();
  fake_->Answer(200, R"({"access_token":"AT1","refresh_token":"RT","scope":"bot",)"
                     R"("token_type":"Bearer","expires_in":"86400"})");
  fake_->Answer(201, "");
  auto r = c->Post(SampleCard(), Target("channel-uuid-1"), "k");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(fake_->requests.size(), 2u);
  const HttpRequest& auth = fake_->requests[0];
  EXPECT_EQ(auth.method, "POST");
  EXPECT_EQ(auth.url, "https://auth.worksmobile.com/oauth2/v2.0/token");
  EXPECT_EQ(HeaderOf(auth, "Content-Type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(FormValue(auth.body, "grant_type"), "urn:ietf:params:oauth:grant-type:jwt-bearer");
  EXPECT_EQ(FormValue(auth.body, "client_id"), "CLIENT_ID");
  EXPECT_EQ(FormValue(auth.body, "client_secret"), "CLIENT_SECRET");
  EXPECT_EQ(FormValue(auth.body, "scope"), "bot");
  const std::string jwt = FormValue(auth.body, "assertion");
  EXPECT_TRUE(VerifyJwt(jwt)) << jwt;
  const std::string claims_json =
      *common::Base64UrlDecode(jwt.substr(jwt.find('.') + 1, jwt.rfind('.') - jwt.find('.') - 1));
  const value claims = value::parse(claims_json);
  EXPECT_EQ(claims.at("iss").as_string(), "CLIENT_ID");
  EXPECT_EQ(claims.at("sub").as_string(), "abcde.serviceaccount@example.co.jp");
  EXPECT_EQ(claims.at("iat").as_number().to_int64(), 1'800'000'000);
  EXPECT_EQ(claims.at("exp").as_number().to_int64(), 1'800'003'600);
  const value header = value::parse(*common::Base64UrlDecode(jwt.substr(0, jwt.find('.'))));
  EXPECT_EQ(header.at("alg").as_string(), "RS256");

  const HttpRequest& msg = fake_->requests[1];
  EXPECT_EQ(msg.method, "POST");
  EXPECT_EQ(msg.url,
            "https://www.worksapis.com/v1.0/bots/2000001/channels/channel-uuid-1/messages");
  EXPECT_EQ(HeaderOf(msg, "Authorization"), "Bearer AT1");
  const value v = value::parse(msg.body);
  EXPECT_EQ(v.at("content").at("type").as_string(), "button_template");
  EXPECT_NE(v.at("content").at("contentText").as_string().find("CT Thorax"), std::string::npos);
  const auto& action = v.at("content").at("actions").as_array().at(0);
  EXPECT_EQ(action.at("type").as_string(), "uri");
  EXPECT_EQ(action.at("uri").as_string(), "https://relay.example.jp/v/abc");
  EXPECT_EQ(action.at("label").as_string(), "Open images");
}

TEST_F(LineWorksTest, TokenIsCachedUntilExpiryThenRenewed) {
  auto c = MakeLineWorks("link");
  fake_->Answer(200, R"({"access_token":"AT1","expires_in":"86400"})");
  fake_->Answer(201);
  fake_->Answer(201);
  ASSERT_TRUE(c->Post(SampleCard(), Target("ch"), "k1").ok());
  clock_.Advance(23h);
  ASSERT_TRUE(c->Post(SampleCard(), Target("user:u-1"), "k2").ok());
  ASSERT_EQ(fake_->requests.size(), 3u) << "one token for both posts";
  EXPECT_EQ(fake_->requests[2].url,
            "https://www.worksapis.com/v1.0/bots/2000001/users/u-1/messages");
  const value v = value::parse(fake_->requests[2].body);
  EXPECT_EQ(v.at("content").at("type").as_string(), "link");
  EXPECT_EQ(v.at("content").at("link").as_string(), "https://relay.example.jp/v/abc");
  clock_.Advance(1h);  // past expiry minus the margin
  fake_->Answer(200, R"({"access_token":"AT2","expires_in":86400})");
  fake_->Answer(201);
  ASSERT_TRUE(c->Post(SampleCard(), Target("ch"), "k3").ok());
  ASSERT_EQ(fake_->requests.size(), 5u);
  EXPECT_EQ(fake_->requests[3].url, "https://auth.worksmobile.com/oauth2/v2.0/token");
  EXPECT_EQ(HeaderOf(fake_->requests[4], "Authorization"), "Bearer AT2");
}

TEST_F(LineWorksTest, RefusedTokenIsRenewedOnce) {
  auto c = MakeLineWorks();
  fake_->Answer(200, R"({"access_token":"AT1","expires_in":"86400"})");
  fake_->Answer(401, R"({"code":"UNAUTHORIZED","description":"expired token"})");
  fake_->Answer(200, R"({"access_token":"AT2","expires_in":"86400"})");
  fake_->Answer(201);
  ASSERT_TRUE(c->Post(SampleCard(), Target("ch"), "k").ok());
  ASSERT_EQ(fake_->requests.size(), 4u);
  EXPECT_EQ(HeaderOf(fake_->requests[3], "Authorization"), "Bearer AT2");
  // A second 401 right after a fresh token is a real refusal.
  fake_->Answer(401, R"({"code":"UNAUTHORIZED"})");
  fake_->Answer(200, R"({"access_token":"AT3","expires_in":"86400"})");
  fake_->Answer(401, R"({"code":"UNAUTHORIZED"})");
  auto r = c->Post(SampleCard(), Target("ch"), "k");
  EXPECT_EQ(r.status().code(), ErrorCode::kUnauthenticated);
  EXPECT_FALSE(r.status().retryable());
}

TEST_F(LineWorksTest, ForbiddenExplainsExternalUsers) {
  auto c = MakeLineWorks();
  fake_->Answer(200, R"({"access_token":"AT1","expires_in":"86400"})");
  fake_->Answer(403, R"({"code":"FORBIDDEN","description":"bot is not a member"})");
  auto r = c->Post(SampleCard(), Target("ch"), "k");
  EXPECT_EQ(r.status().code(), ErrorCode::kPermissionDenied);
  EXPECT_FALSE(r.status().retryable());
  EXPECT_NE(r.status().message().find("external users"), std::string::npos);
}

TEST_F(LineWorksTest, BadCredentialsAtAuthServer) {
  auto c = MakeLineWorks();
  fake_->Answer(400, R"({"error":"invalid_client"})");
  auto r = c->Post(SampleCard(), Target("ch"), "k");
  EXPECT_EQ(r.status().code(), ErrorCode::kUnauthenticated);
  EXPECT_NE(r.status().message().find("invalid_client"), std::string::npos);
  EXPECT_EQ(r.status().message().find("CLIENT_SECRET"), std::string::npos);
}

TEST_F(LineWorksTest, ContentTextStaysWithinTheLimitAndValidUtf8) {
  auto c = MakeLineWorks();
  fake_->Answer(200, R"({"access_token":"AT1","expires_in":"86400"})");
  fake_->Answer(201);
  Card card = SampleCard();
  card.sender_note = std::string(400, 'a');
  for (int i = 0; i < 300; ++i) card.sender_note += "あ";
  card.study_description.clear();
  for (int i = 0; i < 700; ++i) card.study_description += "い";  // well past 1,000 in total
  ASSERT_TRUE(c->Post(card, Target("ch"), "k").ok());
  const value v = value::parse(fake_->requests[1].body);  // throws on invalid UTF-8 JSON
  const std::string text = v.at("content").at("contentText").as_string();
  std::size_t chars = 0;
  for (unsigned char ch : text) chars += (ch & 0xC0) != 0x80;
  EXPECT_LE(chars, 1000u);
  EXPECT_EQ(StripControl(text), [&] {
    std::string t = text;
    for (auto& ch : t) ch = ch == '\n' ? ' ' : ch;
    return t;
  }()) << "no broken UTF-8 sequence";
}

TEST_F(LineWorksTest, NoticeIsATextMessage) {
  auto c = MakeLineWorks();
  fake_->Answer(200, R"({"access_token":"AT1","expires_in":"86400"})");
  fake_->Answer(201);
  ASSERT_TRUE(c->PostNotice("既読 03:14: 画像共有: CT", Target("ch"), "k").ok());
  const value v = value::parse(fake_->requests[1].body);
  EXPECT_EQ(v.at("content").at("type").as_string(), "text");
  EXPECT_EQ(v.at("content").at("text").as_string(), "既読 03:14: 画像共有: CT");
  EXPECT_EQ(fake_->requests[1].url,
            "https://www.worksapis.com/v1.0/bots/2000001/channels/ch/messages");
}

TEST_F(LineWorksTest, FlexBubbleWithThumbnail) {
  auto c = MakeLineWorks("flex");
  fake_->Answer(200, R"({"access_token":"AT1","expires_in":"86400"})");
  fake_->Answer(201);
  Card card = SampleCard();
  card.thumbnail_url = "https://relay.example.jp/t/xyz";
  ASSERT_TRUE(c->Post(card, Target("ch"), "k").ok());
  const value v = value::parse(fake_->requests[1].body);
  EXPECT_EQ(v.at("content").at("type").as_string(), "flex");
  EXPECT_EQ(v.at("content").at("contents").at("type").as_string(), "bubble");
  EXPECT_EQ(v.at("content").at("contents").at("hero").at("url").as_string(),
            "https://relay.example.jp/t/xyz");
  EXPECT_EQ(v.at("content")
                .at("contents")
                .at("footer")
                .at("contents")
                .as_array()
                .at(0)
                .at("action")
                .at("uri")
                .as_string(),
            "https://relay.example.jp/v/abc");
}

TEST_F(LineWorksTest, NotAKeyIsReportedAtStartUp) {
  ChatConnectorOptions o = Opts("lw", ChatConnectorType::kLineWorks);
  o.client_secret_file = Secret("lwsecret", "CLIENT_SECRET");
  o.private_key_file = Secret("lwkey", "not a key");
  auto c = MakeConnector(o, {.clock = &clock_, .transport = fake_});
  EXPECT_EQ(c.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(c.status().message().find("private_key_file"), std::string::npos);
}

TEST_F(ConnectorTest, SecretFileReadableByOthersIsRefused) {
  ChatConnectorOptions o = Opts("cw", ChatConnectorType::kChatwork);
  o.token_file = Secret("cwtoken", "cw-token-value");
  std::filesystem::permissions(o.token_file, std::filesystem::perms::others_read,
                               std::filesystem::perm_options::add);
  auto c = MakeConnector(o, {.clock = &clock_, .transport = fake_});
  EXPECT_EQ(c.status().code(), ErrorCode::kPermissionDenied);
  EXPECT_NE(c.status().message().find("token_file"), std::string::npos);
  EXPECT_EQ(c.status().message().find("cw-token-value"), std::string::npos);
}

TEST_F(ConnectorTest, TestPostsAHarmlessCard) {
  ChatConnectorOptions o = Opts("m", ChatConnectorType::kMatrix);
  o.homeserver = "https://hs";
  o.access_token_file = Secret("t", "tok");
  auto c = Make(o);
  fake_->Answer(200, R"({"event_id":"$t"})");
  EXPECT_TRUE(c->Test(Target("!r:hs")).ok());
  const value v = value::parse(fake_->requests[0].body);
  EXPECT_NE(v.at("body").as_string().find("connection test"), std::string::npos);
  fake_->Answer(404, R"({"errcode":"M_NOT_FOUND"})");
  EXPECT_EQ(c->Test(Target("!r:hs")).code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace tsunagu::chat
