#include "tsunagu/viewer/frame_source.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dccodec.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <dcmtk/dcmdata/dcsequen.h>
#include <dcmtk/dcmdata/dcxfer.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "dcmtk_bridge.h"
#include "j2k_decoder.h"
#include "rle_decoder.h"
#include "tsunagu/viewer/jpeg.h"

namespace tsunagu::viewer {

using common::Result;
using common::Status;

namespace {

// Values longer than this stay in the reader until a frame needs them.
constexpr Uint32 kMaxReadLength = 4096;

std::string GetString(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  if (item.findAndGetOFString(tag, value).good()) return std::string(value.c_str());
  return {};
}

std::optional<long> GetInt(DcmItem& item, const DcmTagKey& tag) {
  Uint16 u16 = 0;
  if (item.findAndGetUint16(tag, u16).good()) return u16;
  Sint32 s32 = 0;
  if (item.findAndGetSint32(tag, s32).good()) return s32;
  Sint16 s16 = 0;
  if (item.findAndGetSint16(tag, s16).good()) return s16;
  OFString text;  // IS
  if (item.findAndGetOFString(tag, text).good() && !text.empty()) {
    char* end = nullptr;
    const long v = std::strtol(text.c_str(), &end, 10);
    if (end != text.c_str()) return v;
  }
  return std::nullopt;
}

std::vector<double> GetDoubles(DcmItem& item, const DcmTagKey& tag) {
  std::vector<double> out;
  DcmElement* elem = nullptr;
  if (item.findAndGetElement(tag, elem).bad() || elem == nullptr) return out;
  const unsigned long vm = elem->getVM();
  for (unsigned long i = 0; i < vm; ++i) {
    Float64 v = 0;
    if (elem->getFloat64(v, i).bad() || !std::isfinite(v)) return {};
    out.push_back(v);
  }
  return out;
}

// LUT Descriptor + LUT Data of the first item of `sequence` (PS3.3 C.11.1 / C.11.2).
std::optional<LookupTable> ReadLut(DcmItem& dataset, const DcmTagKey& sequence, bool signed_first) {
  DcmItem* item = nullptr;
  if (dataset.findAndGetSequenceItem(sequence, item, 0).bad() || item == nullptr) {
    return std::nullopt;
  }
  const Uint16* descriptor = nullptr;
  unsigned long count = 0;
  if (item->findAndGetUint16Array(DCM_LUTDescriptor, descriptor, &count).bad() || count < 3) {
    return std::nullopt;
  }
  const Uint16* data = nullptr;
  unsigned long data_count = 0;
  if (item->findAndGetUint16Array(DCM_LUTData, data, &data_count).bad() || data == nullptr) {
    return std::nullopt;
  }
  LookupTable lut;
  const std::size_t entries = descriptor[0] == 0 ? 65536 : descriptor[0];
  lut.first_mapped = signed_first ? static_cast<Sint16>(descriptor[1]) : descriptor[1];
  lut.bits = std::clamp<int>(descriptor[2], 1, 16);
  if (data_count < entries) return std::nullopt;
  lut.data.assign(data, data + entries);
  return lut;
}

// An attribute of a functional group macro of an enhanced multi-frame object (PS3.3 C.7.6.16):
// from the Shared Functional Groups Sequence, else from frame `frame`'s Per-frame item.
std::vector<double> FunctionalGroupDoubles(DcmItem& dataset, const DcmTagKey& macro,
                                           const DcmTagKey& tag, unsigned long frame) {
  DcmItem* groups = nullptr;
  DcmItem* item = nullptr;
  if (dataset.findAndGetSequenceItem(DCM_SharedFunctionalGroupsSequence, groups, 0).good() &&
      groups != nullptr && groups->findAndGetSequenceItem(macro, item, 0).good() &&
      item != nullptr) {
    if (auto v = GetDoubles(*item, tag); !v.empty()) return v;
  }
  if (dataset
          .findAndGetSequenceItem(DCM_PerFrameFunctionalGroupsSequence, groups,
                                  static_cast<signed long>(frame))
          .good() &&
      groups != nullptr && groups->findAndGetSequenceItem(macro, item, 0).good() &&
      item != nullptr) {
    return GetDoubles(*item, tag);
  }
  return {};
}

std::uint8_t Clamp8(double v) {
  return static_cast<std::uint8_t>(std::clamp(std::lround(v), 0L, 255L));
}

// PS3.3 C.7.6.3.1.2, YBR_FULL to RGB.
void YbrToRgb(int y, int cb, int cr, std::uint8_t* rgb) {
  rgb[0] = Clamp8(y + 1.402 * (cr - 128));
  rgb[1] = Clamp8(y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128));
  rgb[2] = Clamp8(y + 1.772 * (cb - 128));
}

bool IsJ2k(E_TransferSyntax xfer) {
  return xfer == EXS_JPEG2000LosslessOnly || xfer == EXS_JPEG2000 ||
         xfer == EXS_JPEG2000MulticomponentLosslessOnly || xfer == EXS_JPEG2000Multicomponent;
}

bool StartsCodestream(const unsigned char* b, std::size_t n) {
  if (n >= 2 && b[0] == 0xFF && b[1] == 0xD8) return true;                         // JPEG SOI
  if (n >= 2 && b[0] == 0xFF && b[1] == 0x4F) return true;                         // J2K SOC
  if (n >= 6 && b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] == 0x0C) return true;  // JP2
  return false;
}

}  // namespace

struct FrameSource::Impl {
  std::shared_ptr<DicomReader> reader;
  std::unique_ptr<DcmFileFormat> file;
  DcmDataset* dataset = nullptr;
  E_TransferSyntax xfer = EXS_Unknown;
  DcmPixelData* pixel_data = nullptr;
  FrameInfo info;
  GrayscaleModel model;
  int high_bit = 0;
  // Encapsulated: for each frame, the pixel item index (1-based; item 0 is the offset table) at
  // which it starts, plus one past the last item. Built on first use.
  std::vector<Uint32> frame_items;
  bool index_built = false;
  // PALETTE COLOR (PS3.3 C.7.6.3.1.5): red, green, blue LUTs sharing one descriptor.
  struct Palette {
    std::array<std::vector<std::uint16_t>, 3> data;
    std::int32_t first_mapped = 0;
    int bits = 16;
  };
  std::optional<Palette> palette;

  Status Parse();
  Status ReadPalette();
  DecodedFrame ApplyPalette(const DecodedFrame& indexes) const;
  Status BuildFragmentIndex(DcmPixelSequence* seq);
  Result<std::string> RawFrame(std::uint32_t frame, std::string& color_model);
  Result<DecodedFrame> Unpack(const std::string& raw, const std::string& color_model,
                              bool decompressed) const;
  Result<DecodedFrame> DecodeJ2kFrame(std::uint32_t frame);
  // Native 16-bit grayscale straight from the stored words; empty when this frame needs the
  // general path (not native 16-bit grayscale, or a window from the histogram).
  Result<std::optional<GrayscaleResult>> RenderNativeWords(std::uint32_t frame,
                                                           const GrayscaleOptions& options);
  // The words of native 16-bit `frame` where they lie in the reader's memory (no copy); nullptr
  // when they must be read (file reader, big endian, value loaded or misaligned).
  const std::uint16_t* InPlaceWords(std::uint32_t frame, std::uint64_t frame_bytes) const;
  // The bytes of `frame`'s fragments, concatenated (frame_items must be built).
  Result<std::string> FrameBytes(DcmPixelSequence* seq, std::uint32_t frame);
};

Status FrameSource::Impl::Parse() {
  xfer = dataset->getOriginalXfer();
  const DcmXfer xfer_info(xfer);
  info.transfer_syntax_uid = xfer_info.getXferID();

  DcmElement* elem = nullptr;
  if (dataset->findAndGetElement(DCM_PixelData, elem).bad() || elem == nullptr) {
    if (dataset->tagExists(DCM_FloatPixelData) || dataset->tagExists(DCM_DoubleFloatPixelData)) {
      return common::InvalidArgumentError("float pixel data is not supported");
    }
    return common::InvalidArgumentError("the object has no Pixel Data (7FE0,0010)");
  }
  pixel_data = dynamic_cast<DcmPixelData*>(elem);
  if (pixel_data == nullptr) return common::InvalidArgumentError("malformed Pixel Data element");

  info.rows = static_cast<std::uint32_t>(GetInt(*dataset, DCM_Rows).value_or(0));
  info.columns = static_cast<std::uint32_t>(GetInt(*dataset, DCM_Columns).value_or(0));
  const long frames = GetInt(*dataset, DCM_NumberOfFrames).value_or(1);
  info.frames = static_cast<std::uint32_t>(std::max(1L, frames));
  info.samples_per_pixel = static_cast<int>(GetInt(*dataset, DCM_SamplesPerPixel).value_or(1));
  info.photometric = GetString(*dataset, DCM_PhotometricInterpretation);
  info.bits_allocated = static_cast<int>(GetInt(*dataset, DCM_BitsAllocated).value_or(0));
  info.bits_stored =
      static_cast<int>(GetInt(*dataset, DCM_BitsStored).value_or(info.bits_allocated));
  high_bit = static_cast<int>(GetInt(*dataset, DCM_HighBit).value_or(info.bits_stored - 1));
  info.pixel_signed = GetInt(*dataset, DCM_PixelRepresentation).value_or(0) == 1;
  info.planar_configuration =
      static_cast<int>(GetInt(*dataset, DCM_PlanarConfiguration).value_or(0));
  info.modality = GetString(*dataset, DCM_Modality);

  if (info.rows == 0 || info.columns == 0) {
    return common::InvalidArgumentError("Rows or Columns is missing or zero");
  }
  if (info.bits_allocated != 8 && info.bits_allocated != 16 && info.bits_allocated != 32) {
    return common::InvalidArgumentError("Bits Allocated " + std::to_string(info.bits_allocated) +
                                        " is not supported (8, 16 or 32)");
  }
  if (info.bits_stored < 1 || info.bits_stored > info.bits_allocated ||
      high_bit < info.bits_stored - 1 || high_bit >= info.bits_allocated) {
    return common::InvalidArgumentError("inconsistent Bits Stored / High Bit");
  }
  const std::string& pi = info.photometric;
  if (info.samples_per_pixel == 1 && pi == "PALETTE COLOR") {
    TSUNAGU_RETURN_IF_ERROR(ReadPalette());
    info.grayscale = false;
  } else if (info.samples_per_pixel == 1) {
    if (pi != "MONOCHROME1" && pi != "MONOCHROME2") {
      return common::InvalidArgumentError("photometric interpretation '" + pi +
                                          "' with one sample is not supported");
    }
    info.grayscale = true;
  } else if (info.samples_per_pixel == 3) {
    if (pi != "RGB" && pi != "YBR_FULL" && pi != "YBR_FULL_422" && pi != "YBR_PARTIAL_420" &&
        pi != "YBR_ICT" && pi != "YBR_RCT") {
      return common::InvalidArgumentError("photometric interpretation '" + pi +
                                          "' with three samples is not supported");
    }
    info.grayscale = false;
  } else {
    return common::InvalidArgumentError("Samples per Pixel " +
                                        std::to_string(info.samples_per_pixel) +
                                        " is not supported (1 or 3)");
  }

  if (xfer == EXS_Unknown) return common::InvalidArgumentError("unknown transfer syntax");
  if (xfer_info.isEncapsulated()) {
    if (!IsJ2k(xfer) && !DcmCodecList::canChangeCoding(xfer, EXS_LittleEndianExplicit)) {
      return common::InvalidArgumentError(std::string("transfer syntax ") +
                                          xfer_info.getXferName() + " is not supported");
    }
  } else {
    // Native: every frame must be there (a truncated object fails here, not at frame n).
    const std::uint64_t pixels = static_cast<std::uint64_t>(info.rows) * info.columns;
    std::uint64_t frame_bytes = pixels * info.samples_per_pixel * (info.bits_allocated / 8);
    if (pi == "YBR_FULL_422") frame_bytes = pixels * 2 * (info.bits_allocated / 8);
    const std::uint64_t needed = frame_bytes * info.frames;
    if (pixel_data->getLengthField() == DCM_UndefinedLength ||
        static_cast<std::uint64_t>(pixel_data->getLengthField()) < needed) {
      return common::InvalidArgumentError(
          "Pixel Data is shorter than Rows x Columns x Samples x Frames (truncated object?)");
    }
  }

  std::vector<double> spacing = GetDoubles(*dataset, DCM_PixelSpacing);
  if (spacing.size() != 2) {
    spacing = FunctionalGroupDoubles(*dataset, DCM_PixelMeasuresSequence, DCM_PixelSpacing, 0);
  }
  bool imager = false;
  if (spacing.size() != 2) {
    spacing = GetDoubles(*dataset, DCM_ImagerPixelSpacing);
    imager = true;
  }
  if (spacing.size() == 2 && spacing[0] > 0 && spacing[1] > 0) {
    info.pixel_spacing = PixelSpacing{spacing[0], spacing[1], imager};
  }
  if (auto ft = GetDoubles(*dataset, DCM_FrameTime); ft.size() == 1 && ft[0] > 0) {
    info.frame_time_ms = ft[0];
  } else if (auto rate = GetInt(*dataset, DCM_CineRate); rate && *rate > 0) {
    info.frame_time_ms = 1000.0 / static_cast<double>(*rate);
  }
  std::vector<double> o = GetDoubles(*dataset, DCM_ImageOrientationPatient);
  if (o.size() != 6) {
    o = FunctionalGroupDoubles(*dataset, DCM_PlaneOrientationSequence, DCM_ImageOrientationPatient,
                               0);
  }
  if (o.size() == 6) info.orientation = std::array<double, 6>{o[0], o[1], o[2], o[3], o[4], o[5]};
  if (auto p = GetDoubles(*dataset, DCM_ImagePositionPatient); p.size() == 3) {
    info.position = std::array<double, 3>{p[0], p[1], p[2]};
  } else {
    // Enhanced multi-frame: one Plane Position per frame.
    for (std::uint32_t f = 0; f < info.frames; ++f) {
      const auto q =
          FunctionalGroupDoubles(*dataset, DCM_PlanePositionSequence, DCM_ImagePositionPatient, f);
      if (q.size() != 3) {
        info.frame_positions.clear();
        break;
      }
      info.frame_positions.push_back(std::array<double, 3>{q[0], q[1], q[2]});
    }
    if (!info.frame_positions.empty()) info.position = info.frame_positions.front();
  }

  // Grayscale model.
  model.monochrome1 = pi == "MONOCHROME1";
  // Enhanced objects carry rescale and window in functional groups (Pixel Value Transformation,
  // Frame VOI LUT); the shared or first frame's values apply to every frame.
  const auto attribute = [&](const DcmTagKey& macro, const DcmTagKey& tag) {
    std::vector<double> v = GetDoubles(*dataset, tag);
    return v.empty() ? FunctionalGroupDoubles(*dataset, macro, tag, 0) : v;
  };
  if (auto s = attribute(DCM_PixelValueTransformationSequence, DCM_RescaleSlope);
      s.size() == 1 && s[0] != 0) {
    model.rescale_slope = s[0];
  }
  if (auto i = attribute(DCM_PixelValueTransformationSequence, DCM_RescaleIntercept);
      i.size() == 1) {
    model.rescale_intercept = i[0];
  }
  model.modality_lut = ReadLut(*dataset, DCM_ModalityLUTSequence, info.pixel_signed);
  const std::vector<double> centers = attribute(DCM_FrameVOILUTSequence, DCM_WindowCenter);
  const std::vector<double> widths = attribute(DCM_FrameVOILUTSequence, DCM_WindowWidth);
  for (std::size_t i = 0; i < std::min(centers.size(), widths.size()); ++i) {
    if (widths[i] >= 1) model.windows.push_back(Window{centers[i], widths[i]});
  }
  const std::string function = GetString(*dataset, DCM_VOILUTFunction);
  if (function == "LINEAR_EXACT") model.voi_function = VoiFunction::kLinearExact;
  if (function == "SIGMOID") model.voi_function = VoiFunction::kSigmoid;
  model.voi_lut = ReadLut(*dataset, DCM_VOILUTSequence, info.pixel_signed);
  model.presentation_inverse = GetString(*dataset, DCM_PresentationLUTShape) == "INVERSE";
  if (auto pad = GetInt(*dataset, DCM_PixelPaddingValue)) {
    model.padding_value = static_cast<std::int32_t>(*pad);
    if (auto limit = GetInt(*dataset, DCM_PixelPaddingRangeLimit)) {
      model.padding_range_limit = static_cast<std::int32_t>(*limit);
    }
  }
  if (info.bits_stored <= 8 && !model.modality_lut && model.rescale_slope == 1 &&
      model.rescale_intercept == 0) {
    const double levels = std::ldexp(1.0, info.bits_stored);
    // Values 0..2^n-1 map onto 0..255 (PS3.3 C.11.2.1.2.1 with c = 2^(n-1), w = 2^n).
    model.full_range_window = Window{levels / 2, levels};
  }
  info.windows = model.windows;
  info.voi_function = model.voi_function;
  return Status::Ok();
}

Status FrameSource::Impl::ReadPalette() {
  if (dataset->tagExists(DCM_SegmentedRedPaletteColorLookupTableData)) {
    return common::InvalidArgumentError("segmented palette color lookup tables are not supported");
  }
  const DcmTagKey descriptors[3] = {DCM_RedPaletteColorLookupTableDescriptor,
                                    DCM_GreenPaletteColorLookupTableDescriptor,
                                    DCM_BluePaletteColorLookupTableDescriptor};
  const DcmTagKey tables[3] = {DCM_RedPaletteColorLookupTableData,
                               DCM_GreenPaletteColorLookupTableData,
                               DCM_BluePaletteColorLookupTableData};
  Palette p;
  for (int c = 0; c < 3; ++c) {
    const Uint16* d = nullptr;
    unsigned long n = 0;
    if (dataset->findAndGetUint16Array(descriptors[c], d, &n).bad() || d == nullptr || n < 3) {
      return common::InvalidArgumentError("PALETTE COLOR without a valid LUT descriptor");
    }
    const std::size_t entries = d[0] == 0 ? 65536 : d[0];
    p.first_mapped = info.pixel_signed ? static_cast<Sint16>(d[1]) : d[1];
    p.bits = d[2] == 8 ? 8 : 16;
    const Uint16* data = nullptr;
    unsigned long count = 0;
    if (dataset->findAndGetUint16Array(tables[c], data, &count).bad() || data == nullptr) {
      return common::InvalidArgumentError("PALETTE COLOR without LUT data");
    }
    if (p.bits == 8 && count * 2 == entries) {
      // 8-bit entries packed two per 16-bit word (low byte first).
      for (unsigned long i = 0; i < count; ++i) {
        p.data[c].push_back(data[i] & 0xFF);
        p.data[c].push_back(data[i] >> 8);
      }
    } else if (count >= entries) {
      p.data[c].assign(data, data + entries);
    } else {
      return common::InvalidArgumentError("PALETTE COLOR LUT data shorter than its descriptor");
    }
  }
  palette = std::move(p);
  return Status::Ok();
}

DecodedFrame FrameSource::Impl::ApplyPalette(const DecodedFrame& indexes) const {
  DecodedFrame out;
  out.rows = indexes.rows;
  out.columns = indexes.columns;
  out.samples = 3;
  out.rgb.resize(indexes.gray.size() * 3);
  const std::int64_t last = static_cast<std::int64_t>(palette->data[0].size()) - 1;
  const int shift = palette->bits == 16 ? 8 : 0;
  for (std::size_t i = 0; i < indexes.gray.size(); ++i) {
    const std::int64_t k = std::clamp<std::int64_t>(
        static_cast<std::int64_t>(indexes.gray[i]) - palette->first_mapped, 0, last);
    for (int c = 0; c < 3; ++c) {
      out.rgb[i * 3 + c] = static_cast<std::uint8_t>(palette->data[c][k] >> shift);
    }
  }
  return out;
}

Status FrameSource::Impl::BuildFragmentIndex(DcmPixelSequence* seq) {
  index_built = true;
  frame_items.clear();
  const unsigned long items = seq->card();
  if (items < 2) return common::DataLossError("encapsulated Pixel Data has no fragments");
  const unsigned long fragments = items - 1;

  // 1. Basic Offset Table: byte offsets of each frame's first item, from the first fragment.
  DcmPixelItem* bot = nullptr;
  if (seq->getItem(bot, 0).good() && bot != nullptr && bot->getLength() >= 4 * info.frames) {
    Uint8* table = nullptr;
    if (bot->getUint8Array(table).good() && table != nullptr) {
      std::vector<std::uint64_t> item_offset(items, 0);  // offset of item i from fragment 1
      std::uint64_t pos = 0;
      for (unsigned long i = 1; i < items; ++i) {
        DcmPixelItem* it = nullptr;
        if (seq->getItem(it, i).bad()) break;
        item_offset[i] = pos;
        pos += 8 + it->getLength();
      }
      std::vector<Uint32> found;
      for (std::uint32_t f = 0; f < info.frames; ++f) {
        const std::uint32_t off = static_cast<std::uint32_t>(table[4 * f]) |
                                  static_cast<std::uint32_t>(table[4 * f + 1]) << 8 |
                                  static_cast<std::uint32_t>(table[4 * f + 2]) << 16 |
                                  static_cast<std::uint32_t>(table[4 * f + 3]) << 24;
        auto it = std::find(item_offset.begin() + 1, item_offset.end(), off);
        if (it == item_offset.end()) break;
        found.push_back(static_cast<Uint32>(it - item_offset.begin()));
      }
      if (found.size() == info.frames && std::is_sorted(found.begin(), found.end())) {
        frame_items = std::move(found);
        frame_items.push_back(static_cast<Uint32>(items));
        return Status::Ok();
      }
    }
  }
  // 2. One fragment per frame.
  if (fragments == info.frames) {
    for (Uint32 i = 1; i <= info.frames; ++i) frame_items.push_back(i);
    frame_items.push_back(static_cast<Uint32>(items));
    return Status::Ok();
  }
  // 3. A single frame in several fragments.
  if (info.frames == 1) {
    frame_items = {1, static_cast<Uint32>(items)};
    return Status::Ok();
  }
  // 4. Fragment index: a frame starts at every fragment that starts a JPEG or JPEG 2000
  //    codestream (RLE has exactly one fragment per frame, case 2).
  std::vector<Uint32> starts;
  for (unsigned long i = 1; i < items; ++i) {
    DcmPixelItem* it = nullptr;
    if (seq->getItem(it, i).bad() || it == nullptr) break;
    unsigned char head[6] = {};
    const Uint32 n = std::min<Uint32>(6, it->getLength());
    if (n >= 2 && it->getPartialValue(head, 0, n).good() && StartsCodestream(head, n)) {
      starts.push_back(static_cast<Uint32>(i));
    }
  }
  if (starts.size() != info.frames) {
    return common::DataLossError("cannot locate the frames in encapsulated Pixel Data (" +
                                 std::to_string(fragments) + " fragments, " +
                                 std::to_string(info.frames) + " frames, no offset table)");
  }
  frame_items = std::move(starts);
  frame_items.push_back(static_cast<Uint32>(items));
  return Status::Ok();
}

Result<std::string> FrameSource::Impl::RawFrame(std::uint32_t frame, std::string& color_model) {
  const std::uint64_t pixels = static_cast<std::uint64_t>(info.rows) * info.columns;
  const int bytes = info.bits_allocated / 8;
  const DcmXfer xfer_info(xfer);
  if (!xfer_info.isEncapsulated()) {
    std::uint64_t frame_bytes = pixels * info.samples_per_pixel * bytes;
    if (info.photometric == "YBR_FULL_422") frame_bytes = pixels * 2 * bytes;
    std::string raw(frame_bytes, '\0');
    OFCondition cond = pixel_data->getPartialValue(
        raw.data(), static_cast<Uint32>(frame_bytes * frame), static_cast<Uint32>(frame_bytes));
    TSUNAGU_RETURN_IF_ERROR(
        internal::StatusFromOFCondition(cond, "read frame", common::ErrorCode::kDataLoss));
    color_model = info.photometric;
    return raw;
  }
  DcmPixelSequence* seq = nullptr;
  OFCondition cond = pixel_data->getEncapsulatedRepresentation(xfer, nullptr, seq);
  if (cond.bad() || seq == nullptr) {
    return common::DataLossError("encapsulated Pixel Data is missing");
  }
  if (!index_built) TSUNAGU_RETURN_IF_ERROR(BuildFragmentIndex(seq));
  if (frame_items.size() != info.frames + 1) {
    return common::DataLossError("cannot locate the frames in encapsulated Pixel Data");
  }
  if (xfer == EXS_RLELossless) {
    TSUNAGU_ASSIGN_OR_RETURN(std::string rle, FrameBytes(seq, frame));
    color_model = info.photometric;
    return internal::DecodeRleFrame(rle, info.rows, info.columns, info.samples_per_pixel, bytes,
                                    info.planar_configuration == 1);
  }
  Uint32 frame_size = 0;
  cond = pixel_data->getUncompressedFrameSize(dataset, frame_size);
  TSUNAGU_RETURN_IF_ERROR(
      internal::StatusFromOFCondition(cond, "frame size", common::ErrorCode::kDataLoss));
  // DCMTK's decoders want an even buffer even for an odd frame size (3x3 RGB).
  if (frame_size & 1) ++frame_size;
  std::string raw(frame_size, '\0');
  Uint32 start = frame_items[frame];
  OFString model;
  cond = pixel_data->getUncompressedFrame(dataset, frame, start, raw.data(), frame_size, model);
  TSUNAGU_RETURN_IF_ERROR(
      internal::StatusFromOFCondition(cond, "frame does not decode", common::ErrorCode::kDataLoss));
  color_model = model.empty() ? info.photometric : std::string(model.c_str());
  return raw;
}

Result<DecodedFrame> FrameSource::Impl::Unpack(const std::string& raw,
                                               const std::string& color_model,
                                               bool decompressed) const {
  DecodedFrame out;
  out.rows = info.rows;
  out.columns = info.columns;
  const std::size_t pixels = static_cast<std::size_t>(info.rows) * info.columns;
  const int bytes = info.bits_allocated / 8;
  const bool big_endian_native = xfer == EXS_BigEndianExplicit && !decompressed;
  auto sample = [&](std::size_t index) -> std::uint32_t {
    const char* p = raw.data() + index * bytes;
    if (bytes == 1) return static_cast<std::uint8_t>(*p);
    if (bytes == 2) {
      std::uint16_t v;
      std::memcpy(&v, p, 2);
      return v;
    }
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    // DCMTK swaps a big endian OW value as 16-bit words; 32-bit samples need their halves swapped.
    if (big_endian_native) v = (v >> 16) | (v << 16);
    return v;
  };
  if (info.samples_per_pixel == 1) {
    if (raw.size() < pixels * bytes) return common::DataLossError("decoded frame is too short");
    out.samples = 1;
    out.gray.resize(pixels);
    const int shift = high_bit + 1 - info.bits_stored;
    const int bits = info.bits_stored;
    const std::uint32_t mask = bits >= 32 ? 0xFFFFFFFFu : ((1u << bits) - 1);
    const std::uint32_t sign = info.pixel_signed && bits < 32 ? 1u << (bits - 1) : 0;
    std::int32_t* dst = out.gray.data();
    // Masking then sign extension by (v ^ sign) - sign; tight loops per sample size.
    if (bytes == 2) {
      const auto* src = reinterpret_cast<const unsigned char*>(raw.data());
      for (std::size_t i = 0; i < pixels; ++i) {
        std::uint16_t w;
        std::memcpy(&w, src + 2 * i, 2);
        const std::uint32_t v = (static_cast<std::uint32_t>(w) >> shift) & mask;
        dst[i] = static_cast<std::int32_t>(v ^ sign) - static_cast<std::int32_t>(sign);
      }
    } else if (bytes == 1) {
      const auto* src = reinterpret_cast<const unsigned char*>(raw.data());
      for (std::size_t i = 0; i < pixels; ++i) {
        const std::uint32_t v = (static_cast<std::uint32_t>(src[i]) >> shift) & mask;
        dst[i] = static_cast<std::int32_t>(v ^ sign) - static_cast<std::int32_t>(sign);
      }
    } else {
      for (std::size_t i = 0; i < pixels; ++i) {
        const std::uint32_t v = (sample(i) >> shift) & mask;
        dst[i] = info.pixel_signed && bits == 32
                     ? static_cast<std::int32_t>(v)
                     : static_cast<std::int32_t>(v ^ sign) - static_cast<std::int32_t>(sign);
      }
    }
    return out;
  }
  out.samples = 3;
  out.rgb.resize(pixels * 3);
  const int down = std::max(0, info.bits_stored - 8);
  auto sample8 = [&](std::size_t index) {
    return static_cast<int>((sample(index) >> down) & 0xFF);
  };
  if (color_model == "YBR_FULL_422" && !decompressed) {
    // Two pixels share Cb and Cr: Y1 Y2 Cb Cr (PS3.3 C.7.6.3.1.2).
    if (raw.size() < pixels * 2 * bytes) return common::DataLossError("decoded frame is too short");
    for (std::size_t i = 0; i + 1 < pixels + 1; i += 2) {
      const std::size_t base = i * 2;
      const int y1 = sample8(base), cb = sample8(base + 2), cr = sample8(base + 3);
      YbrToRgb(y1, cb, cr, &out.rgb[i * 3]);
      if (i + 1 < pixels) YbrToRgb(sample8(base + 1), cb, cr, &out.rgb[(i + 1) * 3]);
    }
    return out;
  }
  if (raw.size() < pixels * 3 * bytes) return common::DataLossError("decoded frame is too short");
  // After DCMTK's decoders the frame keeps the planar configuration of the data set.
  const bool planar = info.planar_configuration == 1;
  const bool ybr = color_model == "YBR_FULL" || color_model == "YBR_FULL_422";
  for (std::size_t i = 0; i < pixels; ++i) {
    int c[3];
    for (int s = 0; s < 3; ++s) c[s] = sample8(planar ? s * pixels + i : i * 3 + s);
    if (ybr) {
      YbrToRgb(c[0], c[1], c[2], &out.rgb[i * 3]);
    } else {
      for (int s = 0; s < 3; ++s) out.rgb[i * 3 + s] = static_cast<std::uint8_t>(c[s]);
    }
  }
  return out;
}

Result<std::string> FrameSource::Impl::FrameBytes(DcmPixelSequence* seq, std::uint32_t frame) {
  std::string bytes;
  for (Uint32 i = frame_items[frame]; i < frame_items[frame + 1]; ++i) {
    DcmPixelItem* item = nullptr;
    if (seq->getItem(item, i).bad() || item == nullptr) {
      return common::DataLossError("a pixel data fragment is missing");
    }
    const Uint32 len = item->getLength();
    const std::size_t old = bytes.size();
    bytes.resize(old + len);
    if (len > 0) {
      OFCondition cond = item->getPartialValue(bytes.data() + old, 0, len);
      TSUNAGU_RETURN_IF_ERROR(internal::StatusFromOFCondition(cond, "read pixel data fragment",
                                                              common::ErrorCode::kDataLoss));
    }
  }
  return bytes;
}

Result<DecodedFrame> FrameSource::Impl::DecodeJ2kFrame(std::uint32_t frame) {
  DcmPixelSequence* seq = nullptr;
  OFCondition cond = pixel_data->getEncapsulatedRepresentation(xfer, nullptr, seq);
  if (cond.bad() || seq == nullptr)
    return common::DataLossError("encapsulated Pixel Data is missing");
  if (!index_built) TSUNAGU_RETURN_IF_ERROR(BuildFragmentIndex(seq));
  if (frame_items.size() != info.frames + 1) {
    return common::DataLossError("cannot locate the frames in encapsulated Pixel Data");
  }
  TSUNAGU_ASSIGN_OR_RETURN(std::string codestream, FrameBytes(seq, frame));
  TSUNAGU_ASSIGN_OR_RETURN(internal::J2kImage image, internal::DecodeJ2k(codestream));
  if (image.width != info.columns || image.height != info.rows) {
    return common::DataLossError("JPEG 2000 image size differs from Rows/Columns");
  }
  DecodedFrame out;
  out.rows = info.rows;
  out.columns = info.columns;
  const std::size_t pixels = static_cast<std::size_t>(info.rows) * info.columns;
  if (info.samples_per_pixel == 1) {
    if (image.components != 1) return common::DataLossError("JPEG 2000 component count mismatch");
    out.samples = 1;
    out.gray = std::move(image.planes[0]);
    // A codestream that says unsigned where the data set says signed (seen in the wild): the data
    // set's Pixel Representation wins, as in pydicom and GDCM.
    if (info.pixel_signed && !image.is_signed) {
      const int bits = info.bits_stored;
      for (auto& v : out.gray) {
        if (bits < 32 && (v & (1 << (bits - 1)))) v -= (1 << bits);
      }
    }
    return out;
  }
  if (image.components != 3) return common::DataLossError("JPEG 2000 component count mismatch");
  out.samples = 3;
  out.rgb.resize(pixels * 3);
  const int down = std::max(0, image.precision - 8);
  const bool ybr = info.photometric == "YBR_FULL" || info.photometric == "YBR_FULL_422";
  for (std::size_t i = 0; i < pixels; ++i) {
    int c[3];
    for (int s = 0; s < 3; ++s) c[s] = std::clamp(image.planes[s][i] >> down, 0, 255);
    if (ybr) {
      YbrToRgb(c[0], c[1], c[2], &out.rgb[i * 3]);
    } else {
      for (int s = 0; s < 3; ++s) out.rgb[i * 3 + s] = static_cast<std::uint8_t>(c[s]);
    }
  }
  return out;
}

FrameSource::FrameSource(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FrameSource::~FrameSource() = default;

Result<std::unique_ptr<FrameSource>> FrameSource::Open(std::shared_ptr<DicomReader> reader) {
  auto impl = std::make_unique<Impl>();
  TSUNAGU_ASSIGN_OR_RETURN(impl->file, internal::ReadDicom(reader, kMaxReadLength));
  impl->reader = std::move(reader);
  impl->dataset = impl->file->getDataset();
  if (impl->dataset == nullptr) return common::InvalidArgumentError("no data set");
  TSUNAGU_RETURN_IF_ERROR(impl->Parse());
  return std::unique_ptr<FrameSource>(new FrameSource(std::move(impl)));
}

Result<std::unique_ptr<FrameSource>> FrameSource::OpenFile(const std::filesystem::path& path) {
  TSUNAGU_ASSIGN_OR_RETURN(std::unique_ptr<FileDicomReader> reader, FileDicomReader::Open(path));
  return Open(std::shared_ptr<DicomReader>(std::move(reader)));
}

const FrameInfo& FrameSource::Describe() const { return impl_->info; }
const GrayscaleModel& FrameSource::grayscale_model() const { return impl_->model; }

Result<DecodedFrame> FrameSource::DecodeFrame(std::uint32_t frame) {
  if (frame >= impl_->info.frames) {
    return common::InvalidArgumentError("frame " + std::to_string(frame) + " out of range (" +
                                        std::to_string(impl_->info.frames) + " frames)");
  }
  if (IsJ2k(impl_->xfer)) {
    TSUNAGU_ASSIGN_OR_RETURN(DecodedFrame decoded, impl_->DecodeJ2kFrame(frame));
    if (impl_->palette) return impl_->ApplyPalette(decoded);
    return decoded;
  }
  std::string color_model;
  TSUNAGU_ASSIGN_OR_RETURN(std::string raw, impl_->RawFrame(frame, color_model));
  TSUNAGU_ASSIGN_OR_RETURN(DecodedFrame decoded,
                           impl_->Unpack(raw, color_model, DcmXfer(impl_->xfer).isEncapsulated()));
  if (impl_->palette) return impl_->ApplyPalette(decoded);
  return decoded;
}

Result<Image8> FrameSource::Render8(std::uint32_t frame, const RenderParams& params) {
  TSUNAGU_ASSIGN_OR_RETURN(DecodedFrame decoded, DecodeFrame(frame));
  if (decoded.samples == 3) {
    Image8 image;
    image.width = decoded.columns;
    image.height = decoded.rows;
    image.channels = 3;
    image.pixels = std::move(decoded.rgb);
    return image;
  }
  GrayscaleOptions options;
  options.window = params.window;
  options.voi_function = params.voi_function;
  options.arithmetic = params.arithmetic;
  TSUNAGU_ASSIGN_OR_RETURN(GrayscaleResult result, RenderGrayscale(impl_->model, decoded, options));
  return std::move(result.image);
}

Result<std::optional<GrayscaleResult>> FrameSource::Impl::RenderNativeWords(
    std::uint32_t frame, const GrayscaleOptions& options) {
  // The common case of CT and MR: native 16-bit grayscale. The frame's words go straight from the
  // object into the LUT, without the 32-bit unpacked copy (and its zero-filled allocations).
  if (!info.grayscale || palette || info.samples_per_pixel != 1 || info.bits_allocated != 16 ||
      DcmXfer(xfer).isEncapsulated()) {
    return std::optional<GrayscaleResult>();
  }
  const std::size_t pixels = static_cast<std::size_t>(info.rows) * info.columns;
  const std::uint64_t frame_bytes = pixels * 2;
  const std::uint16_t* words = InPlaceWords(frame, frame_bytes);
  // Default-initialised: no zero fill for a buffer that is overwritten at once.
  std::unique_ptr<std::uint16_t[]> copy;
  if (words == nullptr) {
    copy.reset(new std::uint16_t[pixels]);
    OFCondition cond = pixel_data->getPartialValue(
        copy.get(), static_cast<Uint32>(frame_bytes * frame), static_cast<Uint32>(frame_bytes));
    TSUNAGU_RETURN_IF_ERROR(
        internal::StatusFromOFCondition(cond, "read frame", common::ErrorCode::kDataLoss));
    words = copy.get();
  }
  const StoredBits bits{high_bit + 1 - info.bits_stored, info.bits_stored, info.pixel_signed};
  auto result = RenderGrayscaleWords(model, words, info.rows, info.columns, bits, options);
  if (!result.ok() && result.status().code() == common::ErrorCode::kFailedPrecondition) {
    return std::optional<GrayscaleResult>();  // histogram window: the general path
  }
  TSUNAGU_RETURN_IF_ERROR(result.status());
  return std::optional<GrayscaleResult>(std::move(*result));
}

const std::uint16_t* FrameSource::Impl::InPlaceWords(std::uint32_t frame,
                                                     std::uint64_t frame_bytes) const {
  // Little-endian words on a little-endian host, held in memory by the reader (the relay's
  // decrypted instances), value not loaded by DCMTK: the frame is read where it lies.
  if (gLocalByteOrder != EBO_LittleEndian || DcmXfer(xfer).getByteOrder() != EBO_LittleEndian) {
    return nullptr;
  }
  const char* base = reader->Contiguous();
  if (base == nullptr) return nullptr;
  const auto offset = internal::ValueOffset(*pixel_data);
  if (!offset) return nullptr;
  const std::uint64_t end = frame_bytes * (frame + 1);
  if (end > pixel_data->getLengthField() || *offset + end > reader->Size()) return nullptr;
  const char* at = base + *offset + frame_bytes * frame;
  if (reinterpret_cast<std::uintptr_t>(at) % alignof(std::uint16_t) != 0) return nullptr;
  return reinterpret_cast<const std::uint16_t*>(at);
}

Result<RenderedImage> FrameSource::RenderJpeg(std::uint32_t frame, const RenderParams& params) {
  if (params.quality < 1 || params.quality > 100) {
    return common::InvalidArgumentError("quality must be 1..100");
  }
  if (frame >= impl_->info.frames) {
    return common::InvalidArgumentError("frame " + std::to_string(frame) + " out of range (" +
                                        std::to_string(impl_->info.frames) + " frames)");
  }
  GrayscaleOptions options;
  options.window = params.window;
  options.voi_function = params.voi_function;
  options.arithmetic = params.arithmetic;
  RenderedImage out;
  Image8 image;
  TSUNAGU_ASSIGN_OR_RETURN(std::optional<GrayscaleResult> fast,
                           impl_->RenderNativeWords(frame, options));
  if (fast) {
    out.window = fast->window;
    image = FitWithin(std::move(fast->image), params.max_size);
    TSUNAGU_ASSIGN_OR_RETURN(out.jpeg, EncodeJpeg(image, params.quality));
    out.width = image.width;
    out.height = image.height;
    return out;
  }
  TSUNAGU_ASSIGN_OR_RETURN(DecodedFrame decoded, DecodeFrame(frame));
  if (decoded.samples == 3) {
    image.width = decoded.columns;
    image.height = decoded.rows;
    image.channels = 3;
    image.pixels = std::move(decoded.rgb);
  } else {
    TSUNAGU_ASSIGN_OR_RETURN(GrayscaleResult result,
                             RenderGrayscale(impl_->model, decoded, options));
    image = std::move(result.image);
    out.window = result.window;
  }
  image = FitWithin(std::move(image), params.max_size);
  TSUNAGU_ASSIGN_OR_RETURN(out.jpeg, EncodeJpeg(image, params.quality));
  out.width = image.width;
  out.height = image.height;
  return out;
}

Result<std::string> FrameSource::Thumbnail(std::uint32_t max_size, int quality) {
  if (max_size == 0) return common::InvalidArgumentError("thumbnail size must be > 0");
  RenderParams params;
  params.max_size = max_size;
  params.quality = quality;
  TSUNAGU_ASSIGN_OR_RETURN(RenderedImage image, RenderJpeg(impl_->info.frames / 2, params));
  return std::move(image.jpeg);
}

}  // namespace tsunagu::viewer
