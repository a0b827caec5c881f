// Build-time tool: writes C++ source that fills a DCMTK data dictionary with the entries of the
// dictionary files DCMTK itself loads by default (DCM_DICT_DEFAULT_PATH), read here by DCMTK's own
// parser, so the generated table is exactly what DCMTK would load at run time. Like DCMTK's
// mkdictbi, which Debian does not ship. The build runs it with DCMDICTPATH unset:
//   make_builtin_dictionary OUTPUT.cpp
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdicent.h>
#include <dcmtk/dcmdata/dcdict.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace {

std::string Quoted(const char* s) {
  if (s == nullptr) return "nullptr";
  std::string out = "\"";
  for (const char* p = s; *p != '\0'; ++p) {
    if (*p == '"' || *p == '\\') out += '\\';
    out += *p;
  }
  return out + "\"";
}

std::string Entry(const DcmDictEntry& e) {
  char head[96];
  std::snprintf(head, sizeof(head), "{0x%04X, 0x%04X, 0x%04X, 0x%04X, %d, %d, %d, %d, %d, ",
                e.getGroup(), e.getElement(), e.getUpperGroup(), e.getUpperElement(),
                static_cast<int>(e.getGroupRangeRestriction()),
                static_cast<int>(e.getElementRangeRestriction()), static_cast<int>(e.getEVR()),
                e.getVMMin(), e.getVMMax());
  return std::string(head) + Quoted(e.getTagName()) + ", " + Quoted(e.getStandardVersion()) + ", " +
         Quoted(e.getPrivateCreator()) + "},\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_builtin_dictionary OUTPUT.cpp\n";
    return 2;
  }
  // Skeleton entries (item tags, group lengths) come from DCMTK's code; only the files' entries.
  DcmDataDictionary dict(OFFalse, OFFalse);
  const int skeleton = dict.numberOfSkeletonEntries();
  std::string paths = DCM_DICT_DEFAULT_PATH;
  for (std::size_t start = 0; start <= paths.size();) {
    std::size_t end = paths.find(ENVIRONMENT_PATH_SEPARATOR, start);
    if (end == std::string::npos) end = paths.size();
    const std::string path = paths.substr(start, end - start);
    if (!path.empty() && !dict.loadDictionary(path.c_str(), OFTrue)) {
      std::cerr << "make_builtin_dictionary: cannot load " << path << "\n";
      return 1;
    }
    start = end + 1;
  }
  std::vector<std::string> normal, repeating;
  for (auto it = dict.normalBegin(); it != dict.normalEnd(); ++it) normal.push_back(Entry(**it));
  for (auto it = dict.repeatingBegin(); it != dict.repeatingEnd(); ++it) {
    repeating.push_back(Entry(**it));
  }
  if (normal.size() + repeating.size() < 1000 + static_cast<std::size_t>(skeleton)) {
    std::cerr << "make_builtin_dictionary: only " << normal.size() + repeating.size()
              << " entries in " << DCM_DICT_DEFAULT_PATH << "\n";
    return 1;
  }
  std::ofstream out(argv[1]);
  out << "// Generated at build time by anonymizer/tools/make_builtin_dictionary.cpp from\n"
      << "// " << DCM_DICT_DEFAULT_PATH << ". Do not edit.\n"
      << "#include \"builtin_dictionary_table.h\"\n\n"
      << "namespace tsunagu::anonymizer::internal {\n\n"
      << "const BuiltInDictEntry kBuiltInDictionary[] = {\n";
  for (const std::string& line : normal) out << "    " << line;
  for (const std::string& line : repeating) out << "    " << line;
  out << "};\n\nconst std::size_t kBuiltInDictionarySize = " << normal.size() + repeating.size()
      << ";\n\nconst char* const kBuiltInDictionarySource = \"" << DCM_DICT_DEFAULT_PATH
      << "\";\n\n}  // namespace tsunagu::anonymizer::internal\n";
  out.close();
  return out ? 0 : 1;
}
