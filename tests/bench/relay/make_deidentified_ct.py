#!/usr/bin/python3
"""Writes a synthetic, already de-identified CT series for the relay benchmark: N slices of
512x512 16-bit signed (Explicit VR Little Endian), Patient Identity Removed YES, a 4-character
Patient ID, no private tags. Prints "study_uid=..." then one "<sop uid> <path>" line per file.
With COPIES > 1, also writes copies 2..COPIES of the series under OUT_DIR/copyN/ with other
study, series and SOP UIDs (same lengths, so every file keeps its size), each with its own
OUT_DIR/copyN/manifest.txt in the same format: a benchmark that uploads several times needs a
fresh study each time (a repeated upload is a no-op at the relay).

Usage: /usr/bin/python3 make_deidentified_ct.py OUT_DIR SLICES [COPIES]
"""
import os
import sys

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

out, slices = sys.argv[1], int(sys.argv[2])
copies = int(sys.argv[3]) if len(sys.argv) > 3 else 1
os.makedirs(out, exist_ok=True)
root = "2.25.4242424242"
copy_roots = [f"2.25.42424242{c:02d}" for c in range(2, copies + 1)]  # same length as root
manifests = []
for c, copy_root in enumerate(copy_roots, start=2):
    os.makedirs(os.path.join(out, f"copy{c}"), exist_ok=True)
    manifests.append(open(os.path.join(out, f"copy{c}", "manifest.txt"), "w"))
    manifests[-1].write(f"study_uid={copy_root}.1\n")
study, series = root + ".1", root + ".1.1"
print("study_uid=" + study)
yy, xx = np.mgrid[0:512, 0:512]
for i in range(slices):
    sop = f"{series}.{i + 1}"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    meta.MediaStorageSOPInstanceUID = sop
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = sop
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.PatientName, ds.PatientID = "ANONYMIZED", "5678"
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "synthetic benchmark series"
    ds.Modality, ds.StudyDate, ds.SeriesNumber, ds.InstanceNumber = "CT", "20260101", 1, i + 1
    ds.Rows = ds.Columns = 512
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
    ds.WindowCenter, ds.WindowWidth = 40, 400
    ds.PixelSpacing, ds.SliceThickness = [0.7, 0.7], 1.0
    ds.ImagePositionPatient = [0, 0, float(i)]
    r = np.hypot(xx - 256, yy - 256)
    img = np.where(r < 200, 1024 + 40, 0) + np.where(np.hypot(xx - 256, yy - 300) < 18, 300, 0)
    ds.PixelData = (img + (i % 7)).astype(np.int16).tobytes()
    path = os.path.join(out, f"{i + 1:04d}.dcm")
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.save_as(path, write_like_original=False)
    print(f"{sop} {path}")
    if copy_roots:
        data = open(path, "rb").read()
        for c, (copy_root, m) in enumerate(zip(copy_roots, manifests), start=2):
            copy_path = os.path.join(out, f"copy{c}", f"{i + 1:04d}.dcm")
            with open(copy_path, "wb") as f:
                f.write(data.replace(root.encode(), copy_root.encode()))
            m.write(f"{sop.replace(root, copy_root)} {copy_path}\n")
for m in manifests:
    m.close()
