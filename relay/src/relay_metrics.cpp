#include "relay_metrics.h"

#include <spdlog/logger.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <thread>

#include "tsunagu/common/prometheus_text.h"

namespace tsunagu::relay {
namespace {

using common::PrometheusText;

// The "code" of an error answer ({"code":"disk_full",...}), if it is a catalogue name.
std::string ErrorCodeOf(std::string_view body) {
  constexpr std::string_view kKey = "\"code\":\"";
  const auto at = body.find(kKey);
  if (at == std::string_view::npos) return "unknown";
  const auto start = at + kKey.size();
  const auto end = body.find('"', start);
  if (end == std::string_view::npos || end == start || end - start > 40) return "unknown";
  const std::string_view code = body.substr(start, end - start);
  for (char c : code) {
    if (!std::islower(static_cast<unsigned char>(c)) && c != '_') return "unknown";
  }
  return std::string(code);
}

std::int64_t UnixSeconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

RelayMetrics::RelayMetrics(std::shared_ptr<common::Clock> clock) : clock_(std::move(clock)) {}

void RelayMetrics::ObserveUpload(const HttpRequest& request, const HttpResponse& response) {
  if (!request.client_subject.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    gateway_contacts_[request.client_subject] = clock_->SystemNow();
    contacts_changed_ = true;
  }
  const auto seg = PathSegments(request.path);
  if (seg.size() < 4 || seg[0] != "v1" || seg[1] != "studies") return;
  const bool chunk = seg.size() == 5 && seg[3] == "instances" && request.method == "PUT";
  const bool commit = seg.size() == 4 && seg[3] == "commit" && request.method == "POST";
  if (!chunk && !commit) return;
  if (response.status < 200 || response.status > 299) {
    std::lock_guard<std::mutex> lock(mu_);
    ++rejections_[ErrorCodeOf(response.Body())];
    return;
  }
  if (commit) {
    ++commits_;
    return;
  }
  ++chunks_;
  chunk_bytes_ += request.body.size();
  if (response.Body().find("\"complete\":true") != std::string_view::npos) ++instances_;
}

void RelayMetrics::CountLinkOpen() { ++link_opens_; }

void RelayMetrics::RecordPurge(bool ok, std::size_t deleted) {
  ++purge_runs_;
  if (!ok) {
    ++purge_failures_;
    return;
  }
  studies_purged_ += deleted;
  last_purge_seconds_ = UnixSeconds(clock_->SystemNow());
}

std::map<std::string, std::chrono::system_clock::time_point> RelayMetrics::GatewayContacts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return gateway_contacts_;
}

void RelayMetrics::RestoreGatewayContacts(
    const std::map<std::string, std::chrono::system_clock::time_point>& contacts) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [name, t] : contacts) {
    auto [it, inserted] = gateway_contacts_.emplace(name, t);
    if (!inserted && it->second < t) it->second = t;
  }
}

bool RelayMetrics::TakeContactsChanged() {
  std::lock_guard<std::mutex> lock(mu_);
  return std::exchange(contacts_changed_, false);
}

std::string RelayMetrics::Render(const std::optional<StoreGauges>& store) const {
  PrometheusText out;
  out.Gauge("tsunagu_relay_store_up", "Whether the study index could be read for this scrape.",
            static_cast<std::int64_t>(store ? 1 : 0));
  if (store) {
    out.Family("tsunagu_relay_studies", "Studies held, by state.", PrometheusText::Type::kGauge);
    for (const char* state : {"committed", "uploading"}) {
      const auto it = store->studies_by_state.find(state);
      out.Sample("tsunagu_relay_studies", {{"state", state}},
                 it == store->studies_by_state.end() ? std::int64_t{0} : it->second);
    }
    out.Gauge("tsunagu_relay_store_used_bytes",
              "Encrypted bytes held, as counted against the quota.",
              static_cast<std::int64_t>(store->used_bytes));
    out.Gauge("tsunagu_relay_store_quota_bytes", "The store's quota (store.quota).",
              static_cast<std::int64_t>(store->quota_bytes));
  }
  out.Counter("tsunagu_relay_upload_chunks_total", "Upload chunks accepted.", chunks_.load());
  out.Counter("tsunagu_relay_upload_bytes_total", "Bytes of upload chunks accepted.",
              chunk_bytes_.load());
  out.Counter("tsunagu_relay_instances_received_total", "Instances received whole and checked.",
              instances_.load());
  out.Counter("tsunagu_relay_commits_total", "Studies committed (links issued).", commits_.load());
  constexpr std::string_view kRejections = "tsunagu_relay_upload_rejections_total";
  out.Family(kRejections, "Upload chunks and commits refused, by error code.",
             PrometheusText::Type::kCounter);
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [reason, n] : rejections_) out.Sample(kRejections, {{"reason", reason}}, n);
  }
  out.Counter("tsunagu_relay_link_opens_total", "Viewer links opened.", link_opens_.load());
  out.Counter("tsunagu_relay_purge_runs_total", "Purge runs (expired studies deleted).",
              purge_runs_.load());
  out.Counter("tsunagu_relay_purge_failures_total", "Purge runs that failed.",
              purge_failures_.load());
  out.Counter("tsunagu_relay_studies_purged_total", "Studies deleted by purge runs.",
              studies_purged_.load());
  out.Gauge("tsunagu_relay_last_purge_timestamp_seconds",
            "Unix time of the last successful purge run (0: none yet).",
            last_purge_seconds_.load());
  constexpr std::string_view kListener[] = {
      "tsunagu_relay_connections_total", "tsunagu_relay_tls_handshake_failures_total",
      "tsunagu_relay_tls_clients_refused_total", "tsunagu_relay_listener_errors_total"};
  out.Family(kListener[0], "TCP connections accepted, by listener.",
             PrometheusText::Type::kCounter);
  for (const auto& [name, c] : {std::pair{"upload", upload_}, std::pair{"viewer", viewer_}}) {
    out.Sample(kListener[0], {{"listener", name}}, c->connections.load());
  }
  out.Family(kListener[1], "TLS handshakes that failed (any reason), by listener.",
             PrometheusText::Type::kCounter);
  for (const auto& [name, c] : {std::pair{"upload", upload_}, std::pair{"viewer", viewer_}}) {
    out.Sample(kListener[1], {{"listener", name}}, c->handshake_failures.load());
  }
  out.Family(kListener[2], "Client certificates refused on the upload listener.",
             PrometheusText::Type::kCounter);
  out.Sample(kListener[2], {{"listener", "upload"}}, upload_->clients_refused.load());
  out.Family(kListener[3], "Listener errors, by listener and kind.",
             PrometheusText::Type::kCounter);
  for (const auto& [name, c] : {std::pair{"upload", upload_}, std::pair{"viewer", viewer_}}) {
    out.Sample(kListener[3], {{"listener", name}, {"kind", "accept"}}, c->accept_errors.load());
    out.Sample(kListener[3], {{"listener", name}, {"kind", "over_capacity"}},
               c->over_capacity.load());
    out.Sample(kListener[3], {{"listener", name}, {"kind", "handler"}}, c->handler_errors.load());
  }
  out.Family("tsunagu_relay_gateway_last_contact_timestamp_seconds",
             "Unix time of each enrolled gateway's last upload-API request.",
             PrometheusText::Type::kGauge);
  for (const auto& [name, t] : GatewayContacts()) {
    out.Sample("tsunagu_relay_gateway_last_contact_timestamp_seconds", {{"gateway", name}},
               UnixSeconds(t));
  }
  return std::move(out).Take();
}

namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = boost::asio::ip::tcp;

class MetricsSession : public std::enable_shared_from_this<MetricsSession> {
 public:
  MetricsSession(tcp::socket socket, const std::function<std::string()>* render)
      : stream_(std::move(socket)), render_(render) {}

  void Run() {
    stream_.expires_after(std::chrono::seconds(10));
    bhttp::async_read(stream_, buffer_, request_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        if (!ec) self->Answer();
                      });
  }

 private:
  void Answer() {
    response_.version(request_.version());
    response_.keep_alive(false);
    const auto target = request_.target();
    const std::string_view path(target.data(), target.find('?') == std::string_view::npos
                                                   ? target.size()
                                                   : target.find('?'));
    if (request_.method() != bhttp::verb::get || path != "/metrics") {
      response_.result(bhttp::status::not_found);
      response_.set(bhttp::field::content_type, "text/plain; charset=utf-8");
      response_.body() = "not found: the relay serves only GET /metrics here\n";
    } else {
      response_.result(bhttp::status::ok);
      response_.set(bhttp::field::content_type, std::string(PrometheusText::kContentType));
      response_.body() = (*render_)();
    }
    response_.prepare_payload();
    stream_.expires_after(std::chrono::seconds(10));
    bhttp::async_write(stream_, response_,
                       [self = shared_from_this()](beast::error_code, std::size_t) {
                         beast::error_code ignored;
                         self->stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
                       });
  }

  beast::tcp_stream stream_;
  const std::function<std::string()>* render_;
  beast::flat_buffer buffer_;
  bhttp::request<bhttp::string_body> request_;
  bhttp::response<bhttp::string_body> response_;
};

class BeastMetricsServer final : public MetricsServer {
 public:
  BeastMetricsServer(std::function<std::string()> render, std::shared_ptr<spdlog::logger> logger)
      : render_(std::move(render)), logger_(std::move(logger)) {}
  ~BeastMetricsServer() override { Stop(); }

  common::Status Start(const std::string& bind_address, std::uint16_t port) {
    try {
      const tcp::endpoint endpoint(net::ip::make_address(bind_address), port);
      acceptor_.open(endpoint.protocol());
      acceptor_.set_option(net::socket_base::reuse_address(true));
      acceptor_.bind(endpoint);
      acceptor_.listen();
      port_ = acceptor_.local_endpoint().port();
    } catch (const std::exception& e) {
      return common::UnavailableError("cannot listen on http://" + bind_address + ":" +
                                      std::to_string(port) + ": " + e.what());
    }
    Accept();
    thread_ = std::thread([this] { ioc_.run(); });
    return common::Status::Ok();
  }

  std::uint16_t port() const override { return port_; }

  void Stop() override {
    if (!thread_.joinable()) return;
    net::post(ioc_, [this] {
      beast::error_code ec;
      acceptor_.close(ec);
    });
    ioc_.stop();
    thread_.join();
  }

 private:
  void Accept() {
    acceptor_.async_accept(net::make_strand(ioc_),
                           [this](beast::error_code ec, tcp::socket socket) {
                             if (ec == net::error::operation_aborted || !acceptor_.is_open())
                               return;
                             if (ec) {
                               logger_->warn("metrics.accept_failed error=\"{}\"", ec.message());
                               retry_.expires_after(std::chrono::milliseconds(100));
                               retry_.async_wait([this](beast::error_code wait) {
                                 if (!wait && acceptor_.is_open()) Accept();
                               });
                               return;
                             }
                             std::make_shared<MetricsSession>(std::move(socket), &render_)->Run();
                             Accept();
                           });
  }

  std::function<std::string()> render_;
  std::shared_ptr<spdlog::logger> logger_;
  net::io_context ioc_;
  tcp::acceptor acceptor_{ioc_};
  net::steady_timer retry_{ioc_};
  std::thread thread_;
  std::uint16_t port_ = 0;
};

}  // namespace

common::Result<std::unique_ptr<MetricsServer>> StartMetricsServer(
    const std::string& bind_address, std::uint16_t port, std::function<std::string()> render,
    std::shared_ptr<spdlog::logger> logger) {
  auto server = std::make_unique<BeastMetricsServer>(std::move(render), std::move(logger));
  TSUNAGU_RETURN_IF_ERROR(server->Start(bind_address, port));
  return std::unique_ptr<MetricsServer>(std::move(server));
}

}  // namespace tsunagu::relay
