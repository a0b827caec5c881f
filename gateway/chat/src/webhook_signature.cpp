#include "tsunagu/chat/webhook_signature.h"

#include <charconv>

#include "tsunagu/common/crypto.h"

namespace tsunagu::chat {

std::string SignWebhook(std::string_view secret, std::int64_t unix_seconds, std::string_view body) {
  std::string data = std::to_string(unix_seconds);
  data += '.';
  data.append(body);
  return "v1=" + common::HexEncode(common::HmacSha256(secret, data));
}

common::Status VerifyWebhook(std::string_view secret, std::string_view timestamp,
                             std::string_view signature, std::string_view body,
                             std::chrono::system_clock::time_point now,
                             std::chrono::seconds window) {
  std::int64_t ts = 0;
  const auto [end, ec] = std::from_chars(timestamp.data(), timestamp.data() + timestamp.size(), ts);
  if (timestamp.empty() || ec != std::errc() || end != timestamp.data() + timestamp.size()) {
    return common::InvalidArgumentError("webhook: malformed timestamp header");
  }
  const std::string expected = SignWebhook(secret, ts, body);
  if (!common::ConstantTimeEquals(expected, signature)) {
    return common::UnauthenticatedError("webhook: signature does not match");
  }
  const auto sent = std::chrono::system_clock::time_point(std::chrono::seconds(ts));
  const auto skew = sent > now ? sent - now : now - sent;
  if (skew > window) {
    return common::Status(common::ErrorCode::kDeadlineExceeded,
                          "webhook: timestamp outside the replay window", false);
  }
  return common::Status::Ok();
}

}  // namespace tsunagu::chat
