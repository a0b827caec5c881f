#include "relay_service.h"

#include <gtest/gtest.h>

#include <fstream>
#include <functional>

#include "test_instances.h"
#include "tsunagu/common/crypto.h"
#include "tsunagu/common/logging.h"

namespace tsunagu::relay {
namespace {

using std::chrono::seconds;

class RelayServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("tsunagu_relay_service_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    clock_ = std::make_shared<common::FakeClock>();
    auto logger = common::MakeLogger("t", {}, spdlog::level::off);
    retention::StoreOptions so;
    so.data_directory = dir_;
    auto store = retention::StudyStore::Open(so, {clock_, logger});
    ASSERT_TRUE(store.ok());
    store_ = std::move(*store);
    RelayServiceOptions o;
    o.public_url = "https://relay.test";
    o.cors_origins = {"https://ohif.test"};
    o.revocation_cache = seconds(2);
    service_ = std::make_unique<RelayService>(o, RelayServiceDeps{store_, clock_, logger});
  }
  // The service first: its destructor joins the viewer preparation thread, which may still be
  // writing the study's derived (cached) files after a commit.
  void TearDown() override {
    service_.reset();
    std::filesystem::remove_all(dir_);
  }

  HttpResponse Put(const std::string& study, const std::string& sop, const std::string& bytes,
                   std::size_t start, std::size_t len, bool corrupt = false) {
    HttpRequest r;
    r.method = "PUT";
    r.path = r.raw_path = "/v1/studies/" + study + "/instances/" + sop;
    r.body = bytes.substr(start, len);
    r.headers["content-range"] = "bytes " + std::to_string(start) + "-" +
                                 std::to_string(start + r.body.size() - 1) + "/" +
                                 std::to_string(bytes.size());
    r.headers["x-tsunagu-sha256"] = common::HexEncode(common::Sha256(bytes));
    r.headers["x-tsunagu-chunk-sha256"] = common::HexEncode(common::Sha256(r.body));
    if (corrupt) r.body[0] ^= 1;
    return service_->HandleUpload(r);
  }
  // Uploads and commits a one-instance study; returns the link token.
  std::string Publish(const std::string& study, const std::function<void(DcmDataset*)>& edit = {}) {
    const std::string bytes = testing::MakeInstanceBytes(study, study + ".9", 1, edit);
    EXPECT_EQ(Put(study, study + ".9", bytes, 0, bytes.size()).status, 200);
    HttpRequest c;
    c.method = "POST";
    c.path = c.raw_path = "/v1/studies/" + study + "/commit";
    c.body = R"({"instances":[{"sop_instance_uid":")" + study + R"(.9","sha256":")" +
             common::HexEncode(common::Sha256(bytes)) + R"(","size":)" +
             std::to_string(bytes.size()) + "}]}";
    HttpResponse r = service_->HandleUpload(c);
    EXPECT_EQ(r.status, 200) << r.body;
    const auto at = r.body.find("/v/") + 3;
    return r.body.substr(at, r.body.find('"', at) - at);
  }
  HttpResponse Get(const std::string& path, std::map<std::string, std::string> headers = {}) {
    HttpRequest r;
    r.method = "GET";
    r.path = r.raw_path = path;
    r.headers = std::move(headers);
    r.client_address = "192.0.2.1";
    return service_->HandleViewer(r);
  }
  static std::string HeaderOf(const HttpResponse& r, const std::string& name) {
    for (const auto& [k, v] : r.headers) {
      if (k == name) return v;
    }
    return {};
  }

  std::filesystem::path dir_;
  std::shared_ptr<common::FakeClock> clock_;
  std::shared_ptr<retention::StudyStore> store_;
  std::unique_ptr<RelayService> service_;
};

TEST_F(RelayServiceTest, CorruptChunkIsARetryableIntegrityError) {
  const std::string bytes = testing::MakeInstanceBytes("1.2.3", "1.2.3.4");
  HttpResponse r = Put("1.2.3", "1.2.3.4", bytes, 0, 100, /*corrupt=*/true);
  EXPECT_EQ(r.status, 422);
  EXPECT_NE(r.body.find("\"code\":\"integrity\""), std::string::npos);
  EXPECT_NE(r.body.find("\"retryable\":true"), std::string::npos);
}

TEST_F(RelayServiceTest, ChunkPastWhatIsHeldAnswersWithTheCurrentPosition) {
  const std::string bytes = testing::MakeInstanceBytes("1.2.3", "1.2.3.4");
  ASSERT_EQ(Put("1.2.3", "1.2.3.4", bytes, 0, 100).status, 200);
  HttpResponse r = Put("1.2.3", "1.2.3.4", bytes, 200, 100);
  EXPECT_EQ(r.status, 412);
  EXPECT_NE(r.body.find("\"received\":100"), std::string::npos) << r.body;
  EXPECT_EQ(Put("1.2.3", "1.2.3.4", bytes, 100, bytes.size() - 100).status, 200);
}

TEST_F(RelayServiceTest, InvalidUidsAndMissingHeadersAreRefused) {
  const std::string bytes = testing::MakeInstanceBytes("1.2.3", "1.2.3.4");
  EXPECT_EQ(Put("1.2.x", "1.2.3.4", bytes, 0, 10).status, 400);
  HttpRequest r;
  r.method = "PUT";
  r.path = r.raw_path = "/v1/studies/1.2.3/instances/1.2.3.4";
  r.body = "abc";
  EXPECT_EQ(service_->HandleUpload(r).status, 400);
}

TEST_F(RelayServiceTest, EveryViewerAnswerCarriesSecurityHeadersAndCorsOnlyWhenConfigured) {
  const std::string token = Publish("1.2.3");
  for (const auto& r : {Get("/t/" + token + "/dicomweb/studies", {{"origin", "https://ohif.test"}}),
                        Get("/t/nope/dicomweb/studies", {{"origin", "https://evil.test"}})}) {
    EXPECT_EQ(HeaderOf(r, "Cache-Control"), "no-store, private");
    EXPECT_EQ(HeaderOf(r, "Referrer-Policy"), "no-referrer");
    EXPECT_FALSE(HeaderOf(r, "Content-Security-Policy").empty());
    EXPECT_FALSE(HeaderOf(r, "Strict-Transport-Security").empty());
  }
  EXPECT_EQ(HeaderOf(Get("/t/" + token + "/dicomweb/studies", {{"origin", "https://ohif.test"}}),
                     "Access-Control-Allow-Origin"),
            "https://ohif.test");
  EXPECT_EQ(HeaderOf(Get("/t/" + token + "/dicomweb/studies", {{"origin", "https://evil.test"}}),
                     "Access-Control-Allow-Origin"),
            "");
}

TEST_F(RelayServiceTest, RevocationByAnotherProcessTakesEffectWithinTheCacheWindow) {
  const std::string token = Publish("1.2.3");
  const std::string url = "/t/" + token + "/dicomweb/studies";
  ASSERT_EQ(Get(url).status, 200);
  ASSERT_EQ(*store_->RevokeLinks("1.2.3"), 1);  // as `tsunagu-relay revoke` does
  clock_->Advance(seconds(1));
  EXPECT_EQ(Get(url).status, 200);  // still cached
  clock_->Advance(seconds(1));
  EXPECT_EQ(Get(url).status, 403);
}

TEST_F(RelayServiceTest, TokenInHeaderOrPathOpensOnlyItsStudy) {
  const std::string a = Publish("1.2.3");
  Publish("1.2.4");
  EXPECT_EQ(Get("/dicomweb/studies/1.2.3/series", {{"authorization", "Bearer " + a}}).status, 200);
  EXPECT_EQ(Get("/dicomweb/studies/1.2.4/series", {{"authorization", "Bearer " + a}}).status, 404);
  EXPECT_EQ(Get("/t/" + a + "/dicomweb/studies/1.2.4/metadata").status, 404);
  EXPECT_EQ(Get("/dicomweb/studies").status, 401);
}

TEST_F(RelayServiceTest, WebViewerSessionAndCachesEndWithTheStudy) {
  const std::string study = "1.2.7";
  const std::string bytes = testing::MakeInstanceBytes(study, study + ".9");
  ASSERT_EQ(Put(study, study + ".9", bytes, 0, bytes.size()).status, 200);
  HttpRequest c;
  c.method = "POST";
  c.path = c.raw_path = "/v1/studies/" + study + "/commit";
  c.body = R"({"access_code":"1357","retention_seconds":3600,"instances":[{"sop_instance_uid":")" +
           study + R"(.9","sha256":")" + common::HexEncode(common::Sha256(bytes)) + R"(","size":)" +
           std::to_string(bytes.size()) + "}]}";
  HttpResponse committed = service_->HandleUpload(c);
  ASSERT_EQ(committed.status, 200) << committed.body;
  const auto at = committed.body.find("/v/") + 3;
  const std::string token = committed.body.substr(at, committed.body.find('"', at) - at);
  const std::string base = "/v/" + token + "/";

  EXPECT_EQ(Get(base + "summary.json").status, 401);
  HttpRequest post;
  post.method = "POST";
  post.path = post.raw_path = base + "access-code";
  post.body = R"({"code":"1357"})";
  post.client_address = "192.0.2.1";
  HttpResponse r = service_->HandleViewer(post);
  ASSERT_EQ(r.status, 204) << r.body;
  const std::string cookie = HeaderOf(r, "Set-Cookie");
  // The session never outlives the study (3600 s here, below the 12 h session limit).
  EXPECT_NE(cookie.find("; Max-Age=3600;"), std::string::npos) << cookie;
  EXPECT_NE(cookie.find("; HttpOnly; Secure; SameSite=Strict"), std::string::npos) << cookie;
  const std::map<std::string, std::string> session = {
      {"cookie", cookie.substr(0, cookie.find(';'))}};
  r = Get(base + "summary.json", session);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(HeaderOf(r, "Cache-Control"), "private, no-store");
  HttpRequest frame;
  frame.method = "GET";
  frame.path = frame.raw_path = base + "series/1/instances/1/frames/1/rendered";
  frame.query = {{"quality", "50"}, {"viewport", "8,8"}};
  frame.headers = session;
  frame.client_address = "192.0.2.1";
  r = service_->HandleViewer(frame);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(HeaderOf(r, "ETag").empty());
  EXPECT_EQ(r.content_type, "image/jpeg");

  clock_->Advance(seconds(3601));
  service_->FlushAccessLog();  // drops sessions, layouts, decrypted instances and the summary
  r = Get(base + "summary.json", session);
  EXPECT_EQ(r.status, 410) << r.body;
  EXPECT_EQ(r.body, R"({"error":"expired"})");
  EXPECT_EQ(Get(base + "series/1/instances/1/frames/1/rendered", session).status, 410);
}

TEST_F(RelayServiceTest, RendersAreCachedEncryptedWithTheStudyAndGoWithIt) {
  const std::string study = "1.2.8";
  const std::string base = "/v/" + Publish(study) + "/";
  const std::string frame = base + "series/1/instances/1/frames/1/rendered";
  HttpResponse first = Get(frame);
  ASSERT_EQ(first.status, 200) << first.body;
  ASSERT_GE(first.Body().size(), 64u);
  HttpResponse summary = Get(base + "summary.json");
  ASSERT_EQ(summary.status, 200) << summary.body;
  // Kept in the study's folder, encrypted: no JPEG and no summary text in the clear.
  std::vector<std::filesystem::path> derived;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir_ / "studies")) {
    if (e.is_regular_file() && e.path().parent_path().filename() == "derived") {
      derived.push_back(e.path());
      std::ifstream in(e.path(), std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(in)), {});
      EXPECT_EQ(bytes.find(std::string(first.Body().substr(0, 64))), std::string::npos) << e.path();
      EXPECT_EQ(bytes.find("thumbnail_url"), std::string::npos) << e.path();
    }
  }
  EXPECT_GE(derived.size(), 2u);

  // A relay restarted on the same store answers from the cache, not by rendering again.
  auto logger = common::MakeLogger("t2", {}, spdlog::level::off);
  RelayServiceOptions o;
  o.public_url = "https://relay.test";
  RelayService restarted(o, RelayServiceDeps{store_, clock_, logger});
  HttpRequest req;
  req.method = "GET";
  req.path = req.raw_path = frame;
  req.client_address = "192.0.2.1";
  HttpResponse again = restarted.HandleViewer(req);
  ASSERT_EQ(again.status, 200);
  EXPECT_EQ(again.Body(), first.Body());
  req.path = req.raw_path = base + "summary.json";
  EXPECT_EQ(restarted.HandleViewer(req).body, summary.body);
  auto c = restarted.RenderCacheCountersForTest();
  EXPECT_EQ(c.store_hits, 2u);
  EXPECT_EQ(c.misses, 0u);
  // And from memory the next time.
  req.path = req.raw_path = frame;
  EXPECT_EQ(restarted.HandleViewer(req).body, first.body);
  EXPECT_EQ(restarted.RenderCacheCountersForTest().memory_hits, 1u);

  // Expiry: unreachable at once; the purge destroys the key and removes the cached renders, and
  // the memory layer drops them at the next flush.
  clock_->Advance(std::chrono::hours(73));
  req.path = req.raw_path = frame;
  EXPECT_EQ(restarted.HandleViewer(req).status, 410);
  auto receipts = store_->Purge();
  ASSERT_TRUE(receipts.ok());
  ASSERT_EQ(receipts->size(), 1u);
  for (const auto& p : derived) EXPECT_FALSE(std::filesystem::exists(p)) << p;
  EXPECT_EQ(store_->StudyKeyForTest(study).status().code(), common::ErrorCode::kNotFound);
  restarted.FlushAccessLog();
  EXPECT_EQ(restarted.RenderCacheCountersForTest().entries, 0u);
}

TEST_F(RelayServiceTest, SummaryGivesTheFilesWindowFunction) {
  // The viewer sends the window back with this function (viewer.js renderedUrl).
  const auto function_of = [&](const std::string& study, const char* function) {
    const std::string token = Publish(study, [&](DcmDataset* ds) {
      ds->putAndInsertString(DCM_WindowCenter, "8");
      ds->putAndInsertString(DCM_WindowWidth, "16");
      if (function != nullptr) ds->putAndInsertString(DCM_VOILUTFunction, function);
    });
    HttpResponse r = Get("/v/" + token + "/summary.json");
    EXPECT_EQ(r.status, 200) << r.body;
    const auto w = r.body.find("\"window\":");
    return w == std::string::npos ? std::string("(none)") : r.body.substr(w, 60);
  };
  EXPECT_NE(function_of("1.2.21", "SIGMOID").find("\"function\":\"sigmoid\""), std::string::npos);
  EXPECT_NE(function_of("1.2.22", "LINEAR_EXACT").find("\"function\":\"linear_exact\""),
            std::string::npos);
  EXPECT_NE(function_of("1.2.23", nullptr).find("\"function\":\"linear\""), std::string::npos);
}

TEST_F(RelayServiceTest, DicomwebRenderedFramesAndThumbnailsUnderTheToken) {
  const std::string study = "1.2.11";
  const std::string root = "/t/" + Publish(study) + "/dicomweb/studies/" + study;
  const std::string instance = root + "/series/" + study + ".1/instances/" + study + ".9";
  HttpRequest req;
  req.method = "GET";
  req.client_address = "192.0.2.1";
  auto get = [&](const std::string& path, std::map<std::string, std::string> query = {}) {
    req.path = req.raw_path = path;
    req.query = std::move(query);
    return service_->HandleViewer(req);
  };
  HttpResponse r = get(instance + "/frames/1/rendered", {{"window", "8,16"}, {"quality", "80"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "image/jpeg");
  EXPECT_EQ(r.Body().substr(0, 2), "\xFF\xD8");
  EXPECT_FALSE(HeaderOf(r, "ETag").empty());
  EXPECT_EQ(HeaderOf(r, "Cache-Control"), "no-store, private");
  // Another window is another image.
  EXPECT_NE(get(instance + "/frames/1/rendered", {{"window", "2,4"}}).Body(), r.Body());
  for (const std::string& path :
       {root + "/thumbnail", root + "/series/" + study + ".1/thumbnail", instance + "/thumbnail"}) {
    r = get(path);
    EXPECT_EQ(r.status, 200) << path;
    EXPECT_EQ(r.content_type, "image/jpeg") << path;
    EXPECT_EQ(r.Body().substr(0, 2), "\xFF\xD8") << path;
  }
  EXPECT_EQ(get(instance + "/frames/2/rendered").status, 404);  // one frame only
  EXPECT_EQ(get(instance + "/frames/1,1/rendered").status, 400);
  EXPECT_EQ(get(instance + "/frames/1/rendered", {{"window", "40"}}).status, 400);
  EXPECT_EQ(get(root + "/series/" + study + ".1/instances/1.2.99/frames/1/rendered").status, 404);
  EXPECT_EQ(get(root + "/series/1.2.99/thumbnail").status, 404);
  EXPECT_EQ(get("/t/" + req.path.substr(3, 43) + "/dicomweb/studies/1.2.99/thumbnail").status, 404);
}

}  // namespace
}  // namespace tsunagu::relay
