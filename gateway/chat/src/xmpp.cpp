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

#include "connectors_internal.h"

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

enum class Phase { kConnecting, kJoining, kHistory, kSent, kDone, kFailed };

struct Session {
  xmpp_ctx_t* ctx = nullptr;
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
  if (xmpp_stanza_t* x = xmpp_stanza_get_child_by_name_and_ns(stanza, "x", kMucUserNs)) {
    for (xmpp_stanza_t* c = xmpp_stanza_get_children(x); c; c = xmpp_stanza_get_next(c)) {
      const char* name = xmpp_stanza_get_name(c);
      if (name && std::string(name) == "status" && Attr(c, "code") == "110") self = true;
    }
  }
  if (self && Attr(stanza, "type") != "unavailable") {
    s->phase = Phase::kHistory;
    s->history_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
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
      s->history_deadline = std::chrono::steady_clock::now();
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
    // Join: <presence to='room/nick'><x xmlns=muc><history maxstanzas='50'/></x></presence>
    Stanza presence(xmpp_presence_new(s->ctx));
    xmpp_stanza_set_to(presence.get(), (s->room + "/" + s->nick).c_str());
    Stanza x(xmpp_stanza_new(s->ctx));
    xmpp_stanza_set_name(x.get(), "x");
    xmpp_stanza_set_ns(x.get(), kMucNs);
    Stanza history(xmpp_stanza_new(s->ctx));
    xmpp_stanza_set_name(history.get(), "history");
    xmpp_stanza_set_attribute(history.get(), "maxstanzas", "50");
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

class XmppConnector final : public ChatConnector {
 public:
  XmppConnector(XmppSettings s, const common::Clock* clock) : s_(std::move(s)), clock_(clock) {
    InitializeOnce();
  }

  ConnectorCapabilities capabilities() const override {
    return {.can_edit = true, .can_create_rooms = false, .exactly_once = true};
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

 private:
  ChatResult<PostResult> Send(const Card& card, const ThreadTarget& target, const std::string& key,
                              const std::string& replaces) {
    if (target.destination.find('@') == std::string::npos ||
        target.destination.find('/') != std::string::npos) {
      return common::InvalidArgumentError(
          "XMPP: the thread's destination must be a room JID such as room@conference.example");
    }
    Session session;
    // libstrophe reports a refused login only through its log (area "auth", level error).
    xmpp_log_t log{LogHandler, &session};
    std::unique_ptr<xmpp_ctx_t, CtxDeleter> ctx(xmpp_ctx_new(nullptr, &log));
    std::unique_ptr<xmpp_conn_t, ConnDeleter> conn(xmpp_conn_new(ctx.get()));
    if (!ctx || !conn) return common::InternalError("XMPP: cannot allocate a connection");
    session.ctx = ctx.get();
    session.room = target.destination;
    session.nick = s_.nick;
    session.key = key;
    xmpp_conn_set_jid(conn.get(), s_.jid.c_str());
    xmpp_conn_set_pass(conn.get(), s_.password.c_str());
    xmpp_conn_set_flags(conn.get(), XMPP_CONN_FLAG_MANDATORY_TLS);
    if (!s_.ca_file.empty()) xmpp_conn_set_cafile(conn.get(), s_.ca_file.c_str());
    xmpp_conn_set_certfail_handler(conn.get(), CertFailHandler);
    tls_session = &session;
    struct ResetTlsSession {
      ~ResetTlsSession() { tls_session = nullptr; }
    } reset_tls_session;
    if (xmpp_connect_client(conn.get(), s_.host.empty() ? nullptr : s_.host.c_str(),
                            static_cast<unsigned short>(s_.host.empty() ? 0 : s_.port), ConnHandler,
                            &session) != XMPP_EOK) {
      return common::UnavailableError("XMPP: cannot start connecting");
    }
    const auto deadline = clock_->SteadyNow() + s_.timeout;
    bool sent = false;
    while (session.phase != Phase::kDone && session.phase != Phase::kFailed) {
      if (clock_->SteadyNow() > deadline) {
        xmpp_disconnect(conn.get());
        return common::DeadlineExceededError("XMPP: no answer within " +
                                             std::to_string(s_.timeout.count()) + " ms");
      }
      xmpp_run_once(ctx.get(), 50);
      if (session.phase == Phase::kHistory && !sent &&
          std::chrono::steady_clock::now() >= session.history_deadline) {
        if (session.already_posted && replaces.empty()) {
          session.phase = Phase::kDone;
          break;
        }
        const std::string text = RenderPlainText(card, target.render);
        Stanza msg(xmpp_message_new(ctx.get(), "groupchat", session.room.c_str(), key.c_str()));
        xmpp_message_set_body(msg.get(), replaces.empty() ? text.c_str() : ("* " + text).c_str());
        Stanza origin(xmpp_stanza_new(ctx.get()));
        xmpp_stanza_set_name(origin.get(), "origin-id");
        xmpp_stanza_set_ns(origin.get(), kOriginIdNs);
        xmpp_stanza_set_id(origin.get(), key.c_str());
        xmpp_stanza_add_child(msg.get(), origin.get());
        if (!replaces.empty()) {
          Stanza replace(xmpp_stanza_new(ctx.get()));
          xmpp_stanza_set_name(replace.get(), "replace");
          xmpp_stanza_set_ns(replace.get(), kCorrectNs);
          xmpp_stanza_set_id(replace.get(), replaces.c_str());
          xmpp_stanza_add_child(msg.get(), replace.get());
          // Old clients show the correction as a new message; its body says so with "* ".
        }
        xmpp_send(conn.get(), msg.get());
        session.phase = Phase::kSent;
        sent = true;
      }
    }
    if (session.phase == Phase::kFailed) return session.error;
    // Leave the room and close the stream; bounded.
    Stanza leave(xmpp_presence_new(ctx.get()));
    xmpp_stanza_set_type(leave.get(), "unavailable");
    xmpp_stanza_set_to(leave.get(), (session.room + "/" + session.nick).c_str());
    xmpp_send(conn.get(), leave.get());
    xmpp_disconnect(conn.get());
    const auto close_deadline = clock_->SteadyNow() + std::chrono::seconds(2);
    while (xmpp_conn_is_connected(conn.get()) && clock_->SteadyNow() < close_deadline) {
      xmpp_run_once(ctx.get(), 50);
    }
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
