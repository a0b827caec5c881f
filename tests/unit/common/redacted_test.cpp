#include "tsunagu/common/redacted.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <sstream>
#include <string>

#include "tsunagu/common/logging.h"

namespace tsunagu::common {
namespace {

TEST(Redacted, FormatsAsRedactedButKeepsValue) {
  Redacted<std::string> name("YAMADA^TARO");
  EXPECT_EQ(fmt::format("patient={}", name), "patient=<redacted>");
  std::ostringstream os;
  os << name;
  EXPECT_EQ(os.str(), "<redacted>");
  EXPECT_EQ(name.get(), "YAMADA^TARO");
}

TEST(Redacted, NeverReachesALogSink) {
  std::ostringstream captured;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(captured);
  auto log = MakeLogger("test", {sink}, spdlog::level::trace);
  log->info("job.received job={} patient={}", 42, Redacted<std::string>("YAMADA^TARO"));
  log->flush();
  EXPECT_NE(captured.str().find("job.received job=42 patient=<redacted>"), std::string::npos)
      << captured.str();
  EXPECT_EQ(captured.str().find("YAMADA"), std::string::npos);
}

TEST(Logging, ParsesLevels) {
  EXPECT_EQ(*ParseLogLevel("warn"), spdlog::level::warn);
  EXPECT_FALSE(ParseLogLevel("loud").ok());
}

}  // namespace
}  // namespace tsunagu::common
