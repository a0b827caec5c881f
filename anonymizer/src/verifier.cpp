#include "verifier.h"

#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>

#include <algorithm>
#include <vector>

#include "dcmtk_bridge.h"
#include "engine.h"

namespace tsunagu::anonymizer::internal {
namespace {

common::Status Refuse(const std::string& what) {
  return common::DeidentificationRefusedError("verification failed: " + what);
}

// The exceptions, each a value the profile releases on purpose:
//  - the Patient ID holding exactly its kept suffix (when the whole ID is no longer than the
//    number of characters kept, the suffix is the ID: configured by the site, recorded in
//    De-identification Method);
//  - a birth date equal to a date the Full Dates option keeps (a newborn scanned on the day of
//    birth): the kept study date already shows it and the computed age says "000D".
bool IsAllowed(const Token& token, const DcmTagKey& tag, bool top_level, std::string_view value,
               const ShareProfile& profile) {
  if (token.exempt_in_patient_id && top_level && tag == DCM_PatientID &&
      TrimPadding(value) == token.bytes) {
    return true;
  }
  if (token.source.find("PatientBirthDate") != std::string::npos) {
    const ProfileRow* row = profile.Find(tag.getGroup(), tag.getElement());
    if (row != nullptr && row->retain_long_full_dates == Action::kK &&
        TrimPadding(value) == token.bytes) {
      return true;
    }
  }
  return false;
}

bool IsCodedOrNumericVr(DcmEVR vr) {
  return vr == EVR_CS || vr == EVR_DS || vr == EVR_IS || vr == EVR_DA || vr == EVR_TM ||
         vr == EVR_DT || vr == EVR_AS;
}

// The values of a multi-valued string, padding removed.
std::vector<std::string_view> SplitValues(std::string_view value) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (start <= value.size()) {
    std::size_t end = value.find('\\', start);
    if (end == std::string_view::npos) end = value.size();
    out.push_back(TrimPadding(value.substr(start, end - start)));
    start = end + 1;
  }
  return out;
}

bool IsCodeAttribute(const DcmTagKey& tag) {
  return tag == DCM_CodeValue || tag == DCM_CodingSchemeDesignator ||
         tag == DCM_CodingSchemeVersion || tag == DCM_LongCodeValue || tag == DCM_URNCodeValue;
}

// Whether the element on top of `stack` is Deidentification Method, Patient Identity Removed,
// Longitudinal Temporal Information Modified, or inside the De-identification Method Code
// Sequence: top-level attributes that RecordDeidentification overwrites with constant text.
bool IsWrittenByProfile(DcmStack& stack) {
  const unsigned long n = stack.card();
  if (n < 2) return false;
  // elem(0) is the top of the stack, elem(n - 1) the root item, elem(n - 2) a top-level element.
  const DcmTagKey top_level = stack.elem(n - 2)->getTag();
  return top_level == DCM_DeidentificationMethod || top_level == DCM_PatientIdentityRemoved ||
         top_level == DCM_LongitudinalTemporalInformationModified ||
         top_level == DCM_DeidentificationMethodCodeSequence;
}

common::Status WalkItem(DcmItem& root, bool is_meta, const Identity& identity,
                        const std::set<std::string>& original_uids, const ProfileOptions& options,
                        const ShareProfile& profile) {
  DcmStack stack;
  while (root.nextObject(stack, OFTrue).good()) {
    DcmObject* object = stack.top();
    const DcmEVR vr = object->ident();
    if (!object->isLeaf() && vr != EVR_SQ) continue;
    if (vr == EVR_pixelItem || vr == EVR_PixelData || vr == EVR_pixelSQ) continue;
    const DcmTagKey tag = object->getTag();
    const std::uint16_t g = tag.getGroup(), e = tag.getElement();
    if (g % 2 == 1) {
      auto* element = static_cast<DcmElement*>(object);
      const bool creator = e >= 0x0010 && e <= 0x00FF;
      const char* owner = element->getTag().getPrivateCreator();
      const bool safe = creator
                            ? (element->isLeaf() &&
                               IsSafePrivateCreator(options, g, TrimPadding(RawValue(*element))))
                            : (e >= 0x1000 && owner != nullptr &&
                               IsSafePrivate(options, g, TrimPadding(owner), e));
      if (!safe) return Refuse("private attribute " + TagText(tag) + " survived");
    }
    if (IsRemovedOutsideTable(tag))
      return Refuse("removed attribute " + TagLabel(tag) + " survived");
    if (vr == EVR_SQ) {
      const ProfileRow* row = profile.Find(g, e);
      if (row != nullptr && ShareProfile::EffectiveAction(*row) == Action::kX &&
          tag != DCM_ReferencedImageSequence) {
        return Refuse("removed attribute " + TagLabel(tag) + " survived");
      }
      continue;
    }
    if (tag == DCM_PixelData || tag == DCM_FloatPixelData || tag == DCM_DoubleFloatPixelData) {
      continue;  // pixel values are not text; burned-in text is handled before release
    }
    if (IsOverlayGroup(g)) return Refuse("overlay " + TagText(tag) + " survived");
    if (IsBinaryNumberVr(vr)) continue;
    // The attributes the profile itself writes with constant text (PS3.15 E.1.1 record of what
    // was done): no value of the original can be in them.
    if (IsWrittenByProfile(stack)) continue;
    auto* element = static_cast<DcmElement*>(object);
    const std::string value = RawValue(*element);
    if (value.empty()) continue;
    // The walk's stack holds the root item, then the element: depth 2 is the top level.
    const bool top_level = stack.card() == 2;
    // Coded and numeric values (CS, DS, IS, dates and times, code value and scheme) come from
    // vocabularies or are numbers: a name component "Test" next to a scheme "TEST", or a Study
    // ID "12" inside a position "0.12", is a coincidence. They count only when one of their
    // values equals the token byte for byte.
    const bool coded = IsCodedOrNumericVr(vr) || IsCodeAttribute(tag);
    const std::vector<std::string_view> values =
        coded ? SplitValues(value) : std::vector<std::string_view>{};
    const SearchText text(coded ? std::string_view() : std::string_view(value));
    for (const Token& token : identity.tokens()) {
      const bool found = coded ? std::find(values.begin(), values.end(),
                                           std::string_view(token.bytes)) != values.end()
                               : text.Contains(token);
      if (found && !IsAllowed(token, tag, top_level, value, profile)) {
        return Refuse("a value of " + token.source + " survived in " + TagLabel(tag) +
                      (is_meta ? " of the file meta header" : ""));
      }
    }
    if (vr == EVR_UI) {
      std::size_t start = 0;
      while (start <= value.size()) {
        std::size_t end = value.find('\\', start);
        if (end == std::string::npos) end = value.size();
        const std::string uid(TrimPadding(std::string_view(value).substr(start, end - start)));
        if (original_uids.count(uid) > 0) {
          return Refuse("an original UID survived in " + TagLabel(tag));
        }
        start = end + 1;
      }
    }
  }
  return common::Status::Ok();
}

// Text a compressed frame carries in its own headers: JPEG COM and APPn segments (EXIF, JFIF
// comments) before the first scan, and JPEG 2000 COM segments in the main header. Those bytes
// are released unchanged with the pixel data, so they are checked like any other value.
std::vector<std::string_view> HeaderTexts(std::string_view frame) {
  std::vector<std::string_view> out;
  auto u16 = [&](std::size_t at) {
    return static_cast<std::size_t>((static_cast<unsigned char>(frame[at]) << 8) |
                                    static_cast<unsigned char>(frame[at + 1]));
  };
  const bool jpeg = frame.size() >= 4 && frame.substr(0, 2) == "\xFF\xD8";
  const bool j2k = frame.size() >= 4 && frame.substr(0, 4) == "\xFF\x4F\xFF\x51";
  if (!jpeg && !j2k) return out;
  std::size_t pos = 2;
  while (pos + 4 <= frame.size()) {
    if (static_cast<unsigned char>(frame[pos]) != 0xFF) break;
    const auto marker = static_cast<unsigned char>(frame[pos + 1]);
    if (jpeg && (marker == 0xDA || marker == 0xD9)) break;  // start of scan, end of image
    if (j2k && marker == 0x90) break;                       // start of tile
    if (jpeg && marker >= 0xD0 && marker <= 0xD7) {
      pos += 2;
      continue;
    }
    const std::size_t length = u16(pos + 2);
    if (length < 2 || pos + 2 + length > frame.size()) break;
    const bool text =
        jpeg ? (marker == 0xFE || (marker >= 0xE0 && marker <= 0xEF)) : marker == 0x64;
    if (text) out.push_back(frame.substr(pos + 4, length - 2));
    pos += 2 + length;
  }
  return out;
}

common::Status VerifyEncapsulatedHeaders(DcmDataset& ds, const Identity& identity) {
  DcmElement* element = nullptr;
  if (ds.findAndGetElement(DCM_PixelData, element).bad() || element == nullptr) {
    return common::Status::Ok();
  }
  return VerifyPixelDataHeaders(*element, ds.getOriginalXfer(), identity);
}

}  // namespace

common::Status VerifyPixelDataHeaders(DcmElement& element, E_TransferSyntax transfer_syntax,
                                      const Identity& identity) {
  const DcmXfer xfer(transfer_syntax);
  if (!xfer.isEncapsulated() || element.ident() != EVR_PixelData) return common::Status::Ok();
  DcmPixelSequence* sequence = nullptr;
  if (static_cast<DcmPixelData&>(element)
          .getEncapsulatedRepresentation(xfer.getXfer(), nullptr, sequence)
          .bad() ||
      sequence == nullptr) {
    return Refuse("the compressed pixel data cannot be read back");
  }
  for (unsigned long i = 1; i < sequence->card(); ++i) {
    DcmPixelItem* item = nullptr;
    Uint8* data = nullptr;
    if (sequence->getItem(item, i).bad() || item == nullptr || item->getUint8Array(data).bad() ||
        data == nullptr) {
      continue;
    }
    const std::string_view frame(reinterpret_cast<const char*>(data), item->getLength());
    for (std::string_view header_text : HeaderTexts(frame)) {
      const SearchText text(header_text);
      for (const Token& token : identity.tokens()) {
        if (text.Contains(token)) {
          return Refuse("a value of " + token.source +
                        " survived in a comment or application segment of the compressed pixel "
                        "data");
        }
      }
    }
  }
  return common::Status::Ok();
}

common::Status VerifyOutput(DcmFileFormat& output, const Identity& identity,
                            const std::set<std::string>& original_uids,
                            const ProfileOptions& options, const ShareProfile& profile) {
  TSUNAGU_RETURN_IF_ERROR(
      WalkItem(*output.getMetaInfo(), true, identity, original_uids, options, profile));
  DcmDataset& ds = *output.getDataset();
  TSUNAGU_RETURN_IF_ERROR(WalkItem(ds, false, identity, original_uids, options, profile));
  TSUNAGU_RETURN_IF_ERROR(VerifyEncapsulatedHeaders(ds, identity));
  if (GetString(ds, DCM_PatientIdentityRemoved) != "YES") {
    return Refuse("Patient Identity Removed is not YES");
  }
  if (GetString(ds, DCM_BurnedInAnnotation) == "YES") {
    return Refuse("Burned In Annotation is YES");
  }
  return common::Status::Ok();
}

}  // namespace tsunagu::anonymizer::internal
