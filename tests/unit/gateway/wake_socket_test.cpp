// The doorbell between `tsunagu-gateway send` and the service (gateway/src/wake_socket.h).
#include "wake_socket.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "test_util.h"

namespace tsunagu::gateway {
namespace {

using namespace std::chrono_literals;

// Waits (bounded) until `count` reaches `want`.
bool WaitFor(const std::atomic<int>& count, int want) {
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (count.load() < want) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

TEST(WakeSocket, RingCallsTheListenerOncePerRing) {
  testing::TempDir dir;
  std::atomic<int> woken{0};
  auto listener = WakeListener::Start(dir.path() / "wake.sock", [&] { ++woken; });
  ASSERT_TRUE(listener.ok()) << listener.status();
  RingWake(dir.path() / "wake.sock");
  ASSERT_TRUE(WaitFor(woken, 1));
  RingWake(dir.path() / "wake.sock");
  ASSERT_TRUE(WaitFor(woken, 2));
  EXPECT_EQ(woken.load(), 2);
}

TEST(WakeSocket, StaleSocketFileIsReplacedAndRemovedAtStop) {
  testing::TempDir dir;
  const auto path = dir.path() / "wake.sock";
  std::atomic<int> woken{0};
  {
    // A service killed with -9 leaves its socket file behind.
    auto first = WakeListener::Start(path, [] {});
    ASSERT_TRUE(first.ok()) << first.status();
    auto second = WakeListener::Start(path, [&] { ++woken; });
    ASSERT_TRUE(second.ok()) << second.status();
    RingWake(path);
    ASSERT_TRUE(WaitFor(woken, 1));
    second->reset();
    EXPECT_FALSE(std::filesystem::exists(path));
  }
}

TEST(WakeSocket, RingWithoutAListenerOrWithATooLongPathDoesNothing) {
  testing::TempDir dir;
  RingWake(dir.path() / "nobody.sock");  // returns at once, no error to report
  const auto long_path = dir.path() / std::string(200, 'x');
  auto listener = WakeListener::Start(long_path, [] {});
  ASSERT_FALSE(listener.ok());
  EXPECT_EQ(listener.status().code(), common::ErrorCode::kInvalidArgument);
  RingWake(long_path);
}

}  // namespace
}  // namespace tsunagu::gateway
