// The Prometheus text exposition format (version 0.0.4), written by hand: both services' /metrics
// answers are built with it, so that names, HELP/TYPE lines and label escaping follow one set of
// rules (`promtool check metrics` lints the output in tests/integration/packaging).
//
// Usage:
//   PrometheusText out;
//   out.Counter("tsunagu_relay_commits_total", "Studies committed.", n);
//   out.Family("tsunagu_relay_upload_rejections_total", "Refused uploads, by reason.",
//              PrometheusText::Type::kCounter);
//   out.Sample("tsunagu_relay_upload_rejections_total", {{"reason", "integrity"}}, 3);
//   std::string body = std::move(out).Take();
//
// Label values are escaped (backslash, double quote, newline). Callers choose label values from
// closed sets (error codes, listener names, enrolled gateway names): never a patient identifier.
// Not thread-safe; build one per scrape.
#ifndef TSUNAGU_COMMON_PROMETHEUS_TEXT_H_
#define TSUNAGU_COMMON_PROMETHEUS_TEXT_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace tsunagu::common {

class PrometheusText {
 public:
  enum class Type { kCounter, kGauge };
  using Label = std::pair<std::string_view, std::string_view>;

  // "# HELP" and "# TYPE" lines of a metric family; samples follow with Sample().
  void Family(std::string_view name, std::string_view help, Type type);
  void Sample(std::string_view name, std::initializer_list<Label> labels, std::uint64_t value);
  void Sample(std::string_view name, std::initializer_list<Label> labels, std::int64_t value);
  void Sample(std::string_view name, std::initializer_list<Label> labels, double value);

  // A family with a single unlabelled sample.
  void Counter(std::string_view name, std::string_view help, std::uint64_t value);
  void Gauge(std::string_view name, std::string_view help, std::int64_t value);
  void Gauge(std::string_view name, std::string_view help, double value);

  const std::string& text() const { return out_; }
  std::string Take() && { return std::move(out_); }

  // The content type of the format, for the HTTP answer.
  static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

 private:
  void Labels(std::string_view name, std::initializer_list<Label> labels);
  std::string out_;
};

}  // namespace tsunagu::common

#endif  // TSUNAGU_COMMON_PROMETHEUS_TEXT_H_
