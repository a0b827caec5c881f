// The grayscale standard display pipeline of PS3.4 N.2 / PS3.14 up to the P-values: Modality LUT,
// VOI LUT, Presentation LUT Shape (and MONOCHROME1 inversion), mapped to 8 bits.
//
// Stored value --Modality LUT--> modality value (HU for CT) --VOI--> [0,1] --Presentation-->
// 0..255. Pixel Padding Value (0028,0120) and Pixel Padding Range Limit (0028,0121) are in stored
// values; padded pixels are drawn black (0) and never take part in the histogram window.
#ifndef TSUNAGU_VIEWER_GRAYSCALE_H_
#define TSUNAGU_VIEWER_GRAYSCALE_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "tsunagu/common/result.h"
#include "tsunagu/viewer/image.h"

namespace tsunagu::viewer {

// A lookup table as in the Modality LUT Sequence (0028,3000) or VOI LUT Sequence (0028,3010):
// LUT Descriptor (first stored value mapped, LUT Data bits) and the LUT Data.
struct LookupTable {
  std::int32_t first_mapped = 0;
  int bits = 16;
  std::vector<std::uint16_t> data;
  friend bool operator==(const LookupTable&, const LookupTable&) = default;
};

// How the real result of the VOI stage becomes an 8-bit value.
enum class Arithmetic {
  // Modality values are kept as real numbers and the VOI output is rounded to the nearest
  // integer. This is Tsunagu's rendering.
  kExact,
  // What DCMTK 3.6.7's dcmimgle does (dimoopxt.h, DiMonoOutputPixelTemplate::window and
  // sigmoid; dimoipxt.h rescale): the rescaled modality value is truncated toward zero to an
  // integer, and the VOI output (a real in 0..255) is truncated, not rounded. Used by the tests to
  // show that, apart from that rule, the pipeline equals DCMTK's.
  kDcmtkCompatible,
};

// The attributes of one image that the pipeline needs (read from the file by FrameSource).
struct GrayscaleModel {
  bool monochrome1 = false;
  // Modality LUT: a LUT when (0028,3000) is present, else rescale slope/intercept.
  double rescale_slope = 1;
  double rescale_intercept = 0;
  std::optional<LookupTable> modality_lut;
  // VOI: the file's windows in order, its VOI LUT Function, its first VOI LUT.
  std::vector<Window> windows;
  VoiFunction voi_function = VoiFunction::kLinear;
  std::optional<LookupTable> voi_lut;
  // Presentation LUT Shape (2050,0020) INVERSE.
  bool presentation_inverse = false;
  // Pixel Padding Value and Pixel Padding Range Limit, in stored values.
  std::optional<std::int32_t> padding_value;
  std::optional<std::int32_t> padding_range_limit;
  // Used instead of the histogram when the file has no VOI: FrameSource sets the full stored range
  // for display-ready images (8 bits or fewer, identity Modality LUT, e.g. US, XA, SC).
  std::optional<Window> full_range_window;
};

// Which VOI the pipeline applied.
enum class VoiSource { kRequest, kFileWindow, kFileVoiLut, kFullRange, kHistogram };

struct GrayscaleOptions {
  // Overrides the file's VOI when set.
  std::optional<Window> window;
  // Overrides the file's VOI LUT Function when set.
  std::optional<VoiFunction> voi_function;
  Arithmetic arithmetic = Arithmetic::kExact;
};

struct GrayscaleResult {
  Image8 image;
  VoiSource voi_source = VoiSource::kRequest;
  // The window used (absent when a VOI LUT was used).
  std::optional<Window> window;
};

// The modality value of stored value `stored` (Modality LUT or rescale).
double ModalityValue(const GrayscaleModel& model, std::int32_t stored);

// The default window when the request and the file give none: from the histogram of the frame's
// modality values, padded pixels excluded, between the 0.5th and 99.5th percentiles (so that a
// few outliers do not flatten the image). nullopt when every pixel is padding.
std::optional<Window> HistogramWindow(const GrayscaleModel& model, const DecodedFrame& frame);

// Renders a grayscale frame (frame.samples == 1). VOI precedence: options.window, then the
// file's first window, then its VOI LUT, then model.full_range_window, then HistogramWindow().
// Errors: kInvalidArgument for a color frame or a bad window width (< 1).
common::Result<GrayscaleResult> RenderGrayscale(const GrayscaleModel& model,
                                                const DecodedFrame& frame,
                                                const GrayscaleOptions& options);

// Where the stored value sits in a 16-bit word: (word >> shift) masked to bits_stored bits, sign
// extended when is_signed (PS3.5 8.1.1: High Bit = shift + bits_stored - 1).
struct StoredBits {
  int shift = 0;
  int bits_stored = 16;
  bool is_signed = false;
};

// RenderGrayscale on a native 16-bit frame as it is stored (host byte order), without unpacking it
// to 32-bit values first; the output is identical. kFailedPrecondition when the VOI would come
// from the frame's histogram (then unpack and call RenderGrayscale); kInvalidArgument for
// inconsistent bits or window.
common::Result<GrayscaleResult> RenderGrayscaleWords(const GrayscaleModel& model,
                                                     const std::uint16_t* words, std::uint32_t rows,
                                                     std::uint32_t columns, const StoredBits& bits,
                                                     const GrayscaleOptions& options);

}  // namespace tsunagu::viewer

#endif  // TSUNAGU_VIEWER_GRAYSCALE_H_
