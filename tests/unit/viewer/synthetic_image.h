// Small synthetic DICOM images written with DCMTK for tests that need an attribute the generated
// samples and pydicom's files lack (MONOCHROME1, padding, LUT sequences, SIGMOID, ...).
#ifndef TSUNAGU_TESTS_UNIT_VIEWER_SYNTHETIC_IMAGE_H_
#define TSUNAGU_TESTS_UNIT_VIEWER_SYNTHETIC_IMAGE_H_

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

class DcmDataset;

namespace tsunagu::viewer::testing {

struct SyntheticImage {
  std::uint16_t rows = 32;
  std::uint16_t columns = 48;
  std::uint16_t frames = 1;
  bool pixel_signed = true;
  int bits_stored = 16;
  std::string photometric = "MONOCHROME2";
  // Stored value of pixel i of frame f; default: a ramp from -1100 to 3000 plus 7 per frame.
  std::function<std::int32_t(std::size_t i, std::uint16_t f)> value;
  // Extra attributes, set on the data set before saving.
  std::function<void(DcmDataset&)> edit;
};

// Writes `image` to `path` (explicit VR little endian); returns an empty string or the error.
std::string WriteSyntheticImage(const std::filesystem::path& path, const SyntheticImage& image);

// A fresh directory under the test temporary directory, removed by the caller if it likes.
std::filesystem::path FreshTempDir(const std::string& name);

}  // namespace tsunagu::viewer::testing

#endif  // TSUNAGU_TESTS_UNIT_VIEWER_SYNTHETIC_IMAGE_H_
