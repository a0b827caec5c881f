// Smoke test of the web viewer against the real relay: the real tsunagu-relay process holds a
// de-identified CT uploaded by the real RelayClient, and Debian's Chromium (headless, driven by
// playwright-core through tests/browser/relay/relay_viewer.test.mjs) opens the links as a phone
// would. Registered with the `browser` label: it needs the npm modules the viewer_browser fixture
// installs (TSUNAGU_NODE_MODULES) and writes screenshots to TSUNAGU_ARTIFACTS.
#include <cstdlib>

#include "relay_viewer_fixture.h"

namespace tsunagu::relay {
namespace {

using testing::RelayViewerTest;

std::string Quote(const std::string& s) { return "'" + s + "'"; }

TEST_F(RelayViewerTest, ChromiumOpensLinksFromTheRealRelay) {
  const char* modules = std::getenv("TSUNAGU_NODE_MODULES");
  const char* artifacts = std::getenv("TSUNAGU_ARTIFACTS");
  ASSERT_TRUE(modules && artifacts) << "set TSUNAGU_NODE_MODULES and TSUNAGU_ARTIFACTS";
  StartRelay();
  const std::string open_token = UploadAndCommit();
  ASSERT_FALSE(open_token.empty());
  // A second commit of the same study mints a second link, this one with an access code.
  const std::string code_token = UploadAndCommit("8642");
  ASSERT_FALSE(code_token.empty());
  const std::string command =
      "TSUNAGU_LINK=" + Quote(relay_->viewer_url() + "/v/" + open_token + "/") +
      " TSUNAGU_CODE_LINK=" + Quote(relay_->viewer_url() + "/v/" + code_token + "/") +
      " TSUNAGU_CODE=8642 TSUNAGU_NODE_MODULES=" + Quote(modules) +
      " TSUNAGU_ARTIFACTS=" + Quote(artifacts) +
      " node --test " TSUNAGU_SOURCE_DIR "/tests/browser/relay/relay_viewer.test.mjs";
  EXPECT_EQ(testing::Shell(command), 0) << relay_->Log();
}

TEST_F(RelayViewerTest, ChromiumShowsRevokedAndExpiredLinksFromTheRealRelay) {
  const char* modules = std::getenv("TSUNAGU_NODE_MODULES");
  const char* artifacts = std::getenv("TSUNAGU_ARTIFACTS");
  ASSERT_TRUE(modules && artifacts) << "set TSUNAGU_NODE_MODULES and TSUNAGU_ARTIFACTS";
  StartRelay();
  // The study lives 8 s; its first link is revoked by the `revoke` command (another process), a
  // second commit mints a live link that expires with the study.
  const std::string revoked = UploadAndCommit(std::nullopt, std::chrono::seconds(8));
  ASSERT_FALSE(revoked.empty());
  const auto [rc, out] = relay_->Command("revoke " + instances_[0].study_uid);
  ASSERT_EQ(rc, 0) << out;
  const std::string expiring = UploadAndCommit();
  ASSERT_FALSE(expiring.empty());
  const std::string command =
      "TSUNAGU_REVOKED_LINK=" + Quote(relay_->viewer_url() + "/v/" + revoked + "/") +
      " TSUNAGU_EXPIRING_LINK=" + Quote(relay_->viewer_url() + "/v/" + expiring + "/") +
      " TSUNAGU_NODE_MODULES=" + Quote(modules) + " TSUNAGU_ARTIFACTS=" + Quote(artifacts) +
      " node --test " TSUNAGU_SOURCE_DIR "/tests/browser/relay/relay_link_states.test.mjs";
  EXPECT_EQ(testing::Shell(command), 0) << relay_->Log();
}

}  // namespace
}  // namespace tsunagu::relay
