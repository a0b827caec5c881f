#include "tsunagu/chat/chat_metrics.h"

namespace tsunagu::chat {
namespace {

// Label values come from the configuration (connector names); escape what the text format
// requires (backslash, quote, newline).
std::string Escape(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

void ChatMetrics::Count(std::string_view connector, std::string_view op, std::string_view result) {
  std::lock_guard<std::mutex> lock(mu_);
  ++counts_[{std::string(connector), std::string(op), std::string(result)}];
}

void ChatMetrics::CountFollowUp(std::string_view event) {
  std::lock_guard<std::mutex> lock(mu_);
  ++follow_up_[std::string(event)];
}

std::uint64_t ChatMetrics::FollowUpForTest(std::string_view event) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = follow_up_.find(std::string(event));
  return it == follow_up_.end() ? 0 : it->second;
}

std::string ChatMetrics::PrometheusText() const {
  std::string out =
      "# HELP tsunagu_gateway_chat_requests_total Chat platform requests by connector, "
      "operation (post, update, notice, room, test) and result (ok or the error code).\n"
      "# TYPE tsunagu_gateway_chat_requests_total counter\n";
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [key, count] : counts_) {
    const auto& [connector, op, result] = key;
    out += "tsunagu_gateway_chat_requests_total{connector=\"" + Escape(connector) + "\",op=\"" +
           Escape(op) + "\",result=\"" + Escape(result) + "\"} " + std::to_string(count) + "\n";
  }
  out +=
      "# HELP tsunagu_gateway_chat_followup_total What the card follow-up did: relay_question, "
      "opened, expired, revoked.\n"
      "# TYPE tsunagu_gateway_chat_followup_total counter\n";
  for (const auto& [event, count] : follow_up_) {
    out += "tsunagu_gateway_chat_followup_total{event=\"" + Escape(event) + "\"} " +
           std::to_string(count) + "\n";
  }
  return out;
}

std::uint64_t ChatMetrics::ValueForTest(std::string_view connector, std::string_view op,
                                        std::string_view result) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = counts_.find({std::string(connector), std::string(op), std::string(result)});
  return it == counts_.end() ? 0 : it->second;
}

}  // namespace tsunagu::chat
