#!/usr/bin/env bash
# Generates small synthetic studies with samples/generate_study.py and transcodes them with DCMTK's
# own encoders into every transfer syntax the viewer decodes, for samples_test.
# Usage: make_samples.sh REPO_ROOT OUT_DIR
set -euo pipefail
repo=$1
out=$2
rm -rf "$out"
mkdir -p "$out"
gen() { /usr/bin/python3 "$repo/samples/generate_study.py" --out "$out/$1" "${@:2}" >/dev/null; }
gen ct --kind ct --slices 3 --size 512
gen mr --kind mr --slices 2 --size 128
gen us --kind us --frames 4
gen xa --kind xa --frames 5 --size 256
gen sc --kind sc

# One file per kind, under a stable name.
pick() { find "$out/$1" -name '*.dcm' | sort | head -1; }
mkdir -p "$out/flat"
cp "$(pick ct)" "$out/flat/ct.dcm"
cp "$(pick mr)" "$out/flat/mr.dcm"
cp "$(pick us)" "$out/flat/us.dcm"
cp "$(pick xa)" "$out/flat/xa.dcm"
cp "$(pick sc)" "$out/flat/sc.dcm"

cd "$out/flat"
dcmcrle ct.dcm ct_rle.dcm
dcmcjpeg +e1 ct.dcm ct_jpeg_lossless_sv1.dcm
dcmcjpls ct.dcm ct_jpegls.dcm
dcmconv +tb ct.dcm ct_big_endian.dcm
dcmconv +td ct.dcm ct_deflate.dcm
dcmconv +ti ct.dcm ct_implicit.dcm
dcmcjpls mr.dcm mr_jpegls.dcm
dcmcjpeg +eb us.dcm us_jpeg_baseline.dcm
dcmcrle xa.dcm xa_rle.dcm
dcmcjpeg +e1 xa.dcm xa_jpeg_lossless.dcm
# Several fragments per frame: with a Basic Offset Table, and without one (fragment index).
dcmcjpeg +e1 +fs 8 +ot xa.dcm xa_jpeg_fragments_bot.dcm
dcmcjpeg +e1 +fs 8 -ot xa.dcm xa_jpeg_fragments_nobot.dcm
dcmcjpeg +e1 -ot xa.dcm xa_jpeg_nobot.dcm
dcmcrle sc.dcm sc_rle.dcm
dcmcjpeg +eb sc.dcm sc_jpeg_baseline.dcm
# Planar configuration 1 and YBR_FULL variants of the RGB capture (pydicom + numpy).
/usr/bin/python3 - <<'PY'
import numpy as np
import pydicom
from pydicom.pixel_data_handlers.util import convert_color_space
ds = pydicom.dcmread("sc.dcm")
rgb = ds.pixel_array
planar = ds.copy()
planar.PlanarConfiguration = 1
planar.PixelData = np.ascontiguousarray(rgb.transpose(2, 0, 1)).tobytes()
planar.save_as("sc_planar1.dcm")
ybr = ds.copy()
ybr.PhotometricInterpretation = "YBR_FULL"
ybr.PixelData = convert_color_space(rgb, "RGB", "YBR_FULL").astype(np.uint8).tobytes()
ybr.save_as("sc_ybr_full.dcm")
PY
echo "samples ready in $out/flat"
