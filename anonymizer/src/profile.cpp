#include "profile.h"

#include <algorithm>
#include <string>

namespace tsunagu::anonymizer::internal {
namespace {

std::uint32_t Key(std::uint16_t g, std::uint16_t e) { return (std::uint32_t{g} << 16) | e; }

// Attribute types (PS3.3) of the attributes with conditional codes, in the modules shared by the
// image IODs we know: General Equipment, General Series, General Study, General Image.
// 0: not in these IODs (treated as unknown).
int TypeIn(IodKind iod, std::uint16_t g, std::uint16_t e) {
  if (iod == IodKind::kUnknown) return 0;
  switch (Key(g, e)) {
    case 0x00080080:  // Institution Name: General Equipment, Type 3
    case 0x00080082:  // Institution Code Sequence: Type 3
    case 0x00081010:  // Station Name: Type 3
    case 0x00081070:  // Operators' Name: General Series, Type 3
    case 0x00081072:  // Operator Identification Sequence: Type 3
    case 0x00081111:  // Referenced Performed Procedure Step Sequence: Type 3
    case 0x00081110:  // Referenced Study Sequence: General Study, Type 3
    case 0x0018700A:  // Detector ID: DX Detector, Type 3
    case 0x00081140:  // Referenced Image Sequence: General Image, Type 3
    case 0x00082112:  // Source Image Sequence: General Image, Type 3
      return 3;
    case 0x00181000:  // Device Serial Number: General Equipment 3, Enhanced General Equipment 1
      return iod == IodKind::kEnhancedImage ? 1 : 3;
    default:
      return 0;
  }
}

// References a viewer uses (localizer lines, source images): kept with mapped UIDs even where
// Type 3 would allow removal. Their contents are UIDs and codes, cleaned by the table.
bool ViewerNeeds(std::uint16_t g, std::uint16_t e) {
  return Key(g, e) == 0x00081140 || Key(g, e) == 0x00082112;
}

}  // namespace

IodKind IodKindOf(std::string_view uid) {
  static const char* const kEnhanced[] = {
      "1.2.840.10008.5.1.4.1.1.2.1",    "1.2.840.10008.5.1.4.1.1.4.1",
      "1.2.840.10008.5.1.4.1.1.4.3",    "1.2.840.10008.5.1.4.1.1.12.1.1",
      "1.2.840.10008.5.1.4.1.1.12.2.1", "1.2.840.10008.5.1.4.1.1.6.2",
      "1.2.840.10008.5.1.4.1.1.130",
  };
  static const char* const kClassic[] = {
      "1.2.840.10008.5.1.4.1.1.1",        "1.2.840.10008.5.1.4.1.1.1.1",
      "1.2.840.10008.5.1.4.1.1.1.1.1",    "1.2.840.10008.5.1.4.1.1.1.2",
      "1.2.840.10008.5.1.4.1.1.1.2.1",    "1.2.840.10008.5.1.4.1.1.1.3",
      "1.2.840.10008.5.1.4.1.1.1.3.1",    "1.2.840.10008.5.1.4.1.1.2",
      "1.2.840.10008.5.1.4.1.1.3.1",      "1.2.840.10008.5.1.4.1.1.4",
      "1.2.840.10008.5.1.4.1.1.6.1",      "1.2.840.10008.5.1.4.1.1.7",
      "1.2.840.10008.5.1.4.1.1.7.1",      "1.2.840.10008.5.1.4.1.1.7.2",
      "1.2.840.10008.5.1.4.1.1.7.3",      "1.2.840.10008.5.1.4.1.1.7.4",
      "1.2.840.10008.5.1.4.1.1.12.1",     "1.2.840.10008.5.1.4.1.1.12.2",
      "1.2.840.10008.5.1.4.1.1.20",       "1.2.840.10008.5.1.4.1.1.128",
      "1.2.840.10008.5.1.4.1.1.481.1",    "1.2.840.10008.5.1.4.1.1.77.1.1",
      "1.2.840.10008.5.1.4.1.1.77.1.2",   "1.2.840.10008.5.1.4.1.1.77.1.4",
      "1.2.840.10008.5.1.4.1.1.77.1.4.1",
  };
  for (const char* u : kEnhanced) {
    if (uid == u) return IodKind::kEnhancedImage;
  }
  for (const char* u : kClassic) {
    if (uid == u) return IodKind::kClassicImage;
  }
  return IodKind::kUnknown;
}

ShareProfile::ShareProfile() {
  for (const ProfileRow& row : ProfileRows()) {
    if (row.is_private_row) continue;  // private attributes are handled before lookup
    if (row.group_mask == 0xFFFF && row.element_mask == 0xFFFF) {
      exact_.emplace(Key(row.group, row.element), &row);
    } else {
      wildcard_.push_back(&row);
    }
  }
}

const ProfileRow* ShareProfile::Find(std::uint16_t group, std::uint16_t element) const {
  if (auto it = exact_.find(Key(group, element)); it != exact_.end()) return it->second;
  for (const ProfileRow* row : wildcard_) {
    if ((group & row->group_mask) == row->group && (element & row->element_mask) == row->element) {
      return row;
    }
  }
  return nullptr;
}

Action ShareProfile::EffectiveAction(const ProfileRow& row) {
  // Where two applied options both list a row (Allergies, Patient State: Retain Patient
  // Characteristics C and Clean Descriptors C) they agree; the first present wins.
  for (Action option :
       {row.clean_descriptors, row.retain_long_full_dates, row.retain_patient_characteristics}) {
    if (option != Action::kNone) return option;
  }
  return row.basic;
}

Operation ShareProfile::Resolve(Action action, std::uint16_t g, std::uint16_t e, IodKind iod) {
  const int type = TypeIn(iod, g, e);
  switch (action) {
    case Action::kNone:
    case Action::kK:
      return Operation::kKeep;
    case Action::kX:
      return Operation::kRemove;
    case Action::kZ:
      return Operation::kZero;
    case Action::kD:
      return Operation::kDummy;
    case Action::kC:
      return Operation::kClean;
    case Action::kU:
      return Operation::kMapUid;
    // Conditional codes: the IOD's type decides; when it is unknown, take the choice that is
    // valid whatever the type (Z for X/Z, D otherwise): never an identifying value either way.
    case Action::kZD:
      return type == 2 ? Operation::kZero : Operation::kDummy;
    case Action::kXZ:
      return type == 3 ? Operation::kRemove : Operation::kZero;
    case Action::kXD:
      return type == 3 ? Operation::kRemove : Operation::kDummy;
    case Action::kXZD:
      if (type == 3) return Operation::kRemove;
      return type == 2 ? Operation::kZero : Operation::kDummy;
    case Action::kXZU:
      if (type == 3 && !ViewerNeeds(g, e)) return Operation::kRemove;
      return Operation::kMapUid;
  }
  return Operation::kRemove;
}

}  // namespace tsunagu::anonymizer::internal
