// FrameSource: one DICOM image object (single- or multi-frame) opened for rendering, one frame at
// a time.
//
//   TSUNAGU_ASSIGN_OR_RETURN(auto source, FrameSource::Open(std::make_shared<MemoryDicomReader>(
//                                             std::move(decrypted_bytes))));
//   TSUNAGU_ASSIGN_OR_RETURN(FrameInfo info, source->Describe());
//   TSUNAGU_ASSIGN_OR_RETURN(RenderedImage jpeg, source->RenderJpeg(0, RenderParams{}));
//
// Open() parses the header but leaves pixel data where it is: large values are read through the
// DicomReader only when a frame needs them, and DecodeFrame(n) reads and decodes only frame n's
// bytes (its fragments, found through the Basic Offset Table or, without one, a fragment index
// built once from the item headers).
//
// Supported: uncompressed (implicit/explicit little endian, explicit big endian, deflate),
// 8/12/16/32-bit stored, signed or unsigned, MONOCHROME1/2, PALETTE COLOR (not segmented), RGB,
// YBR_FULL, YBR_FULL_422 (planar configuration 0 or 1); RLE (own bounds-checked decoder); JPEG
// baseline, extended and lossless; JPEG-LS (DCMTK's codecs); JPEG 2000 (OpenJPEG); enhanced
// multi-frame functional groups. Anything else (segmented palettes, 1-bit data, video transfer
// syntaxes, float pixel data, a truncated object) fails with a one-line reason, never a crash.
//
// Messages of returned errors never contain values from the object other than technical
// attributes (sizes, transfer syntax, photometric interpretation).
//
// Thread-safety: a FrameSource may be used by one thread at a time; distinct FrameSources are
// independent. The DCMTK codecs are registered once per process on first use.
#ifndef TSUNAGU_VIEWER_FRAME_SOURCE_H_
#define TSUNAGU_VIEWER_FRAME_SOURCE_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tsunagu/common/result.h"
#include "tsunagu/viewer/dicom_reader.h"
#include "tsunagu/viewer/grayscale.h"
#include "tsunagu/viewer/image.h"

namespace tsunagu::viewer {

// Physical distance between pixel centres, in mm.
struct PixelSpacing {
  double row_mm = 0;     // between rows (vertical)
  double column_mm = 0;  // between columns (horizontal)
  // True when the value is Imager Pixel Spacing (0018,1164) at the detector (projection images,
  // not corrected for magnification), false for Pixel Spacing (0028,0030) in the patient.
  bool imager = false;
  friend bool operator==(const PixelSpacing&, const PixelSpacing&) = default;
};

// What a viewer needs to know about an image object; no identifying data.
struct FrameInfo {
  std::uint32_t rows = 0;
  std::uint32_t columns = 0;
  std::uint32_t frames = 1;
  std::string photometric;  // as in the file, e.g. "MONOCHROME2"
  int samples_per_pixel = 1;
  int bits_allocated = 0;
  int bits_stored = 0;
  bool pixel_signed = false;
  int planar_configuration = 0;
  std::string transfer_syntax_uid;
  std::string modality;
  std::optional<PixelSpacing> pixel_spacing;
  // Frame Time (0018,1063) in ms, else 1000 / Cine Rate (0018,0040).
  std::optional<double> frame_time_ms;
  std::vector<Window> windows;
  VoiFunction voi_function = VoiFunction::kLinear;
  // Image Orientation (Patient): row direction cosines then column direction cosines.
  std::optional<std::array<double, 6>> orientation;
  // Image Position (Patient) of the first pixel, mm (of frame 0 for an enhanced object).
  std::optional<std::array<double, 3>> position;
  // Enhanced multi-frame (PS3.3 C.7.6.16): the Plane Position of every frame; empty otherwise.
  // Pixel spacing, orientation, rescale and window are also read from the functional groups
  // (shared, else frame 0's) when the top level has none.
  std::vector<std::array<double, 3>> frame_positions;
  // Whether frames render as grayscale (through the pipeline) or color.
  bool grayscale = true;
};

// Parameters of one render.
struct RenderParams {
  // VOI window overriding the file's; ignored for color images.
  std::optional<Window> window;
  std::optional<VoiFunction> voi_function;
  // JPEG quality 1..100.
  int quality = 90;
  // Longest side in pixels of the output (0: native size). Images are only ever shrunk.
  std::uint32_t max_size = 0;
  Arithmetic arithmetic = Arithmetic::kExact;
};

struct RenderedImage {
  std::string jpeg;
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  // The window applied (grayscale with a window only).
  std::optional<Window> window;
};

class FrameSource {
 public:
  // Parses the object read through `reader`. Errors: kInvalidArgument when the bytes are not a
  // DICOM object with pixel data this library can render (with the reason), kDataLoss when the
  // reader fails.
  static common::Result<std::unique_ptr<FrameSource>> Open(std::shared_ptr<DicomReader> reader);
  // Shorthand for a file.
  static common::Result<std::unique_ptr<FrameSource>> OpenFile(const std::filesystem::path& path);

  ~FrameSource();
  FrameSource(const FrameSource&) = delete;
  FrameSource& operator=(const FrameSource&) = delete;

  const FrameInfo& Describe() const;
  // The attributes the grayscale pipeline uses.
  const GrayscaleModel& grayscale_model() const;

  // Decodes frame `frame` (0-based). Errors: kInvalidArgument when frame >= frames; kDataLoss
  // when the frame's bytes are missing or do not decode.
  common::Result<DecodedFrame> DecodeFrame(std::uint32_t frame);

  // The 8-bit image of `frame` at native size (grayscale pipeline or color conversion), before
  // any downscaling or JPEG encoding.
  common::Result<Image8> Render8(std::uint32_t frame, const RenderParams& params);

  // Render8, then FitWithin(params.max_size), then EncodeJpeg(params.quality).
  common::Result<RenderedImage> RenderJpeg(std::uint32_t frame, const RenderParams& params);

  // A JPEG of the middle frame (frames / 2) at most `max_size` pixels on its longest side, with
  // the default window.
  common::Result<std::string> Thumbnail(std::uint32_t max_size = 128, int quality = 80);

 private:
  struct Impl;
  explicit FrameSource(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tsunagu::viewer

#endif  // TSUNAGU_VIEWER_FRAME_SOURCE_H_
