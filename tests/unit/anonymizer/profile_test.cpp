#include "profile.h"

#include <gtest/gtest.h>

#include "profile_table.h"

namespace tsunagu::anonymizer::internal {
namespace {

TEST(ProfileTable, HasEveryRowOfEdition2024e) {
  EXPECT_EQ(ProfileRows().size(), 621u);
  EXPECT_STREQ(ProfileTableEdition(), "2024e");
}

TEST(ShareProfile, FindsExactAndWildcardRows) {
  ShareProfile profile;
  const ProfileRow* name = profile.Find(0x0010, 0x0010);
  ASSERT_NE(name, nullptr);
  EXPECT_EQ(name->basic, Action::kZ);
  const ProfileRow* curve = profile.Find(0x5002, 0x3000);
  ASSERT_NE(curve, nullptr);
  EXPECT_EQ(curve->basic, Action::kX);
  const ProfileRow* overlay = profile.Find(0x6004, 0x3000);
  ASSERT_NE(overlay, nullptr);
  EXPECT_EQ(overlay->basic, Action::kX);
  EXPECT_EQ(profile.Find(0x0028, 0x0010), nullptr);  // Rows: not listed, kept
}

TEST(ShareProfile, AppliesTheThreeOptions) {
  ShareProfile profile;
  // Retain Longitudinal Temporal Information with Full Dates: Study Date Z -> K.
  EXPECT_EQ(ShareProfile::EffectiveAction(*profile.Find(0x0008, 0x0020)), Action::kK);
  // Retain Patient Characteristics: Patient's Age X -> K, Patient's Sex Z -> K.
  EXPECT_EQ(ShareProfile::EffectiveAction(*profile.Find(0x0010, 0x1010)), Action::kK);
  EXPECT_EQ(ShareProfile::EffectiveAction(*profile.Find(0x0010, 0x0040)), Action::kK);
  // Clean Descriptors: Study Description X -> C.
  EXPECT_EQ(ShareProfile::EffectiveAction(*profile.Find(0x0008, 0x1030)), Action::kC);
  // Not applied: Retain Institution Identity (Institution Name stays X/Z/D).
  EXPECT_EQ(ShareProfile::EffectiveAction(*profile.Find(0x0008, 0x0080)), Action::kXZD);
  // Not applied: Retain UIDs.
  EXPECT_EQ(ShareProfile::EffectiveAction(*profile.Find(0x0008, 0x0018)), Action::kU);
}

TEST(ShareProfile, ResolvesConditionalCodesByIodType) {
  // Operators' Name X/Z/D is Type 3 in General Series: removed in a CT...
  EXPECT_EQ(ShareProfile::Resolve(Action::kXZD, 0x0008, 0x1070, IodKind::kClassicImage),
            Operation::kRemove);
  // ...and dummied when the IOD is unknown (valid whatever its type).
  EXPECT_EQ(ShareProfile::Resolve(Action::kXZD, 0x0008, 0x1070, IodKind::kUnknown),
            Operation::kDummy);
  // Device Serial Number is Type 1 in Enhanced General Equipment.
  EXPECT_EQ(ShareProfile::Resolve(Action::kXZD, 0x0018, 0x1000, IodKind::kEnhancedImage),
            Operation::kDummy);
  EXPECT_EQ(ShareProfile::Resolve(Action::kXZD, 0x0018, 0x1000, IodKind::kClassicImage),
            Operation::kRemove);
  // X/Z unknown: zero length; Z/D unknown: dummy; X/D unknown: dummy.
  EXPECT_EQ(ShareProfile::Resolve(Action::kXZ, 0x2200, 0x0005, IodKind::kUnknown),
            Operation::kZero);
  EXPECT_EQ(ShareProfile::Resolve(Action::kZD, 0x0070, 0x0084, IodKind::kUnknown),
            Operation::kDummy);
  EXPECT_EQ(ShareProfile::Resolve(Action::kXD, 0x0018, 0x700A, IodKind::kUnknown),
            Operation::kDummy);
  EXPECT_EQ(ShareProfile::Resolve(Action::kXD, 0x0018, 0x700A, IodKind::kClassicImage),
            Operation::kRemove);
  // X/Z/U*: references a viewer needs keep their (mapped) UIDs; others by type.
  EXPECT_EQ(ShareProfile::Resolve(Action::kXZU, 0x0008, 0x1140, IodKind::kClassicImage),
            Operation::kMapUid);
  EXPECT_EQ(ShareProfile::Resolve(Action::kXZU, 0x0008, 0x1140, IodKind::kUnknown),
            Operation::kMapUid);
}

TEST(IodKind, ClassifiesSopClasses) {
  EXPECT_EQ(IodKindOf("1.2.840.10008.5.1.4.1.1.2"), IodKind::kClassicImage);
  EXPECT_EQ(IodKindOf("1.2.840.10008.5.1.4.1.1.2.1"), IodKind::kEnhancedImage);
  EXPECT_EQ(IodKindOf("1.2.840.10008.5.1.4.1.1.88.11"), IodKind::kUnknown);
}

}  // namespace
}  // namespace tsunagu::anonymizer::internal
