#include "tsunagu/ipsec/tunnel_monitor.h"

#include <gtest/gtest.h>

namespace tsunagu::ipsec {
namespace {

// Captured from strongSwan 5.9.8 `swanctl --list-sas --raw` (userland ESP, test namespaces).
constexpr char kInstalled[] =
    "list-sa event {tsunagu {uniqueid=1 version=2 state=ESTABLISHED local-host=192.0.2.1 "
    "local-port=4500 local-id=CN=gw.tsunagu.test remote-host=192.0.2.2 remote-port=4500 "
    "remote-id=CN=rl.tsunagu.test initiator=yes encr-alg=AES_GCM_16 encr-keysize=256 "
    "child-sas {tsunagu-upload-1 {name=tsunagu-upload uniqueid=1 reqid=1 state=INSTALLED "
    "mode=TUNNEL protocol=ESP encap=yes spi-in=5c5b28a6 spi-out=8bf35aac encr-alg=AES_GCM_16 "
    "encr-keysize=256 local-ts=[198.51.100.1/32] remote-ts=[203.0.113.1/32]}}}}\n"
    "list-sas reply {}\n";

TEST(ParseListSas, InstalledChildIsUp) {
  TunnelState s = ParseListSas(kInstalled, "tsunagu-upload");
  EXPECT_TRUE(s.up);
  EXPECT_EQ(s.detail, "child SA tsunagu-upload INSTALLED");
}

TEST(ParseListSas, NoSaIsDown) {
  TunnelState s = ParseListSas("list-sas reply {}\n", "tsunagu-upload");
  EXPECT_FALSE(s.up);
  EXPECT_EQ(s.detail, "no IKE SA");
}

TEST(ParseListSas, OtherChildDoesNotCount) {
  TunnelState s = ParseListSas(kInstalled, "other-upload");
  EXPECT_FALSE(s.up);
  EXPECT_EQ(s.detail, "IKE SA up but no child SA other-upload");
}

TEST(ParseListSas, ChildBeingRekeyedOrDeletedIsDown) {
  std::string raw = kInstalled;
  raw.replace(raw.find("state=INSTALLED"), 15, "state=DELETING");
  TunnelState s = ParseListSas(raw, "tsunagu-upload");
  EXPECT_FALSE(s.up);
  EXPECT_EQ(s.detail, "child SA tsunagu-upload is DELETING");
}

TEST(ParseListSas, AnyInstalledDuringRekeyIsUp) {
  std::string raw = kInstalled;
  raw.insert(raw.find("tsunagu-upload-1 {"),
             "tsunagu-upload-2 {name=tsunagu-upload uniqueid=2 state=REKEYED mode=TUNNEL} ");
  EXPECT_TRUE(ParseListSas(raw, "tsunagu-upload").up);
}

TEST(TunnelDownError, IsRetryableWithThePromisedReason) {
  common::Status s = TunnelDownError("no IKE SA");
  EXPECT_TRUE(s.retryable());
  EXPECT_EQ(s.code(), common::ErrorCode::kUnavailable);
  EXPECT_EQ(s.message(), "IPsec tunnel to relay is down (no IKE SA)");
}

TEST(SwanctlTunnelMonitor, MissingCharonIsAnErrorNotUp) {
  config::IpsecOptions o;
  o.configured = true;
  o.vici_socket = "unix:///nonexistent/tsunagu-test.vici";
  auto state = MakeSwanctlTunnelMonitor(o, std::chrono::seconds(5))->Check();
  ASSERT_FALSE(state.ok());
  EXPECT_TRUE(state.status().retryable());
}

}  // namespace
}  // namespace tsunagu::ipsec
