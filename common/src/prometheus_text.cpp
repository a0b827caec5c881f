#include "tsunagu/common/prometheus_text.h"

#include <fmt/format.h>

namespace tsunagu::common {

void PrometheusText::Family(std::string_view name, std::string_view help, Type type) {
  out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name,
                      type == Type::kCounter ? "counter" : "gauge");
}

void PrometheusText::Labels(std::string_view name, std::initializer_list<Label> labels) {
  out_ += name;
  if (labels.size() == 0) return;
  out_ += '{';
  bool first = true;
  for (const auto& [key, value] : labels) {
    if (!first) out_ += ',';
    first = false;
    out_ += key;
    out_ += "=\"";
    for (char c : value) {
      if (c == '\\') {
        out_ += "\\\\";
      } else if (c == '"') {
        out_ += "\\\"";
      } else if (c == '\n') {
        out_ += "\\n";
      } else {
        out_ += c;
      }
    }
    out_ += '"';
  }
  out_ += '}';
}

void PrometheusText::Sample(std::string_view name, std::initializer_list<Label> labels,
                            std::uint64_t value) {
  Labels(name, labels);
  out_ += fmt::format(" {}\n", value);
}

void PrometheusText::Sample(std::string_view name, std::initializer_list<Label> labels,
                            std::int64_t value) {
  Labels(name, labels);
  out_ += fmt::format(" {}\n", value);
}

void PrometheusText::Sample(std::string_view name, std::initializer_list<Label> labels,
                            double value) {
  Labels(name, labels);
  out_ += fmt::format(" {}\n", value);
}

void PrometheusText::Counter(std::string_view name, std::string_view help, std::uint64_t value) {
  Family(name, help, Type::kCounter);
  Sample(name, {}, value);
}

void PrometheusText::Gauge(std::string_view name, std::string_view help, std::int64_t value) {
  Family(name, help, Type::kGauge);
  Sample(name, {}, value);
}

void PrometheusText::Gauge(std::string_view name, std::string_view help, double value) {
  Family(name, help, Type::kGauge);
  Sample(name, {}, value);
}

}  // namespace tsunagu::common
