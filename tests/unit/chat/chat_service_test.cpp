#include "tsunagu/chat/chat_service.h"

#include <cpprest/json.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <stdlib.h>

#include <fstream>
#include <sstream>

#include "fake_transport.h"
#include "tsunagu/common/logging.h"

namespace tsunagu::chat {
namespace {

using namespace std::chrono_literals;
using common::ErrorCode;
using testing::FakeTransport;
using web::json::value;

class ChatServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tsunagu-chat-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    const auto token = dir_ / "token";
    std::ofstream(token) << "tok\n";
    std::filesystem::permissions(token, std::filesystem::perms::owner_read);

    options_.language = common::Language::kJapanese;
    options_.chat.utc_offset = 9h;
    config::ChatConnectorOptions mx;
    mx.name = "mx";
    mx.type = config::ChatConnectorType::kMatrix;
    mx.homeserver = "https://hs";
    mx.access_token_file = token;
    config::ChatConnectorOptions cw;
    cw.name = "cw";
    cw.type = config::ChatConnectorType::kChatwork;
    cw.api_base = "https://cw";
    cw.token_file = token;
    options_.chat.connectors = {mx, cw};
    config::ThreadOptions night;
    night.name = "night";
    night.connector = "mx";
    night.destination = "!night:hs";
    night.access_code_required = true;
    night.language = common::Language::kEnglish;
    config::ThreadOptions patient;
    patient.name = "per-patient";
    patient.connector = "mx";
    patient.chat.per_patient = true;
    patient.chat.room_label = "ER";
    patient.chat.invite = {"@dr:hs"};
    patient.chat.thumbnails = true;
    config::ThreadOptions chatwork;
    chatwork.name = "cw-room";
    chatwork.connector = "cw";
    chatwork.destination = "123";
    options_.threads = {night, patient, chatwork};
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<ChatService> Make() {
    auto s = ChatService::Create(options_, {.clock = &clock_,
                                            .patient_rooms = store_.get(),
                                            .transport = fake_,
                                            .log = nullptr,
                                            .metrics = nullptr});
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }

  static Card SampleCard() {
    Card c;
    c.job_id = 9;
    c.modality = "CT";
    c.patient_id_suffix = "1234";
    c.expires_at = std::chrono::system_clock::time_point(1'800'000'000s);
    c.viewer_url = "https://relay/v/x";
    c.thumbnail_url = "https://relay/t/y";
    return c;
  }

  std::filesystem::path dir_;
  common::FakeClock clock_;
  std::shared_ptr<FakeTransport> fake_ = std::make_shared<FakeTransport>();
  std::unique_ptr<PatientThreadStore> store_ =
      std::move(PatientThreadStore::Open(":memory:", &clock_).value());
  config::GatewayOptions options_;
};

TEST_F(ChatServiceTest, ListsThreadsWithCapabilities) {
  auto s = Make();
  ASSERT_EQ(s->threads().size(), 3u);
  EXPECT_EQ(s->threads()[0].name, "night");
  EXPECT_TRUE(s->threads()[0].capabilities.can_edit);
  EXPECT_EQ(s->threads()[0].language, common::Language::kEnglish);
  EXPECT_EQ(s->threads()[1].language, common::Language::kJapanese);
  EXPECT_FALSE(s->threads()[2].capabilities.can_edit);
}

TEST_F(ChatServiceTest, PostAppliesThreadPolicy) {
  auto s = Make();
  fake_->Answer(200, R"({"event_id":"$e"})");
  Card card = SampleCard();
  card.access_code_required = false;  // the thread's policy decides
  auto r = s->Post("night", card, std::nullopt, "tsunagu-job-9");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->destination, "!night:hs");
  EXPECT_EQ(r->message_id, "$e");
  const value v = value::parse(fake_->requests[0].body);
  const std::string body = v.at("body").as_string();
  EXPECT_NE(body.find("Access code: required"), std::string::npos) << body;
  EXPECT_EQ(body.find("relay/t/y"), std::string::npos) << "thumbnails are off for this thread";
}

TEST_F(ChatServiceTest, PerPatientThreadCreatesRoomOnceAndRoutesThere) {
  auto s = Make();
  const PatientRoute route{PatientKey("site", "PID-77771234", "H"), "1234"};
  fake_->Answer(200, R"({"room_id":"!p1:hs"})");
  // The thread shows thumbnails: each post fetches the JPEG and uploads it first.
  fake_->Answer(200, "jpeg");
  fake_->Answer(200, R"({"content_uri":"mxc://hs/1"})");
  fake_->Answer(200, R"({"event_id":"$a"})");
  fake_->Answer(200, "jpeg");
  fake_->Answer(200, R"({"content_uri":"mxc://hs/2"})");
  fake_->Answer(200, R"({"event_id":"$b"})");
  auto first = s->Post("per-patient", SampleCard(), route, "tsunagu-job-9");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->destination, "!p1:hs");
  auto second = s->Post("per-patient", SampleCard(), route, "tsunagu-job-10");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->destination, "!p1:hs");
  ASSERT_EQ(fake_->requests.size(), 7u) << "one room; per post: thumbnail, upload, message";
  EXPECT_NE(fake_->requests[0].url.find("/createRoom"), std::string::npos);
  EXPECT_NE(fake_->requests[2].url.find("/_matrix/media/v3/upload"), std::string::npos);
  EXPECT_NE(fake_->requests[3].url.find("/rooms/%21p1%3Ahs/send/"), std::string::npos);
  EXPECT_NE(fake_->requests[6].url.find("/rooms/%21p1%3Ahs/send/"), std::string::npos);
  EXPECT_EQ(s->Post("per-patient", SampleCard(), std::nullopt, "k").status().code(),
            ErrorCode::kInvalidArgument);
}

TEST_F(ChatServiceTest, UpdateOnlyWhereThePlatformCanEdit) {
  auto s = Make();
  Card expired = SampleCard();
  expired.state = CardState::kExpired;
  auto refused = s->Update("cw-room", expired, {"1", false, "123"}, "k-expired");
  EXPECT_EQ(refused.status().code(), ErrorCode::kFailedPrecondition);
  EXPECT_TRUE(fake_->requests.empty());
  fake_->Answer(200, R"({"event_id":"$edit"})");
  auto edited = s->Update("night", expired, {"$e", true, "!night:hs"}, "k-expired");
  ASSERT_TRUE(edited.ok()) << edited.status();
  EXPECT_NE(fake_->requests[0].url.find("/rooms/%21night%3Ahs/send/m.room.message/k-expired"),
            std::string::npos);
}

// Every sink is captured while cards with canary values are posted, refused and edited: the log
// names the thread, connector, job and error code, never card text, tokens or patient keys.
TEST_F(ChatServiceTest, LogsNeverCarryCardTextTokensOrPatientKeys) {
  std::ostringstream sink_out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(sink_out);
  auto log = common::MakeLogger("chat", {sink}, spdlog::level::trace);
  const auto token = dir_ / "canary-token";
  { std::ofstream(token) << "CANARY-TOKEN-123\n"; }
  std::filesystem::permissions(token, std::filesystem::perms::owner_read);
  for (auto& c : options_.chat.connectors) {
    c.access_token_file = token;
    c.token_file = token;
  }
  auto s = ChatService::Create(options_, {.clock = &clock_,
                                          .patient_rooms = store_.get(),
                                          .transport = fake_,
                                          .log = log,
                                          .metrics = nullptr});
  ASSERT_TRUE(s.ok()) << s.status();
  Card card = SampleCard();
  card.study_description = "CANARY-DESCRIPTION";
  card.sender_note = "CANARY-NOTE";
  card.viewer_url = "https://relay/v/CANARY-LINK-TOKEN";
  const std::string patient_key = PatientKey("site", "CANARY-PID-0001", "H");
  fake_->Answer(200, R"({"room_id":"!p:hs"})");
  fake_->Answer(200, "jpeg");
  fake_->Answer(200, R"({"content_uri":"mxc://hs/1"})");
  fake_->Answer(200, R"({"event_id":"$a"})");
  fake_->Answer(429, R"({"errcode":"M_LIMIT_EXCEEDED","retry_after_ms":900})");
  fake_->Answer(401, R"({"errors":["Invalid API Token"]})");
  fake_->Answer(200, R"({"event_id":"$edit"})");
  ASSERT_TRUE((*s)->Post("per-patient", card, PatientRoute{patient_key, "0001"}, "k1").ok());
  EXPECT_FALSE((*s)->Post("night", card, std::nullopt, "k2").ok());
  EXPECT_FALSE((*s)->Post("cw-room", card, std::nullopt, "k3").ok());
  card.state = CardState::kRevoked;
  ASSERT_TRUE((*s)->Update("night", card, {"$a", true, "!night:hs"}, "k2-revoked").ok());
  log->flush();
  const std::string text = sink_out.str();
  EXPECT_NE(text.find("chat.posted thread=per-patient connector=mx job=9"), std::string::npos)
      << text;
  EXPECT_NE(text.find("code=resource_exhausted retryable=true retry_after_ms=900"),
            std::string::npos);
  EXPECT_NE(text.find("code=unauthenticated retryable=false"), std::string::npos);
  EXPECT_NE(text.find("chat.updated thread=night"), std::string::npos);
  for (const std::string& canary :
       std::vector<std::string>{"CANARY-DESCRIPTION", "CANARY-NOTE", "CANARY-LINK-TOKEN",
                                "CANARY-TOKEN-123", "CANARY-PID", patient_key}) {
    EXPECT_EQ(text.find(canary), std::string::npos) << canary << " in\n" << text;
  }
}

TEST_F(ChatServiceTest, SeenReceiptEditsOrFollowsUp) {
  options_.threads[0].chat.seen_receipts = true;  // night: Matrix, can edit
  options_.threads[2].chat.seen_receipts = true;  // cw-room: Chatwork, cannot
  auto s = Make();
  // 2026-11-24 18:14 UTC = 03:14 JST.
  const auto opened = std::chrono::sys_days{std::chrono::year{2026} / 11 / 24} + 18h + 14min;
  fake_->Answer(200, R"({"event_id":"$edit"})");
  fake_->Answer(200, R"({"message_id":"6"})");
  ASSERT_TRUE(
      s->NotifyOpened("night", SampleCard(), opened, {"$e", true, "!night:hs"}, "k-opened").ok());
  ASSERT_TRUE(
      s->NotifyOpened("cw-room", SampleCard(), opened, {"5", false, "123"}, "k-opened").ok());
  ASSERT_EQ(fake_->requests.size(), 2u);
  const value edit = value::parse(fake_->requests[0].body);
  EXPECT_EQ(edit.at("m.relates_to").at("event_id").as_string(), "$e");
  EXPECT_NE(edit.at("m.new_content").at("body").as_string().find("Opened 03:14"),
            std::string::npos);
  EXPECT_EQ(fake_->requests[1].url, "https://cw/v2/rooms/123/messages");
  EXPECT_EQ(fake_->requests[1].body, "body=" +
                                         UrlEncode("既読 03:14: 画像共有: CT \xE2\x80\xA6"
                                                   "1234") +
                                         "&self_unread=0");
  // Threads without seen receipts post nothing.
  EXPECT_EQ(s->NotifyOpened("per-patient", SampleCard(), opened, {"$x", true, "!p:hs"}, "k")
                .status()
                .code(),
            ErrorCode::kFailedPrecondition);
  EXPECT_EQ(fake_->requests.size(), 2u);
}

TEST_F(ChatServiceTest, UnknownThread) {
  auto s = Make();
  EXPECT_EQ(s->Post("nope", SampleCard(), std::nullopt, "k").status().code(), ErrorCode::kNotFound);
}

TEST_F(ChatServiceTest, ChatTestCommand) {
  std::ostringstream out, err;
  fake_->Answer(200, R"({"message_id":"5"})");
  EXPECT_EQ(RunChatCommand({"test", "cw-room"}, options_,
                           {.clock = &clock_,
                            .patient_rooms = nullptr,
                            .transport = fake_,
                            .log = nullptr,
                            .metrics = nullptr},
                           out, err),
            0)
      << err.str();
  EXPECT_EQ(out.str(), "cw-room: テスト投稿を送信しました\n");
  ASSERT_EQ(fake_->requests.size(), 1u);
  EXPECT_EQ(fake_->requests[0].url, "https://cw/v2/rooms/123/messages");

  fake_->Answer(401, R"({"errors":["Invalid API token"]})");
  std::ostringstream out2, err2;
  EXPECT_EQ(RunChatCommand({"test", "cw-room"}, options_,
                           {.clock = &clock_,
                            .patient_rooms = nullptr,
                            .transport = fake_,
                            .log = nullptr,
                            .metrics = nullptr},
                           out2, err2),
            1);
  EXPECT_EQ(err2.str(),
            "cw-room: テスト投稿に失敗しました: Chatwork answered HTTP 401 (Invalid API token): "
            "the token was refused; check the token file\n");

  std::ostringstream out3, err3;
  EXPECT_EQ(RunChatCommand({"test", "nope"}, options_,
                           {.clock = &clock_,
                            .patient_rooms = nullptr,
                            .transport = fake_,
                            .log = nullptr,
                            .metrics = nullptr},
                           out3, err3),
            2);
  EXPECT_NE(err3.str().find("unknown chat thread \"nope\""), std::string::npos);
  EXPECT_EQ(RunChatCommand({"list"}, options_,
                           {.clock = &clock_,
                            .patient_rooms = nullptr,
                            .transport = fake_,
                            .log = nullptr,
                            .metrics = nullptr},
                           out3, err3),
            0);
  EXPECT_NE(out3.str().find("per-patient\tmx (matrix)\t-\t患者ごと"), std::string::npos)
      << out3.str();
}

TEST_F(ChatServiceTest, PerPatientThreadWithoutRouteUsesItsDestinationWhenItHasOne) {
  options_.threads[1].destination = "!fallback:hs";
  auto s = Make();
  fake_->Answer(200, R"({"event_id":"$f"})");
  Card card = SampleCard();
  card.thumbnail_url.reset();  // the thread shows thumbnails: no upload to script here
  auto r = s->Post("per-patient", card, std::nullopt, "tsunagu-job-9");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->destination, "!fallback:hs");
  ASSERT_EQ(fake_->requests.size(), 1u) << "no room is created without a patient";
}

TEST_F(ChatServiceTest, ChatPreviewPrintsEachFormatWithSyntheticValuesOnly) {
  for (const std::string format : {"text", "html", "slack", "mattermost", "chatwork"}) {
    std::ostringstream out, err;
    EXPECT_EQ(RunChatCommand({"preview", format, "en"}, options_,
                             {.clock = &clock_,
                              .patient_rooms = nullptr,
                              .transport = nullptr,
                              .log = nullptr,
                              .metrics = nullptr},
                             out, err),
              0)
        << err.str();
    EXPECT_NE(out.str().find("CT"), std::string::npos) << format;
    EXPECT_NE(out.str().find("1234"), std::string::npos) << format;
    EXPECT_NE(out.str().find("412"), std::string::npos) << format << ": image count";
  }
  std::ostringstream ja, opened, bad, err;
  EXPECT_EQ(RunChatCommand({"preview", "text", "ja"}, options_,
                           {.clock = &clock_,
                            .patient_rooms = nullptr,
                            .transport = nullptr,
                            .log = nullptr,
                            .metrics = nullptr},
                           ja, err),
            0);
  EXPECT_NE(ja.str().find("画像共有"), std::string::npos) << ja.str();
  EXPECT_EQ(RunChatCommand({"preview", "text", "en", "opened"}, options_,
                           {.clock = &clock_,
                            .patient_rooms = nullptr,
                            .transport = nullptr,
                            .log = nullptr,
                            .metrics = nullptr},
                           opened, err),
            0);
  EXPECT_NE(opened.str().find("Opened "), std::string::npos) << opened.str();
  EXPECT_EQ(RunChatCommand({"preview", "pdf"}, options_,
                           {.clock = &clock_,
                            .patient_rooms = nullptr,
                            .transport = nullptr,
                            .log = nullptr,
                            .metrics = nullptr},
                           bad, err),
            2);
}

TEST_F(ChatServiceTest, ChatRoomsListsAndForgetsOneMappingByKeyPrefix) {
  const std::string a = PatientKey("site", "PID-1", "");
  const std::string b = PatientKey("site", "PID-2", "");
  ASSERT_TRUE(store_->Put(a, "per-patient", "!a:hs").ok());
  ASSERT_TRUE(store_->Put(b, "per-patient", "!b:hs").ok());
  std::ostringstream out, err;
  const ChatServiceDeps deps{.clock = &clock_,
                             .patient_rooms = store_.get(),
                             .transport = nullptr,
                             .log = nullptr,
                             .metrics = nullptr};
  EXPECT_EQ(RunChatCommand({"rooms"}, options_, deps, out, err), 0) << err.str();
  EXPECT_NE(out.str().find(a.substr(0, 12) + "\tper-patient\t!a:hs"), std::string::npos)
      << out.str();
  EXPECT_EQ(out.str().find(a), std::string::npos) << "only a prefix of the key is shown";
  EXPECT_EQ(out.str().find("PID"), std::string::npos);
  std::ostringstream out2, err2;
  EXPECT_EQ(RunChatCommand({"rooms", "forget", "per-patient", "abc"}, options_, deps, out2, err2),
            1)
      << "a short prefix is refused";
  EXPECT_EQ(RunChatCommand({"rooms", "forget", "per-patient", a.substr(0, 12)}, options_, deps,
                           out2, err2),
            0)
      << err2.str();
  EXPECT_FALSE(store_->Find(a, "per-patient").value().has_value());
  EXPECT_EQ(store_->Find(b, "per-patient").value(), "!b:hs");
  EXPECT_EQ(RunChatCommand({"rooms", "forget", "per-patient", a.substr(0, 12)}, options_, deps,
                           out2, err2),
            1)
      << "nothing left to forget";
}

}  // namespace
}  // namespace tsunagu::chat
