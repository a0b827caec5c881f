# Shared by the gateway's shell tests: a private directory ($tmp), processes killed on exit,
# dcmqrscp as the PACS, gateway configs and bounded waits. Source after testlib.sh; needs $gateway.
tmp=$(mktemp -d)
# Placeholder relay credentials: the relay client cannot be set up with them, so jobs wait before
# the upload stage (tests that need a relay write their own [relay] section).
for f in secret key.pem; do head -c 32 /dev/urandom > "$tmp/$f"; chmod 600 "$tmp/$f"; done
echo x > "$tmp/cert.pem"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  pkill_children
  rm -rf "$tmp"
}
# dcmqrscp forks one child per association; they are killed through their parent's process group.
pkill_children() { for g in "${pgroups[@]:-}"; do [ -n "$g" ] && kill -9 -- "-$g" 2>/dev/null; done; }
pgroups=()
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# wait_until SECONDS COMMAND...: polls every 0.1 s, bounded.
wait_until() {
  local limit=$1; shift
  local end=$((SECONDS + limit))
  while [ $SECONDS -lt $end ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

start_pacs() {  # start_pacs NAME PORT HOSTTABLE_LINE NODELAY
  local name=$1 port=$2 host_line=$3 nodelay=$4
  mkdir -p "$tmp/$name/db"
  cat > "$tmp/$name/dcmqrscp.cfg" <<CFG
NetworkTCPPort  = $port
MaxPDUSize      = 65536
MaxAssociations = 16
HostTable BEGIN
$host_line
loader          = (LOADER, 127.0.0.1, 1)
HostTable END
VendorTable BEGIN
VendorTable END
AETable BEGIN
PACS            $tmp/$name/db    RW (2000, 4096mb)   ANY
AETable END
CFG
  TCP_NODELAY=$nodelay setsid dcmqrscp -c "$tmp/$name/dcmqrscp.cfg" -dhl >> "$tmp/$name.log" 2>&1 &
  last_pid=$!
  pids+=($last_pid); pgroups+=($last_pid)
  wait_until 10 echoscu -aet LOADER -aec PACS 127.0.0.1 "$port" || { echo "dcmqrscp did not start"; cat "$tmp/$name.log"; exit 1; }
}

load_pacs() {  # load_pacs PORT DIR...
  local port=$1; shift
  TCP_NODELAY=1 storescu -aet LOADER -aec PACS +sd +r 127.0.0.1 "$port" "$@" > /dev/null 2>&1 \
    || { echo "loading the PACS failed"; exit 1; }
}

write_config() {  # write_config FILE DATA_DIR PACS_PORT DICOM_PORT WEB_PORT MIN_FREE
  cat > "$1" <<TOML
language = "en"
log_level = "debug"
[dicom]
ae_title = "TSUNAGU"
port = $4
dimse_timeout = "5s"
[pacs]
host = "127.0.0.1"
port = $3
ae_title = "PACS"
dimse_timeout = "5s"
move_deadline = "60s"
max_move_retries = 1
[storage]
data_directory = "$2/data"
spool_directory = "$2/spool"
spool_min_free = "$6"
[anonymizer]
secret_file = "$tmp/secret"
[relay]
url = "https://127.0.0.1:1"
ca_file = "$tmp/cert.pem"
client_cert_file = "$tmp/cert.pem"
client_key_file = "$tmp/key.pem"
[web]
port = $5
[transport]
require_ipsec = false
[push]
quiet_period = "2s"
[[threads]]
name = "cardio"
connector = "webhook"
[[threads]]
name = "modality-push"
connector = "webhook"
[[routes]]
thread = "modality-push"
called_ae_title = "TSUNAGU"
calling_ae_title = "MODALITY"
TOML
}

start_gateway() {  # start_gateway CONFIG LOG
  "$gateway" --config "$1" >> "$2" 2>&1 &
  last_pid=$!
  pids+=($last_pid)
  wait_until 10 grep -q "gateway.ready" "$2" || { echo "gateway did not start"; cat "$2"; exit 1; }
}

job_field() {  # job_field CONFIG JOB FIELD
  "$gateway" status --config "$1" "$2" 2>/dev/null | sed -n "s/^  $3: //p"
}
