// RLE Lossless (PS3.5 Annex G) decoding of one frame, bounds-checked. DCMTK 3.6.7's
// DcmRLEDecoder writes past its buffer on corrupted segments (found by
// FrameSource.CorruptedCompressedDataNeverCrashes), so the viewer decodes RLE itself.
#ifndef TSUNAGU_VIEWER_SRC_RLE_DECODER_H_
#define TSUNAGU_VIEWER_SRC_RLE_DECODER_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "tsunagu/common/result.h"

namespace tsunagu::viewer::internal {

// Decodes the RLE data of one frame (its fragments concatenated) into native pixel data: samples
// little endian, interleaved by pixel (planar == false) or by plane (planar == true).
// Errors: kDataLoss with the reason when the header or a segment is inconsistent.
common::Result<std::string> DecodeRleFrame(std::string_view rle, std::uint32_t rows,
                                           std::uint32_t columns, int samples, int bytes_per_sample,
                                           bool planar);

}  // namespace tsunagu::viewer::internal

#endif  // TSUNAGU_VIEWER_SRC_RLE_DECODER_H_
