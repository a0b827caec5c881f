// The one place where DCMTK meets the rest of tsunagu_viewer: an input stream over a DicomReader
// (so DCMTK's lazy loading of large values works for memory and files alike), the conversion of
// OFCondition into Status, and the once-per-process codec registration.
#ifndef TSUNAGU_VIEWER_SRC_DCMTK_BRIDGE_H_
#define TSUNAGU_VIEWER_SRC_DCMTK_BRIDGE_H_

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcistrma.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "tsunagu/common/result.h"
#include "tsunagu/viewer/dicom_reader.h"

namespace tsunagu::viewer::internal {

// Converts a DCMTK condition into a Status with code `code` (OK stays OK). The text of DCMTK
// conditions is technical (it never carries attribute values).
common::Status StatusFromOFCondition(const OFCondition& cond, std::string_view what,
                                     common::ErrorCode code = common::ErrorCode::kInvalidArgument);

// Registers DCMTK's RLE, JPEG and JPEG-LS decoders once per process (thread-safe); they are
// deregistered at exit. Also checks that the data dictionary is loaded.
common::Status EnsureDcmtkReady();

// Reads a whole DICOM object (with or without a File Meta Information header) from `reader`.
// Values longer than `max_read_length` bytes stay in the reader and are read when used; the
// reader must therefore outlive the returned object.
common::Result<std::unique_ptr<DcmFileFormat>> ReadDicom(std::shared_ptr<DicomReader> reader,
                                                         Uint32 max_read_length);

// Where the value of `element` starts in the DicomReader it was read from by ReadDicom(): known
// for a value whose loading was postponed (longer than max_read_length) and not loaded since;
// nullopt otherwise.
std::optional<std::uint64_t> ValueOffset(const DcmElement& element);

}  // namespace tsunagu::viewer::internal

#endif  // TSUNAGU_VIEWER_SRC_DCMTK_BRIDGE_H_
