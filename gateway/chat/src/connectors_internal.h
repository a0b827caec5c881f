// Private: one factory per platform, and JSON helpers shared by the HTTP connectors.
#ifndef TSUNAGU_CHAT_SRC_CONNECTORS_INTERNAL_H_
#define TSUNAGU_CHAT_SRC_CONNECTORS_INTERNAL_H_

#include <cpprest/json.h>

#include <memory>
#include <optional>
#include <string>

#include "tsunagu/chat/connectors.h"

namespace tsunagu::chat::internal {

std::unique_ptr<ChatConnector> MakeWebhookConnector(std::string url, std::string secret,
                                                    ConnectorDeps deps);
std::unique_ptr<ChatConnector> MakeSlackConnector(std::string url, bool blocks, ConnectorDeps deps);
std::unique_ptr<ChatConnector> MakeChatworkConnector(std::string api_base, std::string token,
                                                     ConnectorDeps deps);
std::unique_ptr<ChatConnector> MakeMatrixConnector(std::string homeserver, std::string token,
                                                   ConnectorDeps deps);
struct LineWorksSettings {
  std::string api_base;
  std::string auth_url;
  std::string client_id;
  std::string client_secret;
  std::string service_account;
  std::string private_key_pem;
  std::string bot_id;
  std::string message_type;
};
common::Result<std::unique_ptr<ChatConnector>> MakeLineWorksConnector(LineWorksSettings settings,
                                                                      ConnectorDeps deps);
struct XmppSettings {
  std::string jid;
  std::string password;
  std::string host;
  int port = 5222;
  std::string ca_file;
  std::string nick;
  std::string muc_service;  // empty: rooms are not created
  std::chrono::milliseconds timeout{15000};
};
std::unique_ptr<ChatConnector> MakeXmppConnector(XmppSettings settings, const common::Clock* clock);

// JSON helpers over cpprestsdk's web::json (strings are std::string here: see
// _TURN_OFF_PLATFORM_STRING in DEPENDENCIES.md).
inline web::json::value JStr(const std::string& s) { return web::json::value::string(s); }
// Parses `body`; nullopt when it is not JSON.
std::optional<web::json::value> ParseJson(const std::string& body);
// obj[key] as a string when it is one, else empty.
std::string JGetString(const web::json::value& obj, const std::string& key);

// RFC 3339 UTC, "2026-11-25T03:14:00Z".
std::string Rfc3339(std::chrono::system_clock::time_point t);

// A short printable excerpt of a platform's error body for `status` (no tokens are in bodies
// the platforms return; at most 80 characters, control characters removed).
std::string Excerpt(const std::string& body);

}  // namespace tsunagu::chat::internal

#endif  // TSUNAGU_CHAT_SRC_CONNECTORS_INTERNAL_H_
