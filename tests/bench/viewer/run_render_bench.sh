#!/usr/bin/env bash
# Rendered frames/s: tsunagu_viewer vs Orthanc's /instances/{id}/frames/0/rendered, same run.
#
# What is compared: a synthetic 512x512 16-bit signed CT (samples/generate_study.py, default
# SLICES=40 files), each rendered with its first window to an 8-bit JPEG (quality 90, native size).
#   - Orthanc 1.10.1 (Debian) on 127.0.0.1 with a throwaway config, files uploaded beforehand,
#     driven over HTTP keep-alive by wrk (one connection, then CONNECTIONS connections), rotating
#     over the instances. Includes Orthanc's HTTP handling and reading from its storage.
#   - tsunagu_viewer in process (render_bench.cpp): per frame, open the object from bytes in memory,
#     decode frame 0, window, encode the JPEG (1 thread, then 2 threads). No HTTP.
# So Tsunagu's figure is the rendering library alone; Orthanc's includes its HTTP server. The ratio
# shows headroom of the library, not of a future relay endpoint.
#
# Usage: tests/bench/viewer/run_render_bench.sh [BUILD_DIR]    (env: SLICES, BENCH_SECONDS, CONNECTIONS)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
build=${1:-$repo/build}
slices=${SLICES:-40}
seconds=${BENCH_SECONDS:-8}
connections=${CONNECTIONS:-4}
bench="$build/tests/bench/viewer/tsunagu_viewer_render_bench"
[ -x "$bench" ] || { echo "run_render_bench: build first ($bench missing)" >&2; exit 1; }
command -v Orthanc >/dev/null || { echo "run_render_bench: Debian 'orthanc' is not installed" >&2; exit 1; }
command -v wrk >/dev/null || { echo "run_render_bench: Debian 'wrk' is not installed" >&2; exit 1; }

work=$(mktemp -d /tmp/tsunagu_viewer_bench.XXXXXX)
orthanc_pid=""
cleanup() {
  if [ -n "$orthanc_pid" ]; then kill "$orthanc_pid" 2>/dev/null || true; wait "$orthanc_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "== generating $slices-slice 512x512 CT"
/usr/bin/python3 "$repo/samples/generate_study.py" --kind ct --slices "$slices" --out "$work/ct" >/dev/null
mapfile -t files < <(find "$work/ct" -name '*.dcm' | sort)

http_port=$(free_port)
dicom_port=$(free_port)
mkdir -p "$work/orthanc-storage" "$work/orthanc-index"
cat > "$work/orthanc.json" <<JSON
{
  "Name": "tsunagu-bench",
  "StorageDirectory": "$work/orthanc-storage",
  "IndexDirectory": "$work/orthanc-index",
  "HttpPort": $http_port,
  "DicomPort": $dicom_port,
  "RemoteAccessAllowed": false,
  "AuthenticationEnabled": false,
  "Plugins": [],
  "SaveJobs": false,
  "TcpNoDelay": true,
  "HttpThreadsCount": 50
}
JSON
Orthanc "$work/orthanc.json" >"$work/orthanc.log" 2>&1 &
orthanc_pid=$!
base="http://127.0.0.1:$http_port"
for _ in $(seq 1 150); do
  curl -sf "$base/system" >/dev/null 2>&1 && break
  kill -0 "$orthanc_pid" 2>/dev/null || { echo "run_render_bench: Orthanc exited:" >&2; tail -5 "$work/orthanc.log" >&2; exit 1; }
  sleep 0.2
done
curl -sf "$base/system" >/dev/null || { echo "run_render_bench: Orthanc did not start in 30 s" >&2; exit 1; }

echo "== uploading to Orthanc on 127.0.0.1:$http_port"
ids=()
for f in "${files[@]}"; do
  id=$(curl -sf -X POST --data-binary @"$f" "$base/instances" |
       /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["ID"])')
  ids+=("$id")
done
# Check one answer: a JPEG of 512x512.
curl -sf -H 'Accept: image/jpeg' "$base/instances/${ids[0]}/frames/0/rendered" -o "$work/orthanc.jpg"
/usr/bin/python3 - "$work/orthanc.jpg" <<'PY'
import sys
data = open(sys.argv[1], 'rb').read()
assert data[:2] == b'\xff\xd8', 'Orthanc did not answer a JPEG'
i = 2
while i < len(data):
    marker, length = data[i + 1], int.from_bytes(data[i + 2:i + 4], 'big')
    if marker in (0xC0, 0xC1, 0xC2):
        h, w = int.from_bytes(data[i + 5:i + 7], 'big'), int.from_bytes(data[i + 7:i + 9], 'big')
        print(f"   Orthanc answers JPEG {w}x{h}, {len(data)} bytes")
        break
    i += 2 + length
PY
{
  echo "local ids = {"
  for id in "${ids[@]}"; do echo "  \"$id\","; done
  echo "}"
  cat <<'LUA'
local n = 0
request = function()
  n = n + 1
  local id = ids[(n % #ids) + 1]
  return wrk.format("GET", "/instances/" .. id .. "/frames/0/rendered", {["Accept"] = "image/jpeg"})
end
LUA
} > "$work/rendered.lua"
# Warm-up: one pass over every instance (page cache, Orthanc's lazy structures).
wrk -t1 -c1 -d2s -s "$work/rendered.lua" "$base" >/dev/null

rate() { awk '/Requests\/sec/ {print $2}'; }
echo "== Orthanc, wrk 1 connection, ${seconds}s"
o1=$(wrk -t1 -c1 -d"${seconds}s" -s "$work/rendered.lua" "$base" | tee "$work/wrk1.txt" | rate)
grep -E "Requests/sec|Non-2xx|Socket errors" "$work/wrk1.txt" | sed 's/^/   /'
echo "== Orthanc, wrk $connections connections (2 threads), ${seconds}s"
o2=$(wrk -t2 -c"$connections" -d"${seconds}s" -s "$work/rendered.lua" "$base" | tee "$work/wrk2.txt" | rate)
grep -E "Requests/sec|Non-2xx|Socket errors" "$work/wrk2.txt" | sed 's/^/   /'
kill "$orthanc_pid"; wait "$orthanc_pid" 2>/dev/null || true; orthanc_pid=""

echo "== tsunagu_viewer in process, 1 thread, ${seconds}s"
t1_line=$("$bench" --dir "$work/ct" --seconds "$seconds" --threads 1)
echo "   $t1_line"
echo "== tsunagu_viewer in process, 2 threads, ${seconds}s"
t2_line=$("$bench" --dir "$work/ct" --seconds "$seconds" --threads 2)
echo "   $t2_line"
echo "== tsunagu_viewer in process, 1 thread, objects kept open (like Orthanc's parsed-file cache), ${seconds}s"
tw_line=$("$bench" --dir "$work/ct" --seconds "$seconds" --threads 1 --warm)
echo "   $tw_line"
t1=$(sed -n 's/.*frames_per_s=\([0-9.]*\).*/\1/p' <<<"$t1_line")
t2=$(sed -n 's/.*frames_per_s=\([0-9.]*\).*/\1/p' <<<"$t2_line")
tw=$(sed -n 's/.*frames_per_s=\([0-9.]*\).*/\1/p' <<<"$tw_line")

echo
echo "RESULT rendered frames/s, 512x512 16-bit CT -> JPEG q90 ($slices files, $(nproc) cores)"
printf "  Orthanc 1 connection   %8.1f\n" "$o1"
printf "  Orthanc %d connections  %8.1f\n" "$connections" "$o2"
printf "  Tsunagu 1 thread       %8.1f   ratio vs Orthanc 1 connection:  %.2fx\n" "$t1" "$(echo "$t1 / $o1" | bc -l)"
printf "  Tsunagu 2 threads      %8.1f   ratio vs Orthanc %d connections: %.2fx\n" "$t2" "$connections" "$(echo "$t2 / $o2" | bc -l)"
printf "  Tsunagu 1 thread, open %8.1f   ratio vs Orthanc 1 connection:  %.2fx\n" "$tw" "$(echo "$tw / $o1" | bc -l)"
