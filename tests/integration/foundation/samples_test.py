#!/usr/bin/python3
"""The sample generator writes what it promises: every file is read by DCMTK's dcmdump and by
pydicom, sizes and tags are as specified, and identifying data sits where real files carry it.
Prints "N passed, M failed"."""

import glob
import os
import subprocess
import sys
import tempfile

import pydicom

top = sys.argv[1]
generator = os.path.join(top, "samples", "generate_study.py")
passed = failed = 0


def check(what, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL: %s %s" % (what, detail), file=sys.stderr)


def generate(kind, out, *extra):
    result = subprocess.run(["/usr/bin/python3", generator, "--kind", kind, "--out", out, *extra],
                            capture_output=True, text=True, timeout=240)
    check("%s generator exits 0" % kind, result.returncode == 0, result.stderr)
    check("%s prints the study UID" % kind, result.stdout.startswith("study_uid=2.25."))
    files = sorted(glob.glob(os.path.join(out, "*", "*.dcm")))
    return result.stdout.strip().split("=", 1)[-1], files


def dcmdump_all(kind, files):
    # One dcmdump process reads every file (-q: only errors are printed).
    result = subprocess.run(["dcmdump", "-q", "+E", *files], capture_output=True, text=True,
                            timeout=240)
    check("%s: dcmdump reads every file without error" % kind,
          result.returncode == 0 and result.stderr == "", result.stderr[:500])


def check_identity(kind, ds):
    check(kind + " Japanese names in ISO 2022 IR 87",
          list(ds.SpecificCharacterSet) == ["", "ISO 2022 IR 87"] and
          str(ds.PatientName) == "Yamada^Tarou=山田^太郎=やまだ^たろう")
    raw = pydicom.dcmread(ds.filename, stop_before_pixels=True).get_item("PatientName").value
    check(kind + " PatientName raw bytes use the IR 87 escape", b"Yamada^Tarou=\x1b$B" in raw,
          repr(raw))
    check(kind + " identifiers present", ds.PatientID == "TSU-0012345678" and
          ds.PatientBirthDate == "19580314" and ds.AccessionNumber == "ACC20261122001")
    check(kind + " institution and physicians", ds.InstitutionName == "つなぐ総合病院" and
          "Suzuki" in str(ds.ReferringPhysicianName) and "Tanaka" in str(ds.PerformingPhysicianName)
          and "Kobayashi" in str(ds.OperatorsName))
    check(kind + " nested sequences carry identifiers",
          ds.OtherPatientIDsSequence[0].PatientID.startswith("OTH-") and
          ds.RequestAttributesSequence[0].AccessionNumber == ds.AccessionNumber)
    private = [e for e in ds if e.tag.is_private]
    check(kind + " private tags incl. a private sequence",
          any(e.VR == "SQ" for e in private) and any(e.value == "TSU-0012345678" for e in private
                                                      if e.VR == "LO"))
    check(kind + " descriptor repeats the name (Clean Descriptors must catch it)",
          "Yamada Tarou" in ds.ImageComments)


with tempfile.TemporaryDirectory() as tmp:
    # CT: 300 slices of 512x512, 16-bit signed, ~158 MB.
    study_uid, files = generate("ct", os.path.join(tmp, "ct"))
    check("ct has 300 slices", len(files) == 300, str(len(files)))
    total = sum(os.path.getsize(f) for f in files)
    check("ct is about 158 MB", 155e6 < total < 162e6, str(total))
    dcmdump_all("ct", files)
    uids = set()
    for i, f in enumerate(files):
        ds = pydicom.dcmread(f, stop_before_pixels=(i != 0))
        uids.add(ds.SOPInstanceUID)
        if i == 0:
            check("ct geometry", (ds.Rows, ds.Columns, ds.BitsAllocated, ds.BitsStored,
                                  ds.PixelRepresentation) == (512, 512, 16, 16, 1))
            check("ct pixel data size", len(ds.PixelData) == 512 * 512 * 2)
            check("ct rescale and window", ds.RescaleIntercept == -1024 and
                  list(ds.WindowCenter) == [40, -600])
            check("ct patient age left out (computed by the anonymizer)", "PatientAge" not in ds)
            check("ct study UID", ds.StudyInstanceUID == study_uid)
            check("ct file meta", ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1" and
                  ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID)
            check_identity("ct", ds)
    check("ct SOP Instance UIDs are unique", len(uids) == 300)
    study_again, _ = generate("ct", os.path.join(tmp, "ct2"), "--slices", "2")
    check("same seed gives the same study UID", study_again == study_uid)

    _, files = generate("mr", os.path.join(tmp, "mr"))
    check("mr has two series of 24", len(files) == 48 and
          len({os.path.dirname(f) for f in files}) == 2)
    dcmdump_all("mr", files)
    ds = pydicom.dcmread(files[0])
    check("mr geometry", (ds.Rows, ds.Columns, ds.BitsAllocated, ds.BitsStored) ==
          (256, 256, 16, 12) and ds.Modality == "MR")
    check_identity("mr", ds)

    _, files = generate("us", os.path.join(tmp, "us"))
    dcmdump_all("us", files)
    ds = pydicom.dcmread(files[0])
    check("us is a multi-frame cine with burned-in annotation flagged",
          ds.NumberOfFrames == 30 and ds.BurnedInAnnotation == "YES" and ds.Modality == "US" and
          ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.3.1" and float(ds.FrameTime) > 0)
    frame0 = ds.pixel_array[0]
    check("us burned-in text is drawn in the top band", frame0[8:40, 10:200].max() == 255)
    check_identity("us", ds)

    _, files = generate("xa", os.path.join(tmp, "xa"))
    dcmdump_all("xa", files)
    ds = pydicom.dcmread(files[0])
    check("xa multi-frame angiography", ds.NumberOfFrames == 60 and ds.Modality == "XA" and
          ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.12.1" and float(ds.FrameTime) == 66.67 and
          len(ds.PixelData) == 60 * 512 * 512)
    check_identity("xa", ds)

    _, files = generate("sc", os.path.join(tmp, "sc"))
    dcmdump_all("sc", files)
    ds = pydicom.dcmread(files[0])
    check("sc RGB photo", ds.PhotometricInterpretation == "RGB" and ds.SamplesPerPixel == 3 and
          ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7" and "BurnedInAnnotation" not in ds)
    check_identity("sc", ds)

    bad = subprocess.run(["/usr/bin/python3", generator, "--kind", "pet", "--out", tmp],
                         capture_output=True, text=True, timeout=60)
    check("unknown kind is a usage error", bad.returncode == 2 and "invalid choice" in bad.stderr)

print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
