// Private: burned-in annotation policy and pixel masking.
#ifndef TSUNAGU_ANONYMIZER_SRC_PIXEL_MASK_H_
#define TSUNAGU_ANONYMIZER_SRC_PIXEL_MASK_H_

#include <dcmtk/dcmdata/dctk.h>

#include <optional>
#include <string>

#include "tsunagu/anonymizer/deidentifier.h"
#include "tsunagu/common/status.h"

namespace tsunagu::anonymizer::internal {

// Why the instance may carry burned-in text (Burned In Annotation = YES; modality US; SC, OT, XC
// or ES without Burned In Annotation = NO), or nullopt when it need not be masked.
std::optional<std::string> BurnedInReason(DcmItem& dataset);

// The first rule matching the instance, or nullptr.
const PixelMaskRule* FindMaskRule(DcmItem& dataset, const std::vector<PixelMaskRule>& rules);

// Blacks out the rule's rectangles in every frame. Compressed pixel data is decompressed first
// (JPEG baseline/extended/lossless, JPEG-LS, RLE through DCMTK's codecs; JPEG 2000 through
// OpenJPEG) and `*output_xfer` is
// set to Explicit VR Little Endian so that the result stays lossless. kDeidentificationRefused
// when the pixel data cannot be masked (fragmented JPEG 2000 frames, unsupported layout).
common::Status ApplyMask(DcmDataset& dataset, const PixelMaskRule& rule,
                         E_TransferSyntax* output_xfer);

// Registers DCMTK's decoders once per process (thread-safe, idempotent).
void EnsureCodecsRegistered();

}  // namespace tsunagu::anonymizer::internal

#endif  // TSUNAGU_ANONYMIZER_SRC_PIXEL_MASK_H_
