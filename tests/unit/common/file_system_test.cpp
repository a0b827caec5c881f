#include "tsunagu/common/file_system.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>

namespace tsunagu::common {
namespace {

class LocalFileSystemTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tsunagu-fs-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
  LocalFileSystem fs_;
};

TEST_F(LocalFileSystemTest, WriteAtomicallyThenRead) {
  const auto path = dir_ / "a.bin";
  ASSERT_TRUE(fs_.WriteAtomically(path, std::string("x\0y", 3), std::filesystem::perms(0600)).ok());
  auto content = fs_.ReadFile(path);
  ASSERT_TRUE(content.ok());
  EXPECT_EQ(*content, std::string("x\0y", 3));
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(LocalFileSystemTest, WriteAtomicallyReplacesAndLeavesNoTemporaries) {
  const auto path = dir_ / "a.txt";
  ASSERT_TRUE(fs_.WriteAtomically(path, "old", std::filesystem::perms(0644)).ok());
  ASSERT_TRUE(fs_.WriteAtomically(path, "new", std::filesystem::perms(0644)).ok());
  EXPECT_EQ(*fs_.ReadFile(path), "new");
  int entries = 0;
  for (const auto& unused : std::filesystem::directory_iterator(dir_)) {
    (void)unused;
    ++entries;
  }
  EXPECT_EQ(entries, 1);
}

TEST_F(LocalFileSystemTest, WriteIntoMissingDirectoryFailsCleanly) {
  Status s = fs_.WriteAtomically(dir_ / "missing" / "a", "x", std::filesystem::perms(0600));
  EXPECT_EQ(s.code(), ErrorCode::kNotFound);
}

TEST_F(LocalFileSystemTest, ReadMissingIsNotFound) {
  EXPECT_EQ(fs_.ReadFile(dir_ / "nope").status().code(), ErrorCode::kNotFound);
}

TEST_F(LocalFileSystemTest, RenameAndRemove) {
  ASSERT_TRUE(fs_.WriteAtomically(dir_ / "a", "1", std::filesystem::perms(0600)).ok());
  ASSERT_TRUE(fs_.Rename(dir_ / "a", dir_ / "b").ok());
  EXPECT_FALSE(std::filesystem::exists(dir_ / "a"));
  EXPECT_EQ(*fs_.ReadFile(dir_ / "b"), "1");
  EXPECT_TRUE(fs_.Remove(dir_ / "b").ok());
  EXPECT_TRUE(fs_.Remove(dir_ / "b").ok()) << "removing a missing file is not an error";
}

TEST_F(LocalFileSystemTest, CreateDirectoriesIsPrivateAndIdempotent) {
  const auto deep = dir_ / "x" / "y" / "z";
  ASSERT_TRUE(fs_.CreateDirectories(deep).ok());
  ASSERT_TRUE(fs_.CreateDirectories(deep).ok());
  struct stat st {};
  ASSERT_EQ(::stat(deep.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST_F(LocalFileSystemTest, FreeSpaceIsPositive) {
  auto free = fs_.FreeSpace(dir_);
  ASSERT_TRUE(free.ok());
  EXPECT_GT(*free, 0u);
  EXPECT_FALSE(fs_.FreeSpace(dir_ / "missing").ok());
}

}  // namespace
}  // namespace tsunagu::common
