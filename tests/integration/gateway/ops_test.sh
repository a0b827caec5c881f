#!/usr/bin/env bash
# Operations with real processes (issue 11): dcmqrscp as the PACS, a real tsunagu-relay over
# mutual TLS and the gateway.
#  - doctor's PACS (C-ECHO), relay (mutual TLS), clock-skew and SQLite rows, healthy and broken;
#  - `backup` of both stores while the services run, `restore` refused while they run, accepted
#    once stopped, and the services start again on the restored stores with their data.
set -u
top=$1
gateway=$2
relay=$3
here=$(cd "$(dirname "$0")" && pwd)
source "$top/tests/integration/lib/testlib.sh"
source "$here/lib.sh"

row() {  # row OUTPUT NAME: the doctor's row for NAME
  grep -E "^$2 " <<< "$1" | head -1
}

/usr/bin/python3 "$top/samples/generate_study.py" --kind ct --out "$tmp/ct" --slices 4 --size 32 \
  --seed 5 --patient-id OPSCANARY55 --patient-name 'OPS^CANARY' --accession OPSACC77 \
  --study-date 20261120 > /dev/null || exit 1
for i in 8 9; do  # two more studies, for the certificate renewal below
  /usr/bin/python3 "$top/samples/generate_study.py" --kind ct --out "$tmp/ct$i" --slices 2 \
    --size 32 --seed "$i" --patient-id "OPSCANARY5$i" --patient-name 'OPS^CANARY' \
    --accession "OPSACC7$i" --study-date 20261120 > /dev/null || exit 1
done
gw_port=$(free_port); web_port=$(free_port); pacs_port=$(free_port)
start_pacs pacs "$pacs_port" "tsunagu = (TSUNAGU, 127.0.0.1, $gw_port)" 1
pacs_pid=$last_pid
load_pacs "$pacs_port" "$tmp/ct" "$tmp/ct8" "$tmp/ct9"
make_pki
start_relay "$relay" "$tmp/relay" "$tmp/relay.log"
cfg=$tmp/gw.toml
write_config "$cfg" "$tmp/gw" "$pacs_port" "$gw_port" "$web_port" "64MiB"
use_relay "$cfg"
start_gateway "$cfg" "$tmp/gateway.log"; gw_pid=$last_pid

out=$("$gateway" send --config "$cfg" --accession OPSACC77 --thread cardio --timeout 60s 2>&1); rc=$?
expect_eq "a study goes through before the backups" 0 "$rc"
job=$("$gateway" status --config "$cfg" | awk 'NR==2 {print $1}')

# --- doctor, everything up
doc=$("$gateway" doctor --config "$cfg"); doc_rc=$?
expect_contains "PACS row ok" "ok" "$(row "$doc" 'PACS \(C-ECHO\)')"
expect_contains "PACS row names the peer" "C-ECHO PACS@127.0.0.1:$pacs_port" "$(row "$doc" 'PACS \(C-ECHO\)')"
expect_contains "relay row ok over mutual TLS" "(mutual TLS, answer 200)" "$(row "$doc" 'relay reachable')"
expect_contains "clock skew measured and ok" "peer clock minus ours" "$(row "$doc" 'clock skew with the relay')"
check "clock skew row is ok" grep -qE '^clock skew with the relay +ok ' <<< "$doc"
expect_contains "job store passes quick_check with its schema" "gateway.db (schema 5)" \
  "$(row "$doc" 'job store \(SQLite\)')"
check "job store row is ok" grep -qE '^job store \(SQLite\) +ok ' <<< "$doc"
rdoc=$("$relay" doctor --config "$tmp/relay.toml")
expect_contains "relay index row ok" "index.sqlite (schema 2)" "$(row "$rdoc" 'study index \(SQLite\)')"
check "relay key store row ok" grep -qE '^key store \(SQLite\) +ok ' <<< "$rdoc"

# --- the relay's operator view
rs=$("$relay" studies --config "$tmp/relay.toml"); rc=$?
expect_eq "relay studies exits 0" 0 "$rc"
expect_contains "it shows quota use" "quota: " "$rs"
expect_contains "it lists the enrolled gateways" "enrolled gateways:" "$rs"
# The relay saves last contacts within a second or two; the gateway has just uploaded.
wait_until 10 bash -c "'$relay' studies --config '$tmp/relay.toml' | grep -qE '^  test-gateway +$(date -u +%Y-%m-%d) '"
rs=$("$relay" studies --config "$tmp/relay.toml")
check "with the gateway's last contact today" grep -qE "^  test-gateway +$(date -u +%Y-%m-%d) [0-9:]+$" <<< "$rs"
check "the sent study is committed with its 4 images and a live link" \
  grep -qE '^[0-9-]+ [0-9:]+ +committed +4 +[0-9.]+ [KMG]?i?B +1 +- +cardio +2\.25\.[0-9]+$' <<< "$rs"
expect_contains "one study" "studies: 1" "$rs"

# --- backups while both services run
"$gateway" backup --config "$cfg" "$tmp/jobs.bak" > "$tmp/backup.out" 2>&1; rc=$?
expect_eq "gateway backup while running exits 0" 0 "$rc"
check "gateway backup says what it wrote" grep -q "backed up the job store to $tmp/jobs.bak (schema 5" "$tmp/backup.out"
expect_eq "the backup is private" 600 "$(stat -c %a "$tmp/jobs.bak")"
"$gateway" backup --config "$cfg" "$tmp/jobs.bak" > /dev/null 2>&1; rc=$?
expect_eq "a second backup to the same file is refused" 1 "$rc"
"$relay" backup --config "$tmp/relay.toml" "$tmp/index.bak" > "$tmp/rbackup.out" 2>&1; rc=$?
expect_eq "relay backup while running exits 0" 0 "$rc"
tables=$(/usr/bin/python3 -c 'import sqlite3,sys; print(" ".join(r[0] for r in sqlite3.connect(sys.argv[1]).execute("select name from sqlite_schema")))' "$tmp/index.bak")
expect_contains "relay backup is the index" "studies" "$tables"
check "relay backup holds no study key" bash -c "! grep -q study_keys <<< '$tables'"
contacts=$(/usr/bin/python3 -c 'import sqlite3,sys; print(" ".join(r[0] for r in sqlite3.connect(sys.argv[1]).execute("select name from gateway_contacts")))' "$tmp/index.bak.gateways" 2>&1)
expect_eq "the gateway contacts are backed up with the index" "test-gateway" "$contacts"
check "relay backup says it wrote the contacts" grep -q "gateway contacts" "$tmp/rbackup.out"

# --- restore refused while running, accepted when stopped
"$gateway" restore --config "$cfg" "$tmp/jobs.bak" > "$tmp/restore.out" 2>&1; rc=$?
expect_eq "gateway restore while running is refused" 1 "$rc"
check "the refusal says to stop the service" grep -q "systemctl stop tsunagu-gateway" "$tmp/restore.out"
"$relay" restore --config "$tmp/relay.toml" "$tmp/index.bak" > "$tmp/rrestore.out" 2>&1; rc=$?
expect_eq "relay restore while running is refused" 1 "$rc"
"$relay" restore --config "$tmp/relay.toml" "$tmp/jobs.bak" > "$tmp/wrong.out" 2>&1; rc=$?
expect_eq "the gateway's backup is not taken as the relay's index" 1 "$rc"
check "the refusal names the store" grep -q "not a backup of the relay index" "$tmp/wrong.out"

kill -TERM "$gw_pid"; wait "$gw_pid"
kill -TERM "$relay_pid"; wait "$relay_pid"
"$gateway" restore --config "$cfg" "$tmp/jobs.bak" > "$tmp/restore.out" 2>&1; rc=$?
expect_eq "gateway restore when stopped exits 0" 0 "$rc"
check "restore keeps what it replaced" test -s "$tmp/gw/data/gateway.db.before-restore"
rm -f "$tmp/relay/gateways.sqlite"
"$relay" restore --config "$tmp/relay.toml" "$tmp/index.bak" > "$tmp/rrestore.out" 2>&1; rc=$?
expect_eq "relay restore when stopped exits 0" 0 "$rc"
check "the restored relay knows the gateway's last contact again" \
  grep -qE "^  test-gateway +$(date -u +%Y-%m-%d) " <<< "$("$relay" studies --config "$tmp/relay.toml")"

# --- retry and cancel (the service is stopped, so no worker holds the job)
out2=$("$gateway" cancel --config "$cfg" "$job" 2>&1); rc=$?
expect_eq "a job whose link is posted cannot be cancelled" 1 "$rc"
expect_contains "and the refusal says why" "link was posted already" "$out2"
out2=$("$gateway" retry --config "$cfg" "$job" 2>&1); rc=$?
expect_eq "a job that did not fail is not retried" 1 "$rc"
expect_contains "and the refusal says why" "only a failed job can be retried" "$out2"
queued=$("$gateway" send --config "$cfg" --accession OPSACC78 --thread cardio --no-wait 2>&1); rc=$?
expect_eq "a send is queued while the service is stopped" 0 "$rc"
out2=$("$gateway" cancel --config "$cfg" "$queued" 2>&1); rc=$?
expect_eq "the queued job is cancelled" 0 "$rc"
expect_contains "cancel says no link will be posted" "no link will be posted" "$out2"
st=$("$gateway" status --config "$cfg" "$queued")
expect_contains "the cancelled job is finished" "stage: cleaned (in retrieving)" "$st"
expect_contains "and says it was cancelled" "error: cancelled: cancelled by an operator" "$st"
"$gateway" retry --config "$cfg" "$queued" > /dev/null 2>&1; rc=$?
expect_eq "a cancelled job is not retried" 1 "$rc"
"$gateway" cancel --config "$cfg" notanumber > /dev/null 2>&1; rc=$?
expect_eq "cancel needs a job number" 2 "$rc"
list=$("$gateway" status --config "$cfg")
check "status shows spool use" grep -qE "^spool: [0-9.]+ [KMG]?i?B in [0-9]+ files \(.*\), [0-9.]+ [KMGT]?i?B free$" <<< "$list"
check "relay restore reports the purge of expired studies" \
  grep -q "studies deleted because they had expired: 0" "$tmp/rrestore.out"

start_relay "$relay" "$tmp/relay" "$tmp/relay.log"
start_gateway "$cfg" "$tmp/gateway.log"; gw_pid=$last_pid
expect_contains "the restored job store has the job" "stage: " "$("$gateway" status --config "$cfg" "$job")"
url=$(sed -n 's/^link posted: cardio \(https[^ ]*\) .*/\1/p' <<< "$out")
token=${url##*/}
qido=$(curl -s --cacert "$tmp/pki/ca.pem" -H "Authorization: Bearer $token" \
       "https://127.0.0.1:$relay_viewer_port/dicomweb/studies")
expect_contains "the restored relay still serves the live study" '"00201208"' "$qido"

# --- gateway client certificate renewal without a restart (SIGHUP)
(
  cd "$tmp/pki"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=test-gateway" \
    -keyout new-gateway-key.pem -out new-gateway.csr 2>/dev/null
  openssl x509 -req -in new-gateway.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 \
    -extfile <(echo "extendedKeyUsage=clientAuth") -out new-gateway-cert.pem 2>/dev/null
  chmod 600 new-gateway-key.pem
)
# Half-way through a renewal: the new certificate is in place, its key not yet. A restarted
# relay forces new connections; the gateway keeps presenting the pair it loaded.
cp "$tmp/pki/new-gateway-cert.pem" "$tmp/pki/gateway-cert.pem"
kill -TERM "$relay_pid"; wait "$relay_pid"
start_relay "$relay" "$tmp/relay" "$tmp/relay.log"
"$gateway" send --config "$cfg" --accession OPSACC78 --thread cardio --timeout 60s > /dev/null 2>&1; rc=$?
expect_eq "a half-renewed certificate on disk does not stop uploads" 0 "$rc"
kill -HUP "$gw_pid"
wait_until 10 grep -q "gateway.certificate_reload_failed" "$tmp/gateway.log"
check "SIGHUP refuses the mismatched pair and keeps the old one" \
  grep -q "gateway.certificate_reload_failed.*does not match the certificate" "$tmp/gateway.log"
cp "$tmp/pki/new-gateway-key.pem" "$tmp/pki/gateway-key.pem"
kill -HUP "$gw_pid"
new_serial=$(openssl x509 -noout -serial -in "$tmp/pki/new-gateway-cert.pem" | cut -d= -f2)
wait_until 10 grep -q "gateway.certificate_reloaded serial=$new_serial" "$tmp/gateway.log"
check "SIGHUP loads the renewed certificate" grep -q "gateway.certificate_reloaded serial=$new_serial" "$tmp/gateway.log"
kill -TERM "$relay_pid"; wait "$relay_pid"
start_relay "$relay" "$tmp/relay" "$tmp/relay.log"
"$gateway" send --config "$cfg" --accession OPSACC79 --thread cardio --timeout 60s > /dev/null 2>&1; rc=$?
expect_eq "uploads go on with the renewed certificate, same gateway process" 0 "$rc"
check "the gateway process is the one started before the renewal" kill -0 "$gw_pid"

# --- SIGHUP applies a new log_level; a config that does not load keeps the running settings
sed -i 's/^log_level = .*/log_level = "warn"/' "$cfg"
kill -HUP "$gw_pid"
wait_until 10 grep -q "gateway.log_level_reloaded level=warn" "$tmp/gateway.log"
check "SIGHUP applies the new log_level" grep -q "gateway.log_level_reloaded level=warn" "$tmp/gateway.log"
mark=$(wc -l < "$tmp/gateway.log")
cp "$cfg" "$tmp/gw.toml.good"
echo "not toml" >> "$cfg"
kill -HUP "$gw_pid"
wait_until 10 grep -q "gateway.reload_failed" "$tmp/gateway.log"
check "a broken config on SIGHUP is reported and the running settings kept" \
  grep -q 'gateway.reload_failed .*effect="the running settings are kept"' "$tmp/gateway.log"
check "at warn, the certificate reload (info) is no longer logged" \
  bash -c "! tail -n +$((mark + 1)) '$tmp/gateway.log' | grep -q 'gateway.certificate_reloaded'"
cp "$tmp/gw.toml.good" "$cfg"
sed -i 's/^log_level = .*/log_level = "debug"/' "$cfg"
kill -HUP "$gw_pid"
wait_until 10 grep -q "gateway.log_level_reloaded level=debug" "$tmp/gateway.log"
check "and back to debug" grep -q "gateway.log_level_reloaded level=debug" "$tmp/gateway.log"
check "the gateway kept running through the reloads" kill -0 "$gw_pid"

# --- doctor, things broken
kill -9 "$pacs_pid"; pkill_children
sed -i "s|^ca_file = .*|ca_file = \"$tmp/pki/gateway-cert.pem\"|" "$cfg"  # not the relay's CA
doc=$("$gateway" doctor --config "$cfg"); doc_rc=$?
expect_eq "doctor exits 2 on failures" 2 "$doc_rc"
check "PACS row failed" grep -qE '^PACS \(C-ECHO\) +FAILED ' <<< "$doc"
check "PACS fix points at the runbook" grep -q "runbook: PACS down" <<< "$doc"
check "relay row failed on an untrusted certificate" \
  grep -qE "^relay reachable +FAILED +the relay's certificate is not trusted" <<< "$doc"
kill -TERM "$relay_pid"; wait "$relay_pid"
use_relay "$cfg"
doc=$("$gateway" doctor --config "$cfg")
check "relay down: connect failure" grep -qE "^relay reachable +FAILED +cannot connect to 127.0.0.1:$relay_upload_port" <<< "$doc"
check "clock skew not measured is a warning" grep -qE "^clock skew with the relay +WARNING" <<< "$doc"
# Chat credentials: files present and private (no post is made).
head -c 32 /dev/urandom > "$tmp/chat-secret"; chmod 600 "$tmp/chat-secret"
cat >> "$cfg" <<TOML
[[chat.connectors]]
name = "webhook"
type = "webhook"
url = "https://127.0.0.1:9/hook"
secret_file = "$tmp/chat-secret"
TOML
doc=$("$gateway" doctor --config "$cfg")
check "chat credential row ok" grep -qE '^chat credentials: webhook +ok +1 credential file' <<< "$doc"
chmod 644 "$tmp/chat-secret"
doc=$("$gateway" doctor --config "$cfg")
check "a readable chat secret fails its row" grep -qE '^chat credentials: webhook +FAILED' <<< "$doc"
check "and says how to fix it" grep -q "chmod 600 $tmp/chat-secret" <<< "$doc"
for canary in OPSCANARY55 OPSACC77 CANARY; do
  check "no $canary in doctor or studies output" bash -c "! grep -q '$canary' <<< '$doc$rdoc$rs'"
done

finish
