// 8-bit image output: downscaling and JPEG encoding through libjpeg-turbo's TurboJPEG API.
#ifndef TSUNAGU_VIEWER_JPEG_H_
#define TSUNAGU_VIEWER_JPEG_H_

#include <cstdint>
#include <string>

#include "tsunagu/common/result.h"
#include "tsunagu/viewer/image.h"

namespace tsunagu::viewer {

// Returns `image` shrunk (area average, aspect ratio kept) so that neither side exceeds
// `max_size`; the image itself when it already fits or max_size is 0. Never enlarges.
Image8 FitWithin(const Image8& image, std::uint32_t max_size);
// The same, moving `image` through when it already fits (no copy).
Image8 FitWithin(Image8&& image, std::uint32_t max_size);

// Encodes `image` as a baseline JFIF JPEG (gray or YCbCr 4:2:0) with `quality` 1..100.
// Errors: kInvalidArgument for an empty image or a quality out of range; kInternal when
// TurboJPEG fails. Thread-safe (one TurboJPEG handle per call).
common::Result<std::string> EncodeJpeg(const Image8& image, int quality);

}  // namespace tsunagu::viewer

#endif  // TSUNAGU_VIEWER_JPEG_H_
