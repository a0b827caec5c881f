#include "tsunagu/anonymizer/deidentifier.h"

#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcostrmb.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <set>
#include <system_error>
#include <utility>
#include <vector>

#include "charset.h"
#include "dcmtk_bridge.h"
#include "engine.h"
#include "identity.h"
#include "nesting_guard.h"
#include "pixel_copy.h"
#include "pixel_mask.h"
#include "profile.h"
#include "tsunagu/common/crypto.h"
#include "tsunagu/common/file_system.h"
#include "verifier.h"

namespace tsunagu::anonymizer {

using common::Result;
using common::Status;
using namespace internal;

namespace {

// Values above this many bytes stay in the file until needed (pixel data is read once, while the
// output is written): memory stays bounded by one copy of the largest element.
constexpr Uint32 kMaxReadLength = 4096;

constexpr std::string_view kEncapsulatedDocumentRoot = "1.2.840.10008.5.1.4.1.1.104.";

// 2.25.<decimal of the first 128 bits> (PS3.5 B.2: a UUID-derived UID; at most 44 characters).
std::string UidFromDigest(const common::Digest256& digest) {
  std::uint8_t n[16];
  std::copy(digest.begin(), digest.begin() + 16, n);
  std::string digits;
  bool zero = false;
  while (!zero) {
    unsigned remainder = 0;
    zero = true;
    for (std::uint8_t& byte : n) {
      const unsigned value = remainder * 256u + byte;
      byte = static_cast<std::uint8_t>(value / 10u);
      remainder = value % 10u;
      if (byte != 0) zero = false;
    }
    digits.insert(digits.begin(), static_cast<char>('0' + remainder));
  }
  return "2.25." + digits;
}

Status FsyncFile(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return common::StatusFromErrno(errno, "open output for fsync");
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return common::StatusFromErrno(err, "fsync output");
  return Status::Ok();
}

// The written file starts with 128 zero bytes and "DICM".
Status VerifyPreamble(const std::filesystem::path& path) {
  char head[132] = {};
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return common::StatusFromErrno(errno, "re-reading the output");
  const std::size_t n = std::fread(head, 1, sizeof(head), f);
  std::fclose(f);
  if (n != sizeof(head) || std::memcmp(head + 128, "DICM", 4) != 0 ||
      std::any_of(head, head + 128, [](char c) { return c != 0; })) {
    return common::DeidentificationRefusedError("verification failed: file preamble not empty");
  }
  return Status::Ok();
}

// `file` as DICOM Part 10 bytes (preamble, meta header, dataset), as saveFile would write them.
Result<std::string> Serialize(DcmFileFormat& file, E_TransferSyntax xfer) {
  std::string out;
  constexpr std::size_t kChunk = 64 * 1024;
  const std::unique_ptr<char[]> chunk(new char[kChunk]);  // not zeroed: DCMTK writes it first
  DcmOutputBufferStream stream(chunk.get(), static_cast<offile_off_t>(kChunk));
  file.transferInit();
  OFCondition cond = EC_StreamNotifyClient;
  while (cond == EC_StreamNotifyClient) {
    cond = file.write(stream, xfer, EET_ExplicitLength, nullptr, EGL_withoutGL, EPD_noChange, 0, 0,
                      0, EWM_fileformat);
    void* data = nullptr;
    offile_off_t length = 0;
    stream.flushBuffer(data, length);
    if (length > 0) out.append(static_cast<const char*>(data), static_cast<std::size_t>(length));
  }
  file.transferEnd();
  TSUNAGU_RETURN_IF_ERROR(
      StatusFromOFCondition(cond, "writing the output failed", common::ErrorCode::kInternal));
  return out;
}

// Parses `bytes` (a whole Part 10 file but for its pixel data) as a reader would and verifies
// what it finds: preamble, meta header and dataset.
Status VerifySerialized(std::string_view bytes, const Identity& identity,
                        const std::set<std::string>& original_uids, const ProfileOptions& options,
                        const ShareProfile& profile) {
  if (bytes.size() < 132 || bytes.substr(128, 4) != "DICM" ||
      std::any_of(bytes.begin(), bytes.begin() + 128, [](char c) { return c != 0; })) {
    return common::DeidentificationRefusedError("verification failed: file preamble not empty");
  }
  DcmInputBufferStream stream;
  stream.setBuffer(bytes.data(), static_cast<offile_off_t>(bytes.size()));
  stream.setEos();
  DcmFileFormat parsed;
  parsed.transferInit();
  const OFCondition cond = parsed.read(stream, EXS_Unknown, EGL_noChange, DCM_MaxReadLength);
  parsed.transferEnd();
  stream.releaseBuffer();
  TSUNAGU_RETURN_IF_ERROR(
      StatusFromOFCondition(cond, "re-reading the output failed", common::ErrorCode::kInternal));
  if (!stream.eos()) {
    return common::InternalError("re-reading the output failed: bytes left over");
  }
  return VerifyOutput(parsed, identity, original_uids, options, profile);
}

// Creates `path` holding `head` then the input's bytes `tail`.
Status WriteOutput(std::string_view head, const std::filesystem::path& input, const PixelTail& tail,
                   const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) return common::StatusFromErrno(errno, "create output");
  Status status = Status::Ok();
  for (std::size_t done = 0; done < head.size() && status.ok();) {
    const ssize_t n = ::write(fd, head.data() + done, head.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      status = common::StatusFromErrno(n < 0 ? errno : ENOSPC, "write output");
    } else {
      done += static_cast<std::size_t>(n);
    }
  }
  if (status.ok()) status = AppendPixelTailToFd(input, tail, fd);
  if (::close(fd) != 0 && status.ok()) status = common::StatusFromErrno(errno, "close output");
  return status;
}

}  // namespace

struct Deidentifier::Impl {
  ProfileOptions options;
  ShareProfile profile;

  std::string MapUid(std::string_view uid) const {
    uid = TrimPadding(uid);
    // Study, Series and Frame of Reference UIDs repeat in every instance of a series, and an
    // instance's own UID comes twice (meta header and dataset): the last mappings are kept in
    // memory for this run (never written anywhere), bounded by clearing when full.
    {
      std::lock_guard<std::mutex> lock(uid_cache_mutex);
      if (auto it = uid_cache.find(uid); it != uid_cache.end()) return it->second;
    }
    std::string mapped = UidFromDigest(common::HmacSha256(options.site_secret, uid));
    std::lock_guard<std::mutex> lock(uid_cache_mutex);
    if (uid_cache.size() >= kUidCacheEntries) uid_cache.clear();
    uid_cache.emplace(std::string(uid), mapped);
    return mapped;
  }

  static constexpr std::size_t kUidCacheEntries = 4096;
  mutable std::mutex uid_cache_mutex;
  mutable std::map<std::string, std::string, std::less<>> uid_cache;

  Result<PendingInstance> Run(const std::filesystem::path& input,
                              const std::filesystem::path& output_dir) const;
};

Deidentifier::Deidentifier(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Deidentifier::~Deidentifier() = default;

Result<std::unique_ptr<Deidentifier>> Deidentifier::Create(ProfileOptions options) {
  if (options.profile != "share") {
    return common::InvalidArgumentError("unknown de-identification profile \"" + options.profile +
                                        "\" (known: share)");
  }
  if (options.site_secret.empty()) return common::InvalidArgumentError("the site secret is empty");
  if (options.patient_id_keep < 0 || options.patient_id_keep > 8) {
    return common::InvalidArgumentError("patient_id_keep must be from 0 to 8");
  }
  for (const SafePrivateAttribute& s : options.safe_private) {
    if (s.group % 2 == 0 || s.private_creator.empty()) {
      return common::InvalidArgumentError(
          "a safe private attribute needs an odd group and a private creator");
    }
  }
  for (const PixelMaskRule& rule : options.pixel_mask_rules) {
    if (rule.rectangles.empty()) {
      return common::InvalidArgumentError("a pixel mask rule has no rectangles");
    }
  }
  if (!dcmDataDict.isDictionaryLoaded()) {
    return common::FailedPreconditionError(
        "the DICOM data dictionary is not loaded (check DCMDICTPATH)");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  return std::unique_ptr<Deidentifier>(new Deidentifier(std::move(impl)));
}

std::string Deidentifier::MapUid(std::string_view uid) const { return impl_->MapUid(uid); }

Result<PendingInstance> Deidentifier::Impl::Run(const std::filesystem::path& input,
                                                const std::filesystem::path& output_dir) const {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(input, ec)) {
    return common::InvalidArgumentError("not a regular file");
  }
  DcmFileFormat file;
  TSUNAGU_RETURN_IF_ERROR(
      StatusFromOFCondition(file.loadFile(OFFilename(input.c_str()), EXS_Unknown, EGL_noChange,
                                          kMaxReadLength, ERM_autoDetect),
                            "not readable as DICOM"));
  DcmDataset& ds = *file.getDataset();
  if (ds.card() == 0) return common::InvalidArgumentError("not readable as DICOM: empty dataset");
  const std::string sop_class = GetString(ds, DCM_SOPClassUID);
  const std::string sop_instance = GetString(ds, DCM_SOPInstanceUID);
  if (sop_instance.empty()) return common::DeidentificationRefusedError("no SOP Instance UID");
  if (sop_class.rfind(kEncapsulatedDocumentRoot, 0) == 0 ||
      ds.tagExists(DCM_EncapsulatedDocument)) {
    return common::DeidentificationRefusedError(
        "encapsulated documents (PDF, CDA) cannot be verified");
  }
  E_TransferSyntax output_xfer = ds.getOriginalXfer();
  if (output_xfer == EXS_Unknown) output_xfer = EXS_LittleEndianExplicit;

  const PixelMaskRule* mask = nullptr;
  if (std::optional<std::string> burned = BurnedInReason(ds)) {
    mask = FindMaskRule(ds, options.pixel_mask_rules);
    if (mask == nullptr) {
      return common::DeidentificationRefusedError("burned-in annotation: " + *burned +
                                                  " and no pixel mask rule matches");
    }
  }

  // Identity: raw bytes first (the original character set), then decoded to UTF-8.
  Identity identity;
  identity.Collect(ds, /*raw=*/true);
  TSUNAGU_ASSIGN_OR_RETURN(const bool decoded, ConvertDatasetToUtf8(ds));
  // When nothing needed decoding the raw values were already the decoded ones.
  if (decoded) identity.Collect(ds, /*raw=*/false);
  {
    std::set<std::string> kept;
    for (DcmElement* element : Elements(ds)) {
      if (element == nullptr || !element->isaString() || element->getGTag() % 2 == 1) continue;
      const ProfileRow* row = profile.Find(element->getGTag(), element->getETag());
      if (row == nullptr || ShareProfile::EffectiveAction(*row) == Action::kK) {
        kept.insert(std::string(TrimPadding(RawValue(*element))));
      }
    }
    identity.Exempt(kept);
  }

  // Retain Patient Characteristics: the age from birth and study dates before the birth date
  // goes (PS3.15 E.3.4).
  std::string age;
  if (GetString(ds, DCM_PatientAge).empty() && !identity.birth_date().empty()) {
    std::string study_date = GetString(ds, DCM_StudyDate);
    for (const DcmTagKey& t : {DCM_SeriesDate, DCM_AcquisitionDate, DCM_ContentDate}) {
      if (study_date.empty()) study_date = GetString(ds, t);
    }
    age = AgeString(identity.birth_date(), study_date);
  }

  if (mask != nullptr) TSUNAGU_RETURN_IF_ERROR(ApplyMask(ds, *mask, &output_xfer));
  // Overlays in the pixel data's high bits go with the overlay groups the profile removes.
  const std::vector<unsigned> overlay_bits = EmbeddedOverlayBits(ds);
  TSUNAGU_RETURN_IF_ERROR(ClearEmbeddedOverlays(ds, overlay_bits, &output_xfer));
  const bool pixels_edited = mask != nullptr || !overlay_bits.empty();

  std::set<std::string> original_uids;
  EngineContext context;
  context.profile = &profile;
  context.options = &options;
  context.map_uid = [this](std::string_view uid) { return MapUid(uid); };
  context.iod = IodOf(sop_class);
  context.identity = &identity;
  context.original_uids = &original_uids;
  {
    const std::string meta_uid = GetString(*file.getMetaInfo(), DCM_MediaStorageSOPInstanceUID);
    if (!meta_uid.empty()) original_uids.insert(meta_uid);
  }
  std::string patient_key;
  std::vector<std::string> previous_patient_keys;
  {
    const std::string id(TrimPadding(GetString(ds, DCM_PatientID)));
    if (!id.empty()) {
      std::string data(TrimPadding(GetString(ds, DCM_IssuerOfPatientID)));
      data += '\x1f';
      data += id;
      if (options.patient_key_secrets.empty()) {
        patient_key = common::HexEncode(common::HmacSha256(options.site_secret, data));
      } else {
        patient_key =
            common::HexEncode(common::HmacSha256(options.patient_key_secrets.front(), data));
        for (std::size_t i = 1; i < options.patient_key_secrets.size(); ++i) {
          previous_patient_keys.push_back(
              common::HexEncode(common::HmacSha256(options.patient_key_secrets[i], data)));
        }
      }
    }
  }
  ApplyProfile(ds, context);
  if (!age.empty()) ds.putAndInsertString(DCM_PatientAge, age.c_str());
  RecordDeidentification(ds, options);
  // The output gets a new file format around the same dataset: its meta header is built on
  // write (new Media Storage SOP Instance UID, no Source AE Title, no private information) and
  // its preamble is 128 zero bytes (DCMTK keeps the input's preamble, which may hold anything).
  DcmFileFormat output(file.getAndRemoveDataset(), OFFalse);

  InstanceSummary summary;
  summary.sop_instance_uid = GetString(ds, DCM_SOPInstanceUID);
  if (summary.sop_instance_uid.empty() ||
      summary.sop_instance_uid.find_first_not_of("0123456789.") != std::string::npos) {
    return common::DeidentificationRefusedError("the new SOP Instance UID is not valid");
  }
  summary.series_instance_uid = GetString(ds, DCM_SeriesInstanceUID);
  summary.study_instance_uid = GetString(ds, DCM_StudyInstanceUID);
  summary.sop_class_uid = sop_class;
  summary.patient_id_suffix = GetString(ds, DCM_PatientID);
  summary.modality = GetString(ds, DCM_Modality);
  summary.body_part = GetString(ds, DCM_BodyPartExamined);
  summary.study_description = GetString(ds, DCM_StudyDescription);
  summary.series_description = GetString(ds, DCM_SeriesDescription);
  summary.study_date = GetString(ds, DCM_StudyDate);
  summary.study_time = GetString(ds, DCM_StudyTime);
  summary.patient_key = std::move(patient_key);
  summary.previous_patient_keys = std::move(previous_patient_keys);

  TSUNAGU_ASSIGN_OR_RETURN(std::string random, common::RandomBytes(6));
  PendingInstance pending;
  pending.final_path_ = output_dir / (summary.sop_instance_uid + ".dcm");
  pending.temp_path_ =
      output_dir / ("." + summary.sop_instance_uid + ".dcm." + common::HexEncode(random) + ".tmp");
  pending.owned_ = true;
  // Pixel data that needs no masking is copied bit for bit from the input file by the kernel
  // when it is the last element there: DCMTK writes everything before it, then the element's
  // bytes are appended. Otherwise DCMTK writes it too (still unchanged: same transfer syntax).
  std::optional<PixelTail> tail;
  std::unique_ptr<DcmElement> detached_pixels;
  if (!pixels_edited && output_xfer == ds.getOriginalXfer()) {
    tail = FindPixelTail(ds, input, output_xfer);
    if (tail) detached_pixels.reset(ds.remove(DCM_PixelData));
  }
  if (tail) {
    // Everything but the pixel data is serialized in memory (a few kilobytes), parsed back from
    // those bytes and verified, and only then written: the bytes verified are the bytes written,
    // without writing a file and reading it back. The pixel data appended after them is the
    // input's own Pixel Data element, byte for byte (FindPixelTail proved the range is that
    // element); its encapsulated frame headers are verified from the parsed element, which DCMTK
    // reads from those same input bytes.
    TSUNAGU_ASSIGN_OR_RETURN(std::string head, Serialize(output, output_xfer));
    TSUNAGU_RETURN_IF_ERROR(VerifySerialized(head, identity, original_uids, options, profile));
    TSUNAGU_RETURN_IF_ERROR(VerifyPixelDataHeaders(*detached_pixels, output_xfer, identity));
    TSUNAGU_RETURN_IF_ERROR(WriteOutput(head, input, *tail, pending.temp_path_));
    summary.bytes_written = head.size() + tail->size;
    pending.summary_ = std::move(summary);
    return pending;
  }
  const OFCondition saved =
      output.saveFile(OFFilename(pending.temp_path_.c_str()), output_xfer, EET_ExplicitLength,
                      EGL_withoutGL, EPD_noChange, 0, 0, EWM_fileformat);
  if (saved.bad()) {
    // DCMTK does not keep errno; a nearly full disk is the usual cause worth retrying.
    auto free = common::LocalFileSystem().FreeSpace(output_dir);
    if (free.ok() && *free < (64ULL << 20)) {
      return common::DiskFullError("writing the output failed: the output disk is full");
    }
    return StatusFromOFCondition(saved, "writing the output failed", common::ErrorCode::kInternal);
  }

  // Verify the bytes that were written, not the in-memory copy.
  {
    DcmFileFormat written;
    TSUNAGU_RETURN_IF_ERROR(
        StatusFromOFCondition(written.loadFile(OFFilename(pending.temp_path_.c_str()), EXS_Unknown,
                                               EGL_noChange, kMaxReadLength, ERM_fileOnly),
                              "re-reading the output failed", common::ErrorCode::kInternal));
    TSUNAGU_RETURN_IF_ERROR(VerifyOutput(written, identity, original_uids, options, profile));
    TSUNAGU_RETURN_IF_ERROR(VerifyPreamble(pending.temp_path_));
  }
  summary.bytes_written = std::filesystem::file_size(pending.temp_path_, ec);
  pending.summary_ = std::move(summary);
  return pending;
}

PendingInstance::PendingInstance(PendingInstance&& other) noexcept
    : summary_(std::move(other.summary_)),
      temp_path_(std::move(other.temp_path_)),
      final_path_(std::move(other.final_path_)),
      owned_(std::exchange(other.owned_, false)) {}

PendingInstance& PendingInstance::operator=(PendingInstance&& other) noexcept {
  if (this != &other) {
    Discard();
    summary_ = std::move(other.summary_);
    temp_path_ = std::move(other.temp_path_);
    final_path_ = std::move(other.final_path_);
    owned_ = std::exchange(other.owned_, false);
  }
  return *this;
}

PendingInstance::~PendingInstance() { Discard(); }

void PendingInstance::Discard() {
  if (!owned_) return;
  std::error_code ec;
  std::filesystem::remove(temp_path_, ec);
  owned_ = false;
}

Result<PendingInstance> Deidentifier::DeidentifyToTemporary(
    const std::filesystem::path& input, const std::filesystem::path& output_dir) const {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(input, ec)) {
    return common::InvalidArgumentError("not a regular file");
  }
  // DCMTK parses sequences recursively: bound the nesting, then parse on a large stack.
  TSUNAGU_RETURN_IF_ERROR(CheckNestingBound(input));
  std::optional<Result<PendingInstance>> result;
  TSUNAGU_RETURN_IF_ERROR(RunOnLargeStack([&] {
    try {
      result.emplace(impl_->Run(input, output_dir));
    } catch (const std::bad_alloc&) {
      result.emplace(common::ResourceExhaustedError("out of memory while de-identifying"));
    } catch (const std::exception& e) {
      result.emplace(common::InternalError(std::string("unexpected exception: ") + e.what()));
    }
  }));
  if (!result) return common::InternalError("de-identification thread produced no result");
  return std::move(*result);
}

Result<InstanceSummary> Deidentifier::DeidentifyFile(
    const std::filesystem::path& input, const std::filesystem::path& output_dir) const {
  TSUNAGU_ASSIGN_OR_RETURN(PendingInstance pending, DeidentifyToTemporary(input, output_dir));
  // One file: fsync it rather than the whole file system.
  TSUNAGU_RETURN_IF_ERROR(FsyncFile(pending.temp_path_));
  if (std::rename(pending.temp_path_.c_str(), pending.final_path_.c_str()) != 0) {
    return common::StatusFromErrno(errno, "rename output");
  }
  pending.owned_ = false;
  TSUNAGU_RETURN_IF_ERROR(common::SyncDirectory(output_dir));
  return pending.summary_;
}

common::Status Deidentifier::RunWorkers(unsigned threads, const std::function<void()>& fn) {
  return RunLargeStackThreads(threads, fn);
}

common::Status Deidentifier::Publish(std::vector<PendingInstance>& pending, Durability durability) {
  std::set<std::filesystem::path> dirs;
  for (PendingInstance& p : pending) {
    if (!p.owned_) continue;
    const std::filesystem::path dir = p.temp_path_.parent_path();
    if (!dirs.insert(dir).second) continue;
    if (durability == Durability::kRenameOnly) continue;
    const int fd = ::open(p.temp_path_.c_str(), O_RDONLY | O_CLOEXEC);
    const int rc = fd < 0 ? -1 : ::syncfs(fd);
    const int err = errno;
    if (fd >= 0) ::close(fd);
    if (rc != 0) {
      for (PendingInstance& rest : pending) rest.Discard();
      return common::StatusFromErrno(err, "flush outputs (syncfs)");
    }
  }
  for (PendingInstance& p : pending) {
    if (!p.owned_) continue;
    if (std::rename(p.temp_path_.c_str(), p.final_path_.c_str()) != 0) {
      const common::Status status = common::StatusFromErrno(errno, "rename output");
      for (PendingInstance& rest : pending) rest.Discard();
      return status;
    }
    p.owned_ = false;
  }
  if (durability == Durability::kRenameOnly) return common::Status::Ok();
  for (const std::filesystem::path& dir : dirs) {
    TSUNAGU_RETURN_IF_ERROR(common::SyncDirectory(dir.empty() ? "." : dir));
  }
  return common::Status::Ok();
}

}  // namespace tsunagu::anonymizer
