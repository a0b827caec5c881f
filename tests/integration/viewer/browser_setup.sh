#!/usr/bin/env bash
# Prepares the browser tests of viewer-lib/web: a 300-slice CT and a 20-frame XA cine rendered by
# tsunagu_viewer into the static layout (export_study.cpp), and playwright-core installed from the
# lock file into the build tree (never a browser download: the tests launch /usr/bin/chromium).
# Usage: browser_setup.sh REPO_ROOT EXPORT_TOOL OUT_DIR
set -euo pipefail
repo=$1
export_tool=$2
out=$3
command -v npm >/dev/null || { echo "browser_setup: npm is missing (scripts/setup installs it)" >&2; exit 1; }
[ -x /usr/bin/chromium ] || { echo "browser_setup: /usr/bin/chromium is missing (Debian chromium)" >&2; exit 1; }
rm -rf "$out/study" "$out/dicom"
mkdir -p "$out"
/usr/bin/python3 "$repo/samples/generate_study.py" --kind xa --frames 20 --out "$out/dicom" >/dev/null
/usr/bin/python3 "$repo/samples/generate_study.py" --kind ct --slices 300 --out "$out/dicom" >/dev/null
"$export_tool" --out "$out/study" --expires-at "$(date -u -d '+70 hours 30 minutes' +%Y-%m-%dT%H:%M:%SZ)" "$out/dicom"
rm -rf "$out/dicom"
if ! cmp -s "$repo/tests/browser/package-lock.json" "$out/npm/package-lock.json" 2>/dev/null ||
   [ ! -d "$out/npm/node_modules/playwright-core" ]; then
  mkdir -p "$out/npm"
  cp "$repo/tests/browser/package.json" "$repo/tests/browser/package-lock.json" "$out/npm/"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix "$out/npm" --no-audit --no-fund --loglevel=error
fi
