// Private: PS3.15 Table E.1-1 (edition 2024e) as data. The rows live in the generated
// profile_table_2024e.cpp (anonymizer/tools/generate_profile_table.py); this header is written by
// hand and states what the generator must produce.
#ifndef TSUNAGU_ANONYMIZER_SRC_PROFILE_TABLE_H_
#define TSUNAGU_ANONYMIZER_SRC_PROFILE_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <span>

namespace tsunagu::anonymizer::internal {

// The action codes of the Table E.1-1 legend. kNone: the column is empty (the option does not
// change the Basic Profile's action).
enum class Action : std::uint8_t {
  kNone,
  kD,    // dummy value of the VR
  kZ,    // zero length
  kX,    // remove
  kK,    // keep (sequences are cleaned)
  kC,    // clean
  kU,    // UID replaced consistently
  kZD,   // Z/D
  kXZ,   // X/Z
  kXD,   // X/D
  kXZD,  // X/Z/D
  kXZU,  // X/Z/U*
};

// One row. Wildcard digits ('x' in the standard's tag) are zero bits in the masks: a tag matches
// when (group & group_mask) == group and (element & element_mask) == element. The single
// "Private Attributes" row has is_private_row set and matches every odd group.
struct ProfileRow {
  std::uint16_t group;
  std::uint16_t element;
  std::uint16_t group_mask;
  std::uint16_t element_mask;
  bool is_private_row;
  const char* name;
  Action basic;
  Action safe_private;
  Action retain_uids;
  Action retain_device_identity;
  Action retain_institution_identity;
  Action retain_patient_characteristics;
  Action retain_long_full_dates;
  Action retain_long_modified_dates;
  Action clean_descriptors;
  Action clean_structured_content;
  Action clean_graphics;
};

// Every row of Table E.1-1, in the order of the JSON file.
std::span<const ProfileRow> ProfileRows();

// "2024e".
const char* ProfileTableEdition();

}  // namespace tsunagu::anonymizer::internal

#endif  // TSUNAGU_ANONYMIZER_SRC_PROFILE_TABLE_H_
