#include "tsunagu/common/secret_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace tsunagu::common {
namespace {

class SecretFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tsunagu-secret-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path Write(const std::string& name, const std::string& content, mode_t mode) {
    const auto path = dir_ / name;
    std::ofstream(path) << content;
    ::chmod(path.c_str(), mode);
    return path;
  }

  std::filesystem::path dir_;
};

TEST_F(SecretFileTest, ReadsPrivateFileAndTrimsNewline) {
  auto secret = ReadSecretFile(Write("s", "s3cret\n", 0600));
  ASSERT_TRUE(secret.ok()) << secret.status();
  EXPECT_EQ(*secret, "s3cret");
}

TEST_F(SecretFileTest, GroupReadableIsAllowed) {
  EXPECT_TRUE(CheckSecretFilePermissions(Write("s", "x", 0640)).ok());
}

TEST_F(SecretFileTest, RefusesWorldReadableWithTheFix) {
  const auto path = Write("s", "s3cret", 0644);
  Status s = CheckSecretFilePermissions(path);
  EXPECT_EQ(s.code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(
      s.message(),
      path.string() + " is accessible by other users (mode 0644); run: chmod 600 " + path.string());
  EXPECT_EQ(s.message().find("s3cret"), std::string::npos) << "never echo the secret";
}

TEST_F(SecretFileTest, RefusesGroupWritable) {
  Status s = CheckSecretFilePermissions(Write("s", "x", 0660));
  EXPECT_EQ(s.code(), ErrorCode::kPermissionDenied);
  EXPECT_NE(s.message().find("its group (mode 0660)"), std::string::npos) << s.message();
}

TEST_F(SecretFileTest, MissingDirectoryAndEmpty) {
  EXPECT_EQ(ReadSecretFile(dir_ / "none").status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(ReadSecretFile(dir_).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(ReadSecretFile(Write("e", "\n", 0600)).status().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace tsunagu::common
