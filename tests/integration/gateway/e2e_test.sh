#!/usr/bin/env bash
# End to end with real processes: dcmqrscp -> tsunagu-gateway (C-MOVE, anonymizer) -> real
# tsunagu-relay over mutual TLS. `send` follows the job until the link is posted; the relay then
# serves the study through the link (QIDO-RS) with every instance, de-identified; the spool holds
# no identified file; no log holds an identifying value.
set -u
top=$1
gateway=$2
relay=$3
here=$(cd "$(dirname "$0")" && pwd)
source "$top/tests/integration/lib/testlib.sh"
source "$here/lib.sh"

PID=E2ECANARY24681357
NAME='E2ECANARY^NAME'
ACC=E2ECANACC1122
/usr/bin/python3 "$top/samples/generate_study.py" --kind ct --out "$tmp/ct" --slices 12 --size 64 \
  --seed 21 --patient-id "$PID" --patient-name "$NAME" --accession "$ACC" --study-date 20261120 \
  > /dev/null || exit 1
n=$(find "$tmp/ct" -name '*.dcm' | wc -l)
gw_port=$(free_port); web_port=$(free_port); pacs_port=$(free_port)
start_pacs pacs "$pacs_port" "tsunagu = (TSUNAGU, 127.0.0.1, $gw_port)" 1
load_pacs "$pacs_port" "$tmp/ct"
make_pki
start_relay "$relay" "$tmp/relay" "$tmp/relay.log"
cfg=$tmp/gw.toml
write_config "$cfg" "$tmp/gw" "$pacs_port" "$gw_port" "$web_port" "64MiB"
use_relay "$cfg"
start_gateway "$cfg" "$tmp/gateway.log"; gw_pid=$last_pid

out=$("$gateway" send --config "$cfg" --accession "$ACC" --thread cardio --note "aortic root" \
      --timeout 60s 2> "$tmp/send.err"); rc=$?
expect_eq "send follows the job to the posted link and exits 0" 0 "$rc"
expect_contains "send prints the link" "link posted: cardio https://127.0.0.1:$relay_viewer_port/" "$out"
check "send showed progress" grep -q "received $n/$n" "$tmp/send.err"
job=$("$gateway" status --config "$cfg" | awk 'NR==2 {print $1}')
wait_until 20 bash -c "\"$gateway\" status --config \"$cfg\" $job | grep -q 'stage: cleaned'"
st=$("$gateway" status --config "$cfg" "$job")
expect_contains "the job ends cleaned" "stage: cleaned" "$st"
expect_contains "every instance went through every stage" \
  "listed $n, received $n, de-identified $n, uploaded $n" "$st"
check "the link was recorded in the log for the chat connectors of issue 9" \
  grep -q "link.ready job=$job thread=cardio instances=$n" "$tmp/gateway.log"
spooled=$(find "$tmp/gw/spool" -type f | wc -l)
expect_eq "no identified file is left in the spool" 0 "$spooled"
outbox=$(find "$tmp/gw/data/outbox" -type f | wc -l)
expect_eq "no de-identified copy is left in the outbox" 0 "$outbox"

# The relay serves the study through the link's token.
url=$(sed -n 's/^link posted: cardio \(https[^ ]*\) .*/\1/p' <<< "$out")
token=${url##*/}
qido=$(curl -s --cacert "$tmp/pki/ca.pem" -H "Authorization: Bearer $token" \
       "https://127.0.0.1:$relay_viewer_port/dicomweb/studies")
expect_contains "the relay lists the committed study" '"00201208"' "$qido"
count=$(/usr/bin/python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d[0]["00201208"]["Value"][0])' "$qido" 2>/dev/null)
expect_eq "the relay holds every instance" "$n" "$count"
for canary in "$PID" E2ECANARY "$ACC"; do
  check "the relay's answer has no $canary" bash -c "! grep -q '$canary' <<< '$qido'"
  check "the gateway log has no $canary" bash -c "! grep -q '$canary' '$tmp/gateway.log'"
  check "the relay log has no $canary" bash -c "! grep -q '$canary' '$tmp/relay.log'"
done
kill -TERM "$gw_pid"; wait "$gw_pid"; rc=$?
expect_eq "the gateway stops cleanly" 0 "$rc"
finish
