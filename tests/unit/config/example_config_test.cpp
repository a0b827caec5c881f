// The commented example configs are documentation: they must load, and the defaults they show
// must be the defaults the code uses.
#include <gtest/gtest.h>

#include "tsunagu/config/gateway_options.h"
#include "tsunagu/config/relay_options.h"

namespace tsunagu::config {
namespace {

using namespace std::chrono_literals;

const std::filesystem::path kConfigDir = std::filesystem::path(TSUNAGU_SOURCE_DIR) / "config";

TEST(ExampleConfig, GatewayExampleLoadsWithDocumentedDefaults) {
  // The example names files under /etc/tsunagu that do not exist on a build machine.
  auto o =
      LoadGatewayConfig(kConfigDir / "gateway.example.toml", LoadOptions{.check_files = false});
  ASSERT_TRUE(o.ok()) << o.status();
  const GatewayOptions defaults;
  EXPECT_EQ(o->language, defaults.language);
  EXPECT_EQ(o->dicom.ae_title, defaults.dicom.ae_title);
  EXPECT_EQ(o->dicom.port, defaults.dicom.port);
  EXPECT_EQ(o->dicom.max_associations, defaults.dicom.max_associations);
  EXPECT_EQ(o->dicom.dimse_timeout, defaults.dicom.dimse_timeout);
  ASSERT_TRUE(o->pacs.has_value());
  EXPECT_EQ(o->pacs->move_deadline, PacsOptions().move_deadline);
  EXPECT_EQ(o->storage.spool_max_age, 24h);
  EXPECT_EQ(o->storage.spool_min_free_bytes, defaults.storage.spool_min_free_bytes);
  EXPECT_EQ(o->anonymizer.profile, "share");
  EXPECT_EQ(o->anonymizer.patient_id_keep, 4);
  EXPECT_EQ(o->relay.chunk_size, defaults.relay.chunk_size);
  EXPECT_EQ(o->web.bind_address, "127.0.0.1");
  EXPECT_TRUE(o->transport.require_ipsec);
  ASSERT_EQ(o->threads.size(), 1u);
}

TEST(ExampleConfig, RelayExampleLoadsWithThreeDayRetention) {
  auto o = LoadRelayConfig(kConfigDir / "relay.example.toml", LoadOptions{.check_files = false});
  ASSERT_TRUE(o.ok()) << o.status();
  const RelayOptions defaults;
  EXPECT_EQ(o->retention.period, 72h);
  EXPECT_EQ(o->retention.period, defaults.retention.period);
  EXPECT_EQ(o->retention.purge_interval, defaults.retention.purge_interval);
  EXPECT_EQ(o->store.quota_bytes, defaults.store.quota_bytes);
  EXPECT_EQ(o->links.access_code_max_failures, defaults.links.access_code_max_failures);
  EXPECT_EQ(o->upload.max_request_bytes, defaults.upload.max_request_bytes);
  EXPECT_TRUE(o->retention.per_gateway.empty());
  EXPECT_EQ(o->viewer.window_presets, DefaultWindowPresets());
}

}  // namespace
}  // namespace tsunagu::config
