// The HttpServer over Boost.Beast (Boost.Asio + OpenSSL), the relay's listener.
//
// Why not cpprestsdk's http_listener (http_server_cpprest.cpp, kept for the comparison in
// tests/bench/relay/run_relay_bench.sh): on Linux it hands every body chunk and every reply
// through pplx tasks and a producer/consumer stream buffer (measured: a cached 600 kB answer
// at ~450 requests/s with p99 0.4-0.6 s under 100 connections, where nginx serves a 512 kB file
// at ~1700 requests/s, p99 < 100 ms, on the same machine), and it does not let a handler see
// the client certificate of the connection, which per-gateway retention needs.
//
// Mutual TLS is enforced in the TLS context exactly as before: verify_fail_if_no_peer_cert plus
// a verify callback that accepts only the enrolled common names, so a request without an
// enrolled client certificate never reaches a handler. The verified certificate's common name is
// handed to handlers as HttpRequest::client_subject.
//
// Threads: a fixed pool of threads, each running its own io_context; a connection is placed on
// one of them (round robin) and stays there, so its reads, handler and writes run on one thread
// without strand hand-offs or wake-ups of other threads (measured: with one shared io_context a
// single keep-alive connection's steps were spread over all 4 threads, 13% of the relay's time in
// task switches). Handlers may block (disk, SQLite, decryption), so the pool is larger than the
// core count. Every read, write and handshake has a deadline (tcp_stream::expires_after), so a
// stalled peer costs one socket, not a thread.
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/logger.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>
#include <fstream>
#include <optional>
#include <thread>
#include <vector>

#include "http_server.h"

namespace tsunagu::relay {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;

constexpr auto kHandshakeTimeout = std::chrono::seconds(30);
constexpr auto kIoTimeout = std::chrono::seconds(60);  // one request (with body) or one reply
constexpr int kMaxConnections = 1024;
// After refusing a too large body: how much of it is read and dropped, for how long at most.
constexpr std::uint64_t kDrainBytes = 256ULL << 20;
constexpr auto kDrainTimeout = std::chrono::seconds(5);

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string CommonName(X509* cert) {
  char buf[256] = {};
  const int n =
      X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding; a malformed escape is kept as it is ('%' is not valid in a UID or a token,
// so the path checks downstream refuse the request).
std::string PercentDecode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 && HexValue(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2])));
      i += 2;
    } else if (plus_is_space && s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

const char* kTooLarge =
    R"({"code":"invalid_argument","message":"request body too large","retryable":false})";
const char* kInternal = R"({"code":"internal","message":"internal error","retryable":false})";

struct Shared {
  TlsListenerOptions options;
  HttpHandler handler;
  std::shared_ptr<spdlog::logger> logger;
  std::atomic<int> connections{0};
  // Always set (a private one when the options have none), so counting needs no test.
  std::shared_ptr<ListenerCounters> counters;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, ssl::context& ctx, std::shared_ptr<Shared> shared)
      : stream_(std::move(socket), ctx), shared_(std::move(shared)) {
    ++shared_->connections;
    beast::error_code ec;
    const auto remote = beast::get_lowest_layer(stream_).socket().remote_endpoint(ec);
    if (!ec) address_ = remote.address().to_string();
    // Without TCP_NODELAY an answer's last TLS record waits for the ACK of the previous one, which
    // the client delays by up to 40 ms: every keep-alive request cost ~45 ms on loopback.
    beast::get_lowest_layer(stream_).socket().set_option(tcp::no_delay(true), ec);
  }
  ~Session() { --shared_->connections; }

  void Run() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      beast::get_lowest_layer(self->stream_).expires_after(kHandshakeTimeout);
      self->stream_.async_handshake(ssl::stream_base::server,
                                    [self](beast::error_code ec) { self->OnHandshake(ec); });
    });
  }

 private:
  void OnHandshake(beast::error_code ec) {
    if (ec) {
      ++shared_->counters->handshake_failures;
      shared_->logger->debug("tls.handshake_failed error=\"{}\"", ec.message());
      return;
    }
    if (X509* cert = SSL_get1_peer_certificate(stream_.native_handle())) {
      client_subject_ = CommonName(cert);
      X509_free(cert);
    }
    Read();
  }

  void Read() {
    parser_.emplace();
    parser_->body_limit(shared_->options.max_body_bytes);
    beast::get_lowest_layer(stream_).expires_after(kIoTimeout);
    bhttp::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (ec == bhttp::error::end_of_stream) return Close();
    if (ec == bhttp::error::body_limit) {
      // Answer, then read and drop the rest of the body before closing: closing at once would
      // reset the connection under a client still sending, which then never sees the 413.
      HttpResponse r{413, {}, kTooLarge};
      drain_after_reply_ = true;
      return Write(r, 11, /*keep_alive=*/false, /*head=*/false);
    }
    if (ec) {
      if (ec != beast::error::timeout && ec != net::ssl::error::stream_truncated) {
        shared_->logger->debug("http.read_failed error=\"{}\"", ec.message());
      }
      return;
    }
    auto& in = parser_->get();
    HttpRequest req;
    req.method = std::string(in.method_string());
    const auto raw_target = in.target();
    const std::string_view target(raw_target.data(), raw_target.size());
    const auto q = target.find('?');
    req.raw_path = std::string(target.substr(0, q));
    req.path = PercentDecode(req.raw_path, /*plus_is_space=*/false);
    if (q != std::string_view::npos) {
      std::string_view query = target.substr(q + 1);
      while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        const auto eq = pair.find('=');
        if (!pair.empty()) {
          req.query[PercentDecode(pair.substr(0, eq), true)] =
              eq == std::string_view::npos ? std::string()
                                           : PercentDecode(pair.substr(eq + 1), true);
        }
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
      }
    }
    for (const auto& field : in) {
      const auto name = field.name_string();
      req.headers[Lower(std::string_view(name.data(), name.size()))] =
          std::string(field.value().data(), field.value().size());
    }
    req.body = std::move(in.body());
    req.client_address = address_;
    req.client_subject = client_subject_;
    const unsigned version = in.version();
    const bool keep_alive = in.keep_alive();
    const bool head = in.method() == bhttp::verb::head;
    HttpResponse response;
    try {
      response = shared_->handler(req);
    } catch (const std::exception& e) {
      ++shared_->counters->handler_errors;
      shared_->logger->error("http.handler_failed error=\"{}\"", e.what());
      response = HttpResponse{500, {}, kInternal};
    }
    Write(response, version, keep_alive, head);
  }

  void Write(HttpResponse& r, unsigned version, bool keep_alive, bool head) {
    if (r.shared_body) {
      // A cached answer: the message points into it and holds it until written.
      auto res = std::make_shared<bhttp::response<bhttp::buffer_body>>(
          static_cast<bhttp::status>(r.status), version);
      auto& body = res->body();
      body.data = head ? nullptr : const_cast<char*>(r.shared_body->data());
      body.size = head ? 0 : r.shared_body->size();
      body.more = false;
      Send(r, std::move(res), r.shared_body->size(), keep_alive, r.shared_body);
      return;
    }
    auto res = std::make_shared<bhttp::response<bhttp::string_body>>(
        static_cast<bhttp::status>(r.status), version);
    const std::size_t length = r.body.size();
    if (!head) res->body() = std::move(r.body);
    Send(r, std::move(res), length, keep_alive, nullptr);
  }

  template <typename Message>
  void Send(const HttpResponse& r, std::shared_ptr<Message> res, std::size_t length,
            bool keep_alive, std::shared_ptr<const std::string> keep) {
    res->set(bhttp::field::content_type, r.content_type);
    for (const auto& [k, v] : r.headers) res->insert(k, v);
    res->keep_alive(keep_alive);
    res->content_length(length);
    beast::get_lowest_layer(stream_).expires_after(kIoTimeout);
    bhttp::async_write(stream_, *res,
                       [self = shared_from_this(), res, keep = std::move(keep), keep_alive](
                           beast::error_code ec, auto) {
                         if (ec) {
                           self->shared_->logger->debug("http.reply_failed error=\"{}\"",
                                                        ec.message());
                           return;
                         }
                         if (self->drain_after_reply_) return self->Drain(kDrainBytes);
                         if (!keep_alive) return self->Close();
                         self->Read();
                       });
  }

  void Drain(std::uint64_t budget) {
    if (drain_buffer_.empty()) drain_buffer_.resize(16 << 10);
    beast::get_lowest_layer(stream_).expires_after(kDrainTimeout);
    stream_.async_read_some(net::buffer(drain_buffer_), [self = shared_from_this(), budget](
                                                            beast::error_code ec, std::size_t n) {
      if (ec) return;
      if (n >= budget) return self->Close();
      self->Drain(budget - n);
    });
  }

  void Close() {
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(5));
    stream_.async_shutdown([self = shared_from_this()](beast::error_code) {});
  }

  ssl::stream<beast::tcp_stream> stream_;
  std::shared_ptr<Shared> shared_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::string address_;
  std::string client_subject_;
  bool drain_after_reply_ = false;
  std::vector<char> drain_buffer_;
};

class BeastHttpsServer final : public HttpServer {
 public:
  BeastHttpsServer(TlsListenerOptions options, HttpHandler handler,
                   std::shared_ptr<spdlog::logger> logger)
      : shared_(std::make_shared<Shared>()), tls_(ssl::context::tls_server) {
    shared_->options = std::move(options);
    shared_->handler = std::move(handler);
    shared_->logger = std::move(logger);
    shared_->counters = shared_->options.counters ? shared_->options.counters
                                                  : std::make_shared<ListenerCounters>();
  }

  ~BeastHttpsServer() override { Stop(); }

  common::Status Start() override {
    const auto& o = shared_->options;
    const std::string where = o.bind_address + ":" + std::to_string(o.port);
    for (const auto& f : {o.cert_file, o.key_file}) {
      std::ifstream probe(f);
      if (!probe) return common::UnavailableError("cannot read " + f.string());
    }
    try {
      SetUpTls();
    } catch (const std::exception& e) {
      return common::InvalidArgumentError(
          "cannot load the TLS certificate, key or client CA for https://" + where + ": " +
          e.what());
    }
    try {
      const tcp::endpoint endpoint(net::ip::make_address(o.bind_address), o.port);
      const unsigned threads = shared_->options.threads > 0
                                   ? shared_->options.threads
                                   : std::max(4U, 2 * std::thread::hardware_concurrency());
      for (unsigned i = 0; i < threads; ++i) {
        iocs_.push_back(std::make_unique<net::io_context>(1));
        work_.emplace_back(net::make_work_guard(*iocs_.back()));
      }
      retry_.emplace(*iocs_[0]);
      acceptor_.emplace(*iocs_[0]);
      acceptor_->open(endpoint.protocol());
      acceptor_->set_option(net::socket_base::reuse_address(true));
      acceptor_->bind(endpoint);
      acceptor_->listen(net::socket_base::max_listen_connections);
    } catch (const std::exception& e) {
      acceptor_.reset();
      return common::UnavailableError("cannot listen on https://" + where + ": " + e.what());
    }
    Accept();
    for (auto& ioc : iocs_) pool_.emplace_back([ctx = ioc.get()] { ctx->run(); });
    return common::Status::Ok();
  }

  void Stop() override {
    if (pool_.empty()) return;
    net::post(*iocs_[0], [this] {
      beast::error_code ec;
      if (acceptor_) acceptor_->close(ec);
    });
    work_.clear();
    for (auto& ioc : iocs_) ioc->stop();
    for (auto& t : pool_) t.join();
    pool_.clear();
  }

 private:
  void SetUpTls() {
    const auto& o = shared_->options;
    tls_.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                     ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                     ssl::context::single_dh_use);
    SSL_CTX_set_min_proto_version(tls_.native_handle(), TLS1_2_VERSION);
    // A reloadable certificate serves the pair read at the last (re)load (SIGHUP), never a
    // half-renewed pair read from the files mid-copy.
    if (o.certificate) {
      o.certificate->Install(tls_.native_handle());
    } else {
      tls_.use_certificate_chain_file(o.cert_file.string());
      tls_.use_private_key_file(o.key_file.string(), ssl::context::pem);
    }
    if (o.client_ca_file.empty()) return;
    tls_.load_verify_file(o.client_ca_file.string());
    tls_.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    auto allowed = o.allowed_clients;
    auto logger = shared_->logger;
    auto counters = shared_->counters;
    tls_.set_verify_callback(
        [allowed, logger, counters](bool preverified, ssl::verify_context& vctx) {
          X509_STORE_CTX* store = vctx.native_handle();
          if (!preverified) {
            ++counters->clients_refused;
            logger->warn("tls.client_refused reason=\"{}\"",
                         X509_verify_cert_error_string(X509_STORE_CTX_get_error(store)));
            return false;
          }
          if (X509_STORE_CTX_get_error_depth(store) != 0) return true;
          const std::string cn = CommonName(X509_STORE_CTX_get_current_cert(store));
          if (std::find(allowed.begin(), allowed.end(), cn) == allowed.end()) {
            ++counters->clients_refused;
            logger->warn("tls.client_refused reason=not_enrolled cn=\"{}\"", cn);
            return false;
          }
          return true;
        });
  }

  void Accept() {
    net::io_context& next = *iocs_[next_++ % iocs_.size()];
    acceptor_->async_accept(next.get_executor(), [this](beast::error_code ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted || !acceptor_->is_open()) return;
      if (!ec) {
        if (shared_->connections.load() >= kMaxConnections) {
          ++shared_->counters->over_capacity;
          shared_->logger->warn("http.too_many_connections limit={}", kMaxConnections);
          beast::error_code ignored;
          socket.close(ignored);
        } else {
          ++shared_->counters->connections;
          std::make_shared<Session>(std::move(socket), tls_, shared_)->Run();
        }
      } else {
        // Out of descriptors, say: wait a little rather than spin on the error.
        ++shared_->counters->accept_errors;
        shared_->logger->warn("http.accept_failed error=\"{}\"", ec.message());
        retry_->expires_after(std::chrono::milliseconds(100));
        retry_->async_wait([this](beast::error_code wait) {
          if (!wait && acceptor_->is_open()) Accept();
        });
        return;
      }
      Accept();
    });
  }

  std::shared_ptr<Shared> shared_;
  ssl::context tls_;  // outlives the io_contexts, which destroy the sessions still queued on them
  std::vector<std::unique_ptr<net::io_context>> iocs_;  // one per pool thread
  std::vector<net::executor_work_guard<net::io_context::executor_type>> work_;
  std::optional<tcp::acceptor> acceptor_;
  std::optional<net::steady_timer> retry_;
  std::size_t next_ = 0;  // round robin over iocs_ (touched only by the accept handler)
  std::vector<std::thread> pool_;
};

}  // namespace

common::Result<std::unique_ptr<HttpServer>> MakeHttpsServer(
    TlsListenerOptions options, HttpHandler handler, std::shared_ptr<spdlog::logger> logger) {
  if (options.cert_file.empty() || options.key_file.empty()) {
    return common::InvalidArgumentError("an HTTPS listener needs a certificate and a key");
  }
  return std::unique_ptr<HttpServer>(
      new BeastHttpsServer(std::move(options), std::move(handler), std::move(logger)));
}

}  // namespace tsunagu::relay
