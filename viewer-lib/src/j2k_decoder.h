// JPEG 2000 decoding of one frame's codestream through OpenJPEG.
#ifndef TSUNAGU_VIEWER_SRC_J2K_DECODER_H_
#define TSUNAGU_VIEWER_SRC_J2K_DECODER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "tsunagu/common/result.h"

namespace tsunagu::viewer::internal {

struct J2kImage {
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  int components = 0;
  int precision = 0;
  bool is_signed = false;
  // components planes of width*height values each, as OpenJPEG decoded them (after its inverse
  // multi-component transform, if the codestream asks for one).
  std::vector<std::vector<std::int32_t>> planes;
};

// Decodes a J2K codestream or a JP2 file. Errors: kDataLoss with OpenJPEG's reason.
common::Result<J2kImage> DecodeJ2k(const std::string& bytes);

}  // namespace tsunagu::viewer::internal

#endif  // TSUNAGU_VIEWER_SRC_J2K_DECODER_H_
