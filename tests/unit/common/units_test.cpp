#include "tsunagu/common/units.h"

#include <gtest/gtest.h>

namespace tsunagu::common {
namespace {

using namespace std::chrono_literals;

TEST(ParseDuration, AcceptsTheDocumentedForms) {
  EXPECT_EQ(ParseDuration("3d"), std::chrono::milliseconds(72h));
  EXPECT_EQ(ParseDuration("36h"), std::chrono::milliseconds(36h));
  EXPECT_EQ(ParseDuration("90m"), std::chrono::milliseconds(90min));
  EXPECT_EQ(ParseDuration("30s"), std::chrono::milliseconds(30s));
  EXPECT_EQ(ParseDuration("250ms"), std::chrono::milliseconds(250));
  EXPECT_EQ(ParseDuration("1h30m"), std::chrono::milliseconds(90min));
  EXPECT_EQ(ParseDuration("0s"), std::chrono::milliseconds(0));
}

TEST(ParseDuration, RejectsEverythingElse) {
  for (const char* bad : {"", "3", "d", "3 d", "3days", "-3d", "1.5h", "3D", "h3", "3d ",
                          "99999999999999999999d", "9223372036854775807d"}) {
    EXPECT_FALSE(ParseDuration(bad).has_value()) << bad;
  }
}

TEST(FormatDuration, RoundTrips) {
  EXPECT_EQ(FormatDuration(72h), "3d");
  EXPECT_EQ(FormatDuration(90min), "1h30m");
  EXPECT_EQ(FormatDuration(std::chrono::milliseconds(1500)), "1s500ms");
  EXPECT_EQ(FormatDuration(0s), "0s");
  for (const char* text : {"3d", "36h", "1d12h", "90m", "45s"}) {
    EXPECT_EQ(ParseDuration(FormatDuration(*ParseDuration(text))), ParseDuration(text)) << text;
  }
}

TEST(ParseByteSize, DecimalAndBinaryUnits) {
  EXPECT_EQ(ParseByteSize("512"), 512u);
  EXPECT_EQ(ParseByteSize("512B"), 512u);
  EXPECT_EQ(ParseByteSize("2kB"), 2000u);
  EXPECT_EQ(ParseByteSize("100GB"), 100'000'000'000u);
  EXPECT_EQ(ParseByteSize("512MiB"), 512u << 20);
  EXPECT_EQ(ParseByteSize("2GiB"), 2ULL << 30);
  EXPECT_EQ(ParseByteSize("1TiB"), 1ULL << 40);
}

TEST(ParseByteSize, RejectsMalformedAndOverflow) {
  for (const char* bad : {"", "GB", "1.5GB", "10 GB", "10gb", "-1", "99999999999TiB", "5XB"}) {
    EXPECT_FALSE(ParseByteSize(bad).has_value()) << bad;
  }
}

TEST(FormatByteSize, HumanReadable) {
  EXPECT_EQ(FormatByteSize(512), "512 B");
  EXPECT_EQ(FormatByteSize(1536), "1.5 KiB");
  EXPECT_EQ(FormatByteSize(2ULL << 30), "2.0 GiB");
}

}  // namespace
}  // namespace tsunagu::common
