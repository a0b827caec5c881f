#include "tsunagu/viewer/jpeg.h"

#include <turbojpeg.h>

#include <algorithm>
#include <memory>

namespace tsunagu::viewer {

Image8 FitWithin(const Image8& image, std::uint32_t max_size) {
  if (max_size == 0 || (image.width <= max_size && image.height <= max_size)) return image;
  const double scale = static_cast<double>(max_size) / std::max(image.width, image.height);
  Image8 out;
  out.channels = image.channels;
  out.width = std::max<std::uint32_t>(1, static_cast<std::uint32_t>(image.width * scale + 0.5));
  out.height = std::max<std::uint32_t>(1, static_cast<std::uint32_t>(image.height * scale + 0.5));
  out.pixels.resize(static_cast<std::size_t>(out.width) * out.height * out.channels);
  const int ch = image.channels;
  // Area average: each output pixel averages the source pixels whose centres fall in it.
  for (std::uint32_t y = 0; y < out.height; ++y) {
    const std::uint32_t y0 = static_cast<std::uint64_t>(y) * image.height / out.height;
    const std::uint32_t y1 = std::max(
        y0 + 1,
        static_cast<std::uint32_t>(static_cast<std::uint64_t>(y + 1) * image.height / out.height));
    for (std::uint32_t x = 0; x < out.width; ++x) {
      const std::uint32_t x0 = static_cast<std::uint64_t>(x) * image.width / out.width;
      const std::uint32_t x1 = std::max(
          x0 + 1,
          static_cast<std::uint32_t>(static_cast<std::uint64_t>(x + 1) * image.width / out.width));
      for (int c = 0; c < ch; ++c) {
        std::uint64_t sum = 0;
        for (std::uint32_t sy = y0; sy < y1; ++sy) {
          const std::uint8_t* row =
              image.pixels.data() + (static_cast<std::size_t>(sy) * image.width) * ch;
          for (std::uint32_t sx = x0; sx < x1; ++sx) sum += row[sx * ch + c];
        }
        const std::uint64_t n = static_cast<std::uint64_t>(y1 - y0) * (x1 - x0);
        out.pixels[(static_cast<std::size_t>(y) * out.width + x) * ch + c] =
            static_cast<std::uint8_t>((sum + n / 2) / n);
      }
    }
  }
  return out;
}

namespace {

// One TurboJPEG compressor and output buffer per thread, reused across encodes: creating a
// compressor allocates several hundred kilobytes of libjpeg state, which for a 512x512 frame costs
// about as much as the encode itself.
struct ThreadEncoder {
  tjhandle handle = nullptr;
  unsigned char* buffer = nullptr;
  unsigned long capacity = 0;
  ThreadEncoder() : handle(tjInitCompress()) {}
  ~ThreadEncoder() {
    if (buffer != nullptr) tjFree(buffer);
    if (handle != nullptr) tjDestroy(handle);
  }
  ThreadEncoder(const ThreadEncoder&) = delete;
  ThreadEncoder& operator=(const ThreadEncoder&) = delete;
};

}  // namespace

Image8 FitWithin(Image8&& image, std::uint32_t max_size) {
  if (max_size == 0 || (image.width <= max_size && image.height <= max_size)) {
    return std::move(image);
  }
  return FitWithin(static_cast<const Image8&>(image), max_size);
}

common::Result<std::string> EncodeJpeg(const Image8& image, int quality) {
  if (quality < 1 || quality > 100) return common::InvalidArgumentError("quality must be 1..100");
  if (image.width == 0 || image.height == 0 || (image.channels != 1 && image.channels != 3) ||
      image.pixels.size() !=
          static_cast<std::size_t>(image.width) * image.height * image.channels) {
    return common::InvalidArgumentError("empty or inconsistent image");
  }
  thread_local ThreadEncoder encoder;
  if (encoder.handle == nullptr)
    return common::InternalError("TurboJPEG: cannot create a compressor");
  const bool gray = image.channels == 1;
  const int subsampling = gray ? TJSAMP_GRAY : TJSAMP_420;
  const int width = static_cast<int>(image.width);
  const int height = static_cast<int>(image.height);
  // The worst case for these dimensions, so that TurboJPEG never reallocates (TJFLAG_NOREALLOC).
  const unsigned long needed = tjBufSize(width, height, subsampling);
  if (needed == static_cast<unsigned long>(-1))
    return common::InvalidArgumentError("image too large");
  if (encoder.capacity < needed) {
    if (encoder.buffer != nullptr) tjFree(encoder.buffer);
    encoder.buffer = tjAlloc(static_cast<int>(needed));
    encoder.capacity = encoder.buffer != nullptr ? needed : 0;
    if (encoder.buffer == nullptr) return common::InternalError("TurboJPEG: out of memory");
  }
  unsigned char* out = encoder.buffer;
  unsigned long size = encoder.capacity;
  // The fast DCT (TurboJPEG's default for compression, said explicitly): its error is far below
  // the quantisation's at the qualities a viewer uses.
  const int rc = tjCompress2(encoder.handle, image.pixels.data(), width, 0, height,
                             gray ? TJPF_GRAY : TJPF_RGB, &out, &size, subsampling, quality,
                             TJFLAG_NOREALLOC | TJFLAG_FASTDCT);
  if (rc != 0) {
    return common::InternalError(std::string("TurboJPEG: ") + tjGetErrorStr2(encoder.handle));
  }
  return std::string(reinterpret_cast<const char*>(out), size);
}

}  // namespace tsunagu::viewer
