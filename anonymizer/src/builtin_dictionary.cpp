#include <dcmtk/dcmdata/dcdicent.h>

#include <cstdlib>

#include "builtin_dictionary_table.h"
#include "tsunagu/anonymizer/dictionary.h"

namespace tsunagu::anonymizer {
namespace internal {

void AddBuiltInEntries(DcmDataDictionary& dict) {
  for (std::size_t i = 0; i < kBuiltInDictionarySize; ++i) {
    const BuiltInDictEntry& b = kBuiltInDictionary[i];
    auto* entry = new DcmDictEntry(b.group, b.element, b.upper_group, b.upper_element,
                                   DcmVR(static_cast<DcmEVR>(b.evr)), b.name, b.vm_min, b.vm_max,
                                   b.version, OFFalse, b.private_creator);
    entry->setGroupRangeRestriction(static_cast<DcmDictRangeRestriction>(b.group_restriction));
    entry->setElementRangeRestriction(static_cast<DcmDictRangeRestriction>(b.element_restriction));
    dict.addEntry(entry);
  }
}

}  // namespace internal

bool UseBuiltInDictionary() {
  const char* env = std::getenv(DCM_DICT_ENVIRONMENT_VARIABLE);
  if (env != nullptr && *env != '\0') return false;
  // DCMTK loads its dictionary files when the global dictionary is first used: point it at an
  // empty file for that one load, then add the compiled-in entries under the write lock.
  if (::setenv(DCM_DICT_ENVIRONMENT_VARIABLE, "/dev/null", 1) != 0) return false;
  DcmDataDictionary& dict = dcmDataDict.wrlock();
  const bool fresh = dict.numberOfEntries() == 0;
  if (fresh) internal::AddBuiltInEntries(dict);
  dcmDataDict.wrunlock();
  ::unsetenv(DCM_DICT_ENVIRONMENT_VARIABLE);
  return fresh && dcmDataDict.isDictionaryLoaded();
}

}  // namespace tsunagu::anonymizer
