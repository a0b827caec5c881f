#include "tsunagu/common/subprocess.h"

#include <gtest/gtest.h>

namespace tsunagu::common {
namespace {

using namespace std::chrono_literals;

TEST(RunCommand, CapturesOutputAndExitCode) {
  auto r = RunCommand({"sh", "-c", "echo out; echo err >&2; exit 3"}, 5s);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
}

TEST(RunCommand, PassesExtraEnvironment) {
  auto r = RunCommand({"sh", "-c", "printf %s \"$TSUNAGU_X\""}, 5s, {"TSUNAGU_X=42"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out, "42");
}

TEST(RunCommand, KillsOnTimeout) {
  const auto start = std::chrono::steady_clock::now();
  auto r = RunCommand({"sh", "-c", "sleep 30 & sleep 30"}, 300ms);
  EXPECT_EQ(r.status().code(), ErrorCode::kDeadlineExceeded);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
}

TEST(RunCommand, MissingProgram) {
  auto r = RunCommand({"tsunagu-no-such-program"}, 1s);
  EXPECT_EQ(r.status().code(), ErrorCode::kNotFound);
}

TEST(RunCommand, SignalExitIsReported) {
  auto r = RunCommand({"sh", "-c", "kill -9 $$"}, 5s);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 128 + 9);
}

}  // namespace
}  // namespace tsunagu::common
