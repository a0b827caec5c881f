#include "dicom_check.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcjson.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <dcmtk/dcmdata/dcstack.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/dcxfer.h>

#include <memory>
#include <sstream>

namespace tsunagu::relay {
namespace {

common::Result<std::unique_ptr<DcmFileFormat>> Parse(std::string_view bytes) {
  auto ff = std::make_unique<DcmFileFormat>();
  DcmInputBufferStream in;
  in.setBuffer(bytes.data(), static_cast<offile_off_t>(bytes.size()));
  in.setEos();
  ff->transferInit();
  const OFCondition cond = ff->read(in, EXS_Unknown, EGL_noChange, DCM_MaxReadLength);
  ff->transferEnd();
  if (cond.bad() || ff->getDataset() == nullptr) {
    return common::InvalidArgumentError(std::string("not a readable DICOM file: ") + cond.text());
  }
  return ff;
}

std::string GetString(DcmItem* item, const DcmTagKey& key) {
  OFString v;
  if (item->findAndGetOFString(key, v).bad()) return {};
  return std::string(v.c_str());
}

}  // namespace

common::Result<retention::InstanceInfo> InspectInstance(std::string_view bytes,
                                                        std::string_view study_uid,
                                                        std::string_view sop_uid,
                                                        std::size_t max_patient_id_length) {
  TSUNAGU_ASSIGN_OR_RETURN(auto ff, Parse(bytes));
  DcmDataset* ds = ff->getDataset();
  if (GetString(ds, DCM_StudyInstanceUID) != study_uid) {
    return common::InvalidArgumentError(
        "the instance's Study Instance UID is not the one in the request");
  }
  if (GetString(ds, DCM_SOPInstanceUID) != sop_uid) {
    return common::InvalidArgumentError(
        "the instance's SOP Instance UID is not the one in the request");
  }
  if (GetString(ds, DCM_PatientIdentityRemoved) != "YES") {
    return common::DeidentificationRefusedError(
        "Patient Identity Removed (0012,0062) is not YES: the instance is not de-identified");
  }
  if (GetString(ds, DCM_PatientID).size() > max_patient_id_length) {
    return common::DeidentificationRefusedError("Patient ID (0010,0020) is longer than the " +
                                                std::to_string(max_patient_id_length) +
                                                " characters a de-identified instance keeps");
  }
  DcmStack stack;
  while (ds->nextObject(stack, OFTrue).good()) {
    const DcmTag& tag = stack.top()->getTag();
    if (tag.isPrivate()) {
      char where[16];
      std::snprintf(where, sizeof where, "(%04X,%04X)", tag.getGroup(), tag.getElement());
      return common::DeidentificationRefusedError(std::string("private data element ") + where +
                                                  " present: the instance is not de-identified");
    }
  }
  retention::InstanceInfo info;
  info.series_uid = GetString(ds, DCM_SeriesInstanceUID);
  if (info.series_uid.empty()) {
    return common::InvalidArgumentError("the instance has no Series Instance UID");
  }
  DcmDataset copy(*ds);
  copy.findAndDeleteElement(DCM_PixelData);
  copy.findAndDeleteElement(DCM_FloatPixelData);
  copy.findAndDeleteElement(DCM_DoubleFloatPixelData);
  // DcmDataset::writeJson writes the members only; the object's braces are the caller's.
  std::ostringstream json;
  json << '{';
  DcmJsonFormatCompact format(OFFalse);
  if (copy.writeJson(json, format).bad()) {
    return common::InvalidArgumentError("the instance cannot be expressed as DICOM JSON");
  }
  json << '}';
  info.metadata_json = json.str();
  return info;
}

common::Result<Frames> ExtractFrames(std::string_view bytes, const std::vector<int>& wanted) {
  TSUNAGU_ASSIGN_OR_RETURN(auto ff, Parse(bytes));
  DcmDataset* ds = ff->getDataset();
  Frames out;
  out.series_uid = GetString(ds, DCM_SeriesInstanceUID);
  const E_TransferSyntax xfer = ds->getOriginalXfer();
  DcmXfer xfer_info(xfer);
  DcmElement* element = nullptr;
  if (ds->findAndGetElement(DCM_PixelData, element).bad() || element == nullptr) {
    return common::InvalidArgumentError("the instance has no pixel data");
  }
  auto* pixel = static_cast<DcmPixelData*>(element);
  Sint32 frame_count = 1;
  if (ds->findAndGetSint32(DCM_NumberOfFrames, frame_count).bad() || frame_count < 1) {
    frame_count = 1;
  }
  std::vector<int> numbers = wanted;
  if (numbers.empty()) {
    for (int n = 1; n <= frame_count; ++n) numbers.push_back(n);
  }
  for (int n : numbers) {
    if (n < 1 || n > frame_count) return common::NotFoundError("no such frame");
  }
  if (xfer_info.isEncapsulated()) {
    out.encapsulated = true;
    out.transfer_syntax_uid = xfer_info.getXferID();
    DcmPixelSequence* seq = nullptr;
    if (pixel->getEncapsulatedRepresentation(xfer, nullptr, seq).bad() || seq == nullptr) {
      return common::InvalidArgumentError("encapsulated pixel data cannot be read");
    }
    const unsigned long items = seq->card();  // item 0 is the Basic Offset Table
    auto item_bytes = [&](unsigned long i) -> std::string {
      DcmPixelItem* item = nullptr;
      Uint8* data = nullptr;
      if (seq->getItem(item, i).bad() || item == nullptr || item->getUint8Array(data).bad() ||
          data == nullptr) {
        return {};
      }
      return std::string(reinterpret_cast<const char*>(data), item->getLength());
    };
    for (int n : numbers) {
      if (frame_count == 1) {
        std::string all;
        for (unsigned long i = 1; i < items; ++i) all += item_bytes(i);
        out.frames.push_back(std::move(all));
      } else if (items - 1 == static_cast<unsigned long>(frame_count)) {
        out.frames.push_back(item_bytes(static_cast<unsigned long>(n)));
      } else {
        return common::InvalidArgumentError(
            "multi-frame pixel data with several fragments per frame is not supported yet");
      }
    }
    return out;
  }
  out.transfer_syntax_uid = UID_LittleEndianExplicitTransferSyntax;
  Uint16 rows = 0, cols = 0, bits = 0, samples = 1;
  ds->findAndGetUint16(DCM_Rows, rows);
  ds->findAndGetUint16(DCM_Columns, cols);
  ds->findAndGetUint16(DCM_BitsAllocated, bits);
  ds->findAndGetUint16(DCM_SamplesPerPixel, samples);
  const std::size_t frame_bytes =
      static_cast<std::size_t>(rows) * cols * samples * ((bits + 7) / 8);
  Uint8* data = nullptr;
  if (frame_bytes == 0 || pixel->getUint8Array(data).bad() || data == nullptr ||
      pixel->getLength() < frame_bytes * static_cast<std::size_t>(frame_count)) {
    return common::InvalidArgumentError("native pixel data is shorter than its frames");
  }
  for (int n : numbers) {
    out.frames.emplace_back(reinterpret_cast<const char*>(data) + frame_bytes * (n - 1),
                            frame_bytes);
  }
  return out;
}

}  // namespace tsunagu::relay
