// De-identification of DICOM instances for sharing outside the hospital (PS3.15 Annex E).
//
// A Deidentifier applies one profile (today: "share", the Basic Application Level Confidentiality
// Profile of PS3.15 Table E.1-1 with the Retain Longitudinal Temporal Information with Full Dates,
// Retain Patient Characteristics and Clean Descriptors options), keeps the last
// `patient_id_keep` characters of the Patient ID on purpose, maps UIDs with HMAC-SHA-256 under the
// site secret, refuses instances with burned-in text unless a pixel mask rule matches, and
// verifies every output before it is written. This header never includes DCMTK.
#ifndef TSUNAGU_ANONYMIZER_DEIDENTIFIER_H_
#define TSUNAGU_ANONYMIZER_DEIDENTIFIER_H_

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tsunagu/common/result.h"

namespace tsunagu::anonymizer {

// A private attribute that may be kept (Retain Safe Private Option, PS3.15 E.3.10): identified by
// its private creator and the low byte of its element number, in a given odd group.
struct SafePrivateAttribute {
  std::uint16_t group = 0;      // odd
  std::string private_creator;  // value of the (gggg,00xx) creator element, exact match
  std::uint8_t element = 0;     // low byte of the element number (0x00-0xFF)
  friend bool operator==(const SafePrivateAttribute&, const SafePrivateAttribute&) = default;
};

// An area of the image to black out, in pixels, 0-based, inclusive-exclusive.
struct MaskRectangle {
  std::uint32_t left = 0, top = 0, right = 0, bottom = 0;
  friend bool operator==(const MaskRectangle&, const MaskRectangle&) = default;
};

// Burned-in text masking (like RSNA CTP's pixel anonymizer): a rule matches an instance when every
// non-empty criterion equals the instance's value (Manufacturer, Manufacturer's Model Name
// compared exactly; rows and columns when non-zero).
struct PixelMaskRule {
  std::string manufacturer;
  std::string model;
  std::uint32_t rows = 0;
  std::uint32_t columns = 0;
  std::vector<MaskRectangle> rectangles;
};

struct ProfileOptions {  // built by the caller from config::AnonymizerOptions
  std::string profile = "share";
  int patient_id_keep = 4;  // 0..8 characters of the Patient ID kept on purpose
  std::string site_secret;  // bytes of the secret file; must not be empty
  // Site-secret rotation (docs/operations.md): when not empty, the patient key is computed under
  // each of these secrets instead of site_secret, the first giving InstanceSummary::patient_key
  // and the others InstanceSummary::previous_patient_keys, in order. UIDs always use site_secret.
  std::vector<std::string> patient_key_secrets;
  std::vector<SafePrivateAttribute> safe_private;
  std::vector<PixelMaskRule> pixel_mask_rules;
};

struct InstanceSummary {  // de-identified values only, safe to show and log
  std::string sop_instance_uid, series_instance_uid, study_instance_uid, sop_class_uid;
  std::string patient_id_suffix, modality, body_part, study_description, series_description;
  std::string study_date, study_time;
  // Lower-case hex HMAC-SHA-256 under the site secret of Issuer of Patient ID + U+001F + Patient
  // ID (the original values, trimmed): the same patient always gives the same key, which cannot be
  // reversed without the secret. Stays in the hospital (the gateway routes per-patient chat
  // threads by it, chat::PatientKey); empty when the instance has no Patient ID.
  std::string patient_key;
  // The same key under ProfileOptions::patient_key_secrets[1...] (retired site secrets), so that
  // a patient's room found under an older secret is kept; empty without them.
  std::vector<std::string> previous_patient_keys;
  std::uint64_t bytes_written = 0;
};

// An output written and verified under a temporary name in its output directory (a dot-file
// ending in .tmp), not yet visible under its final name. Destroying it unpublished removes the
// temporary file. Move-only.
class PendingInstance {
 public:
  PendingInstance(PendingInstance&& other) noexcept;
  PendingInstance& operator=(PendingInstance&& other) noexcept;
  PendingInstance(const PendingInstance&) = delete;
  PendingInstance& operator=(const PendingInstance&) = delete;
  ~PendingInstance();

  const InstanceSummary& summary() const { return summary_; }

 private:
  friend class Deidentifier;
  PendingInstance() = default;
  void Discard();

  InstanceSummary summary_;
  std::filesystem::path temp_path_;
  std::filesystem::path final_path_;
  bool owned_ = false;
};

class Deidentifier {
 public:
  // kInvalidArgument for an unknown profile, an empty secret, patient_id_keep outside 0..8, a
  // safe-private entry with an even group or an empty creator, or a mask rule without
  // rectangles.
  static common::Result<std::unique_ptr<Deidentifier>> Create(ProfileOptions options);

  virtual ~Deidentifier();
  Deidentifier(const Deidentifier&) = delete;
  Deidentifier& operator=(const Deidentifier&) = delete;

  // Reads a DICOM file, de-identifies and verifies it, writes it atomically as
  // output_dir/<new SOP Instance UID>.dcm (temporary name, fsync, rename, fsync of the directory)
  // and returns its summary. Errors:
  //  - kDeidentificationRefused when it will not release the instance (burned-in text without a
  //    matching mask rule, a value that survived de-identification, a missing SOP Instance UID,
  //    an encapsulated document, text that cannot be decoded with its Specific Character Set);
  //    the reason never contains an identifying value;
  //  - kInvalidArgument for unreadable or malformed input;
  //  - kDiskFull / kPermissionDenied / kInternal when the output cannot be written.
  // Nothing is left in output_dir on error. After a crash, hidden ".*.tmp" files may remain in
  // output_dir: they never carry a final name and may be deleted at start-up. Thread-safe: may
  // be called concurrently.
  common::Result<InstanceSummary> DeidentifyFile(const std::filesystem::path& input,
                                                 const std::filesystem::path& output_dir) const;

  // The first half of DeidentifyFile for batches: de-identifies, writes and verifies the output
  // under a temporary name without flushing it. Same errors as DeidentifyFile. Thread-safe.
  common::Result<PendingInstance> DeidentifyToTemporary(
      const std::filesystem::path& input, const std::filesystem::path& output_dir) const;

  // How Publish makes outputs durable.
  enum class Durability {
    // One flush of each output file system (syncfs) before the renames, one fsync of each
    // directory after: after a crash of the program or of the machine (power loss), a final
    // name holds a complete, verified file or does not exist.
    kFlushed,
    // Renames only, no flush (like `cp`): a crash of the program still never leaves a partial
    // file under a final name; after a power loss the file system may. For benchmarks and for
    // outputs that are re-created from their inputs anyway.
    kRenameOnly,
  };

  // The second half: makes every pending output durable as `durability` says, then renames
  // each to <new SOP Instance UID>.dcm. On error the outputs not yet renamed are removed.
  // Thread-safe for distinct vectors.
  static common::Status Publish(std::vector<PendingInstance>& pending,
                                Durability durability = Durability::kFlushed);

  // Runs `fn` on `threads` new threads and waits for them all. Each thread has a stack large
  // enough for deeply nested input, so DeidentifyFile and DeidentifyToTemporary called on it run
  // right there instead of starting a thread of their own for every file (as they do when called
  // from any other thread). For callers that process many files in parallel.
  // kResourceExhausted when a thread cannot be started (those started still run to the end).
  static common::Status RunWorkers(unsigned threads, const std::function<void()>& fn);

  // The HMAC-SHA-256 mapping of a UID (2.25.<decimal>), as applied to every U attribute. The same
  // secret always gives the same mapping; it cannot be reversed without the secret.
  std::string MapUid(std::string_view uid) const;

 private:
  struct Impl;
  explicit Deidentifier(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tsunagu::anonymizer

#endif  // TSUNAGU_ANONYMIZER_DEIDENTIFIER_H_
