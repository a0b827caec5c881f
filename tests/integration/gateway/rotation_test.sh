#!/usr/bin/env bash
# Site-secret rotation (issue 11; docs/operations.md "Rotating the site secret") with real
# processes: dcmqrscp -> tsunagu-gateway (real anonymizer, per-patient Matrix thread) -> real
# tsunagu-relay, and samples/chat_server.py as the Matrix homeserver.
#  - a study sent before the rotation and sent again after it has the same de-identified Study,
#    Series and SOP Instance UIDs at the relay: one study there, not two;
#  - the patient's new study after the rotation lands in the patient's existing room;
#  - a study never sent before uses the new secret (checked against tsunagu-anonymize);
#  - doctor shows the retired secret; a retired file holding the current secret stops the start;
#  - `backup` takes the chat room and chat post stores along, `restore` puts them back.
set -u
top=$1
gateway=$2
relay=$3
anonymize=$4
here=$(cd "$(dirname "$0")" && pwd)
source "$top/tests/integration/lib/testlib.sh"
source "$here/lib.sh"

gen() {  # gen DIR SEED PID ACC
  /usr/bin/python3 "$top/samples/generate_study.py" --kind ct --out "$1" --slices 3 --size 32 \
    --seed "$2" --patient-id "$3" --patient-name 'ROTCANARY^NAME' --accession "$4" \
    --study-date 20261120 > /dev/null || exit 1
}
gen "$tmp/a1" 51 ROTCANARY0A4321 ROTACC0001
gen "$tmp/a2" 52 ROTCANARY0A4321 ROTACC0002
gen "$tmp/b1" 53 ROTCANARY0B8765 ROTACC0003

gw_port=$(free_port); web_port=$(free_port); pacs_port=$(free_port); chat_port=$(free_port)
start_pacs pacs "$pacs_port" "tsunagu = (TSUNAGU, 127.0.0.1, $gw_port)" 1
load_pacs "$pacs_port" "$tmp/a1" "$tmp/a2" "$tmp/b1"
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
                    'name = "cardio"\nconnector = "matrix"\nper_patient = true\n'
                    'room_label = "Cardio"\nlanguage = "en"')
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
'''
open(cfg, "w").write(text)
PY

send() {  # send ACC: prints the link line
  "$gateway" send --config "$cfg" --accession "$1" --thread cardio --timeout 60s 2>> "$tmp/send.err"
}
# studies_row_uids: the de-identified study UIDs the relay lists, sorted.
relay_study_uids() {
  "$relay" studies --config "$tmp/relay.toml" | grep -oE '2\.25\.[0-9]+$' | sort
}
# sop_uids URL: the SOP Instance UIDs of the study behind the link, with their series, sorted.
sop_uids() {
  local token=${1##*/}
  curl -s --cacert "$tmp/pki/ca.pem" -H "Authorization: Bearer $token" \
    "https://127.0.0.1:$relay_viewer_port/dicomweb/studies" > "$tmp/qido-study.json"
  local study
  study=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["0020000D"]["Value"][0])' "$tmp/qido-study.json")
  curl -s --cacert "$tmp/pki/ca.pem" -H "Authorization: Bearer $token" \
    "https://127.0.0.1:$relay_viewer_port/dicomweb/studies/$study/instances" |
    /usr/bin/python3 -c '
import json, sys
for i in json.load(sys.stdin):
    print(i["0020000D"]["Value"][0], i["0020000E"]["Value"][0], i["00080018"]["Value"][0])' | sort
}
link_of() { sed -n 's/^link posted: cardio \(https[^ ]*\) .*/\1/p' <<< "$1"; }
room_of_message() {  # room_of_message INDEX
  /usr/bin/python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
rows = [r for r in rows if r.get("kind") == "matrix_message"]
i = int(sys.argv[2])
print(rows[i]["room"] if i < len(rows) else "")' "$tmp/chat.jsonl" "$1"
}
rooms() { grep -c '"kind": "matrix_room"' "$tmp/chat.jsonl"; }

# --- before the rotation
start_gateway "$cfg" "$tmp/gateway.log"; gw_pid=$last_pid
out=$(send ROTACC0001); rc=$?
expect_eq "study A1 is sent before the rotation" 0 "$rc"
before=$(sop_uids "$(link_of "$out")")
expect_eq "the relay has A1's 3 instances" 3 "$(wc -l <<< "$before")"
room_a=$(room_of_message 0)
check "A1 was posted in a room" test -n "$room_a"
kill -TERM "$gw_pid"; wait "$gw_pid"

# --- the rotation, as docs/operations.md says
install -m 600 "$tmp/secret" "$tmp/secret.1"
head -c 32 /dev/urandom > "$tmp/secret.new"; chmod 600 "$tmp/secret.new"; mv "$tmp/secret.new" "$tmp/secret"
sed -i "s|^secret_file = .*|&\nprevious_secret_files = [\"$tmp/secret.1\"]|" "$cfg"
"$gateway" --check --config "$cfg" > /dev/null 2>&1; rc=$?
expect_eq "the rotated config is valid" 0 "$rc"
start_gateway "$cfg" "$tmp/gateway2.log"; gw_pid=$last_pid
check "the start names one retired secret" grep -qE 'anonymizer.secrets current=[0-9a-f]{16} previous=1' "$tmp/gateway2.log"
doc=$("$gateway" doctor --config "$cfg" 2>&1)
expect_contains "doctor shows the retired secret" "retired site secret 1" "$doc"
check "doctor says when it was last used" grep -qE 'retired site secret 1.*last used [0-9-]+ [0-9:]+ UTC; keep until' <<< "$doc"

# --- after the rotation
out=$(send ROTACC0001); rc=$?
expect_eq "A1 is sent again after the rotation" 0 "$rc"
again=$(sop_uids "$(link_of "$out")")
expect_eq "A1 has the same de-identified Study, Series and SOP UIDs as before" "$before" "$again"
check "the gateway used the retired secret for A1" grep -q 'deidentify.previous_secret job=' "$tmp/gateway2.log"
expect_eq "the relay holds one study, not two" 1 "$(relay_study_uids | wc -l)"

out=$(send ROTACC0002); rc=$?
expect_eq "patient A's new study A2 is sent" 0 "$rc"
expect_eq "A2 is posted in patient A's existing room" "$room_a" "$(room_of_message 2)"
expect_eq "no second room for patient A" 1 "$(rooms)"

out=$(send ROTACC0003); rc=$?
expect_eq "study B1, never sent before, is sent" 0 "$rc"
b1=$(sop_uids "$(link_of "$out")" | awk 'NR==1 {print $1}')
"$anonymize" --secret-file "$tmp/secret" --output "$tmp/anon-new" "$tmp/b1" > /dev/null 2>&1
"$anonymize" --secret-file "$tmp/secret.1" --output "$tmp/anon-old" "$tmp/b1" > /dev/null 2>&1
uid_of() { /usr/bin/python3 -c 'import pydicom,sys,glob; print(pydicom.dcmread(sorted(glob.glob(sys.argv[1]+"/**/*.dcm", recursive=True))[0]).StudyInstanceUID)' "$1"; }
expect_eq "B1's study UID is the one the new secret gives" "$(uid_of "$tmp/anon-new")" "$b1"
check "and not the one the retired secret gives" test "$(uid_of "$tmp/anon-old")" != "$b1"
expect_eq "the relay holds A1, A2 and B1" 3 "$(relay_study_uids | wc -l)"

# --- doctor warns once the retired secret is no longer needed (last use + retention + 1 day)
old_id=$(sed -n 's/.*id \([0-9a-f]\{16\}\): last used.*/\1/p' <<< "$doc" | head -1)
check "doctor names the retired secret by its id" test -n "$old_id"
/usr/bin/python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("update jobs set updated_at = 1000 where secret_generation = ?", (sys.argv[2],)); c.commit()' \
  "$tmp/gw/data/gateway.db" "$old_id"
doc=$("$gateway" doctor --config "$cfg" 2>&1); rc=$?
check "doctor now says the retired secret is not needed" \
  grep -qE "retired site secret 1 .*last used 1970-01-01 00:00 UTC; not needed since 1970-01-05 00:00 UTC" <<< "$doc"
check "with what to do" grep -q "remove it from previous_secret_files, restart" <<< "$doc"
check "doctor exits 1 or 2 (something to do)" test "$rc" -ge 1

# --- backup and restore take the chat stores along (rooms and posted cards)
"$gateway" backup --config "$cfg" "$tmp/jobs.bak" > "$tmp/backup.out" 2>&1; rc=$?
expect_eq "backup while running exits 0" 0 "$rc"
rows() { /usr/bin/python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from "+sys.argv[2]).fetchone()[0])' "$@" 2>&1; }
expect_eq "the room store is backed up (two patients)" 2 "$(rows "$tmp/jobs.bak.chat-rooms" chat_patient_rooms)"
expect_eq "the post store is backed up (four cards)" 4 "$(rows "$tmp/jobs.bak.chat-posts" chat_posted_cards)"
expect_eq "the post store backup is private" 600 "$(stat -c %a "$tmp/jobs.bak.chat-posts")"
"$gateway" restore --config "$cfg" "$tmp/jobs.bak" > "$tmp/restore.out" 2>&1; rc=$?
expect_eq "restore while running is refused" 1 "$rc"
kill -TERM "$gw_pid"; wait "$gw_pid"
rm -f "$tmp/gw/data/chat-posts.sqlite"*
"$gateway" restore --config "$cfg" "$tmp/jobs.bak" > "$tmp/restore.out" 2>&1; rc=$?
expect_eq "restore when stopped exits 0" 0 "$rc"
expect_eq "the posted cards are back" 4 "$(rows "$tmp/gw/data/chat-posts.sqlite" chat_posted_cards)"
expect_eq "the rooms are there" 2 "$(rows "$tmp/gw/data/chat-rooms.sqlite" chat_patient_rooms)"

# --- a retired file holding the current secret (the new one was never written) stops the start
cp "$tmp/secret" "$tmp/secret.1"
"$gateway" --config "$cfg" > "$tmp/refused.log" 2>&1; rc=$?
expect_eq "the gateway refuses to start" 1 "$rc"
expect_contains "and says why" "holds the same secret as secret_file" "$(cat "$tmp/refused.log")"
check "no log holds a patient ID" bash -c "! grep -q ROTCANARY '$tmp/gateway.log' '$tmp/gateway2.log' '$tmp/relay.log' '$tmp/refused.log'"
finish
