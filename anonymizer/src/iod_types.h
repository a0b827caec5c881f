// Private: PS3.3 attribute types (1, 2, 3) per IOD, for the attributes whose PS3.15 Table E.1-1
// action is conditional on them (X/Z, X/D, Z/D, X/Z/D, X/Z/U*). The table is generated
// (iod_types_gdcm.cpp) from GDCM's machine-readable PS3.3 in Debian's libgdcm3.0 by
// anonymizer/tools/generate_iod_types.py.
#ifndef TSUNAGU_ANONYMIZER_SRC_IOD_TYPES_H_
#define TSUNAGU_ANONYMIZER_SRC_IOD_TYPES_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace tsunagu::anonymizer::internal {

// One attribute of one IOD: its strictest type at the top level of the dataset and anywhere
// inside a sequence (1C counted as 1, 2C as 2); 0 where the attribute does not occur there.
struct IodAttributeType {
  std::uint32_t tag;  // (group << 16) | element
  std::uint8_t top_level;
  std::uint8_t nested;
};

struct IodTypes {
  const char* table;                   // PS3.3 IOD module table, e.g. "A.3-1" (CT Image)
  const IodAttributeType* attributes;  // sorted by tag
  std::size_t count;
};

struct SopClassIod {
  const char* sop_class_uid;
  std::size_t iod;  // index into IodTypeTable()
};

std::span<const IodTypes> IodTypeTable();
std::span<const SopClassIod> SopClassIodTable();  // sorted by UID

// The IOD of a storage SOP class, or nullptr when the table does not know it.
const IodTypes* IodOf(std::string_view sop_class_uid);

// The type (1, 2 or 3) of an attribute with a conditional action in `iod`, at the top level or
// inside a sequence (`nested`); 0 when unknown: no IOD, or a nested attribute the IOD's
// sequences do not define. A top-level attribute that none of the IOD's modules has is 3 (it
// is not part of the IOD, so removing it keeps the instance valid).
int AttributeType(const IodTypes* iod, std::uint16_t group, std::uint16_t element, bool nested);

}  // namespace tsunagu::anonymizer::internal

#endif  // TSUNAGU_ANONYMIZER_SRC_IOD_TYPES_H_
