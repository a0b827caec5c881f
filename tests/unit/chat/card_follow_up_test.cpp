#include "tsunagu/chat/card_follow_up.h"

#include <cpprest/json.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>
#include <map>
#include <set>

#include "fake_transport.h"

namespace tsunagu::chat {
namespace {

using namespace std::chrono_literals;
using std::chrono::system_clock;
using testing::FakeTransport;
using web::json::value;

class FakeEvents final : public LinkEventSource {
 public:
  common::Result<std::optional<system_clock::time_point>> FirstOpened(
      const std::string& study_uid) override {
    ++asked[study_uid];
    if (fail) return common::UnavailableError("relay down");
    auto it = opened.find(study_uid);
    if (it == opened.end()) return std::optional<system_clock::time_point>();
    return std::optional<system_clock::time_point>(it->second);
  }
  common::Result<Events> Get(const std::string& study_uid) override {
    TSUNAGU_ASSIGN_OR_RETURN(auto first, FirstOpened(study_uid));
    return Events{first, revoked.count(study_uid) > 0};
  }
  std::map<std::string, system_clock::time_point> opened;
  std::set<std::string> revoked;
  std::map<std::string, int> asked;
  bool fail = false;
};

class CardFollowUpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tsunagu-chat-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    const auto token = dir_ / "token";
    std::ofstream(token) << "tok\n";
    std::filesystem::permissions(token, std::filesystem::perms::owner_read);
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
    night.language = common::Language::kEnglish;
    night.chat.seen_receipts = true;
    config::ThreadOptions cw_seen;
    cw_seen.name = "cw-seen";
    cw_seen.connector = "cw";
    cw_seen.destination = "123";
    cw_seen.language = common::Language::kEnglish;
    cw_seen.chat.seen_receipts = true;
    config::ThreadOptions cw_plain;
    cw_plain.name = "cw-plain";
    cw_plain.connector = "cw";
    cw_plain.destination = "456";
    options_.threads = {night, cw_seen, cw_plain};
    auto s = ChatService::Create(options_, {.clock = &clock_,
                                            .patient_rooms = nullptr,
                                            .transport = fake_,
                                            .log = nullptr,
                                            .metrics = &metrics_});
    ASSERT_TRUE(s.ok()) << s.status();
    chat_ = std::move(*s);
    clock_.SetSystemTime(system_clock::time_point(1'800'000'000s));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  PostedCard Posted(std::int64_t job, const std::string& thread, const std::string& dest) {
    PostedCard p;
    p.thread = thread;
    p.study_uid = "2.25." + std::to_string(job);
    p.posted = {"$ev" + std::to_string(job), true, dest};
    p.card.job_id = job;
    p.card.modality = "CT";
    p.card.body_part = "CHEST";
    p.card.series_count = 2;
    p.card.image_count = 40;
    p.card.patient_id_suffix = "1234";
    p.card.expires_at = clock_.SystemNow() + 72h;
    p.card.viewer_url = "https://relay/v/x";
    return p;
  }
  CardFollowUp FollowUp() {
    return CardFollowUp({chat_.get(), posts_.get(), &events_, &clock_, nullptr, &metrics_});
  }

  std::filesystem::path dir_;
  common::FakeClock clock_;
  std::shared_ptr<FakeTransport> fake_ = std::make_shared<FakeTransport>();
  std::unique_ptr<PostedCardStore> posts_ = std::move(PostedCardStore::Open(":memory:").value());
  FakeEvents events_;
  ChatMetrics metrics_;
  config::GatewayOptions options_;
  std::unique_ptr<ChatService> chat_;
};

TEST_F(CardFollowUpTest, StoreRoundTripsACardAndKeepsWhatWasLearntOnARepeatedRecord) {
  PostedCard p = Posted(7, "night", "!night:hs");
  p.card.study_description = "胸部 造影";
  p.card.study_date = "20261120";
  p.card.study_time = "031400";
  p.card.sender_note = "note";
  p.card.access_code_required = true;
  ASSERT_TRUE(posts_->Record(p).ok());
  auto got = posts_->Get(7);
  ASSERT_TRUE(got.ok() && got->has_value());
  const PostedCard& g = **got;
  EXPECT_EQ(g.thread, "night");
  EXPECT_EQ(g.study_uid, "2.25.7");
  EXPECT_EQ(g.posted.destination, "!night:hs");
  EXPECT_EQ(g.posted.message_id, "$ev7");
  EXPECT_EQ(g.card.study_description, "胸部 造影");
  EXPECT_EQ(g.card.study_time, "031400");
  EXPECT_EQ(g.card.series_count, 2);
  EXPECT_EQ(g.card.image_count, 40);
  EXPECT_EQ(g.card.expires_at, p.card.expires_at);
  EXPECT_TRUE(g.card.access_code_required);
  EXPECT_FALSE(g.card.opened_at);

  PostedCard seen = g;
  seen.card.opened_at = clock_.SystemNow();
  ASSERT_TRUE(posts_->Save(seen).ok());
  PostedCard again = p;  // the post stage ran again after a crash, with a new message id
  again.posted.message_id = "$other";
  ASSERT_TRUE(posts_->Record(again).ok());
  got = posts_->Get(7);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->posted.message_id, "$other");
  ASSERT_TRUE((*got)->card.opened_at);
  EXPECT_EQ(*(*got)->card.opened_at, clock_.SystemNow());
  EXPECT_FALSE(posts_->Get(8).value().has_value());
}

TEST_F(CardFollowUpTest, FirstOpeningEditsTheCardOnceWhereThePlatformCanEdit) {
  ASSERT_TRUE(posts_->Record(Posted(1, "night", "!night:hs")).ok());
  auto f = FollowUp();
  EXPECT_EQ(f.RunOnce().value(), 0);
  EXPECT_TRUE(fake_->requests.empty()) << "nothing is posted before the link is opened";
  // 03:14 in Japan.
  events_.opened["2.25.1"] = system_clock::time_point(1'800'000'000s) + 1h;
  fake_->Answer(200, R"({"event_id":"$edit"})");
  clock_.Advance(CardFollowUp::kFirstPollInterval);
  EXPECT_EQ(f.RunOnce().value(), 1);
  ASSERT_EQ(fake_->requests.size(), 1u);
  EXPECT_NE(fake_->requests[0].url.find("/send/m.room.message/tsunagu-job-1-opened"),
            std::string::npos);
  const value v = value::parse(fake_->requests[0].body);
  EXPECT_EQ(v.at("m.relates_to").at("event_id").as_string(), "$ev1");
  const std::string body = v.at("m.new_content").at("body").as_string();
  EXPECT_NE(body.find("Opened "), std::string::npos) << body;
  clock_.Advance(CardFollowUp::kMaxPollInterval);
  EXPECT_EQ(f.RunOnce().value(), 0);
  EXPECT_EQ(fake_->requests.size(), 1u) << "the receipt is sent once";
}

TEST_F(CardFollowUpTest, UnopenedLinksAreAskedAboutLessOftenButReceiptsStillCome) {
  for (std::int64_t job = 20; job < 30; ++job) {
    ASSERT_TRUE(posts_->Record(Posted(job, "night", "!night:hs")).ok());
  }
  auto f = FollowUp();
  // Ten minutes of 3 s rounds, nobody opens: 200 rounds per card without the back-off.
  for (int round = 0; round < 200; ++round) {
    ASSERT_EQ(f.RunOnce().value(), 0);
    clock_.Advance(3s);
  }
  for (std::int64_t job = 20; job < 30; ++job) {
    const int asked = events_.asked["2.25." + std::to_string(job)];
    // 0, 3, 9, 21, 45, 93 s, then every 60 s up to 600 s: 15 questions.
    EXPECT_GE(asked, 14) << job;
    EXPECT_LE(asked, 16) << job;
  }
  // Opened now: the receipt comes within kMaxPollInterval, and the card is not asked about again.
  events_.opened["2.25.24"] = clock_.SystemNow();
  fake_->Answer(200, R"({"event_id":"$edit"})");
  int receipts = 0;
  const auto opened_at = clock_.SteadyNow();
  while (receipts == 0 && clock_.SteadyNow() - opened_at <= CardFollowUp::kMaxPollInterval) {
    receipts += f.RunOnce().value();
    clock_.Advance(3s);
  }
  EXPECT_EQ(receipts, 1);
  ASSERT_EQ(fake_->requests.size(), 1u);
  EXPECT_NE(fake_->requests[0].url.find("tsunagu-job-24-opened"), std::string::npos);
  const int asked = events_.asked["2.25.24"];
  for (int round = 0; round < 40; ++round) {
    ASSERT_EQ(f.RunOnce().value(), 0);
    clock_.Advance(3s);
  }
  EXPECT_EQ(fake_->requests.size(), 1u) << "the receipt is sent once";
  // Still asked, but only about a revocation at the relay, at most every kMaxPollInterval.
  EXPECT_LE(events_.asked["2.25.24"] - asked, 3);
  std::uint64_t questions = 0;
  for (const auto& [uid, n] : events_.asked) questions += static_cast<std::uint64_t>(n);
  EXPECT_EQ(metrics_.FollowUpForTest("relay_question"), questions);
  EXPECT_EQ(metrics_.FollowUpForTest("opened"), 1u);
  EXPECT_EQ(metrics_.ValueForTest("mx", "update", "ok"), 1u);
  const std::string text = metrics_.PrometheusText();
  EXPECT_NE(text.find("tsunagu_gateway_chat_requests_total{connector=\"mx\",op=\"update\","
                      "result=\"ok\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("tsunagu_gateway_chat_followup_total{event=\"opened\"} 1\n"),
            std::string::npos)
      << text;
}

TEST_F(CardFollowUpTest, RevocationAtTheRelayEditsTheCardOnce) {
  ASSERT_TRUE(posts_->Record(Posted(40, "night", "!night:hs")).ok());
  ASSERT_TRUE(posts_->Record(Posted(41, "cw-seen", "123")).ok());
  auto f = FollowUp();
  EXPECT_EQ(f.RunOnce().value(), 0);
  // `tsunagu-relay revoke` (not the gateway) revoked both studies' links.
  events_.revoked = {"2.25.40", "2.25.41"};
  fake_->Answer(200, R"({"event_id":"$rev"})");
  clock_.Advance(CardFollowUp::kFirstPollInterval);
  EXPECT_EQ(f.RunOnce().value(), 1) << "only the card that can be edited changes";
  ASSERT_EQ(fake_->requests.size(), 1u);
  EXPECT_NE(fake_->requests[0].url.find("/send/m.room.message/tsunagu-job-40-revoked"),
            std::string::npos);
  const value v = value::parse(fake_->requests[0].body);
  const std::string body = v.at("m.new_content").at("body").as_string();
  EXPECT_NE(body.find("This link was revoked"), std::string::npos) << body;
  EXPECT_EQ(body.find("https://relay/v/x"), std::string::npos) << "no link on a revoked card";
  auto got = posts_->Get(40).value();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->card.state, CardState::kRevoked);
  EXPECT_TRUE(got->done);
  clock_.Advance(CardFollowUp::kMaxPollInterval);
  EXPECT_EQ(f.RunOnce().value(), 0);
  EXPECT_EQ(fake_->requests.size(), 1u) << "the revocation is shown once";
  EXPECT_EQ(metrics_.FollowUpForTest("revoked"), 1u);
}

TEST_F(CardFollowUpTest, FailedQuestionsToTheRelayBackOffToo) {
  ASSERT_TRUE(posts_->Record(Posted(31, "night", "!night:hs")).ok());
  events_.fail = true;
  auto f = FollowUp();
  for (int round = 0; round < 40; ++round) {  // two minutes
    ASSERT_EQ(f.RunOnce().value(), 0);
    clock_.Advance(3s);
  }
  // 0, 3, 9, 21, 45, 93 s.
  EXPECT_EQ(events_.asked["2.25.31"], 6);
}

TEST_F(CardFollowUpTest, FirstOpeningPostsANoticeWhereThePlatformCannotEdit) {
  ASSERT_TRUE(posts_->Record(Posted(2, "cw-seen", "123")).ok());
  events_.opened["2.25.2"] = clock_.SystemNow();
  fake_->Answer(200, R"({"message_id":"99"})");
  auto f = FollowUp();
  EXPECT_EQ(f.RunOnce().value(), 1);
  ASSERT_EQ(fake_->requests.size(), 1u);
  EXPECT_NE(fake_->requests[0].url.find("/v2/rooms/123/messages"), std::string::npos);
  EXPECT_NE(fake_->requests[0].body.find("Opened"), std::string::npos);
  EXPECT_TRUE(posts_->Pending(10).value().empty()) << "nothing more can change that card";
}

TEST_F(CardFollowUpTest, RetryableRefusalIsTriedAgainNextRound) {
  ASSERT_TRUE(posts_->Record(Posted(3, "night", "!night:hs")).ok());
  events_.opened["2.25.3"] = clock_.SystemNow();
  fake_->Answer(503, "{}");
  auto f = FollowUp();
  EXPECT_EQ(f.RunOnce().value(), 0);
  fake_->Answer(200, R"({"event_id":"$edit"})");
  EXPECT_EQ(f.RunOnce().value(), 1);
  EXPECT_EQ(fake_->requests.size(), 2u);
}

TEST_F(CardFollowUpTest, ExpiryEditsEditableCardsAndRetiresTheOthers) {
  ASSERT_TRUE(posts_->Record(Posted(4, "night", "!night:hs")).ok());
  ASSERT_TRUE(posts_->Record(Posted(5, "cw-seen", "123")).ok());
  auto f = FollowUp();
  EXPECT_EQ(f.RunOnce().value(), 0);
  clock_.SetSystemTime(clock_.SystemNow() + 73h);
  fake_->Answer(200, R"({"event_id":"$x"})");
  EXPECT_EQ(f.RunOnce().value(), 2);
  ASSERT_EQ(fake_->requests.size(), 1u) << "only the Matrix card is edited";
  const value v = value::parse(fake_->requests[0].body);
  EXPECT_NE(v.at("m.new_content").at("body").as_string().find("This link has expired"),
            std::string::npos);
  EXPECT_TRUE(posts_->Pending(10).value().empty());
  auto g = posts_->Get(4).value();
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->card.state, CardState::kExpired);
}

TEST_F(CardFollowUpTest, RevokedCardIsEditedOnceWhereThePlatformCanEdit) {
  PostedCard p = Posted(8, "night", "!night:hs");
  ASSERT_TRUE(posts_->Record(p).ok());
  p.card.state = CardState::kRevoked;
  ASSERT_TRUE(posts_->Save(p).ok());
  fake_->Answer(200, R"({"event_id":"$r"})");
  auto f = FollowUp();
  EXPECT_EQ(f.RunOnce().value(), 1);
  ASSERT_EQ(fake_->requests.size(), 1u);
  EXPECT_NE(fake_->requests[0].url.find("tsunagu-job-8-revoked"), std::string::npos);
  const value v = value::parse(fake_->requests[0].body);
  EXPECT_NE(v.at("m.new_content").at("body").as_string().find("This link was revoked"),
            std::string::npos);
  EXPECT_EQ(f.RunOnce().value(), 0);
  EXPECT_EQ(fake_->requests.size(), 1u);
}

TEST_F(CardFollowUpTest, ThreadsWithoutReceiptsOrEditsAreNotFollowed) {
  ASSERT_TRUE(posts_->Record(Posted(6, "cw-plain", "456")).ok());
  events_.opened["2.25.6"] = clock_.SystemNow();
  auto f = FollowUp();
  EXPECT_EQ(f.RunOnce().value(), 0);
  EXPECT_TRUE(fake_->requests.empty());
  EXPECT_EQ(events_.asked.count("2.25.6"), 0u) << "the relay is not asked for such threads";
  EXPECT_TRUE(posts_->Pending(10).value().empty());
}

}  // namespace
}  // namespace tsunagu::chat
