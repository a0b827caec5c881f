// Private: what the relay exports at /metrics (issue 11), and the loopback admin listener that
// serves it.
//
// The relay's /metrics is served on its own plain-HTTP listener, [metrics] in relay.toml,
// 127.0.0.1:8445 by default: not on the upload listener (a Prometheus server would need a
// gateway's client certificate) and not on the viewer listener (public). The text holds counts,
// sizes, error codes, listener names and enrolled gateway names (certificate common names):
// never a study UID or a patient identifier.
#ifndef TSUNAGU_RELAY_SRC_RELAY_METRICS_H_
#define TSUNAGU_RELAY_SRC_RELAY_METRICS_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "http_server.h"
#include "tsunagu/common/clock.h"
#include "tsunagu/common/result.h"

namespace tsunagu::relay {

// The store's side of a scrape, read when /metrics is asked for.
struct StoreGauges {
  std::map<std::string, std::int64_t> studies_by_state;  // "committed", "uploading"
  std::uint64_t used_bytes = 0;
  std::uint64_t quota_bytes = 0;
};

// Counters of a running relay. Thread-safe: handlers on the listeners' threads count into it
// while a scrape renders it.
class RelayMetrics {
 public:
  explicit RelayMetrics(std::shared_ptr<common::Clock> clock);

  // The listeners count into these (TlsListenerOptions::counters).
  const std::shared_ptr<ListenerCounters>& upload_listener() const { return upload_; }
  const std::shared_ptr<ListenerCounters>& viewer_listener() const { return viewer_; }

  // Counts one answered upload-API request: chunks, completed instances, commits, and refused
  // chunks and commits by the answer's error code; records the enrolled gateway's last contact
  // (request.client_subject).
  void ObserveUpload(const HttpRequest& request, const HttpResponse& response);
  // A viewer link opened (the access log's "open" event).
  void CountLinkOpen();
  // A purge run: `deleted` studies, or a failure.
  void RecordPurge(bool ok, std::size_t deleted);

  // Enrolled gateways' last contact (system clock), by certificate common name.
  std::map<std::string, std::chrono::system_clock::time_point> GatewayContacts() const;
  // Seeds the last contacts read back at start (gateway_contacts.h); newer contacts win.
  void RestoreGatewayContacts(
      const std::map<std::string, std::chrono::system_clock::time_point>& contacts);
  // Whether a contact was recorded since the last call (for saving them).
  bool TakeContactsChanged();

  // The exposition text; `store` is empty when the index could not be read (then
  // tsunagu_relay_store_up is 0).
  std::string Render(const std::optional<StoreGauges>& store) const;

 private:
  std::shared_ptr<common::Clock> clock_;
  std::shared_ptr<ListenerCounters> upload_ = std::make_shared<ListenerCounters>();
  std::shared_ptr<ListenerCounters> viewer_ = std::make_shared<ListenerCounters>();
  std::atomic<std::uint64_t> chunks_{0};
  std::atomic<std::uint64_t> chunk_bytes_{0};
  std::atomic<std::uint64_t> instances_{0};
  std::atomic<std::uint64_t> commits_{0};
  std::atomic<std::uint64_t> link_opens_{0};
  std::atomic<std::uint64_t> purge_runs_{0};
  std::atomic<std::uint64_t> purge_failures_{0};
  std::atomic<std::uint64_t> studies_purged_{0};
  std::atomic<std::int64_t> last_purge_seconds_{0};  // 0: no successful purge yet
  mutable std::mutex mu_;
  std::map<std::string, std::uint64_t> rejections_;  // GUARDED_BY(mu_)
  std::map<std::string, std::chrono::system_clock::time_point>
      gateway_contacts_;           // GUARDED_BY(mu_)
  bool contacts_changed_ = false;  // GUARDED_BY(mu_)
};

// A plain-HTTP listener that answers GET /metrics with `render()` (and 404 otherwise). One
// thread; every read and write has a deadline.
class MetricsServer {
 public:
  virtual ~MetricsServer() = default;
  // The bound port (useful with port 0).
  virtual std::uint16_t port() const = 0;
  virtual void Stop() = 0;
};

// Binds and starts serving; kUnavailable when the address cannot be bound.
common::Result<std::unique_ptr<MetricsServer>> StartMetricsServer(
    const std::string& bind_address, std::uint16_t port, std::function<std::string()> render,
    std::shared_ptr<spdlog::logger> logger);

}  // namespace tsunagu::relay

#endif  // TSUNAGU_RELAY_SRC_RELAY_METRICS_H_
