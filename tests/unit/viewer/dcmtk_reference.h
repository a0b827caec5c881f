// DCMTK's own renderer (dcmimgle/dcmimage, in-process) as the reference the viewer's pixel
// pipeline is tested against.
#ifndef TSUNAGU_TESTS_UNIT_VIEWER_DCMTK_REFERENCE_H_
#define TSUNAGU_TESTS_UNIT_VIEWER_DCMTK_REFERENCE_H_

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "tsunagu/viewer/image.h"

namespace tsunagu::viewer::testing {

enum class ReferenceVoi { kWindow, kFirstVoiLut };

struct ReferenceRequest {
  std::uint32_t frame = 0;
  ReferenceVoi voi = ReferenceVoi::kWindow;
  Window window;  // for kWindow
  bool sigmoid = false;
};

// Renders `frame` of `path` with DicomImage: 8 bits, gray or RGB interleaved. An empty image with
// `error` set when DCMTK cannot render it.
struct ReferenceImage {
  Image8 image;
  std::string error;
};
ReferenceImage RenderWithDcmtk(const std::filesystem::path& path, const ReferenceRequest& request);

// Largest absolute difference between two images of the same shape, over pixels where `mask` is
// empty or true; -1 when the shapes differ.
int MaxDifference(const Image8& a, const Image8& b, const std::vector<bool>& mask = {});

}  // namespace tsunagu::viewer::testing

#endif  // TSUNAGU_TESTS_UNIT_VIEWER_DCMTK_REFERENCE_H_
