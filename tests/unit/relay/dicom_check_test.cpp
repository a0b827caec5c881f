#include "dicom_check.h"

#include <gtest/gtest.h>

#include "test_instances.h"

namespace tsunagu::relay {
namespace {

using testing::MakeInstanceBytes;

TEST(InspectInstance, AcceptsDeidentifiedInstanceAndDropsPixelDataFromMetadata) {
  const std::string bytes = MakeInstanceBytes("1.2.3", "1.2.3.4");
  ASSERT_FALSE(bytes.empty());
  auto info = InspectInstance(bytes, "1.2.3", "1.2.3.4", 4);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->series_uid, "1.2.3.1");
  EXPECT_EQ(info->metadata_json.front(), '{');
  EXPECT_EQ(info->metadata_json.back(), '}');
  EXPECT_NE(info->metadata_json.find("\"00100020\":{\"vr\":\"LO\",\"Value\":[\"5678\"]}"),
            std::string::npos);
  EXPECT_EQ(info->metadata_json.find("7FE00010"), std::string::npos);
}

TEST(InspectInstance, RefusesWhatIsNotDeidentified) {
  struct Case {
    const char* what;
    std::function<void(DcmDataset*)> edit;
    common::ErrorCode code;
  };
  const std::vector<Case> cases = {
      {"identity not removed",
       [](DcmDataset* d) { d->putAndInsertString(DCM_PatientIdentityRemoved, "NO"); },
       common::ErrorCode::kDeidentificationRefused},
      {"identity flag absent",
       [](DcmDataset* d) { d->findAndDeleteElement(DCM_PatientIdentityRemoved); },
       common::ErrorCode::kDeidentificationRefused},
      {"private tag",
       [](DcmDataset* d) { d->putAndInsertString(DcmTag(0x0029, 0x0010, EVR_LO), "VENDOR"); },
       common::ErrorCode::kDeidentificationRefused},
      {"private tag inside a sequence",
       [](DcmDataset* d) {
         DcmItem* item = nullptr;
         d->findOrCreateSequenceItem(DCM_ReferencedStudySequence, item, -2);
         item->putAndInsertString(DcmTag(0x0029, 0x1001, EVR_LO), "x");
       },
       common::ErrorCode::kDeidentificationRefused},
      {"full patient ID", [](DcmDataset* d) { d->putAndInsertString(DCM_PatientID, "12345678"); },
       common::ErrorCode::kDeidentificationRefused},
      {"study UID differs from the URL",
       [](DcmDataset* d) { d->putAndInsertString(DCM_StudyInstanceUID, "9.9.9"); },
       common::ErrorCode::kInvalidArgument},
  };
  for (const auto& c : cases) {
    auto info =
        InspectInstance(MakeInstanceBytes("1.2.3", "1.2.3.4", 1, c.edit), "1.2.3", "1.2.3.4", 4);
    EXPECT_EQ(info.status().code(), c.code) << c.what << ": " << info.status();
    // The message names the rule, never the value.
    EXPECT_EQ(info.status().message().find("12345678"), std::string::npos);
  }
  EXPECT_EQ(InspectInstance("not dicom at all", "1.2.3", "1.2.3.4", 4).status().code(),
            common::ErrorCode::kInvalidArgument);
  EXPECT_EQ(
      InspectInstance(MakeInstanceBytes("1.2.3", "1.2.3.4"), "1.2.3", "1.2.3.5", 4).status().code(),
      common::ErrorCode::kInvalidArgument);
}

TEST(ExtractFrames, ReturnsTheRequestedFramesOfANativeMultiFrame) {
  const std::string bytes = MakeInstanceBytes("1.2.3", "1.2.3.4", 3);
  auto frames = ExtractFrames(bytes, {3, 1});
  ASSERT_TRUE(frames.ok()) << frames.status();
  ASSERT_EQ(frames->frames.size(), 2u);
  EXPECT_EQ(frames->frames[0], testing::FramePixels(2));
  EXPECT_EQ(frames->frames[1], testing::FramePixels(0));
  EXPECT_EQ(frames->series_uid, "1.2.3.1");
  EXPECT_FALSE(frames->encapsulated);
  auto all = ExtractFrames(bytes, {});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->frames.size(), 3u);
  EXPECT_EQ(ExtractFrames(bytes, {4}).status().code(), common::ErrorCode::kNotFound);
  EXPECT_EQ(ExtractFrames(bytes, {0}).status().code(), common::ErrorCode::kNotFound);
}

}  // namespace
}  // namespace tsunagu::relay
