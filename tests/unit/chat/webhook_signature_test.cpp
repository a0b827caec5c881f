#include "tsunagu/chat/webhook_signature.h"

#include <gtest/gtest.h>

namespace tsunagu::chat {
namespace {

using namespace std::chrono_literals;

const auto kNow = std::chrono::system_clock::time_point(1'800'000'000s);

TEST(WebhookSignature, KnownVector) {
  // HMAC-SHA-256("secret", "1800000000.{}") computed independently with
  // python3 -c 'import
  // hmac,hashlib;print(hmac.new(b"secret",b"1800000000.{}",hashlib.sha256).hexdigest())'
  EXPECT_EQ(SignWebhook("secret", 1'800'000'000, "{}"),
            "v1=bb7079132825ac793cea8c013c1dd24d926b9b02132245b10588d9e5c0df70d7");
}

TEST(WebhookSignature, VerifierAcceptsFreshSignedBody) {
  const std::string sig = SignWebhook("k", 1'800'000'000, "body");
  EXPECT_TRUE(VerifyWebhook("k", "1800000000", sig, "body", kNow + 10s).ok());
}

TEST(WebhookSignature, VerifierRefusesTamperingAndReplay) {
  const std::string sig = SignWebhook("k", 1'800'000'000, "body");
  EXPECT_EQ(VerifyWebhook("k", "1800000000", sig, "bodY", kNow).code(),
            common::ErrorCode::kUnauthenticated);
  EXPECT_EQ(VerifyWebhook("other", "1800000000", sig, "body", kNow).code(),
            common::ErrorCode::kUnauthenticated);
  EXPECT_EQ(VerifyWebhook("k", "1800000001", sig, "body", kNow).code(),
            common::ErrorCode::kUnauthenticated);
  EXPECT_EQ(VerifyWebhook("k", "1800000000", sig, "body", kNow + 301s).code(),
            common::ErrorCode::kDeadlineExceeded);
  EXPECT_EQ(VerifyWebhook("k", "1800000000", sig, "body", kNow - 301s).code(),
            common::ErrorCode::kDeadlineExceeded);
  EXPECT_EQ(VerifyWebhook("k", "18e8", sig, "body", kNow).code(),
            common::ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace tsunagu::chat
