#include "rle_decoder.h"

#include <cstring>
#include <vector>

namespace tsunagu::viewer::internal {

namespace {
std::uint32_t Le32(std::string_view s, std::size_t at) {
  return static_cast<std::uint32_t>(static_cast<unsigned char>(s[at])) |
         static_cast<std::uint32_t>(static_cast<unsigned char>(s[at + 1])) << 8 |
         static_cast<std::uint32_t>(static_cast<unsigned char>(s[at + 2])) << 16 |
         static_cast<std::uint32_t>(static_cast<unsigned char>(s[at + 3])) << 24;
}
}  // namespace

common::Result<std::string> DecodeRleFrame(std::string_view rle, std::uint32_t rows,
                                           std::uint32_t columns, int samples, int bytes_per_sample,
                                           bool planar) {
  constexpr std::size_t kHeader = 64;
  if (rle.size() < kHeader) return common::DataLossError("RLE frame shorter than its header");
  const std::uint32_t segments = Le32(rle, 0);
  const int expected = samples * bytes_per_sample;
  if (segments != static_cast<std::uint32_t>(expected)) {
    return common::DataLossError("RLE header has " + std::to_string(segments) +
                                 " segments, expected " + std::to_string(expected));
  }
  std::vector<std::size_t> offsets(segments + 1);
  for (std::uint32_t i = 0; i < segments; ++i) offsets[i] = Le32(rle, 4 + 4 * i);
  offsets[segments] = rle.size();
  for (std::uint32_t i = 0; i < segments; ++i) {
    if (offsets[i] < kHeader || offsets[i] > offsets[i + 1] || offsets[i + 1] > rle.size()) {
      return common::DataLossError("RLE segment offsets are inconsistent");
    }
  }
  const std::size_t pixels = static_cast<std::size_t>(rows) * columns;
  std::string out(pixels * expected, '\0');
  std::vector<unsigned char> segment(pixels);
  for (std::uint32_t seg = 0; seg < segments; ++seg) {
    // PackBits (PS3.5 G.3.1): n >= 0 copies n + 1 bytes; -127..-1 repeats the next byte 1 - n
    // times; -128 is a no-op.
    std::size_t in = offsets[seg];
    const std::size_t end = offsets[seg + 1];
    std::size_t filled = 0;
    while (filled < pixels && in < end) {
      const int n = static_cast<signed char>(rle[in++]);
      if (n >= 0) {
        const std::size_t count = static_cast<std::size_t>(n) + 1;
        if (in + count > end || filled + count > pixels) {
          return common::DataLossError("RLE literal run overruns its segment");
        }
        std::memcpy(segment.data() + filled, rle.data() + in, count);
        in += count;
        filled += count;
      } else if (n != -128) {
        const std::size_t count = static_cast<std::size_t>(1 - n);
        if (in >= end || filled + count > pixels) {
          return common::DataLossError("RLE replicate run overruns its segment");
        }
        std::memset(segment.data() + filled, static_cast<unsigned char>(rle[in++]), count);
        filled += count;
      }
    }
    if (filled != pixels) return common::DataLossError("RLE segment is short");
    // Segment order: sample by sample, most significant byte first (PS3.5 G.2).
    const int sample = static_cast<int>(seg) / bytes_per_sample;
    const int byte = bytes_per_sample - 1 - static_cast<int>(seg) % bytes_per_sample;
    for (std::size_t p = 0; p < pixels; ++p) {
      const std::size_t index =
          planar ? static_cast<std::size_t>(sample) * pixels + p : p * samples + sample;
      out[index * bytes_per_sample + byte] = static_cast<char>(segment[p]);
    }
  }
  return out;
}

}  // namespace tsunagu::viewer::internal
