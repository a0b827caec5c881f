// Private: the "share" profile over Table E.1-1 — which action applies to a tag in an instance.
#ifndef TSUNAGU_ANONYMIZER_SRC_PROFILE_H_
#define TSUNAGU_ANONYMIZER_SRC_PROFILE_H_

#include <cstdint>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "profile_table.h"

namespace tsunagu::anonymizer::internal {

// What is done to one attribute, after options and IOD conditions are resolved.
enum class Operation { kKeep, kRemove, kZero, kDummy, kClean, kMapUid };

// The kind of IOD an instance belongs to, as far as the conditional codes need it.
enum class IodKind {
  kUnknown,        // not known: conditional codes take the choice that keeps any IOD valid
  kClassicImage,   // CT, MR, CR, DX, MG, US, SC, XA, RF, NM, PET, VL, RT Image
  kEnhancedImage,  // Enhanced CT/MR/XA/XRF/US Volume/PET (Enhanced General Equipment, Type 1)
};

IodKind IodKindOf(std::string_view sop_class_uid);

class ShareProfile {
 public:
  ShareProfile();

  // The Table E.1-1 row for a standard (even group) tag, or nullptr when the table does not list
  // it (then the attribute is kept; sequences are still walked).
  const ProfileRow* Find(std::uint16_t group, std::uint16_t element) const;

  // The row's action under the share profile: Basic Profile, overridden by Retain Longitudinal
  // Temporal Information with Full Dates, Retain Patient Characteristics and Clean Descriptors.
  static Action EffectiveAction(const ProfileRow& row);

  // Resolves a (possibly conditional) action for `tag` in an instance of `iod`.
  static Operation Resolve(Action action, std::uint16_t group, std::uint16_t element, IodKind iod);

 private:
  std::unordered_map<std::uint32_t, const ProfileRow*> exact_;
  std::vector<const ProfileRow*> wildcard_;
};

}  // namespace tsunagu::anonymizer::internal

#endif  // TSUNAGU_ANONYMIZER_SRC_PROFILE_H_
