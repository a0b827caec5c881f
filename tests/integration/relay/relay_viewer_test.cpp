// The web viewer served by the real tsunagu-relay process over real TLS on 127.0.0.1: a small
// synthetic CT (samples/generate_study.py) de-identified by the real tsunagu-anonymize, uploaded
// and committed by the real RelayClient, then opened under /v/<token>/ as the page does
// (viewer-lib/web/README.md).
#include <cpprest/json.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <regex>
#include <thread>

#include "relay_viewer_fixture.h"

namespace tsunagu::relay {
namespace {

using testing::HttpReply;
using testing::RelayViewerTest;
using json = web::json::value;
constexpr const char* kCsp = testing::kViewerCsp;

// Width and height from a JPEG's SOFn segment; {0, 0} when there is none.
std::pair<int, int> JpegSize(const std::string& j) {
  std::size_t i = 2;
  while (i + 9 < j.size()) {
    if (static_cast<unsigned char>(j[i]) != 0xFF) return {0, 0};
    const unsigned char marker = static_cast<unsigned char>(j[i + 1]);
    const int length =
        (static_cast<unsigned char>(j[i + 2]) << 8) | static_cast<unsigned char>(j[i + 3]);
    if (marker >= 0xC0 && marker <= 0xC3) {
      const int h =
          (static_cast<unsigned char>(j[i + 5]) << 8) | static_cast<unsigned char>(j[i + 6]);
      const int w =
          (static_cast<unsigned char>(j[i + 7]) << 8) | static_cast<unsigned char>(j[i + 8]);
      return {w, h};
    }
    i += 2 + static_cast<std::size_t>(length);
  }
  return {0, 0};
}

bool IsJpeg(const std::string& b) {
  return b.size() > 4 && b.compare(0, 3, "\xFF\xD8\xFF") == 0 &&
         b.compare(b.size() - 2, 2, "\xFF\xD9") == 0;
}

TEST_F(RelayViewerTest, ServesThePageSummaryRenderedFramesAndThumbnail) {
  StartRelay();
  const std::string token = UploadAndCommit();
  ASSERT_FALSE(token.empty());
  const std::string base = "/v/" + token + "/";

  // The link as posted in chat (no trailing slash) goes to the page, whose URLs are relative.
  HttpReply r = View("/v/" + token);
  EXPECT_EQ(r.status, 308);
  EXPECT_EQ(r.headers["location"], base);

  r = View(base);
  ASSERT_EQ(r.status, 200) << r.error << r.body;
  EXPECT_EQ(r.body, testing::ReadFile(TSUNAGU_VIEWER_ASSETS "/index.html"));
  EXPECT_EQ(r.headers["content-type"], "text/html; charset=utf-8");
  EXPECT_EQ(r.headers["content-security-policy"], kCsp);
  EXPECT_EQ(r.headers["referrer-policy"], "no-referrer");
  EXPECT_EQ(r.headers["cache-control"], "private, no-store");
  for (const char* f : {"viewer.js", "i18n.js", "geometry.js", "viewer.css"}) {
    r = View(base + f);
    EXPECT_EQ(r.status, 200) << f;
    EXPECT_EQ(r.body, testing::ReadFile(std::string(TSUNAGU_VIEWER_ASSETS "/") + f)) << f;
  }
  EXPECT_EQ(View(base + "viewer.js").headers["content-type"], "text/javascript; charset=utf-8");
  EXPECT_EQ(View(base + "README.md").status, 404);
  EXPECT_EQ(View(base + "..%2Frelay.toml").status, 400);

  r = View(base + "summary.json");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["cache-control"], "private, no-store");
  const json summary = json::parse(r.body);
  EXPECT_EQ(summary.at("version").as_integer(), 1);
  const json& study = summary.at("study");
  EXPECT_EQ(study.at("patient_id_last4").as_string(), "5678");
  EXPECT_EQ(study.at("study_date").as_string(), instances_[0].study_date);
  EXPECT_TRUE(std::regex_match(study.at("expires_at").as_string(),
                               std::regex("^20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-9:]{8}Z$")))
      << study.at("expires_at").as_string();
  const json& ct = summary.at("presets").at("CT");
  ASSERT_EQ(ct.size(), 5u);
  EXPECT_EQ(ct.at(0).at("name").as_string(), "brain");
  EXPECT_EQ(ct.at(0).at("center").as_integer(), 40);
  EXPECT_EQ(ct.at(0).at("width").as_integer(), 80);
  ASSERT_EQ(summary.at("series").size(), 1u);
  const json& series = summary.at("series").at(0);
  EXPECT_EQ(series.at("modality").as_string(), "CT");
  EXPECT_EQ(series.at("frame_count").as_integer(), 5);
  EXPECT_EQ(series.at("thumbnail_url").as_string(), "series/1/thumbnail");
  const json& images = series.at("images");
  ASSERT_EQ(images.size(), 5u);
  std::vector<double> z;
  for (std::size_t i = 0; i < images.size(); ++i) {
    const json& img = images.at(i);
    EXPECT_EQ(img.at("url").as_string(), "series/1/instances/" + std::to_string(i + 1));
    EXPECT_EQ(img.at("frames").as_integer(), 1);
    EXPECT_EQ(img.at("rows").as_integer(), 128);
    EXPECT_EQ(img.at("columns").as_integer(), 128);
    ASSERT_TRUE(img.at("pixel_spacing").is_array());
    EXPECT_GT(img.at("pixel_spacing").at(0).as_double(), 0);
    EXPECT_EQ(img.at("spacing_kind").as_string(), "pixel");
    EXPECT_EQ(img.at("orientation").size(), 6u);
    ASSERT_EQ(img.at("position").size(), 3u);
    z.push_back(img.at("position").at(2).as_double());
    EXPECT_GE(img.at("window").at("width").as_double(), 1);
    EXPECT_EQ(img.at("window").at("function").as_string(), "linear");
    EXPECT_FALSE(img.has_field("frame_time_ms"));
  }
  // Stack order: five distinct slice positions.
  std::sort(z.begin(), z.end());
  EXPECT_EQ(std::unique(z.begin(), z.end()), z.end());

  // A rendered frame at the asked window, quality and viewport.
  const std::string frame = base + "series/1/instances/3/frames/1/rendered";
  r = View(frame + "?window=40,400,linear&quality=80&viewport=64,48");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["content-type"], "image/jpeg");
  EXPECT_TRUE(IsJpeg(r.body));
  EXPECT_EQ(JpegSize(r.body), std::make_pair(64, 64));
  EXPECT_EQ(r.headers["cache-control"], "private, no-store");
  const std::string etag = r.headers["etag"];
  ASSERT_FALSE(etag.empty());
  const std::string narrow = r.body;
  // Same render again: not modified; another window: other pixels, another ETag.
  r = View(frame + "?window=40,400,linear&quality=80&viewport=64,48", {{"If-None-Match", etag}});
  EXPECT_EQ(r.status, 304);
  r = View(frame + "?window=40,2000&quality=80&viewport=64,48");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.headers["etag"], etag);
  EXPECT_NE(r.body, narrow);
  // Without parameters: the default window at native size.
  r = View(frame);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(JpegSize(r.body), std::make_pair(128, 128));

  r = View(base + "series/1/thumbnail");
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(IsJpeg(r.body));
  const auto thumb = JpegSize(r.body);
  EXPECT_EQ(std::max(thumb.first, thumb.second), 128);

  EXPECT_EQ(View(base + "series/1/instances/1/frames/2/rendered").status, 404);
  EXPECT_EQ(View(base + "series/1/instances/6/frames/1/rendered").status, 404);
  EXPECT_EQ(View(base + "series/2/thumbnail").status, 404);
  EXPECT_EQ(View(frame + "?window=40,0").status, 400);
  EXPECT_EQ(View(frame + "?quality=101").status, 400);

  // Opens and render batches are in the access log; no image content, no UIDs of instances.
  const std::string audit = AuditUntil("rendered");
  EXPECT_NE(audit.find("event=open"), std::string::npos) << audit;
  EXPECT_NE(audit.find("event=rendered"), std::string::npos) << audit;
  EXPECT_EQ(audit.find(instances_[0].sop_uid), std::string::npos) << audit;
}

TEST_F(RelayViewerTest, AnswersExpiredRevokedAndUnknownLinkStates) {
  StartRelay();
  const std::string token = UploadAndCommit();
  ASSERT_FALSE(token.empty());
  HttpReply r = View("/v/" + token + "/summary.json");
  ASSERT_EQ(r.status, 200);

  // The page itself is served for any token; summary.json carries the state.
  r = View("/v/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/");
  EXPECT_EQ(r.status, 200);
  r = View("/v/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/summary.json");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(ErrorOf(r), "not_found");

  const auto [status, out] = relay_->Command("revoke " + instances_[0].study_uid);
  ASSERT_EQ(status, 0) << out;
  // The relay caches a resolved link for at most links.revocation_cache (1 s in these tests).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  do {
    r = View("/v/" + token + "/summary.json");
    if (r.status == 403) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  } while (std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(ErrorOf(r), "revoked");
  EXPECT_EQ(r.headers["content-security-policy"], kCsp);
  EXPECT_EQ(View("/v/" + token + "/series/1/thumbnail").status, 403);
}

TEST_F(RelayViewerTest, ExpiredLinkAnswersGone) {
  StartRelay();
  const std::string token = UploadAndCommit(std::nullopt, std::chrono::seconds(2));
  ASSERT_FALSE(token.empty());
  HttpReply r = View("/v/" + token + "/summary.json");
  ASSERT_EQ(r.status, 200);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(8);
  do {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    r = View("/v/" + token + "/summary.json");
  } while (r.status == 200 && std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(r.status, 410) << r.body;
  EXPECT_EQ(ErrorOf(r), "expired");
  EXPECT_EQ(View("/v/" + token + "/series/1/instances/1/frames/1/rendered").status, 410);
}

TEST_F(RelayViewerTest, AccessCodeOpensASessionAndWrongCodesLockTheLink) {
  StartRelay();
  const std::string token = UploadAndCommit("4321");
  ASSERT_FALSE(token.empty());
  const std::string base = "/v/" + token + "/";
  HttpReply r = View(base + "summary.json");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(ErrorOf(r), "access_code_required");
  EXPECT_EQ(View(base + "series/1/thumbnail").status, 401);

  r = PostCode(token, "4321");
  ASSERT_EQ(r.status, 204) << r.body;
  const std::string cookie_header = r.headers["set-cookie"];
  const std::regex cookie_re("^tsunagu_session=([0-9a-f]{64}); Path=/v/" + token +
                             "/; Max-Age=([0-9]+); HttpOnly; Secure; SameSite=Strict$");
  std::smatch m;
  ASSERT_TRUE(std::regex_match(cookie_header, m, cookie_re)) << cookie_header;
  const long max_age = std::stol(m[2]);
  EXPECT_GT(max_age, 0);
  EXPECT_LE(max_age, 12 * 3600);  // the session ends with the study or sooner
  const std::map<std::string, std::string> cookie = {{"Cookie", "tsunagu_session=" + m[1].str()}};
  r = View(base + "summary.json", cookie);
  ASSERT_EQ(r.status, 200) << r.body;
  r = View(base + "series/1/instances/1/frames/1/rendered?viewport=32,32", cookie);
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(IsJpeg(r.body));
  // A session is only for its own link and only with its cookie.
  EXPECT_EQ(
      View(base + "summary.json", {{"Cookie", "tsunagu_session=" + std::string(64, 'a')}}).status,
      401);

  // Wrong codes (links.access_code_max_failures = 3; 1 s between attempts) lock the link.
  r = PostCode(token, "0000");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(ErrorOf(r), "access_code_wrong");
  r = PostCode(token, "1111");
  EXPECT_EQ(r.status, 429);  // too soon after a failure
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  r = PostCode(token, "1111");
  EXPECT_EQ(r.status, 401);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  r = PostCode(token, "2222");
  EXPECT_EQ(r.status, 423);
  EXPECT_EQ(ErrorOf(r), "locked");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  // Locked even for the right code and for the open session (after the 1 s link cache).
  r = PostCode(token, "4321");
  EXPECT_EQ(r.status, 423);
  r = View(base + "summary.json", cookie);
  EXPECT_EQ(r.status, 423);
  EXPECT_EQ(ErrorOf(r), "locked");
  const std::string audit = AuditUntil("access_code_ok");
  EXPECT_NE(audit.find("event=access_code_ok"), std::string::npos) << audit;
}

TEST_F(RelayViewerTest, DoctorChecksTheWebViewerFiles) {
  StartRelay();
  auto doctor = [&](const std::filesystem::path& config) {
    const auto out = dir_ / "doctor.txt";
    testing::Shell(std::string(TSUNAGU_RELAY_BINARY) + " doctor --config " + config.string() +
                   " > " + out.string() + " 2>&1");
    return testing::ReadFile(out);
  };
  std::string out = doctor(relay_->config_file());
  EXPECT_TRUE(std::regex_search(out, std::regex("web viewer files +ok +" TSUNAGU_VIEWER_ASSETS)))
      << out;
  std::string toml = testing::ReadFile(relay_->config_file());
  const std::string key = "assets_directory = \"" TSUNAGU_VIEWER_ASSETS "\"";
  ASSERT_NE(toml.find(key), std::string::npos);
  toml.replace(toml.find(key), key.size(),
               "assets_directory = \"" + (dir_ / "none").string() + "\"");
  testing::WriteFile(dir_ / "bad.toml", toml);
  out = doctor(dir_ / "bad.toml");
  EXPECT_TRUE(
      std::regex_search(out, std::regex("web viewer files +FAILED +.*index.html is missing")))
      << out;
}

}  // namespace
}  // namespace tsunagu::relay
