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

constexpr const char* kCtImage = "1.2.840.10008.5.1.4.1.1.2";
constexpr const char* kEnhancedCtImage = "1.2.840.10008.5.1.4.1.1.2.1";
constexpr const char* kDxForPresentation = "1.2.840.10008.5.1.4.1.1.1.1";

TEST(ShareProfile, ResolvesConditionalCodesByIodType) {
  const IodTypes* ct = IodOf(kCtImage);
  const IodTypes* enhanced_ct = IodOf(kEnhancedCtImage);
  const IodTypes* dx = IodOf(kDxForPresentation);
  ASSERT_NE(ct, nullptr);
  ASSERT_NE(enhanced_ct, nullptr);
  ASSERT_NE(dx, nullptr);
  // Operators' Name X/Z/D is Type 3 in General Series: removed in a CT...
  EXPECT_EQ(ShareProfile::Resolve(Action::kXZD, 0x0008, 0x1070, ct), Operation::kRemove);
  // ...and dummied when the IOD is unknown (valid whatever its type).
  EXPECT_EQ(ShareProfile::Resolve(Action::kXZD, 0x0008, 0x1070, nullptr), Operation::kDummy);
  // Device Serial Number is Type 1 in Enhanced General Equipment, 3 in General Equipment.
  EXPECT_EQ(ShareProfile::Resolve(Action::kXZD, 0x0018, 0x1000, enhanced_ct), Operation::kDummy);
  EXPECT_EQ(ShareProfile::Resolve(Action::kXZD, 0x0018, 0x1000, ct), Operation::kRemove);
  // Contrast/Bolus Agent Z/D is Type 2 in the Contrast/Bolus Module: zero length in a CT.
  EXPECT_EQ(ShareProfile::Resolve(Action::kZD, 0x0018, 0x0010, ct), Operation::kZero);
  // X/Z unknown: zero length; Z/D unknown: dummy; X/D unknown: dummy.
  EXPECT_EQ(ShareProfile::Resolve(Action::kXZ, 0x2200, 0x0005, nullptr), Operation::kZero);
  EXPECT_EQ(ShareProfile::Resolve(Action::kZD, 0x0070, 0x0084, nullptr), Operation::kDummy);
  EXPECT_EQ(ShareProfile::Resolve(Action::kXD, 0x0018, 0x700A, nullptr), Operation::kDummy);
  // Detector ID X/D: Type 3 in the DX Detector Module; not part of a CT at all (removable).
  EXPECT_EQ(ShareProfile::Resolve(Action::kXD, 0x0018, 0x700A, dx), Operation::kRemove);
  EXPECT_EQ(ShareProfile::Resolve(Action::kXD, 0x0018, 0x700A, ct), Operation::kRemove);
  // X/Z/U* (only Referenced Image and Source Image Sequence have it): references a viewer
  // needs keep their (mapped) UIDs even where Type 3 would allow removal.
  EXPECT_EQ(ShareProfile::Resolve(Action::kXZU, 0x0008, 0x1140, ct), Operation::kMapUid);
  EXPECT_EQ(ShareProfile::Resolve(Action::kXZU, 0x0008, 0x2112, nullptr), Operation::kMapUid);
  // Referenced Performed Procedure Step Sequence X/Z/D, Type 3 in General Series.
  EXPECT_EQ(ShareProfile::Resolve(Action::kXZD, 0x0008, 0x1111, ct), Operation::kRemove);
}

TEST(ShareProfile, NestedAttributesFollowTheirTypeInsideSequences) {
  const IodTypes* ct = IodOf(kCtImage);
  ASSERT_NE(ct, nullptr);
  // Institution Name is Type 3 at the top level (General Equipment) but Type 1 inside some
  // sequence of the CT IOD's modules: the strictest nested type keeps any such item valid.
  EXPECT_EQ(AttributeType(ct, 0x0008, 0x0080, false), 3);
  EXPECT_EQ(AttributeType(ct, 0x0008, 0x0080, true), 1);
  EXPECT_EQ(ShareProfile::Resolve(Action::kXZD, 0x0008, 0x0080, ct, false), Operation::kRemove);
  EXPECT_EQ(ShareProfile::Resolve(Action::kXZD, 0x0008, 0x0080, ct, true), Operation::kDummy);
  // Referenced Study Sequence: Type 3 inside the Request Attributes Sequence.
  EXPECT_EQ(ShareProfile::Resolve(Action::kXZ, 0x0008, 0x1110, ct, true), Operation::kRemove);
  // An attribute no sequence of the IOD defines: unknown there, so the safe choice.
  EXPECT_EQ(AttributeType(ct, 0x0008, 0x1070, true), 0);
  EXPECT_EQ(ShareProfile::Resolve(Action::kXZD, 0x0008, 0x1070, ct, true), Operation::kDummy);
}

TEST(IodTypes, MapsStorageSopClassesToTheirIod) {
  ASSERT_NE(IodOf(kCtImage), nullptr);
  EXPECT_STREQ(IodOf(kCtImage)->table, "A.3-1");
  EXPECT_STREQ(IodOf(kEnhancedCtImage)->table, "A.38-1");
  EXPECT_STREQ(IodOf("1.2.840.10008.5.1.4.1.1.4")->table, "A.4-1");       // MR Image
  EXPECT_STREQ(IodOf("1.2.840.10008.5.1.4.1.1.6.1")->table, "A.6-1");     // US Image
  EXPECT_STREQ(IodOf("1.2.840.10008.5.1.4.1.1.7")->table, "A.8-1");       // SC Image
  EXPECT_STREQ(IodOf("1.2.840.10008.5.1.4.1.1.128")->table, "A.21.3-1");  // PET Image
  EXPECT_EQ(IodOf("1.2.840.10008.5.1.4.1.1.2.9999"), nullptr);
  EXPECT_EQ(IodOf(""), nullptr);
  // Every attribute list is sorted (binary search), and so are the SOP classes.
  for (const IodTypes& iod : IodTypeTable()) {
    for (std::size_t i = 1; i < iod.count; ++i) {
      EXPECT_LT(iod.attributes[i - 1].tag, iod.attributes[i].tag) << iod.table;
    }
  }
  const auto classes = SopClassIodTable();
  for (std::size_t i = 1; i < classes.size(); ++i) {
    EXPECT_LT(std::string_view(classes[i - 1].sop_class_uid),
              std::string_view(classes[i].sop_class_uid));
  }
}

}  // namespace
}  // namespace tsunagu::anonymizer::internal
