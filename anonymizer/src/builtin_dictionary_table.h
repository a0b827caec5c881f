// Private: the DCMTK data dictionary compiled into the program (see
// tools/make_builtin_dictionary.cpp, which generates the table at build time).
#ifndef TSUNAGU_ANONYMIZER_SRC_BUILTIN_DICTIONARY_TABLE_H_
#define TSUNAGU_ANONYMIZER_SRC_BUILTIN_DICTIONARY_TABLE_H_

#include <dcmtk/dcmdata/dcdict.h>

#include <cstddef>
#include <cstdint>

namespace tsunagu::anonymizer::internal {

// One DcmDictEntry, field for field (enums as their DCMTK values).
struct BuiltInDictEntry {
  std::uint16_t group, element, upper_group, upper_element;
  int group_restriction, element_restriction, evr, vm_min, vm_max;
  const char* name;
  const char* version;
  const char* private_creator;
};

extern const BuiltInDictEntry kBuiltInDictionary[];
extern const std::size_t kBuiltInDictionarySize;
extern const char* const kBuiltInDictionarySource;

// Adds every entry of the table to `dict` (entries for the same tag are replaced).
void AddBuiltInEntries(DcmDataDictionary& dict);

}  // namespace tsunagu::anonymizer::internal

#endif  // TSUNAGU_ANONYMIZER_SRC_BUILTIN_DICTIONARY_TABLE_H_
