#include "relay_service.h"

#include <cpprest/json.h>
#include <spdlog/logger.h>

#include <algorithm>
#include <charconv>
#include <regex>
#include <set>
#include <sstream>

#include "dicom_check.h"
#include "link_events.h"
#include "relay_metrics.h"
#include "tsunagu/common/crypto.h"

namespace tsunagu::relay {
namespace {

using common::Status;
using retention::ReachableStudy;
using json = web::json::value;

std::int64_t ToMs(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

bool IsUid(const std::string& s) {
  static const std::regex kUid("^[0-9]+(\\.[0-9]+)*$");
  return !s.empty() && s.size() <= 64 && std::regex_match(s, kUid);
}

HttpResponse Json(int status, const json& body) {
  return HttpResponse{status, {}, body.serialize()};
}

HttpResponse Error(const Status& st, std::optional<std::uint64_t> received = std::nullopt) {
  json body = json::object();
  body["code"] = json::string(std::string(common::ErrorCodeName(st.code())));
  body["message"] = json::string(st.message());
  body["retryable"] = json::boolean(st.retryable());
  if (received) body["received"] = json::number(static_cast<std::uint64_t>(*received));
  HttpResponse r = Json(common::InfoFor(st.code()).http_status, body);
  if (st.code() == common::ErrorCode::kResourceExhausted ||
      st.code() == common::ErrorCode::kDiskFull) {
    r.headers.emplace_back("Retry-After", "30");
  }
  return r;
}

HttpResponse BadRequest(const std::string& message) {
  return Error(common::InvalidArgumentError(message));
}

HttpResponse NotFound() { return Error(common::NotFoundError("not found")); }

json ProgressJson(const retention::UploadProgress& p) {
  json j = json::object();
  j["received"] = json::number(static_cast<std::uint64_t>(p.received));
  j["size"] = json::number(static_cast<std::uint64_t>(p.size));
  j["complete"] = json::boolean(p.complete);
  return j;
}

// "bytes START-END/TOTAL" (END inclusive).
bool ParseContentRange(const std::string& v, std::uint64_t& start, std::uint64_t& end,
                       std::uint64_t& total) {
  static const std::regex kRange("^bytes ([0-9]{1,19})-([0-9]{1,19})/([0-9]{1,19})$");
  std::smatch m;
  if (!std::regex_match(v, m, kRange)) return false;
  start = std::stoull(m[1]);
  end = std::stoull(m[2]);
  total = std::stoull(m[3]);
  return start <= end && end < total;
}

bool IsHex64(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// Attributes copied into QIDO-RS answers (PS3.18 10.6.3.3), by level.
const std::vector<std::string> kStudyTags = {"00080020", "00080030", "00080050", "00080090",
                                             "00081030", "00100010", "00100020", "00100030",
                                             "00100040", "0020000D", "00200010"};
const std::vector<std::string> kSeriesTags = {"00080060", "0008103E", "0020000D", "0020000E",
                                              "00200011"};
const std::vector<std::string> kInstanceTags = {"00080016", "00080018", "0020000D", "0020000E",
                                                "00200013", "00280008", "00280010", "00280011"};

json Pick(const json& full, const std::vector<std::string>& tags) {
  json out = json::object();
  for (const auto& t : tags) {
    if (full.has_field(t)) out[t] = full.at(t);
  }
  return out;
}

json Attribute(const char* vr, json value) {
  json a = json::object();
  a["vr"] = json::string(vr);
  a["Value"] = json::array({std::move(value)});
  return a;
}

}  // namespace

RelayService::RelayService(RelayServiceOptions options, RelayServiceDeps deps)
    : options_(std::move(options)), deps_(std::move(deps)) {}

// ---------------------------------------------------------------- upload API

HttpResponse RelayService::HandleUpload(const HttpRequest& req) {
  const auto seg = PathSegments(req.path);
  if (req.raw_path.find("..") != std::string::npos) return BadRequest("invalid path");
  if (seg.size() == 2 && seg[0] == "v1" && seg[1] == "health" && req.method == "GET") {
    // time_ms: the relay's clock, for the gateway doctor's clock-skew check.
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
        deps_.clock->SystemNow().time_since_epoch());
    return Json(200,
                json::parse(R"({"status":"ok","time_ms":)" + std::to_string(now.count()) + "}"));
  }
  if (seg.size() < 4 || seg[0] != "v1" || seg[1] != "studies") return NotFound();
  const std::string& study = seg[2];
  if (!IsUid(study)) return BadRequest("the study UID in the path is not a valid UID");
  auto& store = *deps_.store;

  if (seg.size() == 5 && seg[3] == "instances") {
    const std::string& sop = seg[4];
    if (!IsUid(sop)) return BadRequest("the SOP Instance UID in the path is not a valid UID");
    if (req.method == "GET") {
      auto p = store.GetProgress(study, sop);
      if (!p.ok()) return Error(p.status());
      return Json(200, ProgressJson(*p));
    }
    if (req.method != "PUT") return Error(common::InvalidArgumentError("method not allowed"));
    std::uint64_t start = 0, end = 0, total = 0;
    const auto range = req.Header("content-range");
    if (!range || !ParseContentRange(*range, start, end, total)) {
      return BadRequest("Content-Range: bytes START-END/TOTAL is required");
    }
    if (end - start + 1 != req.body.size()) {
      return BadRequest("the body length does not match Content-Range");
    }
    const auto whole = req.Header("x-tsunagu-sha256");
    const auto chunk_hash = req.Header("x-tsunagu-chunk-sha256");
    if (!whole || !IsHex64(*whole) || !chunk_hash || !IsHex64(*chunk_hash)) {
      return BadRequest(
          "X-Tsunagu-Sha256 and X-Tsunagu-Chunk-Sha256 (lower-case hex) are required");
    }
    // A chunk that is the whole instance, announced with the whole instance's hash, is
    // hash-checked by the store before anything is written (same code, integrity): hash it once.
    const bool whole_checked_by_store =
        start == 0 && req.body.size() == total && *chunk_hash == *whole;
    if (!whole_checked_by_store && common::HexEncode(common::Sha256(req.body)) != *chunk_hash) {
      deps_.logger->warn("upload.chunk_corrupt offset={} bytes={}", start, req.body.size());
      return Error(Status(common::ErrorCode::kIntegrity,
                          "the chunk's SHA-256 does not match X-Tsunagu-Chunk-Sha256; resend it",
                          /*retryable=*/true));
    }
    const std::size_t max_pid = options_.patient_id_max_length;
    retention::InstanceValidator validator = [max_pid](std::string_view st, std::string_view sp,
                                                       std::string_view bytes) {
      return InspectInstance(bytes, st, sp, max_pid);
    };
    auto p = store.AppendChunk(study, sop, start, total, *whole, req.body, validator);
    if (!p.ok()) {
      if (p.status().code() == common::ErrorCode::kFailedPrecondition) {
        auto now = store.GetProgress(study, sop);
        if (now.ok()) return Error(p.status(), now->received);
      }
      return Error(p.status());
    }
    return Json(200, ProgressJson(*p));
  }
  if (seg.size() != 4) return NotFound();
  const std::string& action = seg[3];
  if (action == "commit" && req.method == "POST") {
    json body;
    try {
      body = json::parse(req.body);
    } catch (const std::exception&) {
      return BadRequest("the commit body is not JSON");
    }
    std::vector<retention::CommitInstance> list;
    std::string thread;
    std::optional<std::string> code;
    std::optional<std::chrono::milliseconds> retention;
    try {
      for (const auto& i : body.at("instances").as_array()) {
        retention::CommitInstance c;
        c.sop_uid = i.at("sop_instance_uid").as_string();
        c.sha256_hex = i.at("sha256").as_string();
        c.size = i.at("size").as_number().to_uint64();
        if (!IsUid(c.sop_uid) || !IsHex64(c.sha256_hex)) {
          return BadRequest("an instance in the commit has an invalid UID or hash");
        }
        list.push_back(std::move(c));
      }
      if (body.has_field("thread")) thread = body.at("thread").as_string();
      if (body.has_field("access_code") && !body.at("access_code").is_null()) {
        code = body.at("access_code").as_string();
      }
      if (body.has_field("retention_seconds") && !body.at("retention_seconds").is_null()) {
        retention = std::chrono::seconds(body.at("retention_seconds").as_number().to_int64());
        if (*retention <= std::chrono::milliseconds(0)) {
          return BadRequest("retention_seconds must be positive");
        }
      }
    } catch (const std::exception&) {
      return BadRequest(
          "the commit body needs instances[{sop_instance_uid, sha256, size}] and optional "
          "thread, access_code, retention_seconds");
    }
    // Per-gateway retention (config retention.per_gateway), by the enrolled certificate's
    // common name; a gateway can shorten it further per commit, never lengthen it.
    if (auto it = options_.gateway_retention.find(req.client_subject);
        !req.client_subject.empty() && it != options_.gateway_retention.end()) {
      if (!retention || it->second < *retention) retention = it->second;
    }
    auto outcome = store.Commit(study, list, thread, code, retention);
    if (!outcome.ok()) return Error(outcome.status());
    PrepareViewer(study, outcome->expires_at);
    json out = json::object();
    out["viewer_url"] = json::string(options_.public_url + "/v/" + outcome->link_token);
    out["dicomweb_root"] =
        json::string(options_.public_url + "/t/" + outcome->link_token + "/dicomweb");
    out["expires_at_ms"] = json::number(ToMs(outcome->expires_at));
    out["already_committed"] = json::boolean(outcome->already_committed);
    return Json(200, out);
  }
  if (action == "events" && req.method == "GET") return LinkEventsResponse(store, study);
  if (action == "receipt" && req.method == "GET") {
    auto r = store.GetReceipt(study);
    if (!r.ok()) return Error(r.status());
    json out = json::object();
    out["study_uid"] = json::string(r->study_uid);
    out["deleted_at_ms"] = json::number(ToMs(r->deleted_at));
    out["instance_count"] = json::number(static_cast<std::uint64_t>(r->instance_count));
    out["reason"] = json::string(r->reason);
    return Json(200, out);
  }
  if (action == "revoke" && req.method == "POST") {
    auto n = store.RevokeLinks(study);
    if (!n.ok()) return Error(n.status());
    {
      std::lock_guard lock(mu_);
      link_cache_.clear();
    }
    json out = json::object();
    out["revoked"] = json::number(*n);
    return Json(200, out);
  }
  return NotFound();
}

// ---------------------------------------------------------------- viewer API

HttpResponse RelayService::HandleViewer(const HttpRequest& req) {
  // The web viewer lives under /v/<token>/; the DICOMweb subset under /t/<token>/dicomweb.
  const bool page = req.path == "/v" || req.path.rfind("/v/", 0) == 0;
  HttpResponse r = page ? WebViewer(req) : Viewer(req);
  // Security headers on every answer (issue 4): no caching of images, no referrer carrying the
  // token, a CSP that lets nothing run from an API answer (the viewer's own scripts and styles
  // only, for the page), HSTS.
  r.headers.emplace_back("Cache-Control", page ? "private, no-store" : "no-store, private");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  r.headers.emplace_back(
      "Content-Security-Policy",
      page ? "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
             "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
           : "default-src 'none'; frame-ancestors 'none'; base-uri 'none'");
  r.headers.emplace_back("Strict-Transport-Security", "max-age=31536000");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  const auto origin = req.Header("origin");
  if (origin && std::find(options_.cors_origins.begin(), options_.cors_origins.end(), *origin) !=
                    options_.cors_origins.end()) {
    r.headers.emplace_back("Access-Control-Allow-Origin", *origin);
    r.headers.emplace_back("Vary", "Origin");
    r.headers.emplace_back("Access-Control-Allow-Headers",
                           "Authorization, Accept, X-Tsunagu-Access-Code");
    r.headers.emplace_back("Access-Control-Allow-Methods", "GET, OPTIONS");
    r.headers.emplace_back("Access-Control-Max-Age", "600");
  }
  return r;
}

common::Result<ReachableStudy> RelayService::Resolve(const std::string& token,
                                                     const std::optional<std::string>& code) {
  const std::string key = common::HexEncode(common::Sha256(token + '\0' + code.value_or("")));
  const auto now = deps_.clock->SteadyNow();
  {
    std::lock_guard lock(mu_);
    auto it = link_cache_.find(key);
    if (it != link_cache_.end()) {
      if (now - it->second.checked < options_.revocation_cache &&
          it->second.study.expires_at > deps_.clock->SystemNow()) {
        return it->second.study;
      }
      link_cache_.erase(it);
    }
  }
  auto resolved = deps_.store->ResolveLink(token, code);
  if (!resolved.ok()) return resolved;
  std::lock_guard lock(mu_);
  if (link_cache_.size() > 10000) link_cache_.clear();
  link_cache_[key] = CachedLink{*resolved, now};
  return resolved;
}

void RelayService::Log(const ReachableStudy& s, const HttpRequest& r, const char* event) {
  if (deps_.metrics && std::string_view(event) == "open") deps_.metrics->CountLinkOpen();
  retention::AccessEntry e{deps_.clock->SystemNow(), s.link_id, event, r.client_address,
                           r.Header("user-agent").value_or("")};
  std::lock_guard lock(mu_);
  pending_log_.emplace_back(s.study_uid, std::move(e));
}

common::Result<std::shared_ptr<const RelayService::CachedFrames>> RelayService::FramesOf(
    const ReachableStudy& s, const std::string& sop) {
  const std::string key = s.study_uid + '\0' + sop;
  {
    std::lock_guard lock(mu_);
    auto it = frame_cache_.find(key);
    if (it != frame_cache_.end()) return it->second;
  }
  TSUNAGU_ASSIGN_OR_RETURN(std::string bytes, deps_.store->ReadInstance(s.study_uid, sop));
  TSUNAGU_ASSIGN_OR_RETURN(Frames frames, ExtractFrames(bytes, {}));
  auto entry = std::make_shared<CachedFrames>();
  entry->series_uid = frames.series_uid;
  entry->transfer_syntax_uid = frames.transfer_syntax_uid;
  entry->encapsulated = frames.encapsulated;
  TSUNAGU_ASSIGN_OR_RETURN(std::string random, common::RandomBytes(12));
  entry->boundary = "tsunagu-" + common::HexEncode(random);
  const std::string head =
      "--" + entry->boundary +
      "\r\nContent-Type: application/octet-stream; transfer-syntax=" + entry->transfer_syntax_uid +
      "\r\n\r\n";
  const std::string tail = "\r\n--" + entry->boundary + "--\r\n";
  for (const auto& f : frames.frames) {
    auto body = std::make_shared<std::string>();
    body->reserve(head.size() + f.size() + tail.size());
    *body += head;
    *body += f;
    *body += tail;
    entry->bytes += body->size();
    entry->bodies.push_back(std::move(body));
  }
  entry->expires_at = s.expires_at;
  std::lock_guard lock(mu_);
  if (entry->bytes <= options_.frame_cache_bytes && !frame_cache_.count(key)) {
    frame_cache_[key] = entry;
    frame_cache_order_.push_back(key);
    frame_cache_bytes_ += entry->bytes;
    std::size_t drop = 0;
    while (frame_cache_bytes_ > options_.frame_cache_bytes && drop < frame_cache_order_.size()) {
      auto victim = frame_cache_.find(frame_cache_order_[drop++]);
      if (victim == frame_cache_.end()) continue;
      frame_cache_bytes_ -= victim->second->bytes;
      frame_cache_.erase(victim);
    }
    frame_cache_order_.erase(frame_cache_order_.begin(),
                             frame_cache_order_.begin() + static_cast<long>(drop));
  }
  return std::shared_ptr<const CachedFrames>(entry);
}

void RelayService::FlushAccessLog() {
  std::vector<std::pair<std::string, retention::AccessEntry>> batch;
  {
    std::lock_guard lock(mu_);
    batch.swap(pending_log_);
    const auto now = deps_.clock->SystemNow();
    for (auto it = frame_cache_.begin(); it != frame_cache_.end();) {
      if (it->second->expires_at <= now) {
        frame_cache_bytes_ -= it->second->bytes;
        it = frame_cache_.erase(it);
      } else {
        ++it;
      }
    }
    std::erase_if(frame_cache_order_, [&](const std::string& k) { return !frame_cache_.count(k); });
    std::erase_if(sessions_, [&](const auto& e) { return e.second.expires_at <= now; });
    std::erase_if(layouts_, [&](const auto& e) { return e.second->expires_at <= now; });
    for (auto it = instance_cache_.begin(); it != instance_cache_.end();) {
      if (it->second.expires_at <= now) {
        instance_cache_bytes_ -= it->second.bytes->size();
        it = instance_cache_.erase(it);
      } else {
        ++it;
      }
    }
    std::erase_if(instance_cache_order_,
                  [&](const std::string& k) { return !instance_cache_.count(k); });
    if (render_logged_.size() > 10000) render_logged_.clear();
    render_cache_.DropExpired(now);
    for (auto it = answer_cache_.begin(); it != answer_cache_.end();) {
      if (it->second.expires_at <= now) {
        answer_cache_bytes_ -= it->second.response.Body().size();
        it = answer_cache_.erase(it);
      } else {
        ++it;
      }
    }
  }
  const Status st = deps_.store->RecordAccess(batch);
  if (!st.ok()) {
    deps_.logger->error("access_log.write_failed entries={} error=\"{}\"", batch.size(),
                        st.ToString());
  }
}

HttpResponse RelayService::Viewer(const HttpRequest& req) {
  if (req.method == "OPTIONS") return HttpResponse{204, {}, {}, "text/plain"};
  if (req.method != "GET" && req.method != "HEAD") {
    return Error(common::InvalidArgumentError("method not allowed"));
  }
  if (req.raw_path.find("..") != std::string::npos) return BadRequest("invalid path");
  auto seg = PathSegments(req.path);
  std::string token;
  std::size_t first = 0;
  if (seg.size() >= 2 && seg[0] == "t") {
    token = seg[1];
    first = 2;
  } else if (auto auth = req.Header("authorization"); auth && auth->rfind("Bearer ", 0) == 0) {
    token = auth->substr(7);
  }
  if (seg.size() <= first || seg[first] != "dicomweb") return NotFound();
  const std::vector<std::string> rest(seg.begin() + static_cast<long>(first) + 1, seg.end());
  if (token.empty() || token.size() > 128) {
    return Error(common::UnauthenticatedError("a link token is required"));
  }

  // Brute-force throttle per client address.
  const auto steady = deps_.clock->SteadyNow();
  {
    std::lock_guard lock(mu_);
    auto& w = failures_[req.client_address];
    if (steady - w.start >= options_.failure_window) w = FailureWindow{steady, 0};
    if (w.failures >= options_.max_link_failures) {
      return Error(common::ResourceExhaustedError("too many failed link attempts; wait a minute"));
    }
  }
  auto study = Resolve(token, req.Header("x-tsunagu-access-code"));
  if (!study.ok()) {
    {
      std::lock_guard lock(mu_);
      auto& w = failures_[req.client_address];
      ++w.failures;
      if (w.failures == options_.max_link_failures) {
        deps_.logger->warn("link.throttled address={}", req.client_address);
      }
    }
    return Error(study.status());
  }
  // QIDO-RS and metadata answers depend only on the committed (immutable) study: cache them.
  const bool cacheable = rest.size() <= 5 || (rest.size() == 7 && rest[6] == "metadata");
  if (rest.size() == 1) Log(*study, req, "open");
  if (!rest.empty() && rest.back() == "metadata") Log(*study, req, "metadata");
  if (!cacheable) return Content(*study, req, rest);
  std::string key = study->study_uid;
  for (const auto& s : rest) key += '\0' + s;
  if (auto it = req.query.find("StudyInstanceUID"); it != req.query.end()) {
    key += '\1' + it->second;
  }
  {
    std::lock_guard lock(mu_);
    auto it = answer_cache_.find(key);
    if (it != answer_cache_.end()) return it->second.response;  // shares the body, no copy
  }
  HttpResponse r = Content(*study, req, rest);
  if (r.status == 200) {
    if (!r.shared_body) {  // rendered answers already come shared from the render cache
      r.shared_body = std::make_shared<const std::string>(std::move(r.body));
      r.body.clear();
    }
    std::lock_guard lock(mu_);
    if (answer_cache_bytes_ + r.shared_body->size() <= options_.answer_cache_bytes &&
        answer_cache_.try_emplace(key, CachedAnswer{r, study->expires_at}).second) {
      answer_cache_bytes_ += r.shared_body->size();
    }
  }
  return r;
}

HttpResponse RelayService::Content(const ReachableStudy& link, const HttpRequest& req,
                                   const std::vector<std::string>& rest) {
  const ReachableStudy* study = &link;
  const std::string& uid = study->study_uid;
  auto& store = *deps_.store;

  // QIDO-RS on the one study.
  if (rest.size() == 1 && rest[0] == "studies") {
    auto it = req.query.find("StudyInstanceUID");
    if (it != req.query.end() && it->second != uid) return Json(200, json::array());
    auto instances = store.ListInstances(uid);
    if (!instances.ok()) return Error(instances.status());
    if (instances->empty()) return NotFound();
    const json first_meta = json::parse(instances->front().metadata_json);
    json s = Pick(first_meta, kStudyTags);
    std::set<std::string> series, modalities;
    for (const auto& i : *instances) {
      series.insert(i.series_uid);
      const json m = json::parse(i.metadata_json);
      if (m.has_field("00080060") && m.at("00080060").has_field("Value")) {
        modalities.insert(m.at("00080060").at("Value").at(0).as_string());
      }
    }
    json mods = json::array();
    for (const auto& m : modalities) mods[mods.size()] = json::string(m);
    json mia = json::object();
    mia["vr"] = json::string("CS");
    mia["Value"] = mods;
    s["00080061"] = mia;
    s["00201206"] = Attribute("IS", json::number(static_cast<int>(series.size())));
    s["00201208"] = Attribute("IS", json::number(static_cast<int>(instances->size())));
    return Json(200, json::array({s}));
  }
  if (rest.size() < 2 || rest[0] != "studies" || rest[1] != uid) return NotFound();
  // WADO-RS rendered resources and thumbnails (web_viewer.cpp).
  if (rest.back() == "rendered" || rest.back() == "thumbnail") {
    return DicomwebRendered(*study, req, rest);
  }
  const std::vector<std::string> tail(rest.begin() + 2, rest.end());
  std::optional<std::string> series_filter;
  if (tail.size() >= 2 && tail[0] == "series") series_filter = tail[1];

  auto list_json = [&](const std::vector<std::string>& tags, bool per_series) -> HttpResponse {
    auto instances = store.ListInstances(uid);
    if (!instances.ok()) return Error(instances.status());
    json out = json::array();
    std::map<std::string, std::pair<json, int>> series;
    std::vector<std::string> order;
    for (const auto& i : *instances) {
      if (series_filter && i.series_uid != *series_filter) continue;
      const json m = json::parse(i.metadata_json);
      if (per_series) {
        auto [it, fresh] = series.try_emplace(i.series_uid, Pick(m, kSeriesTags), 0);
        if (fresh) order.push_back(i.series_uid);
        ++it->second.second;
      } else {
        out[out.size()] = tags.empty() ? m : Pick(m, tags);
      }
    }
    for (const auto& s : order) {
      json j = series[s].first;
      j["00201209"] = Attribute("IS", json::number(series[s].second));
      out[out.size()] = j;
    }
    if (series_filter && out.size() == 0) return NotFound();
    return Json(200, out);
  };

  // studies/{uid}/series, studies/{uid}/instances, studies/{uid}/series/{s}/instances
  if (tail.size() == 1 && tail[0] == "series") return list_json(kSeriesTags, true);
  if (tail.size() == 1 && tail[0] == "instances") return list_json(kInstanceTags, false);
  if (tail.size() == 3 && tail[0] == "series" && tail[2] == "instances") {
    return list_json(kInstanceTags, false);
  }
  // WADO-RS metadata: studies/{uid}/metadata, .../series/{s}/metadata
  if ((tail.size() == 1 && tail[0] == "metadata") ||
      (tail.size() == 3 && tail[0] == "series" && tail[2] == "metadata")) {
    HttpResponse r = list_json({}, false);
    if (r.status == 200) r.content_type = "application/dicom+json";
    return r;
  }
  if (tail.size() < 4 || tail[0] != "series" || tail[2] != "instances") return NotFound();
  const std::string& sop = tail[3];
  if (!IsUid(sop) || !IsUid(tail[1])) return NotFound();
  if (tail.size() == 5 && tail[4] == "metadata") {
    auto instances = store.ListInstances(uid);
    if (!instances.ok()) return Error(instances.status());
    for (const auto& i : *instances) {
      if (i.sop_uid == sop && i.series_uid == tail[1]) {
        HttpResponse r = Json(200, json::array({json::parse(i.metadata_json)}));
        r.content_type = "application/dicom+json";
        return r;
      }
    }
    return NotFound();
  }
  if (tail.size() == 4) {
    std::string boundary;
    {
      std::lock_guard lock(mu_);
      boundary = "tsunagu-" + std::to_string(++boundary_counter_) + "-" +
                 std::to_string(ToMs(deps_.clock->SystemNow()));
    }
    // WADO-RS instance: multipart/related; type="application/dicom" (PS3.18 8.6.1.2).
    auto instances = store.ListInstances(uid);
    if (!instances.ok()) return Error(instances.status());
    if (std::none_of(instances->begin(), instances->end(),
                     [&](const auto& i) { return i.sop_uid == sop && i.series_uid == tail[1]; })) {
      return NotFound();
    }
    auto bytes = store.ReadInstance(uid, sop);
    if (!bytes.ok()) return Error(bytes.status());
    Log(*study, req, "instance");
    HttpResponse r;
    r.content_type = "multipart/related; type=\"application/dicom\"; boundary=" + boundary;
    r.body = "--" + boundary + "\r\nContent-Type: application/dicom\r\n\r\n" + *bytes + "\r\n--" +
             boundary + "--\r\n";
    return r;
  }
  if (tail.size() == 6 && tail[4] == "frames") {
    std::vector<int> numbers;
    std::stringstream list(tail[5]);
    std::string item;
    while (std::getline(list, item, ',')) {
      int n = 0;
      auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), n);
      if (ec != std::errc() || p != item.data() + item.size()) {
        return BadRequest("frame list must be numbers separated by commas");
      }
      numbers.push_back(n);
    }
    if (numbers.empty() || numbers.size() > 1000) return BadRequest("bad frame list");
    auto cached = FramesOf(*study, sop);
    if (!cached.ok()) return Error(cached.status());
    const CachedFrames& frames = **cached;
    if (frames.series_uid != tail[1]) return NotFound();
    for (int n : numbers) {
      if (n < 1 || static_cast<std::size_t>(n) > frames.bodies.size()) {
        return Error(common::NotFoundError("no such frame"));
      }
    }
    Log(*study, req, "frames");
    HttpResponse r;
    r.content_type =
        "multipart/related; type=\"application/octet-stream\"; boundary=" + frames.boundary;
    if (numbers.size() == 1) {
      r.shared_body = frames.bodies[numbers[0] - 1];
      return r;
    }
    // Each cached body is one part followed by the closing delimiter; keep the parts only.
    const std::size_t closing = frames.boundary.size() + 6;  // "--" boundary "--\r\n"
    std::size_t total = closing;
    for (int n : numbers) total += frames.bodies[n - 1]->size() - closing;
    r.body.reserve(total);
    for (int n : numbers) {
      const std::string& b = *frames.bodies[n - 1];
      r.body.append(b, 0, b.size() - closing);
    }
    r.body += "--" + frames.boundary + "--\r\n";
    return r;
  }
  return NotFound();
}

}  // namespace tsunagu::relay
