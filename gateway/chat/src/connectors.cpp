#include "tsunagu/chat/connectors.h"

#include "connectors_internal.h"
#include "tsunagu/common/secret_file.h"

namespace tsunagu::chat {

common::Result<std::unique_ptr<ChatConnector>> MakeConnector(const config::ChatConnectorOptions& o,
                                                             ConnectorDeps deps) {
  using config::ChatConnectorType;
  if (deps.clock == nullptr) return common::InternalError("MakeConnector: no clock");
  if (!deps.transport && o.type != ChatConnectorType::kXmpp) {
    deps.transport =
        MakeCppRestTransport({.timeout = o.timeout, .ca_file = o.ca_file, .proxy = o.proxy});
  }
  auto secret = [&](const std::filesystem::path& p,
                    const char* key) -> common::Result<std::string> {
    auto r = common::ReadSecretFile(p);
    if (!r.ok()) return r.status().WithContext("chat connector \"" + o.name + "\": " + key);
    return r;
  };
  switch (o.type) {
    case ChatConnectorType::kWebhook: {
      TSUNAGU_ASSIGN_OR_RETURN(std::string s, secret(o.secret_file, "secret_file"));
      return internal::MakeWebhookConnector(o.url, std::move(s), std::move(deps));
    }
    case ChatConnectorType::kSlack: {
      TSUNAGU_ASSIGN_OR_RETURN(std::string url, secret(o.url_file, "url_file"));
      return internal::MakeSlackConnector(std::move(url), o.style == "blocks", std::move(deps));
    }
    case ChatConnectorType::kChatwork: {
      TSUNAGU_ASSIGN_OR_RETURN(std::string token, secret(o.token_file, "token_file"));
      return internal::MakeChatworkConnector(o.api_base, std::move(token), std::move(deps));
    }
    case ChatConnectorType::kMatrix: {
      TSUNAGU_ASSIGN_OR_RETURN(std::string token, secret(o.access_token_file, "access_token_file"));
      return internal::MakeMatrixConnector(o.homeserver, std::move(token), std::move(deps));
    }
    case ChatConnectorType::kLineWorks: {
      internal::LineWorksSettings s;
      s.api_base = o.api_base;
      s.auth_url = o.auth_url;
      s.client_id = o.client_id;
      TSUNAGU_ASSIGN_OR_RETURN(s.client_secret, secret(o.client_secret_file, "client_secret_file"));
      s.service_account = o.service_account;
      TSUNAGU_ASSIGN_OR_RETURN(s.private_key_pem, secret(o.private_key_file, "private_key_file"));
      s.bot_id = o.bot_id;
      s.message_type = o.message_type;
      return internal::MakeLineWorksConnector(std::move(s), std::move(deps));
    }
    case ChatConnectorType::kXmpp: {
      internal::XmppSettings s;
      s.jid = o.jid;
      TSUNAGU_ASSIGN_OR_RETURN(s.password, secret(o.password_file, "password_file"));
      s.host = o.host;
      s.port = o.port;
      s.ca_file = o.ca_file.string();
      s.nick = o.nick;
      s.muc_service = o.muc_service;
      s.timeout = o.timeout;
      return internal::MakeXmppConnector(std::move(s), deps.clock);
    }
  }
  return common::InternalError("MakeConnector: unknown connector type");
}

}  // namespace tsunagu::chat
