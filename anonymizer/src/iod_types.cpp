#include "iod_types.h"

#include <algorithm>

namespace tsunagu::anonymizer::internal {

const IodTypes* IodOf(std::string_view sop_class_uid) {
  const std::span<const SopClassIod> classes = SopClassIodTable();
  const auto it = std::lower_bound(
      classes.begin(), classes.end(), sop_class_uid,
      [](const SopClassIod& c, std::string_view uid) { return c.sop_class_uid < uid; });
  if (it == classes.end() || it->sop_class_uid != sop_class_uid) return nullptr;
  return &IodTypeTable()[it->iod];
}

int AttributeType(const IodTypes* iod, std::uint16_t group, std::uint16_t element, bool nested) {
  if (iod == nullptr) return 0;
  const std::uint32_t tag = (std::uint32_t{group} << 16) | element;
  const IodAttributeType* end = iod->attributes + iod->count;
  const IodAttributeType* it =
      std::lower_bound(iod->attributes, end, tag,
                       [](const IodAttributeType& a, std::uint32_t t) { return a.tag < t; });
  const bool found = it != end && it->tag == tag;
  if (nested) return found ? it->nested : 0;
  return found && it->top_level != 0 ? it->top_level : 3;
}

}  // namespace tsunagu::anonymizer::internal
