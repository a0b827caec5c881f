// The pixel pipeline against DCMTK's own renderer (dcmimgle/dcmimage in-process) on the edge-case
// files Debian's python3-pydicom ships: same file, same frame, same window, 8-bit output before
// JPEG encoding.
//
// The comparison rule: with Arithmetic::kDcmtkCompatible the output must be identical (max
// difference 0). With Tsunagu's own Arithmetic::kExact (round to nearest instead of DCMTK's
// truncation) the difference is at most 1 and is reported as a test property.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "dcmtk_reference.h"
#include "tsunagu/viewer/frame_source.h"

namespace tsunagu::viewer {
namespace {

std::filesystem::path TestFile(const std::string& name) {
  return std::filesystem::path(TSUNAGU_PYDICOM_TEST_FILES) / name;
}

struct Compared {
  int max_compatible = -1;
  int max_exact = -1;
  std::size_t differing_exact = 0;
};

// Renders every frame of `mine_file` with both arithmetics and DCMTK's render of the same frame
// of `reference_file` (the same file, or its uncompressed / little endian twin).
void CompareWithDcmtk(const std::string& mine_file, const std::string& reference_file,
                      int allowed_color_difference = 0) {
  auto source = FrameSource::OpenFile(TestFile(mine_file));
  ASSERT_TRUE(source.ok()) << source.status();
  const FrameInfo& info = (*source)->Describe();
  Compared worst;
  for (std::uint32_t frame = 0; frame < info.frames; ++frame) {
    SCOPED_TRACE("frame " + std::to_string(frame));
    auto decoded = (*source)->DecodeFrame(frame);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    testing::ReferenceRequest request;
    request.frame = frame;
    if (decoded->samples == 3) {
      Image8 mine;
      mine.width = decoded->columns;
      mine.height = decoded->rows;
      mine.channels = 3;
      mine.pixels = decoded->rgb;
      const auto ref = testing::RenderWithDcmtk(TestFile(reference_file), request);
      ASSERT_EQ(ref.error, "");
      const int diff = testing::MaxDifference(mine, ref.image);
      EXPECT_GE(diff, 0) << "shapes differ";
      EXPECT_LE(diff, allowed_color_difference);
      worst.max_exact = std::max(worst.max_exact, diff);
      continue;
    }
    GrayscaleOptions options;
    options.arithmetic = Arithmetic::kDcmtkCompatible;
    auto compatible = RenderGrayscale((*source)->grayscale_model(), *decoded, options);
    ASSERT_TRUE(compatible.ok()) << compatible.status();
    if (compatible->window) {
      request.window = *compatible->window;
    } else {
      request.voi = testing::ReferenceVoi::kFirstVoiLut;
    }
    const auto ref = testing::RenderWithDcmtk(TestFile(reference_file), request);
    ASSERT_EQ(ref.error, "");
    const int diff = testing::MaxDifference(compatible->image, ref.image);
    EXPECT_EQ(diff, 0) << "DCMTK-compatible arithmetic must equal DCMTK";
    worst.max_compatible = std::max(worst.max_compatible, diff);

    options.arithmetic = Arithmetic::kExact;
    auto exact = RenderGrayscale((*source)->grayscale_model(), *decoded, options);
    ASSERT_TRUE(exact.ok()) << exact.status();
    const int exact_diff = testing::MaxDifference(exact->image, ref.image);
    EXPECT_GE(exact_diff, 0);
    EXPECT_LE(exact_diff, 1) << "rounding instead of truncation moves a value by at most 1";
    worst.max_exact = std::max(worst.max_exact, exact_diff);
    for (std::size_t i = 0; i < exact->image.pixels.size(); ++i) {
      if (exact->image.pixels[i] != ref.image.pixels[i]) ++worst.differing_exact;
    }
  }
  ::testing::Test::RecordProperty("max_difference_dcmtk_compatible", worst.max_compatible);
  ::testing::Test::RecordProperty("max_difference_exact", worst.max_exact);
  ::testing::Test::RecordProperty("pixels_differing_exact", std::to_string(worst.differing_exact));
  std::cout << "[ viewer   ] " << mine_file << " vs DCMTK(" << reference_file
            << "): frames=" << info.frames << " max_diff_compatible=" << worst.max_compatible
            << " max_diff_exact=" << worst.max_exact
            << " pixels_differing_exact=" << worst.differing_exact << "\n";
}

struct SameFileCase {
  const char* file;
  int allowed_color_difference;
};

class MatchesDcmtk : public ::testing::TestWithParam<SameFileCase> {};

TEST_P(MatchesDcmtk, SameFrameSameWindow) {
  CompareWithDcmtk(GetParam().file, GetParam().file, GetParam().allowed_color_difference);
}

// Grayscale and color files DCMTK renders itself.
INSTANTIATE_TEST_SUITE_P(
    PydicomFiles, MatchesDcmtk,
    ::testing::Values(
        // grayscale, uncompressed: signed/unsigned, implicit, big endian, deflate, 32-bit
        SameFileCase{"CT_small.dcm", 0}, SameFileCase{"MR_small.dcm", 0},
        SameFileCase{"MR_small_implicit.dcm", 0}, SameFileCase{"MR_small_bigendian.dcm", 0},
        SameFileCase{"MR_small_expb.dcm", 0}, SameFileCase{"MR_small_padded.dcm", 0},
        SameFileCase{"image_dfl.dcm", 0}, SameFileCase{"badVR.dcm", 0},
        SameFileCase{"rtdose.dcm", 0}, SameFileCase{"rtdose_1frame.dcm", 0},
        // grayscale, compressed: RLE (multi-frame), JPEG extended (12-bit), JPEG-LS lossless
        SameFileCase{"MR_small_RLE.dcm", 0}, SameFileCase{"rtdose_rle.dcm", 0},
        SameFileCase{"rtdose_rle_1frame.dcm", 0}, SameFileCase{"JPEG-lossy.dcm", 0},
        SameFileCase{"JPGExtended.dcm", 0}, SameFileCase{"MR_small_jpeg_ls_lossless.dcm", 0},
        // color: RGB planar 1 big endian, odd size, JPEG baseline/lossless RGB and YBR, RLE
        // 8/16/32-bit single and multi-frame
        SameFileCase{"ExplVR_BigEnd.dcm", 0}, SameFileCase{"SC_rgb_small_odd.dcm", 0},
        SameFileCase{"SC_rgb_small_odd_jpeg.dcm", 0}, SameFileCase{"SC_rgb_jpeg_dcmtk.dcm", 0},
        SameFileCase{"SC_rgb_jpeg_dcmd.dcm", 0}, SameFileCase{"SC_rgb_jpeg_app14_dcmd.dcm", 0},
        SameFileCase{"SC_rgb_jpeg_gdcm.dcm", 0}, SameFileCase{"SC_rgb_jpeg_lossy_gdcm.dcm", 0},
        SameFileCase{"SC_jpeg_no_color_transform.dcm", 0},
        SameFileCase{"SC_jpeg_no_color_transform_2.dcm", 0},
        SameFileCase{"SC_rgb_dcmtk_+eb+cr.dcm", 0}, SameFileCase{"SC_rgb_dcmtk_+eb+cy+n1.dcm", 0},
        SameFileCase{"SC_rgb_dcmtk_+eb+cy+n2.dcm", 0},
        SameFileCase{"SC_rgb_dcmtk_+eb+cy+np.dcm", 0},
        SameFileCase{"SC_rgb_dcmtk_+eb+cy+s2.dcm", 0},
        SameFileCase{"SC_rgb_dcmtk_+eb+cy+s4.dcm", 0}, SameFileCase{"SC_rgb_rle.dcm", 0},
        SameFileCase{"SC_rgb_rle_2frame.dcm", 0}, SameFileCase{"SC_rgb_rle_16bit.dcm", 0},
        SameFileCase{"SC_rgb_rle_16bit_2frame.dcm", 0}, SameFileCase{"SC_rgb_rle_32bit.dcm", 0},
        SameFileCase{"SC_rgb_rle_32bit_2frame.dcm", 0},
        // Uncompressed YBR_FULL_422: Tsunagu evaluates PS3.3 C.7.6.3.1.2 in reals and rounds
        // once; DCMTK (dcmimage/diybrpxt.h) uses 4-digit coefficients in per-term tables
        // truncated toward zero: up to 2 lower for G (two terms), 1 for R and B.
        SameFileCase{"SC_ybr_full_422_uncompressed.dcm", 2}),
    [](const auto& info) {
      std::string name = info.param.file;
      for (char& c : name) {
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      }
      return name;
    });

// DCMTK 3.6.7 has no JPEG 2000 decoder, and its DicomImage misreads 32-bit big endian pixel data
// (it leaves the 16-bit halves of each value swapped). For those, the decoded values must equal
// those of the file's twin, and the render must equal DCMTK's render of the twin.
TEST(PydicomTwins, Jpeg2000LosslessEqualsUncompressed) {
  CompareWithDcmtk("MR_small_jp2klossless.dcm", "MR_small.dcm");
}

TEST(PydicomTwins, BigEndian32BitEqualsLittleEndian) {
  CompareWithDcmtk("rtdose_expb.dcm", "rtdose.dcm");
  CompareWithDcmtk("rtdose_expb_1frame.dcm", "rtdose_1frame.dcm");
  auto big = FrameSource::OpenFile(TestFile("rtdose_expb.dcm"));
  auto little = FrameSource::OpenFile(TestFile("rtdose.dcm"));
  ASSERT_TRUE(big.ok() && little.ok());
  for (std::uint32_t f : {0u, 7u, 14u}) {
    auto a = (*big)->DecodeFrame(f);
    auto b = (*little)->DecodeFrame(f);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->gray, b->gray) << "frame " << f;
  }
}

// pydicom's own reference values for this file (tests/test_pylibjpeg.py, test_pixel_rep_mismatch):
// the codestream says unsigned 13-bit, the data set says signed; the data set wins.
TEST(PydicomJpeg2000, PixelRepresentationMismatchMatchesPydicomReference) {
  auto source = FrameSource::OpenFile(TestFile("J2K_pixelrep_mismatch.dcm"));
  ASSERT_TRUE(source.ok()) << source.status();
  auto frame = (*source)->DecodeFrame(0);
  ASSERT_TRUE(frame.ok()) << frame.status();
  ASSERT_EQ(frame->columns, 512u);
  const auto at = [&](int row, int col) { return frame->gray[row * 512 + col]; };
  EXPECT_EQ(at(0, 0), -2000);
  const std::vector<int> col279 = {621, 412, 138, -193, -520, -767, -907, -966, -988, -995};
  const std::vector<int> col106 = {-377, -121, 141, 383, 633, 910, 1198, 1455, 1638, 1732};
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(at(47 + i, 279), col279[i]) << i;
    EXPECT_EQ(at(328 + i, 106), col106[i]) << i;
  }
}

TEST(PydicomJpeg2000, LossyAndColorFilesDecodeAndRender) {
  for (const char* name :
       {"JPEG2000.dcm", "693_J2KI.dcm", "GDCMJ2K_TextGBR.dcm", "SC_rgb_gdcm_KY.dcm"}) {
    SCOPED_TRACE(name);
    auto source = FrameSource::OpenFile(TestFile(name));
    ASSERT_TRUE(source.ok()) << source.status();
    auto image = (*source)->RenderJpeg(0, RenderParams{});
    ASSERT_TRUE(image.ok()) << image.status();
    EXPECT_EQ(image->width, (*source)->Describe().columns);
    EXPECT_EQ(image->height, (*source)->Describe().rows);
    EXPECT_EQ(image->jpeg.substr(0, 2), "\xFF\xD8");
  }
}

// Files that cannot be rendered: a clear, one-line reason with the right code; never a crash.
struct UnrenderableCase {
  const char* file;
  common::ErrorCode code;
  const char* message_part;
  bool fails_at_open;
};

class Unrenderable : public ::testing::TestWithParam<UnrenderableCase> {};

TEST_P(Unrenderable, ClearErrorNoCrash) {
  const UnrenderableCase& c = GetParam();
  auto source = FrameSource::OpenFile(TestFile(c.file));
  common::Status status;
  if (c.fails_at_open) {
    ASSERT_FALSE(source.ok());
    status = source.status();
  } else {
    ASSERT_TRUE(source.ok()) << source.status();
    auto image = (*source)->RenderJpeg(0, RenderParams{});
    ASSERT_FALSE(image.ok());
    status = image.status();
  }
  EXPECT_EQ(status.code(), c.code) << status;
  EXPECT_NE(status.message().find(c.message_part), std::string::npos) << status;
  EXPECT_EQ(status.message().find('\n'), std::string::npos) << "one line";
}

INSTANTIATE_TEST_SUITE_P(
    PydicomFiles, Unrenderable,
    ::testing::Values(
        UnrenderableCase{"MR_truncated.dcm", common::ErrorCode::kInvalidArgument,
                         "not a readable DICOM object", true},
        UnrenderableCase{"SC_rgb_jpeg.dcm", common::ErrorCode::kInvalidArgument,
                         "not a readable DICOM object", true},
        UnrenderableCase{"no_meta.dcm", common::ErrorCode::kInvalidArgument,
                         "not a readable DICOM object", true},
        UnrenderableCase{"rtplan_truncated.dcm", common::ErrorCode::kInvalidArgument,
                         "not a readable DICOM object", true},
        UnrenderableCase{"liver_1frame.dcm", common::ErrorCode::kInvalidArgument,
                         "Bits Allocated 1 is not supported", true},
        UnrenderableCase{"rtplan.dcm", common::ErrorCode::kInvalidArgument, "no Pixel Data", true},
        UnrenderableCase{"waveform_ecg.dcm", common::ErrorCode::kInvalidArgument, "no Pixel Data",
                         true},
        UnrenderableCase{"meta_missing_tsyntax.dcm", common::ErrorCode::kInvalidArgument,
                         "Rows or Columns", true},
        // A sequence delimiter inside the JPEG 2000 codestream: DCMTK ends the fragment there,
        // OpenJPEG then rejects the truncated codestream.
        UnrenderableCase{"JPEG2000-embedded-sequence-delimiter.dcm", common::ErrorCode::kDataLoss,
                         "JPEG 2000", false}),
    [](const auto& info) {
      std::string name = info.param.file;
      for (char& c : name) {
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      }
      return name;
    });

}  // namespace
}  // namespace tsunagu::viewer
