// What the relay's /metrics counts (relay_metrics.h), and the gateway contacts file.
#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <filesystem>

#include "gateway_contacts.h"
#include "relay_metrics.h"

namespace tsunagu::relay {
namespace {

using namespace std::chrono_literals;

HttpRequest Put(std::string subject = "gw-a") {
  HttpRequest r;
  r.method = "PUT";
  r.path = "/v1/studies/2.25.1/instances/2.25.2";
  r.body = std::string(100, 'x');
  r.client_subject = std::move(subject);
  return r;
}

bool Has(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

TEST(RelayMetrics, CountsUploadsCommitsAndRefusalsByCode) {
  auto clock = std::make_shared<common::FakeClock>();
  RelayMetrics m(clock);
  m.ObserveUpload(Put(), HttpResponse{200, {}, R"({"received":100,"size":200,"complete":false})"});
  m.ObserveUpload(Put(), HttpResponse{200, {}, R"({"received":200,"size":200,"complete":true})"});
  m.ObserveUpload(Put(), HttpResponse{409, {}, R"({"code":"integrity","message":"x"})"});
  HttpRequest commit = Put();
  commit.method = "POST";
  commit.path = "/v1/studies/2.25.1/commit";
  m.ObserveUpload(commit, HttpResponse{200, {}, "{}"});
  m.ObserveUpload(commit, HttpResponse{507, {}, R"({"code":"disk_full","message":"x"})"});
  // A progress query is neither an upload nor a refusal.
  HttpRequest get = Put();
  get.method = "GET";
  m.ObserveUpload(get, HttpResponse{404, {}, R"({"code":"not_found"})"});
  m.CountLinkOpen();
  m.RecordPurge(true, 2);
  m.RecordPurge(false, 0);
  const std::string text = m.Render(StoreGauges{{{"committed", 3}}, 500, 1000});
  EXPECT_TRUE(Has(text, "tsunagu_relay_upload_chunks_total 2")) << text;
  EXPECT_TRUE(Has(text, "tsunagu_relay_upload_bytes_total 200"));
  EXPECT_TRUE(Has(text, "tsunagu_relay_instances_received_total 1"));
  EXPECT_TRUE(Has(text, "tsunagu_relay_commits_total 1"));
  EXPECT_TRUE(Has(text, "tsunagu_relay_upload_rejections_total{reason=\"integrity\"} 1"));
  EXPECT_TRUE(Has(text, "tsunagu_relay_upload_rejections_total{reason=\"disk_full\"} 1"));
  EXPECT_EQ(text.find("reason=\"not_found\""), std::string::npos);
  EXPECT_TRUE(Has(text, "tsunagu_relay_link_opens_total 1"));
  EXPECT_TRUE(Has(text, "tsunagu_relay_purge_runs_total 2"));
  EXPECT_TRUE(Has(text, "tsunagu_relay_purge_failures_total 1"));
  EXPECT_TRUE(Has(text, "tsunagu_relay_studies_purged_total 2"));
  EXPECT_TRUE(Has(text, "tsunagu_relay_studies{state=\"committed\"} 3"));
  EXPECT_TRUE(Has(text, "tsunagu_relay_studies{state=\"uploading\"} 0"));
  EXPECT_TRUE(Has(text, "tsunagu_relay_store_used_bytes 500"));
  EXPECT_TRUE(Has(text, "tsunagu_relay_store_up 1"));
  const auto now_s =
      std::chrono::duration_cast<std::chrono::seconds>(clock->SystemNow().time_since_epoch())
          .count();
  EXPECT_TRUE(Has(text, "tsunagu_relay_last_purge_timestamp_seconds " + std::to_string(now_s)));
  EXPECT_TRUE(Has(text, "tsunagu_relay_gateway_last_contact_timestamp_seconds{gateway=\"gw-a\"} " +
                            std::to_string(now_s)));
  // No study UID from the paths.
  EXPECT_EQ(text.find("2.25.1"), std::string::npos);
}

TEST(RelayMetrics, AnUnreadableIndexIsReportedNotHidden) {
  RelayMetrics m(std::make_shared<common::FakeClock>());
  const std::string text = m.Render(std::nullopt);
  EXPECT_TRUE(Has(text, "tsunagu_relay_store_up 0")) << text;
  EXPECT_EQ(text.find("tsunagu_relay_store_used_bytes"), std::string::npos);
}

TEST(RelayMetrics, ServesMetricsOverPlainHttpOnLoopback) {
  RelayMetrics m(std::make_shared<common::FakeClock>());
  auto log = std::make_shared<spdlog::logger>("t", std::make_shared<spdlog::sinks::null_sink_mt>());
  auto server = StartMetricsServer(
      "127.0.0.1", 0, [&m] { return m.Render(std::nullopt); }, log);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_GT((*server)->port(), 0);
  // A second listener on the same port is refused with a reason.
  auto clash = StartMetricsServer(
      "127.0.0.1", (*server)->port(), [] { return ""; }, log);
  EXPECT_EQ(clash.status().code(), common::ErrorCode::kUnavailable);
  (*server)->Stop();
}

TEST(GatewayContacts, RoundTripAndNewerTimesWin) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("tsunagu-contacts-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto file = dir / kGatewayContactsFile;
  auto empty = ReadGatewayContacts(file);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  const std::chrono::system_clock::time_point t1(std::chrono::seconds(1'800'000'000));
  ASSERT_TRUE(SaveGatewayContacts(file, {{"gw-a", t1 + 10s}, {"gw-b", t1}}).ok());
  ASSERT_TRUE(SaveGatewayContacts(file, {{"gw-a", t1}}).ok());  // older: kept as it was
  auto read = ReadGatewayContacts(file);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, (GatewayContactMap{{"gw-a", t1 + 10s}, {"gw-b", t1}}));
  RelayMetrics m(std::make_shared<common::FakeClock>());
  m.RestoreGatewayContacts(*read);
  EXPECT_EQ(m.GatewayContacts(), *read);
  EXPECT_FALSE(m.TakeContactsChanged());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tsunagu::relay
