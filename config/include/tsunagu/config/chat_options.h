// Chat connectors ([[chat.connectors]] in gateway.toml) and the per-thread chat policy keys of
// [[threads]]. Documented in config/gateway.example.toml and docs/chat.md.
#ifndef TSUNAGU_CONFIG_CHAT_OPTIONS_H_
#define TSUNAGU_CONFIG_CHAT_OPTIONS_H_

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace tsunagu::config {

enum class ChatConnectorType { kWebhook, kSlack, kMatrix, kLineWorks, kChatwork, kXmpp };

// One configured chat platform account. Which keys apply depends on `type`; the loader rejects
// keys of other types. Secrets are files (permission-checked), never inline.
struct ChatConnectorOptions {
  std::string name;  // what [[threads]] connector = "..." refers to
  ChatConnectorType type = ChatConnectorType::kWebhook;
  std::chrono::milliseconds timeout = std::chrono::seconds(15);
  std::filesystem::path ca_file;  // extra CA to trust (e.g. an in-house chat server)
  std::string proxy;  // HTTP connectors: "http://host:port" of the hospital's outbound proxy

  // webhook: url + secret_file (HMAC-SHA-256 key).
  // slack: url_file (the incoming-webhook URL is itself the secret); style.
  std::string url;
  std::filesystem::path url_file;
  std::filesystem::path secret_file;
  std::string style =
      "blocks";  // slack: "blocks" (Slack) or "attachments" (Mattermost, Rocket.Chat)

  // matrix: homeserver (https://...) + access_token_file.
  std::string homeserver;
  std::filesystem::path access_token_file;

  // lineworks: Bot API 2.0 with a service account.
  std::string
      api_base;  // lineworks "https://www.worksapis.com"; chatwork "https://api.chatwork.com"
  std::string auth_url = "https://auth.worksmobile.com/oauth2/v2.0/token";
  std::string client_id;
  std::filesystem::path client_secret_file;
  std::string service_account;
  std::filesystem::path private_key_file;  // PEM RSA key of the service account
  std::string bot_id;
  std::string message_type = "button_template";  // "button_template", "link" or "flex"

  // chatwork: token_file (X-ChatWorkToken of a dedicated bot account).
  std::filesystem::path token_file;

  // xmpp: jid + password_file; host/port when not found from the JID's domain; nick in rooms.
  std::string jid;
  std::filesystem::path password_file;
  std::string host;
  int port = 5222;
  std::string nick = "tsunagu";
  std::string muc_service;  // e.g. "conference.hospital.local": per-patient rooms are created there
};

struct ChatOptions {
  std::vector<ChatConnectorOptions> connectors;
  // Offset from UTC in which card times are shown, "+09:00".
  std::chrono::minutes utc_offset = std::chrono::hours(9);
};

// Chat policy of one [[threads]] entry.
struct ChatThreadPolicy {
  // Route every study of one patient to the same conversation: a room created per patient where
  // the connector can (Matrix, XMPP), else `destination`.
  bool per_patient = false;
  std::string room_label;           // rooms are named "<room_label> …<last 4>"
  std::vector<std::string> invite;  // members invited into per-patient rooms
  bool thumbnails = false;          // off by default: the platform must reach the relay
  bool seen_receipts = false;       // update / follow up when the link is first opened
};

}  // namespace tsunagu::config

#endif  // TSUNAGU_CONFIG_CHAT_OPTIONS_H_
