#!/usr/bin/env bash
# Rendered frames/s: the relay's web viewer renders against Orthanc's
# /instances/{id}/frames/0/rendered, same run, same client, same conditions.
#
# What is compared (like with like):
#   - the same synthetic 512x512 16-bit signed CT (samples/generate_study.py, SLICES files,
#     de-identified by tsunagu-anonymize so that the relay accepts it);
#   - both servers on 127.0.0.1 with keep-alive, driven by the same wrk with the same threads and
#     connections, rotating over every slice. The relay speaks only HTTPS; Orthanc 1.10.1 with
#     "SslEnabled" crashes (SIGSEGV) on its first TLS connection here, so Orthanc is measured over
#     plain HTTP: the comparison leaves the TLS cost on the relay's side only (conservative);
#   - the same output: an 8-bit JPEG at quality 90, native size (512x512), window 40/400
#     (Orthanc: window-center/window-width/quality; relay: window=C,W,linear&quality=90).
# Phases:
#   1. Orthanc 1.10.1 (Debian), files uploaded beforehand (its storage, its parsed-file cache). It
#      does not cache rendered JPEGs: its CPU per request (below) stays that of a render, about ten
#      times the relay's for a cached answer, although the same 40 URLs repeat.
#   2. relay, every request a fresh render ("render"): each run has its own window centre, moved
#      by 0.001 on each pass over the slices, so no request repeats and the cache cannot answer. This is
#      the pipeline: decrypted instance and its parsed header (kept in memory, like Orthanc's
#      parsed-file cache) -> the frame read in place -> window (SSE2 arithmetic checked against
#      the LUT) -> TurboJPEG (fast DCT; the fidelity line compares it with Orthanc's) -> HTTPS.
#   3. relay, the same URLs again and again ("cached"): what a viewer re-opening the study, or a
#      second specialist, gets from the render cache (memory layer; persisted copies are encrypted
#      with the study).
#   4. tsunagu_viewer in process, no HTTP (the library alone; render_bench.cpp).
# Ratios are of the same run. Target (issue 8): relay >= 3x Orthanc.
# Two measures per phase: requests/s from wrk (on a shared, busy machine this is largely the
# scheduler's share of the 2 cores), and the server's CPU time per answered request (user+system of
# the whole server process from /proc, so TLS, HTTP parsing and rendering all count).
#
# Usage: tests/bench/viewer/run_render_bench.sh [BUILD_DIR]
#   env: SLICES (40), BENCH_SECONDS (3, per phase and round), ROUNDS (3), CONNECTIONS (4),
#        KEEP=1 keeps the work directory.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
build=$(cd "${1:-$repo/build}" && pwd)
slices=${SLICES:-40}
seconds=${BENCH_SECONDS:-3}
rounds=${ROUNDS:-3}
connections=${CONNECTIONS:-4}
bench="$build/tests/bench/viewer/tsunagu_viewer_render_bench"
relay="$build/relay/tsunagu-relay"
anonymize="$build/anonymizer/tsunagu-anonymize"
uploader="$build/tests/bench/relay/tsunagu_relay_bench_upload"
for exe in "$bench" "$relay" "$anonymize" "$uploader"; do
  [ -x "$exe" ] || { echo "run_render_bench: build first ($exe missing)" >&2; exit 1; }
done
for tool in Orthanc wrk curl openssl; do
  command -v "$tool" >/dev/null || { echo "run_render_bench: '$tool' is not installed" >&2; exit 1; }
done

work=$(mktemp -d /tmp/tsunagu_viewer_bench.XXXXXX)
orthanc_pid=""
relay_pid=""
cleanup() {
  for pid in $orthanc_pid $relay_pid; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_https() {  # bounded: 30 s
  for _ in $(seq 1 150); do
    curl -s --cacert ca.pem -o /dev/null "$1" && return 0
    [ -z "$orthanc_pid" ] || kill -0 "$orthanc_pid" 2>/dev/null ||
      { echo "run_render_bench: Orthanc exited" >&2; tail -3 orthanc.log >&2; return 1; }
    sleep 0.2
  done
  echo "run_render_bench: $1 did not answer in 30 s" >&2
  return 1
}

# --- one test CA and server certificate for both servers ---
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
printf 'render-bench-site-secret\n' > secret && chmod 600 secret
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
mapfile -t files < <(awk '{print $2}' files.txt)

# --- Orthanc over HTTP (see the header about TLS) ---
o_port=$(free_port)
mkdir -p orthanc-storage orthanc-index
cat > orthanc.json <<JSON
{
  "Name": "tsunagu-bench",
  "StorageDirectory": "$work/orthanc-storage",
  "IndexDirectory": "$work/orthanc-index",
  "HttpPort": $o_port,
  "DicomPort": $(free_port),
  "RemoteAccessAllowed": false,
  "AuthenticationEnabled": false,
  "Plugins": [],
  "SaveJobs": false,
  "TcpNoDelay": true,
  "HttpThreadsCount": 50
}
JSON
Orthanc orthanc.json >orthanc.log 2>&1 &
orthanc_pid=$!
obase="http://127.0.0.1:$o_port"
wait_https "$obase/system"
ids=()
for f in "${files[@]}"; do
  id=$(curl -sf --cacert ca.pem -X POST --data-binary @"$f" "$obase/instances" |
       /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["ID"])')
  ids+=("$id")
done
oq='window-center=40&window-width=400&quality=90'
# Orthanc honours the window: two windows give two different images.
a=$(curl -sf --cacert ca.pem -H 'Accept: image/jpeg' "$obase/instances/${ids[0]}/frames/0/rendered?$oq" | sha256sum)
b=$(curl -sf --cacert ca.pem -H 'Accept: image/jpeg' "$obase/instances/${ids[0]}/frames/0/rendered?window-center=400&window-width=2000&quality=90" | sha256sum)
[ "$a" != "$b" ] || { echo "run_render_bench: Orthanc ignored window-center/window-width" >&2; exit 1; }

# --- the relay over HTTPS ---
up_port=$(free_port); v_port=$(free_port)
cat > relay.toml <<TOML
language = "en"
log_level = "warn"
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
wait_https "https://127.0.0.1:$v_port/v/none/"
read -r -a up < <("$uploader" "https://127.0.0.1:$up_port" ca.pem gateway.pem gateway.key "$study" \
  files.txt 1 $((8 << 20)))
token=""
for kv in "${up[@]}"; do [ "${kv%%=*}" = token ] && token=${kv#*=}; done
[ -n "$token" ] || { echo "run_render_bench: upload to the relay failed" >&2; tail -5 relay.log >&2; exit 1; }
vbase="https://127.0.0.1:$v_port"
count=$(curl -sf --cacert ca.pem "$vbase/v/$token/summary.json" |
        /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)["series"][0]["images"]))')
[ "$count" = "$slices" ] || { echo "run_render_bench: relay lists $count of $slices slices" >&2; exit 1; }

# Both answer a 512x512 JPEG for the same request.
jpeg_size() {
  /usr/bin/python3 - "$1" <<'PY'
import sys
data = open(sys.argv[1], 'rb').read()
assert data[:2] == b'\xff\xd8', 'not a JPEG'
i = 2
while i < len(data):
    marker, length = data[i + 1], int.from_bytes(data[i + 2:i + 4], 'big')
    if marker in (0xC0, 0xC1, 0xC2):
        print(f"{int.from_bytes(data[i + 7:i + 9], 'big')}x{int.from_bytes(data[i + 5:i + 7], 'big')} {len(data)} bytes")
        break
    i += 2 + length
PY
}
curl -sf --cacert ca.pem -H 'Accept: image/jpeg' "$obase/instances/${ids[0]}/frames/0/rendered?$oq" -o o.jpg
curl -sf --cacert ca.pem "$vbase/v/$token/series/1/instances/1/frames/1/rendered?window=40,400,linear&quality=90" -o r.jpg
echo "   Orthanc answers JPEG $(jpeg_size o.jpg); relay answers JPEG $(jpeg_size r.jpg)"
# Same quality, not only the same quality setting: both JPEGs against the exact 8-bit window of the
# stored frame (PS3.3 C.11.2.1.2.1 LINEAR, 40/400). The relay encodes with TurboJPEG's fast DCT,
# Orthanc with libjpeg's default (islow).
/usr/bin/python3 - "${files[0]}" o.jpg r.jpg <<'PY'
import sys, numpy as np, pydicom
from PIL import Image
ds = pydicom.dcmread(sys.argv[1])
m = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
c, w = 40.0, 400.0
y = np.clip((m - (c - 0.5)) / (w - 1) + 0.5, 0, 1)
ref = np.floor(y * 255 + 0.5)
def psnr(path):
    img = np.asarray(Image.open(path).convert('L'), dtype=np.float64)
    mse = np.mean((img - ref) ** 2)
    return 99.0 if mse == 0 else 10 * np.log10(255 ** 2 / mse)
print(f"   JPEG fidelity to the exact 8-bit window (PSNR): Orthanc {psnr(sys.argv[2]):.2f} dB, "
      f"relay {psnr(sys.argv[3]):.2f} dB")
PY

# --- wrk scripts ---
{
  echo "local ids = {"; for id in "${ids[@]}"; do echo "  \"$id\","; done; echo "}"
  cat <<LUA
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/instances/" .. ids[(n % #ids) + 1] .. "/frames/0/rendered?$oq",
                    {["Accept"] = "image/jpeg"})
end
LUA
} > orthanc.lua
cat > relay_render.lua <<LUA
-- Every request a distinct render: each wrk run gets its own window centre (40 + 10 * run, run
-- from the command line), moved by 0.001 per pass over the slices and per wrk thread, so no
-- request repeats one made before and the render cache cannot answer.
local n = 0
local t = 0
local run = 1
setup = function(thread) thread:set("t", t); t = t + 1 end
init = function(args) run = tonumber(args[1]) or 1 end
request = function()
  n = n + 1
  local slice = (n % $slices) + 1
  local center = 40 + 10 * run + (math.floor(n / $slices) * 2 + t) * 0.001
  return wrk.format("GET", string.format(
    "/v/$token/series/1/instances/%d/frames/1/rendered?window=%.3f,400,linear&quality=90",
    slice, center))
end
LUA
cat > relay_cached.lua <<LUA
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", string.format(
    "/v/$token/series/1/instances/%d/frames/1/rendered?window=40,400,linear&quality=90",
    (n % $slices) + 1))
end
LUA
rate() { awk '/Requests\/sec/ {print $2}' "$1"; }
requests() { awk '/requests in/ {print $1}' "$1"; }
# CPU time (user + system, clock ticks) used so far by a server process and all its threads.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
tick_hz=$(getconf CLK_TCK)
run=0
run_wrk() {  # name round url script threads connections server_pid
  run=$((run + 1))
  local out="wrk_$1_$2.txt"
  local before after
  before=$(cpu_ticks "$7")
  wrk -t"$5" -c"$6" -d"${seconds}s" --latency -s "$4" "$3" -- "$run" > "$out" 2>&1
  after=$(cpu_ticks "$7")
  # The server's CPU per answered request: what a render costs on a machine whose cores are shared
  # (on a busy machine the request rate mostly measures the scheduler's share).
  awk -v t=$((after - before)) -v hz="$tick_hz" -v n="$(requests "$out")" \
    'BEGIN { printf "%.3f\n", (n > 0 ? 1000 * t / hz / n : 0) }' > "cpu_$1_$2.txt"
  local non2xx
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$out")
  printf '   round %s %-20s %8s req/s  p50 %-9s p99 %-9s server CPU %6s ms/req\n' "$2" "$1" \
    "$(rate "$out")" "$(awk '$1=="50%"{print $2}' "$out")" "$(awk '$1=="99%"{print $2}' "$out")" \
    "$(cat "cpu_$1_$2.txt")"
  [ -z "$non2xx" ] || { echo "run_render_bench: $1 had $non2xx non-2xx answers" >&2; exit 1; }
}
mean_cpu() {  # name: mean server CPU ms per request over the rounds
  local r
  for r in $(seq 1 "$rounds"); do cat "cpu_$1_$r.txt"; done |
    awk '{ s += $1; n++ } END { printf "%.2f", s / n }'
}
mean_rate() {  # name: the mean over the rounds (equal durations, so the overall rate)
  local sum=0 r
  for r in $(seq 1 "$rounds"); do sum=$(awk -v a="$sum" -v b="$(rate "wrk_$1_$r.txt")" 'BEGIN{print a+b}'); done
  awk -v a="$sum" -v n="$rounds" 'BEGIN{printf "%.1f", a/n}'
}
# Warm-up: one pass each (page cache, Orthanc's parsed files, the relay's decrypted instances).
wrk -t1 -c1 -d2s -s orthanc.lua "$obase" >/dev/null
wrk -t1 -c1 -d2s -s relay_cached.lua "$vbase" >/dev/null

# The phases alternate in rounds so that a neighbour's load on this shared machine falls on both
# servers alike.
echo "== $rounds rounds of ${seconds}s per phase; wrk keep-alive (relay HTTPS, Orthanc HTTP)"
for round in $(seq 1 "$rounds"); do
  run_wrk orthanc_1c "$round" "$obase" orthanc.lua 1 1 "$orthanc_pid"
  run_wrk relay_render_1c "$round" "$vbase" relay_render.lua 1 1 "$relay_pid"
  run_wrk relay_cached_1c "$round" "$vbase" relay_cached.lua 1 1 "$relay_pid"
  run_wrk orthanc_${connections}c "$round" "$obase" orthanc.lua 2 "$connections" "$orthanc_pid"
  run_wrk relay_render_${connections}c "$round" "$vbase" relay_render.lua 2 "$connections" \
    "$relay_pid"
  run_wrk relay_cached_${connections}c "$round" "$vbase" relay_cached.lua 2 "$connections" \
    "$relay_pid"
done
kill "$orthanc_pid" "$relay_pid"; wait "$orthanc_pid" "$relay_pid" 2>/dev/null || true
orthanc_pid=""; relay_pid=""

echo "== tsunagu_viewer in process (no HTTP, no TLS), objects parsed per frame"
lib1=$("$bench" --dir anon --seconds "$seconds" --threads 1)
lib2=$("$bench" --dir anon --seconds "$seconds" --threads 2)
echo "   $lib1"
echo "   $lib2"
fps() { sed -n 's/.*frames_per_s=\([0-9.]*\).*/\1/p' <<<"$1"; }

o1=$(mean_rate orthanc_1c); on=$(mean_rate "orthanc_${connections}c")
r1=$(mean_rate relay_render_1c); rn=$(mean_rate "relay_render_${connections}c")
c1=$(mean_rate relay_cached_1c); cn=$(mean_rate "relay_cached_${connections}c")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
echo
echo "RESULT rendered frames/s (mean of $rounds rounds), 512x512 16-bit CT -> JPEG q90, window 40/400 ($slices slices, $(nproc) cores; relay HTTPS, Orthanc HTTP)"
printf '  %-34s %9s %9s\n' "" "1 conn" "$connections conn"
printf '  %-34s %9.1f %9.1f\n' "Orthanc /frames/0/rendered" "$o1" "$on"
printf '  %-34s %9.1f %9.1f   vs Orthanc %s / %s\n' "relay, fresh render every request" "$r1" "$rn" "$(ratio "$r1" "$o1")" "$(ratio "$rn" "$on")"
printf '  %-34s %9.1f %9.1f   vs Orthanc %s / %s\n' "relay, render cache" "$c1" "$cn" "$(ratio "$c1" "$o1")" "$(ratio "$cn" "$on")"
printf '  %-34s %9.1f %9.1f   (1 / 2 threads, no HTTP)\n' "tsunagu_viewer library in process" "$(fps "$lib1")" "$(fps "$lib2")"
oc=$(mean_cpu "orthanc_${connections}c"); rc=$(mean_cpu "relay_render_${connections}c")
cc=$(mean_cpu "relay_cached_${connections}c")
echo
echo "RESULT server CPU per request, ms (user+system of the server process, $connections conn; lower is better)"
printf '  %-34s %9s\n' "Orthanc /frames/0/rendered" "$oc"
printf '  %-34s %9s   Orthanc / relay %s\n' "relay, fresh render every request" "$rc" "$(ratio "$oc" "$rc")"
printf '  %-34s %9s   Orthanc / relay %s\n' "relay, render cache" "$cc" "$(ratio "$oc" "$cc")"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
