#!/usr/bin/env bash
# The web viewer in headless Chromium against the real relay, on 127.0.0.1 (issue 8 targets:
# first image under 500 ms; no slice waits more than 50 ms once prefetch has run).
#
# One run: a SLICES-slice 512x512 CT (samples/generate_study.py, de-identified by
# tsunagu-anonymize) is uploaded to a fresh tsunagu-relay with the real RelayClient and committed;
# after PAUSE seconds (the time a link takes to reach a phone through chat; PAUSE=0 opens at once,
# while the relay may still be preparing the study) viewer_bench.mjs opens the link OPENS times,
# each in a fresh browser context on a 375x667 phone viewport, and prints per open: time to the
# first image, time until the prefetch holds every slice, and the median and slowest
# key-press-to-slice-drawn over a pass through every slice.
#
# Usage: tests/bench/viewer/run_viewer_bench.sh [BUILD_DIR]
#   env: SLICES (300), OPENS (2), PAUSE (2), TSUNAGU_NODE_MODULES (tests/browser/node_modules),
#        KEEP=1 keeps the work directory (screenshots in it).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
build=$(cd "${1:-$repo/build}" && pwd)
slices=${SLICES:-300}
pause=${PAUSE:-2}
modules=${TSUNAGU_NODE_MODULES:-$repo/tests/browser/node_modules}
relay="$build/relay/tsunagu-relay"
anonymize="$build/anonymizer/tsunagu-anonymize"
uploader="$build/tests/bench/relay/tsunagu_relay_bench_upload"
for exe in "$relay" "$anonymize" "$uploader"; do
  [ -x "$exe" ] || { echo "run_viewer_bench: build first ($exe missing)" >&2; exit 1; }
done
[ -x /usr/bin/chromium ] || { echo "run_viewer_bench: Debian chromium is missing" >&2; exit 1; }
[ -d "$modules/playwright-core" ] || { echo "run_viewer_bench: playwright-core missing (scripts/setup)" >&2; exit 1; }

work=$(mktemp -d /tmp/tsunagu_viewer_ui_bench.XXXXXX)
relay_pid=""
cleanup() {
  if [ -n "$relay_pid" ]; then kill "$relay_pid" 2>/dev/null || true; wait "$relay_pid" 2>/dev/null || true; fi
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
  -days 1 -subj "/CN=Bench CA" 2>/dev/null
mkcert() {
  printf '%s\n' "$3" > "$1.ext"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$1.csr" \
    -subj "/CN=$2" 2>/dev/null
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$1.pem" -days 1 \
    -extfile "$1.ext" 2>/dev/null
  chmod 600 "$1.key"
}
mkcert server localhost "subjectAltName=IP:127.0.0.1,DNS:localhost"
mkcert gateway gateway.bench "extendedKeyUsage=clientAuth"

echo "== generating and de-identifying a $slices-slice 512x512 CT"
/usr/bin/python3 "$repo/samples/generate_study.py" --kind ct --slices "$slices" --out raw >/dev/null
printf 'viewer-bench-site-secret\n' > secret && chmod 600 secret
"$anonymize" --secret-file secret --output anon raw >/dev/null
/usr/bin/python3 - anon > manifest.txt <<'PY'
import os, sys, pydicom
rows = []
for root, _, names in os.walk(sys.argv[1]):
    for n in names:
        p = os.path.join(root, n)
        ds = pydicom.dcmread(p, stop_before_pixels=True)
        rows.append((int(ds.InstanceNumber), ds.SOPInstanceUID, ds.StudyInstanceUID, p))
rows.sort()
print("study_uid=" + rows[0][2])
for _, sop, _, p in rows:
    print(sop, p)
PY
study=$(sed -n 's/^study_uid=//p' manifest.txt)
grep -v '^study_uid=' manifest.txt > files.txt

up_port=$(free_port); v_port=$(free_port)
cat > relay.toml <<TOML
language = "en"
log_level = "info"
[upload]
port = $up_port
cert_file = "$work/server.pem"
key_file = "$work/server.key"
client_ca_file = "$work/ca.pem"
allowed_clients = ["gateway.bench"]
max_request_size = "64MiB"
[viewer]
port = $v_port
cert_file = "$work/server.pem"
key_file = "$work/server.key"
public_url = "https://127.0.0.1:$v_port"
assets_directory = "$repo/viewer-lib/web"
[store]
data_directory = "$work/data"
key_directory = "$work/keys"
quota = "20GiB"
TOML
"$relay" --config relay.toml 2> relay.log &
relay_pid=$!
for _ in $(seq 1 150); do
  curl -s --cacert ca.pem -o /dev/null "https://127.0.0.1:$v_port/v/none/" && break
  sleep 0.2
done
read -r -a up < <("$uploader" "https://127.0.0.1:$up_port" ca.pem gateway.pem gateway.key "$study" \
  files.txt 1 $((8 << 20)))
token=""
for kv in "${up[@]}"; do [ "${kv%%=*}" = token ] && token=${kv#*=}; done
[ -n "$token" ] || { echo "run_viewer_bench: upload to the relay failed" >&2; tail -5 relay.log >&2; exit 1; }
echo "== committed; opening the link after ${pause}s"
sleep "$pause"
TSUNAGU_LINK="https://127.0.0.1:$v_port/v/$token/" TSUNAGU_NODE_MODULES="$modules" \
  TSUNAGU_ARTIFACTS="$work/artifacts" OPENS="${OPENS:-2}" \
  node "$repo/tests/bench/viewer/viewer_bench.mjs" | tee results.jsonl
grep -o 'viewer.prepared[^"]*' relay.log | head -1 | sed 's/^/   relay: /' || true
echo
echo "RESULT web viewer, $slices-slice CT, headless Chromium phone viewport, relay on 127.0.0.1 (HTTPS)"
/usr/bin/python3 - results.jsonl <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    print(f"  open {r['open']}: first image {r['first_image_ms']} ms (target < 500), all "
          f"{r['slices']} slices loaded {r['all_ready_ms']} ms, then key-to-slice median "
          f"{r['step_median_ms']} ms, slowest {r['step_max_ms']} ms over {r['steps']} steps "
          f"(target <= 50)")
PY
