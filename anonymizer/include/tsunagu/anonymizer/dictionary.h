// Faster start-up for programs that use DCMTK: its data dictionary from a table compiled into
// the program instead of parsing the dictionary text files (about 5,000 lines through sscanf) on
// first use, which took most of tsunagu-anonymize's start-up time.
#ifndef TSUNAGU_ANONYMIZER_DICTIONARY_H_
#define TSUNAGU_ANONYMIZER_DICTIONARY_H_

namespace tsunagu::anonymizer {

// Fills DCMTK's global data dictionary from the compiled-in table: the same entries DCMTK loads
// by default (DCM_DICT_DEFAULT_PATH), generated from those files when the program was built.
// Call first thing in main(), before any other use of DCMTK and before starting threads (it sets
// and restores the environment variable DCMDICTPATH). Does nothing and returns false when
// DCMDICTPATH is set (the user's dictionaries are then loaded as usual) or when the dictionary
// was loaded already.
bool UseBuiltInDictionary();

}  // namespace tsunagu::anonymizer

#endif  // TSUNAGU_ANONYMIZER_DICTIONARY_H_
