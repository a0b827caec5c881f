#!/usr/bin/env bash
# Chat under kill -9: sends from dcmqrscp through the gateway and the relay to a per-patient
# Matrix thread (samples/chat_server.py) while the gateway is killed with SIGKILL at random
# moments and restarted. Afterwards every job is cleaned and every job's card was posted exactly
# once (Matrix transaction ids: a repeated PUT after a kill is answered with the first event, not
# shown twice), each in a room named for its own patient.
set -u
top=$1
gateway=$2
relay=$3
studies=${STUDIES:-8}
source "$top/tests/integration/lib/testlib.sh"
source "$top/tests/integration/gateway/lib.sh"
RANDOM=${SEED:-11}

# Two studies per patient: patient p has ID CHATCRASH000p<p>.
for i in $(seq "$studies"); do
  p=$(( (i + 1) / 2 ))
  /usr/bin/python3 "$top/samples/generate_study.py" --kind ct --out "$tmp/studies/$i" --slices 8 \
    --size 64 --seed "$((200 + i))" --patient-id "CHATCRASH000$p$p" \
    --accession "CCACC$(printf %04d "$i")" > /dev/null || exit 1
done
gw_port=$(free_port); web_port=$(free_port); pacs_port=$(free_port); chat_port=$(free_port)
start_pacs pacs "$pacs_port" "tsunagu = (TSUNAGU, 127.0.0.1, $gw_port)" 1
load_pacs "$pacs_port" "$tmp/studies"
make_pki
start_relay "$relay" "$tmp/relay" "$tmp/relay.log"
start_chat_server "$chat_port"
cfg=$tmp/gw.toml
write_config "$cfg" "$tmp/gw" "$pacs_port" "$gw_port" "$web_port" "64MiB"
use_relay "$cfg"
/usr/bin/python3 - "$cfg" "$chat_port" "$tmp" <<'PY'
import sys
cfg, port, tmp = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(cfg).read()
text = text.replace('name = "cardio"\nconnector = "webhook"',
                    'name = "cardio"\nconnector = "matrix"\nper_patient = true\nroom_label = "P"')
text = text.replace('name = "modality-push"\nconnector = "webhook"',
                    'name = "modality-push"\nconnector = "matrix"\ndestination = "!fixed:chat.local"')
text += f'''
[chat]
[[chat.connectors]]
name = "matrix"
type = "matrix"
homeserver = "https://127.0.0.1:{port}"
access_token_file = "{tmp}/matrix-token"
ca_file = "{tmp}/pki/ca.pem"
timeout = "5s"
'''
open(cfg, "w").write(text)
PY
start_gateway "$cfg" "$tmp/gateway.log"; gw_pid=$last_pid

jobs=()
for i in $(seq "$studies"); do
  j=$("$gateway" send --config "$cfg" --accession "CCACC$(printf %04d "$i")" --thread cardio \
      --no-wait 2>> "$tmp/send.err") || { echo "send $i failed"; cat "$tmp/send.err"; exit 1; }
  jobs+=("$j")
done
expect_eq "every send was queued" "$studies" "${#jobs[@]}"
all_done() {
  local n
  n=$("$gateway" status --config "$cfg" | awk 'NR>1 && ($3=="cleaned" || $3=="failed")' | wc -l)
  [ "$n" -ge "$studies" ]
}
kills=0
end=$((SECONDS + 120))
while { ! all_done || [ "$kills" -lt 8 ]; } && [ $SECONDS -lt $end ] && [ "$kills" -lt 16 ]; do
  sleep "0.$(printf %02d $((RANDOM % 30 + 5)))"
  kill -9 "$gw_pid" 2>/dev/null; wait "$gw_pid" 2>/dev/null
  kills=$((kills + 1))
  start_gateway "$cfg" "$tmp/gateway.log"; gw_pid=$last_pid
done
echo "   killed the gateway $kills times"
check "the gateway was killed at least 8 times" test "$kills" -ge 8
wait_until 120 all_done
status=$("$gateway" status --config "$cfg")
expect_eq "every job ends cleaned" "$studies" "$(awk 'NR>1 && $3=="cleaned"' <<< "$status" | wc -l)"

report=$(/usr/bin/python3 - "$tmp/chat.jsonl" "${jobs[@]}" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
names = {r["room"]: r["name"] for r in rows if r.get("kind") == "matrix_room"}
msgs = [r for r in rows if r.get("kind") == "matrix_message" and not r.get("replaces")]
once = wrong_room = 0
for job in sys.argv[2:]:
    mine = [m for m in msgs if m["txn"] == "tsunagu-job-" + job]
    if len(mine) == 1:
        once += 1
        # The card's last 4 ("…000pp" -> "0pp"+...) must match the room's name suffix.
        suffix = names.get(mine[0]["room"], "?")[-4:]
        if "…" + suffix not in mine[0]["body"]:
            wrong_room += 1
    else:
        print("job %s: %d cards" % (job, len(mine)), file=sys.stderr)
repeats = sum(1 for r in rows if r.get("kind") == "matrix_repeat")
print(once, wrong_room, len(msgs), repeats)
PY
)
read -r once wrong_room total repeats <<< "$report"
echo "   cards: $total, repeated PUTs answered from the transaction id: $repeats"
expect_eq "every job's card was shown exactly once" "$studies" "$once"
expect_eq "no other cards were shown" "$studies" "$total"
expect_eq "every card is in a room named for its own patient" 0 "$wrong_room"
check "no identifying value reached the chat server" bash -c "! grep -q 'CHATCRASH\|CCACC' '$tmp/chat.jsonl'"
check "no log holds a patient ID" bash -c "! grep -q CHATCRASH '$tmp/gateway.log' '$tmp/relay.log'"
finish
