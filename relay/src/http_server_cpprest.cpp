// The former HttpServer over cpprestsdk's http_listener (Boost.Asio + OpenSSL underneath), kept
// for the listener comparison in tests/bench/relay (see http_server_beast.cpp for why). Mutual TLS
// is enforced in the TLS context: verify_fail_if_no_peer_cert plus a verify callback that
// accepts only the enrolled common names, so a request without an enrolled client certificate
// never reaches a handler.
#include <cpprest/http_listener.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/logger.h>

#include <algorithm>
#include <boost/asio/ssl.hpp>
#include <fstream>

#include "http_server.h"
#include "tsunagu/common/reloadable_certificate.h"

namespace tsunagu::relay {
namespace {

namespace http = web::http;

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string CommonName(X509* cert) {
  char buf[256] = {};
  const int n =
      X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

class CpprestHttpsServer final : public HttpServer {
 public:
  CpprestHttpsServer(TlsListenerOptions options, HttpHandler handler,
                     std::shared_ptr<spdlog::logger> logger)
      : options_(std::move(options)), handler_(std::move(handler)), logger_(std::move(logger)) {}

  ~CpprestHttpsServer() override { Stop(); }

  common::Status Start() override {
    http::experimental::listener::http_listener_config config;
    config.set_timeout(std::chrono::seconds(60));
    auto options = options_;
    auto logger = logger_;
    config.set_ssl_context_callback([options, logger](boost::asio::ssl::context& ctx) {
      ctx.set_options(boost::asio::ssl::context::default_workarounds |
                      boost::asio::ssl::context::no_sslv2 | boost::asio::ssl::context::no_sslv3 |
                      boost::asio::ssl::context::no_tlsv1 | boost::asio::ssl::context::no_tlsv1_1 |
                      boost::asio::ssl::context::single_dh_use);
      SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
      // cpprestsdk makes a context per connection: a reloadable certificate serves the pair read
      // at the last (re)load, never a half-renewed pair read from the files mid-copy.
      if (options.certificate) {
        options.certificate->Install(ctx.native_handle());
      } else {
        ctx.use_certificate_chain_file(options.cert_file.string());
        ctx.use_private_key_file(options.key_file.string(), boost::asio::ssl::context::pem);
      }
      if (!options.client_ca_file.empty()) {
        ctx.load_verify_file(options.client_ca_file.string());
        ctx.set_verify_mode(boost::asio::ssl::verify_peer |
                            boost::asio::ssl::verify_fail_if_no_peer_cert);
        auto allowed = options.allowed_clients;
        ctx.set_verify_callback(
            [allowed, logger](bool preverified, boost::asio::ssl::verify_context& vctx) {
              X509_STORE_CTX* store = vctx.native_handle();
              if (!preverified) {
                logger->warn("tls.client_refused reason=\"{}\"",
                             X509_verify_cert_error_string(X509_STORE_CTX_get_error(store)));
                return false;
              }
              if (X509_STORE_CTX_get_error_depth(store) != 0) return true;
              const std::string cn = CommonName(X509_STORE_CTX_get_current_cert(store));
              if (std::find(allowed.begin(), allowed.end(), cn) == allowed.end()) {
                logger->warn("tls.client_refused reason=not_enrolled cn=\"{}\"", cn);
                return false;
              }
              return true;
            });
      }
    });
    const std::string url =
        "https://" + options_.bind_address + ":" + std::to_string(options_.port) + "/";
    try {
      listener_ = std::make_unique<http::experimental::listener::http_listener>(url, config);
      listener_->support([this](http::http_request request) { Handle(std::move(request)); });
      listener_->open().wait();
    } catch (const std::exception& e) {
      listener_.reset();
      return common::UnavailableError("cannot listen on " + url + ": " + e.what());
    }
    // Fail early on unreadable certificate files rather than at the first handshake.
    for (const auto& f : {options_.cert_file, options_.key_file}) {
      std::ifstream probe(f);
      if (!probe) return common::UnavailableError("cannot read " + f.string());
    }
    return common::Status::Ok();
  }

  void Stop() override {
    if (!listener_) return;
    try {
      listener_->close().wait();
    } catch (const std::exception& e) {
      logger_->warn("http.close_failed error=\"{}\"", e.what());
    }
    listener_.reset();
  }

 private:
  void Handle(http::http_request request) {
    HttpResponse response;
    try {
      HttpRequest req;
      req.method = request.method();
      req.raw_path = request.relative_uri().path();
      req.path = web::uri::decode(req.raw_path);
      for (const auto& [k, v] : web::uri::split_query(request.relative_uri().query())) {
        req.query[web::uri::decode(k)] = web::uri::decode(v);
      }
      for (const auto& [k, v] : request.headers()) req.headers[Lower(k)] = v;
      req.client_address = request.remote_address();
      const auto length = request.headers().content_length();
      if (length > options_.max_body_bytes) {
        response.status = 413;
        response.body = R"({"code":"invalid_argument","message":"request body too large",)"
                        R"("retryable":false})";
      } else {
        if (length > 0 || request.headers().has("transfer-encoding")) {
          auto body = request.extract_vector().get();
          if (body.size() > options_.max_body_bytes) {
            response.status = 413;
            response.body = R"({"code":"invalid_argument","message":"request body too large",)"
                            R"("retryable":false})";
            Reply(request, response);
            return;
          }
          req.body.assign(body.begin(), body.end());
        }
        response = handler_(req);
      }
    } catch (const std::exception& e) {
      logger_->error("http.handler_failed error=\"{}\"", e.what());
      response = HttpResponse{500,
                              {},
                              R"({"code":"internal","message":"internal error",)"
                              R"("retryable":false})"};
    }
    Reply(request, response);
  }

  void Reply(http::http_request& request, HttpResponse& r) {
    http::http_response out(static_cast<http::status_code>(r.status));
    if (r.shared_body) r.body.assign(*r.shared_body);
    // Moves the body into cpprestsdk's stream buffer (no copy; binary bodies are not converted
    // because the content type is set explicitly).
    out.set_body(std::move(r.body), r.content_type);
    for (const auto& [k, v] : r.headers) out.headers().add(k, v);
    request.reply(out).then([logger = logger_](pplx::task<void> t) {
      try {
        t.get();
      } catch (const std::exception& e) {
        logger->debug("http.reply_failed error=\"{}\"", e.what());
      }
    });
  }

  const TlsListenerOptions options_;
  HttpHandler handler_;
  std::shared_ptr<spdlog::logger> logger_;
  std::unique_ptr<http::experimental::listener::http_listener> listener_;
};

}  // namespace

common::Result<std::unique_ptr<HttpServer>> MakeCpprestHttpsServer(
    TlsListenerOptions options, HttpHandler handler, std::shared_ptr<spdlog::logger> logger) {
  if (options.cert_file.empty() || options.key_file.empty()) {
    return common::InvalidArgumentError("an HTTPS listener needs a certificate and a key");
  }
  return std::unique_ptr<HttpServer>(
      new CpprestHttpsServer(std::move(options), std::move(handler), std::move(logger)));
}

}  // namespace tsunagu::relay
