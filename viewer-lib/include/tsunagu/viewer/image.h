// Value types shared by the decoder, the grayscale pipeline and the encoders.
#ifndef TSUNAGU_VIEWER_IMAGE_H_
#define TSUNAGU_VIEWER_IMAGE_H_

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tsunagu::viewer {

// A VOI window (PS3.3 C.11.2.1.2), in modality units (e.g. HU for CT). width >= 1.
struct Window {
  double center = 0;
  double width = 1;
  friend auto operator<=>(const Window&, const Window&) = default;
};

// VOI LUT Function (0028,1056), PS3.3 C.11.2.1.3.
enum class VoiFunction { kLinear, kLinearExact, kSigmoid };

// One decoded frame before any grayscale transformation.
//  - samples == 1: `gray` holds rows*columns stored values (Bits Stored masked, sign-extended when
//    Pixel Representation is 1), row by row.
//  - samples == 3: `rgb` holds rows*columns RGB triplets, 8 bits per sample, already converted
//    from YBR_FULL / YBR_FULL_422 / planar configuration 1 and scaled down from > 8 bits.
struct DecodedFrame {
  std::uint32_t rows = 0;
  std::uint32_t columns = 0;
  int samples = 1;
  std::vector<std::int32_t> gray;
  std::vector<std::uint8_t> rgb;
};

// An 8-bit image ready for encoding: channels 1 (gray) or 3 (RGB, interleaved), row by row.
struct Image8 {
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  int channels = 1;
  std::vector<std::uint8_t> pixels;
};

}  // namespace tsunagu::viewer

#endif  // TSUNAGU_VIEWER_IMAGE_H_
