#include <gtest/gtest.h>

#include "config_test_util.h"
#include "tsunagu/config/relay_options.h"

namespace tsunagu::config {
namespace {

using namespace std::chrono_literals;

constexpr char kValid[] = R"(
[upload]
cert_file = "relay-cert.pem"
key_file = "relay-key.pem"
client_ca_file = "ca.pem"
allowed_clients = ["gw1"]

[viewer]
cert_file = "viewer-cert.pem"
key_file = "viewer-key.pem"
public_url = "https://relay.example.jp"

[store]
data_directory = "store"
)";

class RelayConfigTest : public testing::ConfigDir {
 protected:
  common::Result<RelayOptions> Load(const std::string& extra) {
    path_ = WriteFile("relay.toml", kValid + extra);
    return LoadRelayConfig(path_);
  }
  std::string Msg(const std::string& rest) const { return path_.string() + ": " + rest; }
  std::filesystem::path path_;
};

TEST_F(RelayConfigTest, DefaultsRetainForThreeDays) {
  auto o = Load("");
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->retention.period, 72h);
  EXPECT_LE(o->retention.purge_interval, 1min);
  EXPECT_EQ(o->upload.allowed_clients, std::vector<std::string>{"gw1"});
  EXPECT_EQ(o->store.quota_bytes, 100ULL << 30);
  EXPECT_EQ(o->store.data_directory, dir_ / "store");
}

TEST_F(RelayConfigTest, KeyDirectoryAndPatientIdLength) {
  auto o = Load("");
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_TRUE(o->store.key_directory.empty());
  EXPECT_EQ(o->upload.patient_id_max_length, 4);
  const std::string text = kValid;
  path_ = WriteFile("relay.toml",
                    text.substr(0, text.find("[viewer]")) + "patient_id_max_length = 6\n" +
                        text.substr(text.find("[viewer]")) + "key_directory = \"keys\"\n");
  auto p = LoadRelayConfig(path_);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->store.key_directory, dir_ / "keys");
  EXPECT_EQ(p->upload.patient_id_max_length, 6);
  path_ = WriteFile("relay.toml", text.substr(0, text.find("[viewer]")) +
                                      "patient_id_max_length = 0\n" +
                                      text.substr(text.find("[viewer]")));
  EXPECT_FALSE(LoadRelayConfig(path_).ok());
}

TEST_F(RelayConfigTest, ViewerPresetsDefaultToFiveCtWindows) {
  auto o = Load("");
  ASSERT_TRUE(o.ok()) << o.status();
  const auto& ct = o->viewer.window_presets.at("CT");
  ASSERT_EQ(ct.size(), 5u);
  EXPECT_EQ(ct[0], (WindowPreset{"brain", 40, 80}));
  EXPECT_EQ(ct[1], (WindowPreset{"lung", -600, 1500}));
  EXPECT_EQ(ct[2].name, "mediastinum");
  EXPECT_EQ(ct[3].name, "bone");
  EXPECT_EQ(ct[4].name, "abdomen");
}

TEST_F(RelayConfigTest, ViewerPresetsReplaceTheDefaultsInOrder) {
  auto o = Load(
      "[viewer.presets]\n"
      "CT = [{ name = \"stroke\", center = 35, width = 30 }, { name = \"lung\", center = -500, "
      "width = 1400 }]\n"
      "MR = [{ name = \"wide\", center = 500, width = 1000 }]\n");
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->viewer.window_presets.at("CT"),
            (std::vector<WindowPreset>{{"stroke", 35, 30}, {"lung", -500, 1400}}));
  EXPECT_EQ(o->viewer.window_presets.at("MR"), (std::vector<WindowPreset>{{"wide", 500, 1000}}));
}

TEST_F(RelayConfigTest, ViewerPresetErrorsAreExact) {
  auto o = Load("[viewer.presets]\nCT = [{ name = \"a\", center = 1, width = 0 }]\n");
  EXPECT_EQ(o.status().message(),
            Msg("viewer.presets.CT[0].width: expected an integer 1–200000, got 0"));
  o = Load("[viewer.presets]\nCT = [{ name = \"a\", centre = 1, width = 2 }]\n");
  EXPECT_EQ(o.status().message(),
            Msg("viewer.presets.CT[0].center: required, but missing\n") +
                Msg("viewer.presets.CT[0].centre: unknown key (did you mean \"center\"?)"));
  o = Load(
      "[viewer.presets]\nCT = [{ name = \"a\", center = 1, width = 2 }, { name = \"a\", "
      "center = 3, width = 4 }]\n");
  EXPECT_EQ(o.status().message(), Msg("viewer.presets.CT[1].name: duplicate preset \"a\" for CT"));
  o = Load("[viewer.presets]\nct = []\n");
  EXPECT_EQ(o.status().message(),
            Msg("viewer.presets.ct: expected a DICOM modality code such as CT (upper case), got "
                "\"ct\""));
}

TEST_F(RelayConfigTest, PerGatewayRetention) {
  auto o = Load("[retention]\nperiod = \"3d\"\n[retention.per_gateway]\ngw1 = \"1d\"\n");
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->retention.per_gateway.at("gw1"), 24h);
}

TEST_F(RelayConfigTest, PerGatewayRetentionCannotBeLonger) {
  auto o = Load("[retention]\nperiod = \"3d\"\n[retention.per_gateway]\ngw1 = \"7d\"\n");
  EXPECT_EQ(
      o.status().message(),
      Msg("retention.per_gateway.gw1: expected a period no longer than retention.period (3d)"));
}

TEST_F(RelayConfigTest, PurgeIntervalAtMostAMinute) {
  auto o = Load("[retention]\npurge_interval = \"5m\"\n");
  EXPECT_EQ(o.status().message(),
            Msg("retention.purge_interval: expected at most 1m (expired studies must go within a "
                "minute)"));
}

TEST_F(RelayConfigTest, ViewerCacheSizes) {
  auto o = Load("");
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->viewer.render_cache_bytes, 128ULL << 20);
  EXPECT_EQ(o->viewer.instance_cache_bytes, 256ULL << 20);
  const std::string text = kValid;
  const auto with = [&](const std::string& lines) {
    const std::size_t at = text.find("[store]");
    path_ = WriteFile("relay.toml", text.substr(0, at) + lines + "\n" + text.substr(at));
    return LoadRelayConfig(path_);
  };
  auto p = with("render_cache_size = \"1GiB\"\ninstance_cache_size = \"64MiB\"");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->viewer.render_cache_bytes, 1ULL << 30);
  EXPECT_EQ(p->viewer.instance_cache_bytes, 64ULL << 20);
  p = with("render_cache_size = \"1KiB\"");
  EXPECT_EQ(p.status().message(),
            Msg("viewer.render_cache_size: expected at least \"1MiB\", got 1024 bytes"));
  p = with("instance_cache_size = \"big\"");
  EXPECT_EQ(p.status().message(),
            Msg("viewer.instance_cache_size: expected a size such as \"512MiB\" or \"100GB\", "
                "got \"big\""));
}

TEST_F(RelayConfigTest, QuotaMustBeASize) {
  path_ = WriteFile("relay.toml", std::string(kValid) + "quota = \"lots\"\n");
  auto o = LoadRelayConfig(path_);
  EXPECT_EQ(o.status().message(),
            Msg("store.quota: expected a size such as \"512MiB\" or \"100GB\", got \"lots\""));
}

TEST_F(RelayConfigTest, EnrolmentListCannotBeEmpty) {
  path_ = WriteFile("relay.toml",
                    std::string(kValid).replace(std::string(kValid).find("[\"gw1\"]"), 7, "[]"));
  auto o = LoadRelayConfig(path_);
  EXPECT_EQ(o.status().message(),
            Msg("upload.allowed_clients: expected at least one enrolled gateway (client "
                "certificate common name)"));
}

TEST_F(RelayConfigTest, AllowedClientsMustBeStrings) {
  path_ = WriteFile("relay.toml",
                    std::string(kValid).replace(std::string(kValid).find("[\"gw1\"]"), 7, "[1]"));
  auto o = LoadRelayConfig(path_);
  EXPECT_EQ(o.status().message().substr(0, Msg("upload.allowed_clients: expected an array of "
                                               "strings, got 1")
                                               .size()),
            Msg("upload.allowed_clients: expected an array of strings, got 1"));
}

TEST_F(RelayConfigTest, WorldReadableServerKeyIsRefused) {
  WriteFile("relay-key.pem", "k", 0604);
  auto o = Load("");
  EXPECT_EQ(o.status().message(), Msg("upload.key_file: " + (dir_ / "relay-key.pem").string() +
                                      " is accessible by other users (mode 0604); run: chmod 600 " +
                                      (dir_ / "relay-key.pem").string()));
}

}  // namespace
}  // namespace tsunagu::config
