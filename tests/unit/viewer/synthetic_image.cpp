#include "synthetic_image.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>

namespace tsunagu::viewer::testing {

std::string WriteSyntheticImage(const std::filesystem::path& path, const SyntheticImage& image) {
  DcmFileFormat file;
  DcmDataset& ds = *file.getDataset();
  ds.putAndInsertString(DCM_SOPClassUID, UID_SecondaryCaptureImageStorage);
  ds.putAndInsertString(DCM_SOPInstanceUID, "2.25.1234567890");
  ds.putAndInsertString(DCM_Modality, "OT");
  ds.putAndInsertUint16(DCM_Rows, image.rows);
  ds.putAndInsertUint16(DCM_Columns, image.columns);
  if (image.frames > 1)
    ds.putAndInsertString(DCM_NumberOfFrames, std::to_string(image.frames).c_str());
  ds.putAndInsertUint16(DCM_SamplesPerPixel, 1);
  ds.putAndInsertString(DCM_PhotometricInterpretation, image.photometric.c_str());
  ds.putAndInsertUint16(DCM_BitsAllocated, 16);
  ds.putAndInsertUint16(DCM_BitsStored, static_cast<Uint16>(image.bits_stored));
  ds.putAndInsertUint16(DCM_HighBit, static_cast<Uint16>(image.bits_stored - 1));
  ds.putAndInsertUint16(DCM_PixelRepresentation, image.pixel_signed ? 1 : 0);
  const std::size_t pixels = static_cast<std::size_t>(image.rows) * image.columns;
  std::vector<Uint16> data(pixels * image.frames);
  for (std::uint16_t f = 0; f < image.frames; ++f) {
    for (std::size_t i = 0; i < pixels; ++i) {
      const std::int32_t v =
          image.value ? image.value(i, f)
                      : static_cast<std::int32_t>(-1100 + (4100 * i) / (pixels - 1) + 7 * f);
      data[f * pixels + i] = static_cast<Uint16>(v & ((1 << image.bits_stored) - 1));
    }
  }
  ds.putAndInsertUint16Array(DCM_PixelData, data.data(), static_cast<unsigned long>(data.size()));
  if (image.edit) image.edit(ds);
  const OFCondition cond = file.saveFile(path.c_str(), EXS_LittleEndianExplicit);
  return cond.good() ? std::string() : std::string(cond.text());
}

std::filesystem::path FreshTempDir(const std::string& name) {
  static std::atomic<int> counter{0};
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) /
                                    ("tsunagu_viewer_" + name + "_" + std::to_string(::getpid()) +
                                     "_" + std::to_string(counter++));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace tsunagu::viewer::testing
