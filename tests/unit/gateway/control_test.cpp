#include "tsunagu/gateway/control.h"

#include <gtest/gtest.h>

#include "tsunagu/gateway/web_server.h"

namespace tsunagu::gateway {
namespace {

TEST(MaskPatientId, KeepsOnlyTheLastFourCharacters) {
  EXPECT_EQ(MaskPatientId("PAT0012345"), "****2345");
  EXPECT_EQ(MaskPatientId("12345"), "****2345");
  EXPECT_EQ(MaskPatientId("1234"), "1234");
  EXPECT_EQ(MaskPatientId(""), "");
}

TEST(ChooseThread, FirstMatchingRouteWins) {
  std::vector<Route> routes = {{"cath", "", "CATHLAB", "XA", ""},
                               {"cardio", "GW_CARDIO", "", "", ""},
                               {"default", "", "", "", ""}};
  ReceivedInstance in;
  in.called_ae_title = "GW_CARDIO";
  in.calling_ae_title = "CATHLAB";
  in.modality = "XA";
  EXPECT_EQ(ChooseThread(routes, in), "cath");
  in.modality = "CT";
  EXPECT_EQ(ChooseThread(routes, in), "cardio");
  in.called_ae_title = "GW";
  EXPECT_EQ(ChooseThread(routes, in), "default");
  routes.pop_back();
  EXPECT_EQ(ChooseThread(routes, in), std::nullopt);
}

TEST(SendPage, ExistsInJapaneseAndEnglish) {
  const std::string ja = SendPageHtml(common::Language::kJapanese);
  const std::string en = SendPageHtml(common::Language::kEnglish);
  EXPECT_NE(ja.find("<html lang=\"ja\">"), std::string::npos);
  EXPECT_NE(ja.find("送信"), std::string::npos);
  EXPECT_NE(en.find("<html lang=\"en\">"), std::string::npos);
  EXPECT_NE(en.find(">Send</button>"), std::string::npos);
  EXPECT_EQ(en.find('{' + std::string("send}")), std::string::npos) << "unfilled placeholder";
}

TEST(Control, SendRefusesUnknownThreadAndListsConfiguredOnes) {
  common::FakeClock clock;
  auto store = JobStore::Open(":memory:", &clock);
  ASSERT_TRUE(store.ok());
  UidKeyer keyer("k");
  Control control(store->get(), nullptr, &keyer, {"cardio", "neuro"});
  auto job = control.SendStudyUid("1.2.3", "ortho", "");
  EXPECT_EQ(job.status().ToString(),
            "invalid_argument: unknown thread \"ortho\" (configured: cardio, neuro)");
  auto ok = control.SendStudyUid("1.2.3", "cardio", "");
  ASSERT_TRUE(ok.ok());
  auto view = control.Job(*ok);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->job.study_key, keyer.Key("1.2.3"));
  EXPECT_EQ(control.FindStudies(FindQuery{}).status().code(),
            common::ErrorCode::kFailedPrecondition);
}

TEST(Control, MetricsListJobsByStageAndCounters) {
  common::FakeClock clock;
  auto store = JobStore::Open(":memory:", &clock);
  ASSERT_TRUE(store.ok());
  UidKeyer keyer("k");
  Control control(store->get(), nullptr, &keyer, {"cardio"});
  ASSERT_TRUE(control.SendStudyUid("1.2.3", "cardio", "").ok());
  DicomNodeCounters node;
  node.instances_received = 7;
  PipelineMetrics metrics;
  metrics.intake_refused_disk_full = 2;
  const std::string text = control.MetricsText(node, metrics);
  EXPECT_NE(text.find("tsunagu_gateway_instances_received_total 7\n"), std::string::npos);
  EXPECT_NE(text.find("tsunagu_gateway_jobs{stage=\"retrieving\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("tsunagu_gateway_queue_depth 1\n"), std::string::npos);
  EXPECT_NE(text.find("tsunagu_gateway_intake_refused_total{reason=\"disk_full\"} 2\n"),
            std::string::npos);
}

}  // namespace
}  // namespace tsunagu::gateway
