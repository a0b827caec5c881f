// Small DICOM instances made in memory with DCMTK for the relay's unit tests.
#ifndef TSUNAGU_TESTS_UNIT_RELAY_TEST_INSTANCES_H_
#define TSUNAGU_TESTS_UNIT_RELAY_TEST_INSTANCES_H_

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcostrmb.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/dcwcache.h>

#include <functional>
#include <string>
#include <vector>

namespace tsunagu::relay::testing {

// A de-identified-looking CT instance, 4x4 16-bit, `frames` frames (pixel i of frame f = f*100+i),
// edited by `edit` before it is written.
inline std::string MakeInstanceBytes(const std::string& study, const std::string& sop,
                                     int frames = 1,
                                     const std::function<void(DcmDataset*)>& edit = {}) {
  DcmFileFormat ff;
  DcmDataset* ds = ff.getDataset();
  ds->putAndInsertString(DCM_SOPClassUID, UID_CTImageStorage);
  ds->putAndInsertString(DCM_SOPInstanceUID, sop.c_str());
  ds->putAndInsertString(DCM_StudyInstanceUID, study.c_str());
  ds->putAndInsertString(DCM_SeriesInstanceUID, (study + ".1").c_str());
  ds->putAndInsertString(DCM_PatientID, "5678");
  ds->putAndInsertString(DCM_PatientIdentityRemoved, "YES");
  ds->putAndInsertString(DCM_Modality, "CT");
  ds->putAndInsertUint16(DCM_Rows, 4);
  ds->putAndInsertUint16(DCM_Columns, 4);
  ds->putAndInsertUint16(DCM_SamplesPerPixel, 1);
  ds->putAndInsertString(DCM_PhotometricInterpretation, "MONOCHROME2");
  ds->putAndInsertUint16(DCM_BitsAllocated, 16);
  ds->putAndInsertUint16(DCM_BitsStored, 16);
  ds->putAndInsertUint16(DCM_HighBit, 15);
  ds->putAndInsertUint16(DCM_PixelRepresentation, 0);
  if (frames > 1) ds->putAndInsertString(DCM_NumberOfFrames, std::to_string(frames).c_str());
  std::vector<Uint16> px(16 * frames);
  for (int f = 0; f < frames; ++f) {
    for (int i = 0; i < 16; ++i) px[f * 16 + i] = static_cast<Uint16>(f * 100 + i);
  }
  ds->putAndInsertUint16Array(DCM_PixelData, px.data(), static_cast<unsigned long>(px.size()));
  if (edit) edit(ds);
  ff.validateMetaInfo(EXS_LittleEndianExplicit);
  std::vector<char> buf(1 << 20);
  DcmOutputBufferStream out(buf.data(), buf.size());
  ff.transferInit();
  const OFCondition c = ff.write(out, EXS_LittleEndianExplicit, EET_ExplicitLength, nullptr);
  ff.transferEnd();
  if (c.bad()) return {};
  void* data = nullptr;
  offile_off_t len = 0;
  out.flushBuffer(data, len);
  return std::string(static_cast<const char*>(data), static_cast<std::size_t>(len));
}

inline std::string FramePixels(int f) {
  std::vector<Uint16> px(16);
  for (int i = 0; i < 16; ++i) px[i] = static_cast<Uint16>(f * 100 + i);
  return std::string(reinterpret_cast<const char*>(px.data()), 32);
}

}  // namespace tsunagu::relay::testing

#endif  // TSUNAGU_TESTS_UNIT_RELAY_TEST_INSTANCES_H_
