// Private: applies the share profile to a dataset in place (PS3.15 Annex E).
#ifndef TSUNAGU_ANONYMIZER_SRC_ENGINE_H_
#define TSUNAGU_ANONYMIZER_SRC_ENGINE_H_

#include <dcmtk/dcmdata/dctk.h>

#include <functional>
#include <set>
#include <string>
#include <string_view>

#include "identity.h"
#include "profile.h"
#include "tsunagu/anonymizer/deidentifier.h"

namespace tsunagu::anonymizer::internal {

struct EngineContext {
  const ShareProfile* profile = nullptr;
  const ProfileOptions* options = nullptr;
  std::function<std::string(std::string_view)> map_uid;
  const IodTypes* iod = nullptr;  // the instance's IOD; nullptr when not known
  const Identity* identity = nullptr;
  std::set<std::string>* original_uids = nullptr;  // every UID replaced, for the verifier
};

// Walks every item at every depth and applies the profile. Private attributes not on the safe
// list, group lengths and overlay groups are removed.
void ApplyProfile(DcmItem& dataset, const EngineContext& context);

// Standard attributes removed although Table E.1-1 does not list them (see engine.cpp).
bool IsRemovedOutsideTable(const DcmTagKey& tag);

// Whether a private element (odd group, element >= 0x1000) with `creator` is on the safe list.
bool IsSafePrivate(const ProfileOptions& options, std::uint16_t group, std::string_view creator,
                   std::uint16_t element);
// Whether a private creator element (gggg,00xx) with value `creator` is used by the safe list.
bool IsSafePrivateCreator(const ProfileOptions& options, std::uint16_t group,
                          std::string_view creator);

// Overlay groups 6000-601E (even).
inline bool IsOverlayGroup(std::uint16_t g) { return g >= 0x6000 && g <= 0x601E && g % 2 == 0; }

// PS3.5 AS value ("045Y", "011M", "003W", "005D") from two DA values; empty when either is not a
// valid date or the study is before the birth.
std::string AgeString(std::string_view birth_date, std::string_view study_date);

// The values the profile writes to record what was done (PS3.15 E.1.1, PS3.16 CID 7050).
void RecordDeidentification(DcmItem& dataset, const ProfileOptions& options);

}  // namespace tsunagu::anonymizer::internal

#endif  // TSUNAGU_ANONYMIZER_SRC_ENGINE_H_
