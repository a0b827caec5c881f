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

# A thread whose links ask for an access code: the gateway makes the code, the relay's link asks
# for it (the demo checks the link's summary answers access_code_required), and the code reaches
# neither the chat server nor the gateway's log.
out=$(TSUNAGU_BUILD_DIR=$build TSUNAGU_DEMO_DIR=$tmp/code TSUNAGU_DEMO_ACCESS_CODE=1 \
  bash "$top/samples/demo" --once --slices 4 2>&1)
rc=$?
expect_eq "demo --once with an access-code thread exits 0" 0 "$rc"
code=$(sed -n 's/.*viewer link with access code \([0-9]\{6\}\): https.*/\1/p' <<<"$out")
expect_eq "the gateway made a 6-digit code" 6 "${#code}"
if [ -n "$code" ]; then
  check "the code is not in any chat card" bash -c "! grep -q '$code' '$tmp/code/chat-cards.jsonl'"
  check "the code is not in the gateway's log" bash -c "! grep -q '$code' '$tmp/code/logs/gateway.log'"
fi
[ "$rc" -eq 0 ] || echo "$out" >&2
finish
