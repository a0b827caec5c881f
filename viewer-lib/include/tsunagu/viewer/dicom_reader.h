// DicomReader: where the bytes of one DICOM object come from. The relay holds decrypted objects in
// memory or (for tests and tools) as files; both are read through this interface so that the
// decoder can fetch one frame's bytes without reading the rest of the pixel data.
#ifndef TSUNAGU_VIEWER_DICOM_READER_H_
#define TSUNAGU_VIEWER_DICOM_READER_H_

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>

#include "tsunagu/common/result.h"

namespace tsunagu::viewer {

// Random access to an immutable byte sequence. Implementations must be safe to call from one
// thread at a time; ReadAt() does not change any shared position.
class DicomReader {
 public:
  virtual ~DicomReader() = default;

  // Total number of bytes.
  virtual std::uint64_t Size() const = 0;
  // Copies up to out.size() bytes starting at `offset` into `out` and returns how many were
  // copied (fewer only at the end). Errors: kDataLoss when the underlying storage fails.
  virtual common::Result<std::size_t> ReadAt(std::uint64_t offset, std::span<char> out) const = 0;
  // All Size() bytes when they are held contiguously in memory for the reader's lifetime (then a
  // frame of native pixel data is read in place, without a copy); nullptr otherwise.
  virtual const char* Contiguous() const { return nullptr; }
};

// Bytes held in memory; the reader owns them (or shares them with the caller).
class MemoryDicomReader final : public DicomReader {
 public:
  explicit MemoryDicomReader(std::string bytes);
  explicit MemoryDicomReader(std::shared_ptr<const std::string> bytes);

  std::uint64_t Size() const override;
  common::Result<std::size_t> ReadAt(std::uint64_t offset, std::span<char> out) const override;
  const char* Contiguous() const override { return bytes_->data(); }

 private:
  std::shared_ptr<const std::string> bytes_;
};

// A file read with pread(2); the file stays open for the reader's lifetime.
class FileDicomReader final : public DicomReader {
 public:
  // Errors: kNotFound, kPermissionDenied, kInternal.
  static common::Result<std::unique_ptr<FileDicomReader>> Open(const std::filesystem::path& path);
  ~FileDicomReader() override;
  FileDicomReader(const FileDicomReader&) = delete;
  FileDicomReader& operator=(const FileDicomReader&) = delete;

  std::uint64_t Size() const override;
  common::Result<std::size_t> ReadAt(std::uint64_t offset, std::span<char> out) const override;

 private:
  FileDicomReader(int fd, std::uint64_t size) : fd_(fd), size_(size) {}
  int fd_;
  std::uint64_t size_;
};

}  // namespace tsunagu::viewer

#endif  // TSUNAGU_VIEWER_DICOM_READER_H_
