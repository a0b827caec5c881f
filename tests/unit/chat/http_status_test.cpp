#include <gtest/gtest.h>

#include "tsunagu/chat/http_transport.h"

namespace tsunagu::chat {
namespace {

using namespace std::chrono_literals;
using common::ErrorCode;

TEST(StatusFromHttp, RateLimitIsRetryableWithDelay) {
  common::FakeClock clock;
  auto r = StatusFromHttp({429, {{"retry-after", "30"}}, ""}, "Slack", clock);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kResourceExhausted);
  EXPECT_TRUE(r.status().retryable());
  EXPECT_EQ(r.retry_after(), std::chrono::milliseconds(30s));
}

TEST(StatusFromHttp, RetryAfterAsHttpDate) {
  common::FakeClock clock(std::chrono::sys_days{std::chrono::year{2026} / 11 / 22} + 1h);
  auto r = StatusFromHttp({503, {{"Retry-After", "Sun, 22 Nov 2026 01:00:45 GMT"}}, ""}, "Matrix",
                          clock);
  EXPECT_EQ(r.status().code(), ErrorCode::kUnavailable);
  EXPECT_TRUE(r.status().retryable());
  EXPECT_EQ(r.retry_after(), std::chrono::milliseconds(45s));
  EXPECT_EQ(ParseRetryAfter("soon", clock.SystemNow()), std::nullopt);
}

TEST(StatusFromHttp, RefusalsAreNotRetryable) {
  common::FakeClock clock;
  auto bad_token = StatusFromHttp({401, {}, ""}, "Chatwork", clock);
  EXPECT_EQ(bad_token.status().code(), ErrorCode::kUnauthenticated);
  EXPECT_FALSE(bad_token.status().retryable());
  EXPECT_NE(bad_token.status().message().find("token"), std::string::npos);
  auto unknown_room = StatusFromHttp({404, {}, ""}, "Matrix", clock, "M_NOT_FOUND");
  EXPECT_EQ(unknown_room.status().code(), ErrorCode::kNotFound);
  EXPECT_FALSE(unknown_room.status().retryable());
  EXPECT_EQ(unknown_room.status().message(),
            "Matrix answered HTTP 404 (M_NOT_FOUND): unknown room, channel or URL; check the "
            "thread's destination");
  EXPECT_FALSE(StatusFromHttp({400, {}, ""}, "x", clock).status().retryable());
  EXPECT_TRUE(StatusFromHttp({204, {}, ""}, "x", clock).ok());
}

TEST(UrlEncode, EncodesReservedCharacters) {
  EXPECT_EQ(UrlEncode("!room:example.org"), "%21room%3Aexample.org");
  EXPECT_EQ(UrlEncode("a b/c"), "a%20b%2Fc");
}

}  // namespace
}  // namespace tsunagu::chat
