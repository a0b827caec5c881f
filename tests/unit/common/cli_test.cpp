#include "tsunagu/common/cli.h"

#include <gtest/gtest.h>

namespace tsunagu::common {
namespace {

const CliSpec kSpec{{"--help", "--no-wait"}, {"--config", "--thread", "--tag"}, {"--tag"}};

TEST(CliArgs, ParsesFlagsOptionsAndPositionals) {
  auto args =
      CliArgs::Parse({"send", "--config", "g.toml", "--thread=cardio", "--no-wait", "x"}, kSpec);
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(args->positional(), (std::vector<std::string>{"send", "x"}));
  EXPECT_EQ(args->Option("--config"), "g.toml");
  EXPECT_EQ(args->Option("--thread"), "cardio");
  EXPECT_TRUE(args->Flag("--no-wait"));
  EXPECT_FALSE(args->Flag("--help"));
  EXPECT_FALSE(args->Option("--tag").has_value());
}

TEST(CliArgs, RepeatableOptionsCollectAllValues) {
  auto args = CliArgs::Parse({"--tag", "a", "--tag", "b"}, kSpec);
  ASSERT_TRUE(args.ok());
  EXPECT_EQ(args->All("--tag"), (std::vector<std::string>{"a", "b"}));
}

TEST(CliArgs, Errors) {
  EXPECT_EQ(CliArgs::Parse({"--bogus"}, kSpec).status().message(), "unknown option --bogus");
  EXPECT_EQ(CliArgs::Parse({"-x"}, kSpec).status().message(), "unknown option -x");
  EXPECT_EQ(CliArgs::Parse({"--config"}, kSpec).status().message(), "--config needs a value");
  EXPECT_EQ(CliArgs::Parse({"--help=yes"}, kSpec).status().message(), "--help takes no value");
  EXPECT_EQ(CliArgs::Parse({"--config", "a", "--config", "b"}, kSpec).status().message(),
            "--config given more than once");
}

TEST(CliArgs, DoubleDashEndsOptions) {
  auto args = CliArgs::Parse({"--", "--help", "-"}, kSpec);
  ASSERT_TRUE(args.ok());
  EXPECT_FALSE(args->Flag("--help"));
  EXPECT_EQ(args->positional(), (std::vector<std::string>{"--help", "-"}));
}

}  // namespace
}  // namespace tsunagu::common
