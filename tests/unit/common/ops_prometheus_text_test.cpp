#include <gtest/gtest.h>

#include "tsunagu/common/prometheus_text.h"

namespace tsunagu::common {
namespace {

TEST(PrometheusText, WritesFamiliesWithHelpTypeAndSamples) {
  PrometheusText out;
  out.Counter("t_total", "Things.", std::uint64_t{3});
  out.Gauge("t_up", "Up.", std::int64_t{1});
  out.Family("t_by", "By reason.", PrometheusText::Type::kCounter);
  out.Sample("t_by", {{"reason", "disk_full"}, {"listener", "upload"}}, std::uint64_t{2});
  EXPECT_EQ(out.text(),
            "# HELP t_total Things.\n# TYPE t_total counter\nt_total 3\n"
            "# HELP t_up Up.\n# TYPE t_up gauge\nt_up 1\n"
            "# HELP t_by By reason.\n# TYPE t_by counter\n"
            "t_by{reason=\"disk_full\",listener=\"upload\"} 2\n");
}

TEST(PrometheusText, EscapesLabelValues) {
  PrometheusText out;
  out.Sample("g", {{"gateway", "a\"b\\c\nd"}}, std::int64_t{-1});
  EXPECT_EQ(out.text(), "g{gateway=\"a\\\"b\\\\c\\nd\"} -1\n");
}

}  // namespace
}  // namespace tsunagu::common
