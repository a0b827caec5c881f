#!/usr/bin/env bash
# Benchmark of tsunagu-anonymize against its peers, all in one run on the same files:
#   cp -r (the I/O floor), DCMTK dcmodify (a handful of edits per file, one process),
#   Orthanc 1.10.1 POST /studies/{id}/anonymize (started here on 127.0.0.1, throwaway config).
# Input: the 300-slice 512x512 CT from samples/generate_study.py. cp does not flush: it is
# compared with tsunagu-anonymize --no-fsync (temporary name + rename, no flush), and
# "cp -r + sync" with tsunagu-anonymize as shipped (one syncfs per batch). Then peak RSS of
# tsunagu-anonymize on that study and on one ~2 GB multi-frame file.
#
# Usage: tests/bench/anonymizer/run_bench.sh [BUILD_DIR]   (default: build)
# Env:   TSUNAGU_BENCH_SLICES (300), TSUNAGU_BENCH_SKIP_BIG=1 to skip the 2 GB file,
#        TSUNAGU_BENCH_SKIP_ORTHANC=1 to skip Orthanc.
# Machines here are noisy: compare the ratios printed within one run, not absolute times. Every
# timing is the median of TSUNAGU_BENCH_REPEAT (3) runs, each after a reset that is not timed
# (outputs removed, dcmodify's copy made anew, Orthanc's anonymized study deleted).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../../.." && pwd)
build=${1:-$root/build}
tool=$build/anonymizer/tsunagu-anonymize
slices=${TSUNAGU_BENCH_SLICES:-300}
[ -x "$tool" ] || { echo "run_bench: $tool not built" >&2; exit 2; }

work=$(mktemp -d /tmp/tsunagu-bench-XXXXXX)
orthanc_pid=
cleanup() {
  if [ -n "$orthanc_pid" ]; then kill "$orthanc_pid" 2>/dev/null || true; wait "$orthanc_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc -l; }

echo "== generating a ${slices}-slice CT (samples/generate_study.py)"
/usr/bin/python3 "$root/samples/generate_study.py" --kind ct --out "$work/ct" --slices "$slices" --seed 7 >/dev/null
n=$(find "$work/ct" -type f -name '*.dcm' | wc -l)
bytes=$(du -sb "$work/ct" | cut -f1)
mb=$(echo "$bytes / 1000000" | bc -l)
printf '%d instances, %.1f MB\n' "$n" "$mb"
head -c 32 /dev/urandom > "$work/secret"; chmod 600 "$work/secret"
cat "$work"/ct/*/*.dcm > /dev/null  # warm the page cache for everyone

repeat=${TSUNAGU_BENCH_REPEAT:-3}
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A secs
reset=:  # run (untimed) before each repetition
run_timed() {  # name command...
  local t0 t1 all=""
  for _ in $(seq 1 "$repeat"); do
    eval "$reset"
    sync
    t0=$(now); "${@:2}"; t1=$(now)
    all="$all $(elapsed "$t0" "$t1")"
  done
  secs[$1]=$(echo "$all" | median)
}

reset='rm -rf "$work/cp_out"'
run_timed "cp -r" cp -r "$work/ct" "$work/cp_out"
reset='rm -rf "$work/cp_out2"'
run_timed "cp -r + sync" bash -c "cp -r '$work/ct' '$work/cp_out2' && sync"
rm -rf "$work/cp_out" "$work/cp_out2"

# Start-up: one file, no flush (mostly process start, dynamic linking and the DCMTK dictionary).
first=$(find "$work/ct" -type f -name '*.dcm' | sort | head -1)
reset='rm -rf "$work/t_one"'
run_timed "tsunagu, one file (start-up)" "$tool" --no-fsync --secret-file "$work/secret" --output "$work/t_one" "$first" >/dev/null
rm -rf "$work/t_one"
reset='rm -rf "$work/t0"'
run_timed "tsunagu --no-fsync" "$tool" --no-fsync --secret-file "$work/secret" --output "$work/t0" "$work/ct" >/dev/null
rm -rf "$work/t0"
reset='rm -rf "$work/t1"'
run_timed "tsunagu-anonymize --jobs 1" "$tool" --secret-file "$work/secret" --output "$work/t1" --jobs 1 "$work/ct" >/dev/null
reset='rm -rf "$work/t2"'
run_timed "tsunagu-anonymize" /usr/bin/time -f '%M' -o "$work/rss_ct" "$tool" --secret-file "$work/secret" --output "$work/t2" "$work/ct" >/dev/null
written=$(ls "$work/t2" | wc -l)
[ "$written" -eq "$n" ] || { echo "run_bench: tsunagu wrote $written of $n" >&2; exit 1; }
rm -rf "$work/t1" "$work/t2"

# The same two on tmpfs (/dev/shm), where a flush costs nothing: the CPU cost of reading,
# de-identifying, writing and verifying, against copying.
if [ -d /dev/shm ]; then
  shm=$(mktemp -d /dev/shm/tsunagu-bench-XXXXXX)
  reset='rm -rf "$shm/cp"'
  run_timed "cp -r (tmpfs)" cp -r "$work/ct" "$shm/cp"
  reset='rm -rf "$shm/t"'
  run_timed "tsunagu-anonymize (tmpfs)" "$tool" --secret-file "$work/secret" --output "$shm/t" "$work/ct" >/dev/null
  reset='rm -rf "$shm/t1"'
  run_timed "tsunagu --jobs 1 (tmpfs)" "$tool" --secret-file "$work/secret" --output "$shm/t1" --jobs 1 "$work/ct" >/dev/null
  rm -rf "$shm"
fi

cp -r "$work/ct" "$work/dcmodify"
mapfile -t files < <(find "$work/dcmodify" -type f -name '*.dcm' | sort)
reset='rm -rf "$work/dcmodify"; cp -r "$work/ct" "$work/dcmodify"'
run_timed "dcmodify (11 edits)" dcmodify -nb -imt -gin \
  -ma "(0010,0010)=ANONYMOUS" -ma "(0010,0020)=5678" -ea "(0010,0030)" -ea "(0008,0050)" \
  -ea "(0008,0080)" -ea "(0008,0090)" -ea "(0008,1070)" -ea "(0010,1000)" \
  -ma "(0020,000d)=2.25.1" -ma "(0020,000e)=2.25.2" -ma "(0008,1030)=CT" "${files[@]}"
rm -rf "$work/dcmodify"
reset=:

if [ "${TSUNAGU_BENCH_SKIP_ORTHANC:-0}" != 1 ]; then
  http_port=$((20000 + RANDOM % 20000)); dicom_port=$((http_port + 1))
  mkdir -p "$work/orthanc/db"
  # SyncStorageArea (Orthanc's default, stated here): Orthanc fsyncs each file it stores, so it is
  # compared with tsunagu-anonymize as shipped (flushed), not with --no-fsync. Its storage holds
  # the uploaded study in the page cache, like the inputs of the other tools.
  cat > "$work/orthanc/config.json" <<JSON
{ "Name": "tsunagu-bench", "StorageDirectory": "$work/orthanc/db", "IndexDirectory": "$work/orthanc/db",
  "HttpPort": $http_port, "DicomPort": $dicom_port, "RemoteAccessAllowed": false,
  "AuthenticationEnabled": false, "Plugins": [], "SaveJobs": false, "TcpNoDelay": true,
  "HttpThreadsCount": 50, "DicomServerEnabled": false, "SyncStorageArea": true }
JSON
  Orthanc "$work/orthanc/config.json" > "$work/orthanc/log" 2>&1 &
  orthanc_pid=$!
  url="http://127.0.0.1:$http_port"
  for _ in $(seq 1 300); do curl -sf "$url/system" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -sf "$url/system" >/dev/null || { echo "run_bench: Orthanc did not start" >&2; exit 1; }
  echo "== uploading to Orthanc (not timed)"
  find "$work/ct" -type f -name '*.dcm' -print0 |
    xargs -0 -P 2 -n 20 sh -c 'for f; do curl -sf -X POST --data-binary @"$f" "$0/instances" >/dev/null || exit 1; done' "$url"
  study=$(curl -sf "$url/studies" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[0])')
  all=""
  for _ in $(seq 1 "$repeat"); do
    sync
    t0=$(now)
    new=$(curl -sf -m 600 -X POST "$url/studies/$study/anonymize" -d '{"Keep":[],"Force":true}' |
          /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["ID"])')
    t1=$(now)
    all="$all $(elapsed "$t0" "$t1")"
    orthanc_rss=$(ps -o rss= -p "$orthanc_pid" | tr -d ' ')
    curl -sf -X DELETE "$url/studies/$new" >/dev/null
  done
  secs["Orthanc /anonymize"]=$(echo "$all" | median)
  kill "$orthanc_pid"; wait "$orthanc_pid" 2>/dev/null || true; orthanc_pid=
fi

echo
echo "== results: $n instances, $(printf '%.1f' "$mb") MB, $(nproc) cores"
t_ref=${secs["tsunagu-anonymize"]}
printf '%-30s %9s %12s %9s %16s\n' tool seconds instances/s MB/s "time / tsunagu"
for k in "cp -r" "cp -r + sync" "tsunagu-anonymize" "tsunagu --no-fsync" "tsunagu-anonymize --jobs 1" \
         "cp -r (tmpfs)" "tsunagu-anonymize (tmpfs)" "tsunagu --jobs 1 (tmpfs)" \
         "dcmodify (11 edits)" "Orthanc /anonymize"; do
  [ -n "${secs[$k]:-}" ] || continue
  s=${secs[$k]}
  printf '%-30s %9.2f %12.1f %9.1f %15.2fx\n' "$k" "$s" "$(echo "$n / $s" | bc -l)" \
    "$(echo "$mb / $s" | bc -l)" "$(echo "$s / $t_ref" | bc -l)"
done
# dcmodify does not fsync: the like-for-like figure is against --no-fsync. Speed ratios here are
# "peer time / tsunagu time", so above 1 means tsunagu is faster.
printf 'tsunagu --no-fsync vs cp -r: %.2fx slower; tsunagu vs cp -r + sync: %.2fx slower; dcmodify time / tsunagu time: %.2f (default), %.2f (--no-fsync, like for like)' \
  "$(echo "${secs["tsunagu --no-fsync"]} / ${secs["cp -r"]}" | bc -l)" \
  "$(echo "$t_ref / ${secs["cp -r + sync"]}" | bc -l)" \
  "$(echo "${secs["dcmodify (11 edits)"]} / $t_ref" | bc -l)" \
  "$(echo "${secs["dcmodify (11 edits)"]} / ${secs["tsunagu --no-fsync"]}" | bc -l)"
if [ -n "${secs["cp -r (tmpfs)"]:-}" ]; then
  printf '; on tmpfs vs cp -r: %.2fx slower; 2 jobs vs 1: %.2fx faster' \
    "$(echo "${secs["tsunagu-anonymize (tmpfs)"]} / ${secs["cp -r (tmpfs)"]}" | bc -l)" \
    "$(echo "${secs["tsunagu --jobs 1 (tmpfs)"]} / ${secs["tsunagu-anonymize (tmpfs)"]}" | bc -l)"
fi
if [ -n "${secs["Orthanc /anonymize"]:-}" ]; then
  printf '; vs Orthanc: %.1fx faster' "$(echo "${secs["Orthanc /anonymize"]} / $t_ref" | bc -l)"
fi
echo
printf 'tsunagu-anonymize on one file (start-up cost): %.3f s\n' "${secs["tsunagu, one file (start-up)"]}"
echo "peak RSS tsunagu-anonymize on the CT study: $(( $(cat "$work/rss_ct") / 1024 )) MiB"
[ -n "${orthanc_rss:-}" ] && echo "Orthanc resident memory after anonymize: $(( orthanc_rss / 1024 )) MiB"

if [ "${TSUNAGU_BENCH_SKIP_BIG:-0}" != 1 ]; then
  echo
  echo "== one ~2 GB multi-frame instance (1024x1024 8-bit, 2000 frames)"
  /usr/bin/python3 - "$work/big.dcm" <<'PY'
import sys
import numpy as np
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian
meta = FileMetaDataset()
meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.12.1"
meta.MediaStorageSOPInstanceUID = "1.2.392.200036.9999.88.1"
meta.TransferSyntaxUID = ExplicitVRLittleEndian
ds = FileDataset(sys.argv[1], {}, file_meta=meta, preamble=b"\0" * 128)
ds.is_little_endian, ds.is_implicit_VR = True, False
ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
ds.StudyInstanceUID, ds.SeriesInstanceUID = "1.2.392.200036.9999.88.2", "1.2.392.200036.9999.88.3"
ds.Modality, ds.PatientName, ds.PatientID = "XA", "Bigfile^Patient", "PID-BIG-0001"
ds.BurnedInAnnotation = "NO"
ds.Rows, ds.Columns, ds.NumberOfFrames = 1024, 1024, 2000
ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
ds.PixelData = (np.arange(1024 * 1024 * 2000, dtype=np.uint32) % 251).astype(np.uint8).tobytes()
ds.save_as(sys.argv[1], write_like_original=False)
PY
  big_bytes=$(stat -c %s "$work/big.dcm")
  rm -f "$work"/ct/*/*.dcm  # room on the disk
  t0=$(now)
  /usr/bin/time -f '%M' -o "$work/rss_big" "$tool" --secret-file "$work/secret" --output "$work/big_out" "$work/big.dcm" >/dev/null
  t1=$(now)
  out_file=$(ls "$work"/big_out/*.dcm)
  out_bytes=$(stat -c %s "$out_file")
  [ "$out_bytes" -gt $((big_bytes - 1000000)) ] || { echo "run_bench: big output too small" >&2; exit 1; }
  printf 'file %.2f GB; %.1f s; peak RSS %d MiB (%.2f x the file)\n' \
    "$(echo "$big_bytes / 1000000000" | bc -l)" "$(elapsed "$t0" "$t1")" \
    "$(( $(cat "$work/rss_big") / 1024 ))" "$(echo "$(cat "$work/rss_big") * 1024 / $big_bytes" | bc -l)"
fi
