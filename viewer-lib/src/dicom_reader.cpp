#include "tsunagu/viewer/dicom_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace tsunagu::viewer {

using common::Result;

MemoryDicomReader::MemoryDicomReader(std::string bytes)
    : bytes_(std::make_shared<const std::string>(std::move(bytes))) {}

MemoryDicomReader::MemoryDicomReader(std::shared_ptr<const std::string> bytes)
    : bytes_(bytes ? std::move(bytes) : std::make_shared<const std::string>()) {}

std::uint64_t MemoryDicomReader::Size() const { return bytes_->size(); }

Result<std::size_t> MemoryDicomReader::ReadAt(std::uint64_t offset, std::span<char> out) const {
  if (offset >= bytes_->size()) return std::size_t{0};
  const std::size_t n = std::min<std::uint64_t>(out.size(), bytes_->size() - offset);
  std::memcpy(out.data(), bytes_->data() + offset, n);
  return n;
}

Result<std::unique_ptr<FileDicomReader>> FileDicomReader::Open(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return common::StatusFromErrno(errno, "open DICOM file");
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return common::StatusFromErrno(err, "stat DICOM file");
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return common::InvalidArgumentError("not a regular file");
  }
  return std::unique_ptr<FileDicomReader>(
      new FileDicomReader(fd, static_cast<std::uint64_t>(st.st_size)));
}

FileDicomReader::~FileDicomReader() { ::close(fd_); }

std::uint64_t FileDicomReader::Size() const { return size_; }

Result<std::size_t> FileDicomReader::ReadAt(std::uint64_t offset, std::span<char> out) const {
  std::size_t done = 0;
  while (done < out.size() && offset + done < size_) {
    const ssize_t n =
        ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return common::DataLossError(std::string("read DICOM file: ") + std::strerror(errno));
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

}  // namespace tsunagu::viewer
