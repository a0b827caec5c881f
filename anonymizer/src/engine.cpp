#include "engine.h"

#include <chrono>
#include <cstdio>

#include "dcmtk_bridge.h"

namespace tsunagu::anonymizer::internal {
namespace {

constexpr const char* kDummyText = "ANONYMIZED";
constexpr std::string_view kStandardUidRoot = "1.2.840.10008.";

std::string KeepLast(std::string_view id, int keep) {
  // Count UTF-8 characters from the end.
  std::size_t pos = id.size();
  int chars = 0;
  while (pos > 0 && chars < keep) {
    --pos;
    while (pos > 0 && (static_cast<unsigned char>(id[pos]) & 0xC0) == 0x80) --pos;
    ++chars;
  }
  return std::string(id.substr(pos));
}

class Applier {
 public:
  explicit Applier(const EngineContext& c) : c_(c) {}

  void Item(DcmItem& item, int depth) {
    // Last to first over a snapshot of the elements: removing one leaves the others in place.
    const std::vector<DcmElement*> elements = Elements(item);
    for (auto it = elements.rbegin(); it != elements.rend(); ++it) {
      DcmElement* element = *it;
      if (element == nullptr) continue;
      const DcmTag& tag = element->getTag();
      const std::uint16_t g = tag.getGTag(), e = tag.getETag();
      if (e == 0x0000 || IsOverlayGroup(g)) {
        // Group lengths are recomputed on write; overlay groups lose their data (Overlay Data
        // and Comments are X) and so are dropped whole rather than left dangling.
        delete item.remove(element);
        continue;
      }
      if (g % 2 == 1) {
        Private(item, *element, depth);
        continue;
      }
      if (IsRemovedOutsideTable(tag)) {
        delete item.remove(element);
        continue;
      }
      const ProfileRow* row = c_.profile->Find(g, e);
      if (row == nullptr) {
        if (element->ident() == EVR_SQ) Sequence(*element, depth);
        continue;
      }
      if (tag == DCM_PatientID && depth == 0) {
        PatientId(*element);
        continue;
      }
      const Operation op =
          ShareProfile::Resolve(ShareProfile::EffectiveAction(*row), g, e, c_.iod, depth > 0);
      Apply(item, *element, op, depth);
    }
  }

 private:
  void Private(DcmItem& item, DcmElement& element, int depth) {
    const std::uint16_t g = element.getGTag(), e = element.getETag();
    bool keep = false;
    if (e >= 0x0010 && e <= 0x00FF) {
      keep = IsSafePrivateCreator(*c_.options, g, TrimPadding(RawValue(element)));
    } else if (e >= 0x1000) {
      const char* creator = element.getTag().getPrivateCreator();
      keep = creator != nullptr && IsSafePrivate(*c_.options, g, TrimPadding(creator), e);
    }
    if (!keep) {
      delete item.remove(&element);
    } else if (element.ident() == EVR_SQ) {
      Sequence(element, depth);
    }
  }

  void Sequence(DcmElement& element, int depth) {
    auto& sq = static_cast<DcmSequenceOfItems&>(element);
    for (unsigned long k = 0; k < sq.card(); ++k) {
      if (DcmItem* child = sq.getItem(k)) Item(*child, depth + 1);
    }
  }

  void PatientId(DcmElement& element) {
    const std::string value(TrimPadding(RawValue(element)));
    element.putString(KeepLast(value, c_.options->patient_id_keep).c_str());
  }

  void Apply(DcmItem& item, DcmElement& element, Operation op, int depth) {
    const DcmEVR vr = element.ident();
    switch (op) {
      case Operation::kKeep:
        if (vr == EVR_SQ) Sequence(element, depth);
        return;
      case Operation::kRemove:
        delete item.remove(&element);
        return;
      case Operation::kZero:
        if (vr == EVR_SQ) {
          static_cast<DcmSequenceOfItems&>(element).clear();
        } else {
          element.clear();
        }
        return;
      case Operation::kDummy:
        Dummy(item, element);
        return;
      case Operation::kClean:
        if (vr == EVR_SQ) {
          Sequence(element, depth);
        } else if (IsTextVr(vr)) {
          const std::string cleaned = RemoveTokens(RawValue(element), c_.identity->tokens());
          element.putString(cleaned.c_str(), static_cast<Uint32>(cleaned.size()));
        }
        return;
      case Operation::kMapUid:
        if (vr == EVR_SQ) {
          Sequence(element, depth);
        } else if (vr == EVR_UI) {
          MapUids(element);
        } else {
          delete item.remove(&element);  // a U attribute with a wrong VR cannot be mapped safely
        }
        return;
    }
  }

  void MapUids(DcmElement& element) {
    const std::string raw = RawValue(element);
    std::string out;
    std::size_t start = 0;
    while (start <= raw.size()) {
      std::size_t end = raw.find('\\', start);
      if (end == std::string::npos) end = raw.size();
      const std::string uid(TrimPadding(std::string_view(raw).substr(start, end - start)));
      if (!out.empty() || start > 0) out += '\\';
      if (uid.empty() || uid.rfind(kStandardUidRoot, 0) == 0) {
        out += uid;  // standard UIDs (well-known frames of reference, classes) are never touched
      } else {
        out += c_.map_uid(uid);
        c_.original_uids->insert(uid);
      }
      start = end + 1;
    }
    element.putString(out.c_str());
  }

  void Dummy(DcmItem& item, DcmElement& element) {
    switch (element.ident()) {
      case EVR_SQ: {
        auto& sq = static_cast<DcmSequenceOfItems&>(element);
        sq.clear();
        DcmItem* created = nullptr;
        item.findOrCreateSequenceItem(element.getTag(), created, -2);
        return;
      }
      case EVR_AE:
      case EVR_CS:
      case EVR_LO:
      case EVR_LT:
      case EVR_PN:
      case EVR_SH:
      case EVR_ST:
      case EVR_UC:
      case EVR_UR:
      case EVR_UT:
        element.putString(kDummyText);
        return;
      case EVR_AS:
        element.putString("000D");
        return;
      case EVR_DA:
        element.putString("19000101");
        return;
      case EVR_DT:
        element.putString("19000101000000");
        return;
      case EVR_TM:
        element.putString("000000");
        return;
      case EVR_DS:
      case EVR_IS:
        element.putString("0");
        return;
      case EVR_UI: {
        const std::string original(TrimPadding(RawValue(element)));
        if (!original.empty()) c_.original_uids->insert(original);
        element.putString(
            c_.map_uid(original.empty() ? TagText(element.getTag()) : original).c_str());
        return;
      }
      case EVR_US:
      case EVR_SS:
      case EVR_UL:
      case EVR_SL:
      case EVR_FL:
      case EVR_FD:
      case EVR_SV:
      case EVR_UV:
        element.putString("0");
        return;
      case EVR_OW: {
        const Uint16 zero = 0;
        element.putUint16Array(&zero, 1);
        return;
      }
      default: {
        const Uint8 zeros[2] = {0, 0};
        if (element.putUint8Array(zeros, 2).bad()) element.clear();
        return;
      }
    }
  }

  const EngineContext& c_;
};

bool ParseDate(std::string_view da, std::chrono::year_month_day& out) {
  da = TrimPadding(da);
  std::string digits;
  for (char ch : da) {
    if (ch >= '0' && ch <= '9') {
      digits += ch;
    } else if (ch != '.' && ch != '-' && ch != '/') {
      return false;
    }
  }
  if (digits.size() != 8) return false;
  const int y = std::stoi(digits.substr(0, 4));
  const unsigned m = static_cast<unsigned>(std::stoi(digits.substr(4, 2)));
  const unsigned d = static_cast<unsigned>(std::stoi(digits.substr(6, 2)));
  out =
      std::chrono::year_month_day(std::chrono::year(y), std::chrono::month(m), std::chrono::day(d));
  return out.ok();
}

}  // namespace

bool IsRemovedOutsideTable(const DcmTagKey& tag) {
  // Encrypted Attributes Sequence (0400,0500) holds original values encrypted for some
  // recipient (PS3.15 E.1.1 and Annex C): Table E.1-1 does not list it, but the verifier cannot
  // read it, so it is never released. MAC Parameters Sequence (4FFE,0001) only serves the
  // Digital Signatures Sequence, which the table removes.
  return tag == DCM_EncryptedAttributesSequence || tag == DCM_MACParametersSequence;
}

bool IsSafePrivate(const ProfileOptions& options, std::uint16_t group, std::string_view creator,
                   std::uint16_t element) {
  for (const SafePrivateAttribute& s : options.safe_private) {
    if (s.group == group && s.private_creator == creator && s.element == (element & 0xFF)) {
      return true;
    }
  }
  return false;
}

bool IsSafePrivateCreator(const ProfileOptions& options, std::uint16_t group,
                          std::string_view creator) {
  for (const SafePrivateAttribute& s : options.safe_private) {
    if (s.group == group && s.private_creator == creator) return true;
  }
  return false;
}

void ApplyProfile(DcmItem& dataset, const EngineContext& context) {
  Applier(context).Item(dataset, 0);
}

std::string AgeString(std::string_view birth_date, std::string_view study_date) {
  using namespace std::chrono;
  year_month_day birth{}, study{};
  if (!ParseDate(birth_date, birth) || !ParseDate(study_date, study)) return {};
  const sys_days b(birth), s(study);
  if (s < b) return {};
  int years = static_cast<int>(study.year()) - static_cast<int>(birth.year());
  if (study.month() < birth.month() ||
      (study.month() == birth.month() && study.day() < birth.day())) {
    --years;
  }
  int months = (static_cast<int>(study.year()) - static_cast<int>(birth.year())) * 12 +
               static_cast<int>(static_cast<unsigned>(study.month())) -
               static_cast<int>(static_cast<unsigned>(birth.month()));
  if (study.day() < birth.day()) --months;
  const int days = static_cast<int>((s - b).count());
  char buf[16];
  if (years >= 2) {
    std::snprintf(buf, sizeof(buf), "%03dY", years > 999 ? 999 : years);
  } else if (months >= 1) {
    std::snprintf(buf, sizeof(buf), "%03dM", months);
  } else if (days >= 28) {
    std::snprintf(buf, sizeof(buf), "%03dW", days / 7);
  } else {
    std::snprintf(buf, sizeof(buf), "%03dD", days);
  }
  return buf;
}

void RecordDeidentification(DcmItem& dataset, const ProfileOptions& options) {
  dataset.putAndInsertString(DCM_PatientIdentityRemoved, "YES");
  // LO values are at most 64 characters each: one sentence per value.
  std::string keep = "Last " + std::to_string(options.patient_id_keep) +
                     " characters of Patient ID retained on purpose";
  const std::string method = "Tsunagu share profile, PS3.15 2024e Table E.1-1\\" +
                             std::string("Basic; Full Dates; Patient Chars; Clean Descr\\") + keep;
  dataset.putAndInsertString(DCM_DeidentificationMethod, method.c_str());
  // Full dates are kept: PS3.15 E.3.6 requires saying so.
  dataset.putAndInsertString(DCM_LongitudinalTemporalInformationModified, "UNMODIFIED");
  struct Code {
    const char* value;
    const char* meaning;
  };
  std::vector<Code> codes = {
      {"113100", "Basic Application Confidentiality Profile"},
      {"113105", "Clean Descriptors Option"},
      {"113106", "Retain Longitudinal Temporal Information Full Dates Option"},
      {"113108", "Retain Patient Characteristics Option"},
  };
  if (!options.safe_private.empty()) codes.push_back({"113111", "Retain Safe Private Option"});
  delete dataset.remove(DCM_DeidentificationMethodCodeSequence);
  for (const Code& code : codes) {
    DcmItem* item = nullptr;
    if (dataset.findOrCreateSequenceItem(DCM_DeidentificationMethodCodeSequence, item, -2).good() &&
        item != nullptr) {
      item->putAndInsertString(DCM_CodeValue, code.value);
      item->putAndInsertString(DCM_CodingSchemeDesignator, "DCM");
      item->putAndInsertString(DCM_CodeMeaning, code.meaning);
    }
  }
}

}  // namespace tsunagu::anonymizer::internal
