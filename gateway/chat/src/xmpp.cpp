// XMPP multi-user chat (XEP-0045) through libstrophe, over TLS (mandatory, certificate verified).
//
// One connection per call: log in, join the room asking for recent history, and look in that
// history for a message with our id (so a retry after a lost answer does not post twice), then
// send the card as a groupchat message whose id is the idempotency key, wait for the room to
// reflect it, leave. Updates are XEP-0308 last message corrections referring to that id.
#include <strophe.h>

#include <cstring>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

#include "connectors_internal.h"
#include "tsunagu/common/crypto.h"

namespace tsunagu::chat::internal {
namespace {

constexpr char kMucNs[] = "http://jabber.org/protocol/muc";
constexpr char kMucUserNs[] = "http://jabber.org/protocol/muc#user";
constexpr char kCorrectNs[] = "urn:xmpp:message-correct:0";
constexpr char kOriginIdNs[] = "urn:xmpp:sid:0";

struct CtxDeleter {
  void operator()(xmpp_ctx_t* c) const { xmpp_ctx_free(c); }
};
struct ConnDeleter {
  void operator()(xmpp_conn_t* c) const { xmpp_conn_release(c); }
};
struct StanzaDeleter {
  void operator()(xmpp_stanza_t* s) const { xmpp_stanza_release(s); }
};
using Stanza = std::unique_ptr<xmpp_stanza_t, StanzaDeleter>;

void InitializeOnce() {
  static std::once_flag once;
  std::call_once(once, [] { xmpp_initialize(); });
}

enum class Phase { kConnecting, kJoining, kHistory, kSent, kConfiguring, kDone, kFailed };

struct Session {
  xmpp_ctx_t* ctx = nullptr;
  xmpp_conn_t* conn = nullptr;
  const common::Clock* clock = nullptr;
  // Creating a room: its name and the members to invite; the ids of IQs not yet answered.
  bool create = false;
  std::string room_name;
  std::vector<std::string> invite;
  std::set<std::string> pending;
  std::string room;
  std::string nick;
  std::string key;
  Phase phase = Phase::kConnecting;
  bool secured = false;
  bool already_posted = false;
  bool cert_failed = false;
  bool auth_failed = false;
  common::Status error;
  std::chrono::steady_clock::time_point history_deadline;
};

std::string Attr(xmpp_stanza_t* s, const char* name) {
  const char* v = xmpp_stanza_get_attribute(s, name);
  return v ? v : "";
}

std::string BareJid(const std::string& jid) { return jid.substr(0, jid.find('/')); }
std::string Resource(const std::string& jid) {
  const auto p = jid.find('/');
  return p == std::string::npos ? "" : jid.substr(p + 1);
}

common::Status ErrorFromStanza(xmpp_stanza_t* stanza, const std::string& what) {
  std::string condition = "unknown";
  if (xmpp_stanza_t* err = xmpp_stanza_get_child_by_name(stanza, "error")) {
    for (xmpp_stanza_t* c = xmpp_stanza_get_children(err); c; c = xmpp_stanza_get_next(c)) {
      const char* name = xmpp_stanza_get_name(c);
      if (name && std::string(name) != "text") {
        condition = name;
        break;
      }
    }
  }
  const std::string msg = "XMPP: " + what + " refused (" + condition + ")";
  if (condition == "item-not-found" || condition == "remote-server-not-found") {
    return common::Status(common::ErrorCode::kNotFound, msg + ": check the room JID", false);
  }
  if (condition == "forbidden" || condition == "not-authorized" ||
      condition == "registration-required" || condition == "not-allowed") {
    return common::Status(common::ErrorCode::kPermissionDenied,
                          msg + ": the bot is not allowed in this room", false);
  }
  if (condition == "resource-constraint" || condition == "policy-violation") {
    return common::Status(common::ErrorCode::kResourceExhausted, msg, true);
  }
  return common::Status(common::ErrorCode::kUnavailable, msg, true);
}

Stanza Element(xmpp_ctx_t* ctx, const char* name, const char* ns = nullptr) {
  Stanza e(xmpp_stanza_new(ctx));
  xmpp_stanza_set_name(e.get(), name);
  if (ns) xmpp_stanza_set_ns(e.get(), ns);
  return e;
}

void AddText(xmpp_ctx_t* ctx, xmpp_stanza_t* parent, const std::string& text) {
  Stanza t(xmpp_stanza_new(ctx));
  xmpp_stanza_set_text(t.get(), text.c_str());
  xmpp_stanza_add_child(parent, t.get());
}

void AddField(xmpp_ctx_t* ctx, xmpp_stanza_t* form, const char* var, const std::string& value) {
  Stanza field = Element(ctx, "field");
  xmpp_stanza_set_attribute(field.get(), "var", var);
  Stanza v = Element(ctx, "value");
  AddText(ctx, v.get(), value);
  xmpp_stanza_add_child(field.get(), v.get());
  xmpp_stanza_add_child(form, field.get());
}

// After creating a room: configure it (XEP-0045 section 10.1.3: name, persistent, members-only,
// not public), make each invitee a member (section 9.3) and send a mediated invitation
// (section 7.8.2). The room is done when every IQ is answered.
void ConfigureRoom(Session* s) {
  xmpp_ctx_t* ctx = s->ctx;
  {
    Stanza iq(xmpp_iq_new(ctx, "set", "tsunagu-config"));
    xmpp_stanza_set_to(iq.get(), s->room.c_str());
    Stanza query = Element(ctx, "query", "http://jabber.org/protocol/muc#owner");
    Stanza form = Element(ctx, "x", "jabber:x:data");
    xmpp_stanza_set_type(form.get(), "submit");
    AddField(ctx, form.get(), "FORM_TYPE", "http://jabber.org/protocol/muc#roomconfig");
    AddField(ctx, form.get(), "muc#roomconfig_roomname", s->room_name);
    AddField(ctx, form.get(), "muc#roomconfig_persistentroom", "1");
    AddField(ctx, form.get(), "muc#roomconfig_membersonly", "1");
    AddField(ctx, form.get(), "muc#roomconfig_publicroom", "0");
    xmpp_stanza_add_child(query.get(), form.get());
    xmpp_stanza_add_child(iq.get(), query.get());
    s->pending.insert("tsunagu-config");
    xmpp_send(s->conn, iq.get());
  }
  for (std::size_t i = 0; i < s->invite.size(); ++i) {
    const std::string id = "tsunagu-member-" + std::to_string(i);
    Stanza iq(xmpp_iq_new(ctx, "set", id.c_str()));
    xmpp_stanza_set_to(iq.get(), s->room.c_str());
    Stanza query = Element(ctx, "query", "http://jabber.org/protocol/muc#admin");
    Stanza item = Element(ctx, "item");
    xmpp_stanza_set_attribute(item.get(), "affiliation", "member");
    xmpp_stanza_set_attribute(item.get(), "jid", s->invite[i].c_str());
    xmpp_stanza_add_child(query.get(), item.get());
    xmpp_stanza_add_child(iq.get(), query.get());
    s->pending.insert(id);
    xmpp_send(s->conn, iq.get());

    Stanza msg(xmpp_message_new(ctx, nullptr, s->room.c_str(), nullptr));
    Stanza x = Element(ctx, "x", kMucUserNs);
    Stanza invite = Element(ctx, "invite");
    xmpp_stanza_set_attribute(invite.get(), "to", s->invite[i].c_str());
    xmpp_stanza_add_child(x.get(), invite.get());
    xmpp_stanza_add_child(msg.get(), x.get());
    xmpp_send(s->conn, msg.get());
  }
  s->phase = Phase::kConfiguring;
}

int IqHandler(xmpp_conn_t*, xmpp_stanza_t* stanza, void* userdata) {
  auto* s = static_cast<Session*>(userdata);
  const std::string id = Attr(stanza, "id");
  if (s->phase != Phase::kConfiguring || s->pending.count(id) == 0) return 1;
  if (Attr(stanza, "type") == "error") {
    s->error = ErrorFromStanza(stanza, "configuring the new room");
    s->phase = Phase::kFailed;
    return 1;
  }
  s->pending.erase(id);
  if (s->pending.empty()) s->phase = Phase::kDone;
  return 1;
}

int PresenceHandler(xmpp_conn_t*, xmpp_stanza_t* stanza, void* userdata) {
  auto* s = static_cast<Session*>(userdata);
  const std::string from = Attr(stanza, "from");
  if (BareJid(from) != s->room || s->phase != Phase::kJoining) return 1;
  if (Attr(stanza, "type") == "error") {
    s->error = ErrorFromStanza(stanza, "joining the room");
    s->phase = Phase::kFailed;
    return 1;
  }
  bool self = Resource(from) == s->nick;
  bool created = false;
  if (xmpp_stanza_t* x = xmpp_stanza_get_child_by_name_and_ns(stanza, "x", kMucUserNs)) {
    for (xmpp_stanza_t* c = xmpp_stanza_get_children(x); c; c = xmpp_stanza_get_next(c)) {
      const char* name = xmpp_stanza_get_name(c);
      if (name && std::string(name) == "status" && Attr(c, "code") == "110") self = true;
      if (name && std::string(name) == "status" && Attr(c, "code") == "201") created = true;
    }
  }
  if (!self || Attr(stanza, "type") == "unavailable") return 1;
  if (s->create) {
    if (!created) {
      // A random name that exists already: never reuse another patient's room.
      s->error = common::UnavailableError("XMPP: the new room's name is taken; retrying");
      s->phase = Phase::kFailed;
      return 1;
    }
    ConfigureRoom(s);
  } else {
    s->phase = Phase::kHistory;
    s->history_deadline = s->clock->SteadyNow() + std::chrono::seconds(2);
  }
  return 1;
}

int MessageHandler(xmpp_conn_t*, xmpp_stanza_t* stanza, void* userdata) {
  auto* s = static_cast<Session*>(userdata);
  const std::string from = Attr(stanza, "from");
  if (BareJid(from) != s->room) return 1;
  if (Attr(stanza, "type") == "error") {
    if (s->phase == Phase::kSent) {
      s->error = ErrorFromStanza(stanza, "posting");
      s->phase = Phase::kFailed;
    }
    return 1;
  }
  std::string id = Attr(stanza, "id");
  if (xmpp_stanza_t* origin =
          xmpp_stanza_get_child_by_name_and_ns(stanza, "origin-id", kOriginIdNs)) {
    id = Attr(origin, "id");
  }
  const bool ours = Resource(from) == s->nick && id == s->key;
  if (s->phase == Phase::kHistory) {
    if (ours) s->already_posted = true;
    // The subject is sent after the history (XEP-0045 section 7.2.15): history is complete.
    if (xmpp_stanza_get_child_by_name(stanza, "subject") &&
        !xmpp_stanza_get_child_by_name(stanza, "body")) {
      s->history_deadline = s->clock->SteadyNow();
    }
  } else if (s->phase == Phase::kSent && ours) {
    s->phase = Phase::kDone;  // the room reflected our message: it was distributed
  }
  return 1;
}

void LogHandler(void* userdata, xmpp_log_level_t level, const char* area, const char* msg) {
  auto* s = static_cast<Session*>(userdata);
  if (level == XMPP_LEVEL_ERROR && area != nullptr && std::strcmp(area, "auth") == 0) {
    s->auth_failed = true;
  }
  (void)msg;  // never logged: protocol chatter may carry credentials
}

// libstrophe's certificate-failure callback carries no user data; the event loop of one Send()
// runs on the calling thread, so the session being verified is found through this pointer.
thread_local Session* tls_session = nullptr;

int CertFailHandler(const xmpp_tlscert_t*, const char* const) {
  if (tls_session != nullptr) tls_session->cert_failed = true;
  return 0;  // never accept a certificate that does not verify
}

void ConnHandler(xmpp_conn_t* conn, xmpp_conn_event_t status, int error,
                 xmpp_stream_error_t* stream_error, void* userdata) {
  auto* s = static_cast<Session*>(userdata);
  if (status == XMPP_CONN_CONNECT) {
    s->secured = xmpp_conn_is_secured(conn);
    xmpp_handler_add(conn, PresenceHandler, nullptr, "presence", nullptr, s);
    xmpp_handler_add(conn, MessageHandler, nullptr, "message", nullptr, s);
    xmpp_handler_add(conn, IqHandler, nullptr, "iq", nullptr, s);
    // Join: <presence to='room/nick'><x xmlns=muc><history maxstanzas='50'/></x></presence>
    Stanza presence(xmpp_presence_new(s->ctx));
    xmpp_stanza_set_to(presence.get(), (s->room + "/" + s->nick).c_str());
    Stanza x(xmpp_stanza_new(s->ctx));
    xmpp_stanza_set_name(x.get(), "x");
    xmpp_stanza_set_ns(x.get(), kMucNs);
    Stanza history(xmpp_stanza_new(s->ctx));
    xmpp_stanza_set_name(history.get(), "history");
    xmpp_stanza_set_attribute(history.get(), "maxstanzas", s->create ? "0" : "50");
    xmpp_stanza_add_child(x.get(), history.get());
    xmpp_stanza_add_child(presence.get(), x.get());
    xmpp_send(conn, presence.get());
    s->phase = Phase::kJoining;
    return;
  }
  if (s->phase != Phase::kDone && s->phase != Phase::kFailed) {
    if (s->phase == Phase::kConnecting && s->cert_failed) {
      s->error = common::Status(common::ErrorCode::kFailedPrecondition,
                                "XMPP: the server's certificate is not trusted or does not match "
                                "the JID's domain; check ca_file",
                                false);
    } else if (s->phase == Phase::kConnecting && s->auth_failed) {
      s->error = common::Status(common::ErrorCode::kUnauthenticated,
                                "XMPP: login refused; check jid and password_file", false);
    } else if (s->phase == Phase::kConnecting) {
      s->error = common::UnavailableError(
          std::string("XMPP: cannot connect") +
          (error != 0 ? " (" + std::string(std::strerror(error)) + ")"
                      : (stream_error != nullptr ? " (stream error)" : "")));
    } else {
      s->error = common::UnavailableError("XMPP: connection lost");
    }
    s->phase = Phase::kFailed;
  }
}

// One connection: the session state, libstrophe's context and connection, and the loop that
// runs it until the session is done, failed or out of time.
class Connection {
 public:
  Connection(const XmppSettings& settings, const common::Clock* clock) : settings_(settings) {
    session_.clock = clock;
  }
  ~Connection() { tls_session = nullptr; }
  Session& session() { return session_; }

  common::Status Start() {
    // libstrophe reports a refused login only through its log (area "auth", level error).
    log_ = {LogHandler, &session_};
    ctx_.reset(xmpp_ctx_new(nullptr, &log_));
    if (!ctx_) return common::InternalError("XMPP: cannot allocate a context");
    conn_.reset(xmpp_conn_new(ctx_.get()));
    if (!conn_) return common::InternalError("XMPP: cannot allocate a connection");
    session_.ctx = ctx_.get();
    session_.conn = conn_.get();
    session_.nick = settings_.nick;
    xmpp_conn_set_jid(conn_.get(), settings_.jid.c_str());
    xmpp_conn_set_pass(conn_.get(), settings_.password.c_str());
    xmpp_conn_set_flags(conn_.get(), XMPP_CONN_FLAG_MANDATORY_TLS);
    if (!settings_.ca_file.empty()) xmpp_conn_set_cafile(conn_.get(), settings_.ca_file.c_str());
    xmpp_conn_set_certfail_handler(conn_.get(), CertFailHandler);
    tls_session = &session_;
    const bool host = !settings_.host.empty();
    if (xmpp_connect_client(conn_.get(), host ? settings_.host.c_str() : nullptr,
                            static_cast<unsigned short>(host ? settings_.port : 0), ConnHandler,
                            &session_) != XMPP_EOK) {
      return common::UnavailableError("XMPP: cannot start connecting");
    }
    deadline_ = session_.clock->SteadyNow() + settings_.timeout;
    return common::Status::Ok();
  }

  // Runs the event loop once (at most 50 ms). kDeadlineExceeded once the time is up.
  common::Status Step() {
    if (session_.clock->SteadyNow() > deadline_) {
      xmpp_disconnect(conn_.get());
      return common::DeadlineExceededError("XMPP: no answer within " +
                                           std::to_string(settings_.timeout.count()) + " ms");
    }
    xmpp_run_once(ctx_.get(), 50);
    return common::Status::Ok();
  }

  bool finished() const {
    return session_.phase == Phase::kDone || session_.phase == Phase::kFailed;
  }

  // Leaves the room and closes the stream; bounded by 2 s.
  void Close() {
    Stanza leave(xmpp_presence_new(ctx_.get()));
    xmpp_stanza_set_type(leave.get(), "unavailable");
    xmpp_stanza_set_to(leave.get(), (session_.room + "/" + session_.nick).c_str());
    xmpp_send(conn_.get(), leave.get());
    xmpp_disconnect(conn_.get());
    const auto close_deadline = session_.clock->SteadyNow() + std::chrono::seconds(2);
    while (xmpp_conn_is_connected(conn_.get()) && session_.clock->SteadyNow() < close_deadline) {
      xmpp_run_once(ctx_.get(), 50);
    }
  }

 private:
  const XmppSettings& settings_;
  Session session_;
  xmpp_log_t log_{};
  std::unique_ptr<xmpp_ctx_t, CtxDeleter> ctx_;  // declared before conn_: freed after it
  std::unique_ptr<xmpp_conn_t, ConnDeleter> conn_;
  std::chrono::steady_clock::time_point deadline_;
};

class XmppConnector final : public ChatConnector {
 public:
  XmppConnector(XmppSettings s, const common::Clock* clock) : s_(std::move(s)), clock_(clock) {
    InitializeOnce();
  }

  ConnectorCapabilities capabilities() const override {
    return {.can_edit = true, .can_create_rooms = !s_.muc_service.empty(), .exactly_once = true};
  }

  ChatResult<PostResult> Post(const Card& card, const ThreadTarget& target,
                              const std::string& key) override {
    TSUNAGU_RETURN_IF_ERROR(ValidateCard(card));
    return Send(card, target, key, "");
  }

  ChatResult<PostResult> Update(const Card& card, const ThreadTarget& target,
                                const std::string& message_id, const std::string& key) override {
    TSUNAGU_RETURN_IF_ERROR(ValidateCard(card));
    return Send(card, target, key, message_id);
  }

  ChatResult<std::string> CreateRoom(const RoomRequest& request) override {
    if (s_.muc_service.empty()) return ChatConnector::CreateRoom(request);
    // The room's address is random: nothing in it derives from the patient.
    auto random = common::RandomBytes(8);
    if (!random.ok()) return random.status();
    Connection c(s_, clock_);
    Session& session = c.session();
    session.create = true;
    session.room = "tsunagu-" + common::HexEncode(*random) + "@" + s_.muc_service;
    session.room_name = request.name;
    session.invite = request.invite;
    TSUNAGU_RETURN_IF_ERROR(c.Start());
    while (!c.finished()) TSUNAGU_RETURN_IF_ERROR(c.Step());
    if (session.phase == Phase::kFailed) return session.error;
    c.Close();
    return session.room;
  }

 private:
  ChatResult<PostResult> Send(const Card& card, const ThreadTarget& target, const std::string& key,
                              const std::string& replaces) {
    if (target.destination.find('@') == std::string::npos ||
        target.destination.find('/') != std::string::npos) {
      return common::InvalidArgumentError(
          "XMPP: the thread's destination must be a room JID such as room@conference.example");
    }
    Connection c(s_, clock_);
    Session& session = c.session();
    session.room = target.destination;
    session.key = key;
    TSUNAGU_RETURN_IF_ERROR(c.Start());
    bool sent = false;
    while (!c.finished()) {
      TSUNAGU_RETURN_IF_ERROR(c.Step());
      if (session.phase == Phase::kHistory && !sent &&
          clock_->SteadyNow() >= session.history_deadline) {
        if (session.already_posted && replaces.empty()) {
          session.phase = Phase::kDone;
          break;
        }
        const std::string text =
            (replaces.empty() ? "" : "* ") + RenderPlainText(card, target.render);
        Stanza msg(xmpp_message_new(session.ctx, "groupchat", session.room.c_str(), key.c_str()));
        xmpp_message_set_body(msg.get(), text.c_str());
        Stanza origin = Element(session.ctx, "origin-id", kOriginIdNs);
        xmpp_stanza_set_id(origin.get(), key.c_str());
        xmpp_stanza_add_child(msg.get(), origin.get());
        if (!replaces.empty()) {
          // Old clients show the correction as a new message; its body says so with "* ".
          Stanza replace = Element(session.ctx, "replace", kCorrectNs);
          xmpp_stanza_set_id(replace.get(), replaces.c_str());
          xmpp_stanza_add_child(msg.get(), replace.get());
        }
        xmpp_send(session.conn, msg.get());
        session.phase = Phase::kSent;
        sent = true;
      }
    }
    if (session.phase == Phase::kFailed) return session.error;
    c.Close();
    return PostResult{.message_id = key, .exactly_once = true, .destination = target.destination};
  }

  XmppSettings s_;
  const common::Clock* clock_;
};

}  // namespace

std::unique_ptr<ChatConnector> MakeXmppConnector(XmppSettings settings,
                                                 const common::Clock* clock) {
  return std::make_unique<XmppConnector>(std::move(settings), clock);
}

}  // namespace tsunagu::chat::internal
