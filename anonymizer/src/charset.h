// Private: character sets. DCMTK 3.6.7 on Debian converts through glibc iconv, which it does not
// use for the ISO 2022 Japanese terms (IR 13, 87, 159 with code extensions); this file decodes
// those itself (ISO 2022 -> EUC-JP by the JIS code tables' fixed offsets, then iconv EUC-JP ->
// UTF-8) and leaves every other term to DCMTK.
#ifndef TSUNAGU_ANONYMIZER_SRC_CHARSET_H_
#define TSUNAGU_ANONYMIZER_SRC_CHARSET_H_

#include <dcmtk/dcmdata/dctk.h>

#include <optional>
#include <string>
#include <string_view>

#include "tsunagu/common/status.h"

namespace tsunagu::anonymizer::internal {

// Whether `specific_character_set` (all values, backslash-separated) uses only the Japanese
// ISO 2022 terms (ISO 2022 IR 6/13/87/159, or an empty first value) and at least one of them.
bool IsIso2022Japanese(std::string_view specific_character_set);

// Decodes one value written with those terms into UTF-8; nullopt for bytes or escape sequences
// the terms do not allow.
std::optional<std::string> DecodeIso2022Japanese(std::string_view value, bool g1_katakana);

// Converts every text element at any depth of `dataset` to UTF-8 and sets Specific Character Set
// to ISO_IR 192. kDeidentificationRefused when a value cannot be decoded (a name that cannot be
// read cannot be checked).
common::Status ConvertDatasetToUtf8(DcmItem& dataset, const std::string& specific_character_set);

}  // namespace tsunagu::anonymizer::internal

#endif  // TSUNAGU_ANONYMIZER_SRC_CHARSET_H_
