// Private: the "share" profile over Table E.1-1 — which action applies to a tag in an instance.
#ifndef TSUNAGU_ANONYMIZER_SRC_PROFILE_H_
#define TSUNAGU_ANONYMIZER_SRC_PROFILE_H_

#include <cstdint>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "iod_types.h"
#include "profile_table.h"

namespace tsunagu::anonymizer::internal {

// What is done to one attribute, after options and IOD conditions are resolved.
enum class Operation { kKeep, kRemove, kZero, kDummy, kClean, kMapUid };

class ShareProfile {
 public:
  ShareProfile();

  // The Table E.1-1 row for a standard (even group) tag, or nullptr when the table does not list
  // it (then the attribute is kept; sequences are still walked).
  const ProfileRow* Find(std::uint16_t group, std::uint16_t element) const;

  // The row's action under the share profile: Basic Profile, overridden by Retain Longitudinal
  // Temporal Information with Full Dates, Retain Patient Characteristics and Clean Descriptors.
  static Action EffectiveAction(const ProfileRow& row);

  // Resolves a (possibly conditional) action for `tag` in an instance of `iod` (nullptr when
  // the IOD is not known), at the top level or inside a sequence (`nested`). The conditional
  // codes follow the attribute's type there (PS3.15 E.1.1: Z or D where the IOD requires the
  // attribute, X where it is Type 3); where the type is not known, the choice that keeps any
  // IOD valid.
  static Operation Resolve(Action action, std::uint16_t group, std::uint16_t element,
                           const IodTypes* iod, bool nested = false);

 private:
  std::unordered_map<std::uint32_t, const ProfileRow*> exact_;
  std::vector<const ProfileRow*> wildcard_;
};

}  // namespace tsunagu::anonymizer::internal

#endif  // TSUNAGU_ANONYMIZER_SRC_PROFILE_H_
