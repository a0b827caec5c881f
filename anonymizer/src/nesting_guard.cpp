#include "nesting_guard.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tsunagu::anonymizer::internal {
namespace {

constexpr std::string_view kItemLe("\xFE\xFF\x00\xE0", 4);
constexpr std::string_view kItemBe("\xFF\xFE\xE0\x00", 4);
constexpr std::string_view kDeflatedUid = "1.2.840.10008.1.2.1.99";

std::uint64_t Count(std::string_view data) {
  std::uint64_t n = 0;
  for (std::string_view needle : {kItemLe, kItemBe}) {
    for (std::size_t pos = data.find(needle); pos != std::string_view::npos;
         pos = data.find(needle, pos + 1)) {
      ++n;
    }
  }
  return n;
}

// Counts item tags in the inflated dataset that follows the meta header of a deflated file.
std::uint64_t CountInflated(std::string_view file) {
  if (file.size() < 144 || file.substr(128, 4) != "DICM") return 0;
  std::uint32_t meta_length = 0;
  std::memcpy(&meta_length, file.data() + 140, 4);  // (0002,0000) UL, little endian
  const std::size_t start = 144 + static_cast<std::size_t>(meta_length);
  if (start >= file.size()) return 0;
  z_stream z{};
  if (inflateInit2(&z, -MAX_WBITS) != Z_OK) return 0;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(file.data() + start));
  z.avail_in = static_cast<uInt>(std::min<std::size_t>(file.size() - start, 1u << 30));
  std::vector<char> out(1 << 16);
  std::string carry;  // last 3 bytes of the previous chunk, for tags split across chunks
  std::uint64_t n = 0;
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    rc = inflate(&z, Z_NO_FLUSH);
    const std::size_t produced = out.size() - z.avail_out;
    if (produced == 0) break;
    std::string chunk = carry + std::string(out.data(), produced);
    n += Count(chunk);
    carry = chunk.substr(chunk.size() >= 3 ? chunk.size() - 3 : 0);
    if (n > kMaxItemTags) break;
  }
  inflateEnd(&z);
  return n;
}

}  // namespace

common::Status CheckNestingBound(const std::filesystem::path& path) {
  // Read in chunks rather than mapped, so that a 2 GB file does not count as 2 GB resident.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return common::InvalidArgumentError("not readable as DICOM: cannot open");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size <= 0) {
    ::close(fd);
    return common::Status::Ok();  // the parser reports empty or odd files
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  // Most inputs need only their first 64 KiB looked at (read into memory that is not zeroed:
  // zeroing a buffer per file showed in the profile); the 1 MiB buffer is for full scans.
  constexpr std::size_t kHead = 64 * 1024;
  const std::unique_ptr<char[]> head_buffer(new char[kHead]);
  const ssize_t head_read = ::pread(fd, head_buffer.get(), kHead, 0);
  const std::string_view head(head_buffer.get(),
                              head_read > 0 ? static_cast<std::size_t>(head_read) : 0);
  std::uint64_t items = 0;
  if (head.find(kDeflatedUid) != std::string_view::npos) {
    // Deflated datasets are small on disk and large once inflated: read all of it (deflated
    // files are rare and small).
    std::vector<char> buffer(1 << 20);
    std::string file;
    file.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(size, 1u << 30)));
    for (ssize_t n;
         (n = ::read(fd, buffer.data(), buffer.size())) > 0 && file.size() < (1u << 30);) {
      file.append(buffer.data(), static_cast<std::size_t>(n));
    }
    items = CountInflated(file);
  } else if (size / 8 > kMaxItemTags) {  // an item tag takes at least 8 bytes
    // Scanned in place: the last 3 bytes of a chunk move to the front of the buffer, so that a
    // tag split across two reads is still seen, and nothing else is copied.
    std::vector<char> buffer(1 << 20);
    constexpr std::size_t kCarry = 3;
    std::size_t carried = 0;
    for (ssize_t n; (n = ::read(fd, buffer.data() + carried, buffer.size() - carried)) > 0 &&
                    items <= kMaxItemTags;) {
      const std::size_t filled = carried + static_cast<std::size_t>(n);
      items += Count(std::string_view(buffer.data(), filled));
      carried = std::min(filled, kCarry);
      std::memmove(buffer.data(), buffer.data() + filled - carried, carried);
    }
  }
  ::close(fd);
  if (items > kMaxItemTags) {
    return common::DeidentificationRefusedError(
        "more than " + std::to_string(kMaxItemTags) +
        " sequence items: nesting too deep to process safely");
  }
  return common::Status::Ok();
}

namespace {
// Set on threads started here: they already have a kWorkerStackBytes stack.
thread_local bool tl_on_large_stack = false;

void* Trampoline(void* arg) {
  tl_on_large_stack = true;
  (*static_cast<const std::function<void()>*>(arg))();
  return nullptr;
}
}  // namespace

common::Status RunOnLargeStack(const std::function<void()>& fn) {
  if (tl_on_large_stack) {
    fn();
    return common::Status::Ok();
  }
  pthread_attr_t attr;
  if (pthread_attr_init(&attr) != 0) return common::ResourceExhaustedError("no thread attributes");
  pthread_attr_setstacksize(&attr, kWorkerStackBytes);
  pthread_t thread;
  const int rc =
      pthread_create(&thread, &attr, Trampoline, const_cast<std::function<void()>*>(&fn));
  pthread_attr_destroy(&attr);
  if (rc != 0) return common::ResourceExhaustedError("cannot start a de-identification thread");
  pthread_join(thread, nullptr);
  return common::Status::Ok();
}

common::Status RunLargeStackThreads(unsigned count, const std::function<void()>& fn) {
  std::vector<pthread_t> threads;
  common::Status status = common::Status::Ok();
  for (unsigned i = 0; i < count; ++i) {
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0) {
      status = common::ResourceExhaustedError("no thread attributes");
      break;
    }
    pthread_attr_setstacksize(&attr, kWorkerStackBytes);
    pthread_t thread;
    const int rc =
        pthread_create(&thread, &attr, Trampoline, const_cast<std::function<void()>*>(&fn));
    pthread_attr_destroy(&attr);
    if (rc != 0) {
      status = common::ResourceExhaustedError("cannot start a de-identification thread");
      break;
    }
    threads.push_back(thread);
  }
  for (pthread_t thread : threads) pthread_join(thread, nullptr);
  return status;
}

}  // namespace tsunagu::anonymizer::internal
