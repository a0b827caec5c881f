// The send page, /healthz and /metrics, served inside the hospital only (bound to a configured
// address). cpprestsdk stays behind this header.
//
//   GET  /                 the send page (search, pick a study and a thread, Send, progress)
//   GET  /healthz          200 "ok" when the job database answers, 503 otherwise
//   GET  /metrics          Prometheus text format
//   GET  /api/threads      ["name", ...]
//   GET  /api/studies?patient_id=&accession=&date=&modality=   rows with masked patient IDs
//   POST /api/send         {"study": key, "thread": name, "note": text} -> {"job": id}
//   GET  /api/jobs         the 50 newest jobs with progress
#ifndef TSUNAGU_GATEWAY_WEB_SERVER_H_
#define TSUNAGU_GATEWAY_WEB_SERVER_H_

#include <spdlog/logger.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "tsunagu/common/language.h"
#include "tsunagu/common/result.h"
#include "tsunagu/gateway/control.h"
#include "tsunagu/gateway/dicom_node.h"
#include "tsunagu/gateway/pipeline.h"

namespace tsunagu::gateway {

struct WebServerOptions {
  std::string bind_address = "127.0.0.1";
  std::uint16_t port = 8080;
  common::Language language = common::Language::kJapanese;
};

struct WebServerDeps {
  Control* control;
  std::function<DicomNodeCounters()> node_counters;
  PipelineMetrics* metrics;
  std::function<void()> on_new_job;  // wakes the engine
};

class WebServer {
 public:
  virtual ~WebServer() = default;
  virtual void Stop() = 0;
};

// kUnavailable when the address cannot be bound.
common::Result<std::unique_ptr<WebServer>> StartWebServer(WebServerOptions options,
                                                          WebServerDeps deps,
                                                          std::shared_ptr<spdlog::logger> log);

// The page's HTML in `language` (exposed for tests).
std::string SendPageHtml(common::Language language);

}  // namespace tsunagu::gateway

#endif  // TSUNAGU_GATEWAY_WEB_SERVER_H_
