#include "tsunagu/viewer/grayscale.h"

#include <algorithm>
#include <cmath>
#include <limits>

#if defined(__SSE2__)
#include <emmintrin.h>
#include <xmmintrin.h>
#endif

namespace tsunagu::viewer {

using common::Result;

namespace {

bool IsPadding(const GrayscaleModel& model, std::int32_t stored) {
  if (!model.padding_value) return false;
  if (!model.padding_range_limit) return stored == *model.padding_value;
  const auto [lo, hi] = std::minmax(*model.padding_value, *model.padding_range_limit);
  return stored >= lo && stored <= hi;
}

double LutValue(const LookupTable& lut, double x) {
  const double index = std::floor(x) - lut.first_mapped;
  const std::size_t last = lut.data.size() - 1;
  if (index <= 0) return lut.data.front();
  if (index >= static_cast<double>(last)) return lut.data[last];
  return lut.data[static_cast<std::size_t>(index)];
}

// The VOI and presentation stages for one modality value.
struct Mapper {
  const GrayscaleModel& model;
  std::optional<Window> window;  // else model.voi_lut
  VoiFunction function;
  Arithmetic arithmetic;
  bool inverse;

  double Modality(std::int32_t stored) const {
    const double m = ModalityValue(model, stored);
    // dcmimgle keeps rescaled values in an integer representation (dimoipxt.h: a cast, so
    // truncation toward zero).
    if (arithmetic == Arithmetic::kDcmtkCompatible && !model.modality_lut) return std::trunc(m);
    return m;
  }

  std::uint8_t Map(std::int32_t stored) const {
    if (IsPadding(model, stored)) return 0;
    const double m = Modality(stored);
    if (!window) {
      const LookupTable& lut = *model.voi_lut;
      if (arithmetic == Arithmetic::kDcmtkCompatible) {
        // dimoopxt.h voilut() #10: low + value * (high - low + 1) / 2^bits, truncated, with low
        // and high swapped for an inverse presentation.
        const double low = inverse ? 255 : 0;
        const double high = inverse ? 0 : 255;
        const double v = low + LutValue(lut, m) * (high - low + 1) / std::ldexp(1.0, lut.bits);
        return static_cast<std::uint8_t>(std::clamp(v, 0.0, 255.0));
      }
      const double max = std::ldexp(1.0, lut.bits) - 1;
      double y = LutValue(lut, m) / max;  // 0..1
      if (inverse) y = 1 - y;
      return Finish(y * 255.0);
    }
    const double c = window->center;
    const double w = window->width;
    if (arithmetic == Arithmetic::kDcmtkCompatible) return DcmtkWindow(m, c, w);
    double y = 0;  // 0..1, PS3.3 C.11.2.1.2.1 and C.11.2.1.3.2
    switch (function) {
      case VoiFunction::kLinear:
        if (m <= c - 0.5 - (w - 1) / 2) {
          y = 0;
        } else if (m > c - 0.5 + (w - 1) / 2) {
          y = 1;
        } else {
          y = (m - (c - 0.5)) / (w - 1) + 0.5;
        }
        break;
      case VoiFunction::kLinearExact:
        if (m <= c - w / 2) {
          y = 0;
        } else if (m > c + w / 2) {
          y = 1;
        } else {
          y = (m - c) / w + 0.5;
        }
        break;
      case VoiFunction::kSigmoid:
        y = 1 / (1 + std::exp(-4 * (m - c) / w));
        break;
    }
    if (inverse) y = 1 - y;
    return Finish(y * 255.0);
  }

  std::uint8_t Finish(double v) const {
    return static_cast<std::uint8_t>(std::clamp(std::lround(v), 0L, 255L));
  }

  // dimoopxt.h, DiMonoOutputPixelTemplate::window() (#6/#8) and sigmoid() without a display
  // function; MONOCHROME1 swaps low and high.
  std::uint8_t DcmtkWindow(double value, double center, double width) const {
    const double low = inverse ? 255 : 0;
    const double high = inverse ? 0 : 255;
    const double outrange = high - low;
    if (function == VoiFunction::kSigmoid) {
      return static_cast<std::uint8_t>(outrange / (1 + std::exp(-4 * (value - center) / width)) +
                                       low);
    }
    const double width_1 = width - 1;
    const double left = center - 0.5 - width_1 / 2;
    const double right = center - 0.5 + width_1 / 2;
    if (value <= left) return static_cast<std::uint8_t>(low);
    if (value > right) return static_cast<std::uint8_t>(high);
    const double offset = width_1 == 0 ? 0 : (high - ((center - 0.5) / width_1 + 0.5) * outrange);
    const double gradient = width_1 == 0 ? 0 : outrange / width_1;
    return static_cast<std::uint8_t>(offset + value * gradient);
  }
};

}  // namespace

double ModalityValue(const GrayscaleModel& model, std::int32_t stored) {
  if (model.modality_lut && !model.modality_lut->data.empty()) {
    return LutValue(*model.modality_lut, stored);
  }
  return stored * model.rescale_slope + model.rescale_intercept;
}

std::optional<Window> HistogramWindow(const GrayscaleModel& model, const DecodedFrame& frame) {
  if (frame.gray.empty()) return std::nullopt;
  std::int32_t lo = std::numeric_limits<std::int32_t>::max();
  std::int32_t hi = std::numeric_limits<std::int32_t>::min();
  std::size_t count = 0;
  for (std::int32_t v : frame.gray) {
    if (IsPadding(model, v)) continue;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    ++count;
  }
  if (count == 0) return std::nullopt;
  // Histogram of stored values in at most 65536 bins.
  const std::int64_t range = static_cast<std::int64_t>(hi) - lo + 1;
  const std::int64_t bins = std::min<std::int64_t>(range, 65536);
  std::vector<std::uint32_t> histogram(static_cast<std::size_t>(bins), 0);
  for (std::int32_t v : frame.gray) {
    if (IsPadding(model, v)) continue;
    const std::int64_t bin = (static_cast<std::int64_t>(v) - lo) * bins / range;
    ++histogram[static_cast<std::size_t>(bin)];
  }
  const std::size_t low_cut = count / 200;               // 0.5 %
  const std::size_t high_cut = count - 1 - count / 200;  // 99.5 %
  std::size_t seen = 0;
  std::int64_t low_bin = 0, high_bin = bins - 1;
  bool low_found = false;
  for (std::int64_t b = 0; b < bins; ++b) {
    seen += histogram[static_cast<std::size_t>(b)];
    if (!low_found && seen > low_cut) {
      low_bin = b;
      low_found = true;
    }
    if (seen > high_cut) {
      high_bin = b;
      break;
    }
  }
  const auto stored_at = [&](std::int64_t bin) {
    return static_cast<std::int32_t>(lo + bin * range / bins);
  };
  const double a = ModalityValue(model, stored_at(low_bin));
  const double b = ModalityValue(model, stored_at(high_bin));
  const double min = std::min(a, b), max = std::max(a, b);
  return Window{(min + max) / 2 + 0.5, std::max(1.0, max - min + 1)};
}

namespace {

// Picks the VOI of PS3.4 N.2.1.1's order: the request's window, the file's first window, its VOI
// LUT, the full stored range (display-ready images), else `histogram()`.
template <typename Histogram>
Result<std::optional<Window>> ChooseVoi(const GrayscaleModel& model,
                                        const GrayscaleOptions& options, GrayscaleResult& result,
                                        Histogram histogram) {
  std::optional<Window> window;
  if (options.window) {
    window = options.window;
    result.voi_source = VoiSource::kRequest;
  } else if (!model.windows.empty()) {
    window = model.windows.front();
    result.voi_source = VoiSource::kFileWindow;
  } else if (model.voi_lut && !model.voi_lut->data.empty()) {
    result.voi_source = VoiSource::kFileVoiLut;
  } else if (model.full_range_window) {
    window = model.full_range_window;
    result.voi_source = VoiSource::kFullRange;
  } else {
    TSUNAGU_ASSIGN_OR_RETURN(window, histogram());
    if (!window) window = Window{0, 1};  // every pixel is padding: all black anyway
    result.voi_source = VoiSource::kHistogram;
  }
  if (window && !(window->width >= 1 && std::isfinite(window->center))) {
    return common::InvalidArgumentError("window width must be >= 1");
  }
  result.window = window;
  return window;
}

// Maps `pixels` input samples to 8 bits: stored_of(in[i]) is the stored value of sample i, in the
// narrowest type that holds it (int16_t / uint16_t for 16-bit data, so that the range pass works
// on eight values per SSE2 register). One pass finds the stored range, a table maps every stored
// value in it once, and a second pass is a table load per pixel.
template <typename T, typename StoredOf>
void MapPixels(const Mapper& mapper, const T* __restrict in, std::size_t pixels, StoredOf stored_of,
               std::uint8_t* __restrict out) {
  if (pixels == 0) return;
  using V = decltype(stored_of(in[0]));
  // Eight independent lanes: GCC vectorizes this form with plain SSE2 (a single running min/max
  // stays a scalar cmov chain).
  V lanes_lo[8], lanes_hi[8];
  for (int k = 0; k < 8; ++k) lanes_lo[k] = lanes_hi[k] = stored_of(in[0]);
  std::size_t i = 0;
  for (; i + 8 <= pixels; i += 8) {
    for (int k = 0; k < 8; ++k) {
      const V v = stored_of(in[i + k]);
      lanes_lo[k] = v < lanes_lo[k] ? v : lanes_lo[k];
      lanes_hi[k] = v > lanes_hi[k] ? v : lanes_hi[k];
    }
  }
  V lo_v = lanes_lo[0], hi_v = lanes_hi[0];
  for (int k = 1; k < 8; ++k) {
    lo_v = std::min(lo_v, lanes_lo[k]);
    hi_v = std::max(hi_v, lanes_hi[k]);
  }
  for (; i < pixels; ++i) {
    lo_v = std::min(lo_v, stored_of(in[i]));
    hi_v = std::max(hi_v, stored_of(in[i]));
  }
  const std::int32_t lo = lo_v, hi = hi_v;
  const std::int64_t range = static_cast<std::int64_t>(hi) - lo + 1;
  if (range <= (1 << 20) && static_cast<std::size_t>(range) <= pixels * 4 + 65536) {
    // One table entry per stored value present in the frame's range (at most 64K for 16-bit
    // data): the per-pixel work is a load.
    std::vector<std::uint8_t> table(static_cast<std::size_t>(range));
    for (std::int64_t v = 0; v < range; ++v) {
      table[static_cast<std::size_t>(v)] = mapper.Map(static_cast<std::int32_t>(lo + v));
    }
    // Locals and restrict pointers: the loop keeps the table, the bias and the output in
    // registers (through a possibly aliasing uint8_t store they were reloaded on every pixel).
    const std::uint8_t* __restrict t = table.data();
#pragma GCC unroll 4
    for (std::size_t p = 0; p < pixels; ++p) {
      out[p] = t[static_cast<std::int32_t>(stored_of(in[p])) - lo];
    }
  } else {
    for (std::size_t p = 0; p < pixels; ++p) out[p] = mapper.Map(stored_of(in[p]));
  }
}

#if defined(__SSE2__)
// A linear window on 16-bit stored values as arithmetic, eight pixels per SSE2 instruction, in
// one pass (no range pass, no table load per pixel). The output is verified, not assumed, to be
// the table's: for every stored value inside the ramp (plus a margin) the vector arithmetic is
// replayed in scalar SSE and compared with Mapper::Map; outside it Map is constant (the window
// saturates). Returns false, with nothing written, when the case does not apply or one value
// differs; the caller then maps through the table.
bool MapLinearWindowSse2(const Mapper& mapper, const std::uint16_t* in, std::size_t pixels,
                         const StoredBits& bits, std::uint8_t* out) {
  const GrayscaleModel& model = mapper.model;
  if (!mapper.window || mapper.arithmetic != Arithmetic::kExact || model.modality_lut ||
      model.padding_value || mapper.function == VoiFunction::kSigmoid || bits.shift != 0 ||
      !(bits.bits_stored == 16 ? bits.is_signed : bits.bits_stored <= 15)) {
    return false;
  }
  const double slope = model.rescale_slope, intercept = model.rescale_intercept;
  if (!(std::abs(slope) >= 1e-3 && std::abs(slope) <= 1e6) || !std::isfinite(intercept)) {
    return false;
  }
  const double c = mapper.window->center, w = mapper.window->width;
  // The modality values where the output leaves 0 and reaches 1 (PS3.3 C.11.2.1.2.1/3.2), and
  // the line y = (m - origin) / scale + 0.5 between them.
  const bool exact = mapper.function == VoiFunction::kLinearExact;
  if (!exact && w <= 1) return false;
  const double origin = exact ? c : c - 0.5;
  const double scale = exact ? w : w - 1;
  const double left = exact ? c - w / 2 : c - 0.5 - (w - 1) / 2;
  const double right = exact ? c + w / 2 : c - 0.5 + (w - 1) / 2;
  // In stored values, with a margin of two stored values either side.
  const double a = (left - intercept) / slope, b = (right - intercept) / slope;
  const double stored_min = bits.is_signed ? -(1 << (bits.bits_stored - 1)) : 0;
  const double stored_max =
      bits.is_signed ? (1 << (bits.bits_stored - 1)) - 1 : (1 << bits.bits_stored) - 1;
  const double lo_d = std::clamp(std::floor(std::min(a, b)) - 2, stored_min, stored_max);
  const double hi_d = std::clamp(std::ceil(std::max(a, b)) + 2, stored_min, stored_max);
  const auto lo = static_cast<std::int32_t>(lo_d), hi = static_cast<std::int32_t>(hi_d);
  const std::int32_t n = hi - lo + 1;
  if (n < 1 || n > 16384) return false;  // a very wide window: the table costs no more
  // out = round(k * x + d) for x = stored - lo, in float, as the vector code computes it.
  double k = 255 * slope / scale;
  double d = 255 * ((lo * slope + intercept - origin) / scale + 0.5);
  if (mapper.inverse) {
    k = -k;
    d = 255 - d;
  }
  const __m128 vk = _mm_set1_ps(static_cast<float>(k));
  const __m128 vd = _mm_set1_ps(static_cast<float>(d));
  const auto scalar = [&](std::int32_t x) {
    const __m128 f = _mm_add_ss(_mm_mul_ss(_mm_cvtsi32_ss(_mm_setzero_ps(), x), vk), vd);
    return std::clamp(_mm_cvtss_si32(f), 0, 255);  // nearest even, as _mm_cvtps_epi32
  };
  for (std::int32_t x = 0; x < n; ++x) {
    if (scalar(x) != mapper.Map(lo + x)) return false;
  }
  // Below lo and above hi the window saturates (the margin): Map is what it is at lo and hi.
  if (lo > stored_min && mapper.Map(static_cast<std::int32_t>(stored_min)) != scalar(0)) {
    return false;
  }
  if (hi < stored_max && mapper.Map(static_cast<std::int32_t>(stored_max)) != scalar(n - 1)) {
    return false;
  }
  const __m128i vlo = _mm_set1_epi16(static_cast<short>(lo));
  const __m128i vhi = _mm_set1_epi16(static_cast<short>(hi));
  const __m128i vmask =
      _mm_set1_epi16(static_cast<short>(bits.is_signed ? 0xFFFF : (1u << bits.bits_stored) - 1));
  const __m128i zero = _mm_setzero_si128();
  const auto eight = [&](const std::uint16_t* from) {
    __m128i v = _mm_and_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(from)), vmask);
    // x = clamp(v, lo, hi) - lo, 0..n-1, zero-extended to 32 bits.
    v = _mm_sub_epi16(_mm_min_epi16(_mm_max_epi16(v, vlo), vhi), vlo);
    const __m128 f0 = _mm_add_ps(_mm_mul_ps(_mm_cvtepi32_ps(_mm_unpacklo_epi16(v, zero)), vk), vd);
    const __m128 f1 = _mm_add_ps(_mm_mul_ps(_mm_cvtepi32_ps(_mm_unpackhi_epi16(v, zero)), vk), vd);
    return _mm_packs_epi32(_mm_cvtps_epi32(f0), _mm_cvtps_epi32(f1));
  };
  std::size_t p = 0;
  for (; p + 16 <= pixels; p += 16) {
    // The frame usually comes from memory, not cache (a different slice each request).
    _mm_prefetch(reinterpret_cast<const char*>(in + p) + 2048, _MM_HINT_T0);
    const __m128i r = _mm_packus_epi16(eight(in + p), eight(in + p + 8));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + p), r);
  }
  const std::uint32_t mask = bits.is_signed ? 0xFFFF : (1u << bits.bits_stored) - 1;
  for (; p < pixels; ++p) {
    const std::int32_t v =
        bits.is_signed ? static_cast<std::int16_t>(in[p]) : static_cast<std::int32_t>(in[p] & mask);
    out[p] = static_cast<std::uint8_t>(scalar(std::clamp(v, lo, hi) - lo));
  }
  return true;
}
#endif

}  // namespace

Result<GrayscaleResult> RenderGrayscale(const GrayscaleModel& model, const DecodedFrame& frame,
                                        const GrayscaleOptions& options) {
  if (frame.samples != 1) return common::InvalidArgumentError("not a grayscale frame");
  const std::size_t pixels = static_cast<std::size_t>(frame.rows) * frame.columns;
  if (frame.gray.size() != pixels) return common::InvalidArgumentError("frame size mismatch");

  GrayscaleResult result;
  TSUNAGU_ASSIGN_OR_RETURN(
      std::optional<Window> window,
      ChooseVoi(model, options, result,
                [&]() -> Result<std::optional<Window>> { return HistogramWindow(model, frame); }));
  const Mapper mapper{model, window, options.voi_function.value_or(model.voi_function),
                      options.arithmetic, model.monochrome1 || model.presentation_inverse};
  Image8& image = result.image;
  image.width = frame.columns;
  image.height = frame.rows;
  image.channels = 1;
  image.pixels.resize(pixels);
  MapPixels(
      mapper, frame.gray.data(), pixels, [](std::int32_t v) { return v; }, image.pixels.data());
  return result;
}

Result<GrayscaleResult> RenderGrayscaleWords(const GrayscaleModel& model,
                                             const std::uint16_t* words, std::uint32_t rows,
                                             std::uint32_t columns, const StoredBits& bits,
                                             const GrayscaleOptions& options) {
  if (bits.bits_stored < 1 || bits.bits_stored > 16 || bits.shift < 0 ||
      bits.shift + bits.bits_stored > 16) {
    return common::InvalidArgumentError("inconsistent Bits Stored / High Bit");
  }
  GrayscaleResult result;
  TSUNAGU_ASSIGN_OR_RETURN(
      std::optional<Window> window,
      ChooseVoi(model, options, result, []() -> Result<std::optional<Window>> {
        return common::FailedPreconditionError("the window comes from the histogram");
      }));
  const Mapper mapper{model, window, options.voi_function.value_or(model.voi_function),
                      options.arithmetic, model.monochrome1 || model.presentation_inverse};
  const std::size_t pixels = static_cast<std::size_t>(rows) * columns;
  Image8& image = result.image;
  image.width = columns;
  image.height = rows;
  image.channels = 1;
  image.pixels.resize(pixels);
  const int shift = bits.shift;
  const std::uint32_t mask = (1u << bits.bits_stored) - 1;
  const std::uint32_t sign = bits.is_signed ? 1u << (bits.bits_stored - 1) : 0;
  std::uint8_t* out = image.pixels.data();
#if defined(__SSE2__)
  if (MapLinearWindowSse2(mapper, words, pixels, bits, out)) return result;
#endif
  // The two layouts of nearly every CT and MR get loops the compiler can keep short: signed 16 of
  // 16 bits is a plain int16, unsigned from bit 0 is a mask.
  if (shift == 0 && bits.bits_stored == 16 && bits.is_signed) {
    MapPixels(
        mapper, words, pixels, [](std::uint16_t w) { return static_cast<std::int16_t>(w); }, out);
  } else if (shift == 0 && !bits.is_signed) {
    MapPixels(
        mapper, words, pixels,
        [=](std::uint16_t w) { return static_cast<std::uint16_t>(w & mask); }, out);
  } else {
    // Masking then sign extension by (v ^ sign) - sign, as FrameSource unpacks.
    MapPixels(
        mapper, words, pixels,
        [=](std::uint16_t w) {
          const std::uint32_t v = (static_cast<std::uint32_t>(w) >> shift) & mask;
          return static_cast<std::int32_t>(v ^ sign) - static_cast<std::int32_t>(sign);
        },
        out);
  }
  return result;
}

}  // namespace tsunagu::viewer
