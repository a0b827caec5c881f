#include "chat_thumbnails.h"

#include <cpprest/json.h>
#include <sqlite3.h>

#include <map>
#include <vector>

#include "tsunagu/common/crypto.h"
#include "tsunagu/viewer/dicom_reader.h"
#include "tsunagu/viewer/frame_source.h"

namespace tsunagu::relay {
namespace {

constexpr std::size_t kMaxSize = 256;
constexpr int kQuality = 80;

HttpResponse Answer(int status, std::string_view code, std::string_view message) {
  web::json::value v = web::json::value::object();
  v["code"] = web::json::value::string(std::string(code));
  v["message"] = web::json::value::string(std::string(message));
  return HttpResponse{status, {}, v.serialize()};
}

bool IsUid(const std::string& s) {
  return !s.empty() && s.size() <= 64 && s.find_first_not_of("0123456789.") == std::string::npos;
}

bool IsToken(const std::string& s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

}  // namespace

common::Result<std::unique_ptr<ChatThumbnails>> ChatThumbnails::Open(
    const std::filesystem::path& db_path, std::shared_ptr<retention::StudyStore> store,
    std::string public_url, std::shared_ptr<spdlog::logger> log) {
  std::unique_ptr<ChatThumbnails> t(new ChatThumbnails());
  t->db_path_ = db_path;
  t->store_ = std::move(store);
  t->public_url_ = std::move(public_url);
  t->log_ = std::move(log);
  // An existing table is opened now, so a broken file is reported at start; a relay that never
  // minted a thumbnail creates nothing in its data directory.
  if (std::filesystem::exists(db_path)) {
    std::lock_guard lock(t->mu_);
    TSUNAGU_RETURN_IF_ERROR(t->OpenDbLocked());
  }
  return t;
}

common::Status ChatThumbnails::OpenDbLocked() {
  if (db_ != nullptr) return common::Status();
  int rc =
      sqlite3_open_v2(db_path_.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc == SQLITE_OK) {
    sqlite3_busy_timeout(db_, 5000);
    rc = sqlite3_exec(db_,
                      "CREATE TABLE IF NOT EXISTS chat_thumbnails(token_sha256 TEXT PRIMARY KEY,"
                      " study_uid TEXT NOT NULL)",
                      nullptr, nullptr, nullptr);
  }
  if (rc != SQLITE_OK) {
    const std::string why = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    return common::UnavailableError("chat thumbnails: " + db_path_.string() + ": " + why);
  }
  return common::Status();
}

ChatThumbnails::~ChatThumbnails() { sqlite3_close(db_); }

std::optional<HttpResponse> ChatThumbnails::HandleUpload(const HttpRequest& req) {
  constexpr std::string_view kPrefix = "/v1/studies/";
  constexpr std::string_view kSuffix = "/thumbnail-link";
  const std::string& p = req.path;
  if (p.size() <= kPrefix.size() + kSuffix.size() || p.rfind(kPrefix, 0) != 0 ||
      p.compare(p.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0) {
    return std::nullopt;
  }
  if (req.method != "POST") return Answer(405, "invalid_argument", "method not allowed");
  const std::string study = p.substr(kPrefix.size(), p.size() - kPrefix.size() - kSuffix.size());
  if (!IsUid(study)) {
    return Answer(400, "invalid_argument", "the study UID in the path is not a valid UID");
  }
  return Mint(study);
}

std::optional<HttpResponse> ChatThumbnails::HandleViewer(const HttpRequest& req) {
  constexpr std::string_view kPrefix = "/thumb/";
  if (req.path.rfind(kPrefix, 0) != 0) return std::nullopt;
  std::string token = req.path.substr(kPrefix.size());
  if (token.size() > 4 && token.compare(token.size() - 4, 4, ".jpg") == 0) {
    token.resize(token.size() - 4);
  }
  HttpResponse r = (req.method == "GET" || req.method == "HEAD")
                       ? (IsToken(token) ? Serve(token) : Answer(404, "not_found", "unknown"))
                       : Answer(405, "invalid_argument", "method not allowed");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Content-Security-Policy", "default-src 'none'");
  r.headers.emplace_back("Strict-Transport-Security", "max-age=31536000");
  return r;
}

HttpResponse ChatThumbnails::Mint(const std::string& study) {
  auto instances = store_->ListInstances(study);
  if (!instances.ok() || instances->empty()) {
    return Answer(404, "not_found", "no committed study with this UID");
  }
  auto random = common::RandomBytes(32);
  if (!random.ok()) return Answer(500, "internal", "no randomness");
  const std::string token = common::HexEncode(*random);
  {
    std::lock_guard lock(mu_);
    if (const auto st = OpenDbLocked(); !st.ok()) {
      log_->error("chat.thumbnail_mint_failed error=\"{}\"", st.message());
      return Answer(503, "unavailable", "the thumbnail link could not be stored");
    }
    sqlite3_stmt* s = nullptr;
    int rc = sqlite3_prepare_v2(
        db_, "INSERT INTO chat_thumbnails(token_sha256, study_uid) VALUES(?, ?)", -1, &s, nullptr);
    if (rc == SQLITE_OK) {
      const std::string hash = common::HexEncode(common::Sha256(token));
      sqlite3_bind_text(s, 1, hash.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(s, 2, study.c_str(), -1, SQLITE_TRANSIENT);
      rc = sqlite3_step(s);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
      log_->error("chat.thumbnail_mint_failed error=\"{}\"", sqlite3_errmsg(db_));
      return Answer(503, "unavailable", "the thumbnail link could not be stored");
    }
  }
  web::json::value v = web::json::value::object();
  v["thumbnail_url"] = web::json::value::string(public_url_ + "/thumb/" + token + ".jpg");
  return HttpResponse{200, {}, v.serialize()};
}

HttpResponse ChatThumbnails::Serve(const std::string& token) {
  std::string study;
  {
    std::lock_guard lock(mu_);
    if (db_ == nullptr && !std::filesystem::exists(db_path_)) {
      return Answer(404, "not_found", "unknown");
    }
    if (!OpenDbLocked().ok()) return Answer(503, "unavailable", "try again later");
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, "SELECT study_uid FROM chat_thumbnails WHERE token_sha256 = ?", -1,
                           &s, nullptr) == SQLITE_OK) {
      const std::string hash = common::HexEncode(common::Sha256(token));
      sqlite3_bind_text(s, 1, hash.c_str(), -1, SQLITE_TRANSIENT);
      if (sqlite3_step(s) == SQLITE_ROW) {
        study = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
      }
    }
    sqlite3_finalize(s);
  }
  if (study.empty()) return Answer(404, "not_found", "unknown");
  auto instances = store_->ListInstances(study);
  if (!instances.ok() || instances->empty()) return Answer(410, "not_found", "expired");
  // The middle image of the first series, in the order the store lists them.
  std::vector<const retention::StoredInstance*> first;
  for (const auto& i : *instances) {
    if (i.series_uid == instances->front().series_uid) first.push_back(&i);
  }
  const std::string& sop = first[first.size() / 2]->sop_uid;
  auto bytes = store_->ReadInstance(study, sop);
  if (!bytes.ok()) return Answer(410, "not_found", "expired");
  auto source =
      viewer::FrameSource::Open(std::make_shared<viewer::MemoryDicomReader>(std::move(*bytes)));
  if (!source.ok()) return Answer(422, "not_renderable", "no image to show");
  auto jpeg = (*source)->Thumbnail(kMaxSize, kQuality);
  if (!jpeg.ok()) return Answer(422, "not_renderable", "no image to show");
  HttpResponse r{200, {}, std::move(*jpeg), "image/jpeg"};
  r.headers.emplace_back("Cache-Control", "private, max-age=300");
  return r;
}

}  // namespace tsunagu::relay
