#include "profile.h"

#include <algorithm>
#include <string>

namespace tsunagu::anonymizer::internal {
namespace {

std::uint32_t Key(std::uint16_t g, std::uint16_t e) { return (std::uint32_t{g} << 16) | e; }

// References a viewer uses (localizer lines, source images): kept with mapped UIDs even where
// Type 3 would allow removal. Their contents are UIDs and codes, cleaned by the table.
bool ViewerNeeds(std::uint16_t g, std::uint16_t e) {
  return Key(g, e) == 0x00081140 || Key(g, e) == 0x00082112;
}

}  // namespace

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

Operation ShareProfile::Resolve(Action action, std::uint16_t g, std::uint16_t e,
                                const IodTypes* iod, bool nested) {
  const int type = AttributeType(iod, g, e, nested);
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
