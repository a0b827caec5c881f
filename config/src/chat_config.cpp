#include "chat_config.h"

#include <map>

#include "file_checks.h"
#include "tsunagu/config/gateway_options.h"

namespace tsunagu::config::internal {
namespace {

void RequireHttps(Section& s, std::string_view key, const std::string& url) {
  if (!url.empty() && url.rfind("https://", 0) != 0) {
    s.Error(key, "expected an https:// URL, got \"" + url + "\"");
  }
}

std::string TypeName(ChatConnectorType t) {
  switch (t) {
    case ChatConnectorType::kWebhook:
      return "webhook";
    case ChatConnectorType::kSlack:
      return "slack";
    case ChatConnectorType::kMatrix:
      return "matrix";
    case ChatConnectorType::kLineWorks:
      return "lineworks";
    case ChatConnectorType::kChatwork:
      return "chatwork";
    case ChatConnectorType::kXmpp:
      return "xmpp";
  }
  return "";
}

ChatConnectorOptions ReadConnector(Section& s) {
  ChatConnectorOptions o;
  o.name = s.RequiredString("name");
  const std::string type =
      s.Choice("type", "", {"webhook", "slack", "matrix", "lineworks", "chatwork", "xmpp"});
  if (!s.Has("type")) s.Error("type", "required, but missing");
  o.timeout = s.Duration("timeout", o.timeout, std::chrono::seconds(1));
  o.ca_file = s.Path("ca_file", "");
  if (type != "xmpp") {
    o.proxy = s.String("proxy", "");
    if (!o.proxy.empty() && o.proxy.rfind("http://", 0) != 0) {
      s.Error("proxy",
              "expected an http:// proxy URL such as \"http://proxy.hospital.local:8080\", got \"" +
                  o.proxy + "\"");
    }
  }
  if (type == "webhook") {
    o.type = ChatConnectorType::kWebhook;
    o.url = s.RequiredString("url");
    RequireHttps(s, "url", o.url);
    o.secret_file = s.RequiredPath("secret_file");
  } else if (type == "slack") {
    o.type = ChatConnectorType::kSlack;
    o.url_file = s.RequiredPath("url_file");
    o.style = s.Choice("style", o.style, {"blocks", "attachments"});
  } else if (type == "matrix") {
    o.type = ChatConnectorType::kMatrix;
    o.homeserver = s.RequiredString("homeserver");
    RequireHttps(s, "homeserver", o.homeserver);
    o.access_token_file = s.RequiredPath("access_token_file");
  } else if (type == "lineworks") {
    o.type = ChatConnectorType::kLineWorks;
    o.api_base = s.String("api_base", "https://www.worksapis.com");
    RequireHttps(s, "api_base", o.api_base);
    o.auth_url = s.String("auth_url", o.auth_url);
    RequireHttps(s, "auth_url", o.auth_url);
    o.client_id = s.RequiredString("client_id");
    o.client_secret_file = s.RequiredPath("client_secret_file");
    o.service_account = s.RequiredString("service_account");
    o.private_key_file = s.RequiredPath("private_key_file");
    o.bot_id = s.RequiredString("bot_id");
    o.message_type = s.Choice("message_type", o.message_type, {"button_template", "link", "flex"});
  } else if (type == "chatwork") {
    o.type = ChatConnectorType::kChatwork;
    o.api_base = s.String("api_base", "https://api.chatwork.com");
    RequireHttps(s, "api_base", o.api_base);
    o.token_file = s.RequiredPath("token_file");
  } else if (type == "xmpp") {
    o.type = ChatConnectorType::kXmpp;
    o.jid = s.RequiredString("jid");
    if (!o.jid.empty() &&
        (o.jid.find('@') == std::string::npos || o.jid.find('/') != std::string::npos)) {
      s.Error("jid",
              "expected a bare JID such as tsunagu@chat.hospital.local, got \"" + o.jid + "\"");
    }
    o.password_file = s.RequiredPath("password_file");
    o.host = s.String("host", "");
    o.port = s.Port("port", static_cast<std::uint16_t>(o.port));
    o.nick = s.String("nick", o.nick);
    if (o.nick.empty() || o.nick.find('/') != std::string::npos) {
      s.Error("nick", "expected a non-empty room nickname without '/', got \"" + o.nick + "\"");
    }
    o.muc_service = s.String("muc_service", "");
  }
  return o;
}

}  // namespace

ChatOptions ReadChat(Section s) {
  ChatOptions o;
  if (!s.present()) return o;
  const std::string offset = s.String("utc_offset", "+09:00");
  if (offset.size() == 6 && (offset[0] == '+' || offset[0] == '-') && offset[3] == ':' &&
      std::isdigit(static_cast<unsigned char>(offset[1])) &&
      std::isdigit(static_cast<unsigned char>(offset[2])) &&
      std::isdigit(static_cast<unsigned char>(offset[4])) &&
      std::isdigit(static_cast<unsigned char>(offset[5])) && std::stoi(offset.substr(1, 2)) <= 14 &&
      std::stoi(offset.substr(4, 2)) < 60) {
    const int minutes = std::stoi(offset.substr(1, 2)) * 60 + std::stoi(offset.substr(4, 2));
    o.utc_offset = std::chrono::minutes(offset[0] == '-' ? -minutes : minutes);
  } else {
    s.Error("utc_offset", "expected an offset such as \"+09:00\", got \"" + offset + "\"");
  }
  std::map<std::string, std::string> seen;
  for (Section& c : s.TableArray("connectors")) {
    ChatConnectorOptions conn = ReadConnector(c);
    if (!conn.name.empty()) {
      auto [it, inserted] = seen.emplace(conn.name, c.KeyPath("name"));
      if (!inserted) {
        c.Error("name", "duplicate connector name \"" + conn.name + "\" (first used at " +
                            it->second + ")");
      }
    }
    c.FinishUnknownKeys();
    o.connectors.push_back(std::move(conn));
  }
  s.FinishUnknownKeys();
  return o;
}

ChatThreadPolicy ReadChatThreadPolicy(Section& t) {
  ChatThreadPolicy p;
  p.per_patient = t.Bool("per_patient", p.per_patient);
  p.room_label = t.String("room_label", "");
  p.invite = t.StringList("invite");
  p.thumbnails = t.Bool("thumbnails", p.thumbnails);
  p.seen_receipts = t.Bool("seen_receipts", p.seen_receipts);
  return p;
}

void CheckChatThreads(Errors& errors, const ChatOptions& chat,
                      const std::vector<ThreadOptions>& threads) {
  if (chat.connectors.empty()) return;
  std::string names;
  for (const auto& c : chat.connectors) names += (names.empty() ? "\"" : ", \"") + c.name + "\"";
  for (std::size_t i = 0; i < threads.size(); ++i) {
    const ThreadOptions& t = threads[i];
    const std::string at = "threads[" + std::to_string(i) + "]";
    const ChatConnectorOptions* conn = nullptr;
    for (const auto& c : chat.connectors) {
      if (c.name == t.connector) conn = &c;
    }
    if (conn == nullptr) {
      if (!t.connector.empty()) {
        errors.Add(at + ".connector",
                   "unknown connector \"" + t.connector + "\" (configured: " + names + ")");
      }
      continue;
    }
    const bool can_create = conn->type == ChatConnectorType::kMatrix ||
                            (conn->type == ChatConnectorType::kXmpp && !conn->muc_service.empty());
    const bool url_only =
        conn->type == ChatConnectorType::kWebhook || conn->type == ChatConnectorType::kSlack;
    if (t.destination.empty() && !url_only && !(t.chat.per_patient && can_create)) {
      errors.Add(at + ".destination", "required for a " + TypeName(conn->type) +
                                          " connector (the room, channel or room JID)");
    }
  }
}

void CheckChatFiles(Errors& errors, const ChatOptions& chat) {
  for (std::size_t i = 0; i < chat.connectors.size(); ++i) {
    const ChatConnectorOptions& c = chat.connectors[i];
    const std::string at = "chat.connectors[" + std::to_string(i) + "].";
    for (const auto& [key, path] : std::vector<std::pair<std::string, std::filesystem::path>>{
             {"secret_file", c.secret_file},
             {"url_file", c.url_file},
             {"access_token_file", c.access_token_file},
             {"client_secret_file", c.client_secret_file},
             {"private_key_file", c.private_key_file},
             {"token_file", c.token_file},
             {"password_file", c.password_file}}) {
      if (!path.empty()) CheckSecretFile(errors, at + key, path);
    }
    if (!c.ca_file.empty()) CheckReadableFile(errors, at + "ca_file", c.ca_file);
  }
}

}  // namespace tsunagu::config::internal
