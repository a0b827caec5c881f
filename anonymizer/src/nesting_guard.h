// Private: protection against inputs nested so deeply that parsing them would overflow the stack.
// DCMTK 3.6.7 reads sequences recursively with no depth limit, so a file of a few hundred
// kilobytes of nested sequences crashes any reader on a default 8 MiB stack.
#ifndef TSUNAGU_ANONYMIZER_SRC_NESTING_GUARD_H_
#define TSUNAGU_ANONYMIZER_SRC_NESTING_GUARD_H_

#include <cstdint>
#include <filesystem>
#include <functional>

#include "tsunagu/common/status.h"

namespace tsunagu::anonymizer::internal {

// Stack for the thread that parses and de-identifies one file (reserved, committed as used).
inline constexpr std::size_t kWorkerStackBytes = 512u << 20;
// Nesting depth is at most the number of item tags; measured stack use is under 2 KiB a level,
// so this many items fit in kWorkerStackBytes with room to spare (150000 levels measured at
// about 300 MiB).
inline constexpr std::uint64_t kMaxItemTags = 150'000;

// OK when the file cannot hold more than kMaxItemTags item tags (FFFE,E000): small files
// trivially, larger ones by counting the tag in both byte orders (after inflating a deflated
// dataset). kDeidentificationRefused otherwise.
common::Status CheckNestingBound(const std::filesystem::path& path);

// Runs `fn` on a new thread with a kWorkerStackBytes stack and waits for it; directly when the
// calling thread was started by RunLargeStackThreads (it has such a stack already).
// kResourceExhausted when the thread cannot be created.
common::Status RunOnLargeStack(const std::function<void()>& fn);

// Runs `fn` on `count` new threads, each with a kWorkerStackBytes stack, and waits for them all.
// kResourceExhausted when a thread cannot be created (the ones started still run to the end).
common::Status RunLargeStackThreads(unsigned count, const std::function<void()>& fn);

}  // namespace tsunagu::anonymizer::internal

#endif  // TSUNAGU_ANONYMIZER_SRC_NESTING_GUARD_H_
