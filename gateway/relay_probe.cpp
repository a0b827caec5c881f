#include "relay_probe.h"

#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <regex>

namespace tsunagu::gateway {
namespace {

struct CtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslFree {
  void operator()(SSL* s) const { SSL_free(s); }
};
struct AddrFree {
  void operator()(addrinfo* a) const { freeaddrinfo(a); }
};
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string OpenSslError() {
  const unsigned long e = ERR_get_error();
  if (e == 0) return "no detail";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

RelayProbeResult Fail(RelayProbeStage stage, std::string detail, bool server_rejected = false) {
  RelayProbeResult r;
  r.failure = {stage, server_rejected, std::move(detail)};
  return r;
}

std::int64_t NowMs(const common::Clock& clock) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock.SystemNow().time_since_epoch())
      .count();
}

}  // namespace

RelayProbeResult ProbeRelay(const RelayProbeOptions& o, const common::Clock& clock) {
  static const std::regex kUrl(R"(^https://(\[[0-9A-Fa-f:.]+\]|[^/:]+)(?::([0-9]{1,5}))?/?$)");
  std::smatch m;
  if (!std::regex_match(o.url, m, kUrl)) {
    return Fail(RelayProbeStage::kConnect, "relay.url is not https://host:port: " + o.url);
  }
  std::string host = m[1].str();
  if (!host.empty() && host.front() == '[') host = host.substr(1, host.size() - 2);
  const std::string port = m[2].matched ? m[2].str() : "443";
  const std::string where = host + ":" + port;

  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* raw = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &raw); rc != 0) {
    return Fail(RelayProbeStage::kConnect, "cannot resolve " + host + ": " + gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, AddrFree> addrs(raw);
  const int timeout_ms = static_cast<int>(o.timeout.count());
  std::string connect_error = "no address";
  int connected = -1;
  for (addrinfo* a = addrs.get(); a != nullptr && connected < 0; a = a->ai_next) {
    const int fd =
        ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) continue;
    int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      rc = ::poll(&p, 1, timeout_ms);
      if (rc == 0) {
        connect_error = "timed out";
        rc = -1;
      } else if (rc > 0) {
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          connect_error = std::strerror(err);
          rc = -1;
        } else {
          rc = 0;
        }
      } else {
        connect_error = std::strerror(errno);
      }
    } else if (rc != 0) {
      connect_error = std::strerror(errno);
    }
    if (rc == 0) {
      connected = fd;
    } else {
      ::close(fd);
    }
  }
  if (connected < 0) {
    return Fail(RelayProbeStage::kConnect, "cannot connect to " + where + ": " + connect_error);
  }
  Fd sock(connected);
  // Back to blocking with time limits on every read and write.
  ::fcntl(sock.get(), F_SETFL, ::fcntl(sock.get(), F_GETFL) & ~O_NONBLOCK);
  timeval tv{static_cast<time_t>(timeout_ms / 1000),
             static_cast<suseconds_t>((timeout_ms % 1000) * 1000)};
  ::setsockopt(sock.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(sock.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);

  ERR_clear_error();
  std::unique_ptr<SSL_CTX, CtxFree> ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return Fail(RelayProbeStage::kHandshake, "TLS: " + OpenSslError());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  if (SSL_CTX_load_verify_locations(ctx.get(), o.ca_file.c_str(), nullptr) != 1) {
    return Fail(RelayProbeStage::kHandshake,
                "cannot load relay.ca_file " + o.ca_file.string() + ": " + OpenSslError());
  }
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), o.client_cert_file.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx.get(), o.client_key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx.get()) != 1) {
    return Fail(RelayProbeStage::kHandshake,
                "cannot load the client certificate and key: " + OpenSslError());
  }
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  std::unique_ptr<SSL, SslFree> ssl(SSL_new(ctx.get()));
  SSL_set_fd(ssl.get(), sock.get());
  SSL_set_tlsext_host_name(ssl.get(), host.c_str());
  SSL_set1_host(ssl.get(), host.c_str());
  if (SSL_connect(ssl.get()) != 1) {
    const long verify = SSL_get_verify_result(ssl.get());
    if (verify != X509_V_OK) {
      return Fail(RelayProbeStage::kHandshake,
                  std::string("the relay's certificate is not trusted: ") +
                      X509_verify_cert_error_string(verify),
                  true);
    }
    return Fail(RelayProbeStage::kHandshake,
                "TLS handshake with " + where + " failed: " + OpenSslError());
  }
  const std::int64_t sent_ms = NowMs(clock);
  const std::string request =
      "GET /v1/health HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n";
  if (SSL_write(ssl.get(), request.data(), static_cast<int>(request.size())) <= 0) {
    // With TLS 1.3 a relay that refuses our certificate says so only now.
    return Fail(RelayProbeStage::kHandshake,
                "the relay closed the connection (does it accept this gateway's certificate?): " +
                    OpenSslError());
  }
  std::string answer;
  char buf[4096];
  for (int i = 0; i < 256 && answer.size() < (1 << 20); ++i) {  // bounded: 1 MiB, 256 reads
    const int n = SSL_read(ssl.get(), buf, sizeof buf);
    if (n <= 0) break;
    answer.append(buf, static_cast<std::size_t>(n));
  }
  const std::int64_t received_ms = NowMs(clock);
  static const std::regex kStatus(R"(^HTTP/1\.[01] ([0-9]{3}))");
  std::smatch sm;
  if (!std::regex_search(answer, sm, kStatus)) {
    return Fail(RelayProbeStage::kAnswer,
                answer.empty() ? "no answer from " + where +
                                     " (the relay may have refused this gateway's certificate: " +
                                     OpenSslError() + ")"
                               : "not an HTTP answer from " + where);
  }
  RelayProbeResult r;
  r.answer = RelayProbeAnswer{std::stoi(sm[1].str()), std::nullopt};
  static const std::regex kTime(R"("time_ms"\s*:\s*([0-9]{1,16}))");
  if (std::regex_search(answer, sm, kTime)) {
    const std::int64_t relay_ms = std::stoll(sm[1].str());
    r.answer->clock_skew = std::chrono::milliseconds(relay_ms - (sent_ms + received_ms) / 2);
  }
  return r;
}

}  // namespace tsunagu::gateway
