// RelayClient over cpprestsdk's http_client (Boost.Asio + OpenSSL), mutual TLS.
#include <cpprest/containerstream.h>
#include <cpprest/http_client.h>
#include <cpprest/json.h>
#include <spdlog/logger.h>

#include <algorithm>
#include <boost/asio/ssl.hpp>
#include <fstream>
#include <thread>

#include "tsunagu/common/crypto.h"
#include "tsunagu/relay/relay_client.h"

namespace tsunagu::relay {
namespace {

namespace http = web::http;
using common::Result;
using common::Status;
using json = web::json::value;

struct Reply {
  int status = 0;
  json body;
};

// The one place where an HTTP answer becomes a Status. The relay names its ErrorCode in the
// body; retryable() follows the relay's answer, narrowed to the catalogue for unknown codes.
Status StatusFromHttp(const Reply& r) {
  if (r.status >= 200 && r.status < 300) return Status::Ok();
  std::string message = "relay answered HTTP " + std::to_string(r.status);
  if (r.body.is_object() && r.body.has_field("message") && r.body.at("message").is_string()) {
    message = "relay: " + r.body.at("message").as_string();
  }
  if (r.body.is_object() && r.body.has_field("code") && r.body.at("code").is_string()) {
    const std::string name = r.body.at("code").as_string();
    for (int c = 1; c <= static_cast<int>(common::ErrorCode::kInternal); ++c) {
      const auto code = static_cast<common::ErrorCode>(c);
      if (common::ErrorCodeName(code) == name) {
        bool retryable = common::InfoFor(code).retryable;
        if (r.body.has_field("retryable") && r.body.at("retryable").is_boolean()) {
          retryable = r.body.at("retryable").as_bool();
        }
        return Status(code, message, retryable);
      }
    }
  }
  if (r.status == 507) return common::DiskFullError(message);
  if (r.status == 429) return common::ResourceExhaustedError(message);
  if (r.status == 401) return common::UnauthenticatedError(message);
  if (r.status == 403) return common::PermissionDeniedError(message);
  if (r.status == 404) return common::NotFoundError(message);
  if (r.status == 504) return common::DeadlineExceededError(message);
  if (r.status >= 500) return common::UnavailableError(message);
  return common::InvalidArgumentError(message);
}

class HttpsRelayClient final : public RelayClient {
 public:
  HttpsRelayClient(RelayClientOptions options, RelayClientDeps deps)
      : options_(std::move(options)), deps_(std::move(deps)), client_(MakeClient(options_)) {}

  Status UploadInstance(const std::string& study, const std::string& sop,
                        const std::filesystem::path& file) override {
    return Upload(study, sop, file, nullptr);
  }

  Status UploadKnownInstance(const std::string& study, const InstanceRef& known,
                             const std::filesystem::path& file) override {
    if (!IsLowerHex64(known.sha256_hex)) {
      return common::InvalidArgumentError("the known SHA-256 of an instance is not 64 hex digits");
    }
    return Upload(study, known.sop_instance_uid, file, &known);
  }

  Result<CommitResult> Commit(const CommitRequest& request) override {
    json body = json::object();
    json list = json::array();
    for (const auto& i : request.instances) {
      json j = json::object();
      j["sop_instance_uid"] = json::string(i.sop_instance_uid);
      j["sha256"] = json::string(i.sha256_hex);
      j["size"] = json::number(static_cast<std::uint64_t>(i.size));
      list[list.size()] = j;
    }
    body["instances"] = list;
    body["thread"] = json::string(request.thread);
    if (request.access_code) body["access_code"] = json::string(*request.access_code);
    if (request.retention) {
      body["retention_seconds"] = json::number(static_cast<std::int64_t>(
          std::chrono::duration_cast<std::chrono::seconds>(*request.retention).count()));
    }
    const std::string text = body.serialize();
    auto reply = WithRetries([&] {
      return Send(http::methods::POST, "/v1/studies/" + request.study_uid + "/commit",
                  {{"Content-Type", "application/json"}}, ToBytes(text));
    });
    if (!reply.ok()) return reply.status();
    try {
      CommitResult out;
      out.viewer_url = reply->body.at("viewer_url").as_string();
      out.expires_at = std::chrono::system_clock::time_point(
          std::chrono::milliseconds(reply->body.at("expires_at_ms").as_number().to_int64()));
      out.already_committed = reply->body.at("already_committed").as_bool();
      return out;
    } catch (const std::exception&) {
      return common::InternalError("relay: malformed commit answer");
    }
  }

  Result<DeletionReceipt> GetReceipt(const std::string& study) override {
    auto reply = WithRetries(
        [&] { return Send(http::methods::GET, "/v1/studies/" + study + "/receipt", {}, {}); });
    if (!reply.ok()) return reply.status();
    try {
      DeletionReceipt r;
      r.study_uid = reply->body.at("study_uid").as_string();
      r.deleted_at = std::chrono::system_clock::time_point(
          std::chrono::milliseconds(reply->body.at("deleted_at_ms").as_number().to_int64()));
      r.instance_count = reply->body.at("instance_count").as_number().to_uint64();
      r.reason = reply->body.at("reason").as_string();
      return r;
    } catch (const std::exception&) {
      return common::InternalError("relay: malformed receipt");
    }
  }

  Result<std::optional<std::chrono::system_clock::time_point>> FirstOpened(
      const std::string& study) override {
    auto reply = WithRetries(
        [&] { return Send(http::methods::GET, "/v1/studies/" + study + "/events", {}, {}); });
    if (!reply.ok()) return reply.status();
    try {
      const auto& v = reply->body.at("first_opened_at_ms");
      if (v.is_null()) return std::optional<std::chrono::system_clock::time_point>();
      return std::optional<std::chrono::system_clock::time_point>(
          std::chrono::system_clock::time_point(
              std::chrono::milliseconds(v.as_number().to_int64())));
    } catch (const std::exception&) {
      return common::InternalError("relay: malformed link events");
    }
  }

  Result<LinkEvents> GetLinkEvents(const std::string& study) override {
    auto reply = WithRetries(
        [&] { return Send(http::methods::GET, "/v1/studies/" + study + "/events", {}, {}); });
    if (!reply.ok()) return reply.status();
    try {
      LinkEvents out;
      const auto& v = reply->body.at("first_opened_at_ms");
      if (!v.is_null()) {
        out.first_opened = std::chrono::system_clock::time_point(
            std::chrono::milliseconds(v.as_number().to_int64()));
      }
      // Relays before this field report no revocation.
      if (reply->body.has_field("revoked")) out.revoked = reply->body.at("revoked").as_bool();
      return out;
    } catch (const std::exception&) {
      return common::InternalError("relay: malformed link events");
    }
  }

  Result<std::string> ThumbnailLink(const std::string& study) override {
    auto reply = WithRetries([&] {
      return Send(http::methods::POST, "/v1/studies/" + study + "/thumbnail-link", {}, {});
    });
    if (!reply.ok()) return reply.status();
    try {
      return std::string(reply->body.at("thumbnail_url").as_string());
    } catch (const std::exception&) {
      return common::InternalError("relay: malformed thumbnail link");
    }
  }

  Status RevokeLinks(const std::string& study) override {
    auto reply = WithRetries(
        [&] { return Send(http::methods::POST, "/v1/studies/" + study + "/revoke", {}, {}); });
    return reply.status();
  }

 private:
  using Bytes = std::vector<std::uint8_t>;
  static std::string_view View(const Bytes& b) {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
  }
  static Bytes ToBytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

  static bool IsLowerHex64(const std::string& s) {
    return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
             return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
  }

  // Bytes [offset, offset + n) of `file`; kDataLoss when the file is shorter than that now.
  static Result<Bytes> ReadRange(const std::filesystem::path& file, std::uint64_t offset,
                                 std::uint64_t n) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return common::NotFoundError("cannot open instance file " + file.string());
    Bytes out(n);
    in.seekg(static_cast<std::streamoff>(offset));
    in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(n));
    if (static_cast<std::uint64_t>(in.gcount()) != n) {
      return common::DataLossError("instance file changed while uploading: " + file.string());
    }
    return out;
  }

  static Result<std::string> HashFile(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return common::NotFoundError("cannot open instance file " + file.string());
    common::Sha256Hasher hasher;
    std::string buf(1 << 20, '\0');
    while (in) {
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      hasher.Update(std::string_view(buf.data(), static_cast<std::size_t>(in.gcount())));
    }
    return common::HexEncode(hasher.Finish());
  }

  // UploadInstance; `known` (may be null) carries the file's SHA-256 and size, which are then
  // not computed here.
  Status Upload(const std::string& study, const std::string& sop, const std::filesystem::path& file,
                const InstanceRef* known) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(file, ec);
    if (ec) return common::NotFoundError("cannot read instance file " + file.string());
    if (size == 0) return common::InvalidArgumentError("empty instance file " + file.string());
    if (known && known->size != size) {
      return common::InvalidArgumentError("instance file " + file.string() + " has " +
                                          std::to_string(size) + " bytes, not the " +
                                          std::to_string(known->size) + " recorded for it");
    }
    // A single-chunk instance is read once: its chunk is the whole file (hashed here only when
    // the caller does not know its hash).
    Bytes whole;
    std::string sha;
    if (size <= options_.chunk_size) {
      TSUNAGU_ASSIGN_OR_RETURN(whole, ReadRange(file, 0, size));
      sha = known ? known->sha256_hex : common::HexEncode(common::Sha256(View(whole)));
    } else if (known) {
      sha = known->sha256_hex;
    } else {
      TSUNAGU_ASSIGN_OR_RETURN(sha, HashFile(file));
    }
    Status st = SendInstance(study, sop, file, size, sha, std::move(whole));
    if (known && !st.ok() && (st.code() == common::ErrorCode::kIntegrity || !st.retryable())) {
      // The relay found the content different from the known hash (kIntegrity; or, in chunks,
      // a refused last chunk and the resends after it): damage in transit, retried already, or
      // a file that changed since its hash was recorded, which no retry can fix.
      auto actual = HashFile(file);
      if (actual.ok() && *actual != known->sha256_hex) {
        return Status(common::ErrorCode::kDataLoss,
                      "instance file " + file.string() +
                          " no longer matches the SHA-256 recorded when it was de-identified",
                      /*retryable=*/false);
      }
    }
    return st;
  }

  Status SendInstance(const std::string& study, const std::string& sop,
                      const std::filesystem::path& file, std::uint64_t size, const std::string& sha,
                      Bytes whole) {
    const std::string path = "/v1/studies/" + study + "/instances/" + sop;

    // An instance that fits in one chunk is simply sent: a repeated PUT is a no-op on the relay.
    // A larger one first asks what the relay holds, so a resumed upload sends only the rest.
    std::uint64_t offset = 0;
    if (size > options_.chunk_size) {
      auto progress = WithRetries([&] { return Send(http::methods::GET, path, {}, {}); });
      if (!progress.ok()) return progress.status();
      if (progress->body.at("complete").as_bool()) {
        if (progress->body.at("size").as_number().to_uint64() != size) {
          return common::AlreadyExistsError("the relay holds this instance with another size");
        }
        return Status::Ok();
      }
      offset = progress->body.at("received").as_number().to_uint64();
    }
    if (offset > 0) {
      deps_.logger->info("upload.resume sop_key={} offset={} size={}", Key(sop), offset, size);
    }
    int resyncs = 0;
    while (offset < size) {
      const std::uint64_t n = std::min<std::uint64_t>(options_.chunk_size, size - offset);
      const bool is_whole = offset == 0 && n == size;
      // The chunk in memory: the whole file read before, or read now. Each attempt hands its
      // bytes to the request without a copy; a retry reads them again (from the page cache).
      Bytes chunk;
      if (is_whole && !whole.empty()) {
        chunk = std::move(whole);
      } else {
        TSUNAGU_ASSIGN_OR_RETURN(chunk, ReadRange(file, offset, n));
      }
      const std::vector<std::pair<std::string, std::string>> headers = {
          {"Content-Range", "bytes " + std::to_string(offset) + "-" +
                                std::to_string(offset + n - 1) + "/" + std::to_string(size)},
          {"X-Tsunagu-Sha256", sha},
          {"X-Tsunagu-Chunk-Sha256",
           is_whole ? sha : common::HexEncode(common::Sha256(View(chunk)))}};
      auto reply = WithRetries([&]() -> Result<Reply> {
        Bytes body;
        if (!chunk.empty()) {
          body = std::move(chunk);
        } else {
          TSUNAGU_ASSIGN_OR_RETURN(body, ReadRange(file, offset, n));
        }
        return Send(http::methods::PUT, path, headers, std::move(body));
      });
      if (!reply.ok()) {
        // The relay holds a different amount (another sender, a restart): continue from there.
        if (reply.status().code() == common::ErrorCode::kFailedPrecondition && last_received_ &&
            ++resyncs < 5) {
          offset = *last_received_;
          continue;
        }
        return reply.status();
      }
      offset = reply->body.at("received").as_number().to_uint64();
      if (reply->body.at("complete").as_bool()) break;
    }
    return Status::Ok();
  }

  static http::client::http_client MakeClient(const RelayClientOptions& o) {
    http::client::http_client_config config;
    config.set_timeout(std::chrono::duration_cast<std::chrono::seconds>(
        std::max(o.timeout, std::chrono::milliseconds(1000))));
    config.set_validate_certificates(true);
    // The body goes to the socket in pieces of this size (cpprestsdk's default, 64 KiB, made
    // several hand-offs per instance of a CT slice).
    config.set_chunksize(static_cast<std::size_t>(std::min<std::uint64_t>(o.chunk_size, 1 << 20)));
    const auto ca = o.ca_file.string();
    const auto cert = o.client_cert_file.string();
    const auto key = o.client_key_file.string();
    auto reloadable = o.client_certificate;
    config.set_ssl_context_callback([ca, cert, key, reloadable](boost::asio::ssl::context& ctx) {
      SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
      if (!ca.empty()) ctx.load_verify_file(ca);
      if (reloadable) {
        reloadable->Install(ctx.native_handle());
      } else {
        ctx.use_certificate_chain_file(cert);
        ctx.use_private_key_file(key, boost::asio::ssl::context::pem);
      }
    });
    return http::client::http_client(o.base_url, config);
  }

  static std::string Key(const std::string& uid) {
    return common::HexEncode(common::Sha256(uid)).substr(0, 12);
  }

  Result<Reply> Send(const http::method& method, const std::string& path,
                     const std::vector<std::pair<std::string, std::string>>& headers, Bytes body) {
    last_received_.reset();
    try {
      http::http_request req(method);
      req.set_request_uri(path);
      if (!body.empty() || method == http::methods::PUT || method == http::methods::POST) {
        // The body is moved into the request's stream, not copied (a profile of the upload
        // showed the copies of every chunk).
        const std::size_t length = body.size();
        concurrency::streams::container_buffer<Bytes> buffer(std::move(body), std::ios_base::in);
        req.set_body(buffer.create_istream(), length);
      }
      for (const auto& [k, v] : headers) req.headers()[k] = v;
      auto resp = client_.request(req).get();
      Reply r;
      r.status = resp.status_code();
      const auto text = resp.extract_utf8string(true).get();
      try {
        r.body = text.empty() ? json::object() : json::parse(text);
      } catch (const std::exception&) {
        r.body = json::object();
      }
      if (r.body.is_object() && r.body.has_field("received") && r.body.at("received").is_number()) {
        last_received_ = r.body.at("received").as_number().to_uint64();
      }
      Status st = StatusFromHttp(r);
      if (!st.ok()) return st;
      return r;
    } catch (const http::http_exception& e) {
      const std::string what = e.what();
      if (what.find("timed out") != std::string::npos) {
        return common::DeadlineExceededError("relay did not answer in time");
      }
      return common::UnavailableError("relay unreachable: " + what);
    } catch (const std::exception& e) {
      return common::UnavailableError(std::string("relay request failed: ") + e.what());
    }
  }

  template <typename F>
  Result<Reply> WithRetries(F&& f) {
    auto backoff = options_.initial_backoff;
    for (int attempt = 1;; ++attempt) {
      Result<Reply> r = f();
      if (r.ok() || !r.status().retryable() || attempt >= options_.max_attempts) return r;
      deps_.logger->warn("relay.retry attempt={} code={} after_ms={}", attempt,
                         common::ErrorCodeName(r.status().code()), backoff.count());
      deps_.sleep(backoff);
      backoff = std::min(backoff * 2, options_.max_backoff);
    }
  }

  const RelayClientOptions options_;
  RelayClientDeps deps_;
  http::client::http_client client_;
  static thread_local std::optional<std::uint64_t> last_received_;
};

thread_local std::optional<std::uint64_t> HttpsRelayClient::last_received_;

}  // namespace

Result<std::optional<std::chrono::system_clock::time_point>> RelayClient::FirstOpened(
    const std::string&) {
  return common::Status(common::ErrorCode::kFailedPrecondition,
                        "this relay client cannot ask for link events", false);
}

Result<RelayClient::LinkEvents> RelayClient::GetLinkEvents(const std::string& study_uid) {
  TSUNAGU_ASSIGN_OR_RETURN(auto first, FirstOpened(study_uid));
  return LinkEvents{first, false};
}

common::Status RelayClient::UploadKnownInstance(const std::string& study_uid,
                                                const InstanceRef& known,
                                                const std::filesystem::path& file) {
  return UploadInstance(study_uid, known.sop_instance_uid, file);
}

Result<std::string> RelayClient::ThumbnailLink(const std::string&) {
  return common::Status(common::ErrorCode::kFailedPrecondition,
                        "this relay client cannot ask for thumbnail links", false);
}

Result<std::unique_ptr<RelayClient>> MakeHttpsRelayClient(RelayClientOptions options,
                                                          RelayClientDeps deps) {
  if (options.base_url.rfind("https://", 0) != 0) {
    return common::InvalidArgumentError("relay URL must start with https://, got \"" +
                                        options.base_url + "\"");
  }
  for (const auto& f : {options.client_cert_file, options.client_key_file}) {
    std::ifstream probe(f);
    if (!probe) return common::NotFoundError("cannot read " + f.string());
  }
  if (!options.ca_file.empty()) {
    std::ifstream probe(options.ca_file);
    if (!probe) return common::NotFoundError("cannot read " + options.ca_file.string());
  }
  if (options.chunk_size == 0) return common::InvalidArgumentError("chunk_size must be positive");
  if (options.max_attempts < 1) options.max_attempts = 1;
  if (!deps.clock || !deps.logger) return common::InvalidArgumentError("client deps missing");
  if (!deps.sleep) deps.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
  try {
    return std::unique_ptr<RelayClient>(new HttpsRelayClient(std::move(options), std::move(deps)));
  } catch (const std::exception& e) {
    return common::InvalidArgumentError(std::string("relay client: ") + e.what());
  }
}

}  // namespace tsunagu::relay
