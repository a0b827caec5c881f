// Private: the one place where DCMTK conditions and values are converted to Tsunagu types
// (Orthanc's FromDcmtkBridge).
#ifndef TSUNAGU_ANONYMIZER_SRC_DCMTK_BRIDGE_H_
#define TSUNAGU_ANONYMIZER_SRC_DCMTK_BRIDGE_H_

#include <dcmtk/dcmdata/dctk.h>

#include <string>
#include <string_view>
#include <vector>

#include "tsunagu/common/status.h"

namespace tsunagu::anonymizer::internal {

// Converts a DCMTK condition; `what` names the operation (never a value from the dataset).
common::Status StatusFromOFCondition(const OFCondition& condition, std::string_view what,
                                     common::ErrorCode code = common::ErrorCode::kInvalidArgument);

// "(gggg,eeee)".
std::string TagText(const DcmTagKey& tag);
// "(gggg,eeee) Name" with the dictionary name, or the tag alone for unknown and private tags.
std::string TagLabel(const DcmTagKey& tag);

// True for VRs whose value is text affected by Specific Character Set or plain text.
bool IsTextVr(DcmEVR vr);
// True for VRs holding numbers in binary form.
bool IsBinaryNumberVr(DcmEVR vr);

// The element's whole value as bytes (string VRs: all values with backslashes; OB/UN/OW: the
// bytes). Empty when the element has no value or cannot be read. Never used on pixel data.
std::string RawValue(DcmElement& element);

// A top-level string attribute, trailing padding removed; empty when absent.
std::string GetString(DcmItem& item, const DcmTagKey& tag);

// The elements of `item` in order, in one pass over DCMTK's list (item.getElement(i) walks the
// list from its start on every call, so an index loop costs n^2/2 steps).
std::vector<DcmElement*> Elements(DcmItem& item);

// Removes trailing spaces and NULs (DICOM padding).
std::string_view TrimPadding(std::string_view text);

}  // namespace tsunagu::anonymizer::internal

#endif  // TSUNAGU_ANONYMIZER_SRC_DCMTK_BRIDGE_H_
