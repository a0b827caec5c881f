#include "tsunagu/config/anonymizer_config.h"

#include <gtest/gtest.h>

#include <string>

#include "config_test_util.h"

namespace tsunagu::config {
namespace {

class AnonymizerConfigTest : public testing::ConfigDir {
 protected:
  common::Result<AnonymizerOptions> Load(const std::string& text) {
    path_ = WriteFile("anonymizer.toml", text);
    return LoadAnonymizerConfig(path_);
  }
  std::string Msg(const std::string& rest) const { return path_.string() + ": " + rest; }
  std::filesystem::path path_;
};

TEST_F(AnonymizerConfigTest, DefaultsWithoutSecretFile) {
  auto o = Load("[anonymizer]\n");
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->profile, "share");
  EXPECT_EQ(o->patient_id_keep, 4);
  EXPECT_TRUE(o->secret_file.empty());
  EXPECT_TRUE(o->safe_private.empty());
  EXPECT_TRUE(o->pixel_mask.empty());
}

TEST_F(AnonymizerConfigTest, ReadsSafePrivateAndPixelMaskRules) {
  auto o = Load(R"(
[anonymizer]
secret_file = "secret"
patient_id_keep = 6
[[anonymizer.safe_private]]
group = 0x0019
creator = "GEMS_ACQU_01"
element = 0x23
[[anonymizer.pixel_mask]]
manufacturer = "ACME"
model = "Sono 5"
rows = 480
columns = 640
rectangles = ["0,0,640,48", " 10, 400 , 200,480"]
)");
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->secret_file, dir_ / "secret");
  EXPECT_EQ(o->patient_id_keep, 6);
  ASSERT_EQ(o->safe_private.size(), 1u);
  EXPECT_EQ(o->safe_private[0].group, 0x0019);
  EXPECT_EQ(o->safe_private[0].creator, "GEMS_ACQU_01");
  EXPECT_EQ(o->safe_private[0].element, 0x23);
  ASSERT_EQ(o->pixel_mask.size(), 1u);
  EXPECT_EQ(o->pixel_mask[0].manufacturer, "ACME");
  EXPECT_EQ(o->pixel_mask[0].rows, 480u);
  ASSERT_EQ(o->pixel_mask[0].rectangles.size(), 2u);
  EXPECT_EQ(o->pixel_mask[0].rectangles[1], (std::array<std::uint32_t, 4>{10, 400, 200, 480}));
}

TEST_F(AnonymizerConfigTest, ReportsEveryProblemExactly) {
  auto o = Load(R"(
[anonymizer]
patient_id_keep = 9
[[anonymizer.safe_private]]
group = 0x0018
creator = "X"
element = 1
[[anonymizer.pixel_mask]]
rectangles = ["10,10,5,20"]
colour = "red"
)");
  ASSERT_FALSE(o.ok());
  const std::string m = o.status().message();
  EXPECT_NE(m.find(Msg("anonymizer.patient_id_keep:")), std::string::npos) << m;
  EXPECT_NE(m.find("expected an odd (private) group, got 24"), std::string::npos) << m;
  EXPECT_NE(m.find("expected \"left,top,right,bottom\" with right > left and bottom > top, got "
                   "\"10,10,5,20\""),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("colour"), std::string::npos) << m;
}

TEST_F(AnonymizerConfigTest, MissingTableIsAnError) {
  auto o = Load("profile = \"share\"\n");
  ASSERT_FALSE(o.ok());
  EXPECT_NE(o.status().message().find("expected an [anonymizer] table"), std::string::npos);
}

TEST_F(AnonymizerConfigTest, WorldReadableSecretFileIsRefused) {
  WriteFile("open-secret", "s\n", 0644);
  auto o = Load("[anonymizer]\nsecret_file = \"open-secret\"\n");
  ASSERT_FALSE(o.ok());
  EXPECT_NE(o.status().message().find("anonymizer.secret_file"), std::string::npos);
}

}  // namespace
}  // namespace tsunagu::config
