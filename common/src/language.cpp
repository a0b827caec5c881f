#include "tsunagu/common/language.h"

#include <cstdlib>

namespace tsunagu::common {

std::optional<Language> ParseLanguage(std::string_view text) {
  auto starts = [&](std::string_view prefix) {
    return text.substr(0, prefix.size()) == prefix &&
           (text.size() == prefix.size() || text[prefix.size()] == '_' ||
            text[prefix.size()] == '-' || text[prefix.size()] == '.');
  };
  if (starts("ja")) return Language::kJapanese;
  if (starts("en")) return Language::kEnglish;
  return std::nullopt;
}

std::string_view LanguageCode(Language language) {
  return language == Language::kJapanese ? "ja" : "en";
}

Language LanguageFromEnvironment() {
  for (const char* name : {"TSUNAGU_LANG", "LC_ALL", "LC_MESSAGES", "LANG"}) {
    const char* value = std::getenv(name);
    if (value == nullptr || *value == '\0') continue;
    return ParseLanguage(value).value_or(Language::kEnglish);
  }
  return Language::kEnglish;
}

}  // namespace tsunagu::common
