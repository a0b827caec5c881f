// Private: JPEG 2000 decoding through OpenJPEG, for masking burned-in text in JPEG 2000 pixel
// data (DCMTK 3.6.7 has no JPEG 2000 codec).
#ifndef TSUNAGU_ANONYMIZER_SRC_JPEG2000_H_
#define TSUNAGU_ANONYMIZER_SRC_JPEG2000_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "tsunagu/common/result.h"

namespace tsunagu::anonymizer::internal {

struct DecodedImage {
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  std::uint32_t components = 0;  // 1 or 3
  std::uint32_t precision = 0;   // bits per sample
  bool is_signed = false;
  std::vector<std::int32_t> samples;  // interleaved: (y * width + x) * components + c
};

// Decodes a JPEG 2000 codestream (J2K) or JP2 file held in memory. Components must all have the
// same size and no subsampling. kDeidentificationRefused (the caller cannot mask) otherwise.
common::Result<DecodedImage> DecodeJpeg2000(std::string_view data);

}  // namespace tsunagu::anonymizer::internal

#endif  // TSUNAGU_ANONYMIZER_SRC_JPEG2000_H_
