// ChatMetrics: counters of what the chat connectors did, for the gateway's /metrics.
//
//   tsunagu_gateway_chat_requests_total{connector="matrix",op="post",result="ok"} 12
//   tsunagu_gateway_chat_requests_total{connector="chatwork",op="post",result="unauthenticated"} 1
//
// `connector` is the connector's name in gateway.toml, `op` one of post (a card), update (a card
// edited: opened, expired, revoked), notice (a seen receipt posted as its own message), room (a
// per-patient room created) and test; `result` is "ok" or the error code (error_code.h) of the
// refusal. Labels never carry a destination, a patient key or any card text.
//
//   tsunagu_gateway_chat_followup_total{event="relay_question"} 40
//
// counts what the card follow-up did: relay_question (the relay asked whether a link was opened),
// opened, expired, revoked (a card changed for that reason).
#ifndef TSUNAGU_CHAT_CHAT_METRICS_H_
#define TSUNAGU_CHAT_CHAT_METRICS_H_

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>

namespace tsunagu::chat {

// Thread-safe.
class ChatMetrics {
 public:
  void Count(std::string_view connector, std::string_view op, std::string_view result);

  void CountFollowUp(std::string_view event);

  // The counters in the Prometheus text format (HELP and TYPE lines included); only the HELP and
  // TYPE lines while nothing was counted.
  std::string PrometheusText() const;

  // The count of one label set (tests).
  std::uint64_t ValueForTest(std::string_view connector, std::string_view op,
                             std::string_view result) const;
  std::uint64_t FollowUpForTest(std::string_view event) const;

 private:
  mutable std::mutex mu_;
  std::map<std::tuple<std::string, std::string, std::string>, std::uint64_t>
      counts_;                                      // GUARDED_BY(mu_)
  std::map<std::string, std::uint64_t> follow_up_;  // GUARDED_BY(mu_)
};

}  // namespace tsunagu::chat

#endif  // TSUNAGU_CHAT_CHAT_METRICS_H_
