#include "identity.h"

#include <gtest/gtest.h>

#include "charset.h"
#include "engine.h"

namespace tsunagu::anonymizer::internal {
namespace {

std::vector<Token> TokensOf(DcmDataset& ds, bool raw) {
  Identity identity;
  identity.Collect(ds, raw);
  return identity.tokens();
}

bool Has(const std::vector<Token>& tokens, std::string_view bytes) {
  for (const Token& t : tokens) {
    if (t.bytes == bytes) return true;
  }
  return false;
}

TEST(Identity, CollectsNameComponentsIdsAndDatesAtAnyDepth) {
  DcmDataset ds;
  ds.putAndInsertString(DCM_PatientName, "Yamada^Tarou^^Dr");
  ds.putAndInsertString(DCM_PatientID, "PID-12345678");
  ds.putAndInsertString(DCM_PatientBirthDate, "19610405");
  DcmItem* item = nullptr;
  ASSERT_TRUE(ds.findOrCreateSequenceItem(DCM_RequestAttributesSequence, item, -2).good());
  item->putAndInsertString(DCM_RequestedProcedureID, "RP-998877");
  item->putAndInsertString(DCM_ScheduledPerformingPhysicianName, "Suzuki^Ichiro");
  const auto tokens = TokensOf(ds, false);
  for (const char* expected : {"Yamada^Tarou^^Dr", "Yamada", "Tarou", "Dr", "PID-12345678",
                               "19610405", "1961-04-05", "RP-998877", "Suzuki"}) {
    EXPECT_TRUE(Has(tokens, expected)) << expected;
  }
}

TEST(Identity, SplitsIso2022OnlyOutsideMultiByteRuns) {
  // 山田^太郎 in ISO 2022 IR 87: ESC $ B, two-byte codes (which may contain '^' = 0x5E bytes
  // in other names), ESC ( B before each delimiter.
  const std::string raw =
      "Yamada^Tarou=\x1B$B;3ED\x1B(B^\x1B$BB@O:\x1B(B=\x1B$B$d$^$@\x1B(B^\x1B$B$?$m$&\x1B(B";
  DcmDataset ds;
  ds.putAndInsertString(DCM_SpecificCharacterSet, "\\ISO 2022 IR 87");
  ds.putAndInsertString(DCM_PatientName, raw.c_str());
  const auto tokens = TokensOf(ds, true);
  EXPECT_TRUE(Has(tokens, "\x1B$B;3ED\x1B(B"));  // 山田 with its escapes
  EXPECT_TRUE(Has(tokens, ";3ED"));              // the bare JIS bytes (two characters)
  EXPECT_TRUE(Has(tokens, "$d$^$@"));            // やまだ: contains 0x5E, not a delimiter here
  EXPECT_FALSE(Has(tokens, "$d$"));              // would be a wrong split at the '^' byte
}

TEST(Identity, RemoveTokensCleansDescriptors) {
  std::vector<Token> tokens = {{"Yamada", "", true, false, {}},
                               {"\xE5\xB1\xB1\xE7\x94\xB0", "", false, false, {}},  // 山田
                               {"Li", "", true, false, {}}};
  EXPECT_EQ(RemoveTokens("CT chest YAMADA follow-up", tokens), "CT chest follow-up");
  EXPECT_EQ(RemoveTokens("\xE5\xB1\xB1\xE7\x94\xB0 CT", tokens), "CT");
  // Short ASCII tokens only as whole words.
  EXPECT_EQ(RemoveTokens("Lipid study Li", tokens), "Lipid study");
  EXPECT_TRUE(ContainsToken("x li y", tokens[2]));
  EXPECT_FALSE(ContainsToken("lipid", tokens[2]));
}

TEST(AgeString, ComputesPs35AgeFromDates) {
  EXPECT_EQ(AgeString("19610405", "20240101"), "062Y");
  EXPECT_EQ(AgeString("19610405", "20240405"), "063Y");
  EXPECT_EQ(AgeString("20230601", "20240101"), "007M");
  EXPECT_EQ(AgeString("20240101", "20240120"), "019D");
  EXPECT_EQ(AgeString("20240101", "20240215"), "001M");
  EXPECT_EQ(AgeString("20240301", "20240101"), "");
  EXPECT_EQ(AgeString("garbage", "20240101"), "");
}

}  // namespace
}  // namespace tsunagu::anonymizer::internal

namespace tsunagu::anonymizer::internal {
namespace {

TEST(Charset, RecognisesJapaneseIso2022Terms) {
  EXPECT_TRUE(IsIso2022Japanese("\\ISO 2022 IR 87"));
  EXPECT_TRUE(IsIso2022Japanese("ISO 2022 IR 13\\ISO 2022 IR 87"));
  EXPECT_TRUE(IsIso2022Japanese("ISO 2022 IR 6\\ISO 2022 IR 87\\ISO 2022 IR 159"));
  EXPECT_FALSE(IsIso2022Japanese("ISO_IR 100"));
  EXPECT_FALSE(IsIso2022Japanese("\\ISO 2022 IR 149"));
  EXPECT_FALSE(IsIso2022Japanese("ISO_IR 192"));
}

TEST(Charset, DecodesIso2022Ir87AndHalfWidthKatakana) {
  // Yamada^Tarou=山田^太郎
  EXPECT_EQ(DecodeIso2022Japanese("Yamada^Tarou=\x1B$B;3ED\x1B(B^\x1B$BB@O:\x1B(B", false),
            "Yamada^Tarou=\xE5\xB1\xB1\xE7\x94\xB0^\xE5\xA4\xAA\xE9\x83\x8E");
  // ISO 2022 IR 13 first: ｳ (0xB3) is half-width katakana U+FF73.
  EXPECT_EQ(DecodeIso2022Japanese("\xB3", true), "\xEF\xBD\xB3");
  EXPECT_EQ(DecodeIso2022Japanese("\xB3", false), std::nullopt);
  EXPECT_EQ(DecodeIso2022Japanese("\x1B$Z", false), std::nullopt);   // unknown escape
  EXPECT_EQ(DecodeIso2022Japanese("\x1B$B;", false), std::nullopt);  // truncated pair
}

}  // namespace
}  // namespace tsunagu::anonymizer::internal
