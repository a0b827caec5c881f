// Private: the relay's HTTP server seam. Handlers see plain request/response values; the
// mechanism (Boost.Beast over Boost.Asio + OpenSSL) stays in http_server_beast.cpp.
#ifndef TSUNAGU_RELAY_SRC_HTTP_SERVER_H_
#define TSUNAGU_RELAY_SRC_HTTP_SERVER_H_

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tsunagu/common/reloadable_certificate.h"
#include "tsunagu/common/result.h"

namespace spdlog {
class logger;
}

namespace tsunagu::relay {

struct HttpRequest {
  std::string method;  // "GET", "PUT", ...
  std::string path;    // percent-decoded, without the query
  std::string raw_path;
  std::map<std::string, std::string> query;    // decoded
  std::map<std::string, std::string> headers;  // names lower-case
  std::string body;
  std::string client_address;
  // The common name of the client certificate the connection was verified with (mutual TLS
  // listeners only; empty otherwise): which enrolled gateway sent the request.
  std::string client_subject;

  std::optional<std::string> Header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    if (it == headers.end()) return std::nullopt;
    return it->second;
  }
};

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string content_type = "application/json";
  // Sent instead of `body` when set: an answer held in a cache (frames, metadata), sent without
  // copying it per request.
  std::shared_ptr<const std::string> shared_body = nullptr;

  std::string_view Body() const { return shared_body ? std::string_view(*shared_body) : body; }
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

// What a listener counts for /metrics (relay_metrics.h); shared with the listener's threads.
struct ListenerCounters {
  std::atomic<std::uint64_t> connections{0};         // accepted TCP connections
  std::atomic<std::uint64_t> handshake_failures{0};  // TLS handshakes that failed, any reason
  std::atomic<std::uint64_t> clients_refused{0};     // client certificates refused (mutual TLS)
  std::atomic<std::uint64_t> accept_errors{0};       // accept() failures (out of descriptors...)
  std::atomic<std::uint64_t> over_capacity{0};       // connections closed at the connection limit
  std::atomic<std::uint64_t> handler_errors{0};      // handlers that threw (answered 500)
};

struct TlsListenerOptions {
  std::string bind_address = "127.0.0.1";
  std::uint16_t port = 0;
  std::filesystem::path cert_file;
  std::filesystem::path key_file;
  // Mutual TLS when set: the client must present a certificate issued by this CA whose subject
  // common name is in allowed_clients, or the TLS handshake fails.
  std::filesystem::path client_ca_file;
  std::vector<std::string> allowed_clients;
  std::uint64_t max_body_bytes = 64ULL << 20;  // larger requests get 413 before the handler
  // When set, served instead of cert_file/key_file and replaceable while running (SIGHUP).
  std::shared_ptr<common::ReloadableCertificate> certificate;
  // Threads that run the connections and the handlers (which may block on disk or SQLite);
  // 0: twice the core count, at least 4.
  unsigned threads = 0;
  // Counted into when set (the relay's /metrics).
  std::shared_ptr<ListenerCounters> counters = nullptr;
};

class HttpServer {
 public:
  virtual ~HttpServer() = default;
  // Starts listening; kUnavailable when the address cannot be bound or TLS cannot be set up.
  virtual common::Status Start() = 0;
  virtual void Stop() = 0;
};

// The relay's listener (Boost.Beast; http_server_beast.cpp).
common::Result<std::unique_ptr<HttpServer>> MakeHttpsServer(TlsListenerOptions options,
                                                            HttpHandler handler,
                                                            std::shared_ptr<spdlog::logger> logger);

// The former listener over cpprestsdk's http_listener, kept only so that the relay benchmark
// can show in one run why it was replaced (tests/bench/relay). It leaves client_subject empty.
common::Result<std::unique_ptr<HttpServer>> MakeCpprestHttpsServer(
    TlsListenerOptions options, HttpHandler handler, std::shared_ptr<spdlog::logger> logger);

// The non-empty segments of a request path ("/v/abc//x" -> {"v", "abc", "x"}).
inline std::vector<std::string> PathSegments(const std::string& path) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : path) {
    if (c == '/') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

}  // namespace tsunagu::relay

#endif  // TSUNAGU_RELAY_SRC_HTTP_SERVER_H_
