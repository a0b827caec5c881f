#!/usr/bin/env bash
# Chat end to end with real processes: dcmqrscp (PACS) -> tsunagu-gateway (C-MOVE, anonymizer,
# Matrix connector) -> tsunagu-relay over mutual TLS, and samples/chat_server.py answering the
# Matrix client-server API over HTTPS on 127.0.0.1.
#  - per-patient thread: the first study of a patient creates a room "<label> …<last 4>", the
#    second study of the same patient goes to the same room, another patient to another room;
#  - the card carries the de-identified study facts (modality, body part, description, date,
#    series / images) and never the name, full ID or accession;
#  - seen receipt: opening the link at the relay edits the card to "Opened HH:MM";
#  - revocation through the gateway (`chat revoke`) and at the relay (`tsunagu-relay revoke`)
#    both edit the card;
#  - thumbnails (generic webhook thread with thumbnails = true): the card carries a relay URL
#    under its own token that returns a small JPEG and opens nothing else; threads without the
#    setting get none; on a Matrix thread the JPEG is uploaded to the media repository and the
#    card shows it as <img src="mxc://...">.
set -u
top=$1
gateway=$2
relay=$3
here=$(cd "$(dirname "$0")" && pwd)
source "$top/tests/integration/lib/testlib.sh"
source "$top/tests/integration/gateway/lib.sh"

PID_A=CHATCANARY0A4321
PID_B=CHATCANARY0B8765
gen() {  # gen DIR SEED PID NAME ACC
  /usr/bin/python3 "$top/samples/generate_study.py" --kind ct --out "$1" --slices 4 --size 32 \
    --seed "$2" --patient-id "$3" --patient-name "$4" --accession "$5" --study-date 20261120 \
    > /dev/null || exit 1
}
gen "$tmp/a1" 31 "$PID_A" 'CHATCANARY^ALPHA' CHATACC0001
gen "$tmp/a2" 32 "$PID_A" 'CHATCANARY^ALPHA' CHATACC0002
gen "$tmp/b1" 33 "$PID_B" 'CHATCANARY^BETA' CHATACC0003
n=$(find "$tmp/a1" -name '*.dcm' | wc -l)

gw_port=$(free_port); web_port=$(free_port); pacs_port=$(free_port); chat_port=$(free_port)
start_pacs pacs "$pacs_port" "tsunagu = (TSUNAGU, 127.0.0.1, $gw_port)" 1
load_pacs "$pacs_port" "$tmp/a1" "$tmp/a2" "$tmp/b1"
make_pki
start_relay "$relay" "$tmp/relay" "$tmp/relay.log"

# The chat server: HTTPS with the relay's test certificate (SAN 127.0.0.1), trusted via ca_file.
start_chat_server "$chat_port"

cfg=$tmp/gw.toml
write_config "$cfg" "$tmp/gw" "$pacs_port" "$gw_port" "$web_port" "64MiB"
use_relay "$cfg"
# The thread "cardio" becomes a per-patient Matrix thread with seen receipts, in English.
/usr/bin/python3 - "$cfg" "$chat_port" "$tmp" <<'PY'
import sys
cfg, port, tmp = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(cfg).read()
text = text.replace('name = "cardio"\nconnector = "webhook"',
                    'name = "cardio"\nconnector = "matrix"\nper_patient = true\n'
                    'room_label = "Cardio"\ninvite = ["@dr.sato:chat.local"]\n'
                    'seen_receipts = true\nlanguage = "en"')
text = text.replace('name = "modality-push"\nconnector = "webhook"',
                    'name = "modality-push"\nconnector = "matrix"\ndestination = "!fixed:chat.local"\n'
                    'thumbnails = true')
text += f'''
[chat]
[[chat.connectors]]
name = "matrix"
type = "matrix"
homeserver = "https://127.0.0.1:{port}"
access_token_file = "{tmp}/matrix-token"
ca_file = "{tmp}/pki/ca.pem"
[[chat.connectors]]
name = "hook"
type = "webhook"
url = "https://127.0.0.1:{port}/hook"
secret_file = "{tmp}/hook-secret"
ca_file = "{tmp}/pki/ca.pem"
[[threads]]
name = "ward"
connector = "hook"
thumbnails = true
language = "en"
'''
open(cfg, "w").write(text)
PY
start_gateway "$cfg" "$tmp/gateway.log"; gw_pid=$last_pid

send() {  # send ACC
  "$gateway" send --config "$cfg" --accession "$1" --thread cardio --note "please review" \
    --timeout 60s 2>> "$tmp/send.err"
}
out1=$(send CHATACC0001); rc1=$?
out2=$(send CHATACC0002); rc2=$?
out3=$(send CHATACC0003); rc3=$?
expect_eq "first send of patient A is posted" 0 "$rc1"
expect_eq "second send of patient A is posted" 0 "$rc2"
expect_eq "send of patient B is posted" 0 "$rc3"

field() {  # field KIND INDEX KEY: the KEY of the INDEX-th (0-based) line of that kind
  /usr/bin/python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
rows = [r for r in rows if r.get("kind") == sys.argv[2]]
i = int(sys.argv[3])
print(rows[i].get(sys.argv[4], "") if i < len(rows) else "")' "$tmp/chat.jsonl" "$@"
}
count() { /usr/bin/python3 -c '
import json, sys
print(sum(1 for l in open(sys.argv[1], encoding="utf-8") if l.strip() and json.loads(l).get("kind") == sys.argv[2]))' "$tmp/chat.jsonl" "$1"; }

expect_eq "one room per patient was created (two patients)" 2 "$(count matrix_room)"
expect_eq "the first room is named with the label and patient A's last 4" "Cardio …4321" \
  "$(field matrix_room 0 name)"
expect_eq "the second room is named with patient B's last 4" "Cardio …8765" \
  "$(field matrix_room 1 name)"
check "the room invites the configured members" grep -q '"invite": \["@dr.sato:chat.local"\]' "$tmp/chat.jsonl"
room_a=$(field matrix_room 0 room); room_b=$(field matrix_room 1 room)
expect_eq "study 1 of patient A is posted in patient A's room" "$room_a" "$(field matrix_message 0 room)"
expect_eq "study 2 of patient A is posted in the same room" "$room_a" "$(field matrix_message 1 room)"
expect_eq "patient B's study is posted in another room" "$room_b" "$(field matrix_message 2 room)"
check "the rooms differ" test "$room_a" != "$room_b"

body=$(field matrix_message 0 body)
expect_contains "the card shows modality and body part" "Images shared: CT" "$body"
expect_contains "the card shows the series and image counts" "Series / images: 1 / $n" "$body"
expect_contains "the card shows the study date" "Study date: 2026-11-20" "$body"
expect_contains "the card shows the last 4 of the patient ID" "Patient ID (last 4): …4321" "$body"
expect_contains "the card shows the note" "Note: please review" "$body"
check "the card shows the body part" grep -q "Body part: " <<< "$body"

# The room mapping is keyed by HMAC, never the ID.
check "the patient room store exists" test -s "$tmp/gw/data/chat-rooms.sqlite"
for canary in "$PID_A" "$PID_B" CHATCANARY CHATACC; do
  check "the chat server received no $canary" bash -c "! grep -q '$canary' '$tmp/chat.jsonl'"
  check "the gateway log has no $canary" bash -c "! grep -q '$canary' '$tmp/gateway.log'"
  check "the room store has no $canary" bash -c "! grep -aq '$canary' '$tmp/gw/data/chat-rooms.sqlite'"
  check "the posted-card store has no $canary" bash -c "! grep -aq '$canary' '$tmp/gw/data/chat-posts.sqlite'"
done

# Seen receipt: open patient B's link at the relay; the gateway learns it over mutual TLS and
# edits the card (Matrix m.replace) to "Opened HH:MM".
url=$(sed -n 's/^link posted: cardio \(https[^ ]*\) .*/\1/p' <<< "$out3")
token=${url##*/}
check "send printed patient B's link" test -n "$token"
expect_eq "no card was edited before anyone opened a link" 0 \
  "$(/usr/bin/python3 -c 'import json,sys; print(sum(1 for l in open(sys.argv[1]) if json.loads(l).get("replaces")))' "$tmp/chat.jsonl")"
curl -s -o /dev/null --cacert "$tmp/pki/ca.pem" -H "Authorization: Bearer $token" \
  "https://127.0.0.1:$relay_viewer_port/dicomweb/studies"
edited() { /usr/bin/python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
sys.exit(0 if any(r.get("replaces") and "Opened " in r.get("body", "") for r in rows) else 1)' "$tmp/chat.jsonl"; }
# The follow-up asks the relay about an unopened card less often as it ages (at most every 60 s).
check "opening the link edits its card to Opened HH:MM within 65 s" wait_until 65 edited
edit_room=$(/usr/bin/python3 -c 'import json,sys; print([r for r in map(json.loads, open(sys.argv[1])) if r.get("replaces")][0]["room"])' "$tmp/chat.jsonl" 2>/dev/null)
expect_eq "the edit is in patient B's room" "$room_b" "$edit_room"
replaced=$(/usr/bin/python3 -c 'import json,sys; print([r for r in map(json.loads, open(sys.argv[1])) if r.get("replaces")][0]["replaces"])' "$tmp/chat.jsonl" 2>/dev/null)
expect_eq "the edit replaces patient B's card" "$(field matrix_message 2 event)" "$replaced"
sleep 4  # one more follow-up round: still exactly one edit (the receipt is sent once)
expect_eq "exactly one card was edited" 1 \
  "$(/usr/bin/python3 -c 'import json,sys; print(sum(1 for l in open(sys.argv[1]) if json.loads(l).get("replaces")))' "$tmp/chat.jsonl")"

# Revocation: `chat revoke JOB` revokes patient A's second link at the relay and its card is
# edited to say so.
txn2=$(field matrix_message 1 txn); job2=${txn2#tsunagu-job-}
url2=$(sed -n 's/^link posted: cardio \(https[^ ]*\) .*/\1/p' <<< "$out2"); token2=${url2##*/}
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$tmp/pki/ca.pem" \
       -H "Authorization: Bearer $token2" "https://127.0.0.1:$relay_viewer_port/dicomweb/studies")
expect_eq "patient A's second link opens before the revocation" 200 "$code"
rout=$("$gateway" chat revoke "$job2" --config "$cfg" 2>&1); rc=$?
expect_eq "chat revoke exits 0" 0 "$rc"
expect_contains "chat revoke says what it did" "links revoked at the relay" "$rout"
revoked() { /usr/bin/python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
sys.exit(0 if any(r.get("replaces") == sys.argv[2] and "This link was revoked" in r.get("body", "")
                  for r in rows) else 1)' "$tmp/chat.jsonl" "$(field matrix_message 1 event)"; }
check "the revoked card is edited within 20 s" wait_until 20 revoked
revoked_link() {
  [ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$tmp/pki/ca.pem" \
       -H "Authorization: Bearer $token2" "https://127.0.0.1:$relay_viewer_port/dicomweb/studies")" != 200 ]
}
check "the revoked link no longer opens the study" wait_until 10 revoked_link

# Revocation at the relay itself (`tsunagu-relay revoke`, not through the gateway): the relay's
# link events report it and the follow-up edits patient A's first card.
txn1=$(field matrix_message 0 txn); job1=${txn1#tsunagu-job-}
study1=$(/usr/bin/python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select study_uid from chat_posted_cards where job_id=?", (int(sys.argv[2]),)).fetchone()[0])' "$tmp/gw/data/chat-posts.sqlite" "$job1" 2>/dev/null)
check "the posted card names its de-identified study" test -n "$study1"
rout=$("$relay" --config "$tmp/relay.toml" revoke "$study1" 2>&1); rc=$?
expect_eq "tsunagu-relay revoke exits 0" 0 "$rc"
expect_contains "tsunagu-relay revoke revoked the link" "links revoked: 1" "$rout"
revoked_at_relay() { /usr/bin/python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
sys.exit(0 if any(r.get("replaces") == sys.argv[2] and "This link was revoked" in r.get("body", "")
                  for r in rows) else 1)' "$tmp/chat.jsonl" "$(field matrix_message 0 event)"; }
# The follow-up asks about an unopened card at most every 60 s.
check "the card revoked at the relay is edited within 70 s" wait_until 70 revoked_at_relay

# Thumbnails: only where the thread asks for them, under their own token.
out4=$("$gateway" send --config "$cfg" --accession CHATACC0001 --thread ward --timeout 60s \
       2>> "$tmp/send.err"); rc4=$?
expect_eq "the send to the thumbnail thread is posted" 0 "$rc4"
thumb=$(/usr/bin/python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
print([r for r in rows if r.get("thread") == "ward"][0].get("thumbnail_url", ""))' "$tmp/chat.jsonl" 2>/dev/null)
expect_contains "the webhook card carries a thumbnail URL on the relay" \
  "https://127.0.0.1:$relay_viewer_port/thumb/" "$thumb"
check "the thumbnail URL is not the viewer link" bash -c "! grep -q '/v/' <<< '$thumb'"
code=$(curl -s -o "$tmp/thumb.jpg" -w '%{http_code} %{content_type}' --cacert "$tmp/pki/ca.pem" "$thumb")
expect_eq "the thumbnail answers a JPEG" "200 image/jpeg" "$code"
check "the thumbnail is a JPEG file" bash -c "head -c 2 '$tmp/thumb.jpg' | od -An -tx1 | grep -q 'ff d8'"
size=$(stat -c %s "$tmp/thumb.jpg")
check "the thumbnail is small (< 64 KiB)" test "$size" -lt 65536
ttoken=${thumb##*/thumb/}; ttoken=${ttoken%.jpg}
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$tmp/pki/ca.pem" \
       -H "Authorization: Bearer $ttoken" "https://127.0.0.1:$relay_viewer_port/dicomweb/studies")
check "the thumbnail token does not open the study (got $code)" test "$code" != 200
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$tmp/pki/ca.pem" \
       "https://127.0.0.1:$relay_viewer_port/v/$ttoken/summary.json")
check "the thumbnail token does not open the web viewer (got $code)" test "$code" != 200
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$tmp/pki/ca.pem" \
       "https://127.0.0.1:$relay_viewer_port/thumb/${token}.jpg")
check "a viewer token does not open a thumbnail (got $code)" test "$code" != 200

# Matrix with thumbnails: the gateway fetches the thumbnail and uploads it to the homeserver's
# media repository; the card shows it as <img src="mxc://..."> (clients show no other images).
out5=$("$gateway" send --config "$cfg" --accession CHATACC0003 --thread modality-push \
       --timeout 60s 2>> "$tmp/send.err"); rc5=$?
expect_eq "the send to the Matrix thumbnail thread is posted" 0 "$rc5"
expect_eq "one thumbnail was uploaded to the media repository" 1 "$(count matrix_upload)"
expect_eq "the upload is a JPEG" "True image/jpeg" \
  "$(field matrix_upload 0 jpeg) $(field matrix_upload 0 content_type)"
mx_html=$(/usr/bin/python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
print([r for r in rows if r.get("kind") == "matrix_message" and r.get("room") == "!fixed:chat.local"][0]["formatted_body"])' "$tmp/chat.jsonl" 2>/dev/null)
expect_contains "the Matrix card shows the uploaded thumbnail" \
  "<img src=\"$(field matrix_upload 0 content_uri)\"" "$mx_html"
check "the Matrix card does not carry the relay's thumbnail token" \
  bash -c "! grep -q '/thumb/' <<< '$mx_html'"
check "the Matrix card still carries the link" grep -q "/v/" <<< "$mx_html"
for canary in "$PID_A" "$PID_B" CHATCANARY CHATACC; do
  check "the chat server received no $canary after the thumbnail" \
    bash -c "! grep -q '$canary' '$tmp/chat.jsonl'"
done
minted=$(/usr/bin/python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from chat_thumbnails").fetchone()[0])' "$tmp/relay/chat-thumbnails.sqlite")
expect_eq "only the thumbnail threads asked for a thumbnail" 2 "$minted"
check "the relay stores the thumbnail token only as a hash" \
  bash -c "! grep -aq '$ttoken' '$tmp/relay/chat-thumbnails.sqlite'"

kill -TERM "$gw_pid"; wait "$gw_pid"; rc=$?
expect_eq "the gateway stops cleanly" 0 "$rc"
finish
