// The compiled-in DCMTK dictionary must hold exactly what DCMTK loads from its default files.
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdicent.h>
#include <dcmtk/dcmdata/dcdict.h>
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "builtin_dictionary_table.h"

namespace tsunagu::anonymizer::internal {
namespace {

std::string_view Str(const char* s) { return s == nullptr ? std::string_view() : s; }

void ExpectSame(const DcmDictEntry& a, const DcmDictEntry& b) {
  const std::string tag(Str(a.getTagName()));
  EXPECT_EQ(a.getUpperKey(), b.getUpperKey()) << tag;
  EXPECT_EQ(a.getGroupRangeRestriction(), b.getGroupRangeRestriction()) << tag;
  EXPECT_EQ(a.getElementRangeRestriction(), b.getElementRangeRestriction()) << tag;
  EXPECT_EQ(a.getEVR(), b.getEVR()) << tag;
  EXPECT_EQ(a.getVMMin(), b.getVMMin()) << tag;
  EXPECT_EQ(a.getVMMax(), b.getVMMax()) << tag;
  EXPECT_EQ(Str(a.getTagName()), Str(b.getTagName())) << tag;
  EXPECT_EQ(Str(a.getStandardVersion()), Str(b.getStandardVersion())) << tag;
  EXPECT_EQ(Str(a.getPrivateCreator()), Str(b.getPrivateCreator())) << tag;
}

TEST(BuiltInDictionary, EqualsTheDefaultDictionaryFiles) {
  EXPECT_STREQ(kBuiltInDictionarySource, DCM_DICT_DEFAULT_PATH);
  DcmDataDictionary files(OFFalse, OFFalse);
  const std::string paths = DCM_DICT_DEFAULT_PATH;
  for (std::size_t start = 0; start <= paths.size();) {
    std::size_t end = paths.find(ENVIRONMENT_PATH_SEPARATOR, start);
    if (end == std::string::npos) end = paths.size();
    const std::string path = paths.substr(start, end - start);
    if (!path.empty()) {
      ASSERT_TRUE(files.loadDictionary(path.c_str(), OFTrue)) << path;
    }
    start = end + 1;
  }
  DcmDataDictionary built(OFFalse, OFFalse);
  AddBuiltInEntries(built);
  ASSERT_GT(files.numberOfNormalTagEntries(), 4000);
  EXPECT_EQ(built.numberOfNormalTagEntries(), files.numberOfNormalTagEntries());
  EXPECT_EQ(built.numberOfRepeatingTagEntries(), files.numberOfRepeatingTagEntries());
  for (auto it = files.normalBegin(); it != files.normalEnd(); ++it) {
    const DcmDictEntry& want = **it;
    const DcmDictEntry* got = built.findEntry(want.getKey(), want.getPrivateCreator());
    ASSERT_NE(got, nullptr) << Str(want.getTagName());
    ExpectSame(*got, want);
  }
  auto got = built.repeatingBegin();
  for (auto it = files.repeatingBegin(); it != files.repeatingEnd(); ++it, ++got) {
    ASSERT_NE(got, built.repeatingEnd());
    ExpectSame(**got, **it);
  }
  // A few lookups through the repeating ranges (overlays, curves) and a private creator.
  const DcmDictEntry* overlay = built.findEntry(DcmTagKey(0x6002, 0x3000), nullptr);
  ASSERT_NE(overlay, nullptr);
  EXPECT_EQ(Str(overlay->getTagName()), "OverlayData");
  EXPECT_EQ(built.findEntry(DcmTagKey(0x6001, 0x3000), nullptr), nullptr);  // odd: private
}

}  // namespace
}  // namespace tsunagu::anonymizer::internal
