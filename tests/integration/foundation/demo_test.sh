#!/usr/bin/env bash
# The README's demo wiring, end to end with a small CT: PACS up and holding the study, services
# up and stopped cleanly.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/testlib.sh"
top=$1
build=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=$(TSUNAGU_BUILD_DIR=$build TSUNAGU_DEMO_DIR=$tmp/demo bash "$top/samples/demo" --once --slices 12 2>&1)
rc=$?
expect_eq "demo --once exits 0" 0 "$rc"
expect_contains "demo reports success" "everything came up and stopped cleanly" "$out"
stored=$(find "$tmp/demo/pacs/db" -name 'CT*' -type f | wc -l)
expect_eq "the PACS stored every slice" 12 "$stored"
[ "$rc" -eq 0 ] || echo "$out" >&2
finish
