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

#include "tsunagu/common/result.h"
#include "tsunagu/common/status.h"

namespace tsunagu::anonymizer::internal {

// Whether `specific_character_set` (all values, backslash-separated) uses only the Japanese
// ISO 2022 terms (ISO 2022 IR 6/13/87/159, or an empty first value) and at least one of them.
bool IsIso2022Japanese(std::string_view specific_character_set);

// Decodes one value written with those terms into UTF-8; nullopt for bytes or escape sequences
// the terms do not allow.
std::optional<std::string> DecodeIso2022Japanese(std::string_view value, bool g1_katakana);

// Converts every text element at any depth of `dataset` to UTF-8, each decoded with the
// Specific Character Set in force in its own item (an item's own (0008,0005) overrides the one
// of the enclosing item or dataset), and sets every Specific Character Set to ISO_IR 192.
// Returns whether any value needed decoding (false when all text was ASCII or UTF-8 already).
// kDeidentificationRefused when a value cannot be decoded (a name that cannot be read cannot
// be checked).
common::Result<bool> ConvertDatasetToUtf8(DcmItem& dataset);

}  // namespace tsunagu::anonymizer::internal

#endif  // TSUNAGU_ANONYMIZER_SRC_CHARSET_H_
