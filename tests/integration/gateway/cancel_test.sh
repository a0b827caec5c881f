#!/usr/bin/env bash
# `tsunagu-gateway cancel JOB` while the job's C-MOVE from a real dcmqrscp is in progress
# (issue 11): the worker holding the job stops the move (C-CANCEL) after the instance in flight,
# cancels the job, deletes its spool files and posts no link; `cancel` waits for that and exits 0
# within a bounded time. dcmqrscp runs without TCP_NODELAY, so each C-STORE of the move takes
# tens of milliseconds and the move lasts seconds: long enough to cancel it half-way.
set -u
top=$1
gateway=$2
here=$(cd "$(dirname "$0")" && pwd)
source "$top/tests/integration/lib/testlib.sh"
source "$here/lib.sh"

n=80
/usr/bin/python3 "$top/samples/generate_study.py" --kind ct --out "$tmp/ct" --slices "$n" --size 32 \
  --seed 61 --patient-id CANCELCANARY0001 --patient-name 'CANCELCANARY^NAME' \
  --accession CANCELACC01 --study-date 20261120 > /dev/null || exit 1
gw_port=$(free_port); web_port=$(free_port); pacs_port=$(free_port)
start_pacs pacs "$pacs_port" "tsunagu = (TSUNAGU, 127.0.0.1, $gw_port)" 0
load_pacs "$pacs_port" "$tmp/ct"
cfg=$tmp/gw.toml
write_config "$cfg" "$tmp/gw" "$pacs_port" "$gw_port" "$web_port" "64MiB"
start_gateway "$cfg" "$tmp/gateway.log"; gw_pid=$last_pid

job=$("$gateway" send --config "$cfg" --accession CANCELACC01 --thread cardio --no-wait 2>> "$tmp/send.err")
check "send --no-wait prints the job id" test -n "$job"
received() { "$gateway" status --config "$cfg" "$job" 2>/dev/null | sed -n 's/.*received \([0-9]*\)\/.*/\1/p; s/.*, received \([0-9]*\),.*/\1/p' | head -1; }
wait_until 30 bash -c "[ \"\$(\"$gateway\" status --config \"$cfg\" $job | sed -n 's/.*received \([0-9]*\).*/\1/p' | head -1)\" -ge 3 ] 2>/dev/null" \
  || { echo "the move did not start"; "$gateway" status --config "$cfg" "$job"; cat "$tmp/gateway.log" | tail -20; exit 1; }
before=$(received)
check "the move is under way when cancel runs ($before of $n received)" test "${before:-0}" -lt "$n"

start=$(date +%s)
out=$(timeout 90 "$gateway" cancel --config "$cfg" "$job" 2> "$tmp/cancel.err"); rc=$?
took=$(( $(date +%s) - start ))
expect_eq "cancel of a job whose lease is held exits 0" 0 "$rc"
expect_contains "cancel says the worker stopped" "its worker stopped" "$out"
check "cancel said it asked the worker" grep -q "asked its worker to stop" "$tmp/cancel.err"
check "cancel finished within 30 s (took ${took} s)" test "$took" -le 30
st=$("$gateway" status --config "$cfg" "$job")
expect_contains "the job ends cleaned" "stage: cleaned" "$st"
expect_contains "as cancelled" "cancelled" "$st"
after=$(received)
echo "cancel: $before of $n received when cancel ran, $after when the job ended, cancel took ${took} s"
check "the move stopped before the whole study arrived (${after:-?} of $n)" test "${after:-$n}" -lt "$n"
check "the worker logged the cancellation" grep -q "job.cancelled job=$job stage=retrieving" "$tmp/gateway.log"
# Late C-STOREs already on the wire may still land in the spool after the cancel: they belong to
# no job and the spool sweep removes them; the job's own files are gone.
wait_until 10 bash -c "[ \$(find '$tmp/gw/spool' -type f -name '*.dcm' | wc -l) -eq 0 ]"
expect_eq "no identified file of the job is left in the spool" 0 \
  "$(find "$tmp/gw/spool" -type f -name '*.dcm' | wc -l)"
check "no link was posted" bash -c "! grep -q 'link.ready job=$job' '$tmp/gateway.log'"
"$gateway" cancel --config "$cfg" "$job" > /dev/null 2> "$tmp/again.err"; rc=$?
expect_eq "a second cancel is refused" 1 "$rc"
check "saying it was cancelled before" grep -q "cancelled before" "$tmp/again.err"
check "no log holds the patient ID" bash -c "! grep -q CANCELCANARY '$tmp/gateway.log'"
kill -TERM "$gw_pid"; wait "$gw_pid"; rc=$?
expect_eq "the gateway stops cleanly" 0 "$rc"
finish
