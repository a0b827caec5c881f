// Private: verify-before-release. Walks a de-identified file (meta header and dataset, every
// depth) and refuses it if any identifying value of the original survived.
#ifndef TSUNAGU_ANONYMIZER_SRC_VERIFIER_H_
#define TSUNAGU_ANONYMIZER_SRC_VERIFIER_H_

#include <dcmtk/dcmdata/dctk.h>

#include <set>
#include <string>

#include "identity.h"
#include "profile.h"
#include "tsunagu/anonymizer/deidentifier.h"
#include "tsunagu/common/status.h"

namespace tsunagu::anonymizer::internal {

// OK when `output` is proven clean, else kDeidentificationRefused naming the attribute where a
// value survived and where it came from (tag labels only, never the value).
common::Status VerifyOutput(DcmFileFormat& output, const Identity& identity,
                            const std::set<std::string>& original_uids,
                            const ProfileOptions& options, const ShareProfile& profile);

// The check VerifyOutput makes of the Pixel Data element, for an element verified apart from
// its dataset (the pixel data copied from the input as bytes): in encapsulated transfer syntaxes,
// the text segments of each frame's JPEG / JPEG 2000 header must hold no identifying value.
common::Status VerifyPixelDataHeaders(DcmElement& pixel_data, E_TransferSyntax transfer_syntax,
                                      const Identity& identity);

}  // namespace tsunagu::anonymizer::internal

#endif  // TSUNAGU_ANONYMIZER_SRC_VERIFIER_H_
