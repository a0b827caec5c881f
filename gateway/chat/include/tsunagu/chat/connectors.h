// Factories for the connectors configured in [[chat.connectors]]. gateway/main.cpp (the
// composition root) calls MakeConnector once per configured connector.
#ifndef TSUNAGU_CHAT_CONNECTORS_H_
#define TSUNAGU_CHAT_CONNECTORS_H_

#include <memory>

#include "tsunagu/chat/connector.h"
#include "tsunagu/chat/http_transport.h"
#include "tsunagu/common/clock.h"
#include "tsunagu/common/result.h"
#include "tsunagu/config/chat_options.h"

namespace tsunagu::chat {

struct ConnectorDeps {
  const common::Clock* clock = nullptr;  // required; outlives the connector
  // HTTP connectors: the transport to use; null gives the cpprestsdk transport built from the
  // options' timeout and ca_file (certificates always verified).
  std::shared_ptr<HttpTransport> transport;
};

// Builds the connector `options` describe, reading its secret files (permission-checked) now, so
// a bad file is reported at start-up. Errors: those of ReadSecretFile; kInvalidArgument for an
// unreadable private key.
common::Result<std::unique_ptr<ChatConnector>> MakeConnector(
    const config::ChatConnectorOptions& options, ConnectorDeps deps);

}  // namespace tsunagu::chat

#endif  // TSUNAGU_CHAT_CONNECTORS_H_
