// Private: carries the pixel data of an instance that needs no masking over bit for bit, as a
// range of bytes copied from the input file to the output file inside the kernel
// (copy_file_range), instead of through DCMTK's write cache in user space.
#ifndef TSUNAGU_ANONYMIZER_SRC_PIXEL_COPY_H_
#define TSUNAGU_ANONYMIZER_SRC_PIXEL_COPY_H_

#include <dcmtk/dcmdata/dctk.h>

#include <cstdint>
#include <filesystem>
#include <optional>

#include "tsunagu/common/status.h"

namespace tsunagu::anonymizer::internal {

// The bytes [offset, offset + size) of the input file: the whole Pixel Data element (tag,
// VR, length and value; for encapsulated data every item and the sequence delimiter).
struct PixelTail {
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
};

// Where the Pixel Data element of `dataset`, read from `input` in `xfer`, lies in the file, when
// it is the dataset's last element, runs exactly to the end of the file, and `xfer` is little
// endian and not deflated. The element's header is read back from the file and compared with
// what DCMTK parsed (tag, VR, length; for encapsulated data the closing delimiter), so the range
// is proven to be that element and nothing else. nullopt otherwise (the caller then lets DCMTK
// write the element).
std::optional<PixelTail> FindPixelTail(DcmDataset& dataset, const std::filesystem::path& input,
                                       E_TransferSyntax xfer);

// Appends the bytes `tail` of `input` at the current offset of the open file `out_fd` (which
// stays open). kInternal / kDiskFull on failure.
common::Status AppendPixelTailToFd(const std::filesystem::path& input, const PixelTail& tail,
                                   int out_fd);

}  // namespace tsunagu::anonymizer::internal

#endif  // TSUNAGU_ANONYMIZER_SRC_PIXEL_COPY_H_
