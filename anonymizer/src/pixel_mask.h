// Private: burned-in annotation policy and pixel masking.
#ifndef TSUNAGU_ANONYMIZER_SRC_PIXEL_MASK_H_
#define TSUNAGU_ANONYMIZER_SRC_PIXEL_MASK_H_

#include <dcmtk/dcmdata/dctk.h>

#include <optional>
#include <string>
#include <vector>

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

// Bit positions of the overlays that live in the pixel data's unused high bits (PS3.3 C.9.2,
// retired: Overlay Bits Allocated equal to Bits Allocated, no Overlay Data), one per overlay
// group 60xx of `dataset`; empty when there are none.
std::vector<unsigned> EmbeddedOverlayBits(DcmItem& dataset);

// Clears `bits` in every pixel cell of every frame (Annex E removes overlays; PS3.15 Table
// E.1-1 Overlay Data X). Compressed pixel data is decompressed first as in ApplyMask and
// `*output_xfer` becomes Explicit VR Little Endian. kDeidentificationRefused when an overlay
// bit lies inside the stored bits, or the pixel data cannot be edited.
common::Status ClearEmbeddedOverlays(DcmDataset& dataset, const std::vector<unsigned>& bits,
                                     E_TransferSyntax* output_xfer);

// Registers DCMTK's decoders once per process (thread-safe, idempotent).
void EnsureCodecsRegistered();

}  // namespace tsunagu::anonymizer::internal

#endif  // TSUNAGU_ANONYMIZER_SRC_PIXEL_MASK_H_
