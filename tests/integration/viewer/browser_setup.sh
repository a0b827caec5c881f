#!/usr/bin/env bash
# Prepares the browser tests of viewer-lib/web: a 300-slice CT and a 20-frame XA cine rendered by
# tsunagu_viewer into the static layout (export_study.cpp), playwright-core comes from
# scripts/setup (tests/browser/node_modules; never a browser download: tests launch /usr/bin/chromium).
# Usage: browser_setup.sh REPO_ROOT EXPORT_TOOL OUT_DIR
set -euo pipefail
repo=$1
export_tool=$2
out=$3
[ -x /usr/bin/chromium ] || { echo "browser_setup: /usr/bin/chromium is missing (Debian chromium)" >&2; exit 1; }
rm -rf "$out/study" "$out/dicom"
mkdir -p "$out"
/usr/bin/python3 "$repo/samples/generate_study.py" --kind xa --frames 20 --out "$out/dicom" >/dev/null
/usr/bin/python3 "$repo/samples/generate_study.py" --kind ct --slices 300 --out "$out/dicom" >/dev/null
"$export_tool" --out "$out/study" --expires-at "$(date -u -d '+70 hours 30 minutes' +%Y-%m-%dT%H:%M:%SZ)" "$out/dicom"
rm -rf "$out/dicom"
[ -d "$repo/tests/browser/node_modules/playwright-core" ] ||
  { echo "browser_setup: playwright-core is missing: run scripts/setup" >&2; exit 1; }
