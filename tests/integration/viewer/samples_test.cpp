// The viewer on the project's synthetic studies (samples/generate_study.py) and on DCMTK's own
// transcodings of them (RLE, JPEG lossless/baseline with and without a Basic Offset Table and with
// several fragments per frame, JPEG-LS, big endian, deflate, implicit; planar configuration 1 and
// YBR_FULL made with pydicom). Made by make_samples.sh in the viewer_samples fixture.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "dcmtk_reference.h"
#include "tsunagu/viewer/frame_source.h"

namespace tsunagu::viewer {
namespace {

std::filesystem::path Sample(const std::string& name) {
  const char* dir = std::getenv("TSUNAGU_VIEWER_SAMPLES");
  return std::filesystem::path(dir != nullptr ? dir : "missing-TSUNAGU_VIEWER_SAMPLES") / name;
}

std::unique_ptr<FrameSource> OpenOrDie(const std::string& name) {
  auto source = FrameSource::OpenFile(Sample(name));
  EXPECT_TRUE(source.ok()) << name << ": " << source.status();
  return source.ok() ? std::move(*source) : nullptr;
}

class SampleMatchesDcmtk : public ::testing::TestWithParam<const char*> {};

TEST_P(SampleMatchesDcmtk, EveryFrameEveryWindow) {
  const std::string name = GetParam();
  auto source = OpenOrDie(name);
  ASSERT_NE(source, nullptr);
  const FrameInfo info = source->Describe();
  int worst_exact = 0;
  for (std::uint32_t frame = 0; frame < info.frames; ++frame) {
    auto decoded = source->DecodeFrame(frame);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    testing::ReferenceRequest request;
    request.frame = frame;
    if (!info.grayscale) {
      auto mine = source->Render8(frame, RenderParams{});
      ASSERT_TRUE(mine.ok());
      const auto ref = testing::RenderWithDcmtk(Sample(name), request);
      ASSERT_EQ(ref.error, "");
      const int diff = testing::MaxDifference(*mine, ref.image);
      // YBR_FULL: Tsunagu evaluates PS3.3 C.7.6.3.1.2 in reals and rounds once; DCMTK
      // (dcmimage/diybrpxt.h) uses 4-digit coefficients in per-term tables truncated toward
      // zero, so each chroma term can be 1 lower: up to 2 for G (two terms), 1 for R and B.
      EXPECT_GE(diff, 0);
      EXPECT_LE(diff, info.photometric == "YBR_FULL" ? 2 : 0) << "frame " << frame;
      worst_exact = std::max(worst_exact, diff);
      continue;
    }
    std::vector<std::optional<Window>> windows = {std::nullopt};  // the default VOI
    for (const Window& w : info.windows) windows.push_back(w);
    windows.push_back(Window{123.5, 77});
    for (const auto& window : windows) {
      GrayscaleOptions options;
      options.window = window;
      options.arithmetic = Arithmetic::kDcmtkCompatible;
      auto compatible = RenderGrayscale(source->grayscale_model(), *decoded, options);
      ASSERT_TRUE(compatible.ok());
      ASSERT_TRUE(compatible->window.has_value());
      request.window = *compatible->window;
      const auto ref = testing::RenderWithDcmtk(Sample(name), request);
      ASSERT_EQ(ref.error, "");
      EXPECT_EQ(testing::MaxDifference(compatible->image, ref.image), 0)
          << "frame " << frame << " window " << request.window.center << "/"
          << request.window.width;
      options.arithmetic = Arithmetic::kExact;
      auto exact = RenderGrayscale(source->grayscale_model(), *decoded, options);
      ASSERT_TRUE(exact.ok());
      const int diff = testing::MaxDifference(exact->image, ref.image);
      EXPECT_GE(diff, 0);
      EXPECT_LE(diff, 1);
      worst_exact = std::max(worst_exact, diff);
    }
  }
  RecordProperty("max_difference_exact", worst_exact);
  std::cout << "[ viewer   ] " << name << ": frames=" << info.frames
            << " photometric=" << info.photometric << " ts=" << info.transfer_syntax_uid
            << " max_diff_compatible=0 max_diff_exact=" << worst_exact << "\n";
}

INSTANTIATE_TEST_SUITE_P(Samples, SampleMatchesDcmtk,
                         ::testing::Values("ct.dcm", "ct_rle.dcm", "ct_jpeg_lossless_sv1.dcm",
                                           "ct_jpegls.dcm", "ct_big_endian.dcm", "ct_deflate.dcm",
                                           "ct_implicit.dcm", "mr.dcm", "mr_jpegls.dcm", "us.dcm",
                                           "us_jpeg_baseline.dcm", "xa.dcm", "xa_rle.dcm",
                                           "xa_jpeg_lossless.dcm", "xa_jpeg_fragments_bot.dcm",
                                           "xa_jpeg_fragments_nobot.dcm", "xa_jpeg_nobot.dcm",
                                           "sc.dcm", "sc_rle.dcm", "sc_jpeg_baseline.dcm",
                                           "sc_planar1.dcm", "sc_ybr_full.dcm"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

void ExpectSameFrames(const std::string& original, const std::string& variant) {
  auto a = OpenOrDie(original);
  auto b = OpenOrDie(variant);
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->Describe().frames, b->Describe().frames);
  for (std::uint32_t f = 0; f < a->Describe().frames; ++f) {
    auto fa = a->DecodeFrame(f);
    auto fb = b->DecodeFrame(f);
    ASSERT_TRUE(fa.ok() && fb.ok()) << variant << " frame " << f;
    EXPECT_EQ(fa->gray, fb->gray) << variant << " frame " << f;
    EXPECT_EQ(fa->rgb, fb->rgb) << variant << " frame " << f;
  }
}

TEST(Samples, LosslessTranscodingsDecodeToTheSameValues) {
  for (const char* v : {"ct_rle.dcm", "ct_jpeg_lossless_sv1.dcm", "ct_jpegls.dcm",
                        "ct_big_endian.dcm", "ct_deflate.dcm", "ct_implicit.dcm"}) {
    ExpectSameFrames("ct.dcm", v);
  }
  ExpectSameFrames("mr.dcm", "mr_jpegls.dcm");
  for (const char* v : {"xa_rle.dcm", "xa_jpeg_lossless.dcm", "xa_jpeg_fragments_bot.dcm",
                        "xa_jpeg_fragments_nobot.dcm", "xa_jpeg_nobot.dcm"}) {
    ExpectSameFrames("xa.dcm", v);
  }
  ExpectSameFrames("sc.dcm", "sc_rle.dcm");
  ExpectSameFrames("sc.dcm", "sc_planar1.dcm");
}

// The CT phantom has two 3x3 px markers (1500 HU) exactly 50.0 mm apart on one row.
TEST(Samples, CtMarkersMeasure50mmWithPixelSpacing) {
  auto source = OpenOrDie("ct.dcm");
  ASSERT_NE(source, nullptr);
  const FrameInfo& info = source->Describe();
  ASSERT_TRUE(info.pixel_spacing.has_value());
  EXPECT_FALSE(info.pixel_spacing->imager);
  auto frame = source->DecodeFrame(0);
  ASSERT_TRUE(frame.ok());
  // Marker centres: pixels above 1200 HU whose 3x3 neighbourhood is all above 1200 HU.
  std::vector<std::pair<int, int>> centres;
  const int cols = static_cast<int>(info.columns), rows = static_cast<int>(info.rows);
  const auto hu = [&](int r, int c) {
    return ModalityValue(source->grayscale_model(), frame->gray[r * cols + c]);
  };
  for (int r = 1; r + 1 < rows; ++r) {
    for (int c = 1; c + 1 < cols; ++c) {
      bool all = true;
      for (int dr = -1; dr <= 1 && all; ++dr) {
        for (int dc = -1; dc <= 1 && all; ++dc) all = hu(r + dr, c + dc) > 1200;
      }
      if (all) centres.emplace_back(r, c);
    }
  }
  ASSERT_EQ(centres.size(), 2u);
  EXPECT_EQ(centres[0].first, centres[1].first);
  const double mm = (centres[1].second - centres[0].second) * info.pixel_spacing->column_mm;
  EXPECT_NEAR(mm, 50.0, info.pixel_spacing->column_mm);
  std::cout << "[ viewer   ] CT markers: " << mm << " mm apart\n";
}

TEST(Samples, CineTimingAndSpacingKinds) {
  auto xa = OpenOrDie("xa.dcm");
  auto us = OpenOrDie("us.dcm");
  ASSERT_TRUE(xa && us);
  ASSERT_TRUE(xa->Describe().frame_time_ms.has_value());
  EXPECT_DOUBLE_EQ(*xa->Describe().frame_time_ms, 66.67);
  ASSERT_TRUE(xa->Describe().pixel_spacing.has_value());
  EXPECT_TRUE(xa->Describe().pixel_spacing->imager);
  EXPECT_EQ(xa->Describe().frames, 5u);
  ASSERT_TRUE(us->Describe().frame_time_ms.has_value());
  EXPECT_DOUBLE_EQ(*us->Describe().frame_time_ms, 33.33);
}

}  // namespace
}  // namespace tsunagu::viewer
