#include "tsunagu/anonymizer/deidentifier.h"

#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/oflog/oflog.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include "tsunagu/common/crypto.h"

namespace tsunagu::anonymizer {
namespace {

namespace fs = std::filesystem;

constexpr const char* kCtImage = "1.2.840.10008.5.1.4.1.1.2";
constexpr const char* kSopInstance = "1.2.392.200036.9116.2.6.1.48.1214833767.1700000000.1";
constexpr const char* kStudy = "1.2.392.200036.9116.2.6.1.48.1214833767.1700000000.2";
constexpr const char* kSeries = "1.2.392.200036.9116.2.6.1.48.1214833767.1700000000.3";

std::string Get(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  if (item.findAndGetOFStringArray(tag, value).bad()) return "<absent>";
  return value.c_str();
}

DcmTag PrivateTag(Uint16 g, Uint16 e, const char* creator, DcmEVR vr) {
  DcmTag tag(g, e, creator);
  tag.setVR(DcmVR(vr));
  return tag;
}

class DeidentifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    OFLog::configure(OFLogger::OFF_LOG_LEVEL);
    std::string tmpl = (fs::temp_directory_path() / "tsunagu-anon-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    fs::create_directories(dir_ / "out");
    options_.site_secret = "unit-test-secret";
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A small CT with identifying data in the usual places.
  static std::unique_ptr<DcmFileFormat> BaseCt() {
    auto file = std::make_unique<DcmFileFormat>();
    DcmDataset& ds = *file->getDataset();
    ds.putAndInsertString(DCM_SOPClassUID, kCtImage);
    ds.putAndInsertString(DCM_SOPInstanceUID, kSopInstance);
    ds.putAndInsertString(DCM_StudyInstanceUID, kStudy);
    ds.putAndInsertString(DCM_SeriesInstanceUID, kSeries);
    ds.putAndInsertString(DCM_Modality, "CT");
    ds.putAndInsertString(DCM_Manufacturer, "ACME Medical");
    ds.putAndInsertString(DCM_PatientName, "Kowalski^Jan^Maria");
    ds.putAndInsertString(DCM_PatientID, "PID-20240007");
    ds.putAndInsertString(DCM_PatientBirthDate, "19610405");
    ds.putAndInsertString(DCM_PatientSex, "M");
    ds.putAndInsertString(DCM_AccessionNumber, "ACC-55667788");
    ds.putAndInsertString(DCM_StudyDate, "20240101");
    ds.putAndInsertString(DCM_StudyTime, "101500");
    ds.putAndInsertString(DCM_SeriesDate, "20240101");
    ds.putAndInsertString(DCM_StudyDescription, "CT chest Kowalski ACC-55667788");
    ds.putAndInsertString(DCM_SeriesDescription, "Axial 1mm");
    ds.putAndInsertString(DCM_InstitutionName, "St Elsewhere Hospital");
    ds.putAndInsertString(DCM_OperatorsName, "Nowak^Anna");
    ds.putAndInsertString(DCM_ReferringPhysicianName, "House^Gregory");
    ds.putAndInsertString(DCM_RETIRED_OtherPatientIDs, "OLD-1234567");
    ds.putAndInsertUint16(DCM_Rows, 4);
    ds.putAndInsertUint16(DCM_Columns, 4);
    ds.putAndInsertUint16(DCM_BitsAllocated, 16);
    ds.putAndInsertUint16(DCM_BitsStored, 12);
    ds.putAndInsertUint16(DCM_HighBit, 11);
    ds.putAndInsertUint16(DCM_SamplesPerPixel, 1);
    ds.putAndInsertUint16(DCM_PixelRepresentation, 0);
    ds.putAndInsertString(DCM_PhotometricInterpretation, "MONOCHROME2");
    Uint16 pixels[16];
    for (int i = 0; i < 16; ++i) pixels[i] = static_cast<Uint16>(i * 100 + 7);
    ds.putAndInsertUint16Array(DCM_PixelData, pixels, 16);
    return file;
  }

  fs::path Save(DcmFileFormat& file, const std::string& name = "in.dcm",
                E_TransferSyntax xfer = EXS_LittleEndianExplicit) {
    const fs::path path = dir_ / name;
    EXPECT_TRUE(file.saveFile(path.c_str(), xfer).good());
    return path;
  }

  // Runs the de-identifier; on success loads the output into `out_`.
  common::Result<InstanceSummary> Run(const fs::path& input) {
    auto d = Deidentifier::Create(options_);
    EXPECT_TRUE(d.ok()) << d.status();
    if (!d.ok()) return d.status();
    auto summary = (*d)->DeidentifyFile(input, dir_ / "out");
    if (summary.ok()) {
      out_ = std::make_unique<DcmFileFormat>();
      EXPECT_TRUE(
          out_->loadFile((dir_ / "out" / (summary->sop_instance_uid + ".dcm")).c_str()).good());
    }
    return summary;
  }

  DcmDataset& Out() { return *out_->getDataset(); }

  std::size_t OutputCount() const {
    return static_cast<std::size_t>(
        std::distance(fs::directory_iterator(dir_ / "out"), fs::directory_iterator()));
  }

  fs::path dir_;
  ProfileOptions options_;
  std::unique_ptr<DcmFileFormat> out_;
};

TEST_F(DeidentifierTest, CreateRejectsBadOptions) {
  ProfileOptions o;
  EXPECT_EQ(Deidentifier::Create(o).status().code(), common::ErrorCode::kInvalidArgument);
  o.site_secret = "s";
  o.profile = "research";
  EXPECT_EQ(Deidentifier::Create(o).status().code(), common::ErrorCode::kInvalidArgument);
  o.profile = "share";
  o.safe_private.push_back({0x0010, "ACME", 0x10});
  EXPECT_EQ(Deidentifier::Create(o).status().code(), common::ErrorCode::kInvalidArgument);
  o.safe_private.clear();
  o.pixel_mask_rules.push_back({});
  EXPECT_EQ(Deidentifier::Create(o).status().code(), common::ErrorCode::kInvalidArgument);
}

TEST_F(DeidentifierTest, AppliesEachBasicActionCode) {
  auto file = BaseCt();
  DcmDataset& ds = *file->getDataset();
  ds.putAndInsertString(DCM_PersonName, "Kowalski^Jan");           // D (PN)
  ds.putAndInsertString(DCM_StudyID, "S-778899");                  // Z
  ds.putAndInsertString(DCM_PatientAddress, "1 Main Street");      // X
  ds.putAndInsertString(DCM_InstanceCreatorUID, "1.2.3.4.5.6.7");  // U
  ds.putAndInsertString(DCM_ContentCreatorName, "Nowak^Anna");     // Z/D, unknown in CT
  auto result = Run(Save(*file));
  ASSERT_TRUE(result.ok()) << result.status();
  DcmDataset& out = Out();
  EXPECT_EQ(Get(out, DCM_PersonName), "ANONYMIZED");
  EXPECT_EQ(Get(out, DCM_StudyID), "");
  EXPECT_EQ(Get(out, DCM_PatientAddress), "<absent>");
  EXPECT_EQ(Get(out, DCM_RETIRED_OtherPatientIDs), "<absent>");
  EXPECT_EQ(Get(out, DCM_AccessionNumber), "");
  EXPECT_EQ(Get(out, DCM_PatientName), "");
  EXPECT_EQ(Get(out, DCM_PatientBirthDate), "");
  auto d = Deidentifier::Create(options_);
  EXPECT_EQ(Get(out, DCM_InstanceCreatorUID), (*d)->MapUid("1.2.3.4.5.6.7"));
  EXPECT_EQ(Get(out, DCM_ContentCreatorName), "ANONYMIZED");
  // X/Z/D Type 3 in the CT IOD: removed.
  EXPECT_EQ(Get(out, DCM_OperatorsName), "<absent>");
  EXPECT_EQ(Get(out, DCM_InstitutionName), "<absent>");
}

TEST_F(DeidentifierTest, KeepsLastCharactersOfPatientId) {
  options_.patient_id_keep = 4;
  auto result = Run(Save(*BaseCt()));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(Get(Out(), DCM_PatientID), "0007");
  EXPECT_EQ(result->patient_id_suffix, "0007");
}

TEST_F(DeidentifierTest, PatientKeyIsAnHmacOfIssuerAndIdForRoutingPerPatientThreads) {
  auto file = BaseCt();
  auto a = Run(Save(*file, "a.dcm"));
  ASSERT_TRUE(a.ok()) << a.status();
  // HMAC-SHA-256(site secret, issuer + U+001F + Patient ID), as chat::PatientKey computes it.
  EXPECT_EQ(a->patient_key, common::HexEncode(common::HmacSha256(
                                options_.site_secret, std::string("\x1f") + "PID-20240007")));
  EXPECT_EQ(a->patient_key.find("PID"), std::string::npos);
  file->getDataset()->putAndInsertString(DCM_SOPInstanceUID, "1.2.826.0.1.3680043.99.77");
  auto same = Run(Save(*file, "b.dcm"));
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ(same->patient_key, a->patient_key) << "every study of one patient has one key";
  file->getDataset()->putAndInsertString(DCM_IssuerOfPatientID, "OTHER-HOSPITAL");
  file->getDataset()->putAndInsertString(DCM_SOPInstanceUID, "1.2.826.0.1.3680043.99.78");
  auto other = Run(Save(*file, "c.dcm"));
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_NE(other->patient_key, a->patient_key) << "the issuer is part of the key";
  file->getDataset()->putAndInsertString(DCM_PatientID, "");
  file->getDataset()->putAndInsertString(DCM_SOPInstanceUID, "1.2.826.0.1.3680043.99.79");
  auto none = Run(Save(*file, "d.dcm"));
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(none->patient_key, "");
}

TEST_F(DeidentifierTest, PatientKeysUnderRotatedSecretsKeepUidsUnderTheSiteSecret) {
  const auto plain = Run(Save(*BaseCt(), "plain.dcm"));
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_TRUE(plain->previous_patient_keys.empty());
  // A gateway de-identifying a study first sent under the old secret: UIDs under the old secret,
  // the patient key under the new one, the old key as the previous one.
  options_.patient_key_secrets = {"new-secret", "unit-test-secret", "older-secret"};
  fs::create_directories(dir_ / "out2");
  auto d = Deidentifier::Create(options_);
  ASSERT_TRUE(d.ok()) << d.status();
  auto rotated = (*d)->DeidentifyFile(Save(*BaseCt(), "rotated.dcm"), dir_ / "out2");
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  const std::string data = std::string("\x1f") + "PID-20240007";
  EXPECT_EQ(rotated->patient_key, common::HexEncode(common::HmacSha256("new-secret", data)));
  ASSERT_EQ(rotated->previous_patient_keys.size(), 2u);
  EXPECT_EQ(rotated->previous_patient_keys[0], plain->patient_key);
  EXPECT_EQ(rotated->previous_patient_keys[1],
            common::HexEncode(common::HmacSha256("older-secret", data)));
  EXPECT_EQ(rotated->study_instance_uid, plain->study_instance_uid);
  EXPECT_EQ(rotated->sop_instance_uid, plain->sop_instance_uid);
}

TEST_F(DeidentifierTest, PatientIdKeepIsConfigurable) {
  options_.patient_id_keep = 2;
  auto result = Run(Save(*BaseCt()));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(Get(Out(), DCM_PatientID), "07");
}

TEST_F(DeidentifierTest, RetainsFullDatesAndPatientCharacteristicsWithComputedAge) {
  auto result = Run(Save(*BaseCt()));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(Get(Out(), DCM_StudyDate), "20240101");
  EXPECT_EQ(Get(Out(), DCM_SeriesDate), "20240101");
  EXPECT_EQ(Get(Out(), DCM_StudyTime), "101500");
  EXPECT_EQ(Get(Out(), DCM_PatientSex), "M");
  EXPECT_EQ(Get(Out(), DCM_PatientAge), "062Y");
  EXPECT_EQ(Get(Out(), DCM_LongitudinalTemporalInformationModified), "UNMODIFIED");
}

TEST_F(DeidentifierTest, KeepsAnExistingPatientAge) {
  auto file = BaseCt();
  file->getDataset()->putAndInsertString(DCM_PatientAge, "061Y");
  ASSERT_TRUE(Run(Save(*file)).ok());
  EXPECT_EQ(Get(Out(), DCM_PatientAge), "061Y");
}

TEST_F(DeidentifierTest, CleanDescriptorsRemovesIdentifyingValuesFromText) {
  auto file = BaseCt();
  file->getDataset()->putAndInsertString(DCM_ProtocolName, "Jan 1961-04-05 PID-20240007 lung");
  file->getDataset()->putAndInsertString(DCM_ImageComments, "referred by House");
  auto result = Run(Save(*file));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(Get(Out(), DCM_StudyDescription), "CT chest");
  EXPECT_EQ(result->study_description, "CT chest");
  EXPECT_EQ(Get(Out(), DCM_ProtocolName), "lung");
  EXPECT_EQ(Get(Out(), DCM_ImageComments), "referred by");
  EXPECT_EQ(Get(Out(), DCM_SeriesDescription), "Axial 1mm");
}

TEST_F(DeidentifierTest, MapsUidsConsistentlyEverywhereAndLeavesStandardUidsAlone) {
  auto file = BaseCt();
  DcmDataset& ds = *file->getDataset();
  DcmItem* ref = nullptr;
  ASSERT_TRUE(ds.findOrCreateSequenceItem(DCM_ReferencedImageSequence, ref, -2).good());
  ref->putAndInsertString(DCM_ReferencedSOPClassUID, kCtImage);
  ref->putAndInsertString(DCM_ReferencedSOPInstanceUID, kSopInstance);
  ds.putAndInsertString(DCM_FrameOfReferenceUID, "1.2.840.10008.1.4.1.1");  // well-known
  auto result = Run(Save(*file));
  ASSERT_TRUE(result.ok()) << result.status();
  auto d = Deidentifier::Create(options_);
  const std::string mapped = (*d)->MapUid(kSopInstance);
  EXPECT_EQ(mapped.rfind("2.25.", 0), 0u);
  EXPECT_LE(mapped.size(), 64u);
  EXPECT_EQ(result->sop_instance_uid, mapped);
  EXPECT_EQ(Get(Out(), DCM_SOPInstanceUID), mapped);
  EXPECT_EQ(Get(*out_->getMetaInfo(), DCM_MediaStorageSOPInstanceUID), mapped);
  EXPECT_EQ(Get(Out(), DCM_StudyInstanceUID), (*d)->MapUid(kStudy));
  EXPECT_EQ(Get(Out(), DCM_SOPClassUID), kCtImage);
  EXPECT_EQ(Get(Out(), DCM_FrameOfReferenceUID), "1.2.840.10008.1.4.1.1");
  DcmItem* out_ref = nullptr;
  ASSERT_TRUE(Out().findAndGetSequenceItem(DCM_ReferencedImageSequence, out_ref, 0).good());
  EXPECT_EQ(Get(*out_ref, DCM_ReferencedSOPInstanceUID), mapped);
  EXPECT_EQ(Get(*out_ref, DCM_ReferencedSOPClassUID), kCtImage);
}

TEST_F(DeidentifierTest, UidMappingDependsOnTheSecretOnly) {
  auto a = Deidentifier::Create(options_);
  auto b = Deidentifier::Create(options_);
  ProfileOptions other = options_;
  other.site_secret = "another-site";
  auto c = Deidentifier::Create(other);
  EXPECT_EQ((*a)->MapUid(kStudy), (*b)->MapUid(kStudy));
  EXPECT_NE((*a)->MapUid(kStudy), (*c)->MapUid(kStudy));
  EXPECT_NE((*a)->MapUid(kStudy), (*a)->MapUid(kSeries));
}

TEST_F(DeidentifierTest, RemovesPrivateAttributesUnlessOnTheSafeList) {
  auto file = BaseCt();
  DcmDataset& ds = *file->getDataset();
  ds.putAndInsertString(DcmTag(0x0019, 0x0010, EVR_LO), "ACME_1");
  ds.putAndInsertString(PrivateTag(0x0019, 0x1010, "ACME_1", EVR_LO), "Kowalski");
  ds.putAndInsertString(PrivateTag(0x0019, 0x1020, "ACME_1", EVR_DS), "1.5");
  ds.putAndInsertString(DcmTag(0x0029, 0x0010, EVR_LO), "OTHER");
  ds.putAndInsertString(PrivateTag(0x0029, 0x1001, "OTHER", EVR_LO), "x");
  options_.safe_private.push_back({0x0019, "ACME_1", 0x20});
  auto result = Run(Save(*file));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(Get(Out(), DcmTagKey(0x0019, 0x1010)), "<absent>");
  EXPECT_EQ(Get(Out(), DcmTagKey(0x0019, 0x1020)), "1.5");
  EXPECT_EQ(Get(Out(), DcmTagKey(0x0019, 0x0010)), "ACME_1");
  EXPECT_EQ(Get(Out(), DcmTagKey(0x0029, 0x0010)), "<absent>");
  EXPECT_EQ(Get(Out(), DcmTagKey(0x0029, 0x1001)), "<absent>");
}

TEST_F(DeidentifierTest, RemovesOverlaysCurvesAndOriginalAttributes) {
  auto file = BaseCt();
  DcmDataset& ds = *file->getDataset();
  ds.putAndInsertUint16(DcmTagKey(0x6000, 0x0010), 4);
  ds.putAndInsertString(DcmTagKey(0x6000, 0x4000), "Kowalski");
  const Uint16 overlay[1] = {0xFFFF};
  ds.putAndInsertUint16Array(DcmTagKey(0x6000, 0x3000), overlay, 1);
  ds.putAndInsertString(DcmTag(0x5000, 0x0022, EVR_LO), "curve");
  DcmItem* original = nullptr;
  ASSERT_TRUE(ds.findOrCreateSequenceItem(DCM_OriginalAttributesSequence, original, -2).good());
  DcmItem* modified = nullptr;
  ASSERT_TRUE(
      original->findOrCreateSequenceItem(DCM_ModifiedAttributesSequence, modified, -2).good());
  modified->putAndInsertString(DCM_PatientName, "Kowalski^Jan");
  auto result = Run(Save(*file));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(Out().tagExists(DcmTagKey(0x6000, 0x0010)));
  EXPECT_FALSE(Out().tagExists(DcmTagKey(0x6000, 0x3000)));
  EXPECT_FALSE(Out().tagExists(DcmTagKey(0x5000, 0x0022)));
  EXPECT_FALSE(Out().tagExists(DCM_OriginalAttributesSequence));
}

TEST_F(DeidentifierTest, RemovesEncryptedAttributesAndSignatures) {
  auto file = BaseCt();
  DcmDataset& ds = *file->getDataset();
  DcmItem* encrypted = nullptr;
  ASSERT_TRUE(ds.findOrCreateSequenceItem(DCM_EncryptedAttributesSequence, encrypted, -2).good());
  encrypted->putAndInsertString(DCM_EncryptedContentTransferSyntaxUID,
                                UID_LittleEndianExplicitTransferSyntax);
  const Uint8 envelope[4] = {0x30, 0x82, 0x01, 0x00};  // the start of a CMS envelope
  encrypted->putAndInsertUint8Array(DCM_EncryptedContent, envelope, 4);
  DcmItem* mac = nullptr;
  ASSERT_TRUE(ds.findOrCreateSequenceItem(DCM_MACParametersSequence, mac, -2).good());
  mac->putAndInsertString(DCM_MACAlgorithm, "SHA256");
  DcmItem* signature = nullptr;
  ASSERT_TRUE(ds.findOrCreateSequenceItem(DCM_DigitalSignaturesSequence, signature, -2).good());
  signature->putAndInsertString(DCM_DigitalSignatureUID, kStudy);
  auto result = Run(Save(*file));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(Out().tagExists(DCM_EncryptedAttributesSequence, OFTrue));
  EXPECT_FALSE(Out().tagExists(DCM_EncryptedContent, OFTrue));
  EXPECT_FALSE(Out().tagExists(DCM_MACParametersSequence, OFTrue));
  EXPECT_FALSE(Out().tagExists(DCM_DigitalSignaturesSequence, OFTrue));
}

TEST_F(DeidentifierTest, CleansInsideNestedSequences) {
  auto file = BaseCt();
  DcmItem* request = nullptr;
  ASSERT_TRUE(file->getDataset()
                  ->findOrCreateSequenceItem(DCM_RequestAttributesSequence, request, -2)
                  .good());
  request->putAndInsertString(DCM_RequestedProcedureID, "RP-445566");
  DcmItem* code = nullptr;
  ASSERT_TRUE(request->findOrCreateSequenceItem(DCM_ReferencedStudySequence, code, -2).good());
  code->putAndInsertString(DCM_ReferencedSOPInstanceUID, kStudy);
  auto result = Run(Save(*file));
  ASSERT_TRUE(result.ok()) << result.status();
  // Request Attributes Sequence is X in the Basic Profile but C under Clean Descriptors: kept,
  // and its items cleaned by the table (Requested Procedure ID X, Referenced Study Sequence
  // X/Z Type 3 here).
  DcmItem* out_request = nullptr;
  ASSERT_TRUE(Out().findAndGetSequenceItem(DCM_RequestAttributesSequence, out_request, 0).good());
  EXPECT_FALSE(out_request->tagExists(DCM_RequestedProcedureID));
  EXPECT_FALSE(out_request->tagExists(DCM_ReferencedStudySequence));
}

TEST_F(DeidentifierTest, RecordsWhatWasDone) {
  ASSERT_TRUE(Run(Save(*BaseCt())).ok());
  EXPECT_EQ(Get(Out(), DCM_PatientIdentityRemoved), "YES");
  EXPECT_NE(Get(Out(), DCM_DeidentificationMethod).find("Last 4 characters of Patient ID"),
            std::string::npos);
  std::set<std::string> codes;
  DcmItem* item = nullptr;
  for (int i = 0;
       Out().findAndGetSequenceItem(DCM_DeidentificationMethodCodeSequence, item, i).good(); ++i) {
    codes.insert(Get(*item, DCM_CodeValue));
    EXPECT_EQ(Get(*item, DCM_CodingSchemeDesignator), "DCM");
  }
  EXPECT_EQ(codes, (std::set<std::string>{"113100", "113105", "113106", "113108"}));
}

TEST_F(DeidentifierTest, CarriesPixelDataOverBitForBit) {
  auto file = BaseCt();
  auto result = Run(Save(*file));
  ASSERT_TRUE(result.ok()) << result.status();
  const Uint16* in = nullptr;
  const Uint16* out = nullptr;
  unsigned long in_count = 0, out_count = 0;
  ASSERT_TRUE(file->getDataset()->findAndGetUint16Array(DCM_PixelData, in, &in_count).good());
  ASSERT_TRUE(Out().findAndGetUint16Array(DCM_PixelData, out, &out_count).good());
  ASSERT_EQ(in_count, out_count);
  EXPECT_EQ(std::memcmp(in, out, in_count * 2), 0);
  EXPECT_EQ(out_->getDataset()->getOriginalXfer(), EXS_LittleEndianExplicit);
}

TEST_F(DeidentifierTest, KeepsTheTransferSyntax) {
  auto result = Run(Save(*BaseCt(), "implicit.dcm", EXS_LittleEndianImplicit));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(Get(*out_->getMetaInfo(), DCM_TransferSyntaxUID),
            UID_LittleEndianImplicitTransferSyntax);
}

TEST_F(DeidentifierTest, RefusesBurnedInAnnotationWithoutMaskRule) {
  auto file = BaseCt();
  file->getDataset()->putAndInsertString(DCM_Modality, "US");
  auto result = Run(Save(*file));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), common::ErrorCode::kDeidentificationRefused);
  EXPECT_NE(result.status().message().find("burned-in"), std::string::npos);
  EXPECT_EQ(OutputCount(), 0u);
}

TEST_F(DeidentifierTest, RefusesScWithoutBurnedInAnnotationNo) {
  auto file = BaseCt();
  file->getDataset()->putAndInsertString(DCM_Modality, "OT");
  EXPECT_EQ(Run(Save(*file)).status().code(), common::ErrorCode::kDeidentificationRefused);
  file->getDataset()->putAndInsertString(DCM_BurnedInAnnotation, "NO");
  EXPECT_TRUE(Run(Save(*file, "no.dcm")).ok());
}

TEST_F(DeidentifierTest, MasksBurnedInTextWhenARuleMatches) {
  auto file = BaseCt();
  file->getDataset()->putAndInsertString(DCM_BurnedInAnnotation, "YES");
  options_.pixel_mask_rules.push_back({"ACME Medical", "", 4, 4, {{0, 0, 4, 1}, {3, 3, 4, 4}}});
  auto result = Run(Save(*file));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(Get(Out(), DCM_BurnedInAnnotation), "NO");
  const Uint16* out = nullptr;
  ASSERT_TRUE(Out().findAndGetUint16Array(DCM_PixelData, out).good());
  for (int i = 0; i < 4; ++i) EXPECT_EQ(out[i], 0) << i;  // first row blacked out
  EXPECT_EQ(out[4], 407);                                 // untouched
  EXPECT_EQ(out[15], 0);                                  // bottom-right pixel
}

TEST_F(DeidentifierTest, RuleForAnotherManufacturerDoesNotMatch) {
  auto file = BaseCt();
  file->getDataset()->putAndInsertString(DCM_BurnedInAnnotation, "YES");
  options_.pixel_mask_rules.push_back({"OTHER", "", 0, 0, {{0, 0, 4, 1}}});
  EXPECT_EQ(Run(Save(*file)).status().code(), common::ErrorCode::kDeidentificationRefused);
}

TEST_F(DeidentifierTest, VerifierRefusesANameHiddenInAKeptAttribute) {
  auto file = BaseCt();
  // Manufacturer is not in Table E.1-1 (kept): a name planted there must stop the release.
  file->getDataset()->putAndInsertString(DCM_ManufacturerModelName, "Kowalski");
  auto result = Run(Save(*file));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), common::ErrorCode::kDeidentificationRefused);
  EXPECT_EQ(result.status().message().find("Kowalski"), std::string::npos);
  EXPECT_NE(result.status().message().find("ManufacturerModelName"), std::string::npos);
  EXPECT_EQ(OutputCount(), 0u);
}

// Little endian pixel data is copied from the input as bytes after a header verified from its
// serialized bytes in memory; big endian is written and re-read by DCMTK. The verifier must stop
// a planted value on both paths, and both must release a clean instance with its pixels intact.
TEST_F(DeidentifierTest, VerifierRefusesOnBothWritePaths) {
  for (const E_TransferSyntax xfer : {EXS_LittleEndianExplicit, EXS_BigEndianExplicit}) {
    SCOPED_TRACE(DcmXfer(xfer).getXferName());
    auto planted = BaseCt();
    planted->getDataset()->putAndInsertString(DCM_ManufacturerModelName, "Kowalski");
    auto refused = Run(Save(*planted, "planted.dcm", xfer));
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().code(), common::ErrorCode::kDeidentificationRefused)
        << refused.status().message();
    EXPECT_NE(refused.status().message().find("ManufacturerModelName"), std::string::npos);
    EXPECT_EQ(OutputCount(), 0u);

    auto clean = Run(Save(*BaseCt(), "clean.dcm", xfer));
    ASSERT_TRUE(clean.ok()) << clean.status();
    const Uint16* out = nullptr;
    ASSERT_TRUE(Out().findAndGetUint16Array(DCM_PixelData, out).good());
    for (int i = 0; i < 16; ++i) EXPECT_EQ(out[i], i * 100 + 7) << i;
    EXPECT_EQ(Out().getOriginalXfer(), xfer);
    for (const auto& entry : fs::directory_iterator(dir_ / "out")) fs::remove(entry.path());
  }
}

TEST_F(DeidentifierTest, WorkerThreadsRunDeidentificationInPlace) {
  auto d = Deidentifier::Create(options_);
  ASSERT_TRUE(d.ok());
  std::vector<fs::path> inputs;
  for (int i = 0; i < 4; ++i) {
    auto file = BaseCt();
    file->getDataset()->putAndInsertString(
        DCM_SOPInstanceUID, ("1.2.826.0.1.3680043.2.1125.77." + std::to_string(i)).c_str());
    inputs.push_back(Save(*file, "in" + std::to_string(i) + ".dcm"));
  }
  std::atomic<std::size_t> next{0};
  std::atomic<int> ok{0};
  ASSERT_TRUE(Deidentifier::RunWorkers(2, [&] {
                for (std::size_t i = next++; i < inputs.size(); i = next++) {
                  if ((*d)->DeidentifyFile(inputs[i], dir_ / "out").ok()) ++ok;
                }
              }).ok());
  EXPECT_EQ(ok.load(), 4);
  EXPECT_EQ(OutputCount(), 4u);
}

TEST_F(DeidentifierTest, VerifierRefusesAnIdInAnUnlistedNestedAttribute) {
  auto file = BaseCt();
  DcmItem* item = nullptr;
  ASSERT_TRUE(
      file->getDataset()->findOrCreateSequenceItem(DCM_CTExposureSequence, item, -2).good());
  item->putAndInsertString(DCM_ContentLabel, "ACC-55667788");
  EXPECT_EQ(Run(Save(*file)).status().code(), common::ErrorCode::kDeidentificationRefused);
}

TEST_F(DeidentifierTest, InstitutionEqualToManufacturerIsNotALeak) {
  auto file = BaseCt();
  file->getDataset()->putAndInsertString(DCM_InstitutionName, "ACME");
  file->getDataset()->putAndInsertString(DCM_Manufacturer, "ACME");
  EXPECT_TRUE(Run(Save(*file)).ok());
}

TEST_F(DeidentifierTest, ShortPatientIdEqualToItsSuffixIsReleased) {
  auto file = BaseCt();
  file->getDataset()->putAndInsertString(DCM_PatientID, "1234");
  auto result = Run(Save(*file));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(Get(Out(), DCM_PatientID), "1234");
}

TEST_F(DeidentifierTest, CleansJapaneseNamesInIso2022Ir87) {
  auto file = BaseCt();
  DcmDataset& ds = *file->getDataset();
  ds.putAndInsertString(DCM_SpecificCharacterSet, "\\ISO 2022 IR 87");
  // Yamada^Tarou=山田^太郎=やまだ^たろう
  ds.putAndInsertString(
      DCM_PatientName,
      "Yamada^Tarou=\x1B$B;3ED\x1B(B^\x1B$BB@O:\x1B(B=\x1B$B$d$^$@\x1B(B^\x1B$B$?$m$&\x1B(B");
  // "CT 山田 chest"
  ds.putAndInsertString(DCM_StudyDescription, "CT \x1B$B;3ED\x1B(B chest");
  auto result = Run(Save(*file));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(Get(Out(), DCM_StudyDescription), "CT chest");
  EXPECT_EQ(Get(Out(), DCM_SpecificCharacterSet), "ISO_IR 192");
}

// PS3.3 C.12.1.1.2: a sequence item may carry its own Specific Character Set, which then
// applies inside that item instead of the dataset's.
TEST_F(DeidentifierTest, HonoursSpecificCharacterSetInSequenceItems) {
  auto file = BaseCt();
  DcmDataset& ds = *file->getDataset();
  ds.putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 100");
  ds.putAndInsertString(DCM_PatientName, "M\xFCller^J\xFCrgen");  // Müller^Jürgen, Latin-1
  ds.putAndInsertString(DCM_StudyDescription, "CT M\xFCller follow-up");  // Latin-1
  DcmItem* japanese = nullptr;
  ASSERT_TRUE(ds.findOrCreateSequenceItem(DCM_RequestAttributesSequence, japanese, -2).good());
  japanese->putAndInsertString(DCM_SpecificCharacterSet, "\\ISO 2022 IR 87");
  // Yamada^Tarou=山田^太郎 and "CT 山田 chest", both in ISO 2022 IR 87.
  japanese->putAndInsertString(DCM_ScheduledPerformingPhysicianName,
                               "Yamada^Tarou=\x1B$B;3ED\x1B(B^\x1B$BB@O:\x1B(B");
  japanese->putAndInsertString(DCM_RequestedProcedureDescription, "CT \x1B$B;3ED\x1B(B chest");
  DcmItem* inherits = nullptr;
  ASSERT_TRUE(ds.findOrCreateSequenceItem(DCM_RequestAttributesSequence, inherits, -2).good());
  // No character set of its own: the dataset's ISO_IR 100 applies.
  inherits->putAndInsertString(DCM_RequestedProcedureDescription, "M\xFCller scan");
  const fs::path input = Save(*file);
  auto result = Run(input);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(Get(Out(), DCM_SpecificCharacterSet), "ISO_IR 192");
  EXPECT_EQ(Get(Out(), DCM_StudyDescription), "CT follow-up");
  DcmItem* out_japanese = nullptr;
  ASSERT_TRUE(Out().findAndGetSequenceItem(DCM_RequestAttributesSequence, out_japanese, 0).good());
  EXPECT_EQ(Get(*out_japanese, DCM_SpecificCharacterSet), "ISO_IR 192");
  EXPECT_EQ(Get(*out_japanese, DCM_RequestedProcedureDescription), "CT chest");
  EXPECT_FALSE(out_japanese->tagExists(DCM_ScheduledPerformingPhysicianName));
  DcmItem* out_inherits = nullptr;
  ASSERT_TRUE(Out().findAndGetSequenceItem(DCM_RequestAttributesSequence, out_inherits, 1).good());
  EXPECT_EQ(Get(*out_inherits, DCM_RequestedProcedureDescription), "scan");
  // Neither the decoded kanji nor their ISO 2022 bytes are anywhere in the written file.
  std::ifstream in(dir_ / "out" / (result->sop_instance_uid + ".dcm"), std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(bytes.find(";3ED"), std::string::npos);
  EXPECT_EQ(bytes.find("\xE5\xB1\xB1\xE7\x94\xB0"), std::string::npos);  // 山田 in UTF-8
  EXPECT_EQ(bytes.find("\x1B$B"), std::string::npos);
}

TEST_F(DeidentifierTest, RefusesAnItemWhoseCharacterSetCannotBeDecoded) {
  auto file = BaseCt();
  DcmItem* item = nullptr;
  ASSERT_TRUE(
      file->getDataset()->findOrCreateSequenceItem(DCM_RequestAttributesSequence, item, -2).good());
  item->putAndInsertString(DCM_SpecificCharacterSet, "\\ISO 2022 IR 87");
  item->putAndInsertString(DCM_RequestedProcedureDescription, "CT \x1B$Zxx\x1B(B");  // no such code
  auto result = Run(Save(*file));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), common::ErrorCode::kDeidentificationRefused);
  EXPECT_EQ(OutputCount(), 0u);
}

// Overlays in the unused high bits of the pixel cells (PS3.3 C.9.2, retired but still met):
// the bits are cleared with the overlay group, the image bits are untouched.
TEST_F(DeidentifierTest, ClearsOverlaysStoredInPixelDataHighBits) {
  auto file = BaseCt();
  DcmDataset& ds = *file->getDataset();
  Uint16 pixels[16];
  for (int i = 0; i < 16; ++i) {
    pixels[i] = static_cast<Uint16>(i * 100 + 7) | (i % 3 == 0 ? 0x8000 : 0) | 0x2000;
  }
  ds.putAndInsertUint16Array(DCM_PixelData, pixels, 16);
  for (Uint16 g : {Uint16{0x6000}, Uint16{0x6002}}) {
    ds.putAndInsertUint16(DcmTagKey(g, 0x0010), 4);
    ds.putAndInsertUint16(DcmTagKey(g, 0x0011), 4);
    ds.putAndInsertUint16(DcmTagKey(g, 0x0100), 16);
    ds.putAndInsertString(DcmTagKey(g, 0x0040), "G");
  }
  ds.putAndInsertUint16(DcmTagKey(0x6000, 0x0102), 15);
  ds.putAndInsertUint16(DcmTagKey(0x6002, 0x0102), 13);
  auto result = Run(Save(*file));
  ASSERT_TRUE(result.ok()) << result.status();
  const Uint16* out = nullptr;
  unsigned long count = 0;
  ASSERT_TRUE(Out().findAndGetUint16Array(DCM_PixelData, out, &count).good());
  ASSERT_EQ(count, 16u);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(out[i], i * 100 + 7) << "pixel " << i;
  EXPECT_FALSE(Out().tagExists(DcmTagKey(0x6000, 0x0100)));
  EXPECT_FALSE(Out().tagExists(DcmTagKey(0x6002, 0x0102)));
}

TEST_F(DeidentifierTest, RefusesAnOverlayBitInsideTheStoredBits) {
  auto file = BaseCt();
  DcmDataset& ds = *file->getDataset();
  ds.putAndInsertUint16(DcmTagKey(0x6000, 0x0010), 4);
  ds.putAndInsertUint16(DcmTagKey(0x6000, 0x0011), 4);
  ds.putAndInsertUint16(DcmTagKey(0x6000, 0x0100), 16);
  ds.putAndInsertUint16(DcmTagKey(0x6000, 0x0102), 11);  // High Bit is 11: an image bit
  auto result = Run(Save(*file));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), common::ErrorCode::kDeidentificationRefused);
  EXPECT_NE(result.status().message().find("overlay"), std::string::npos);
}

TEST_F(DeidentifierTest, StandardOverlayLeavesPixelDataBitForBit) {
  auto file = BaseCt();
  DcmDataset& ds = *file->getDataset();
  Uint16 pixels[16];
  for (int i = 0; i < 16; ++i) pixels[i] = static_cast<Uint16>(0xF000 | i);  // high bits set
  ds.putAndInsertUint16Array(DCM_PixelData, pixels, 16);
  ds.putAndInsertUint16(DcmTagKey(0x6000, 0x0010), 4);
  ds.putAndInsertUint16(DcmTagKey(0x6000, 0x0011), 4);
  ds.putAndInsertUint16(DcmTagKey(0x6000, 0x0100), 1);
  ds.putAndInsertUint16(DcmTagKey(0x6000, 0x0102), 0);
  const Uint16 overlay[1] = {0xFFFF};
  ds.putAndInsertUint16Array(DcmTagKey(0x6000, 0x3000), overlay, 1);
  auto result = Run(Save(*file));
  ASSERT_TRUE(result.ok()) << result.status();
  const Uint16* out = nullptr;
  unsigned long count = 0;
  ASSERT_TRUE(Out().findAndGetUint16Array(DCM_PixelData, out, &count).good());
  ASSERT_EQ(count, 16u);
  EXPECT_EQ(std::memcmp(out, pixels, sizeof(pixels)), 0);
  EXPECT_FALSE(Out().tagExists(DcmTagKey(0x6000, 0x3000)));
}

TEST_F(DeidentifierTest, RefusesMissingSopInstanceUidAndUnreadableInput) {
  auto file = BaseCt();
  delete file->getDataset()->remove(DCM_SOPInstanceUID);
  EXPECT_EQ(Run(Save(*file)).status().code(), common::ErrorCode::kDeidentificationRefused);
  std::ofstream(dir_ / "garbage.dcm") << "this is not DICOM at all";
  EXPECT_EQ(Run(dir_ / "garbage.dcm").status().code(), common::ErrorCode::kInvalidArgument);
  EXPECT_EQ(Run(dir_ / "missing.dcm").status().code(), common::ErrorCode::kInvalidArgument);
  EXPECT_EQ(OutputCount(), 0u);
}

TEST_F(DeidentifierTest, SrContentTextIsReplaced) {
  auto file = BaseCt();
  DcmDataset& ds = *file->getDataset();
  ds.putAndInsertString(DCM_SOPClassUID, "1.2.840.10008.5.1.4.1.1.88.11");
  ds.putAndInsertString(DCM_Modality, "SR");
  delete ds.remove(DCM_PixelData);
  DcmItem* item = nullptr;
  ASSERT_TRUE(ds.findOrCreateSequenceItem(DCM_ContentSequence, item, -2).good());
  item->putAndInsertString(DCM_ValueType, "TEXT");
  item->putAndInsertString(DCM_TextValue, "Findings for Jan Kowalski: normal");
  auto result = Run(Save(*file));
  ASSERT_TRUE(result.ok()) << result.status();
  DcmItem* out_item = nullptr;
  ASSERT_TRUE(Out().findAndGetSequenceItem(DCM_ContentSequence, out_item, 0).good());
  EXPECT_EQ(out_item->card(), 0u);
}

}  // namespace
}  // namespace tsunagu::anonymizer

namespace tsunagu::anonymizer {
namespace {

TEST_F(DeidentifierTest, CodedValuesOnlyCountWhenEqual) {
  auto file = BaseCt();
  file->getDataset()->putAndInsertString(DCM_PatientName, "Test^S R");
  DcmItem* code = nullptr;
  ASSERT_TRUE(
      file->getDataset()->findOrCreateSequenceItem(DCM_AnatomicRegionSequence, code, -2).good());
  code->putAndInsertString(DCM_CodeValue, "T-D3000");
  code->putAndInsertString(DCM_CodingSchemeDesignator, "TEST");
  code->putAndInsertString(DCM_CodeMeaning, "Chest");
  EXPECT_TRUE(Run(Save(*file)).ok());
  // The same name as free text is refused.
  code->putAndInsertString(DCM_CodeMeaning, "Chest of Test");
  EXPECT_EQ(Run(Save(*file, "b.dcm")).status().code(), common::ErrorCode::kDeidentificationRefused);
}

}  // namespace
}  // namespace tsunagu::anonymizer

namespace tsunagu::anonymizer {
namespace {

std::vector<std::string> Names(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST_F(DeidentifierTest, PendingOutputsAreHiddenUntilPublished) {
  auto d = Deidentifier::Create(options_);
  ASSERT_TRUE(d.ok());
  const fs::path input = Save(*BaseCt());
  auto pending = (*d)->DeidentifyToTemporary(input, dir_ / "out");
  ASSERT_TRUE(pending.ok()) << pending.status();
  const std::string final_name = pending->summary().sop_instance_uid + ".dcm";
  auto names = Names(dir_ / "out");
  ASSERT_EQ(names.size(), 1u);
  EXPECT_EQ(names[0].front(), '.');  // a hidden temporary file, not the final name
  EXPECT_EQ(names[0].substr(names[0].size() - 4), ".tmp");
  std::vector<PendingInstance> batch;
  batch.push_back(std::move(*pending));
  ASSERT_TRUE(Deidentifier::Publish(batch).ok());
  EXPECT_EQ(Names(dir_ / "out"), std::vector<std::string>{final_name});
}

TEST_F(DeidentifierTest, UnpublishedOutputsAreRemoved) {
  auto d = Deidentifier::Create(options_);
  ASSERT_TRUE(d.ok());
  {
    auto pending = (*d)->DeidentifyToTemporary(Save(*BaseCt()), dir_ / "out");
    ASSERT_TRUE(pending.ok());
    EXPECT_EQ(OutputCount(), 1u);
  }
  EXPECT_EQ(OutputCount(), 0u);
}

}  // namespace
}  // namespace tsunagu::anonymizer

namespace tsunagu::anonymizer {
namespace {

TEST_F(DeidentifierTest, NumbersThatContainAShortIdAreNotALeak) {
  auto file = BaseCt();
  file->getDataset()->putAndInsertString(DCM_StudyID, "12");
  file->getDataset()->putAndInsertString(DCM_ImagePositionPatient, "-83.12\\12.5\\0.12");
  ASSERT_TRUE(Run(Save(*file)).ok());
  EXPECT_EQ(Get(Out(), DCM_ImagePositionPatient), "-83.12\\12.5\\0.12");
  // The same ID as a whole number value elsewhere is refused.
  file->getDataset()->putAndInsertString(DCM_StudyID, "4711");
  file->getDataset()->putAndInsertString(DCM_SliceLocation, "4711");
  EXPECT_EQ(Run(Save(*file, "b.dcm")).status().code(), common::ErrorCode::kDeidentificationRefused);
}

TEST_F(DeidentifierTest, NewbornBirthDateEqualToTheStudyDateIsReleased) {
  auto file = BaseCt();
  file->getDataset()->putAndInsertString(DCM_PatientBirthDate, "20240101");
  auto result = Run(Save(*file));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(Get(Out(), DCM_PatientAge), "000D");
  EXPECT_EQ(Get(Out(), DCM_StudyDate), "20240101");
}

}  // namespace
}  // namespace tsunagu::anonymizer

namespace tsunagu::anonymizer {
namespace {

// Found by the fuzzer: a (7FE0,0010) with explicit VR OV is not a DcmPixelData.
TEST_F(DeidentifierTest, PixelDataWithAWrongVrIsRefusedNotCast) {
  auto file = BaseCt();
  file->getDataset()->putAndInsertString(DCM_BurnedInAnnotation, "YES");
  options_.pixel_mask_rules.push_back({"", "", 0, 0, {{0, 0, 1, 1}}});
  const fs::path path = Save(*file);
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const std::string pixel_tag("\xE0\x7F\x10\x00OW", 6);
  const std::size_t pos = bytes.find(pixel_tag);
  ASSERT_NE(pos, std::string::npos);
  bytes[pos + 5] = 'V';
  std::ofstream(dir_ / "ov.dcm", std::ios::binary) << bytes;
  auto result = Run(dir_ / "ov.dcm");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), common::ErrorCode::kDeidentificationRefused);
  EXPECT_EQ(OutputCount(), 0u);
}

}  // namespace
}  // namespace tsunagu::anonymizer
