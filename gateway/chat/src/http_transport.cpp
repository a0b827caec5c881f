// The one place that talks cpprestsdk, and the one conversion of HTTP answers into chat errors.
#include "tsunagu/chat/http_transport.h"

#include <cpprest/http_client.h>

#include <algorithm>
#include <boost/asio/ssl.hpp>
#include <cctype>
#include <ctime>
#include <system_error>

namespace tsunagu::chat {
namespace {

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

class CppRestTransport final : public HttpTransport {
 public:
  explicit CppRestTransport(HttpTransportOptions options) : options_(std::move(options)) {}

  common::Result<HttpResponse> Send(const HttpRequest& request) override {
    try {
      web::uri uri(request.url);
      web::uri_builder base;
      base.set_scheme(uri.scheme()).set_host(uri.host());
      if (uri.port() > 0) base.set_port(uri.port());
      web::http::client::http_client_config config;
      config.set_timeout(std::chrono::duration_cast<std::chrono::microseconds>(options_.timeout));
      config.set_validate_certificates(true);
      if (!options_.proxy.empty()) config.set_proxy(web::web_proxy(web::uri(options_.proxy)));
      const std::string ca = options_.ca_file.string();
      if (!ca.empty()) {
        config.set_ssl_context_callback([ca](boost::asio::ssl::context& ctx) {
          ctx.set_default_verify_paths();
          ctx.load_verify_file(ca);
        });
      }
      web::http::client::http_client client(base.to_uri(), config);
      web::http::http_request req(request.method);
      std::string resource = uri.resource().to_string();
      req.set_request_uri(resource);
      std::string content_type;
      for (const auto& [name, value] : request.headers) {
        if (IEquals(name, "Content-Type")) {
          content_type = value;
        } else {
          req.headers().add(name, value);
        }
      }
      if (!request.body.empty() || !content_type.empty()) {
        req.set_body(request.body,
                     content_type.empty() ? "application/octet-stream" : content_type);
      }
      web::http::http_response resp = client.request(req).get();
      HttpResponse out;
      out.status = resp.status_code();
      for (const auto& [name, value] : resp.headers()) out.headers.emplace_back(name, value);
      out.body = resp.extract_utf8string(true).get();
      return out;
    } catch (const web::http::http_exception& e) {
      const std::error_code ec = e.error_code();
      if (ec == std::errc::timed_out) {
        return common::DeadlineExceededError("no answer within " +
                                             std::to_string(options_.timeout.count()) + " ms");
      }
      return common::UnavailableError(std::string("HTTP request failed: ") + e.what());
    } catch (const web::uri_exception& e) {
      return common::InvalidArgumentError(std::string("bad URL: ") + e.what());
    } catch (const std::exception& e) {
      return common::UnavailableError(std::string("HTTP request failed: ") + e.what());
    }
  }

 private:
  HttpTransportOptions options_;
};

}  // namespace

std::string HttpResponse::Header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (IEquals(n, name)) return v;
  }
  return "";
}

std::unique_ptr<HttpTransport> MakeCppRestTransport(HttpTransportOptions options) {
  return std::make_unique<CppRestTransport>(std::move(options));
}

std::optional<std::chrono::milliseconds> ParseRetryAfter(
    std::string_view value, std::chrono::system_clock::time_point now) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (value.size() > 9) return std::chrono::hours(24);  // absurd: cap, do not overflow
    return std::chrono::seconds(std::stol(std::string(value)));
  }
  std::tm tm{};
  const std::string text(value);
  const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  const auto at = std::chrono::system_clock::from_time_t(timegm(&tm));
  if (at <= now) return std::chrono::milliseconds(0);
  return std::chrono::duration_cast<std::chrono::milliseconds>(at - now);
}

ChatResult<bool> StatusFromHttp(const HttpResponse& response, std::string_view what,
                                const common::Clock& clock, std::string_view detail) {
  const int code = response.status;
  if (code >= 200 && code < 300) return true;
  std::string msg = std::string(what) + " answered HTTP " + std::to_string(code);
  if (!detail.empty()) msg += " (" + std::string(detail) + ")";
  const auto retry_after = ParseRetryAfter(response.Header("Retry-After"), clock.SystemNow());
  if (code == 429) {
    msg += ": rate limited";
    if (retry_after) msg += ", retry after " + std::to_string(retry_after->count()) + " ms";
    return {common::Status(common::ErrorCode::kResourceExhausted, msg, true), retry_after};
  }
  if (code == 408) return {common::DeadlineExceededError(msg + ": request timeout"), retry_after};
  if (code >= 500) {
    return {common::Status(common::ErrorCode::kUnavailable, msg + ": server error", true),
            retry_after};
  }
  if (code == 401) {
    return common::Status(common::ErrorCode::kUnauthenticated,
                          msg + ": the token was refused; check the token file", false);
  }
  if (code == 403) {
    return common::Status(common::ErrorCode::kPermissionDenied,
                          msg + ": not allowed to post there; check the bot's membership", false);
  }
  if (code == 404) {
    return common::Status(common::ErrorCode::kNotFound,
                          msg + ": unknown room, channel or URL; check the thread's destination",
                          false);
  }
  return common::Status(common::ErrorCode::kInvalidArgument, msg + ": request refused", false);
}

std::string UrlEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace tsunagu::chat
