#include "pixel_mask.h"

#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>

#include "dcmtk_bridge.h"
#include "jpeg2000.h"

namespace tsunagu::anonymizer::internal {
namespace {

common::Status Refuse(const std::string& why) {
  return common::DeidentificationRefusedError("burned-in annotation cannot be masked: " + why);
}

void CleanupCodecs() {
  DJDecoderRegistration::cleanup();
  DJLSDecoderRegistration::cleanup();
  DcmRLEDecoderRegistration::cleanup();
}

// The compressed bytes of each frame: one fragment per frame, or all fragments for one frame.
common::Result<std::vector<std::string_view>> Frames(DcmPixelSequence& sequence, Sint32 frames) {
  std::vector<std::string_view> fragments;
  for (unsigned long i = 1; i < sequence.card(); ++i) {  // item 0 is the Basic Offset Table
    DcmPixelItem* item = nullptr;
    Uint8* data = nullptr;
    if (sequence.getItem(item, i).bad() || item == nullptr || item->getUint8Array(data).bad()) {
      return Refuse("unreadable pixel fragment");
    }
    fragments.emplace_back(reinterpret_cast<const char*>(data), item->getLength());
  }
  if (fragments.empty()) return Refuse("no pixel fragments");
  if (frames == 1 && fragments.size() > 1) return Refuse("fragmented JPEG 2000 frame");
  if (static_cast<std::size_t>(frames) != fragments.size()) {
    return Refuse("JPEG 2000 fragments do not match the frames");
  }
  return fragments;
}

// Replaces JPEG 2000 pixel data by its decoded native form (Explicit VR Little Endian layout)
// and updates the Image Pixel module to match.
common::Status DecodeJpeg2000InPlace(DcmDataset& dataset, DcmPixelData& pixels,
                                     E_TransferSyntax xfer) {
  DcmPixelSequence* sequence = nullptr;
  if (pixels.getEncapsulatedRepresentation(xfer, nullptr, sequence).bad() || sequence == nullptr) {
    return Refuse("JPEG 2000 pixel data unreadable");
  }
  Sint32 frames = 1;
  if (dataset.findAndGetSint32(DCM_NumberOfFrames, frames).bad() || frames < 1) frames = 1;
  TSUNAGU_ASSIGN_OR_RETURN(std::vector<std::string_view> parts, Frames(*sequence, frames));
  std::vector<Uint16> words;
  std::vector<Uint8> bytes;
  DecodedImage first;
  for (std::size_t f = 0; f < parts.size(); ++f) {
    TSUNAGU_ASSIGN_OR_RETURN(DecodedImage image, DecodeJpeg2000(parts[f]));
    if (f == 0) {
      first = image;
    } else if (image.width != first.width || image.height != first.height ||
               image.components != first.components || image.precision != first.precision) {
      return Refuse("JPEG 2000 frames differ in geometry");
    }
    for (std::int32_t v : image.samples) {
      if (first.precision <= 8) {
        bytes.push_back(static_cast<Uint8>(v));
      } else {
        words.push_back(static_cast<Uint16>(v));
      }
    }
  }
  const OFCondition put =
      first.precision <= 8
          ? pixels.putUint8Array(bytes.data(), static_cast<unsigned long>(bytes.size()))
          : pixels.putUint16Array(words.data(), static_cast<unsigned long>(words.size()));
  if (put.bad()) return Refuse("decoded JPEG 2000 pixels could not be stored");
  const Uint16 allocated = first.precision <= 8 ? 8 : 16;
  dataset.putAndInsertUint16(DCM_Rows, static_cast<Uint16>(first.height));
  dataset.putAndInsertUint16(DCM_Columns, static_cast<Uint16>(first.width));
  dataset.putAndInsertUint16(DCM_SamplesPerPixel, static_cast<Uint16>(first.components));
  dataset.putAndInsertUint16(DCM_BitsAllocated, allocated);
  dataset.putAndInsertUint16(DCM_BitsStored, static_cast<Uint16>(first.precision));
  dataset.putAndInsertUint16(DCM_HighBit, static_cast<Uint16>(first.precision - 1));
  dataset.putAndInsertUint16(DCM_PixelRepresentation, first.is_signed ? 1 : 0);
  if (first.components == 3) {
    // OpenJPEG undoes the multi-component transform: YBR_RCT/YBR_ICT come out as RGB.
    dataset.putAndInsertString(DCM_PhotometricInterpretation, "RGB");
    dataset.putAndInsertUint16(DCM_PlanarConfiguration, 0);
  }
  return common::Status::Ok();
}

// Makes the pixel data native (decompressing it, see ApplyMask) so that it can be edited.
common::Status DecompressForEditing(DcmDataset& dataset, DcmPixelData& pixels,
                                    E_TransferSyntax* output_xfer) {
  const DcmXfer original(dataset.getOriginalXfer());
  if (!original.isEncapsulated()) return common::Status::Ok();
  if (original.getXfer() == EXS_JPEG2000 || original.getXfer() == EXS_JPEG2000LosslessOnly) {
    TSUNAGU_RETURN_IF_ERROR(DecodeJpeg2000InPlace(dataset, pixels, original.getXfer()));
  } else {
    EnsureCodecsRegistered();
    if (dataset.chooseRepresentation(EXS_LittleEndianExplicit, nullptr).bad() ||
        !dataset.canWriteXfer(EXS_LittleEndianExplicit)) {
      return Refuse(std::string("cannot decompress ") + original.getXferName());
    }
    pixels.removeAllButCurrentRepresentations();
  }
  *output_xfer = EXS_LittleEndianExplicit;
  return common::Status::Ok();
}

common::Status RefuseOverlay(const std::string& why) {
  return common::DeidentificationRefusedError("overlay in the pixel data cannot be removed: " +
                                              why);
}

}  // namespace

std::vector<unsigned> EmbeddedOverlayBits(DcmItem& dataset) {
  Uint16 bits_allocated = 0;
  dataset.findAndGetUint16(DCM_BitsAllocated, bits_allocated);
  std::vector<unsigned> bits;
  for (Uint16 g = 0x6000; g <= 0x601E; g += 2) {
    Uint16 overlay_bits_allocated = 0, bit_position = 0;
    const bool has_allocated =
        dataset.findAndGetUint16(DcmTagKey(g, 0x0100), overlay_bits_allocated).good();
    const bool has_position = dataset.findAndGetUint16(DcmTagKey(g, 0x0102), bit_position).good();
    if (!has_allocated && !has_position) continue;
    // PS3.3 C.9.2 (retired usage, PS3.5 8.1.2): an overlay whose Overlay Bits Allocated is the
    // pixel data's Bits Allocated lives in the pixel cells, at Overlay Bit Position, and has no
    // Overlay Data (60xx,3000) of its own.
    // Overlay Bits Allocated 1 is the standard form, one bit per pixel in Overlay Data.
    bool embedded = false;
    if (has_allocated) {
      embedded = overlay_bits_allocated != 1 && overlay_bits_allocated == bits_allocated;
    } else {
      embedded = !dataset.tagExists(DcmTagKey(g, 0x3000));
    }
    if (embedded) bits.push_back(bit_position);
  }
  return bits;
}

common::Status ClearEmbeddedOverlays(DcmDataset& dataset, const std::vector<unsigned>& bits,
                                     E_TransferSyntax* output_xfer) {
  if (bits.empty()) return common::Status::Ok();
  DcmElement* element = nullptr;
  if (dataset.findAndGetElement(DCM_PixelData, element).bad() || element == nullptr) {
    return RefuseOverlay("no pixel data");
  }
  if (element->ident() != EVR_PixelData) return RefuseOverlay("pixel data has an unexpected VR");
  auto* pixels = static_cast<DcmPixelData*>(element);
  TSUNAGU_RETURN_IF_ERROR(DecompressForEditing(dataset, *pixels, output_xfer));
  Uint16 bits_allocated = 0, bits_stored = 0, high_bit = 0;
  dataset.findAndGetUint16(DCM_BitsAllocated, bits_allocated);
  dataset.findAndGetUint16(DCM_BitsStored, bits_stored);
  dataset.findAndGetUint16(DCM_HighBit, high_bit);
  if (bits_allocated != 8 && bits_allocated != 16) {
    return RefuseOverlay("bits allocated not 8 or 16");
  }
  if (bits_stored == 0 || bits_stored > bits_allocated || high_bit >= bits_allocated ||
      high_bit + 1 < bits_stored) {
    return RefuseOverlay("inconsistent bits stored and high bit");
  }
  const unsigned low_stored = high_bit + 1u - bits_stored;
  unsigned clear = 0;
  for (unsigned bit : bits) {
    if (bit >= bits_allocated) return RefuseOverlay("overlay bit position outside the pixel cell");
    // A bit inside the stored range is image, not overlay: clearing it would change the image
    // and leaving it would leave the overlay. Neither is safe.
    if (bit >= low_stored && bit <= high_bit) {
      return RefuseOverlay("overlay bit position inside the stored pixel bits");
    }
    clear |= 1u << bit;
  }
  const unsigned long count = pixels->getLength() / (bits_allocated / 8u);
  if (bits_allocated == 8) {
    Uint8* data = nullptr;
    if (pixels->getUint8Array(data).bad() || data == nullptr) return RefuseOverlay("unreadable");
    for (unsigned long i = 0; i < count; ++i) data[i] = static_cast<Uint8>(data[i] & ~clear);
  } else {
    Uint16* data = nullptr;
    if (pixels->getUint16Array(data).bad() || data == nullptr) return RefuseOverlay("unreadable");
    for (unsigned long i = 0; i < count; ++i) data[i] = static_cast<Uint16>(data[i] & ~clear);
  }
  return common::Status::Ok();
}

void EnsureCodecsRegistered() {
  // DCMTK's codec list is process-global; register once and clean up at exit
  // (../shared/DEPENDENCIES.md).
  static std::once_flag once;
  std::call_once(once, [] {
    DJDecoderRegistration::registerCodecs();
    DJLSDecoderRegistration::registerCodecs();
    DcmRLEDecoderRegistration::registerCodecs();
    std::atexit(CleanupCodecs);
  });
}

std::optional<std::string> BurnedInReason(DcmItem& dataset) {
  const std::string burned = GetString(dataset, DCM_BurnedInAnnotation);
  if (burned == "YES") return "Burned In Annotation is YES";
  if (!dataset.tagExists(DCM_PixelData)) return std::nullopt;
  const std::string modality = GetString(dataset, DCM_Modality);
  if (modality == "US") return "modality US normally carries burned-in text";
  if ((modality == "SC" || modality == "OT" || modality == "XC" || modality == "ES") &&
      burned != "NO") {
    return "modality " + modality + " without Burned In Annotation NO";
  }
  return std::nullopt;
}

const PixelMaskRule* FindMaskRule(DcmItem& dataset, const std::vector<PixelMaskRule>& rules) {
  const std::string manufacturer = GetString(dataset, DCM_Manufacturer);
  const std::string model = GetString(dataset, DCM_ManufacturerModelName);
  Uint16 rows = 0, columns = 0;
  dataset.findAndGetUint16(DCM_Rows, rows);
  dataset.findAndGetUint16(DCM_Columns, columns);
  for (const PixelMaskRule& rule : rules) {
    if (!rule.manufacturer.empty() && rule.manufacturer != manufacturer) continue;
    if (!rule.model.empty() && rule.model != model) continue;
    if (rule.rows != 0 && rule.rows != rows) continue;
    if (rule.columns != 0 && rule.columns != columns) continue;
    return &rule;
  }
  return nullptr;
}

common::Status ApplyMask(DcmDataset& dataset, const PixelMaskRule& rule,
                         E_TransferSyntax* output_xfer) {
  DcmElement* element = nullptr;
  if (dataset.findAndGetElement(DCM_PixelData, element).bad() || element == nullptr) {
    return Refuse("no pixel data");
  }
  // A (7FE0,0010) read with a wrong explicit VR (e.g. OV) is not a DcmPixelData.
  if (element->ident() != EVR_PixelData) return Refuse("pixel data has an unexpected VR");
  auto* pixels = static_cast<DcmPixelData*>(element);
  TSUNAGU_RETURN_IF_ERROR(DecompressForEditing(dataset, *pixels, output_xfer));
  Uint16 rows = 0, columns = 0, spp = 1, bits_allocated = 0, bits_stored = 0, planar = 0;
  dataset.findAndGetUint16(DCM_Rows, rows);
  dataset.findAndGetUint16(DCM_Columns, columns);
  dataset.findAndGetUint16(DCM_SamplesPerPixel, spp);
  dataset.findAndGetUint16(DCM_BitsAllocated, bits_allocated);
  dataset.findAndGetUint16(DCM_BitsStored, bits_stored);
  dataset.findAndGetUint16(DCM_PlanarConfiguration, planar);
  Sint32 frames = 1;
  if (dataset.findAndGetSint32(DCM_NumberOfFrames, frames).bad() || frames < 1) frames = 1;
  const std::string photometric = GetString(dataset, DCM_PhotometricInterpretation);
  if (bits_allocated != 8 && bits_allocated != 16) return Refuse("bits allocated not 8 or 16");
  if (spp != 1 && spp != 3) return Refuse("samples per pixel not 1 or 3");
  if (photometric.find("422") != std::string::npos ||
      photometric.find("420") != std::string::npos) {
    return Refuse("subsampled colour");
  }
  const std::size_t bytes_per_sample = bits_allocated / 8;
  const std::size_t frame_samples = std::size_t{rows} * columns * spp;
  const std::size_t needed = frame_samples * static_cast<std::size_t>(frames) * bytes_per_sample;
  if (needed == 0 || pixels->getLength() < needed) return Refuse("pixel data shorter than stated");
  Uint8* data8 = nullptr;
  Uint16* data16 = nullptr;
  if (bits_allocated == 8 ? pixels->getUint8Array(data8).bad() || data8 == nullptr
                          : pixels->getUint16Array(data16).bad() || data16 == nullptr) {
    return Refuse("pixel data unreadable");
  }
  const unsigned stored =
      std::clamp<unsigned>(bits_stored == 0 ? bits_allocated : bits_stored, 1, bits_allocated);
  const unsigned max_value = (1u << stored) - 1u;
  auto black = [&](unsigned sample) -> unsigned {
    if (photometric == "MONOCHROME1") return max_value;
    if (photometric.rfind("YBR", 0) == 0 && sample > 0) return (max_value + 1u) / 2u;
    return 0;
  };
  for (Sint32 f = 0; f < frames; ++f) {
    for (const MaskRectangle& r : rule.rectangles) {
      const std::uint32_t right = std::min<std::uint32_t>(r.right, columns);
      const std::uint32_t bottom = std::min<std::uint32_t>(r.bottom, rows);
      for (std::uint32_t y = r.top; y < bottom; ++y) {
        for (std::uint32_t x = r.left; x < right; ++x) {
          for (unsigned s = 0; s < spp; ++s) {
            const std::size_t index =
                static_cast<std::size_t>(f) * frame_samples +
                (planar == 1 && spp == 3
                     ? std::size_t{s} * rows * columns + std::size_t{y} * columns + x
                     : (std::size_t{y} * columns + x) * spp + s);
            if (bits_allocated == 8) {
              data8[index] = static_cast<Uint8>(black(s));
            } else {
              data16[index] = static_cast<Uint16>(black(s));
            }
          }
        }
      }
    }
  }
  dataset.putAndInsertString(DCM_BurnedInAnnotation, "NO");
  return common::Status::Ok();
}

}  // namespace tsunagu::anonymizer::internal
