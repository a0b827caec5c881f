#include "tsunagu/viewer/grayscale.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdatset.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcitem.h>
#include <dcmtk/dcmdata/dcvrus.h>
#include <gtest/gtest.h>

#include <cmath>

#include "dcmtk_reference.h"
#include "synthetic_image.h"
#include "tsunagu/viewer/frame_source.h"
#include "tsunagu/viewer/jpeg.h"

namespace tsunagu::viewer {
namespace {

DecodedFrame GrayFrame(std::vector<std::int32_t> values) {
  DecodedFrame frame;
  frame.rows = 1;
  frame.columns = static_cast<std::uint32_t>(values.size());
  frame.gray = std::move(values);
  return frame;
}

std::vector<int> Render(const GrayscaleModel& model, const DecodedFrame& frame,
                        GrayscaleOptions options = {}) {
  auto result = RenderGrayscale(model, frame, options);
  EXPECT_TRUE(result.ok()) << result.status();
  if (!result.ok()) return {};
  return std::vector<int>(result->image.pixels.begin(), result->image.pixels.end());
}

// PS3.3 C.11.2.1.2.1 with c=40, w=400: x <= -160 -> 0, x > 239 -> 255, else
// ((x - 39.5) / 399 + 0.5) * 255 rounded.
TEST(Grayscale, LinearWindowFollowsPs3Equation) {
  GrayscaleOptions options;
  options.window = Window{40, 400};
  const auto out = Render({}, GrayFrame({-1000, -160, -159, 40, 239, 240, 3000}), options);
  const auto expected = [](double x) {
    return static_cast<int>(std::lround(((x - 39.5) / 399 + 0.5) * 255));
  };
  EXPECT_EQ(out, (std::vector<int>{0, 0, expected(-159), expected(40), expected(239), 255, 255}));
  EXPECT_EQ(out[3], 128);
}

TEST(Grayscale, LinearExactUsesTheExactBorders) {
  GrayscaleOptions options;
  options.window = Window{40, 400};
  options.voi_function = VoiFunction::kLinearExact;
  const auto out = Render({}, GrayFrame({-160, -150, 40, 240, 241}), options);
  EXPECT_EQ(
      out, (std::vector<int>{0, static_cast<int>(std::lround((10.0 / 400) * 255)), 128, 255, 255}));
}

TEST(Grayscale, SigmoidFollowsPs3Equation) {
  GrayscaleOptions options;
  options.window = Window{100, 50};
  options.voi_function = VoiFunction::kSigmoid;
  const auto out = Render({}, GrayFrame({0, 100, 125, 1000}), options);
  const auto sig = [](double x) {
    return static_cast<int>(std::lround(255 / (1 + std::exp(-4 * (x - 100) / 50))));
  };
  EXPECT_EQ(out, (std::vector<int>{sig(0), 128, sig(125), 255}));
  EXPECT_EQ(out[0], 0);
}

TEST(Grayscale, Monochrome1AndPresentationInverseInvertOnce) {
  GrayscaleOptions options;
  options.window = Window{128, 256};
  const DecodedFrame frame = GrayFrame({0, 10, 100, 200, 255});
  GrayscaleModel mono2;
  const auto normal = Render(mono2, frame, options);
  GrayscaleModel mono1;
  mono1.monochrome1 = true;
  const auto inverted = Render(mono1, frame, options);
  ASSERT_EQ(normal.size(), inverted.size());
  for (std::size_t i = 0; i < normal.size(); ++i) EXPECT_EQ(normal[i] + inverted[i], 255) << i;
  GrayscaleModel mono2_inverse;
  mono2_inverse.presentation_inverse = true;
  EXPECT_EQ(Render(mono2_inverse, frame, options), inverted);
  // PS3.3 C.8.11.7: for MONOCHROME1, INVERSE describes the same inversion, not a second one.
  GrayscaleModel mono1_inverse = mono1;
  mono1_inverse.presentation_inverse = true;
  EXPECT_EQ(Render(mono1_inverse, frame, options), inverted);
}

TEST(Grayscale, ModalityRescaleAndLut) {
  GrayscaleModel rescale;
  rescale.rescale_slope = 2;
  rescale.rescale_intercept = -1024;
  EXPECT_DOUBLE_EQ(ModalityValue(rescale, 1000), 976);
  GrayscaleModel lut = rescale;
  lut.modality_lut = LookupTable{10, 16, {100, 200, 300}};
  EXPECT_DOUBLE_EQ(ModalityValue(lut, 5), 100);  // below the first mapped value
  EXPECT_DOUBLE_EQ(ModalityValue(lut, 11), 200);
  EXPECT_DOUBLE_EQ(ModalityValue(lut, 99), 300);  // above the last
}

TEST(Grayscale, VoiPrecedenceRequestThenFileWindowThenVoiLutThenHistogram) {
  const DecodedFrame frame = GrayFrame({0, 1, 2, 3});
  GrayscaleModel model;
  model.voi_lut = LookupTable{0, 8, {0, 85, 170, 255}};
  auto r = RenderGrayscale(model, frame, {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->voi_source, VoiSource::kFileVoiLut);
  EXPECT_FALSE(r->window.has_value());
  EXPECT_EQ(std::vector<int>(r->image.pixels.begin(), r->image.pixels.end()),
            (std::vector<int>{0, 85, 170, 255}));
  model.windows = {Window{2, 4}, Window{100, 10}};
  r = RenderGrayscale(model, frame, {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->voi_source, VoiSource::kFileWindow);
  EXPECT_EQ(r->window, (Window{2, 4}));
  GrayscaleOptions options;
  options.window = Window{1, 2};
  r = RenderGrayscale(model, frame, options);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->voi_source, VoiSource::kRequest);
  r = RenderGrayscale(GrayscaleModel{}, frame, {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->voi_source, VoiSource::kHistogram);
}

TEST(Grayscale, PaddingIsBlackAndOutsideTheHistogramWindow) {
  std::vector<std::int32_t> values;
  for (int i = 0; i < 1000; ++i) values.push_back(i % 2 == 0 ? -2000 : 100 + (i % 101));
  const DecodedFrame frame = GrayFrame(values);
  GrayscaleModel model;
  model.padding_value = -2000;
  const auto window = HistogramWindow(model, frame);
  ASSERT_TRUE(window.has_value());
  EXPECT_GE(window->center - window->width / 2, 99);
  EXPECT_LE(window->center + window->width / 2, 202);
  model.monochrome1 = true;  // padding stays black even when inverted
  auto r = RenderGrayscale(model, frame, {});
  ASSERT_TRUE(r.ok());
  for (std::size_t i = 0; i < values.size(); i += 2) ASSERT_EQ(r->image.pixels[i], 0) << i;
  // Pixel Padding Range Limit: a range of padded values (either order).
  model.padding_value = -1990;
  model.padding_range_limit = -2010;
  r = RenderGrayscale(model, frame, {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->image.pixels[0], 0);
  // Everything padded: black, no error.
  GrayscaleModel all;
  all.padding_value = 7;
  r = RenderGrayscale(all, GrayFrame({7, 7}), {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->image.pixels, (std::vector<std::uint8_t>{0, 0}));
}

TEST(Grayscale, HistogramWindowIgnoresOutliers) {
  std::vector<std::int32_t> values(10000, 0);
  for (int i = 0; i < 10000; ++i) values[i] = i % 200;  // 0..199
  values[0] = -30000;                                   // a few outliers
  values[1] = 30000;
  const auto window = HistogramWindow({}, GrayFrame(values));
  ASSERT_TRUE(window.has_value());
  EXPECT_GT(window->center - window->width / 2, -10);
  EXPECT_LT(window->center + window->width / 2, 210);
}

// The packed path equals the unpacked one for every layout of a 16-bit word: stored value at bit
// 0 or shifted, signed or not, other bits set to garbage (they must be masked off).
TEST(Grayscale, PackedWordsRenderAsTheUnpackedFrame) {
  struct Layout {
    int shift, bits;
    bool is_signed;
  };
  for (const Layout l : {Layout{0, 16, true}, Layout{0, 16, false}, Layout{0, 12, false},
                         Layout{0, 12, true}, Layout{4, 12, true}, Layout{2, 10, false}}) {
    std::vector<std::uint16_t> words;
    DecodedFrame frame;
    frame.rows = 16;
    frame.columns = 64;
    frame.samples = 1;
    std::uint32_t x = 12345;
    for (int i = 0; i < 16 * 64; ++i) {
      x = x * 1103515245u + 12345u;
      const auto w = static_cast<std::uint16_t>(x >> 8);
      words.push_back(w);
      const std::uint32_t v = (static_cast<std::uint32_t>(w) >> l.shift) & ((1u << l.bits) - 1);
      const std::uint32_t sign = l.is_signed ? 1u << (l.bits - 1) : 0;
      frame.gray.push_back(static_cast<std::int32_t>(v ^ sign) - static_cast<std::int32_t>(sign));
    }
    GrayscaleModel model;
    model.rescale_slope = 0.5;
    model.rescale_intercept = -100;
    model.padding_value = frame.gray[3];
    model.monochrome1 = l.shift == 4;
    GrayscaleOptions options;
    options.window = Window{40, 700};
    options.voi_function = l.bits == 10 ? VoiFunction::kSigmoid : VoiFunction::kLinear;
    auto unpacked = RenderGrayscale(model, frame, options);
    auto packed = RenderGrayscaleWords(model, words.data(), frame.rows, frame.columns,
                                       StoredBits{l.shift, l.bits, l.is_signed}, options);
    ASSERT_TRUE(unpacked.ok() && packed.ok());
    EXPECT_EQ(packed->image.pixels, unpacked->image.pixels) << l.shift << "/" << l.bits;
    EXPECT_EQ(packed->window, unpacked->window);
  }
  // Without any window the histogram is needed: the packed path declines.
  std::vector<std::uint16_t> words(4, 7);
  EXPECT_EQ(RenderGrayscaleWords({}, words.data(), 2, 2, StoredBits{}, {}).status().code(),
            common::ErrorCode::kFailedPrecondition);
}

// Linear windows on 16-bit words take a vector arithmetic path (grayscale.cpp,
// MapLinearWindowSse2): for many windows, both functions, inversion, rescales and layouts it
// must give exactly the pixels of the unpacked path, which maps every stored value through Map.
TEST(Grayscale, LinearWindowsOnWordsEqualTheTable) {
  struct Layout {
    int bits;
    bool is_signed;
  };
  struct Rescale {
    double slope, intercept;
  };
  int compared = 0;
  for (const Layout l : {Layout{16, true}, Layout{12, false}, Layout{15, false}}) {
    std::vector<std::uint16_t> words;
    DecodedFrame frame;
    frame.rows = 17;  // 17 x 61: the vector loop's tail is used too
    frame.columns = 61;
    frame.samples = 1;
    std::uint32_t x = 777;
    for (int i = 0; i < 17 * 61; ++i) {
      x = x * 1103515245u + 12345u;
      // Values spread over the whole stored range, and densely around 0..3000 (CT-like).
      const std::uint32_t r = x >> 8;
      std::int32_t v = (i % 3 == 0) ? static_cast<std::int32_t>(r % 4096) - (l.is_signed ? 1024 : 0)
                                    : static_cast<std::int32_t>(r % (1u << l.bits));
      if (l.is_signed && i % 3 != 0) v -= 1 << (l.bits - 1);
      const std::uint32_t mask = (1u << l.bits) - 1;
      // Garbage above the stored bits of an unsigned 12-bit value (must be masked off).
      const std::uint32_t garbage = l.bits < 16 ? (r << l.bits) & 0xFFFF & ~mask : 0;
      words.push_back(static_cast<std::uint16_t>((static_cast<std::uint32_t>(v) & mask) | garbage));
      frame.gray.push_back(v);
    }
    for (const Rescale rs : {Rescale{1, -1024}, Rescale{1, 0}, Rescale{0.5, -100.25},
                             Rescale{2.5, 7}, Rescale{-1, 0}}) {
      for (const Window window :
           {Window{40, 400}, Window{40.001, 400}, Window{-600, 1500}, Window{50.5, 350},
            Window{300, 2}, Window{0.3, 1.7}, Window{1000, 4000}, Window{-3000, 10}}) {
        for (const auto function : {VoiFunction::kLinear, VoiFunction::kLinearExact}) {
          for (const bool inverse : {false, true}) {
            GrayscaleModel model;
            model.rescale_slope = rs.slope;
            model.rescale_intercept = rs.intercept;
            model.monochrome1 = inverse;
            GrayscaleOptions options;
            options.window = window;
            options.voi_function = function;
            auto unpacked = RenderGrayscale(model, frame, options);
            auto packed = RenderGrayscaleWords(model, words.data(), frame.rows, frame.columns,
                                               StoredBits{0, l.bits, l.is_signed}, options);
            ASSERT_TRUE(unpacked.ok() && packed.ok());
            ASSERT_EQ(packed->image.pixels, unpacked->image.pixels)
                << l.bits << (l.is_signed ? "s" : "u") << " slope " << rs.slope << " window "
                << window.center << "/" << window.width << " function "
                << static_cast<int>(function) << " inverse " << inverse;
            ++compared;
          }
        }
      }
    }
  }
  EXPECT_EQ(compared, 3 * 5 * 8 * 2 * 2);
}

TEST(Grayscale, RejectsBadInput) {
  GrayscaleOptions options;
  options.window = Window{0, 0.5};
  EXPECT_EQ(RenderGrayscale({}, GrayFrame({1}), options).status().code(),
            common::ErrorCode::kInvalidArgument);
  DecodedFrame color;
  color.rows = color.columns = 1;
  color.samples = 3;
  color.rgb = {1, 2, 3};
  EXPECT_EQ(RenderGrayscale({}, color, {}).status().code(), common::ErrorCode::kInvalidArgument);
}

// --- Against DCMTK on synthetic files with the attributes the sample files lack. ---

struct DcmtkComparison {
  int compatible = -1;
  int exact = -1;
};

DcmtkComparison CompareSynthetic(const testing::SyntheticImage& image, const Window& window,
                                 bool sigmoid = false, bool use_voi_lut = false,
                                 std::vector<bool> mask = {}) {
  const auto dir = testing::FreshTempDir("grayscale");
  const auto path = dir / "image.dcm";
  EXPECT_EQ(testing::WriteSyntheticImage(path, image), "");
  auto source = FrameSource::OpenFile(path);
  EXPECT_TRUE(source.ok()) << source.status();
  if (!source.ok()) return {};
  testing::ReferenceRequest request;
  request.window = window;
  request.sigmoid = sigmoid;
  if (use_voi_lut) request.voi = testing::ReferenceVoi::kFirstVoiLut;
  const auto ref = testing::RenderWithDcmtk(path, request);
  EXPECT_EQ(ref.error, "");
  RenderParams params;
  if (!use_voi_lut) params.window = window;
  if (sigmoid) params.voi_function = VoiFunction::kSigmoid;
  DcmtkComparison out;
  params.arithmetic = Arithmetic::kDcmtkCompatible;
  auto compatible = (*source)->Render8(0, params);
  EXPECT_TRUE(compatible.ok()) << compatible.status();
  if (compatible.ok()) out.compatible = testing::MaxDifference(*compatible, ref.image, mask);
  params.arithmetic = Arithmetic::kExact;
  auto exact = (*source)->Render8(0, params);
  EXPECT_TRUE(exact.ok()) << exact.status();
  if (exact.ok()) out.exact = testing::MaxDifference(*exact, ref.image, mask);
  // RenderJpeg takes the packed 16-bit path (RenderGrayscaleWords): it must encode exactly the
  // image that Render8 makes through the unpacked path.
  for (const auto arithmetic : {Arithmetic::kDcmtkCompatible, Arithmetic::kExact}) {
    params.arithmetic = arithmetic;
    auto image = (*source)->Render8(0, params);
    auto jpeg = (*source)->RenderJpeg(0, params);
    EXPECT_TRUE(image.ok() && jpeg.ok());
    if (image.ok() && jpeg.ok()) {
      EXPECT_EQ(jpeg->jpeg, *EncodeJpeg(*image, params.quality));
    }
  }
  std::filesystem::remove_all(dir);
  std::cout << "[ viewer   ] " << ::testing::UnitTest::GetInstance()->current_test_info()->name()
            << ": max_diff_compatible=" << out.compatible << " max_diff_exact=" << out.exact
            << "\n";
  return out;
}

TEST(GrayscaleVsDcmtk, Monochrome1) {
  testing::SyntheticImage image;
  image.photometric = "MONOCHROME1";
  const auto d = CompareSynthetic(image, Window{500, 1200});
  EXPECT_EQ(d.compatible, 0);
  EXPECT_LE(d.exact, 1);
  EXPECT_GE(d.exact, 0);
}

TEST(GrayscaleVsDcmtk, Sigmoid) {
  testing::SyntheticImage image;
  const auto d = CompareSynthetic(image, Window{300, 900}, /*sigmoid=*/true);
  EXPECT_EQ(d.compatible, 0);
  EXPECT_LE(d.exact, 1);
  EXPECT_GE(d.exact, 0);
}

TEST(GrayscaleVsDcmtk, UnsignedTwelveBit) {
  testing::SyntheticImage image;
  image.pixel_signed = false;
  image.bits_stored = 12;
  image.value = [](std::size_t i, std::uint16_t) {
    return static_cast<std::int32_t>(i * 3 % 4096);
  };
  const auto d = CompareSynthetic(image, Window{2048, 4096});
  EXPECT_EQ(d.compatible, 0);
  EXPECT_LE(d.exact, 1);
  EXPECT_GE(d.exact, 0);
}

// DCMTK keeps rescaled values as integers (truncated toward zero), so with a fractional slope the
// exact pipeline can differ by one modality unit before the window, i.e. by up to
// 255 / (width - 1) + 1 output levels. Compatible arithmetic reproduces the truncation.
TEST(GrayscaleVsDcmtk, FractionalRescale) {
  testing::SyntheticImage image;
  image.edit = [](DcmDataset& ds) {
    ds.putAndInsertString(DCM_RescaleSlope, "0.37");
    ds.putAndInsertString(DCM_RescaleIntercept, "-3.5");
  };
  const auto d = CompareSynthetic(image, Window{200, 1000});
  EXPECT_EQ(d.compatible, 0);
  EXPECT_LE(d.exact, 2);
  EXPECT_GE(d.exact, 0);
}

TEST(GrayscaleVsDcmtk, PaddingValueIsBlackElsewhereIdentical) {
  testing::SyntheticImage image;
  image.value = [](std::size_t i, std::uint16_t) {
    return i % 3 == 0 ? -2000 : static_cast<std::int32_t>(i % 1000);
  };
  image.edit = [](DcmDataset& ds) {
    // (0028,0120) is US or SS (here SS, as the pixels are signed).
    ds.putAndInsertSint16(DCM_PixelPaddingValue, -2000);
  };
  std::vector<bool> mask(32 * 48);
  for (std::size_t i = 0; i < mask.size(); ++i) mask[i] = i % 3 != 0;
  const auto d = CompareSynthetic(image, Window{-900, 3000}, false, false, mask);
  EXPECT_EQ(d.compatible, 0);
  EXPECT_LE(d.exact, 1);
  EXPECT_GE(d.exact, 0);
}

// LUT Descriptor and LUT Data of a one-item LUT sequence.
void PutLut(DcmDataset& ds, const DcmTagKey& sequence, Uint16 entries, Uint16 first, Uint16 bits,
            const std::vector<Uint16>& data) {
  DcmItem* item = nullptr;
  ASSERT_TRUE(ds.findOrCreateSequenceItem(sequence, item, 0).good());
  const Uint16 descriptor[3] = {entries, first, bits};
  item->putAndInsertUint16Array(DCM_LUTDescriptor, descriptor, 3);
  item->putAndInsertUint16Array(DCM_LUTData, data.data(), static_cast<unsigned long>(data.size()));
}

// VOI LUT Sequence (PS3.3 C.11.2): DCMTK maps LUT value v of n bits to v * 256 / 2^n truncated;
// Tsunagu to v * 255 / (2^n - 1) rounded. Compatible arithmetic reproduces DCMTK's rule.
TEST(GrayscaleVsDcmtk, VoiLutSequence) {
  for (bool mono1 : {false, true}) {
    SCOPED_TRACE(mono1 ? "MONOCHROME1" : "MONOCHROME2");
    testing::SyntheticImage image;
    image.pixel_signed = false;
    image.bits_stored = 12;
    image.photometric = mono1 ? "MONOCHROME1" : "MONOCHROME2";
    image.value = [](std::size_t i, std::uint16_t) {
      return static_cast<std::int32_t>(i * 5 % 4096);
    };
    image.edit = [](DcmDataset& ds) {
      std::vector<Uint16> lut(3000);
      for (std::size_t i = 0; i < lut.size(); ++i) {
        lut[i] = static_cast<Uint16>(std::lround(std::sqrt(i / 2999.0) * 4095));
      }
      PutLut(ds, DCM_VOILUTSequence, 3000, 500, 12, lut);  // values 500..3499, 12-bit output
    };
    const auto d = CompareSynthetic(image, Window{}, false, /*use_voi_lut=*/true);
    EXPECT_EQ(d.compatible, 0);
    EXPECT_GE(d.exact, 0);
    EXPECT_LE(d.exact, 2);
  }
}

// Modality LUT Sequence (PS3.3 C.11.1) replaces rescale; the window applies to its output.
TEST(GrayscaleVsDcmtk, ModalityLutSequence) {
  testing::SyntheticImage image;
  image.pixel_signed = false;
  image.bits_stored = 12;
  image.value = [](std::size_t i, std::uint16_t) {
    return static_cast<std::int32_t>(i * 7 % 4096);
  };
  image.edit = [](DcmDataset& ds) {
    std::vector<Uint16> lut(4096);
    for (std::size_t i = 0; i < lut.size(); ++i) lut[i] = static_cast<Uint16>((i * i) >> 10);
    PutLut(ds, DCM_ModalityLUTSequence, 4096, 0, 16, lut);
  };
  const auto d = CompareSynthetic(image, Window{6000, 12000});
  EXPECT_EQ(d.compatible, 0);
  EXPECT_GE(d.exact, 0);
  EXPECT_LE(d.exact, 1);
}

// Presentation LUT Shape (2050,0020) INVERSE on a MONOCHROME2 image.
TEST(GrayscaleVsDcmtk, PresentationLutShapeInverse) {
  testing::SyntheticImage image;
  image.edit = [](DcmDataset& ds) { ds.putAndInsertString(DCM_PresentationLUTShape, "INVERSE"); };
  const auto d = CompareSynthetic(image, Window{500, 1200});
  EXPECT_EQ(d.compatible, 0);
  EXPECT_GE(d.exact, 0);
  EXPECT_LE(d.exact, 1);
}

// PALETTE COLOR (PS3.3 C.7.6.3.1.5): 8-bit indexes through 16-bit red/green/blue LUTs, against
// DCMTK's dcmimage. Also: a first mapped value above 0 and indexes beyond the table.
TEST(PaletteVsDcmtk, SixteenBitLuts) {
  testing::SyntheticImage image;
  image.pixel_signed = false;
  image.bits_stored = 8;
  image.photometric = "PALETTE COLOR";
  image.value = [](std::size_t i, std::uint16_t) { return static_cast<std::int32_t>(i % 256); };
  image.edit = [](DcmDataset& ds) {
    const Uint16 descriptor[3] = {200, 10, 16};
    std::vector<Uint16> r(200), g(200), b(200);
    for (int i = 0; i < 200; ++i) {
      r[i] = static_cast<Uint16>(i * 327);
      g[i] = static_cast<Uint16>(65535 - i * 300);
      b[i] = static_cast<Uint16>((i * 7919) % 65536);
    }
    ds.putAndInsertUint16Array(DCM_RedPaletteColorLookupTableDescriptor, descriptor, 3);
    ds.putAndInsertUint16Array(DCM_GreenPaletteColorLookupTableDescriptor, descriptor, 3);
    ds.putAndInsertUint16Array(DCM_BluePaletteColorLookupTableDescriptor, descriptor, 3);
    ds.putAndInsertUint16Array(DCM_RedPaletteColorLookupTableData, r.data(), 200);
    ds.putAndInsertUint16Array(DCM_GreenPaletteColorLookupTableData, g.data(), 200);
    ds.putAndInsertUint16Array(DCM_BluePaletteColorLookupTableData, b.data(), 200);
  };
  const auto dir = testing::FreshTempDir("palette");
  ASSERT_EQ(testing::WriteSyntheticImage(dir / "palette.dcm", image), "");
  auto source = FrameSource::OpenFile(dir / "palette.dcm");
  ASSERT_TRUE(source.ok()) << source.status();
  EXPECT_FALSE((*source)->Describe().grayscale);
  auto mine = (*source)->Render8(0, RenderParams{});
  ASSERT_TRUE(mine.ok()) << mine.status();
  EXPECT_EQ(mine->channels, 3);
  const auto ref = testing::RenderWithDcmtk(dir / "palette.dcm", {});
  ASSERT_EQ(ref.error, "");
  const int diff = testing::MaxDifference(*mine, ref.image);
  std::cout << "[ viewer   ] palette color vs DCMTK: max_diff=" << diff << "\n";
  EXPECT_EQ(diff, 0);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tsunagu::viewer
