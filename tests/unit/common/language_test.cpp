#include "tsunagu/common/language.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace tsunagu::common {
namespace {

TEST(Language, ParsesCodesAndLocales) {
  EXPECT_EQ(ParseLanguage("ja"), Language::kJapanese);
  EXPECT_EQ(ParseLanguage("ja_JP.UTF-8"), Language::kJapanese);
  EXPECT_EQ(ParseLanguage("en"), Language::kEnglish);
  EXPECT_EQ(ParseLanguage("en-US"), Language::kEnglish);
  EXPECT_FALSE(ParseLanguage("jp").has_value());
  EXPECT_FALSE(ParseLanguage("english").has_value());
  EXPECT_FALSE(ParseLanguage("").has_value());
}

TEST(Language, EnvironmentPrefersTsunaguLang) {
  ::setenv("LANG", "ja_JP.UTF-8", 1);
  ::setenv("TSUNAGU_LANG", "en", 1);
  EXPECT_EQ(LanguageFromEnvironment(), Language::kEnglish);
  ::unsetenv("TSUNAGU_LANG");
  ::unsetenv("LC_ALL");
  ::unsetenv("LC_MESSAGES");
  EXPECT_EQ(LanguageFromEnvironment(), Language::kJapanese);
  ::setenv("LANG", "C.UTF-8", 1);
  EXPECT_EQ(LanguageFromEnvironment(), Language::kEnglish);
}

TEST(Language, PickAndCode) {
  EXPECT_EQ(Pick(Language::kJapanese, "はい", "yes"), "はい");
  EXPECT_EQ(Pick(Language::kEnglish, "はい", "yes"), "yes");
  EXPECT_EQ(LanguageCode(Language::kJapanese), "ja");
}

}  // namespace
}  // namespace tsunagu::common
