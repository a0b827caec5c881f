#include "tsunagu/viewer/frame_source.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdatset.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <gtest/gtest.h>
#include <turbojpeg.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "synthetic_image.h"
#include "tsunagu/viewer/jpeg.h"

namespace tsunagu::viewer {
namespace {

std::filesystem::path TestFile(const std::string& name) {
  return std::filesystem::path(TSUNAGU_PYDICOM_TEST_FILES) / name;
}

std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Counts the bytes the decoder pulls from the reader.
class CountingReader final : public DicomReader {
 public:
  explicit CountingReader(std::string bytes) : inner_(std::move(bytes)) {}
  std::uint64_t Size() const override { return inner_.Size(); }
  common::Result<std::size_t> ReadAt(std::uint64_t offset, std::span<char> out) const override {
    auto n = inner_.ReadAt(offset, out);
    if (n.ok()) bytes_read += *n;
    return n;
  }
  mutable std::atomic<std::uint64_t> bytes_read{0};

 private:
  MemoryDicomReader inner_;
};

struct JpegHeader {
  int width = 0, height = 0, subsampling = -1;
};
JpegHeader ReadJpegHeader(const std::string& jpeg) {
  JpegHeader h;
  tjhandle handle = tjInitDecompress();
  int colorspace = 0;
  if (tjDecompressHeader3(handle, reinterpret_cast<const unsigned char*>(jpeg.data()), jpeg.size(),
                          &h.width, &h.height, &h.subsampling, &colorspace) != 0) {
    h = {};
  }
  tjDestroy(handle);
  return h;
}

TEST(FrameSource, MemoryAndFileReadersGiveTheSameFrames) {
  for (const char* name :
       {"CT_small.dcm", "rtdose_rle.dcm", "SC_rgb_jpeg_dcmtk.dcm", "MR_small_jp2klossless.dcm"}) {
    SCOPED_TRACE(name);
    auto from_file = FrameSource::OpenFile(TestFile(name));
    auto from_memory =
        FrameSource::Open(std::make_shared<MemoryDicomReader>(ReadAll(TestFile(name))));
    ASSERT_TRUE(from_file.ok()) << from_file.status();
    ASSERT_TRUE(from_memory.ok()) << from_memory.status();
    const std::uint32_t last = (*from_file)->Describe().frames - 1;
    for (std::uint32_t f : {0u, last}) {
      auto a = (*from_file)->DecodeFrame(f);
      auto b = (*from_memory)->DecodeFrame(f);
      ASSERT_TRUE(a.ok() && b.ok());
      EXPECT_EQ(a->gray, b->gray);
      EXPECT_EQ(a->rgb, b->rgb);
    }
  }
}

// A reader that holds its bytes in memory (Contiguous()) and counts what is pulled through ReadAt.
class CountingContiguousReader final : public DicomReader {
 public:
  explicit CountingContiguousReader(std::string bytes) : bytes_(std::move(bytes)) {}
  std::uint64_t Size() const override { return bytes_.size(); }
  common::Result<std::size_t> ReadAt(std::uint64_t offset, std::span<char> out) const override {
    if (offset >= bytes_.size()) return std::size_t{0};
    const std::size_t n = std::min<std::size_t>(out.size(), bytes_.size() - offset);
    std::copy_n(bytes_.data() + offset, n, out.data());
    bytes_read += n;
    return n;
  }
  const char* Contiguous() const override { return bytes_.data(); }
  mutable std::atomic<std::uint64_t> bytes_read{0};

 private:
  std::string bytes_;
};

// Native 16-bit frames held in memory are rendered where they lie (no read of the pixel data),
// and give the same JPEG as the same frames read from the file, for every frame and layout.
TEST(FrameSource, InPlaceFramesRenderLikeReadFrames) {
  const auto dir = testing::FreshTempDir("inplace");
  struct Case {
    const char* name;
    bool pixel_signed;
    int bits_stored;
  };
  for (const Case& c :
       {Case{"s16.dcm", true, 16}, Case{"u12.dcm", false, 12}, Case{"s12.dcm", true, 12}}) {
    SCOPED_TRACE(c.name);
    testing::SyntheticImage image;
    image.rows = 40;
    image.columns = 56;
    image.frames = 5;
    image.pixel_signed = c.pixel_signed;
    image.bits_stored = c.bits_stored;
    image.value = [&](std::size_t i, std::uint16_t f) {
      const std::int32_t v = static_cast<std::int32_t>((i * 37 + f * 101) % 2000);
      return c.pixel_signed ? v - 1000 : v;
    };
    ASSERT_EQ(testing::WriteSyntheticImage(dir / c.name, image), "");
    auto from_file = FrameSource::OpenFile(dir / c.name);
    auto reader = std::make_shared<CountingContiguousReader>(ReadAll(dir / c.name));
    auto in_place = FrameSource::Open(reader);
    ASSERT_TRUE(from_file.ok()) << from_file.status();
    ASSERT_TRUE(in_place.ok()) << in_place.status();
    const std::uint64_t after_open = reader->bytes_read;
    RenderParams params;
    params.window = Window{100, 700};
    for (std::uint32_t f = 0; f < image.frames; ++f) {
      auto a = (*from_file)->RenderJpeg(f, params);
      auto b = (*in_place)->RenderJpeg(f, params);
      ASSERT_TRUE(a.ok()) << a.status();
      ASSERT_TRUE(b.ok()) << b.status();
      EXPECT_EQ(a->jpeg, b->jpeg) << "frame " << f;
    }
    // Five frames of 40 x 56 x 2 bytes were rendered without reading them.
    EXPECT_LT(reader->bytes_read - after_open, 40u * 56u * 2u);
  }
  std::filesystem::remove_all(dir);
}

// Open() reads the header only; DecodeFrame(n) reads about one frame, not the whole pixel data.
TEST(FrameSource, ReadsOneFrameAtATime) {
  testing::SyntheticImage image;
  image.rows = 64;
  image.columns = 64;
  image.frames = 50;  // 50 x 8 KiB of pixel data
  const auto dir = testing::FreshTempDir("lazy");
  ASSERT_EQ(testing::WriteSyntheticImage(dir / "multi.dcm", image), "");
  auto reader = std::make_shared<CountingReader>(ReadAll(dir / "multi.dcm"));
  auto source = FrameSource::Open(reader);
  ASSERT_TRUE(source.ok()) << source.status();
  const std::uint64_t frame_bytes = 64 * 64 * 2;
  const std::uint64_t after_open = reader->bytes_read;
  EXPECT_LT(after_open, 4 * frame_bytes) << "Open must not read the pixel data";
  auto frame = (*source)->DecodeFrame(37);
  ASSERT_TRUE(frame.ok()) << frame.status();
  const std::uint64_t for_frame = reader->bytes_read - after_open;
  EXPECT_GE(for_frame, frame_bytes);
  EXPECT_LT(for_frame, 2 * frame_bytes);
  EXPECT_EQ(frame->gray[0], -1100 + 7 * 37);  // the right frame
  std::filesystem::remove_all(dir);
}

TEST(FrameSource, DescribesGeometryAndWindows) {
  auto source = FrameSource::OpenFile(TestFile("CT_small.dcm"));
  ASSERT_TRUE(source.ok()) << source.status();
  const FrameInfo& info = (*source)->Describe();
  EXPECT_EQ(info.rows, 128u);
  EXPECT_EQ(info.columns, 128u);
  EXPECT_EQ(info.frames, 1u);
  EXPECT_EQ(info.photometric, "MONOCHROME2");
  EXPECT_EQ(info.bits_allocated, 16);
  EXPECT_TRUE(info.pixel_signed);
  EXPECT_EQ(info.modality, "CT");
  ASSERT_TRUE(info.pixel_spacing.has_value());
  EXPECT_FALSE(info.pixel_spacing->imager);
  EXPECT_NEAR(info.pixel_spacing->row_mm, 0.661468, 1e-6);
  ASSERT_TRUE(info.orientation.has_value());
  EXPECT_DOUBLE_EQ((*info.orientation)[0], 1);
  ASSERT_TRUE(info.position.has_value());
  EXPECT_TRUE(info.grayscale);
}

TEST(FrameSource, ImagerPixelSpacingAndFrameTimeAreReported) {
  testing::SyntheticImage image;
  image.frames = 3;
  image.edit = [](DcmDataset& ds) {
    ds.putAndInsertString(DCM_ImagerPixelSpacing, "0.2\\0.25");
    ds.putAndInsertString(DCM_FrameTime, "66.67");
  };
  const auto dir = testing::FreshTempDir("xa");
  ASSERT_EQ(testing::WriteSyntheticImage(dir / "xa.dcm", image), "");
  auto source = FrameSource::OpenFile(dir / "xa.dcm");
  ASSERT_TRUE(source.ok()) << source.status();
  const FrameInfo& info = (*source)->Describe();
  ASSERT_TRUE(info.pixel_spacing.has_value());
  EXPECT_TRUE(info.pixel_spacing->imager);
  EXPECT_DOUBLE_EQ(info.pixel_spacing->row_mm, 0.2);
  EXPECT_DOUBLE_EQ(info.pixel_spacing->column_mm, 0.25);
  ASSERT_TRUE(info.frame_time_ms.has_value());
  EXPECT_DOUBLE_EQ(*info.frame_time_ms, 66.67);
  EXPECT_EQ(info.frames, 3u);
  std::filesystem::remove_all(dir);
}

// Enhanced multi-frame objects keep geometry, rescale and window in functional groups.
TEST(FrameSource, EnhancedMultiFrameFunctionalGroups) {
  testing::SyntheticImage image;
  image.frames = 3;
  image.edit = [](DcmDataset& ds) {
    DcmItem* shared = nullptr;
    ds.findOrCreateSequenceItem(DCM_SharedFunctionalGroupsSequence, shared, 0);
    DcmItem* item = nullptr;
    shared->findOrCreateSequenceItem(DCM_PixelMeasuresSequence, item, 0);
    item->putAndInsertString(DCM_PixelSpacing, "0.5\\0.6");
    shared->findOrCreateSequenceItem(DCM_PlaneOrientationSequence, item, 0);
    item->putAndInsertString(DCM_ImageOrientationPatient, "1\\0\\0\\0\\0\\-1");
    shared->findOrCreateSequenceItem(DCM_PixelValueTransformationSequence, item, 0);
    item->putAndInsertString(DCM_RescaleSlope, "1");
    item->putAndInsertString(DCM_RescaleIntercept, "-1024");
    shared->findOrCreateSequenceItem(DCM_FrameVOILUTSequence, item, 0);
    item->putAndInsertString(DCM_WindowCenter, "40");
    item->putAndInsertString(DCM_WindowWidth, "400");
    for (int f = 0; f < 3; ++f) {
      DcmItem* frame = nullptr;
      ds.findOrCreateSequenceItem(DCM_PerFrameFunctionalGroupsSequence, frame, f);
      frame->findOrCreateSequenceItem(DCM_PlanePositionSequence, item, 0);
      item->putAndInsertString(DCM_ImagePositionPatient,
                               ("-100\\" + std::to_string(2.5 * f) + "\\50").c_str());
    }
  };
  const auto dir = testing::FreshTempDir("enhanced");
  ASSERT_EQ(testing::WriteSyntheticImage(dir / "enhanced.dcm", image), "");
  auto source = FrameSource::OpenFile(dir / "enhanced.dcm");
  ASSERT_TRUE(source.ok()) << source.status();
  const FrameInfo& info = (*source)->Describe();
  ASSERT_TRUE(info.pixel_spacing.has_value());
  EXPECT_DOUBLE_EQ(info.pixel_spacing->row_mm, 0.5);
  EXPECT_DOUBLE_EQ(info.pixel_spacing->column_mm, 0.6);
  EXPECT_FALSE(info.pixel_spacing->imager);
  ASSERT_TRUE(info.orientation.has_value());
  EXPECT_DOUBLE_EQ((*info.orientation)[5], -1);
  ASSERT_EQ(info.frame_positions.size(), 3u);
  EXPECT_DOUBLE_EQ(info.frame_positions[2][1], 5.0);
  EXPECT_EQ(info.position, info.frame_positions[0]);
  EXPECT_EQ(info.windows, (std::vector<Window>{{40, 400}}));
  EXPECT_DOUBLE_EQ(ModalityValue((*source)->grayscale_model(), 1064), 40);
  std::filesystem::remove_all(dir);
}

TEST(FrameSource, RenderJpegHonoursMaxSizeAndQuality) {
  auto source = FrameSource::OpenFile(TestFile("CT_small.dcm"));
  ASSERT_TRUE(source.ok());
  RenderParams params;
  params.quality = 95;
  auto full = (*source)->RenderJpeg(0, params);
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(full->width, 128u);
  auto header = ReadJpegHeader(full->jpeg);
  EXPECT_EQ(header.width, 128);
  EXPECT_EQ(header.height, 128);
  EXPECT_EQ(header.subsampling, TJSAMP_GRAY);
  ASSERT_TRUE(full->window.has_value());  // CT_small has no window: computed from the histogram
  EXPECT_TRUE((*source)->Describe().windows.empty());
  params.max_size = 50;
  params.quality = 30;
  auto small = (*source)->RenderJpeg(0, params);
  ASSERT_TRUE(small.ok());
  header = ReadJpegHeader(small->jpeg);
  EXPECT_EQ(header.width, 50);
  EXPECT_EQ(header.height, 50);
  EXPECT_LT(small->jpeg.size(), full->jpeg.size());
  params.quality = 0;
  EXPECT_EQ((*source)->RenderJpeg(0, params).status().code(), common::ErrorCode::kInvalidArgument);
}

TEST(FrameSource, DefaultWindowIsTheFilesFirst) {
  auto source = FrameSource::OpenFile(TestFile("MR_small.dcm"));
  ASSERT_TRUE(source.ok());
  ASSERT_FALSE((*source)->Describe().windows.empty());
  auto image = (*source)->RenderJpeg(0, RenderParams{});
  ASSERT_TRUE(image.ok());
  EXPECT_EQ(image->window, (*source)->Describe().windows.front());
  RenderParams params;
  params.window = Window{100, 50};
  image = (*source)->RenderJpeg(0, params);
  ASSERT_TRUE(image.ok());
  EXPECT_EQ(image->window, params.window);
}

// 8-bit display-ready images without a window show their stored values unchanged.
TEST(FrameSource, EightBitWithoutWindowUsesTheFullRange) {
  auto source = FrameSource::OpenFile(TestFile("image_dfl.dcm"));
  ASSERT_TRUE(source.ok()) << source.status();
  ASSERT_TRUE((*source)->Describe().windows.empty());
  auto decoded = (*source)->DecodeFrame(0);
  ASSERT_TRUE(decoded.ok());
  auto result = RenderGrayscale((*source)->grayscale_model(), *decoded, {});
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->voi_source, VoiSource::kFullRange);
  EXPECT_EQ(result->window, (Window{128, 256}));
  for (std::size_t i = 0; i < decoded->gray.size(); ++i) {
    ASSERT_EQ(result->image.pixels[i], decoded->gray[i]) << i;
  }
}

TEST(FrameSource, ColorRendersAsYcbcrJpeg) {
  auto source = FrameSource::OpenFile(TestFile("SC_rgb_rle.dcm"));
  ASSERT_TRUE(source.ok());
  auto image = (*source)->RenderJpeg(0, RenderParams{});
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_FALSE(image->window.has_value());
  EXPECT_EQ(ReadJpegHeader(image->jpeg).subsampling, TJSAMP_420);
}

TEST(FrameSource, ThumbnailIsTheMiddleFrame) {
  auto source = FrameSource::OpenFile(TestFile("rtdose.dcm"));
  ASSERT_TRUE(source.ok());
  ASSERT_EQ((*source)->Describe().frames, 15u);
  auto thumbnail = (*source)->Thumbnail(16, 80);
  ASSERT_TRUE(thumbnail.ok()) << thumbnail.status();
  RenderParams params;
  params.max_size = 16;
  params.quality = 80;
  auto middle = (*source)->RenderJpeg(7, params);
  auto first = (*source)->RenderJpeg(0, params);
  ASSERT_TRUE(middle.ok() && first.ok());
  EXPECT_EQ(*thumbnail, middle->jpeg);
  EXPECT_NE(*thumbnail, first->jpeg);
  const auto header = ReadJpegHeader(*thumbnail);
  EXPECT_LE(std::max(header.width, header.height), 16);
}

TEST(FrameSource, FrameOutOfRangeIsInvalidArgument) {
  auto source = FrameSource::OpenFile(TestFile("CT_small.dcm"));
  ASSERT_TRUE(source.ok());
  auto frame = (*source)->DecodeFrame(1);
  EXPECT_EQ(frame.status().code(), common::ErrorCode::kInvalidArgument);
}

TEST(FrameSource, MissingFileAndGarbageAreClearErrors) {
  EXPECT_EQ(FrameSource::OpenFile("/nonexistent/tsunagu.dcm").status().code(),
            common::ErrorCode::kNotFound);
  EXPECT_FALSE(FrameSource::Open(std::make_shared<MemoryDicomReader>(std::string())).ok());
  EXPECT_FALSE(FrameSource::Open(nullptr).ok());
  std::mt19937 random(42);
  for (int i = 0; i < 20; ++i) {
    std::string garbage(1 + random() % 4000, '\0');
    for (char& c : garbage) c = static_cast<char>(random());
    auto source = FrameSource::Open(std::make_shared<MemoryDicomReader>(garbage));
    if (source.ok()) {
      EXPECT_FALSE((*source)->RenderJpeg(0, RenderParams{}).ok());
    }
  }
}

// Every prefix of a valid object (a transfer cut short) is refused with an error, never a crash
// and never a partial image.
TEST(FrameSource, TruncatedObjectsAreRefused) {
  for (const char* name : {"CT_small.dcm", "MR_small_RLE.dcm", "JPGExtended.dcm",
                           "MR_small_jp2klossless.dcm", "SC_rgb_rle_2frame.dcm"}) {
    SCOPED_TRACE(name);
    const std::string bytes = ReadAll(TestFile(name));
    for (std::size_t cut = 0; cut < bytes.size(); cut += 211) {
      auto source = FrameSource::Open(std::make_shared<MemoryDicomReader>(bytes.substr(0, cut)));
      if (!source.ok()) {
        EXPECT_EQ(source.status().message().find('\n'), std::string::npos);
        continue;
      }
      const std::uint32_t frames = (*source)->Describe().frames;
      bool all_ok = true;
      for (std::uint32_t f = 0; f < frames; ++f) {
        all_ok = all_ok && (*source)->RenderJpeg(f, RenderParams{}).ok();
      }
      EXPECT_FALSE(all_ok) << "cut at " << cut << " of " << bytes.size();
    }
  }
}

// Corrupted compressed data (random bytes overwritten in the second half of the object, where the
// pixel data is) must give an image or an error, never a crash or a hang. The decoders are DCMTK's
// (RLE, JPEG, JPEG-LS) and OpenJPEG.
TEST(FrameSource, CorruptedCompressedDataNeverCrashes) {
  std::mt19937 random(7);
  int errors = 0, images = 0;
  for (const char* name : {"MR_small_RLE.dcm", "JPGExtended.dcm", "JPEG-lossy.dcm",
                           "SC_rgb_jpeg_dcmtk.dcm", "MR_small_jpeg_ls_lossless.dcm",
                           "MR_small_jp2klossless.dcm", "JPEG2000.dcm", "rtdose_rle.dcm"}) {
    SCOPED_TRACE(name);
    const std::string original = ReadAll(TestFile(name));
    for (int trial = 0; trial < 25; ++trial) {
      std::string bytes = original;
      const std::size_t from = bytes.size() / 2;
      for (int k = 0; k < 1 + trial % 8; ++k) {
        bytes[from + random() % (bytes.size() - from)] = static_cast<char>(random());
      }
      auto source = FrameSource::Open(std::make_shared<MemoryDicomReader>(bytes));
      if (!source.ok()) {
        ++errors;
        continue;
      }
      for (std::uint32_t f = 0; f < (*source)->Describe().frames; ++f) {
        auto image = (*source)->RenderJpeg(f, RenderParams{});
        if (image.ok()) {
          ++images;
        } else {
          ++errors;
          EXPECT_EQ(image.status().message().find('\n'), std::string::npos);
        }
      }
    }
  }
  RecordProperty("corrupted_images", images);
  RecordProperty("corrupted_errors", errors);
  EXPECT_GT(images + errors, 0);
}

// Distinct FrameSources on distinct threads (the relay serves requests concurrently) give the
// same renders as one thread; the DCMTK codecs are shared process state.
TEST(FrameSource, ConcurrentSourcesRenderTheSameAsSequential) {
  const std::vector<std::string> names = {"JPGExtended.dcm",
                                          "MR_small_jpeg_ls_lossless.dcm",
                                          "MR_small_jp2klossless.dcm",
                                          "SC_rgb_rle_2frame.dcm",
                                          "CT_small.dcm",
                                          "SC_rgb_jpeg_dcmtk.dcm"};
  std::vector<std::string> expected;
  for (const auto& name : names) {
    auto source = FrameSource::OpenFile(TestFile(name));
    ASSERT_TRUE(source.ok());
    auto image = (*source)->RenderJpeg(0, RenderParams{});
    ASSERT_TRUE(image.ok());
    expected.push_back(image->jpeg);
  }
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 10; ++round) {
        const std::size_t k = (t + round) % names.size();
        auto source =
            FrameSource::Open(std::make_shared<MemoryDicomReader>(ReadAll(TestFile(names[k]))));
        auto image = source.ok() ? (*source)->RenderJpeg(0, RenderParams{})
                                 : common::Result<RenderedImage>(source.status());
        if (!image.ok() || image->jpeg != expected[k]) ++mismatches;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(Jpeg, FitWithinKeepsAspectAndAverages) {
  Image8 image;
  image.width = 4;
  image.height = 2;
  image.pixels = {0, 100, 200, 255, 0, 100, 200, 255};
  const Image8 half = FitWithin(image, 2);
  EXPECT_EQ(half.width, 2u);
  EXPECT_EQ(half.height, 1u);
  EXPECT_EQ(half.pixels, (std::vector<std::uint8_t>{50, 228}));
  EXPECT_EQ(FitWithin(image, 0).pixels, image.pixels);
  EXPECT_EQ(FitWithin(image, 10).width, 4u);  // never enlarged
}

TEST(Jpeg, EncodeRejectsInconsistentImages) {
  Image8 image;
  EXPECT_EQ(EncodeJpeg(image, 90).status().code(), common::ErrorCode::kInvalidArgument);
  image.width = 2;
  image.height = 2;
  image.pixels = {1, 2, 3};
  EXPECT_EQ(EncodeJpeg(image, 90).status().code(), common::ErrorCode::kInvalidArgument);
  image.pixels = {1, 2, 3, 4};
  EXPECT_EQ(EncodeJpeg(image, 101).status().code(), common::ErrorCode::kInvalidArgument);
  auto jpeg = EncodeJpeg(image, 90);
  ASSERT_TRUE(jpeg.ok());
  EXPECT_EQ(ReadJpegHeader(*jpeg).width, 2);
}

}  // namespace
}  // namespace tsunagu::viewer
