#!/usr/bin/env bash
# The gateway's web side against real processes: /healthz, Prometheus /metrics after a send, the
# JSON API refusing bad input, and (when tests/browser has its node_modules) the send page in
# Debian's headless Chromium: search, pick, Send, progress.
set -u
top=$1
gateway=$2
mode=${3:-api}  # api | browser
here=$(cd "$(dirname "$0")" && pwd)
source "$top/tests/integration/lib/testlib.sh"
source "$here/lib.sh"

PID=WEBCANARY55667788
/usr/bin/python3 "$top/samples/generate_study.py" --kind ct --out "$tmp/ct" --slices 8 --size 64 \
  --seed 11 --patient-id "$PID" --study-date 20261120 > /dev/null || exit 1
gw_port=$(free_port); web_port=$(free_port); pacs_port=$(free_port)
start_pacs pacs "$pacs_port" "tsunagu = (TSUNAGU, 127.0.0.1, $gw_port)" 1
load_pacs "$pacs_port" "$tmp/ct"
cfg=$tmp/gw.toml
write_config "$cfg" "$tmp/gw" "$pacs_port" "$gw_port" "$web_port" "64MiB"
start_gateway "$cfg" "$tmp/gateway.log"; gw_pid=$last_pid
base=http://127.0.0.1:$web_port

if [ "$mode" = browser ]; then
  if [ ! -d "$top/tests/browser/node_modules/playwright-core" ]; then
    echo "tests/browser/node_modules is missing: run 'npm ci' in tests/browser"; exit 1
  fi
  (cd "$top/tests/browser" && timeout 120 node gateway_send_page.mjs "$base/" "$PID" "****7788" cardio)
  check "the send page works in Chromium" test $? -eq 0
else
  out=$(curl -s -w ' %{http_code}' "$base/healthz")
  expect_eq "/healthz answers ok" "ok
 200" "$out"
  out=$(curl -s "$base/api/studies")
  expect_contains "a search without criteria is refused" "give a patient ID" "$out"
  out=$(curl -s "$base/api/studies?patient_id=$PID")
  expect_contains "the API masks the patient ID" '"patient_id":"****7788"' "$out"
  check "the API never returns the full patient ID" bash -c "! grep -q '$PID' <<< '$out'"
  key=$(sed -n 's/.*"study":"\([0-9a-f]*\)".*/\1/p' <<< "$out")
  out=$(curl -s -X POST -H 'Content-Type: application/json' \
        -d "{\"study\":\"$key\",\"thread\":\"nowhere\"}" "$base/api/send")
  expect_contains "sending to an unknown thread is refused" 'unknown thread \"nowhere\"' "$out"
  out=$(curl -s -w ' %{http_code}' -X POST -H 'Content-Type: application/json' \
        -d "{\"study\":\"$key\",\"thread\":\"cardio\"}" "$base/api/send")
  check "a send is accepted with a job number" grep -Eq '^\{"job":[0-9]+\} 202$' <<< "$out"
  wait_until 30 bash -c "curl -s $base/api/jobs | grep -q '\"stage\":\"deidentified\"'"
  out=$(curl -s "$base/api/jobs")
  expect_contains "the job's progress is visible" '"deidentified":8' "$out"
  metrics=$(curl -s "$base/metrics")
  expect_contains "metrics count received instances" "tsunagu_gateway_instances_received_total 8" "$metrics"
  expect_contains "metrics count received bytes" "tsunagu_gateway_received_bytes_total " "$metrics"
  expect_contains "metrics list jobs by stage" 'tsunagu_gateway_jobs{stage="deidentified"} 1' "$metrics"
  expect_contains "metrics give the queue depth" "tsunagu_gateway_queue_depth 1" "$metrics"
  expect_contains "metrics count intake refusals by reason" \
    'tsunagu_gateway_intake_refused_total{reason="disk_full"} 0' "$metrics"
  out=$(curl -s -o /dev/null -w '%{http_code}' "$base/nope")
  expect_eq "unknown paths are 404" 404 "$out"
fi
check "no log holds the patient ID" bash -c "! grep -q '$PID' '$tmp/gateway.log'"
kill -TERM "$gw_pid"; wait "$gw_pid"; rc=$?
expect_eq "the gateway stops cleanly" 0 "$rc"
finish
