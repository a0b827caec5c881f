#include "tsunagu/gateway/web_server.h"

#include <cpprest/http_listener.h>
#include <cpprest/json.h>
#include <cpprest/uri.h>

#include <atomic>

namespace tsunagu::gateway {
namespace {

using web::http::methods;
using web::http::status_codes;
using web::http::experimental::listener::http_listener;
using web::http::experimental::listener::http_listener_config;

web::json::value JobJson(const JobView& v) {
  web::json::value o = web::json::value::object();
  const JobRecord& j = v.job;
  o["job"] = web::json::value::number(static_cast<int64_t>(j.id.value()));
  o["kind"] = web::json::value::string(std::string(JobKindName(j.kind)));
  o["stage"] = web::json::value::string(j.stage);
  o["thread"] = web::json::value::string(j.thread);
  o["listed"] = web::json::value::number(std::max(j.expected_count, v.progress.total));
  o["received"] = web::json::value::number(v.progress.received);
  o["deidentified"] = web::json::value::number(v.progress.deidentified);
  o["uploaded"] = web::json::value::number(v.progress.uploaded);
  o["patient_id_last4"] = web::json::value::string(j.patient_id_suffix);
  o["modality"] = web::json::value::string(j.modality);
  o["link"] = web::json::value::string(j.viewer_url);
  o["expires_at"] = web::json::value::string(j.expires_at);
  // For the sender's page only (threads with access_code_required); never in chat.
  o["access_code"] = web::json::value::string(j.access_code);
  o["error"] = web::json::value::string(j.last_error);
  return o;
}

web::json::value ErrorJson(const common::Status& st) {
  web::json::value o = web::json::value::object();
  o["error"] = web::json::value::string(st.ToString());
  return o;
}

class Server final : public WebServer {
 public:
  Server(WebServerOptions options, WebServerDeps deps, std::shared_ptr<spdlog::logger> log)
      : options_(std::move(options)), deps_(std::move(deps)), log_(std::move(log)) {}
  ~Server() override { Stop(); }

  common::Status Start() {
    const std::string url =
        "http://" + options_.bind_address + ":" + std::to_string(options_.port) + "/";
    try {
      listener_ = std::make_unique<http_listener>(web::uri(url));
      listener_->support([this](web::http::http_request req) { Handle(std::move(req)); });
      listener_->open().wait();
    } catch (const std::exception& e) {
      listener_.reset();
      return common::UnavailableError("cannot serve the send page on " + url + ": " + e.what());
    }
    open_ = true;
    log_->info("web.listen url={}", url);
    return common::Status();
  }

  void Stop() override {
    if (!open_.exchange(false)) return;
    try {
      listener_->close().wait();
    } catch (const std::exception& e) {
      log_->warn("web.close_failed reason=\"{}\"", e.what());
    }
  }

 private:
  void Handle(web::http::http_request req) {
    try {
      Route(req);
    } catch (const std::exception& e) {
      log_->error("web.internal_error reason=\"{}\"", e.what());
      req.reply(status_codes::InternalError, ErrorJson(common::InternalError("internal error")));
    }
  }

  void Route(web::http::http_request& req) {
    const std::string path = web::uri::decode(req.relative_uri().path());
    const auto query = web::uri::split_query(req.relative_uri().query());
    auto param = [&](const std::string& k) {
      auto it = query.find(k);
      return it == query.end() ? std::string() : web::uri::decode(it->second);
    };
    if (req.method() == methods::GET && (path == "/" || path == "/index.html")) {
      common::Language lang = options_.language;
      if (auto l = common::ParseLanguage(param("lang"))) lang = *l;
      web::http::http_response rsp(status_codes::OK);
      rsp.set_body(SendPageHtml(lang), "text/html; charset=utf-8");
      rsp.headers().add("Content-Security-Policy",
                        "default-src 'self'; script-src 'unsafe-inline'; style-src "
                        "'unsafe-inline'");
      rsp.headers().add("Cache-Control", "no-store");
      req.reply(rsp);
      return;
    }
    if (req.method() == methods::GET && path == "/healthz") {
      auto jobs = deps_.control->Jobs(1);
      if (jobs.ok()) {
        // The tunnel line appears only with require_ipsec; a down tunnel delays uploads but the
        // gateway itself is healthy (intake and de-identification go on), so the status stays 200.
        std::string body = "ok\n";
        if (const int tunnel = deps_.metrics->ipsec_tunnel_up.load(); tunnel >= 0) {
          body += tunnel == 1 ? "ipsec tunnel: up\n" : "ipsec tunnel: down (uploads wait)\n";
        }
        req.reply(status_codes::OK, body, "text/plain; charset=utf-8");
      } else {
        req.reply(status_codes::ServiceUnavailable, "job database: " + jobs.status().ToString(),
                  "text/plain; charset=utf-8");
      }
      return;
    }
    if (req.method() == methods::GET && path == "/metrics") {
      req.reply(status_codes::OK, deps_.control->MetricsText(deps_.node_counters(), *deps_.metrics),
                "text/plain; version=0.0.4; charset=utf-8");
      return;
    }
    if (req.method() == methods::GET && path == "/api/threads") {
      web::json::value arr = web::json::value::array();
      size_t i = 0;
      for (const std::string& t : deps_.control->threads()) {
        arr[i++] = web::json::value::string(t);
      }
      req.reply(status_codes::OK, arr);
      return;
    }
    if (req.method() == methods::GET && path == "/api/studies") {
      FindQuery q;
      q.patient_id = param("patient_id");
      q.accession_number = param("accession");
      q.study_date = param("date");
      q.modality = param("modality");
      if (q.patient_id.empty() && q.accession_number.empty() && q.study_date.empty()) {
        req.reply(status_codes::BadRequest,
                  ErrorJson(common::InvalidArgumentError(
                      "give a patient ID, an accession number or a date")));
        return;
      }
      auto rows = deps_.control->FindStudies(q);
      if (!rows.ok()) {
        req.reply(
            rows.status().retryable() ? status_codes::ServiceUnavailable : status_codes::BadRequest,
            ErrorJson(rows.status()));
        return;
      }
      web::json::value arr = web::json::value::array();
      size_t i = 0;
      for (const StudyRow& r : *rows) {
        web::json::value o = web::json::value::object();
        o["study"] = web::json::value::string(r.key);
        o["patient_id"] = web::json::value::string(r.patient_id_masked);
        o["date"] = web::json::value::string(r.study_date);
        o["time"] = web::json::value::string(r.study_time);
        o["modalities"] = web::json::value::string(r.modalities);
        o["description"] = web::json::value::string(r.description);
        o["instances"] = web::json::value::number(r.instances);
        arr[i++] = o;
      }
      req.reply(status_codes::OK, arr);
      return;
    }
    if (req.method() == methods::POST && path == "/api/send") {
      web::json::value body = req.extract_json(true).get();
      if (!body.is_object() || !body.has_string_field("study") ||
          !body.has_string_field("thread")) {
        req.reply(status_codes::BadRequest,
                  ErrorJson(common::InvalidArgumentError("expected {study, thread, note}")));
        return;
      }
      const std::string note =
          body.has_string_field("note") ? body.at("note").as_string() : std::string();
      auto job = deps_.control->SendByKey(body.at("study").as_string(),
                                          body.at("thread").as_string(), note);
      if (!job.ok()) {
        req.reply(job.status().code() == common::ErrorCode::kNotFound ? status_codes::NotFound
                                                                      : status_codes::BadRequest,
                  ErrorJson(job.status()));
        return;
      }
      if (deps_.on_new_job) deps_.on_new_job();
      log_->info("web.send job={} thread={}", job->value(), body.at("thread").as_string());
      web::json::value o = web::json::value::object();
      o["job"] = web::json::value::number(static_cast<int64_t>(job->value()));
      req.reply(status_codes::Accepted, o);
      return;
    }
    if (req.method() == methods::GET && path == "/api/jobs") {
      auto jobs = deps_.control->Jobs(50);
      if (!jobs.ok()) {
        req.reply(status_codes::ServiceUnavailable, ErrorJson(jobs.status()));
        return;
      }
      web::json::value arr = web::json::value::array();
      size_t i = 0;
      for (const JobView& v : *jobs) arr[i++] = JobJson(v);
      req.reply(status_codes::OK, arr);
      return;
    }
    req.reply(status_codes::NotFound, ErrorJson(common::NotFoundError("no such page")));
  }

  WebServerOptions options_;
  WebServerDeps deps_;
  std::shared_ptr<spdlog::logger> log_;
  std::unique_ptr<http_listener> listener_;
  std::atomic<bool> open_{false};
};

}  // namespace

common::Result<std::unique_ptr<WebServer>> StartWebServer(WebServerOptions options,
                                                          WebServerDeps deps,
                                                          std::shared_ptr<spdlog::logger> log) {
  auto server = std::make_unique<Server>(std::move(options), std::move(deps), std::move(log));
  TSUNAGU_RETURN_IF_ERROR(server->Start());
  return std::unique_ptr<WebServer>(std::move(server));
}

}  // namespace tsunagu::gateway
