#!/usr/bin/env bash
# Upload through the IPsec tunnel: the 300-slice CT, de-identified, uploaded with the gateway's
# RelayClient to a real tsunagu-relay over mutual TLS inside the tunnel, against raw TCP
# (iperf3, memory to memory) through the same tunnel: the tunnel's own ceiling. Two hosts in
# network namespaces, one charon each with userland ESP (see tests/integration/ipsec).
# Usage (root): tests/bench/ipsec/run_bench.sh [BUILD_DIR] [--slices N] [--runs N]
# UPLOAD_CONNECTIONS (default 4, as the gateway's [relay] upload_connections): concurrent uploads.
set -euo pipefail
top=$(cd "$(dirname "$0")/../../.." && pwd)
build=$top/build
slices=300
runs=2
while [ $# -gt 0 ]; do
  case "$1" in
    --slices) slices=$2; shift ;;
    --runs) runs=$2; shift ;;
    *) build=$(cd "$1" && pwd) ;;
  esac
  shift
done
[ "$(id -u)" = 0 ] || { echo "run as root (network namespaces)"; exit 2; }
source "$top/tests/integration/ipsec/netns_lib.sh"
for bin in "$build/gateway/tsunagu-gateway" "$build/relay/tsunagu-relay" \
           "$build/tests/bench/ipsec/tsunagu-upload-bench"; do
  [ -x "$bin" ] || { echo "missing $bin: build first"; exit 2; }
done
anonymize=$(find "$build/anonymizer" -name tsunagu-anonymize -type f -perm -u+x | head -1)
[ -n "$anonymize" ] || { echo "missing tsunagu-anonymize: build first"; exit 2; }

WORK=$(mktemp -d /tmp/tsunagu-ipsec-bench-XXXXXX)
PREFIX=tsb$$
relay_pid=
cleanup() {
  [ -n "$relay_pid" ] && kill "$relay_pid" 2>/dev/null
  netns_down
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "== preparing: CT of $slices slices, de-identified"
/usr/bin/python3 "$top/samples/generate_study.py" --kind ct --slices "$slices" --out "$WORK/ct" > /dev/null
head -c 32 /dev/urandom > "$WORK/site-secret"; chmod 600 "$WORK/site-secret"
"$anonymize" --secret-file "$WORK/site-secret" --output "$WORK/deid" "$WORK/ct" > /dev/null
study=$(dcmdump +P StudyInstanceUID "$(ls "$WORK"/deid/*.dcm | head -1)" | sed 's/.*\[\(.*\)\].*/\1/')
bytes=$(du -cb "$WORK"/deid/*.dcm | tail -1 | cut -f1)
echo "   $(ls "$WORK"/deid | wc -l) instances, $bytes bytes"

netns_up
make_ike_pki "$WORK/ikepki" 2>/dev/null
# TLS for the upload: a CA, the relay's server certificate for its inner address, a gateway
# client certificate.
tls=$WORK/tls; mkdir -p "$tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=bench CA" \
  -keyout "$tls/ca-key.pem" -out "$tls/ca.pem" 2>/dev/null
for who in relay gateway; do
  cn=$who.bench; ext="subjectAltName=IP:$RL_INNER"
  [ "$who" = gateway ] && ext="extendedKeyUsage=clientAuth"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$cn" \
    -keyout "$tls/$who-key.pem" -out "$tls/$who.csr" 2>/dev/null
  openssl x509 -req -in "$tls/$who.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca-key.pem" \
    -CAcreateserial -days 2 -extfile <(echo "$ext") -out "$tls/$who-cert.pem" 2>/dev/null
done
chmod 600 "$tls"/*-key.pem "$WORK/ikepki"/*-key.pem

write_relay_config() {
  cat > "$WORK/relay.toml" <<TOML
language = "en"
log_level = "warn"
[upload]
bind_address = "$RL_INNER"
port = 8443
cert_file = "$tls/relay-cert.pem"
key_file = "$tls/relay-key.pem"
client_ca_file = "$tls/ca.pem"
allowed_clients = ["gateway.bench"]
[viewer]
bind_address = "127.0.0.1"
port = 8444
cert_file = "$tls/relay-cert.pem"
key_file = "$tls/relay-key.pem"
public_url = "https://relay.bench"
[store]
data_directory = "$WORK/store"
$1
$(ipsec_section rl)
TOML
}
# The relay's store key directory, if its config has one, goes next to the data.
extra=""
if grep -q '^key_directory' "$top/config/relay.example.toml"; then extra="key_directory = \"$WORK/keys\""; fi
write_relay_config "$extra"
cat > "$WORK/gateway.toml" <<TOML
[storage]
data_directory = "$WORK/gw"
spool_directory = "$WORK/spool"
[anonymizer]
secret_file = "$WORK/site-secret"
[relay]
url = "https://$RL_INNER:8443"
ca_file = "$tls/ca.pem"
client_cert_file = "$tls/gateway-cert.pem"
client_key_file = "$tls/gateway-key.pem"
$(ipsec_section gw)
TOML
"$build/gateway/tsunagu-gateway" ipsec render --config "$WORK/gateway.toml" --out "$WORK/gw/ipsec" > /dev/null
"$build/relay/tsunagu-relay" ipsec render --config "$WORK/relay.toml" --out "$WORK/rl/ipsec" > /dev/null
start_charon rl; start_charon gw
swanctl_in rl --load-all > /dev/null 2>&1; swanctl_in gw --load-all > /dev/null 2>&1
wait_until 30 "$build/gateway/tsunagu-gateway" ipsec status --config "$WORK/gateway.toml" ||
  { echo "the tunnel did not come up"; exit 1; }
echo "== tunnel up: $("$build/gateway/tsunagu-gateway" ipsec status --config "$WORK/gateway.toml")"

start_relay() {
  rm -rf "$WORK/store" "$WORK/keys"
  ip netns exec "$PREFIX-rl" "$build/relay/tsunagu-relay" --config "$WORK/relay.toml" \
    > "$WORK/relay.log" 2>&1 &
  relay_pid=$!
  wait_until 20 in_ns gw bash -c "exec 3<>/dev/tcp/$RL_INNER/8443" ||
    { echo "the relay did not start"; cat "$WORK/relay.log"; exit 1; }
}
stop_relay() { kill "$relay_pid"; wait "$relay_pid" 2>/dev/null || true; relay_pid=; }

raw_mbs() {
  in_ns rl iperf3 -s -1 -B "$RL_INNER" -p 5201 > /dev/null 2>&1 &
  local server=$!
  # (no probe connection: a one-off server would take it for the test)
  wait_until 10 bash -c "ip netns exec $PREFIX-rl ss -ltn | grep -q :5201"
  sleep 0.2
  local bps
  bps=$(in_ns gw iperf3 -c "$RL_INNER" -p 5201 -n "$bytes" -J |
        /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"])')
  wait "$server" 2>/dev/null || true
  awk -v b="$bps" 'BEGIN { printf "%.1f", b / 8 / 1e6 }'
}

tsunagu_mbs() {
  start_relay
  local line seconds
  line=$(in_ns gw "$build/tests/bench/ipsec/tsunagu-upload-bench" --url "https://$RL_INNER:8443" \
    --ca "$tls/ca.pem" --cert "$tls/gateway-cert.pem" --key "$tls/gateway-key.pem" \
    --study "$study" --jobs "${UPLOAD_CONNECTIONS:-4}" "$WORK/deid")
  stop_relay
  seconds=$(echo "$line" | sed -n 's/.*seconds=\([0-9.]*\).*/\1/p')
  awk -v b="$bytes" -v s="$seconds" 'BEGIN { printf "%.1f", b / s / 1e6 }'
}

echo "== $runs runs each, alternating (MB/s = 10^6 bytes/s)"
raws=(); tsus=()
for i in $(seq "$runs"); do
  raws+=("$(raw_mbs)")
  tsus+=("$(tsunagu_mbs)")
  echo "   run $i: raw TCP through tunnel ${raws[-1]} MB/s, Tsunagu upload ${tsus[-1]} MB/s"
done
best() { printf '%s\n' "$@" | sort -g | tail -1; }
raw=$(best "${raws[@]}"); tsu=$(best "${tsus[@]}")
echo "== result (best of $runs)"
printf '   %-44s %8s MB/s\n' "raw TCP through the tunnel (iperf3)" "$raw"
printf '   %-44s %8s MB/s\n' "Tsunagu upload + commit (mTLS, RelayClient)" "$tsu"
awk -v t="$tsu" -v r="$raw" 'BEGIN { printf "   ratio Tsunagu / raw tunnel: %.2f (target >= 0.70)\n", t / r }'
