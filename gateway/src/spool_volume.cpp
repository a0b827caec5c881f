#include "tsunagu/gateway/spool_volume.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <fstream>

namespace tsunagu::gateway {

namespace fs = std::filesystem;

namespace {

std::string FirstLine(const fs::path& p) {
  std::ifstream in(p);
  std::string line;
  std::getline(in, line);
  return line;
}

// Depth-first through device-mapper slaves; bounded (a stack deeper than 8 is not real).
bool FindCrypt(const fs::path& dev, int depth, std::string* found) {
  if (depth > 8) return false;
  const std::string uuid = FirstLine(dev / "dm" / "uuid");
  if (uuid.rfind("CRYPT-", 0) == 0) {
    const std::string name = FirstLine(dev / "dm" / "name");
    *found = (name.empty() ? dev.filename().string() : name) + " (" +
             uuid.substr(0, uuid.find('-', 6)) + ")";
    return true;
  }
  std::error_code ec;
  for (const auto& slave : fs::directory_iterator(dev / "slaves", ec)) {
    if (FindCrypt(fs::canonical(slave.path(), ec), depth + 1, found)) return true;
  }
  return false;
}

}  // namespace

common::Result<VolumeEncryption> SpoolVolumeEncryption(const fs::path& path,
                                                       const fs::path& sysfs_root) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return common::NotFoundError("spool directory " + path.string() + " does not exist");
  }
  const std::string id = std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev));
  VolumeEncryption out;
  out.device = id;
  std::error_code ec;
  const fs::path dev = fs::canonical(sysfs_root / "dev" / "block" / id, ec);
  if (ec) return out;  // not a block device sysfs knows (tmpfs, overlay, NFS)
  std::string found;
  out.encrypted = FindCrypt(dev, 0, &found);
  out.device = out.encrypted ? found : dev.filename().string();
  return out;
}

}  // namespace tsunagu::gateway
