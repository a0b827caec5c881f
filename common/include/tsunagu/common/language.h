// The language of text for people (pages, CLI help, chat messages): Japanese or English.
#ifndef TSUNAGU_COMMON_LANGUAGE_H_
#define TSUNAGU_COMMON_LANGUAGE_H_

#include <optional>
#include <string_view>

namespace tsunagu::common {

enum class Language { kJapanese, kEnglish };

// "ja" or "en" (also "ja_JP.UTF-8", "en-US" and similar forms). nullopt for anything else.
std::optional<Language> ParseLanguage(std::string_view text);

// "ja" or "en".
std::string_view LanguageCode(Language language);

// The language for text printed before a configuration is loaded (e.g. --help): TSUNAGU_LANG,
// then LC_ALL, LC_MESSAGES, LANG; Japanese when one of them starts with "ja", else English.
Language LanguageFromEnvironment();

// Picks the text for `language`.
constexpr std::string_view Pick(Language language, std::string_view ja, std::string_view en) {
  return language == Language::kJapanese ? ja : en;
}

}  // namespace tsunagu::common

#endif  // TSUNAGU_COMMON_LANGUAGE_H_
