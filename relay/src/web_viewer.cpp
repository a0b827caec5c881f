// The web viewer under the link token (viewer-lib/web/README.md): the page's files, summary.json,
// the access-code exchange with its session cookie, rendered frames and series thumbnails.
//
// Every URL the page uses is relative to /v/<token>/, so the token is the first path segment
// after /v/. Series and instances are addressed by their 1-based position in the display and
// stack order (series/<s>/instances/<i>), never by UID, and that order is computed once per study
// from the stored metadata (StudyLayout).
#include <cpprest/json.h>
#include <spdlog/logger.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <functional>
#include <sstream>
#include <string_view>

#include "relay_service.h"
#include "tsunagu/common/crypto.h"
#include "tsunagu/viewer/dicom_reader.h"
#include "tsunagu/viewer/frame_source.h"

namespace tsunagu::relay {
namespace {

using common::Status;
using retention::ReachableStudy;
using json = web::json::value;

constexpr char kSessionCookie[] = "tsunagu_session";
constexpr auto kRenderLogInterval = std::chrono::seconds(10);

HttpResponse JsonAnswer(int status, const json& body) {
  return HttpResponse{status, {}, body.serialize()};
}

// A link state answer: {"error": "<reason>"}.
HttpResponse State(int status, const char* reason) {
  json body = json::object();
  body["error"] = json::string(reason);
  return JsonAnswer(status, body);
}

HttpResponse StateOf(const Status& st) {
  switch (st.code()) {
    case common::ErrorCode::kUnauthenticated:
      return State(401, "access_code_required");
    case common::ErrorCode::kNotFound:
      return st.message() == retention::kLinkExpired ? State(410, "expired")
                                                     : State(404, "not_found");
    case common::ErrorCode::kPermissionDenied:
      return st.message() == retention::kLinkLocked ? State(423, "locked") : State(403, "revoked");
    case common::ErrorCode::kResourceExhausted: {
      HttpResponse r = State(429, "too_many_attempts");
      r.headers.emplace_back("Retry-After", "1");
      return r;
    }
    default:
      return State(common::InfoFor(st.code()).http_status, "unavailable");
  }
}

// The first value of a DICOM JSON attribute, if any.
std::optional<json> FirstValue(const json& m, const char* tag) {
  if (!m.has_field(tag)) return std::nullopt;
  const json& a = m.at(tag);
  if (!a.has_field("Value") || !a.at("Value").is_array() || a.at("Value").size() == 0) {
    return std::nullopt;
  }
  return a.at("Value").at(0);
}

std::string StringValue(const json& m, const char* tag) {
  auto v = FirstValue(m, tag);
  if (!v) return {};
  if (v->is_string()) return v->as_string();
  if (v->is_number()) return v->serialize();
  return {};
}

long NumberValue(const json& m, const char* tag) {
  auto v = FirstValue(m, tag);
  if (!v) return 0;
  if (v->is_number()) return static_cast<long>(v->as_number().to_int64());
  if (v->is_string()) return std::atol(v->as_string().c_str());
  return 0;
}

std::string Iso8601(std::chrono::system_clock::time_point t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

json Number(double v) { return json::number(v); }

bool ParseDouble(const std::string& s, double& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

bool ParseUint(const std::string& s, std::uint32_t& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(item);
  return out;
}

std::optional<std::string> CookieValue(const HttpRequest& req, const std::string& name) {
  const auto header = req.Header("cookie");
  if (!header) return std::nullopt;
  std::stringstream in(*header);
  std::string item;
  while (std::getline(in, item, ';')) {
    const auto start = item.find_first_not_of(' ');
    if (start == std::string::npos) continue;
    item.erase(0, start);
    if (item.rfind(name + "=", 0) == 0) return item.substr(name.size() + 1);
  }
  return std::nullopt;
}

// The names of the window functions in the rendered resource's query and in summary.json.
const char* VoiFunctionName(viewer::VoiFunction f) {
  switch (f) {
    case viewer::VoiFunction::kLinearExact:
      return "linear_exact";
    case viewer::VoiFunction::kSigmoid:
      return "sigmoid";
    case viewer::VoiFunction::kLinear:
      break;
  }
  return "linear";
}

std::optional<viewer::VoiFunction> VoiFunctionFromName(const std::string& name) {
  if (name == "linear") return viewer::VoiFunction::kLinear;
  if (name == "linear_exact" || name == "linear-exact") return viewer::VoiFunction::kLinearExact;
  if (name == "sigmoid") return viewer::VoiFunction::kSigmoid;
  return std::nullopt;
}

// Parses the rendered resource's query (window=C,W[,linear|linear_exact|sigmoid], quality=Q,
// viewport=P[,P]); an error message for people, or empty.
std::string ParseRenderParams(const HttpRequest& req, viewer::RenderParams& p) {
  if (auto it = req.query.find("window"); it != req.query.end() && !it->second.empty()) {
    const auto parts = SplitComma(it->second);
    viewer::Window w;
    if (parts.size() < 2 || parts.size() > 3 || !ParseDouble(parts[0], w.center) ||
        !ParseDouble(parts[1], w.width) || w.width < 1) {
      return "window must be CENTER,WIDTH[,FUNCTION] with WIDTH >= 1";
    }
    p.window = w;
    if (parts.size() == 3) {
      p.voi_function = VoiFunctionFromName(parts[2]);
      if (!p.voi_function) return "the window function must be linear, linear_exact or sigmoid";
    }
  }
  if (auto it = req.query.find("quality"); it != req.query.end()) {
    std::uint32_t q = 0;
    if (!ParseUint(it->second, q) || q < 1 || q > 100) return "quality must be 1..100";
    p.quality = static_cast<int>(q);
  }
  if (auto it = req.query.find("viewport"); it != req.query.end()) {
    std::uint32_t longest = 0;
    const auto parts = SplitComma(it->second);
    if (parts.empty() || parts.size() > 2) return "viewport must be WIDTH,HEIGHT";
    for (const auto& part : parts) {
      std::uint32_t v = 0;
      if (!ParseUint(part, v) || v < 1 || v > 8192) return "viewport values must be 1..8192";
      longest = std::max(longest, v);
    }
    p.max_size = longest;
  }
  return {};
}

}  // namespace

bool RelayService::Throttled(const std::string& address) {
  const auto steady = deps_.clock->SteadyNow();
  std::lock_guard lock(mu_);
  auto& w = failures_[address];
  if (steady - w.start >= options_.failure_window) w = FailureWindow{steady, 0};
  return w.failures >= options_.max_link_failures;
}

void RelayService::CountFailure(const std::string& address) {
  std::lock_guard lock(mu_);
  auto& w = failures_[address];
  ++w.failures;
  if (w.failures == options_.max_link_failures) {
    deps_.logger->warn("link.throttled address={}", address);
  }
}

HttpResponse RelayService::WebAsset(const std::string& name) {
  static const std::map<std::string, std::string> kAssets = {
      {"index.html", "text/html; charset=utf-8"},
      {"viewer.css", "text/css; charset=utf-8"},
      {"viewer.js", "text/javascript; charset=utf-8"},
      {"i18n.js", "text/javascript; charset=utf-8"},
      {"geometry.js", "text/javascript; charset=utf-8"},
  };
  auto it = kAssets.find(name);
  if (it == kAssets.end()) return State(404, "not_found");
  std::ifstream in(options_.viewer_assets_directory / name, std::ios::binary);
  std::ostringstream body;
  body << in.rdbuf();
  if (!in) {
    deps_.logger->error("viewer.asset_missing file={} directory={}", name,
                        options_.viewer_assets_directory.string());
    return State(500, "unavailable");
  }
  return HttpResponse{200, {}, body.str(), it->second};
}

HttpResponse RelayService::WebViewer(const HttpRequest& req) {
  if (req.raw_path.find("..") != std::string::npos) return State(400, "invalid_path");
  const auto seg = PathSegments(req.path);
  if (seg.size() < 2 || seg[1].size() > 128) return State(404, "not_found");
  const std::string& token = seg[1];
  // Relative URLs need the trailing slash: /v/<token> -> /v/<token>/.
  if (seg.size() == 2 && req.raw_path.back() != '/') {
    HttpResponse r{308, {}, {}, "text/plain"};
    r.headers.emplace_back("Location", "/v/" + token + "/");
    return r;
  }
  const std::string file = seg.size() == 2 ? "index.html" : seg[2];
  if (seg.size() == 3 && file == "access-code") {
    if (req.method != "POST") return State(405, "method_not_allowed");
    return WebAccessCode(req, token);
  }
  if (req.method != "GET" && req.method != "HEAD") return State(405, "method_not_allowed");
  // The page itself is the same for every token: the link state is answered by summary.json.
  if (seg.size() <= 3 && file != "summary.json" && file != "series") return WebAsset(file);

  if (Throttled(req.client_address)) {
    HttpResponse r = State(429, "too_many_attempts");
    r.headers.emplace_back("Retry-After", "60");
    return r;
  }
  std::optional<std::string> code;
  const std::string token_hash = common::HexEncode(common::Sha256(token));
  if (auto id = CookieValue(req, kSessionCookie)) {
    const std::string key = common::HexEncode(common::Sha256(*id));
    std::lock_guard lock(mu_);
    auto it = sessions_.find(key);
    if (it != sessions_.end() && it->second.token_hash == token_hash &&
        it->second.expires_at > deps_.clock->SystemNow()) {
      code = it->second.access_code;
    }
  }
  auto study = Resolve(token, code);
  if (!study.ok()) {
    CountFailure(req.client_address);
    return StateOf(study.status());
  }
  auto layout = LayoutOf(*study);
  if (!layout.ok()) {
    deps_.logger->error("viewer.layout_failed link={} error=\"{}\"", study->link_id,
                        layout.status().ToString());
    return State(common::InfoFor(layout.status().code()).http_status, "unavailable");
  }
  if (seg.size() == 3 && file == "summary.json") {
    Log(*study, req, "open");
    return WebSummary(*study, **layout);
  }
  // series/<s>/thumbnail, series/<s>/instances/<i>/frames/<n>/rendered
  std::uint32_t s = 0, i = 0, n = 0;
  if (seg.size() < 5 || seg[2] != "series" || !ParseUint(seg[3], s) || s < 1 ||
      s > (*layout)->series.size()) {
    return State(404, "not_found");
  }
  const auto& series = (*layout)->series[s - 1];
  std::optional<std::size_t> instance;
  std::optional<std::uint32_t> frame;
  if (seg.size() == 5 && seg[4] == "thumbnail") {
    instance = series.sops.size() / 2;
  } else if (seg.size() == 9 && seg[4] == "instances" && ParseUint(seg[5], i) && i >= 1 &&
             i <= series.sops.size() && seg[6] == "frames" && ParseUint(seg[7], n) && n >= 1 &&
             seg[8] == "rendered") {
    instance = i - 1;
    frame = n - 1;
  }
  if (!instance) return State(404, "not_found");
  LogRendered(*study, req);
  return WebRender(*study, req, **layout, s - 1, *instance, frame);
}

void RelayService::LogRendered(const ReachableStudy& study, const HttpRequest& req) {
  // One access-log entry per batch of renders (a scroll through a stack), not per frame.
  const std::string key = std::to_string(study.link_id) + '\0' + req.client_address;
  const auto now = deps_.clock->SteadyNow();
  bool log = false;
  {
    std::lock_guard lock(mu_);
    auto [it, fresh] = render_logged_.try_emplace(key, now);
    if (fresh || now - it->second >= kRenderLogInterval) {
      it->second = now;
      log = true;
    }
  }
  if (log) Log(study, req, "rendered");
}

HttpResponse RelayService::DicomwebRendered(const ReachableStudy& study, const HttpRequest& req,
                                            const std::vector<std::string>& rest) {
  // studies/{st}/thumbnail
  // studies/{st}/series/{se}/thumbnail
  // studies/{st}/series/{se}/instances/{sop}/thumbnail
  // studies/{st}/series/{se}/instances/{sop}/frames/{n}/rendered   (one frame, PS3.18 8.3.5.1)
  // Study-, series- and instance-level rendered media (multi-part) are not offered.
  auto layout = LayoutOf(study);
  if (!layout.ok())
    return State(common::InfoFor(layout.status().code()).http_status, "unavailable");
  const auto& all = (*layout)->series;
  if (all.empty()) return State(404, "not_found");
  std::size_t si = 0;
  if (rest.size() >= 4) {
    if (rest[2] != "series") return State(404, "not_found");
    auto it = std::find_if(all.begin(), all.end(), [&](const auto& x) { return x.uid == rest[3]; });
    if (it == all.end()) return State(404, "not_found");
    si = static_cast<std::size_t>(it - all.begin());
  }
  const auto& series = all[si];
  std::size_t ii = series.sops.size() / 2;
  if (rest.size() >= 6) {
    if (rest[4] != "instances") return State(404, "not_found");
    auto it = std::find(series.sops.begin(), series.sops.end(), rest[5]);
    if (it == series.sops.end()) return State(404, "not_found");
    ii = static_cast<std::size_t>(it - series.sops.begin());
  }
  std::optional<std::uint32_t> frame;
  if (rest.size() == 9 && rest[6] == "frames" && rest[8] == "rendered") {
    std::uint32_t n = 0;
    if (!ParseUint(rest[7], n) || n < 1) {
      json body = json::object();
      body["error"] = json::string("bad_request");
      body["message"] = json::string("one frame number (1-based) per rendered request");
      return JsonAnswer(400, body);
    }
    frame = n - 1;
  } else if (!(rest.back() == "thumbnail" &&
               (rest.size() == 3 || rest.size() == 5 || rest.size() == 7))) {
    return State(404, "not_found");
  }
  LogRendered(study, req);
  return WebRender(study, req, **layout, si, ii, frame);
}

HttpResponse RelayService::WebAccessCode(const HttpRequest& req, const std::string& token) {
  if (Throttled(req.client_address)) {
    HttpResponse r = State(429, "too_many_attempts");
    r.headers.emplace_back("Retry-After", "60");
    return r;
  }
  std::string code;
  try {
    code = json::parse(req.body).at("code").as_string();
  } catch (const std::exception&) {
    return State(400, "bad_request");
  }
  if (code.empty() || code.size() > 256) return State(401, "access_code_wrong");
  auto study = deps_.store->ResolveLink(token, code);
  if (!study.ok()) {
    CountFailure(req.client_address);
    if (study.status().code() == common::ErrorCode::kUnauthenticated) {
      return State(401, "access_code_wrong");
    }
    return StateOf(study.status());
  }
  auto id = common::RandomBytes(32);
  if (!id.ok()) return State(500, "unavailable");
  const std::string session = common::HexEncode(*id);
  const auto now = deps_.clock->SystemNow();
  const auto expires = std::min(study->expires_at, now + options_.session_lifetime);
  {
    std::lock_guard lock(mu_);
    if (sessions_.size() >= 10000) {
      std::erase_if(sessions_, [&](const auto& e) { return e.second.expires_at <= now; });
      if (sessions_.size() >= 10000) sessions_.clear();
    }
    sessions_[common::HexEncode(common::Sha256(session))] =
        Session{common::HexEncode(common::Sha256(token)), code, expires};
  }
  Log(*study, req, "access_code_ok");
  const auto max_age = std::chrono::duration_cast<std::chrono::seconds>(expires - now).count();
  HttpResponse r{204, {}, {}, "text/plain"};
  r.headers.emplace_back("Set-Cookie",
                         std::string(kSessionCookie) + "=" + session + "; Path=/v/" + token +
                             "/; Max-Age=" + std::to_string(std::max<long>(max_age, 0)) +
                             "; HttpOnly; Secure; SameSite=Strict");
  return r;
}

common::Result<std::shared_ptr<const RelayService::StudyLayout>> RelayService::LayoutOf(
    const ReachableStudy& s) {
  {
    std::lock_guard lock(mu_);
    auto it = layouts_.find(s.study_uid);
    if (it != layouts_.end()) return it->second;
  }
  TSUNAGU_ASSIGN_OR_RETURN(auto instances, deps_.store->ListInstances(s.study_uid));
  if (instances.empty()) return common::NotFoundError("the study has no instances");
  auto layout = std::make_shared<StudyLayout>();
  layout->expires_at = s.expires_at;
  struct Entry {
    std::string sop;
    long number;
    std::uint32_t longest_side;
  };
  std::map<std::string, std::vector<Entry>> stacks;
  std::map<std::string, StudyLayout::Series> by_uid;
  for (const auto& inst : instances) {
    const json m = json::parse(inst.metadata_json);
    if (layout->study_date.empty()) {
      // The relay refuses a Patient ID longer than the retained digits (dicom_check), so this is
      // at most the last 4 characters; cut again in case the limit was configured higher.
      const std::string id = StringValue(m, "00100020");
      layout->patient_id_last4 = id.size() > 4 ? id.substr(id.size() - 4) : id;
      layout->study_date = StringValue(m, "00080020");
      layout->description = StringValue(m, "00081030");
    }
    auto& series = by_uid[inst.series_uid];
    if (series.uid.empty()) {
      series.uid = inst.series_uid;
      series.number = NumberValue(m, "00200011");
      series.modality = StringValue(m, "00080060");
      series.description = StringValue(m, "0008103E");
    }
    const long side = std::max(NumberValue(m, "00280010"), NumberValue(m, "00280011"));
    stacks[inst.series_uid].push_back(
        {inst.sop_uid, NumberValue(m, "00200013"), static_cast<std::uint32_t>(std::max(side, 0L))});
  }
  for (auto& [uid, series] : by_uid) {
    auto& stack = stacks[uid];
    std::sort(stack.begin(), stack.end(), [](const Entry& a, const Entry& b) {
      return a.number != b.number ? a.number < b.number : a.sop < b.sop;
    });
    for (const auto& e : stack) {
      series.sops.push_back(e.sop);
      series.longest_side.push_back(e.longest_side);
    }
    layout->series.push_back(std::move(series));
  }
  std::sort(layout->series.begin(), layout->series.end(), [](const auto& a, const auto& b) {
    return a.number != b.number ? a.number < b.number : a.uid < b.uid;
  });
  std::lock_guard lock(mu_);
  if (layouts_.size() >= 1000) layouts_.clear();
  layouts_[s.study_uid] = layout;
  return std::shared_ptr<const StudyLayout>(layout);
}

RelayService::SourcePool::~SourcePool() = default;

common::Result<std::shared_ptr<const std::string>> RelayService::InstanceBytes(
    const ReachableStudy& s, const std::string& sop) {
  TSUNAGU_ASSIGN_OR_RETURN(CachedInstance instance, InstanceOf(s, sop));
  return std::move(instance.bytes);
}

common::Result<RelayService::CachedInstance> RelayService::InstanceOf(const ReachableStudy& s,
                                                                      const std::string& sop) {
  const std::string key = s.study_uid + '\0' + sop;
  {
    std::lock_guard lock(mu_);
    auto it = instance_cache_.find(key);
    if (it != instance_cache_.end()) return it->second;
  }
  TSUNAGU_ASSIGN_OR_RETURN(std::string plain, deps_.store->ReadInstance(s.study_uid, sop));
  CachedInstance fresh{std::make_shared<const std::string>(std::move(plain)), s.expires_at,
                       std::make_shared<SourcePool>()};
  const auto& bytes = fresh.bytes;
  std::lock_guard lock(mu_);
  if (auto it = instance_cache_.find(key); it != instance_cache_.end()) return it->second;
  if (bytes->size() <= options_.render_cache_bytes) {
    instance_cache_[key] = fresh;
    instance_cache_order_.push_back(key);
    instance_cache_bytes_ += bytes->size();
    std::size_t drop = 0;
    while (instance_cache_bytes_ > options_.render_cache_bytes &&
           drop < instance_cache_order_.size()) {
      auto victim = instance_cache_.find(instance_cache_order_[drop++]);
      if (victim == instance_cache_.end()) continue;
      instance_cache_bytes_ -= victim->second.bytes->size();
      instance_cache_.erase(victim);
    }
    instance_cache_order_.erase(instance_cache_order_.begin(),
                                instance_cache_order_.begin() + static_cast<long>(drop));
  }
  return fresh;
}

HttpResponse RelayService::WebSummary(const ReachableStudy& study, const StudyLayout& layout) {
  auto series = SummarySeries(study, layout);
  if (!series.ok()) {
    return State(common::InfoFor(series.status().code()).http_status, "unavailable");
  }
  // The link's expiry and the configured presets are added per request; the series list (the
  // costly part: every instance opened) comes from the render cache.
  json s = json::object();
  s["patient_id_last4"] = json::string(layout.patient_id_last4);
  s["study_date"] = json::string(layout.study_date);
  s["description"] = json::string(layout.description);
  s["expires_at"] = json::string(Iso8601(study.expires_at));
  json presets = json::object();
  for (const auto& [modality, list] : options_.window_presets) {
    json arr = json::array();
    for (const auto& p : list) {
      json j = json::object();
      j["name"] = json::string(p.name);
      j["center"] = json::number(p.center);
      j["width"] = json::number(p.width);
      arr[arr.size()] = j;
    }
    presets[modality] = arr;
  }
  std::string body = "{\"version\":1,\"study\":" + s.serialize() +
                     ",\"presets\":" + presets.serialize() + ",\"series\":";
  body += **series;
  body += '}';
  return HttpResponse{200, {}, std::move(body)};
}

common::Result<std::shared_ptr<const std::string>> RelayService::SummarySeries(
    const ReachableStudy& study, const StudyLayout& layout) {
  constexpr char kName[] = "summary-series-v2";
  if (auto hit = render_cache_.Get(study.study_uid, kName, study.expires_at)) return hit;
  // One computation at a time: a request that arrives while the commit's preparation computes
  // this study's summary waits for it and then finds it in the cache.
  std::lock_guard serial(summary_mu_);
  if (auto hit = render_cache_.Get(study.study_uid, kName, study.expires_at)) return hit;
  json series_list = json::array();
  for (std::size_t si = 0; si < layout.series.size(); ++si) {
    const auto& series = layout.series[si];
    const std::string series_url = "series/" + std::to_string(si + 1);
    json images = json::array();
    std::uint64_t frame_count = 0;
    for (std::size_t ii = 0; ii < series.sops.size(); ++ii) {
      TSUNAGU_ASSIGN_OR_RETURN(auto bytes, InstanceBytes(study, series.sops[ii]));
      auto source = viewer::FrameSource::Open(std::make_shared<viewer::MemoryDicomReader>(bytes));
      json img = json::object();
      img["url"] = json::string(series_url + "/instances/" + std::to_string(ii + 1));
      if (!source.ok()) {
        // Not renderable (e.g. a structured report): listed without frames so the strip can say
        // so, never a failed summary.
        deps_.logger->warn("viewer.not_renderable link={} series={} instance={} error=\"{}\"",
                           study.link_id, si + 1, ii + 1, source.status().message());
        img["frames"] = json::number(0);
        images[images.size()] = img;
        continue;
      }
      const viewer::FrameInfo& info = (*source)->Describe();
      frame_count += info.frames;
      img["frames"] = json::number(static_cast<std::uint64_t>(info.frames));
      img["rows"] = json::number(static_cast<std::uint64_t>(info.rows));
      img["columns"] = json::number(static_cast<std::uint64_t>(info.columns));
      if (info.pixel_spacing) {
        img["pixel_spacing"] = json::array(
            {Number(info.pixel_spacing->row_mm), Number(info.pixel_spacing->column_mm)});
        img["spacing_kind"] = json::string(info.pixel_spacing->imager ? "imager" : "pixel");
      } else {
        img["pixel_spacing"] = json::null();
        img["spacing_kind"] = json::null();
      }
      if (info.orientation) {
        json o = json::array();
        for (double v : *info.orientation) o[o.size()] = Number(v);
        img["orientation"] = o;
      }
      if (info.position) {
        json p = json::array();
        for (double v : *info.position) p[p.size()] = Number(v);
        img["position"] = p;
      }
      if (!info.frame_positions.empty()) {
        json fp = json::array();
        for (const auto& pos : info.frame_positions) {
          fp[fp.size()] = json::array({Number(pos[0]), Number(pos[1]), Number(pos[2])});
        }
        img["frame_positions"] = fp;
      }
      if (info.frame_time_ms) img["frame_time_ms"] = Number(*info.frame_time_ms);
      if (info.grayscale) {
        std::optional<viewer::Window> window;
        if (!info.windows.empty()) {
          window = info.windows.front();
        } else if (ii == 0) {
          // No window in the file: the one the renderer computes (full range or histogram). The
          // viewer uses the first image's window for the whole series, so only that one is
          // computed (rendering every frame here would make the summary slow).
          viewer::RenderParams params;
          params.max_size = 64;
          auto first = (*source)->RenderJpeg(0, params);
          if (first.ok()) window = first->window;
        }
        if (window) {
          json w = json::object();
          w["center"] = Number(window->center);
          w["width"] = Number(window->width);
          // The file's VOI LUT Function (0028,1056) applies to its windows; a computed window is
          // linear.
          w["function"] =
              json::string(info.windows.empty() ? "linear" : VoiFunctionName(info.voi_function));
          img["window"] = w;
        }
      }
      images[images.size()] = img;
    }
    json j = json::object();
    j["uid"] = json::string(series.uid);
    j["number"] = json::number(static_cast<std::int64_t>(series.number));
    j["modality"] = json::string(series.modality);
    j["description"] = json::string(series.description);
    j["frame_count"] = json::number(frame_count);
    j["thumbnail_url"] = json::string(series_url + "/thumbnail");
    j["images"] = images;
    series_list[series_list.size()] = j;
  }
  auto out = std::make_shared<const std::string>(series_list.serialize());
  render_cache_.Put(study.study_uid, kName, out, study.expires_at, /*persist=*/true);
  return std::shared_ptr<const std::string>(out);
}

HttpResponse RelayService::WebRender(const ReachableStudy& study, const HttpRequest& req,
                                     const StudyLayout& layout, std::size_t series,
                                     std::size_t instance, std::optional<std::uint32_t> frame) {
  viewer::RenderParams params;
  if (frame) {
    const std::string error = ParseRenderParams(req, params);
    if (!error.empty()) {
      json body = json::object();
      body["error"] = json::string("bad_request");
      body["message"] = json::string(error);
      return JsonAnswer(400, body);
    }
  }
  auto jpeg = RenderCached(study, layout, series, instance, frame, params);
  if (!jpeg.ok()) {
    switch (jpeg.status().code()) {
      case common::ErrorCode::kNotFound:
        return State(404, "not_found");
      case common::ErrorCode::kInvalidArgument:
        return State(422, "not_renderable");
      default:
        return State(common::InfoFor(jpeg.status().code()).http_status, "unavailable");
    }
  }
  const std::string& bytes = **jpeg;
  // A validator, not a security property: a 64-bit hash of the bytes and their length (SHA-256
  // of every answer, cache hits included, was a tenth of the relay's CPU per render).
  char tag[40];
  std::snprintf(tag, sizeof tag, "\"%016zx-%zx\"", std::hash<std::string_view>{}(bytes),
                bytes.size());
  const std::string etag = tag;
  if (req.Header("if-none-match") == etag) {
    HttpResponse r{304, {}, {}, "image/jpeg"};
    r.headers.emplace_back("ETag", etag);
    return r;
  }
  // Sent from the cached bytes without a copy.
  HttpResponse r{200, {}, {}, "image/jpeg"};
  r.shared_body = *jpeg;
  r.headers.emplace_back("ETag", etag);
  return r;
}

namespace {

std::string FormatNumber(double v) {
  char buf[32];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, p) : std::to_string(v);
}

bool SameWindow(const viewer::Window& a, double center, double width) {
  return std::abs(a.center - center) < 1e-6 && std::abs(a.width - width) < 1e-6;
}

}  // namespace

common::Result<std::shared_ptr<const std::string>> RelayService::RenderCached(
    const ReachableStudy& study, const StudyLayout& layout, std::size_t series,
    std::size_t instance, std::optional<std::uint32_t> frame, const viewer::RenderParams& params) {
  const auto& s = layout.series[series];
  const std::string& sop = s.sops[instance];
  // The cache name holds every parameter that changes the output. A viewport at least as large
  // as the image changes nothing (images are only shrunk), so phones and desktops share renders.
  std::string name;
  viewer::RenderParams effective = params;
  if (frame) {
    const std::uint32_t side = s.longest_side[instance];
    if (side != 0 && effective.max_size >= side) effective.max_size = 0;
    name = "render-v1|" + sop + "|" + std::to_string(*frame) + "|q" +
           std::to_string(effective.quality) + "|m" + std::to_string(effective.max_size);
    if (effective.window) {
      name += "|w" + FormatNumber(effective.window->center) + "," +
              FormatNumber(effective.window->width);
    }
    if (effective.voi_function) {
      name += "|f" + std::to_string(static_cast<int>(*effective.voi_function));
    }
  } else {
    name = "thumbnail-v1|" + sop;
  }
  // Only renders with the file's window or a configured preset are persisted (below): for any
  // other window (a drag) the store is not asked, once the instance's windows are known.
  bool ask_store = true;
  if (frame && effective.window && !IsPreset(s.modality, *effective.window)) {
    std::shared_ptr<SourcePool> known;
    {
      std::lock_guard lock(mu_);
      auto it = instance_cache_.find(study.study_uid + '\0' + sop);
      if (it != instance_cache_.end()) known = it->second.sources;
    }
    if (known) {
      std::lock_guard lock(known->mu);
      if (known->windows) {
        const double c = effective.window->center, w = effective.window->width;
        ask_store = std::any_of(known->windows->begin(), known->windows->end(),
                                [&](const viewer::Window& x) { return SameWindow(x, c, w); });
      }
    }
  }
  if (auto hit = render_cache_.Get(study.study_uid, name, study.expires_at, ask_store)) return hit;

  TSUNAGU_ASSIGN_OR_RETURN(CachedInstance cached, InstanceOf(study, sop));
  SourcePool& pool = *cached.sources;
  std::unique_ptr<viewer::FrameSource> source;
  {
    std::lock_guard lock(pool.mu);
    if (!pool.idle.empty()) {
      source = std::move(pool.idle.back());
      pool.idle.pop_back();
    }
  }
  if (!source) {
    TSUNAGU_ASSIGN_OR_RETURN(
        source,
        viewer::FrameSource::Open(std::make_shared<viewer::MemoryDicomReader>(cached.bytes)));
    std::lock_guard lock(pool.mu);
    if (!pool.windows) pool.windows = source->Describe().windows;
  }
  // Given back on every path; at most two idle per instance (two cores render one slice at once
  // at most in practice, and each holds a parsed header).
  struct GiveBack {
    SourcePool& pool;
    std::unique_ptr<viewer::FrameSource>& source;
    ~GiveBack() {
      std::lock_guard lock(pool.mu);
      if (source && pool.idle.size() < 2) pool.idle.push_back(std::move(source));
    }
  } give_back{pool, source};
  std::string jpeg;
  bool persist = true;
  if (frame) {
    const viewer::FrameInfo& info = source->Describe();
    if (*frame >= info.frames) return common::NotFoundError("no such frame");
    auto rendered = source->RenderJpeg(*frame, effective);
    if (!rendered.ok()) {
      deps_.logger->warn("viewer.render_failed link={} error=\"{}\"", study.link_id,
                         rendered.status().message());
      return common::InvalidArgumentError("not renderable");
    }
    jpeg = std::move(rendered->jpeg);
    // Kept with the study: renders with the file's window or a configured preset (what every
    // viewer of the study asks for). Windows from a drag stay in memory only.
    if (effective.window) {
      const double c = effective.window->center, w = effective.window->width;
      persist = std::any_of(info.windows.begin(), info.windows.end(),
                            [&](const viewer::Window& x) { return SameWindow(x, c, w); });
      if (!persist) persist = IsPreset(info.modality, *effective.window);
    }
  } else {
    auto thumbnail = source->Thumbnail(128, 80);
    if (!thumbnail.ok()) return common::InvalidArgumentError("not renderable");
    jpeg = std::move(*thumbnail);
  }
  auto out = std::make_shared<const std::string>(std::move(jpeg));
  render_cache_.Put(study.study_uid, name, out, study.expires_at, persist);
  return std::shared_ptr<const std::string>(out);
}

bool RelayService::IsPreset(const std::string& modality, const viewer::Window& window) const {
  auto it = options_.window_presets.find(modality);
  if (it == options_.window_presets.end()) return false;
  return std::any_of(it->second.begin(), it->second.end(), [&](const ViewerPreset& p) {
    return SameWindow(window, static_cast<double>(p.center), static_cast<double>(p.width));
  });
}

// ---------------------------------------------------------------- preparation after a commit

RelayService::~RelayService() {
  {
    std::lock_guard lock(prepare_mu_);
    prepare_stop_ = true;
  }
  prepare_cv_.notify_all();
  if (prepare_thread_.joinable()) prepare_thread_.join();
}

void RelayService::PrepareViewer(const std::string& study_uid,
                                 std::chrono::system_clock::time_point expires) {
  std::lock_guard lock(prepare_mu_);
  if (prepare_stop_ || prepare_queue_.size() >= 1000) return;
  prepare_queue_.push_back(ReachableStudy{study_uid, expires, 0});
  if (!prepare_thread_.joinable()) prepare_thread_ = std::thread([this] { PrepareLoop(); });
  prepare_cv_.notify_one();
}

void RelayService::PrepareLoop() {
  for (;;) {
    ReachableStudy study;
    {
      std::unique_lock lock(prepare_mu_);
      prepare_cv_.wait(lock, [&] { return prepare_stop_ || !prepare_queue_.empty(); });
      if (prepare_stop_) return;
      study = std::move(prepare_queue_.front());
      prepare_queue_.pop_front();
    }
    try {
      Prepare(study);
    } catch (const std::exception& e) {
      // A failed preparation only means the first open computes what is missing.
      deps_.logger->warn("viewer.prepare_failed error=\"{}\"", e.what());
    }
  }
}

void RelayService::Prepare(const ReachableStudy& study) {
  const auto started = std::chrono::steady_clock::now();
  auto layout = LayoutOf(study);
  if (!layout.ok()) return;  // expired or emptied meanwhile: nothing to prepare
  auto series = SummarySeries(study, **layout);
  if (!series.ok()) {
    deps_.logger->warn("viewer.prepare_failed error=\"{}\"", series.status().ToString());
    return;
  }
  // What the web viewer asks for first: every series' thumbnail, and the first image of every
  // series with the window summary.json gives it (viewer.js: quality 90, the series' first window
  // sent as CENTER,WIDTH,linear; a viewport at least the image's size).
  json parsed;
  try {
    parsed = json::parse(**series);
  } catch (const std::exception&) {
    return;
  }
  int rendered = 0;
  for (std::size_t si = 0; si < (*layout)->series.size() && si < parsed.size(); ++si) {
    (void)RenderCached(study, **layout, si, (*layout)->series[si].sops.size() / 2, std::nullopt,
                       viewer::RenderParams{});
    const json& images = parsed.at(si).at("images");
    if (images.size() == 0) continue;
    const json& first = images.at(0);
    viewer::RenderParams params;
    params.quality = 90;
    params.max_size = 8192;  // normalised to the native size for images up to 8192 pixels
    if (first.has_field("window")) {
      params.window = viewer::Window{first.at("window").at("center").as_double(),
                                     first.at("window").at("width").as_double()};
      params.voi_function = viewer::VoiFunction::kLinear;
      if (first.at("window").has_field("function")) {
        params.voi_function = VoiFunctionFromName(first.at("window").at("function").as_string())
                                  .value_or(viewer::VoiFunction::kLinear);
      }
    }
    if (RenderCached(study, **layout, si, 0, 0, params).ok()) ++rendered;
  }
  deps_.logger->info("viewer.prepared series={} first_images={} ms={}", (*layout)->series.size(),
                     rendered,
                     std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::steady_clock::now() - started)
                         .count());
}

}  // namespace tsunagu::relay
