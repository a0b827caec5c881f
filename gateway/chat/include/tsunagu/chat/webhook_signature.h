// Signing of the generic webhook, and the verifier a receiving hospital system runs.
//
// Each POST carries
//   X-Tsunagu-Timestamp: <Unix seconds>
//   X-Tsunagu-Signature: v1=<lower-case hex HMAC-SHA-256(secret, timestamp + "." + body)>
//   Idempotency-Key: <the job's key; the same on every retry of one post>
// A receiver recomputes the HMAC over the raw body bytes, compares in constant time, refuses a
// timestamp further than the replay window from its own clock, and drops a second request with
// an Idempotency-Key it has seen within that window (docs/chat.md has a Python version).
#ifndef TSUNAGU_CHAT_WEBHOOK_SIGNATURE_H_
#define TSUNAGU_CHAT_WEBHOOK_SIGNATURE_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "tsunagu/common/status.h"

namespace tsunagu::chat {

inline constexpr char kWebhookTimestampHeader[] = "X-Tsunagu-Timestamp";
inline constexpr char kWebhookSignatureHeader[] = "X-Tsunagu-Signature";
inline constexpr std::chrono::seconds kDefaultReplayWindow{300};

// "v1=<hex>".
std::string SignWebhook(std::string_view secret, std::int64_t unix_seconds, std::string_view body);

// OK when `signature` is SignWebhook(secret, timestamp, body) and `timestamp` is within `window`
// of `now`. kUnauthenticated for a bad or missing signature, kDeadlineExceeded (not retryable)
// for a timestamp outside the window, kInvalidArgument for a malformed timestamp.
common::Status VerifyWebhook(std::string_view secret, std::string_view timestamp,
                             std::string_view signature, std::string_view body,
                             std::chrono::system_clock::time_point now,
                             std::chrono::seconds window = kDefaultReplayWindow);

}  // namespace tsunagu::chat

#endif  // TSUNAGU_CHAT_WEBHOOK_SIGNATURE_H_
