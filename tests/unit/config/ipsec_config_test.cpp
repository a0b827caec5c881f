#include <gtest/gtest.h>

#include "config_test_util.h"
#include "tsunagu/config/gateway_options.h"
#include "tsunagu/config/relay_options.h"

namespace tsunagu::config {
namespace {

using namespace std::chrono_literals;

constexpr char kGateway[] = R"(
[storage]
data_directory = "data"
spool_directory = "spool"
[anonymizer]
secret_file = "secret"
[relay]
url = "https://203.0.113.1:8443"
ca_file = "ca.pem"
client_cert_file = "client-cert.pem"
client_key_file = "client-key.pem"
)";

constexpr char kIpsec[] = R"(
[ipsec]
local_address = "192.0.2.1"
remote_address = "192.0.2.2"
local_subnet = "198.51.100.1/32"
remote_subnet = "203.0.113.1/32"
local_id = "CN=gw"
remote_id = "CN=relay"
ca_file = "ca.pem"
cert_file = "client-cert.pem"
key_file = "client-key.pem"
)";

class IpsecConfigTest : public testing::ConfigDir {
 protected:
  common::Result<GatewayOptions> Load(const std::string& ipsec) {
    path_ = WriteFile("gateway.toml", kGateway + ipsec);
    return LoadGatewayConfig(path_);
  }
  std::string Msg(const std::string& rest) const { return path_.string() + ": " + rest; }
  std::filesystem::path path_;
};

TEST_F(IpsecConfigTest, AbsentSectionMeansNotConfigured) {
  auto o = Load("");
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_FALSE(o->ipsec.configured);
}

TEST_F(IpsecConfigTest, DefaultsAreAesGcmWithPfsAndKernelEsp) {
  auto o = Load(kIpsec);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_TRUE(o->ipsec.configured);
  EXPECT_EQ(o->ipsec.esp_proposals, "aes256gcm16-ecp384");
  EXPECT_EQ(o->ipsec.ike_proposals, "aes256gcm16-prfsha384-ecp384");
  EXPECT_EQ(o->ipsec.esp_backend, EspBackend::kKernel);
  EXPECT_EQ(o->ipsec.dpd_delay, 10s);
  EXPECT_EQ(o->ipsec.cert_file, dir_ / "client-cert.pem");
}

TEST_F(IpsecConfigTest, BadAddressAndSubnet) {
  std::string text = kIpsec;
  text.replace(text.find("\"192.0.2.1\""), 11, "\"relay.example\"");
  text.replace(text.find("\"203.0.113.1/32\""), 16, "\"203.0.113.1\"");
  auto o = Load(text);
  EXPECT_EQ(o.status().message(),
            Msg("ipsec.local_address: expected an IPv4 or IPv6 address, got \"relay.example\"") +
                "\n" +
                Msg("ipsec.remote_subnet: expected a subnet such as \"10.99.0.1/32\", got "
                    "\"203.0.113.1\""));
}

TEST_F(IpsecConfigTest, EspWithoutDhGroupIsRefused) {
  auto o = Load(std::string(kIpsec) + "esp_proposals = \"aes256gcm16\"\n");
  EXPECT_EQ(o.status().message(),
            Msg("ipsec.esp_proposals: expected AEAD-DH proposals with a DH group for PFS, such as "
                "\"aes256gcm16-ecp384\", got \"aes256gcm16\""));
}

TEST_F(IpsecConfigTest, WeakCipherIsRefused) {
  auto o = Load(std::string(kIpsec) + "ike_proposals = \"3des-sha1-modp1024\"\n");
  EXPECT_EQ(o.status().message(),
            Msg("ipsec.ike_proposals: expected AEAD-PRF-DH proposals such as "
                "\"aes256gcm16-prfsha384-ecp384\", got \"3des-sha1-modp1024\""));
}

TEST_F(IpsecConfigTest, BackendChoice) {
  auto o = Load(std::string(kIpsec) + "esp_backend = \"libipsec\"\n");
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->ipsec.esp_backend, EspBackend::kLibipsec);
  o = Load(std::string(kIpsec) + "esp_backend = \"xfrm\"\n");
  EXPECT_EQ(o.status().message(),
            Msg("ipsec.esp_backend: expected one of \"kernel\", \"libipsec\", got \"xfrm\""));
}

TEST_F(IpsecConfigTest, KeyFilePermissionsChecked) {
  WriteFile("ipsec-key.pem", "k", 0644);
  std::string text = kIpsec;
  text.replace(text.find("key_file = \"client-key.pem\""), 27, "key_file = \"ipsec-key.pem\"");
  auto o = Load(text);
  EXPECT_EQ(o.status().message(), Msg("ipsec.key_file: " + (dir_ / "ipsec-key.pem").string() +
                                      " is accessible by other users (mode 0644); run: chmod 600 " +
                                      (dir_ / "ipsec-key.pem").string()));
}

TEST_F(IpsecConfigTest, RelayReadsTheSameSection) {
  path_ = WriteFile("relay.toml", std::string(R"(
[upload]
cert_file = "relay-cert.pem"
key_file = "relay-key.pem"
client_ca_file = "ca.pem"
allowed_clients = ["gw"]
[viewer]
cert_file = "viewer-cert.pem"
key_file = "viewer-key.pem"
public_url = "https://relay.example"
[store]
data_directory = "store"
)") + kIpsec + "typo = 1\n");
  auto o = LoadRelayConfig(path_);
  EXPECT_EQ(o.status().message(), Msg("ipsec.typo: unknown key"));
}

}  // namespace
}  // namespace tsunagu::config
