#include "pixel_copy.h"

#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace tsunagu::anonymizer::internal {
namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

bool ReadExactly(int fd, std::uint64_t offset, void* out, std::size_t n) {
  return ::pread(fd, out, n, static_cast<off_t>(offset)) == static_cast<ssize_t>(n);
}

std::uint32_t Le32(const unsigned char* p) {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}

}  // namespace

std::optional<PixelTail> FindPixelTail(DcmDataset& dataset, const std::filesystem::path& input,
                                       E_TransferSyntax xfer) {
  const DcmXfer x(xfer);
  if (!x.isLittleEndian() || x.getStreamCompression() != ESC_none || dataset.card() == 0) {
    return std::nullopt;
  }
  DcmElement* last = dataset.getElement(dataset.card() - 1);
  if (last == nullptr || last->getTag() != DCM_PixelData || last->ident() != EVR_PixelData) {
    return std::nullopt;
  }
  auto* pixel = static_cast<DcmPixelData*>(last);
  const bool explicit_vr = x.isExplicitVR();
  std::uint64_t value_size = 0;
  bool encapsulated = false;
  if (x.isEncapsulated()) {
    DcmPixelSequence* sequence = nullptr;
    if (pixel->getEncapsulatedRepresentation(xfer, nullptr, sequence).bad() ||
        sequence == nullptr) {
      return std::nullopt;
    }
    encapsulated = true;
    for (unsigned long i = 0; i < sequence->card(); ++i) {
      DcmPixelItem* item = nullptr;
      if (sequence->getItem(item, i).bad() || item == nullptr) return std::nullopt;
      value_size += 8 + std::uint64_t{item->getLength()};
    }
    value_size += 8;  // sequence delimitation item
  } else {
    if (pixel->isEmpty() && pixel->getLength() == 0) return std::nullopt;
    value_size = pixel->getLength();
  }
  const std::uint64_t header = explicit_vr ? 12 : 8;
  Fd fd(::open(input.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return std::nullopt;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || st.st_size <= 0) return std::nullopt;
  const auto file_size = static_cast<std::uint64_t>(st.st_size);
  const std::uint64_t tail = header + value_size;
  if (tail > file_size) return std::nullopt;
  const std::uint64_t offset = file_size - tail;
  unsigned char h[12] = {};
  if (!ReadExactly(fd.get(), offset, h, header)) return std::nullopt;
  if (std::memcmp(h, "\xE0\x7F\x10\x00", 4) != 0) return std::nullopt;
  std::uint32_t length = 0;
  if (explicit_vr) {
    if (!((h[4] == 'O' && (h[5] == 'B' || h[5] == 'W')) && h[6] == 0 && h[7] == 0)) {
      return std::nullopt;
    }
    length = Le32(h + 8);
  } else {
    length = Le32(h + 4);
  }
  if (encapsulated) {
    if (length != 0xFFFFFFFFu) return std::nullopt;
    unsigned char end[8] = {};
    if (!ReadExactly(fd.get(), file_size - 8, end, 8) ||
        std::memcmp(end, "\xFE\xFF\xDD\xE0\x00\x00\x00\x00", 8) != 0) {
      return std::nullopt;
    }
  } else if (length != value_size) {
    return std::nullopt;
  }
  return PixelTail{offset, tail};
}

common::Status AppendPixelTailToFd(const std::filesystem::path& input, const PixelTail& tail,
                                   int out_fd) {
  Fd in(::open(input.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0) return common::StatusFromErrno(errno, "open input for the pixel data");
  loff_t in_offset = static_cast<loff_t>(tail.offset);
  std::uint64_t left = tail.size;
  // copy_file_range first (in-kernel; EXDEV across file systems on older kernels), then
  // sendfile, then plain reads and writes.
  bool use_copy_range = true, use_sendfile = true;
  std::vector<char> buffer;
  while (left > 0) {
    const std::size_t chunk = static_cast<std::size_t>(std::min<std::uint64_t>(left, 1u << 30));
    ssize_t n = -1;
    if (use_copy_range) {
      n = ::copy_file_range(in.get(), &in_offset, out_fd, nullptr, chunk, 0);
      if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP ||
                    errno == EBADF)) {
        use_copy_range = false;
        continue;
      }
    } else if (use_sendfile) {
      off_t off = static_cast<off_t>(in_offset);
      n = ::sendfile(out_fd, in.get(), &off, chunk);
      if (n < 0 && (errno == EINVAL || errno == ENOSYS)) {
        use_sendfile = false;
        continue;
      }
      if (n > 0) in_offset = off;
    } else {
      if (buffer.empty()) buffer.resize(1 << 20);
      n = ::pread(in.get(), buffer.data(), std::min(chunk, buffer.size()), in_offset);
      if (n > 0) {
        for (ssize_t done = 0; done < n;) {
          const ssize_t w = ::write(out_fd, buffer.data() + done, n - done);
          if (w < 0 && errno == EINTR) continue;
          if (w <= 0) return common::StatusFromErrno(errno, "write the pixel data");
          done += w;
        }
        in_offset += n;
      }
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return common::StatusFromErrno(errno, "copy the pixel data");
    if (n == 0) return common::InternalError("copy the pixel data: the input ended early");
    left -= static_cast<std::uint64_t>(n);
  }
  return common::Status::Ok();
}

}  // namespace tsunagu::anonymizer::internal
