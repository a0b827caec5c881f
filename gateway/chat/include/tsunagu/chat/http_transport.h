// HttpTransport: the one seam between the HTTP connectors and the network, so unit tests inject
// faults and contract tests run the real client against a local server.
#ifndef TSUNAGU_CHAT_HTTP_TRANSPORT_H_
#define TSUNAGU_CHAT_HTTP_TRANSPORT_H_

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tsunagu/chat/connector.h"
#include "tsunagu/common/clock.h"

namespace tsunagu::chat {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method;  // "GET", "POST", "PUT"
  std::string url;     // absolute: scheme://host[:port]/path?query
  Headers headers;
  std::string body;
};

struct HttpResponse {
  int status = 0;
  Headers headers;
  std::string body;
  // The first header named `name` (case-insensitive), or empty.
  std::string Header(std::string_view name) const;
};

// Sends one request. A response with any status code is a success here; only failures to get a
// response are errors: kUnavailable (connect, TLS, reset) or kDeadlineExceeded (timeout), both
// retryable. Messages never contain header values (tokens). Thread-safe.
class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  virtual common::Result<HttpResponse> Send(const HttpRequest& request) = 0;
};

struct HttpTransportOptions {
  std::chrono::milliseconds timeout = std::chrono::seconds(15);
  // Extra CA certificates to trust (PEM), in addition to the system's. Certificates are always
  // verified, and the host name checked.
  std::filesystem::path ca_file;
  // An HTTP proxy ("http://proxy.hospital.local:8080") through which every request goes (HTTPS
  // with CONNECT, so TLS still ends at the platform); empty: direct.
  std::string proxy;
};

// The real transport over cpprestsdk.
std::unique_ptr<HttpTransport> MakeCppRestTransport(HttpTransportOptions options);

// The one conversion of an HTTP answer into a chat error (StatusFromHttp in the house style).
// `what` names the platform for the message ("Matrix"). 2xx gives OK. 429 gives a retryable
// kResourceExhausted with retry_after from Retry-After (delta-seconds or HTTP-date, read with
// `clock`); 408 kDeadlineExceeded; 5xx kUnavailable (retryable; Retry-After honoured too);
// 401 kUnauthenticated, 403 kPermissionDenied, 404 kNotFound, other 4xx kInvalidArgument, all
// not retryable. `detail` (a platform error code, never a token) is appended when not empty.
ChatResult<bool> StatusFromHttp(const HttpResponse& response, std::string_view what,
                                const common::Clock& clock, std::string_view detail = "");

// Parses a Retry-After value: delta-seconds or an IMF-fixdate (RFC 9110 section 10.2.3).
std::optional<std::chrono::milliseconds> ParseRetryAfter(std::string_view value,
                                                         std::chrono::system_clock::time_point now);

// Percent-encodes `text` for a URL path segment or form value (RFC 3986 unreserved kept).
std::string UrlEncode(std::string_view text);

}  // namespace tsunagu::chat

#endif  // TSUNAGU_CHAT_HTTP_TRANSPORT_H_
