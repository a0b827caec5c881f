#!/usr/bin/env bash
# tsunagu-gateway against a real PACS (DCMTK dcmqrscp on 127.0.0.1): C-ECHO, C-FIND through
# `find` (patient IDs masked), C-MOVE through `send` with completeness checked against an
# image-level C-FIND, a partial move (a file the PACS lists but cannot send), a PACS that refuses
# the move destination, a PACS killed mid-move, storescu pushing a study (routing + quiet period),
# and a full spool answering 0xA700. Finally no log holds an identifying value.
set -u
top=$1
gateway=$2
here=$(cd "$(dirname "$0")" && pwd)
source "$top/tests/integration/lib/testlib.sh"
source "$here/lib.sh"

PID=CANARYPID12345678
NAME='CANARY^PATIENT'
ACC=CANARYACC998877
BIRTH=19450123

echo "== generating studies"
gen() { /usr/bin/python3 "$top/samples/generate_study.py" "$@" > /dev/null || { echo "generator failed"; exit 1; }; }
gen --kind ct --out "$tmp/ct" --slices 20 --size 64 --seed 1 --patient-id "$PID" \
    --patient-name "$NAME" --accession "$ACC" --birth-date "$BIRTH" --study-date 20261120
gen --kind mr --out "$tmp/mr" --slices 12 --size 64 --seed 2 --patient-id OTHERPAT0042 \
    --study-date 20261121
gen --kind ct --out "$tmp/big" --slices 300 --size 64 --seed 3 --patient-id BIGPAT0099 \
    --study-date 20261119
gen --kind sc --out "$tmp/stranger" --seed 5 --patient-id STRANGER0011 --study-date 20261117
gen --kind ct --out "$tmp/partial" --slices 6 --size 64 --seed 4 --patient-id PARTIAL0077 \
    --study-date 20261118

count() { find "$1" -name '*.dcm' | wc -l; }
n_ct=$(count "$tmp/ct"); n_mr=$(count "$tmp/mr"); n_big=$(count "$tmp/big"); n_partial=$(count "$tmp/partial")
echo "   ct=$n_ct mr=$n_mr big=$n_big partial=$n_partial instances"
gw_port=$(free_port); web_port=$(free_port)

pacs_port=$(free_port)
start_pacs pacs "$pacs_port" "tsunagu = (TSUNAGU, 127.0.0.1, $gw_port)" 1; pacs_pid=$last_pid
load_pacs "$pacs_port" "$tmp/ct" "$tmp/mr" "$tmp/partial"
# The partial study: the PACS lists one instance it can no longer send.
victim=$(grep -l "" "$tmp/pacs/db"/* 2>/dev/null | while read -r f; do
  dcmdump +P PatientID "$f" 2>/dev/null | grep -q PARTIAL0077 && echo "$f" && break; done)
check "found a partial-study file in the PACS storage" test -n "$victim"
rm -f "$victim"


cfg=$tmp/gw.toml
write_config "$cfg" "$tmp/gw" "$pacs_port" "$gw_port" "$web_port" "64MiB"
gw_log=$tmp/gateway.log
start_gateway "$cfg" "$gw_log"; gw_pid=$last_pid

echo "== C-ECHO"
check "echoscu reaches the gateway" echoscu -aet MODALITY -aec TSUNAGU 127.0.0.1 "$gw_port"
check "an unknown called AE title is rejected" bash -c "! echoscu -aet X -aec NOTUS 127.0.0.1 $gw_port"

echo "== C-FIND through find"
out=$("$gateway" find --config "$cfg" --patient-id "$PID" 2>&1); rc=$?
expect_eq "find exits 0" 0 "$rc"
expect_contains "find masks the patient ID to its last 4" "****5678" "$out"
expect_contains "find shows the date" "20261120" "$out"
check "find shows the modality (asked at series level from dcmqrscp)" grep -Eq "20261120 [0-9]{6} CT " <<< "$out"
check "find never prints the full patient ID" bash -c "! grep -q '$PID' <<< '$out'"
out=$("$gateway" find --config "$cfg" --date 20261118-20261121 2>&1)
expect_contains "find by date range lists all three studies" "3 studies" "$out"

echo "== C-MOVE through send"
job=$("$gateway" send --config "$cfg" --accession "$ACC" --thread cardio --no-wait 2>&1); rc=$?
expect_eq "send --no-wait exits 0" 0 "$rc"
check "send --no-wait prints a job number" grep -Eq '^[0-9]+$' <<< "$job"
wait_until 30 bash -c "\"$gateway\" status --config \"$cfg\" $job | grep -q 'stage: deidentified'"
out=$("$gateway" status --config "$cfg" "$job")
expect_contains "all $n_ct listed instances were received and de-identified" \
  "listed $n_ct, received $n_ct, de-identified $n_ct" "$out"
expect_contains "one C-MOVE was enough" "moves: 1" "$out"
expect_contains "nothing is uploaded to an unreachable relay" "uploaded 0" "$out"
wait_until 20 bash -c "\"$gateway\" status --config \"$cfg\" $job | grep -q '^  error: .*upload'"
out=$("$gateway" status --config "$cfg" "$job")
expect_contains "the job waits in its stage with the upload's reason" "stage: deidentified" "$out"
check "the reason is shown" grep -q '^  error: .*upload' <<< "$out"
expect_contains "status shows the patient ID's last 4 (from the anonymizer)" "patient id (last 4): 5678" "$out"
again=$("$gateway" send --config "$cfg" --accession "$ACC" --thread cardio --no-wait 2>&1)
expect_eq "sending the same study to the same thread again is the same job" "$job" "$again"
out=$("$gateway" send --config "$cfg" --patient-id NOBODY --thread cardio 2>&1); rc=$?
expect_eq "send of an unknown patient exits 1" 1 "$rc"
expect_contains "send of an unknown patient says why" "the PACS has no study matching the query" "$out"
out=$("$gateway" send --config "$cfg" --accession "$ACC" --thread nowhere 2>&1); rc=$?
expect_eq "send to an unknown thread exits 2" 2 "$rc"

echo "== partial move"
pjob=$("$gateway" send --config "$cfg" --patient-id PARTIAL0077 --thread cardio --no-wait 2>&1)
wait_until 30 bash -c "\"$gateway\" status --config \"$cfg\" $pjob | grep -q 'stage: failed'"
out=$("$gateway" status --config "$cfg" "$pjob")
expect_contains "the partial study fails in retrieving" "stage: failed (in retrieving)" "$out"
expect_contains "the reason counts the missing instances" \
  "1 of $n_partial instances still missing after 2 C-MOVE requests" "$out"

echo "== storescu pushes a study"
TCP_NODELAY=1 storescu -aet MODALITY -aec TSUNAGU +sd +r 127.0.0.1 "$gw_port" "$tmp/mr" \
  > "$tmp/push.log" 2>&1; rc=$?
expect_eq "storescu to the gateway exits 0" 0 "$rc"
wait_until 30 bash -c "\"$gateway\" status --config \"$cfg\" | grep -E 'push +deidentified +modality-push +$n_mr/$n_mr'"
out=$("$gateway" status --config "$cfg")
check "the pushed study became one push job routed to its thread, complete" \
  grep -Eq "push +deidentified +modality-push +$n_mr/$n_mr" <<< "$out"
TCP_NODELAY=1 storescu -aet STRANGER -aec TSUNAGU +sd +r 127.0.0.1 "$gw_port" "$tmp/stranger" \
  > "$tmp/push2.log" 2>&1
check "an instance no route matches is refused (0xC000)" grep -q "dicom.store_refused status=0xC000 code=not_found" "$gw_log"

echo "== PACS killed mid-move, then back"
# Without TCP_NODELAY on the PACS side the move runs at ~170 instances/s: time to kill it.
kill -9 -- "-$pacs_pid" 2>/dev/null
start_pacs pacs "$pacs_port" "tsunagu = (TSUNAGU, 127.0.0.1, $gw_port)" 0; pacs_pid=$last_pid
load_pacs "$pacs_port" "$tmp/big"
bjob=$("$gateway" send --config "$cfg" --patient-id BIGPAT0099 --thread cardio --no-wait 2>&1)
wait_until 30 bash -c "n=\$(\"$gateway\" status --config \"$cfg\" $bjob | sed -n 's/.*received \([0-9]*\),.*/\1/p'); [ \"\${n:-0}\" -ge 10 ]"
kill -9 -- "-$pacs_pid" 2>/dev/null
received=$(job_field "$cfg" "$bjob" instances | sed -n 's/.*received \([0-9]*\),.*/\1/p')
check "the PACS died mid-move (some but not all of $n_big received: $received)" \
  test "${received:-0}" -gt 0 -a "${received:-0}" -lt "$n_big"
wait_until 30 bash -c "\"$gateway\" status --config \"$cfg\" $bjob | grep -Eq 'error: .*(unavailable|deadline_exceeded)'"
out=$("$gateway" status --config "$cfg" "$bjob")
expect_contains "the job is retrying, not failed" "stage: retrieving" "$out"
check "the retry reason names the network failure" grep -Eq 'error: .*(unavailable|deadline_exceeded)' <<< "$out"
start_pacs pacs "$pacs_port" "tsunagu = (TSUNAGU, 127.0.0.1, $gw_port)" 1; pacs_pid=$last_pid
wait_until 90 bash -c "\"$gateway\" status --config \"$cfg\" $bjob | grep -q 'stage: deidentified'"
out=$("$gateway" status --config "$cfg" "$bjob")
expect_contains "after the PACS is back the study is complete" "listed $n_big, received $n_big, de-identified $n_big" "$out"

echo "== a PACS that refuses the move destination"
kill -TERM "$gw_pid"; wait "$gw_pid" 2>/dev/null
r_pacs_port=$(free_port)
start_pacs refusing "$r_pacs_port" "someoneelse = (OTHER, 127.0.0.1, 9)" 1; r_pid=$last_pid
load_pacs "$r_pacs_port" "$tmp/mr"
rcfg=$tmp/gw-refused.toml
write_config "$rcfg" "$tmp/gw-refused" "$r_pacs_port" "$gw_port" "$web_port" "64MiB"
start_gateway "$rcfg" "$tmp/gateway-refused.log"; gw_pid=$last_pid
rjob=$("$gateway" send --config "$rcfg" --patient-id OTHERPAT0042 --thread cardio --no-wait 2>&1)
wait_until 30 bash -c "\"$gateway\" status --config \"$rcfg\" $rjob | grep -q 'stage: failed'"
out=$("$gateway" status --config "$rcfg" "$rjob")
expect_contains "a refused destination fails at once with the fix" \
  "the PACS does not know the move destination TSUNAGU (status 0xA801)" "$out"

echo "== full spool: 0xA700"
kill -TERM "$gw_pid"; wait "$gw_pid" 2>/dev/null
fcfg=$tmp/gw-full.toml
write_config "$fcfg" "$tmp/gw-full" "$pacs_port" "$gw_port" "$web_port" "1000TB"
start_gateway "$fcfg" "$tmp/gateway-full.log"; gw_pid=$last_pid
out=$(TCP_NODELAY=1 storescu -v -aet MODALITY -aec TSUNAGU 127.0.0.1 "$gw_port" "$tmp/mr"/*/* 2>&1 | head -50)
expect_contains "storescu sees Refused: Out of Resources" "Received Store Response (Refused: OutOfResources)" "$out"
check "the gateway logs why intake stopped" grep -q "dicom.store_refused status=0xA700 reason=\"spool has" "$tmp/gateway-full.log"
spooled=$(find "$tmp/gw-full/spool" -name '*.dcm' | wc -l)
expect_eq "nothing was spooled" 0 "$spooled"
kill -TERM "$gw_pid"; wait "$gw_pid"; rc=$?
expect_eq "the gateway stops cleanly on SIGTERM" 0 "$rc"

echo "== dicom.bind_address"
bcfg=$tmp/gw-bind.toml
b_port=$(free_port)
write_config "$bcfg" "$tmp/gw-bind" "$pacs_port" "$b_port" "$(free_port)" "64MiB"
sed -i 's/^\[dicom\]$/[dicom]\nbind_address = "127.0.0.2"/' "$bcfg"
start_gateway "$bcfg" "$tmp/gateway-bind.log"; gw_pid=$last_pid
check "the node answers on its bind address" echoscu -aet MODALITY -aec TSUNAGU 127.0.0.2 "$b_port"
check "and not on another address of the host" \
  bash -c "! echoscu -to 5 -aet MODALITY -aec TSUNAGU 127.0.0.1 $b_port"
check "nothing listens on the wildcard address" \
  bash -c "! ss -Hltn | grep -Eq '(0\.0\.0\.0|\*|\[::\]):$b_port '"
kill -TERM "$gw_pid"; wait "$gw_pid"
sed -i 's/^bind_address = "127.0.0.2"$/bind_address = "pacs-gw.local"/' "$bcfg"
out=$(timeout 20 "$gateway" --config "$bcfg" 2>&1); rc=$?
check "a bind address that is not an IP address stops the gateway" test "$rc" -ne 0 -a "$rc" -ne 124
expect_contains "with a clear reason" 'dicom.bind_address: "pacs-gw.local" is not an IP address' "$out"

echo "== privacy"
for f in "$tmp"/gateway*.log; do
  for canary in "$PID" CANARY "$ACC" "$BIRTH"; do
    check "$(basename "$f") has no $canary" bash -c "! grep -q '$canary' '$f'"
  done
done
study_uid=$(dcmdump +P StudyInstanceUID "$(find "$tmp/ct" -name '*.dcm' | head -1)" | sed 's/.*\[\(.*\)\].*/\1/')
check "no log holds the original Study Instance UID" bash -c "! grep -qF '$study_uid' $tmp/gateway*.log"
finish
