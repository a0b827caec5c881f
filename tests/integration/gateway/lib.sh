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

# A free port below the kernel's ephemeral range (32768-60999 on Debian): a port the kernel hands
# out with bind(0) can be taken, before our server binds it, as the local port of another test's
# outgoing connection (seen in CI: "Address already in use" on a gateway start). Bounded tries.
free_port() {
  /usr/bin/python3 -c '
import random, socket, sys
for _ in range(500):
    port = random.randint(20000, 32000)
    try:
        for host in ("0.0.0.0", "127.0.0.1"):
            s = socket.socket(); s.bind((host, port)); s.close()
    except OSError:
        continue
    print(port); sys.exit(0)
sys.exit("no free port found")'
}
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

# make_pki: a CA, relay and viewer server certificates and a gateway client certificate in
# $tmp/pki (as samples/demo does).
make_pki() {
  local pki=$tmp/pki
  mkdir -p "$pki"
  (
    cd "$pki"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
      -subj "/CN=Tsunagu test CA" -keyout ca-key.pem -out ca.pem 2>/dev/null
    for who in relay viewer gateway; do
      cn=$who.tsunagu.test; san="subjectAltName=IP:127.0.0.1,DNS:localhost"
      [ "$who" = gateway ] && { cn=test-gateway; san="extendedKeyUsage=clientAuth"; }
      openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$cn" \
        -keyout "$who-key.pem" -out "$who.csr" 2>/dev/null
      openssl x509 -req -in "$who.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 \
        -extfile <(echo "$san") -out "$who-cert.pem" 2>/dev/null
    done
    chmod 600 ./*-key.pem
  )
}

# start_relay RELAY_BIN DATA_DIR LOG: starts tsunagu-relay on free ports; sets relay_pid,
# relay_upload_port, relay_viewer_port and relay_metrics_port. Needs make_pki first.
# samples/chat_server.py (webhook + Matrix stand-in) over HTTPS with the relay's test certificate
# (make_pki first), its secrets in $tmp/matrix-token and $tmp/hook-secret, what it received in
# $tmp/chat.jsonl, its log in $tmp/chat.log. Bounded: 10 s to start.
start_chat_server() {  # start_chat_server PORT
  head -c 24 /dev/urandom | base64 > "$tmp/matrix-token"; chmod 600 "$tmp/matrix-token"
  head -c 24 /dev/urandom | base64 > "$tmp/hook-secret"; chmod 600 "$tmp/hook-secret"
  /usr/bin/python3 "$top/samples/chat_server.py" --port "$1" \
    --cert "$tmp/pki/relay-cert.pem" --key "$tmp/pki/relay-key.pem" \
    --secret-file "$tmp/hook-secret" --matrix-token-file "$tmp/matrix-token" \
    --out "$tmp/chat.jsonl" > "$tmp/chat.log" 2>&1 &
  pids+=($!)
  wait_until 10 grep -q "listening" "$tmp/chat.log" ||
    { echo "chat server did not start"; cat "$tmp/chat.log"; exit 1; }
}

start_relay() {
  local bin=$1 data=$2 log=$3 pki=$tmp/pki
  relay_upload_port=${relay_upload_port:-$(free_port)}
  relay_viewer_port=${relay_viewer_port:-$(free_port)}
  relay_metrics_port=${relay_metrics_port:-$(free_port)}
  mkdir -p "$data"
  cat > "$data.toml" <<TOML
language = "en"
[upload]
bind_address = "127.0.0.1"
port = $relay_upload_port
cert_file = "$pki/relay-cert.pem"
key_file = "$pki/relay-key.pem"
client_ca_file = "$pki/ca.pem"
allowed_clients = ["test-gateway"]
[viewer]
bind_address = "127.0.0.1"
port = $relay_viewer_port
cert_file = "$pki/viewer-cert.pem"
key_file = "$pki/viewer-key.pem"
public_url = "https://127.0.0.1:$relay_viewer_port"
[store]
data_directory = "$data"
[metrics]
port = $relay_metrics_port
TOML
  "$bin" --config "$data.toml" >> "$log" 2>&1 &
  relay_pid=$!
  pids+=($relay_pid)
  wait_until 10 grep -q "relay.start" "$log" || { echo "relay did not start"; cat "$log"; exit 1; }
  wait_until 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$relay_upload_port" || { echo "relay does not listen"; exit 1; }
}

# use_relay CONFIG: points a gateway config written by write_config at the relay of start_relay.
use_relay() {
  local pki=$tmp/pki
  sed -i -e "s|^url = .*|url = \"https://127.0.0.1:$relay_upload_port\"|" \
         -e "s|^ca_file = .*|ca_file = \"$pki/ca.pem\"|" \
         -e "s|^client_cert_file = .*|client_cert_file = \"$pki/gateway-cert.pem\"|" \
         -e "s|^client_key_file = .*|client_key_file = \"$pki/gateway-key.pem\"|" "$1"
}
