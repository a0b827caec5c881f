#include "tsunagu/common/clock.h"

#include <gtest/gtest.h>

namespace tsunagu::common {
namespace {

using namespace std::chrono_literals;

TEST(FakeClock, MovesOnlyWhenAdvanced) {
  FakeClock clock;
  const auto wall = clock.SystemNow();
  const auto mono = clock.SteadyNow();
  EXPECT_EQ(clock.SystemNow(), wall);
  clock.Advance(72h);
  EXPECT_EQ(clock.SystemNow() - wall, 72h);
  EXPECT_EQ(clock.SteadyNow() - mono, 72h);
}

TEST(FakeClock, NegativeAdvanceIsIgnored) {
  FakeClock clock;
  const auto wall = clock.SystemNow();
  clock.Advance(-5s);
  EXPECT_EQ(clock.SystemNow(), wall);
}

TEST(FakeClock, WallClockCanJumpBackWithoutMovingSteadyClock) {
  FakeClock clock;
  const auto mono = clock.SteadyNow();
  clock.SetSystemTime(std::chrono::system_clock::time_point(1000s));
  EXPECT_EQ(clock.SystemNow().time_since_epoch(), 1000s);
  EXPECT_EQ(clock.SteadyNow(), mono);
}

TEST(SystemClock, SteadyClockDoesNotGoBackwards) {
  SystemClock clock;
  const auto a = clock.SteadyNow();
  const auto b = clock.SteadyNow();
  EXPECT_LE(a, b);
  const auto wall = clock.SystemNow();
  EXPECT_GT(wall.time_since_epoch(), std::chrono::hours(24 * 365 * 50));
}

}  // namespace
}  // namespace tsunagu::common
