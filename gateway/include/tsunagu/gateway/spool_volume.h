// Whether the spool (identified data) sits on an encrypted block device.
//
// The gateway does not encrypt spool files itself: DCMTK streams each received data set straight
// to a file and the anonymizer reads it back by path, so application-level encryption would
// still put the plaintext on disk (or in a second temporary file) and add a key to lose. Encryption
// at rest is the volume's job (dm-crypt / LUKS, as config/gateway.example.toml asks); this check
// lets `tsunagu-gateway doctor` tell whether the spool really is on such a volume.
#ifndef TSUNAGU_GATEWAY_SPOOL_VOLUME_H_
#define TSUNAGU_GATEWAY_SPOOL_VOLUME_H_

#include <filesystem>
#include <string>

#include "tsunagu/common/result.h"

namespace tsunagu::gateway {

struct VolumeEncryption {
  bool encrypted = false;
  std::string device;  // e.g. "dm-1 (CRYPT-LUKS2)" or "253:0"; for people
};

// Looks up the block device holding `path` in sysfs (`sysfs_root`/dev/block/MAJOR:MINOR) and
// follows device-mapper stacks (LVM on LUKS) through their slaves: encrypted when a device in
// the chain is a dm-crypt target (dm/uuid starting "CRYPT-"). Errors: kNotFound when `path`
// does not exist. A device sysfs does not describe (overlay, tmpfs, NFS) is "not encrypted".
common::Result<VolumeEncryption> SpoolVolumeEncryption(
    const std::filesystem::path& path, const std::filesystem::path& sysfs_root = "/sys");

}  // namespace tsunagu::gateway

#endif  // TSUNAGU_GATEWAY_SPOOL_VOLUME_H_
