#!/usr/bin/python3
"""Planted-identity corpus for the anonymizer tests.

Writes synthetic DICOM files with identifying values in the usual and unusual places (Japanese in
ISO 2022 IR 87 and Latin names, IDs in nested and private sequences, Original Attributes Sequence,
SR text, overlays, curves) and knows every planted value, so that a test can fail if any survives.
All data is invented.
"""
import os
import sys

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian,
                         DeflatedExplicitVRLittleEndian)

CT = "1.2.840.10008.5.1.4.1.1.2"
US = "1.2.840.10008.5.1.4.1.1.6.1"
SR = "1.2.840.10008.5.1.4.1.1.88.33"
ROOT = "1.2.392.200036.9999.77."

# Every value that must not survive, as text. Latin ones are also looked for case-insensitively.
PLANTED_LATIN = [
    "Yamada", "Tarou", "Kowalski", "Jaroslaw", "PID-99887766", "ACC-77665544", "OLD-55544433",
    "19610405", "1961-04-05", "St Elsewhere General", "Gregory", "Nowakowska", "RP-998877",
    "SPS-112233", "KANAGAWA-ISSUER", "1 Main Street Yokohama", "Suzuki", "Ichiro", "Mueller",
    "Juergen", "M\u00fcller", "J\u00fcrgen", "Okonkwo", "Chidinma", "Private Secret Name",
    "MRN-31415926", "STUDY-ID-4242", "Dr Who Referrer",
]
PLANTED_JA = ["山田", "太郎", "やまだ", "たろう", "鈴木", "一郎", "横浜中央病院", "佐藤花子"]
STUDY_UID = ROOT + "1.1"
SERIES_UID = ROOT + "1.2"
FRAME_UID = ROOT + "1.3"
OVERLAY_INSTANCE_NUMBER = 77  # marks the instance whose pixel data must change (overlay bits)


def uid(n):
    return ROOT + "2." + str(n)


def base(path, sop_class, sop_uid, charset, transfer_syntax=ExplicitVRLittleEndian,
         modality="CT", rows=64, cols=64):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = transfer_syntax
    meta.SourceApplicationEntityTitle = "YOKOHAMA_PACS"
    ds = FileDataset(path, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.is_little_endian = transfer_syntax != ExplicitVRBigEndian
    ds.is_implicit_VR = transfer_syntax == ImplicitVRLittleEndian
    if charset:
        ds.SpecificCharacterSet = charset
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = STUDY_UID
    ds.SeriesInstanceUID = SERIES_UID
    ds.FrameOfReferenceUID = FRAME_UID
    ds.Modality = modality
    ds.Manufacturer = "ACME Medical"
    ds.ManufacturerModelName = "Scanner 3000"
    ds.PatientID = "PID-99887766"
    ds.IssuerOfPatientID = "KANAGAWA-ISSUER"
    ds.OtherPatientIDs = "OLD-55544433"
    ds.PatientBirthDate = "19610405"
    ds.PatientSex = "M"
    ds.PatientAddress = "1 Main Street Yokohama"
    ds.AccessionNumber = "ACC-77665544"
    ds.StudyID = "STUDY-ID-4242"
    ds.StudyDate = "20240101"
    ds.StudyTime = "101500"
    ds.SeriesDate = "20240101"
    ds.ContentDate = "20240101"
    ds.InstitutionName = "St Elsewhere General"
    ds.ReferringPhysicianName = "Dr Who Referrer"
    ds.OperatorsName = "Nowakowska^Ewa"
    ds.SeriesDescription = "Axial PID-99887766"
    ds.SeriesNumber = 2
    ds.InstanceNumber = 1
    ds.BodyPartExamined = "CHEST"
    if rows:
        ds.Rows = rows
        ds.Columns = cols
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 12
        ds.HighBit = 11
        ds.PixelRepresentation = 0
        # 12-bit values: every high byte < 0x20, so no text can hide in the pixel bytes.
        pixels = (np.arange(rows * cols, dtype=np.uint16) * 7) % 4096
        ds.PixelData = pixels.tobytes()
    return ds


def add_everything(ds, names):
    """Identifying data in nested, private and special places. `names` are PN values."""
    patient, other, physician = names
    ds.PatientName = patient
    ds.OtherPatientNames = other
    ds.PerformingPhysicianName = physician
    ds.StudyDescription = "CT chest " + " ".join(
        [patient.split("=")[0].split("^")[0], "PID-99887766", "ACC-77665544", "1961-04-05"])
    ds.ImageComments = "for " + physician.split("=")[0].replace("^", " ")
    ds.ProtocolName = "Lung MRN-31415926"
    # Other Patient IDs Sequence (nested IDs)
    item = Dataset()
    item.PatientID = "MRN-31415926"
    item.IssuerOfPatientID = "KANAGAWA-ISSUER"
    ds.OtherPatientIDsSequence = Sequence([item])
    # Request Attributes Sequence (kept and cleaned under Clean Descriptors)
    req = Dataset()
    req.RequestedProcedureID = "RP-998877"
    req.ScheduledProcedureStepID = "SPS-112233"
    req.RequestedProcedureDescription = "CT " + patient.split("=")[0].split("^")[0]
    ref_study = Dataset()
    ref_study.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    ref_study.ReferencedSOPInstanceUID = STUDY_UID
    req.ReferencedStudySequence = Sequence([ref_study])
    ds.RequestAttributesSequence = Sequence([req])
    # Referenced Image Sequence (viewer needs it: kept with mapped UIDs)
    ref = Dataset()
    ref.ReferencedSOPClassUID = CT
    ref.ReferencedSOPInstanceUID = uid(999)
    ds.ReferencedImageSequence = Sequence([ref])
    # Original Attributes Sequence with the old values
    mod = Dataset()
    mod.PatientName = patient
    mod.PatientID = "PID-99887766"
    orig = Dataset()
    orig.ModifiedAttributesSequence = Sequence([mod])
    orig.AttributeModificationDateTime = "20240101101500"
    orig.ModifyingSystem = "St Elsewhere General"
    orig.ReasonForTheAttributeModification = "CORRECT"
    ds.OriginalAttributesSequence = Sequence([orig])
    # Private creator, private elements and a private sequence with names and IDs inside
    ds.add_new(0x00090010, "LO", "ACME_PRIVATE")
    ds.add_new(0x00091001, "LO", "Private Secret Name")
    ds.add_new(0x00091002, "PN", patient)
    inner = Dataset()
    inner.add_new(0x00110010, "LO", "ACME_INNER")
    inner.add_new(0x00111001, "LO", "MRN-31415926")
    inner.PatientName = patient
    ds.add_new(0x00091003, "SQ", Sequence([inner]))
    # Overlay with comments, and a curve
    ds.add_new(0x60000010, "US", 64)
    ds.add_new(0x60000011, "US", 64)
    ds.add_new(0x60000040, "CS", "G")
    ds.add_new(0x60000050, "SS", [1, 1])
    ds.add_new(0x60000100, "US", 1)
    ds.add_new(0x60000102, "US", 0)
    ds.add_new(0x60003000, "OW", b"\x00" * 512)
    ds.add_new(0x60004000, "LT", "drawn by Nowakowska")
    ds.add_new(0x50000022, "LO", "curve of Kowalski")


def write(ds, path, ts):
    ds.file_meta.TransferSyntaxUID = ts
    ds.is_little_endian = ts != ExplicitVRBigEndian
    ds.is_implicit_VR = ts == ImplicitVRLittleEndian
    ds.save_as(path, write_like_original=False)


def make(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    expected = {}  # file name -> "written" or "refused"

    ja = base("ct_ja.dcm", CT, uid(1), ["", "ISO 2022 IR 87"])
    add_everything(ja, ["Yamada^Tarou=山田^太郎=やまだ^たろう", "Suzuki^Ichiro=鈴木^一郎",
                        "Suzuki^Ichiro=鈴木^一郎"])
    ja.InstitutionName = "横浜中央病院"
    ja.InstitutionalDepartmentName = "St Elsewhere General"
    ja.StudyDescription = "胸部CT 山田 太郎"
    ja.SeriesDescription = "佐藤花子 axial"
    ja.ReferringPhysicianName = "Sato^Hanako=佐藤^花子"
    write(ja, os.path.join(out_dir, "ct_ja.dcm"), ExplicitVRLittleEndian)
    expected["ct_ja.dcm"] = "written"

    latin = base("ct_latin.dcm", CT, uid(2), "ISO_IR 100")
    add_everything(latin, ["Müller^Jürgen", "Mueller^Juergen", "Kowalski^Jaroslaw"])
    # The preamble is application-defined: some writers put anything there.
    latin.preamble = b"Kowalski^Jaroslaw PID-99887766".ljust(128, b"\0")
    write(latin, os.path.join(out_dir, "ct_latin.dcm"), ExplicitVRLittleEndian)
    expected["ct_latin.dcm"] = "written"

    implicit = base("ct_implicit.dcm", CT, uid(3), None)
    add_everything(implicit, ["Okonkwo^Chidinma", "Kowalski^Jaroslaw", "Nowakowska^Ewa"])
    write(implicit, os.path.join(out_dir, "ct_implicit.dcm"), ImplicitVRLittleEndian)
    expected["ct_implicit.dcm"] = "written"

    big = base("ct_big.dcm", CT, uid(4), None)
    add_everything(big, ["Okonkwo^Chidinma", "Kowalski^Jaroslaw", "Nowakowska^Ewa"])
    write(big, os.path.join(out_dir, "ct_big.dcm"), ExplicitVRBigEndian)
    expected["ct_big.dcm"] = "written"

    deflated = base("ct_deflated.dcm", CT, uid(5), None)
    add_everything(deflated, ["Okonkwo^Chidinma", "Kowalski^Jaroslaw", "Nowakowska^Ewa"])
    write(deflated, os.path.join(out_dir, "ct_deflated.dcm"), DeflatedExplicitVRLittleEndian)
    expected["ct_deflated.dcm"] = "written"

    # A sequence item with its own Specific Character Set (PS3.3 C.12.1.1.2): Japanese in an
    # item of a Latin-1 dataset, decoded with the item's character set.
    item_charset = base("ct_item_charset.dcm", CT, uid(10), "ISO_IR 100")
    add_everything(item_charset, ["Müller^Jürgen", "Mueller^Juergen", "Kowalski^Jaroslaw"])
    req = Dataset()
    req.SpecificCharacterSet = ["", "ISO 2022 IR 87"]
    req.RequestedProcedureDescription = "CT 山田 太郎 follow-up"
    req.ScheduledPerformingPhysicianName = "Yamada^Tarou=山田^太郎=やまだ^たろう"
    req.RequestingPhysician = "Suzuki^Ichiro=鈴木^一郎"
    item_charset.RequestAttributesSequence.append(req)
    write(item_charset, os.path.join(out_dir, "ct_item_charset.dcm"), ExplicitVRLittleEndian)
    expected["ct_item_charset.dcm"] = "written"

    # An overlay kept the retired way, in the unused high bits of the pixel cells (Overlay Bits
    # Allocated = Bits Allocated, no Overlay Data): bit 15 draws a name-sized block.
    overlay = base("ct_overlay_bits.dcm", CT, uid(11), None)
    overlay.PatientName = "Kowalski^Jaroslaw"
    overlay.StudyDescription = "CT chest overlay"
    overlay.InstanceNumber = OVERLAY_INSTANCE_NUMBER
    pixels = np.frombuffer(overlay.PixelData, dtype=np.uint16).copy()
    pixels[:512] |= 0x8000
    overlay.PixelData = pixels.tobytes()
    overlay.add_new(0x60000010, "US", 64)
    overlay.add_new(0x60000011, "US", 64)
    overlay.add_new(0x60000040, "CS", "G")
    overlay.add_new(0x60000050, "SS", [1, 1])
    overlay.add_new(0x60000100, "US", 16)
    overlay.add_new(0x60000102, "US", 15)
    write(overlay, os.path.join(out_dir, "ct_overlay_bits.dcm"), ExplicitVRLittleEndian)
    expected["ct_overlay_bits.dcm"] = "written"

    sr = base("sr.dcm", SR, uid(6), ["", "ISO 2022 IR 87"], modality="SR", rows=0)
    sr.PatientName = "Yamada^Tarou=山田^太郎"
    sr.ValueType = "CONTAINER"
    text = Dataset()
    text.RelationshipType = "CONTAINS"
    text.ValueType = "TEXT"
    text.TextValue = "Patient 山田 太郎 (PID-99887766) seen by Suzuki"
    pname = Dataset()
    pname.RelationshipType = "HAS OBS CONTEXT"
    pname.ValueType = "PNAME"
    pname.PersonName = "Suzuki^Ichiro=鈴木^一郎"
    sr.ContentSequence = Sequence([text, pname])
    observer = Dataset()
    observer.VerifyingObserverName = "Suzuki^Ichiro=鈴木^一郎"
    observer.VerifyingOrganization = "横浜中央病院"
    observer.VerificationDateTime = "20240101120000"
    sr.VerifyingObserverSequence = Sequence([observer])
    write(sr, os.path.join(out_dir, "sr.dcm"), ExplicitVRLittleEndian)
    expected["sr.dcm"] = "written"

    us = base("us_burned.dcm", US, uid(7), None, modality="US")
    us.PatientName = "Kowalski^Jaroslaw"
    us.BurnedInAnnotation = "YES"
    write(us, os.path.join(out_dir, "us_burned.dcm"), ExplicitVRLittleEndian)
    expected["us_burned.dcm"] = "refused"

    leak = base("leak.dcm", CT, uid(8), None)
    leak.PatientName = "Kowalski^Jaroslaw"
    leak.ContrastBolusRoute = "Kowalski"  # not in Table E.1-1: kept, so the verifier must catch it
    write(leak, os.path.join(out_dir, "leak.dcm"), ExplicitVRLittleEndian)
    expected["leak.dcm"] = "refused"
    # A name in a JPEG comment segment of the compressed pixel data (released bit for bit).
    from pydicom.encaps import encapsulate, generate_pixel_data_frame
    src = pydicom.dcmread(os.path.join(os.path.dirname(pydicom.__file__), "data", "test_files",
                                       "JPEG-lossy.dcm"))
    frames = list(generate_pixel_data_frame(src.PixelData, int(src.get("NumberOfFrames", 1))))
    comment = b"Kowalski^Jaroslaw"
    segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
    frames[0] = frames[0][:2] + segment + frames[0][2:]
    src.PixelData = encapsulate(frames)
    src.PatientName = "Kowalski^Jaroslaw"
    src.SOPInstanceUID = uid(9)
    src.save_as(os.path.join(out_dir, "jpeg_comment.dcm"))
    expected["jpeg_comment.dcm"] = "refused"
    return expected


def variants(text):
    """Byte forms of a planted value in every encoding the corpus uses."""
    out = {text.encode("utf-8")}
    try:
        out.add(text.encode("latin-1"))
    except UnicodeEncodeError:
        pass
    try:
        jis = text.encode("iso2022_jp")
        out.add(jis)
        stripped = jis.replace(b"\x1b$B", b"").replace(b"\x1b(B", b"").replace(b"\x1b(J", b"")
        if len(stripped) >= 4:
            out.add(stripped)
    except UnicodeEncodeError:
        pass
    return out


if __name__ == "__main__":
    print(make(sys.argv[1]))
