#!/usr/bin/python3
"""Generates synthetic DICOM studies that look real in size and structure.

Every study carries fake but realistic identifying data in the places real files carry it:
names in Latin and Japanese (ISO 2022 IR 87, with ideographic and phonetic groups), IDs, birth
dates, accession numbers, institution, physicians, private tags and nested sequences, and a
descriptor that repeats the patient's name (as technologists' comments often do). Nothing here
is real patient data.

Kinds:
  ct  CT series, default 300 slices of 512x512, 16-bit signed, phantom with a contrast aorta of
      known diameter (25.0 mm) and a 50.0 mm marker pair for measurement tests
  mr  two MR series (T1, T2), 24 slices of 256x256, 16-bit unsigned
  us  ultrasound cine, multi-frame 8-bit, burned-in annotation (flagged YES)
  xa  XA angiography multi-frame cine, 8-bit, Frame Time set
  sc  secondary-capture photo, RGB 8-bit (Burned In Annotation absent, as many cameras write)

Usage: /usr/bin/python3 samples/generate_study.py --kind ct --out DIR [--slices N] [--seed N]
Files are written as DIR/<series number>-<modality>/<instance number>.dcm; the study UIDs are
printed on stdout as "study_uid=<uid>" so scripts can pick them up.
"""

import argparse
import datetime
import hashlib
import os
import sys

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

IMPLEMENTATION_UID = "2.25.136413129374957291827436512873645192837"
SOP_CLASS = {
    "ct": "1.2.840.10008.5.1.4.1.1.2",
    "mr": "1.2.840.10008.5.1.4.1.1.4",
    "us": "1.2.840.10008.5.1.4.1.1.3.1",
    "xa": "1.2.840.10008.5.1.4.1.1.12.1",
    "sc": "1.2.840.10008.5.1.4.1.1.7",
}
# 5x7 glyphs for burned-in text (only the characters used below).
GLYPHS = {
    "A": ["01110", "10001", "10001", "11111", "10001", "10001", "10001"],
    "D": ["11110", "10001", "10001", "10001", "10001", "10001", "11110"],
    "M": ["10001", "11011", "10101", "10101", "10001", "10001", "10001"],
    "T": ["11111", "00100", "00100", "00100", "00100", "00100", "00100"],
    "Y": ["10001", "10001", "01010", "00100", "00100", "00100", "00100"],
    "R": ["11110", "10001", "10001", "11110", "10100", "10010", "10001"],
    "O": ["01110", "10001", "10001", "10001", "10001", "10001", "01110"],
    "0": ["01110", "10011", "10101", "10101", "10101", "11001", "01110"],
    "1": ["00100", "01100", "00100", "00100", "00100", "00100", "01110"],
    "2": ["01110", "10001", "00001", "00010", "00100", "01000", "11111"],
    "3": ["11110", "00001", "00001", "01110", "00001", "00001", "11110"],
    "4": ["00010", "00110", "01010", "10010", "11111", "00010", "00010"],
    "5": ["11111", "10000", "11110", "00001", "00001", "10001", "01110"],
    "-": ["00000", "00000", "00000", "11111", "00000", "00000", "00000"],
    " ": ["00000"] * 7,
}


class Identity:
    """The fake patient and encounter, overridable for canary tests."""

    def __init__(self, args):
        self.latin_name = args.patient_name
        self.name = args.patient_name + "=" + args.patient_name_kanji + "=" + args.patient_name_kana
        self.patient_id = args.patient_id
        self.birth_date = args.birth_date
        self.accession = args.accession
        self.other_id = "OTH-" + args.patient_id[::-1]


def uid(seed, *parts):
    digest = hashlib.sha256(("%s|" % seed + "|".join(str(p) for p in parts)).encode()).digest()
    return "2.25." + str(int.from_bytes(digest[:16], "big"))


def draw_text(img, text, x, y, scale, value):
    for i, ch in enumerate(text.upper()):
        glyph = GLYPHS.get(ch, GLYPHS[" "])
        for r, row in enumerate(glyph):
            for c, bit in enumerate(row):
                if bit == "1":
                    x0 = x + (i * 6 + c) * scale
                    y0 = y + r * scale
                    img[..., y0:y0 + scale, x0:x0 + scale] = value


def base_dataset(kind, args, ident, study_uid, series_uid, series_number, modality, now):
    ds = Dataset()
    ds.SpecificCharacterSet = ["", "ISO 2022 IR 87"]
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = SOP_CLASS[kind]
    ds.StudyDate = now.strftime("%Y%m%d")
    ds.SeriesDate = ds.StudyDate
    ds.AcquisitionDate = ds.StudyDate
    ds.ContentDate = ds.StudyDate
    ds.StudyTime = now.strftime("%H%M%S")
    ds.SeriesTime = ds.StudyTime
    ds.AcquisitionTime = ds.StudyTime
    ds.ContentTime = ds.StudyTime
    ds.AccessionNumber = ident.accession
    ds.Modality = modality
    ds.Manufacturer = "TSUNAGU SYNTHETIC"
    ds.InstitutionName = "つなぐ総合病院"
    ds.InstitutionAddress = "大分県大分市つなぐ町1-2-3"
    ds.ReferringPhysicianName = "Suzuki^Ichiro=鈴木^一郎=すずき^いちろう"
    ds.StationName = "CT-ROOM-3"
    ds.StudyDescription = {"ct": "CT CHEST ABDOMEN WITH CONTRAST", "mr": "MR BRAIN",
                           "us": "US CARDIAC", "xa": "XA CORONARY ANGIOGRAPHY",
                           "sc": "WOUND PHOTO"}[kind]
    ds.InstitutionalDepartmentName = "放射線部"
    ds.PerformingPhysicianName = "Tanaka^Hanako=田中^花子=たなか^はなこ"
    ds.NameOfPhysiciansReadingStudy = "Sato^Kenji"
    ds.OperatorsName = "Kobayashi^Yui=小林^結衣=こばやし^ゆい"
    ds.ManufacturerModelName = "SYNTH-" + modality
    ds.PatientName = ident.name
    ds.PatientID = ident.patient_id
    ds.IssuerOfPatientID = "TSUNAGU-HOSP"
    ds.PatientBirthDate = ident.birth_date
    ds.PatientSex = "M"
    if kind != "ct":
        # The CT leaves Patient's Age out on purpose, so the anonymizer must compute it.
        ds.PatientAge = "%03dY" % max(0, (now.year - int(ident.birth_date[:4])))
    ds.PatientSize = "1.72"
    ds.PatientWeight = "68"
    ds.PatientAddress = "東京都千代田区霞が関1-1"
    ds.PatientTelephoneNumbers = "03-1234-5678"
    other = Dataset()
    other.PatientID = ident.other_id
    other.IssuerOfPatientID = "OLD-HIS"
    other.TypeOfPatientID = "TEXT"
    ds.OtherPatientIDsSequence = Sequence([other])
    ds.DeviceSerialNumber = "SN-4711-%s" % modality
    ds.SoftwareVersions = "synth 1.0"
    ds.ProtocolName = ds.StudyDescription
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = "S" + ident.accession[-6:]
    ds.SeriesNumber = series_number
    ds.SeriesDescription = ds.StudyDescription + " SERIES %d" % series_number
    ds.FrameOfReferenceUID = uid(args.seed, "for", study_uid, series_number)
    ds.PositionReferenceIndicator = ""
    ds.BodyPartExamined = {"ct": "CHEST", "mr": "BRAIN", "us": "HEART", "xa": "HEART",
                           "sc": "SKIN"}[kind]
    # Technologists' comments often carry the patient's name and ID: Clean Descriptors must
    # remove them.
    ds.ImageComments = "Follow-up for %s (MRN %s)" % (ident.latin_name.replace("^", " "),
                                                      ident.patient_id)
    request = Dataset()
    request.AccessionNumber = ident.accession
    request.RequestedProcedureID = "RP" + ident.accession[-6:]
    request.ScheduledProcedureStepID = "SPS" + ident.accession[-6:]
    request.RequestingPhysician = "Watanabe^Jun=渡辺^健=わたなべ^けん"
    ds.RequestAttributesSequence = Sequence([request])
    code = Dataset()
    code.CodeValue = "RPID17"
    code.CodingSchemeDesignator = "99TSUNAGU"
    code.CodeMeaning = ds.StudyDescription
    ds.ProcedureCodeSequence = Sequence([code])
    # A private block that copies identifying data, as some vendors do.
    block = ds.private_block(0x0009, "TSUNAGU SYNTH 1.0", create=True)
    block.add_new(0x01, "LO", ident.latin_name)
    block.add_new(0x02, "LO", ident.patient_id)
    inner = Dataset()
    inner_block = inner.private_block(0x0011, "TSUNAGU SYNTH 1.0", create=True)
    inner_block.add_new(0x01, "DA", ident.birth_date)
    inner.PatientID = ident.patient_id
    block.add_new(0x03, "SQ", Sequence([inner]))
    return ds


def finish(ds, out_dir, series_number, modality, instance_number, args, study_uid):
    ds.InstanceNumber = instance_number
    ds.SOPInstanceUID = uid(args.seed, "sop", study_uid, series_number, instance_number)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = IMPLEMENTATION_UID
    meta.ImplementationVersionName = "TSUNAGU_SYNTH"
    ds.file_meta = meta
    ds.is_little_endian = True
    ds.is_implicit_VR = False
    series_dir = os.path.join(out_dir, "%03d-%s" % (series_number, modality))
    os.makedirs(series_dir, exist_ok=True)
    path = os.path.join(series_dir, "%04d.dcm" % instance_number)
    ds.save_as(path, write_like_original=False)


def set_pixels(ds, array, photometric="MONOCHROME2"):
    ds.SamplesPerPixel = 1 if photometric.startswith("MONO") else 3
    ds.PhotometricInterpretation = photometric
    if ds.SamplesPerPixel == 3:
        ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = array.shape[-3:-1] if ds.SamplesPerPixel == 3 else array.shape[-2:]
    bits = array.dtype.itemsize * 8
    ds.BitsAllocated = bits
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 1 if array.dtype.kind == "i" else 0
    ds.PixelData = array.tobytes()
    ds["PixelData"].VR = "OW" if bits > 8 else "OB"


def generate_ct(args, ident, now):
    study_uid = uid(args.seed, "study", "ct")
    series_uid = uid(args.seed, "series", "ct", 2)
    rows = cols = args.size or 512
    spacing = 0.7 * 512 / rows
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    cy, cx = rows / 2.0, cols / 2.0
    rng = np.random.default_rng(args.seed)
    aorta_radius_px = 12.5 / spacing  # 25.0 mm diameter
    for i in range(args.slices):
        z = i / max(1, args.slices - 1)
        hu = np.full((rows, cols), -1000.0, dtype=np.float32)
        body = ((xx - cx) / (0.42 * cols)) ** 2 + ((yy - cy) / (0.32 * rows * (0.9 + 0.1 * z))) ** 2
        hu[body <= 1.0] = 40.0
        for side in (-1, 1):
            lung = ((xx - cx - side * 0.18 * cols) / (0.13 * cols)) ** 2 + \
                   ((yy - cy + 0.02 * rows) / (0.2 * rows)) ** 2
            hu[lung <= 1.0] = -820.0
        spine = ((xx - cx) / (0.045 * cols)) ** 2 + ((yy - cy - 0.2 * rows) / (0.045 * rows)) ** 2
        hu[spine <= 1.0] = 700.0
        aorta = (xx - (cx - 0.06 * cols)) ** 2 + (yy - (cy + 0.08 * rows)) ** 2
        hu[aorta <= aorta_radius_px ** 2] = 300.0
        # Two 3x3 px bone-density markers exactly 50.0 mm apart on one row.
        mx = int(cx - 25.0 / spacing / 2)
        my = int(cy - 0.25 * rows)
        for px in (mx, mx + int(round(50.0 / spacing))):
            hu[my - 1:my + 2, px - 1:px + 2] = 1500.0
        hu += rng.normal(0.0, 12.0, size=hu.shape).astype(np.float32)
        stored = np.clip(hu + 1024.0, -2048, 32767).astype(np.int16)
        ds = base_dataset("ct", args, ident, study_uid, series_uid, 2, "CT", now)
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.KVP = "120"
        ds.SliceThickness = "1.0"
        ds.SpacingBetweenSlices = "1.0"
        ds.PixelSpacing = ["%.6f" % spacing, "%.6f" % spacing]
        ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
        ds.ImagePositionPatient = ["%.3f" % (-cx * spacing), "%.3f" % (-cy * spacing),
                                   "%.3f" % (-1.0 * i)]
        ds.SliceLocation = "%.3f" % (-1.0 * i)
        ds.RescaleIntercept = "-1024"
        ds.RescaleSlope = "1"
        ds.RescaleType = "HU"
        ds.WindowCenter = ["40", "-600"]
        ds.WindowWidth = ["400", "1500"]
        ds.WindowCenterWidthExplanation = ["MEDIASTINUM", "LUNG"]
        set_pixels(ds, stored)
        finish(ds, args.out, 2, "CT", i + 1, args, study_uid)
    return study_uid


def generate_mr(args, ident, now):
    study_uid = uid(args.seed, "study", "mr")
    rows = cols = args.size or 256
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    rng = np.random.default_rng(args.seed + 1)
    slices = args.slices if args.slices_given else 24
    for series_number, (label, brain, csf) in enumerate((("T1", 600, 200), ("T2", 500, 1400)), 3):
        series_uid = uid(args.seed, "series", "mr", series_number)
        for i in range(slices):
            head = ((xx - cols / 2) / (0.4 * cols)) ** 2 + ((yy - rows / 2) / (0.46 * rows)) ** 2
            img = np.zeros((rows, cols), dtype=np.float32)
            img[head <= 1.0] = brain
            vent = ((xx - cols / 2) / (0.08 * cols)) ** 2 + ((yy - rows / 2) / (0.15 * rows)) ** 2
            img[vent <= 1.0] = csf
            img += rng.normal(0, 15, img.shape)
            ds = base_dataset("mr", args, ident, study_uid, series_uid, series_number, "MR", now)
            ds.SeriesDescription = "MR BRAIN AX " + label
            ds.ScanningSequence = "SE"
            ds.SequenceVariant = "NONE"
            ds.MagneticFieldStrength = "1.5"
            ds.SliceThickness = "5.0"
            ds.PixelSpacing = ["0.9375", "0.9375"]
            ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
            ds.ImagePositionPatient = ["-120", "-120", "%.1f" % (5.0 * i)]
            set_pixels(ds, np.clip(img, 0, 4095).astype(np.uint16))
            ds.BitsStored = 12
            ds.HighBit = 11
            finish(ds, args.out, series_number, "MR", i + 1, args, study_uid)
    return study_uid


def generate_us(args, ident, now):
    study_uid = uid(args.seed, "study", "us")
    series_uid = uid(args.seed, "series", "us", 1)
    frames = args.frames or 30
    rows, cols = 480, 640
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    rng = np.random.default_rng(args.seed + 2)
    cine = np.zeros((frames, rows, cols), dtype=np.uint8)
    for f in range(frames):
        r = 120 + 20 * np.sin(2 * np.pi * f / frames)
        sector = (np.hypot(xx - cols / 2, yy) < 440) & (np.abs(xx - cols / 2) < yy * 0.9)
        img = np.where(sector, rng.integers(20, 90, (rows, cols)), 0).astype(np.uint8)
        cavity = np.hypot(xx - cols / 2, yy - 250) < r
        img[cavity & sector] = 10
        cine[f] = img
    # Burned-in annotation: patient name and ID in the top band, as US machines print them.
    draw_text(cine, ident.latin_name.split("^")[0][:10], 10, 8, 2, 255)
    draw_text(cine, ident.patient_id[-10:].replace("TSU", ""), 10, 26, 2, 255)
    ds = base_dataset("us", args, ident, study_uid, series_uid, 1, "US", now)
    ds.BurnedInAnnotation = "YES"
    ds.NumberOfFrames = frames
    ds.FrameIncrementPointer = pydicom.tag.Tag("FrameTime")
    ds.FrameTime = "33.33"
    ds.CineRate = 30
    set_pixels(ds, cine)
    finish(ds, args.out, 1, "US", 1, args, study_uid)
    return study_uid


def generate_xa(args, ident, now):
    study_uid = uid(args.seed, "study", "xa")
    series_uid = uid(args.seed, "series", "xa", 1)
    frames = args.frames or 60
    rows = cols = args.size or 512
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    rng = np.random.default_rng(args.seed + 3)
    cine = np.zeros((frames, rows, cols), dtype=np.uint8)
    for f in range(frames):
        fill = min(1.0, f / (0.6 * frames))  # contrast flowing in
        img = 180 + rng.normal(0, 6, (rows, cols))
        for k, (a, b) in enumerate(((0.3, 0.004), (0.55, -0.003), (0.7, 0.002))):
            centre = rows * a + np.sin(xx / 40.0 + k) * 20 + b * xx * rows / 10
            vessel = (np.abs(yy - centre) < 6) & (xx < cols * fill)
            img[vessel] = 60
        cine[f] = np.clip(img, 0, 255).astype(np.uint8)
    ds = base_dataset("xa", args, ident, study_uid, series_uid, 1, "XA", now)
    ds.NumberOfFrames = frames
    ds.FrameIncrementPointer = pydicom.tag.Tag("FrameTime")
    ds.FrameTime = "66.67"
    ds.CineRate = 15
    ds.ImagerPixelSpacing = ["0.2", "0.2"]
    ds.PositionerPrimaryAngle = "30"
    ds.PositionerSecondaryAngle = "20"
    ds.BurnedInAnnotation = "NO"
    set_pixels(ds, cine)
    finish(ds, args.out, 1, "XA", 1, args, study_uid)
    return study_uid


def generate_sc(args, ident, now):
    study_uid = uid(args.seed, "study", "sc")
    series_uid = uid(args.seed, "series", "sc", 1)
    rows, cols = 480, 640
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    rgb = np.zeros((rows, cols, 3), dtype=np.uint8)
    rgb[..., 0] = (200 - yy / 6).astype(np.uint8)
    rgb[..., 1] = (150 - xx / 8).astype(np.uint8)
    rgb[..., 2] = 120
    wound = ((xx - 320) / 80) ** 2 + ((yy - 240) / 30) ** 2 <= 1
    rgb[wound] = (150, 20, 30)
    ds = base_dataset("sc", args, ident, study_uid, series_uid, 1, "XC", now)
    ds.ConversionType = "DI"
    set_pixels(ds, rgb, "RGB")
    finish(ds, args.out, 1, "XC", 1, args, study_uid)
    return study_uid


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--kind", required=True, choices=["ct", "mr", "us", "xa", "sc"])
    p.add_argument("--out", required=True, help="output directory (created)")
    p.add_argument("--slices", type=int, default=None, help="CT/MR slices (CT default 300)")
    p.add_argument("--frames", type=int, default=None, help="US/XA frames")
    p.add_argument("--size", type=int, default=None, help="rows=columns for CT/MR/XA")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--patient-name", default="Yamada^Tarou")
    p.add_argument("--patient-name-kanji", default="山田^太郎")
    p.add_argument("--patient-name-kana", default="やまだ^たろう")
    p.add_argument("--patient-id", default="TSU-0012345678")
    p.add_argument("--birth-date", default="19580314")
    p.add_argument("--accession", default="ACC20261122001")
    p.add_argument("--study-date", default=None, help="YYYYMMDD (default: today)")
    args = p.parse_args()
    args.slices_given = args.slices is not None
    if args.slices is None:
        args.slices = 300
    if args.slices < 1 or args.slices > 5000:
        p.error("--slices must be 1..5000")
    now = datetime.datetime.now().replace(microsecond=0)
    if args.study_date:
        now = datetime.datetime.strptime(args.study_date + now.strftime("%H%M%S"), "%Y%m%d%H%M%S")
    ident = Identity(args)
    os.makedirs(args.out, exist_ok=True)
    generator = {"ct": generate_ct, "mr": generate_mr, "us": generate_us, "xa": generate_xa,
                 "sc": generate_sc}[args.kind]
    study_uid = generator(args, ident, now)
    print("study_uid=%s" % study_uid)


if __name__ == "__main__":
    sys.exit(main())
