#!/usr/bin/python3
"""Integration tests of tsunagu-anonymize as a real process on real files.

Usage: anonymizer_it.py TOOL TEST   (TEST: corpus | pydicom_files | cli | hostile)
Every run is bounded (subprocess timeouts); every temporary directory is private and removed.
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import pydicom

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import corpus  # noqa: E402

TIMEOUT = 120
failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
        print("FAIL:", message)


def run(tool, args, env=None, timeout=TIMEOUT):
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([tool] + args, capture_output=True, timeout=timeout, env=full_env)


def secret(tmp, name="secret", mode=0o600, content=b"integration-test-site-secret\n"):
    path = os.path.join(tmp, name)
    with open(path, "wb") as f:
        f.write(content)
    os.chmod(path, mode)
    return path


def outputs(out_dir):
    return sorted(glob.glob(os.path.join(out_dir, "*.dcm")))


def check_no_partial_files(out_dir):
    leftovers = [f for f in os.listdir(out_dir) if not f.endswith(".dcm")] if os.path.isdir(
        out_dir) else []
    check(not leftovers, "temporary or partial files left in the output: %s" % leftovers)
    for f in os.listdir(out_dir) if os.path.isdir(out_dir) else []:
        check(re.fullmatch(r"2\.25\.\d+\.dcm", f) is not None, "unexpected output name " + f)


def check_round_trip(path):
    """dcmdump and pydicom both read the output completely."""
    r = subprocess.run(["dcmdump", "-q", "+E", path], capture_output=True, timeout=60)
    check(r.returncode == 0 and b"E:" not in r.stderr,
          "dcmdump cannot read %s: %s" % (os.path.basename(path), r.stderr[:200]))
    ds = pydicom.dcmread(path)
    for elem in ds.iterall():  # decodes every value, nested too
        _ = elem.value
    check(ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID,
          "meta header UID differs from the dataset's in " + os.path.basename(path))
    check(os.path.basename(path) == ds.SOPInstanceUID + ".dcm",
          "file not named by its SOP Instance UID: " + os.path.basename(path))
    check(ds.get("PatientIdentityRemoved") == "YES", "Patient Identity Removed missing")
    return ds


def text_values(ds):
    for elem in ds.iterall():
        if elem.VR in ("PN", "LO", "SH", "LT", "ST", "UT", "UC", "CS", "AE", "DA", "DT"):
            value = elem.value
            if isinstance(value, (list, pydicom.multival.MultiValue)):
                for v in value:
                    yield elem.tag, str(v)
            elif value is not None:
                yield elem.tag, str(value)


def pixel_bytes(ds):
    return bytes(ds.PixelData) if "PixelData" in ds else b""


def check_clean(path, planted_latin, planted_ja, original_uids):
    """No planted value in the bytes of the file (any encoding) or in any decoded value."""
    with open(path, "rb") as f:
        raw = f.read()
    ds = check_round_trip(path)
    check(raw[:128] == b"\0" * 128, "preamble not empty in " + os.path.basename(path))
    pixels = pixel_bytes(ds)
    if pixels:
        raw = raw.replace(pixels, b"")
    low = raw.lower()
    name = os.path.basename(path)
    for value in planted_latin + planted_ja:
        for form in corpus.variants(value):
            hit = form.lower() in low if form.isascii() else form in raw
            check(not hit, "planted value #%d survived as bytes in %s" % (
                (planted_latin + planted_ja).index(value), name))
    for tag, text in text_values(ds):
        for value in planted_latin:
            check(value.lower() not in text.lower(),
                  "planted value #%d survived in %s of %s" % (planted_latin.index(value), tag,
                                                              name))
        for value in planted_ja:
            check(value not in text, "planted Japanese value survived in %s of %s" % (tag, name))
    for uid in original_uids:
        check(uid.encode() not in raw, "an original UID survived in " + name)
    for elem in ds.iterall():
        check(elem.tag.group % 2 == 0, "private attribute %s survived in %s" % (elem.tag, name))
        check(not (0x6000 <= elem.tag.group <= 0x601E), "overlay survived in " + name)
        check(not (0x5000 <= elem.tag.group <= 0x501E), "curve survived in " + name)
    check("OriginalAttributesSequence" not in ds, "Original Attributes Sequence survived")
    return ds


def test_corpus(tool):
    with tempfile.TemporaryDirectory(prefix="tsunagu-it-") as tmp:
        in_dir = os.path.join(tmp, "in")
        out_dir = os.path.join(tmp, "out")
        expected = corpus.make(in_dir)
        inputs = {}
        for name in expected:
            inputs[name] = pydicom.dcmread(os.path.join(in_dir, name))
        r = run(tool, ["--secret-file", secret(tmp), "--output", out_dir, "--jobs", "2", in_dir])
        stderr = r.stderr.decode("utf-8", "replace")
        check(r.returncode == 3, "exit status %d, expected 3 (some refused)" % r.returncode)
        refused = {os.path.basename(line.split(": ")[0]) for line in stderr.splitlines() if line}
        check(refused == {n for n, e in expected.items() if e == "refused"},
              "refused set %s differs from expected" % sorted(refused))
        for line in stderr.splitlines():
            for value in corpus.PLANTED_LATIN + corpus.PLANTED_JA:
                check(value.lower() not in line.lower(), "an identifying value in stderr")
        check("burned-in" in stderr, "burned-in refusal reason missing")
        check("verification failed" in stderr, "verifier refusal reason missing")
        check("compressed pixel data" in stderr, "JPEG comment refusal reason missing")
        original_uids = [corpus.STUDY_UID, corpus.SERIES_UID, corpus.FRAME_UID] + [
            corpus.uid(i) for i in range(1, 12)] + [corpus.uid(999)]
        written = outputs(out_dir)
        check(len(written) == sum(1 for e in expected.values() if e == "written"),
              "wrote %d files" % len(written))
        check_no_partial_files(out_dir)
        by_class = {}
        for path in written:
            ds = check_clean(path, corpus.PLANTED_LATIN, corpus.PLANTED_JA, original_uids)
            by_class.setdefault(ds.get("SeriesNumber"), []).append(ds)
            check(ds.PatientID == "7766", "Patient ID is not its last 4 characters")
            check(ds.PatientName == "", "Patient Name not empty")
            check(ds.StudyDate == "20240101", "Study Date not kept")
            if ds.Modality == "CT":
                check(ds.PatientAge == "062Y", "age not computed from the birth date")
                check(ds.PatientSex == "M", "sex not kept")
                check(str(ds.StudyDescription).startswith(("CT chest", "胸部CT")),
                      "study description lost its clean words: not cleaned but wiped")
        # Same study/series UIDs for every instance (consistent mapping), none original.
        studies = {pydicom.dcmread(p).StudyInstanceUID for p in written}
        check(len(studies) == 1, "study UID not mapped consistently: %d values" % len(studies))
        # Pixel data bit for bit, transfer syntax kept.
        for path in written:
            ds = pydicom.dcmread(path)
            source = [d for d in inputs.values()
                      if d.SOPInstanceUID and ds.InstanceNumber == d.InstanceNumber and
                      d.file_meta.TransferSyntaxUID == ds.file_meta.TransferSyntaxUID and
                      d.get("Modality") == ds.Modality and
                      d.get("SpecificCharacterSet") is not None] or []
            if ds.InstanceNumber == corpus.OVERLAY_INSTANCE_NUMBER:
                # The overlay in the high bits is cleared; the 12 image bits are untouched.
                source = inputs["ct_overlay_bits.dcm"]
                before = np.frombuffer(bytes(source.PixelData), dtype=np.uint16)
                after = np.frombuffer(bytes(ds.PixelData), dtype=np.uint16)
                check(int((before & 0x8000).max()) != 0, "overlay corpus file has no overlay")
                check(np.array_equal(after, before & 0x0FFF),
                      "overlay bits not cleared or image bits changed")
                continue
            if "PixelData" in ds:
                same = [d for d in inputs.values() if "PixelData" in d and
                        d.file_meta.TransferSyntaxUID == ds.file_meta.TransferSyntaxUID]
                check(any(bytes(d.PixelData) == bytes(ds.PixelData) for d in same),
                      "pixel data changed in " + os.path.basename(path))
            del source
        # A mask rule releases the US instance, masked and flagged.
        cfg = os.path.join(tmp, "anonymizer.toml")
        with open(cfg, "w") as f:
            f.write('[anonymizer]\n[[anonymizer.pixel_mask]]\nmanufacturer = "ACME Medical"\n'
                    'rows = 64\ncolumns = 64\nrectangles = ["0,0,64,8"]\n')
        out2 = os.path.join(tmp, "out2")
        r = run(tool, ["--config", cfg, "--secret-file", secret(tmp), "--output", out2,
                       os.path.join(in_dir, "us_burned.dcm")])
        check(r.returncode == 0, "masked US not written: %s" % r.stderr[:300])
        for path in outputs(out2):
            ds = check_clean(path, corpus.PLANTED_LATIN, corpus.PLANTED_JA, original_uids)
            check(ds.BurnedInAnnotation == "NO", "Burned In Annotation not NO after masking")
            arr = ds.pixel_array
            check(int(arr[:8, :].max()) == 0, "mask rectangle not black")
            check(int(arr[8:, :].max()) > 0, "pixels outside the mask changed to black")
        check_mask_compressed(tool, tmp)


def check_mask_compressed(tool, tmp):
    """JPEG, RLE and JPEG 2000 inputs are decompressed, masked and written lossless."""
    from pydicom.pixel_data_handlers.util import convert_color_space
    data = os.path.dirname(pydicom.__file__) + "/data/test_files"
    cfg = os.path.join(tmp, "mask.toml")
    with open(cfg, "w") as f:
        f.write('[anonymizer]\n[[anonymizer.pixel_mask]]\nrectangles = ["0,0,20,10"]\n')
    for name in ("SC_rgb_jpeg_dcmtk.dcm", "SC_rgb_rle.dcm", "SC_rgb_rle_16bit_2frame.dcm",
                 "SC_rgb_gdcm_KY.dcm"):  # JPEG baseline, RLE, RLE 16-bit, JPEG 2000
        out = os.path.join(tmp, "mask-" + name)
        r = run(tool, ["--config", cfg, "--secret-file", secret(tmp), "--output", out,
                       os.path.join(data, name)])
        check(r.returncode == 0, "%s not masked: %r" % (name, r.stderr[:200]))
        for path in outputs(out):
            ds = check_round_trip(path)
            src = pydicom.dcmread(os.path.join(data, name))
            check(ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1",
                  name + ": masked output not Explicit VR Little Endian")
            check(ds.BurnedInAnnotation == "NO", name + ": Burned In Annotation not NO")
            a = ds.pixel_array.astype(int)
            b = src.pixel_array
            if src.PhotometricInterpretation == "YBR_FULL" and ds.PhotometricInterpretation == "RGB":
                b = convert_color_space(b, "YBR_FULL", "RGB")
            b = b.astype(int)
            if ds.get("NumberOfFrames", 1) > 1:
                a, b = a.reshape((-1,) + a.shape[-3:]), b.reshape((-1,) + b.shape[-3:])
            else:
                a, b = a[None], b[None]
            check(int(a[:, :10, :20].max()) == 0, name + ": mask rectangle not black")
            check((a[:, 10:] == b[:, 10:]).all() and (a[:, :, 20:] == b[:, :, 20:]).all(),
                  name + ": pixels outside the mask changed")


def test_pydicom_files(tool):
    data = os.path.dirname(pydicom.__file__) + "/data"
    dirs = [data + "/test_files", data + "/charset_files"]
    files = sorted(f for d in dirs for f in glob.glob(d + "/**/*", recursive=True)
                   if os.path.isfile(f))
    check(len(files) > 50, "pydicom's test files not found")
    with tempfile.TemporaryDirectory(prefix="tsunagu-it-") as tmp:
        for config_text, label in (("", "default"),
                                   ('[anonymizer]\n[[anonymizer.pixel_mask]]\n'
                                    'rectangles = ["0,0,8,8"]\n', "mask-all")):
            out_dir = os.path.join(tmp, "out-" + label)
            args = ["--secret-file", secret(tmp), "--output", out_dir, "--jobs", "2"]
            if config_text:
                cfg = os.path.join(tmp, label + ".toml")
                with open(cfg, "w") as f:
                    f.write(config_text)
                args += ["--config", cfg]
            r = run(tool, args + dirs)
            check(r.returncode in (0, 3), "%s: exit status %d" % (label, r.returncode))
            lines = [l for l in r.stderr.decode("utf-8", "replace").splitlines() if l]
            reasons = {}
            for line in lines:
                path, _, reason = line.partition(": ")
                check(path in files and reason, "%s: bad stderr line %r" % (label, line[:120]))
                reasons[path] = reason
            written = outputs(out_dir)
            # Several inputs are one instance in different transfer syntaxes (same SOP Instance
            # UID, so the same output name): count what the tool says it wrote.
            m = re.search(rb"(\d+) written, (\d+) refused", r.stdout)
            n_written = int(m.group(1)) if m else -1
            check(n_written + len(reasons) == len(files) and int(m.group(2)) == len(reasons),
                  "%s: %d written + %d refused != %d inputs" % (label, n_written, len(reasons),
                                                                len(files)))
            check(0 < len(written) <= n_written, "%s: output files missing" % label)
            check_no_partial_files(out_dir)
            # The names and IDs of the inputs (as pydicom reads them) must not survive.
            planted = set()
            for f in files:
                try:
                    src = pydicom.dcmread(f, force=True)
                    for key in ("PatientName", "OtherPatientNames", "ReferringPhysicianName",
                                "AccessionNumber", "InstitutionName"):
                        v = str(src.get(key, "") or "")
                        for part in re.split(r"[\^=\\]", v):
                            if len(part.strip()) >= 5:
                                planted.add(part.strip())
                except Exception:  # unreadable inputs are refused; nothing to plant
                    pass
            planted -= {"CompressedSamples", "Anonymized", "ANONYMIZED"}  # placeholders
            for path in written:
                ds = check_round_trip(path)
                for tag, text in text_values(ds):
                    for value in planted:
                        if value in text and tag not in (0x00080070, 0x00081090):
                            check(False, "%s: an input name/ID survived in %s of %s" %
                                  (label, tag, os.path.basename(path)))
            print("%s: %d inputs, %d written (%d distinct instances), %d refused or unreadable" %
                  (label, len(files), n_written, len(written), len(reasons)))
            for path, reason in sorted(reasons.items()):
                print("  %s: %s" % (os.path.relpath(path, data), reason))
            if label == "mask-all":
                # Japanese ISO 2022 IR 87 and the other character sets go through, not around.
                names = {pydicom.dcmread(p).get("PatientID") for p in written}
                check(len(names) > 0, "nothing written from the charset files")


def test_cli(tool):
    with tempfile.TemporaryDirectory(prefix="tsunagu-it-") as tmp:
        in_dir = os.path.join(tmp, "in")
        corpus.make(in_dir)
        good = os.path.join(in_dir, "ct_latin.dcm")
        sec = secret(tmp)
        out = os.path.join(tmp, "out")
        # Usage and configuration errors: 2, nothing written.
        for args in ([], ["--output", out, good], ["--secret-file", sec, good],
                     ["--secret-file", sec, "--output", out],
                     ["--secret-file", sec, "--output", out, "--jobs", "0", good],
                     ["--secret-file", sec, "--output", out, "--profile", "research", good],
                     ["--secret-file", secret(tmp, "open", 0o644), "--output", out, good],
                     ["--secret-file", secret(tmp, "empty", 0o600, b""), "--output", out, good],
                     ["--secret-file", sec, "--output", out, "--config", "/nonexistent", good],
                     ["--bogus"]):
            r = run(tool, args)
            check(r.returncode == 2, "args %s: exit %d, expected 2" % (args, r.returncode))
            check(len(r.stderr.decode().strip().splitlines()) >= 1, "no error message")
        check(not os.path.exists(out) or not os.listdir(out), "usage error wrote output")
        if os.geteuid() != 0:  # root writes anywhere
            locked = os.path.join(tmp, "locked")
            os.makedirs(locked, mode=0o500)
            r = run(tool, ["--secret-file", sec, "--output", locked, good])
            check(r.returncode == 2, "unwritable --output: exit %d, expected 2" % r.returncode)
        bad_cfg = os.path.join(tmp, "bad.toml")
        with open(bad_cfg, "w") as f:
            f.write('[anonymizer]\npatient_id_keep = 12\nfoo = 1\n')
        r = run(tool, ["--config", bad_cfg, "--secret-file", sec, "--output", out, good])
        err = r.stderr.decode()
        check(r.returncode == 2 and "anonymizer.patient_id_keep" in err and "anonymizer.foo" in err,
              "config errors not reported exactly: %r" % err[:300])
        # Success: 0; same secret gives the same names and bytes on a second run.
        r1 = run(tool, ["--secret-file", sec, "--output", out, good])
        check(r1.returncode == 0, "exit %d for a good file: %r" % (r1.returncode, r1.stderr[:200]))
        out_b = os.path.join(tmp, "out_b")
        run(tool, ["--secret-file", sec, "--output", out_b, good])
        a, b = outputs(out), outputs(out_b)
        check([os.path.basename(x) for x in a] == [os.path.basename(x) for x in b] and len(a) == 1,
              "output names differ between runs")
        if a and b:
            check(open(a[0], "rb").read() == open(b[0], "rb").read(),
                  "output bytes differ between runs")
        other = secret(tmp, "other", 0o600, b"another-site\n")
        out_c = os.path.join(tmp, "out_c")
        run(tool, ["--secret-file", other, "--output", out_c, good])
        check([os.path.basename(x) for x in outputs(out_c)] != [os.path.basename(x) for x in a],
              "another secret gives the same UIDs")
        # --no-fsync skips the flush only: same bytes under the same name, no temporary left.
        out_e = os.path.join(tmp, "out_e")
        r = run(tool, ["--no-fsync", "--secret-file", sec, "--output", out_e, good])
        check(r.returncode == 0, "--no-fsync: exit %d" % r.returncode)
        e = outputs(out_e)
        check([os.path.basename(x) for x in e] == [os.path.basename(x) for x in a],
              "--no-fsync output name differs")
        if e and a:
            check(open(e[0], "rb").read() == open(a[0], "rb").read(),
                  "--no-fsync output bytes differ")
        check_no_partial_files(out_e)
        # Missing input: 3, and the others are written.
        out_d = os.path.join(tmp, "out_d")
        r = run(tool, ["--secret-file", sec, "--output", out_d, good, os.path.join(tmp, "nope")])
        check(r.returncode == 3 and len(outputs(out_d)) == 1, "missing input handling")
        check(r.stderr.decode().startswith(os.path.join(tmp, "nope") + ": "),
              "stderr line does not name the path")
        # Help in both languages.
        en = run(tool, ["--help"], env={"TSUNAGU_LANG": "en"}).stdout.decode()
        ja = run(tool, ["--help"], env={"TSUNAGU_LANG": "ja"}).stdout.decode()
        check("Usage: tsunagu-anonymize" in en and "--no-fsync" in en, "English help")
        check("使い方" in ja and "--no-fsync" in ja, "Japanese help")


def test_hostile(tool):
    """Truncated, garbage, headerless, odd inputs: a reason each, no crash, no hang, no partial."""
    data = os.path.dirname(pydicom.__file__) + "/data/test_files"
    with tempfile.TemporaryDirectory(prefix="tsunagu-it-") as tmp:
        in_dir = os.path.join(tmp, "in")
        corpus.make(in_dir)
        src = open(os.path.join(in_dir, "ct_latin.dcm"), "rb").read()
        hostile = os.path.join(tmp, "hostile")
        os.makedirs(hostile)
        for cut in (0, 1, 128, 132, 140, 300, 700, len(src) // 2, len(src) - 3):
            open(os.path.join(hostile, "cut%05d.dcm" % cut), "wb").write(src[:cut])
        open(os.path.join(hostile, "garbage.dcm"), "wb").write(os.urandom(4096))
        open(os.path.join(hostile, "dicm_garbage.dcm"), "wb").write(
            b"\0" * 128 + b"DICM" + os.urandom(2048))
        # A huge declared length, a wrong VR, an undefined-length garbage sequence.
        bad = bytearray(src)
        pos = bad.find(b"\x10\x00\x10\x00PN")
        if pos > 0:
            bad[pos + 6:pos + 8] = b"\xff\xff"
        open(os.path.join(hostile, "bad_length.dcm"), "wb").write(bytes(bad))
        bad2 = bytearray(src)
        pos = bad2.find(b"\x08\x00\x60\x00CS")
        if pos > 0:
            bad2[pos + 4:pos + 6] = b"SQ"
        open(os.path.join(hostile, "wrong_vr.dcm"), "wb").write(bytes(bad2))
        # Broken character sets: invalid ISO 2022 IR 87 bytes, an unknown defined term.
        for name, charset, raw in (("bad_ir87.dcm", ["", "ISO 2022 IR 87"],
                                    b"\x1b$B\x80\x81\x1b(B^Kowalski"),
                                   ("unknown_charset.dcm", "ISO_IR 999", b"M\xfcller^Kowalski")):
            ds = pydicom.dcmread(os.path.join(in_dir, "ct_implicit.dcm"))
            ds.SpecificCharacterSet = charset
            ds.add_new(0x00100010, "PN", raw)
            ds.save_as(os.path.join(hostile, name))
        # Sequences nested 20000 deep (parsed on a large stack) and 160000 deep (refused before
        # parsing): a recursive reader on a default stack crashes on both.
        import struct
        level_open = (struct.pack("<HH", 0xFFFA, 0xFFFA) + b"SQ\0\0" + b"\xff" * 4 +
                      struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF))
        level_close = struct.pack("<HHI", 0xFFFE, 0xE00D, 0) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
        for depth in (20000, 160000):
            with open(os.path.join(hostile, "nested%d.dcm" % depth), "wb") as f:
                f.write(src + level_open * depth + level_close * depth)
        # The same nesting inside a deflated dataset (small on disk).
        import zlib
        dfl = open(os.path.join(in_dir, "ct_deflated.dcm"), "rb").read()
        meta_end = 144 + struct.unpack("<I", dfl[140:144])[0]
        dataset = zlib.decompress(dfl[meta_end:], -zlib.MAX_WBITS)
        packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        body = packer.compress(dataset + level_open * 160000 + level_close * 160000)
        with open(os.path.join(hostile, "nested_deflated.dcm"), "wb") as f:
            f.write(dfl[:meta_end] + body + packer.flush())
        expect_refused = {"bad_ir87.dcm", "unknown_charset.dcm", "nested160000.dcm",
                          "nested_deflated.dcm"}
        for name in ("no_meta.dcm", "ExplVR_BigEndNoMeta.dcm", "MR_truncated.dcm",
                     "rtplan_truncated.dcm", "badVR.dcm", "UN_sequence.dcm", "nested_priv_SQ.dcm"):
            if os.path.exists(os.path.join(data, name)):
                shutil.copy(os.path.join(data, name), hostile)
        out = os.path.join(tmp, "out")
        r = run(tool, ["--secret-file", secret(tmp), "--output", out, "--jobs", "2", hostile],
                timeout=120)
        check(r.returncode in (0, 3), "hostile inputs: exit %d (crash?)" % r.returncode)
        n_inputs = len(os.listdir(hostile))
        lines = [l for l in r.stderr.decode("utf-8", "replace").splitlines() if l]
        check(len(lines) + len(outputs(out)) == n_inputs,
              "%d lines + %d written != %d inputs" % (len(lines), len(outputs(out)), n_inputs))
        check_no_partial_files(out)
        for path in outputs(out):
            check_round_trip(path)
        refused = {os.path.basename(l.split(": ")[0]) for l in lines}
        check(expect_refused <= refused, "broken character sets not refused: %s" % sorted(
            expect_refused - refused))
        for line in lines:
            check("Kowalski" not in line and "PID-" not in line, "identifying value on stderr")
        print("hostile: %d inputs, %d written, %d refused or unreadable" % (
            n_inputs, len(outputs(out)), len(lines)))


def identifying_values(ds):
    """Names (every component, every group), IDs, accession, birth date, institution."""
    latin, other = set(), set()
    for elem in ds.iterall():
        values = []
        if elem.VR == "PN" and elem.value:
            for v in (elem.value if elem.VM > 1 else [elem.value]):
                for group in v.components:
                    values += [p for p in re.split(r"\^", group or "")]
        elif elem.keyword in ("PatientID", "OtherPatientIDs", "AccessionNumber",
                              "PatientBirthDate", "InstitutionName", "IssuerOfPatientID",
                              "RequestedProcedureID", "InstitutionAddress"):
            values += [str(v) for v in (elem.value if elem.VM > 1 else [elem.value])]
        for v in values:
            v = v.strip()
            if len(v) >= 3 and v.isascii():
                latin.add(v)
            elif len(v) >= 1 and not v.isascii():
                other.add(v)
    return sorted(latin), sorted(other)


def test_samples(tool):
    """The lead's synthetic studies (samples/generate_study.py): every kind."""
    root = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
    with tempfile.TemporaryDirectory(prefix="tsunagu-it-") as tmp:
        latin, other, uids = set(), set(), set()
        for kind in ("ct", "mr", "us", "xa", "sc"):
            subprocess.run(["/usr/bin/python3", os.path.join(root, "samples", "generate_study.py"),
                            "--kind", kind, "--out", os.path.join(tmp, "in", kind), "--slices",
                            "3", "--seed", "11"], check=True, timeout=120, capture_output=True)
        inputs = sorted(glob.glob(os.path.join(tmp, "in", "**", "*.dcm"), recursive=True))
        for f in inputs:
            ds = pydicom.dcmread(f)
            l, o = identifying_values(ds)
            latin.update(l)
            other.update(o)
            uids.update([ds.SOPInstanceUID, ds.StudyInstanceUID, ds.SeriesInstanceUID])
        check(any(not v.isascii() for v in other), "the samples carry no Japanese names")
        out = os.path.join(tmp, "out")
        r = run(tool, ["--secret-file", secret(tmp), "--output", out, os.path.join(tmp, "in")])
        err = r.stderr.decode("utf-8", "replace")
        refused = {l.split(": ")[0] for l in err.splitlines() if l}
        check(all("/us/" in p or "/sc/" in p for p in refused),
              "refused other than burned-in kinds: %s" % sorted(refused))
        check(any("/us/" in p for p in refused) and any("/sc/" in p for p in refused),
              "US or SC not refused for burned-in text")
        written = outputs(out)
        check(len(written) == len(inputs) - len(refused), "not every other instance written")
        # The Patient ID suffix is kept on purpose; the values are checked as whole strings.
        for path in written:
            check_clean(path, sorted(latin), sorted(other), sorted(uids))
        print("samples: %d inputs, %d written, %d refused; %d Latin and %d other values checked" %
              (len(inputs), len(written), len(refused), len(latin), len(other)))


if __name__ == "__main__":
    tool, test = sys.argv[1], sys.argv[2]
    {"corpus": test_corpus, "pydicom_files": test_pydicom_files, "cli": test_cli,
     "hostile": test_hostile, "samples": test_samples}[test](tool)
    if failures:
        print("%d failure(s)" % len(failures))
        sys.exit(1)
    print("ok")
