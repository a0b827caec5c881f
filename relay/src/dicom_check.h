// Private: the relay's DCMTK bridge. Re-checks arriving instances (a second line of defence
// behind the gateway's anonymizer) and extracts frames for WADO-RS. No DCMTK type leaves here.
#ifndef TSUNAGU_RELAY_SRC_DICOM_CHECK_H_
#define TSUNAGU_RELAY_SRC_DICOM_CHECK_H_

#include <string>
#include <string_view>
#include <vector>

#include "tsunagu/common/result.h"
#include "tsunagu/retention/study_store.h"

namespace tsunagu::relay {

// Parses `bytes` as a DICOM Part 10 file and checks that it may be stored:
//  - it parses (kInvalidArgument otherwise);
//  - its Study and SOP Instance UIDs are the ones in the request URL (kInvalidArgument);
//  - Patient Identity Removed (0012,0062) is "YES" (PS3.15 E.1; kDeidentificationRefused);
//  - no private data element anywhere, also inside sequences (kDeidentificationRefused);
//  - Patient ID (0010,0020) is at most `max_patient_id_length` characters
//    (kDeidentificationRefused).
// Returns the series UID and the DICOM JSON model (PS3.18 F.2) of the instance without its
// pixel data. Messages never contain a value from the instance.
common::Result<retention::InstanceInfo> InspectInstance(std::string_view bytes,
                                                        std::string_view study_uid,
                                                        std::string_view sop_uid,
                                                        std::size_t max_patient_id_length);

struct Frames {
  std::string series_uid;
  std::string transfer_syntax_uid;  // of the returned bytes
  bool encapsulated = false;
  std::vector<std::string> frames;
};

// The bytes of frames `numbers` (1-based; empty: every frame) of an instance, as stored (no
// transcoding; native pixel data in little endian). kNotFound for a frame number out of range,
// kInvalidArgument when the instance has no pixel data or a fragment layout this relay cannot
// split.
common::Result<Frames> ExtractFrames(std::string_view bytes, const std::vector<int>& numbers);

}  // namespace tsunagu::relay

#endif  // TSUNAGU_RELAY_SRC_DICOM_CHECK_H_
