// SpoolVolumeEncryption against a fake sysfs tree: a plain disk, dm-crypt directly, LVM on LUKS,
// and a device sysfs does not know.
#include "tsunagu/gateway/spool_volume.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "test_util.h"

namespace tsunagu::gateway {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using testing::WriteFile;

class SpoolVolumeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spool_ = dir_.path() / "spool";
    fs::create_directories(spool_);
    struct stat st {};
    ASSERT_EQ(::stat(spool_.c_str(), &st), 0);
    id_ = std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev));
    sys_ = dir_.path() / "sys";
    fs::create_directories(sys_ / "dev" / "block");
  }
  // A device directory under sys/devices, linked from sys/dev/block/<id> when `id` is given.
  fs::path Device(const std::string& name, const std::string& uuid, const std::string& id = "") {
    const fs::path d = sys_ / "devices" / "virtual" / "block" / name;
    fs::create_directories(d / "slaves");
    if (!uuid.empty()) {
      WriteFile(d / "dm" / "uuid", uuid + "\n");
      WriteFile(d / "dm" / "name", name + "-name\n");
    }
    if (!id.empty()) fs::create_directory_symlink(d, sys_ / "dev" / "block" / id);
    return d;
  }

  TempDir dir_;
  fs::path spool_, sys_;
  std::string id_;
};

TEST_F(SpoolVolumeTest, PlainDiskIsNotEncrypted) {
  Device("vda1", "", id_);
  auto v = SpoolVolumeEncryption(spool_, sys_);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_FALSE(v->encrypted);
  EXPECT_EQ(v->device, "vda1");
}

TEST_F(SpoolVolumeTest, DmCryptVolumeIsEncrypted) {
  Device("dm-0", "CRYPT-LUKS2-0123456789abcdef-spool", id_);
  auto v = SpoolVolumeEncryption(spool_, sys_);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(v->encrypted);
  EXPECT_EQ(v->device, "dm-0-name (CRYPT-LUKS2)");
}

TEST_F(SpoolVolumeTest, LvmOnLuksIsEncryptedThroughItsSlaves) {
  const fs::path lvm = Device("dm-1", "LVM-abcdef", id_);
  const fs::path crypt = Device("dm-0", "CRYPT-LUKS2-0123-cryptroot");
  fs::create_directory_symlink(crypt, lvm / "slaves" / "dm-0");
  auto v = SpoolVolumeEncryption(spool_, sys_);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(v->encrypted);
}

TEST_F(SpoolVolumeTest, LvmOnAPlainDiskIsNotEncrypted) {
  const fs::path lvm = Device("dm-1", "LVM-abcdef", id_);
  const fs::path disk = Device("sda2", "");
  fs::create_directory_symlink(disk, lvm / "slaves" / "sda2");
  auto v = SpoolVolumeEncryption(spool_, sys_);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_FALSE(v->encrypted);
}

TEST_F(SpoolVolumeTest, UnknownDeviceIsNotEncryptedAndMissingSpoolIsAnError) {
  auto v = SpoolVolumeEncryption(spool_, sys_);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_FALSE(v->encrypted);
  EXPECT_EQ(v->device, id_);
  EXPECT_EQ(SpoolVolumeEncryption(dir_.path() / "missing", sys_).status().code(),
            common::ErrorCode::kNotFound);
}

}  // namespace
}  // namespace tsunagu::gateway
