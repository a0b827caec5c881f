// XMPP end to end: Debian's prosody on 127.0.0.1 with its own certificate (signed by a CA made
// for the run), a MUC service, two users. The connector posts a card into a room as the bot; the
// test reads the room as the other user, through libstrophe, and checks what a doctor would see.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <strophe.h>
#include <sys/socket.h>

#include <thread>

#include "stub_process.h"
#include "tsunagu/chat/card_follow_up.h"
#include "tsunagu/chat/connectors.h"
#include "tsunagu/chat/patient_threads.h"

namespace tsunagu::chat {
namespace {

using namespace std::chrono_literals;
using common::ErrorCode;

int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

bool CanConnect(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// A room message as the reader sees it.
struct RoomMessage {
  std::string from_nick;
  std::string id;
  std::string body;
  std::string replaces;  // XEP-0308 correction target, or empty
};

// Joins `room` as `jid` and returns the history the room sends (up to 50 messages), reading until
// the room's subject (sent after the history) or 10 s.
struct Reader {
  std::string room, nick;
  std::vector<RoomMessage> messages;
  bool joined = false, done = false, failed = false;
  std::string room_name;  // from disco#info, once answered
  bool disco_answered = false;
};

int ReaderIq(xmpp_conn_t*, xmpp_stanza_t* st, void* ud) {
  auto* r = static_cast<Reader*>(ud);
  const char* id = xmpp_stanza_get_id(st);
  if (!id || std::string(id) != "reader-disco") return 1;
  r->disco_answered = true;
  if (xmpp_stanza_t* q = xmpp_stanza_get_child_by_name(st, "query")) {
    if (xmpp_stanza_t* ident = xmpp_stanza_get_child_by_name(q, "identity")) {
      const char* name = xmpp_stanza_get_attribute(ident, "name");
      r->room_name = name ? name : "";
    }
  }
  return 1;
}

int ReaderPresence(xmpp_conn_t* conn, xmpp_stanza_t* st, void* ud) {
  auto* r = static_cast<Reader*>(ud);
  const char* from = xmpp_stanza_get_from(st);
  const char* type = xmpp_stanza_get_type(st);
  if (from && std::string(from) == r->room + "/" + r->nick) {
    if (type && std::string(type) == "error") {
      r->failed = true;
    } else if (!r->joined) {
      r->joined = true;
      xmpp_ctx_t* ctx = xmpp_conn_get_context(conn);
      xmpp_stanza_t* iq = xmpp_iq_new(ctx, "get", "reader-disco");
      xmpp_stanza_set_to(iq, r->room.c_str());
      xmpp_stanza_t* q = xmpp_stanza_new(ctx);
      xmpp_stanza_set_name(q, "query");
      xmpp_stanza_set_ns(q, "http://jabber.org/protocol/disco#info");
      xmpp_stanza_add_child(iq, q);
      xmpp_stanza_release(q);
      xmpp_send(conn, iq);
      xmpp_stanza_release(iq);
    }
  }
  return 1;
}

int ReaderMessage(xmpp_conn_t* conn, xmpp_stanza_t* st, void* ud) {
  auto* r = static_cast<Reader*>(ud);
  const char* from = xmpp_stanza_get_from(st);
  if (!from) return 1;
  const std::string f(from);
  if (f.rfind(r->room, 0) != 0) return 1;
  xmpp_stanza_t* body = xmpp_stanza_get_child_by_name(st, "body");
  if (body) {
    RoomMessage m;
    m.from_nick = f.substr(f.find('/') + 1);
    const char* id = xmpp_stanza_get_id(st);
    m.id = id ? id : "";
    char* text = xmpp_stanza_get_text(body);
    m.body = text ? text : "";
    if (text) xmpp_free(xmpp_conn_get_context(conn), text);
    if (xmpp_stanza_t* rep =
            xmpp_stanza_get_child_by_name_and_ns(st, "replace", "urn:xmpp:message-correct:0")) {
      const char* rid = xmpp_stanza_get_id(rep);
      m.replaces = rid ? rid : "";
    }
    r->messages.push_back(m);
  } else if (xmpp_stanza_get_child_by_name(st, "subject")) {
    r->done = true;
  }
  return 1;
}

void ReaderConn(xmpp_conn_t* conn, xmpp_conn_event_t status, int, xmpp_stream_error_t*, void* ud) {
  auto* r = static_cast<Reader*>(ud);
  if (status != XMPP_CONN_CONNECT) {
    if (!r->done) r->failed = true;
    return;
  }
  xmpp_ctx_t* ctx = xmpp_conn_get_context(conn);
  xmpp_handler_add(conn, ReaderPresence, nullptr, "presence", nullptr, r);
  xmpp_handler_add(conn, ReaderMessage, nullptr, "message", nullptr, r);
  xmpp_handler_add(conn, ReaderIq, nullptr, "iq", nullptr, r);
  xmpp_stanza_t* p = xmpp_presence_new(ctx);
  xmpp_stanza_set_to(p, (r->room + "/" + r->nick).c_str());
  xmpp_stanza_t* x = xmpp_stanza_new(ctx);
  xmpp_stanza_set_name(x, "x");
  xmpp_stanza_set_ns(x, "http://jabber.org/protocol/muc");
  xmpp_stanza_t* h = xmpp_stanza_new(ctx);
  xmpp_stanza_set_name(h, "history");
  xmpp_stanza_set_attribute(h, "maxstanzas", "50");
  xmpp_stanza_add_child(x, h);
  xmpp_stanza_release(h);
  xmpp_stanza_add_child(p, x);
  xmpp_stanza_release(x);
  xmpp_send(conn, p);
  xmpp_stanza_release(p);
}

class XmppEndToEndTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    xmpp_initialize();
    dir_ = new std::filesystem::path(testing::MakeTempDir());
    error_ = new std::string(testing::MakeCertificates(*dir_, "localhost"));
    prosody_ = new testing::Child();
    if (!error_->empty()) return;
    port_ = FreePort();
    const std::string d = dir_->string();
    std::filesystem::create_directories(*dir_ / "data");
    std::filesystem::create_directories(*dir_ / "certs");
    testing::WriteText(*dir_ / "prosody.cfg.lua",
                       "pidfile = '" + d +
                           "/prosody.pid'\n"
                           "data_path = '" +
                           d +
                           "/data'\n"
                           "certificates = '" +
                           d +
                           "/certs'\n"
                           "run_as_root = true\n"
                           "log = { { levels = { min = 'info' }, to = 'file', filename = '" +
                           d +
                           "/prosody.log' } }\n"
                           "interfaces = { '127.0.0.1' }\n"
                           "c2s_ports = { " +
                           std::to_string(port_) +
                           " }\n"
                           "c2s_direct_tls_ports = { }\n"
                           "s2s_ports = { }\nhttp_ports = { }\nhttps_ports = { }\n"
                           "modules_enabled = { 'roster'; 'saslauth'; 'tls'; 'disco'; 'ping' }\n"
                           "modules_disabled = { 's2s' }\n"
                           "c2s_require_encryption = true\n"
                           "authentication = 'internal_hashed'\nstorage = 'internal'\n"
                           "VirtualHost 'localhost'\n"
                           "  ssl = { key = '" +
                           d + "/server-key.pem'; certificate = '" + d +
                           "/server.pem' }\n"
                           "Component 'conference.localhost' 'muc'\n"
                           "  muc_room_locking = false\n"
                           "  muc_room_default_persistent = true\n"
                           "  ssl = { key = '" +
                           d + "/server-key.pem'; certificate = '" + d + "/server.pem' }\n",
                       0644);
    for (const auto& [user, pass] : std::vector<std::pair<std::string, std::string>>{
             {"tsunagu", "bot-pass"}, {"drsato", "reader-pass"}, {"outsider", "outsider-pass"}}) {
      *error_ = testing::Run(
          {"prosodyctl", "--config", d + "/prosody.cfg.lua", "register", user, "localhost", pass});
      if (!error_->empty()) return;
    }
    *error_ = prosody_->Start({"prosody", "--config", d + "/prosody.cfg.lua", "-F"});
    if (!error_->empty()) return;
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!CanConnect(port_)) {
      if (std::chrono::steady_clock::now() > deadline) {
        *error_ = "prosody did not listen within 20 s: " + testing::ReadText(*dir_ / "prosody.log");
        return;
      }
      std::this_thread::sleep_for(50ms);
    }
  }
  static void TearDownTestSuite() {
    delete prosody_;
    std::filesystem::remove_all(*dir_);
    delete dir_;
    delete error_;
  }

  void SetUp() override { ASSERT_EQ(*error_, ""); }

  std::unique_ptr<ChatConnector> MakeBot(const std::string& password, bool trusted_ca = true) {
    const auto pw = *dir_ / ("bot-pass-" + password);
    testing::WriteText(pw, password + "\n", 0600);
    config::ChatConnectorOptions o;
    o.name = "xmpp";
    o.type = config::ChatConnectorType::kXmpp;
    o.jid = "tsunagu@localhost";
    o.password_file = pw;
    o.host = "127.0.0.1";
    o.port = port_;
    o.ca_file = *dir_ / (trusted_ca ? "ca.pem" : "untrusted.pem");
    o.nick = "Tsunagu";
    o.muc_service = "conference.localhost";
    o.timeout = 10s;
    auto c = MakeConnector(o, {.clock = &clock_, .transport = nullptr});
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::move(*c) : nullptr;
  }

  // Joins `room` as `user` and reads what the room sends: history, subject, disco#info.
  Reader Visit(const std::string& room, const std::string& user = "drsato",
               const std::string& password = "reader-pass") {
    Reader r;
    r.room = room;
    r.nick = "Reader-" + user;
    xmpp_ctx_t* ctx = xmpp_ctx_new(nullptr, nullptr);
    xmpp_conn_t* conn = xmpp_conn_new(ctx);
    xmpp_conn_set_jid(conn, (user + "@localhost").c_str());
    xmpp_conn_set_pass(conn, password.c_str());
    xmpp_conn_set_flags(conn, XMPP_CONN_FLAG_MANDATORY_TLS);
    xmpp_conn_set_cafile(conn, (*dir_ / "ca.pem").c_str());
    xmpp_connect_client(conn, "127.0.0.1", static_cast<unsigned short>(port_), ReaderConn, &r);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!(r.done && r.disco_answered) && !r.failed &&
           std::chrono::steady_clock::now() < deadline) {
      xmpp_run_once(ctx, 50);
    }
    xmpp_disconnect(conn);
    const auto close_deadline = std::chrono::steady_clock::now() + 2s;
    while (xmpp_conn_is_connected(conn) && std::chrono::steady_clock::now() < close_deadline) {
      xmpp_run_once(ctx, 50);
    }
    xmpp_conn_release(conn);
    xmpp_ctx_free(ctx);
    return r;
  }

  // The room's history as user drsato sees it.
  std::vector<RoomMessage> ReadRoom(const std::string& room) {
    Reader r = Visit(room);
    EXPECT_TRUE(r.joined) << "reader could not join " << room;
    EXPECT_TRUE(r.done) << "no subject (end of history) within 10 s";
    return r.messages;
  }

  static Card SampleCard() {
    Card c;
    c.job_id = 7;
    c.modality = "CT";
    c.body_part = "HEAD";
    c.study_description = "Head CT <non-contrast>";
    c.study_date = "20261122";
    c.study_time = "0314";
    c.series_count = 2;
    c.image_count = 64;
    c.patient_id_suffix = "5678";
    c.expires_at = std::chrono::system_clock::now() + 72h;
    c.viewer_url = "https://relay.example.jp/v/xmpp-tok";
    return c;
  }

  ThreadTarget Target(const std::string& room) {
    return {"stroke", room, {common::Language::kJapanese, 9h}};
  }

  static std::filesystem::path* dir_;
  static std::string* error_;
  static testing::Child* prosody_;
  static int port_;
  common::SystemClock clock_;
};

std::filesystem::path* XmppEndToEndTest::dir_ = nullptr;
std::string* XmppEndToEndTest::error_ = nullptr;
testing::Child* XmppEndToEndTest::prosody_ = nullptr;
int XmppEndToEndTest::port_ = 0;

TEST_F(XmppEndToEndTest, CardPostedOnceAndReadByAnotherUser) {
  const std::string room = "stroke-night@conference.localhost";
  auto bot = MakeBot("bot-pass");
  auto r = bot->Post(SampleCard(), Target(room), "tsunagu-job-7");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->message_id, "tsunagu-job-7");
  EXPECT_TRUE(r->exactly_once);

  // A retry (the answer was lost, the gateway restarted) finds its id in the room's history and
  // does not post again.
  auto again = bot->Post(SampleCard(), Target(room), "tsunagu-job-7");
  ASSERT_TRUE(again.ok()) << again.status();

  const auto messages = ReadRoom(room);
  ASSERT_EQ(messages.size(), 1u);
  const RoomMessage& m = messages[0];
  EXPECT_EQ(m.from_nick, "Tsunagu");
  EXPECT_EQ(m.id, "tsunagu-job-7");
  EXPECT_NE(m.body.find("画像共有: CT HEAD"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("検査: Head CT <non-contrast>"), std::string::npos);
  EXPECT_NE(m.body.find("患者ID (末尾): \xE2\x80\xA6"
                        "5678"),
            std::string::npos);
  EXPECT_NE(m.body.find("画像を開く: https://relay.example.jp/v/xmpp-tok"), std::string::npos);
}

TEST_F(XmppEndToEndTest, ExpiredCardIsCorrected) {
  const std::string room = "cardio@conference.localhost";
  auto bot = MakeBot("bot-pass");
  auto posted = bot->Post(SampleCard(), Target(room), "tsunagu-job-8");
  ASSERT_TRUE(posted.ok()) << posted.status();
  Card expired = SampleCard();
  expired.state = CardState::kExpired;
  auto updated = bot->Update(expired, Target(room), posted->message_id, "tsunagu-job-8-expired");
  ASSERT_TRUE(updated.ok()) << updated.status();
  const auto messages = ReadRoom(room);
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[1].replaces, "tsunagu-job-8");
  EXPECT_NE(messages[1].body.find("このリンクは期限切れです"), std::string::npos);
  EXPECT_EQ(messages[1].body.find("xmpp-tok"), std::string::npos);
}

class OpenedAt final : public LinkEventSource {
 public:
  common::Result<std::optional<std::chrono::system_clock::time_point>> FirstOpened(
      const std::string&) override {
    return opened;
  }
  std::optional<std::chrono::system_clock::time_point> opened;
};

// The gateway's follow-up as it runs in production (ChatService + CardFollowUp + the posted-card
// store) against prosody: the seen receipt and then the revocation each correct the card
// (XEP-0308), read back by another user.
TEST_F(XmppEndToEndTest, FollowUpCorrectsTheCardWhenOpenedAndWhenRevoked) {
  const std::string room = "followup@conference.localhost";
  const auto pw = *dir_ / "bot-pass-followup";
  testing::WriteText(pw, "bot-pass\n", 0600);
  config::GatewayOptions options;
  options.chat.utc_offset = 9h;
  config::ChatConnectorOptions o;
  o.name = "xmpp";
  o.type = config::ChatConnectorType::kXmpp;
  o.jid = "tsunagu@localhost";
  o.password_file = pw;
  o.host = "127.0.0.1";
  o.port = port_;
  o.ca_file = *dir_ / "ca.pem";
  o.nick = "Tsunagu";
  o.muc_service = "conference.localhost";
  o.timeout = 10s;
  options.chat.connectors = {o};
  config::ThreadOptions t;
  t.name = "stroke";
  t.connector = "xmpp";
  t.destination = room;
  t.language = common::Language::kJapanese;
  t.chat.seen_receipts = true;
  options.threads = {t};
  auto chat = ChatService::Create(options, {.clock = &clock_,
                                            .patient_rooms = nullptr,
                                            .transport = nullptr,
                                            .log = nullptr,
                                            .metrics = nullptr});
  ASSERT_TRUE(chat.ok()) << chat.status();
  auto posts = PostedCardStore::Open(":memory:");
  ASSERT_TRUE(posts.ok()) << posts.status();

  Card card = SampleCard();
  card.job_id = 41;
  auto posted = (*chat)->Post("stroke", card, std::nullopt, "tsunagu-job-41");
  ASSERT_TRUE(posted.ok()) << posted.status();
  PostedCard record{"stroke", "2.25.41", *posted, card, false};
  ASSERT_TRUE((*posts)->Record(record).ok());

  OpenedAt events;
  CardFollowUp follow_up({chat->get(), posts->get(), &events, &clock_, nullptr, nullptr});
  auto r = follow_up.RunOnce();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, 0) << "nothing changes before the link is opened";
  // 03:14 in Japan.
  events.opened = std::chrono::sys_days(std::chrono::year(2026) / 11 / 21) + 18h + 14min;
  r = follow_up.RunOnce();
  ASSERT_TRUE(r.ok()) << r.status();
  // The first answer "not opened" makes the card wait kFirstPollInterval on the real clock.
  for (int i = 0; i < 40 && *r == 0; ++i) {
    std::this_thread::sleep_for(100ms);
    r = follow_up.RunOnce();
    ASSERT_TRUE(r.ok()) << r.status();
  }
  EXPECT_EQ(*r, 1);

  // `tsunagu-gateway revoke JOB` stores the state; the next round corrects the card again.
  auto got = (*posts)->Get(41);
  ASSERT_TRUE(got.ok() && got->has_value());
  PostedCard revoked = **got;
  revoked.card.state = CardState::kRevoked;
  ASSERT_TRUE((*posts)->Save(revoked).ok());
  r = follow_up.RunOnce();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, 1);
  EXPECT_TRUE((*posts)->Pending(10).value().empty());

  const auto messages = ReadRoom(room);
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_EQ(messages[0].id, "tsunagu-job-41");
  EXPECT_EQ(messages[1].replaces, "tsunagu-job-41");
  EXPECT_NE(messages[1].body.find("既読 03:14"), std::string::npos) << messages[1].body;
  EXPECT_NE(messages[1].body.find("xmpp-tok"), std::string::npos) << "an opened link still works";
  EXPECT_EQ(messages[2].replaces, "tsunagu-job-41");
  EXPECT_NE(messages[2].body.find("このリンクは取り消されました"), std::string::npos)
      << messages[2].body;
  EXPECT_EQ(messages[2].body.find("xmpp-tok"), std::string::npos) << "no link on a revoked card";
}

TEST_F(XmppEndToEndTest, PerPatientRoomIsCreatedForInvitedMembersOnly) {
  auto bot = MakeBot("bot-pass");
  ASSERT_TRUE(bot->capabilities().can_create_rooms);
  auto store = PatientThreadStore::Open(":memory:", &clock_);
  ASSERT_TRUE(store.ok());
  const PatientRoute route{PatientKey("site", "PID-00445678", "HOSP"), "5678"};
  const PatientRoomPolicy policy{"ER", {"drsato@localhost"}, ""};
  auto room = ResolvePatientDestination(**store, *bot, "er", route, policy);
  ASSERT_TRUE(room.ok()) << room.status();
  EXPECT_EQ(room->find("00445678"), std::string::npos);
  EXPECT_NE(room->find("@conference.localhost"), std::string::npos);
  // The same patient maps to the same room.
  auto again = ResolvePatientDestination(**store, *bot, "er", route, policy);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *room);

  auto posted = bot->Post(SampleCard(), Target(*room), "tsunagu-job-9");
  ASSERT_TRUE(posted.ok()) << posted.status();
  Reader member = Visit(*room);
  EXPECT_TRUE(member.joined);
  EXPECT_EQ(member.room_name,
            "ER \xE2\x80\xA6"
            "5678");
  ASSERT_EQ(member.messages.size(), 1u);
  EXPECT_NE(member.messages[0].body.find("画像共有: CT HEAD"), std::string::npos);
  // Members only: someone not invited cannot enter.
  Reader outsider = Visit(*room, "outsider", "outsider-pass");
  EXPECT_FALSE(outsider.joined);
  EXPECT_TRUE(outsider.failed);
  EXPECT_TRUE(outsider.messages.empty());
}

TEST_F(XmppEndToEndTest, WrongPasswordIsNotRetryable) {
  auto bot = MakeBot("wrong-pass");
  auto r = bot->Post(SampleCard(), Target("x@conference.localhost"), "k");
  EXPECT_EQ(r.status().code(), ErrorCode::kUnauthenticated) << r.status();
  EXPECT_FALSE(r.status().retryable());
  EXPECT_EQ(r.status().message().find("wrong-pass"), std::string::npos);
}

TEST_F(XmppEndToEndTest, UntrustedServerCertificateIsRefused) {
  auto bot = MakeBot("bot-pass", /*trusted_ca=*/false);
  auto r = bot->Post(SampleCard(), Target("x@conference.localhost"), "k");
  EXPECT_EQ(r.status().code(), ErrorCode::kFailedPrecondition) << r.status();
  EXPECT_FALSE(r.status().retryable());
  EXPECT_NE(r.status().message().find("ca_file"), std::string::npos);
}

TEST_F(XmppEndToEndTest, NothingListeningIsRetryable) {
  config::ChatConnectorOptions o;
  o.name = "xmpp";
  o.type = config::ChatConnectorType::kXmpp;
  o.jid = "tsunagu@localhost";
  o.password_file = *dir_ / "bot-pass-bot-pass";
  o.host = "127.0.0.1";
  o.port = FreePort();
  o.ca_file = *dir_ / "ca.pem";
  o.timeout = 5s;
  auto c = MakeConnector(o, {.clock = &clock_, .transport = nullptr});
  ASSERT_TRUE(c.ok()) << c.status();
  auto r = (*c)->Post(SampleCard(), Target("x@conference.localhost"), "k");
  EXPECT_EQ(r.status().code(), ErrorCode::kUnavailable) << r.status();
  EXPECT_TRUE(r.status().retryable());
}

}  // namespace
}  // namespace tsunagu::chat
