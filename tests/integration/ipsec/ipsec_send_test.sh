#!/usr/bin/env bash
# A real send through the IPsec tunnel, with the SA terminated in the middle: the gateway (and its
# PACS) in one network namespace, the relay in the other, one charon each. The gateway has
# [transport] require_ipsec = true. While the child SA is down the job waits with the reason
# "IPsec tunnel to relay is down" and uploads nothing; once the SA is re-initiated it finishes,
# and the relay holds the study exactly once, complete.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/testlib.sh"
source "$here/netns_lib.sh"
gateway=$1
relay=$2
top=$3
[ "$(id -u)" = 0 ] || { echo "ipsec tests need root"; exit 1; }
WORK=$(mktemp -d /tmp/tsunagu-ipsec-send-XXXXXX)
PREFIX=tss$$
trap 'netns_down; [ -n "${KEEP:-}" ] || rm -rf "$WORK"' EXIT
netns_up || { echo "cannot create network namespaces"; exit 1; }
make_ike_pki "$WORK/ikepki" 2>/dev/null
slices=120

# TLS for the upload (the relay's certificate names its inner address).
tls=$WORK/tls; mkdir -p "$tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=test CA" \
  -keyout "$tls/ca-key.pem" -out "$tls/ca.pem" 2>/dev/null
for who in relay gateway; do
  cn=$who.ipsec.test; ext="subjectAltName=IP:$RL_INNER,IP:127.0.0.1"
  [ "$who" = gateway ] && ext="extendedKeyUsage=clientAuth"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$cn" \
    -keyout "$tls/$who-key.pem" -out "$tls/$who.csr" 2>/dev/null
  openssl x509 -req -in "$tls/$who.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca-key.pem" \
    -CAcreateserial -days 2 -extfile <(echo "$ext") -out "$tls/$who-cert.pem" 2>/dev/null
done
head -c 32 /dev/urandom > "$WORK/site-secret"
chmod 600 "$tls"/*-key.pem "$WORK/site-secret"

# The PACS, inside the gateway's namespace, holding a generated CT.
/usr/bin/python3 "$top/samples/generate_study.py" --kind ct --slices "$slices" --size 256 \
  --out "$WORK/ct" > "$WORK/study.txt"
study_uid=$(sed -n 's/^study_uid=//p' "$WORK/study.txt")
mkdir -p "$WORK/pacs/db"
cat > "$WORK/pacs/dcmqrscp.cfg" <<CFG
NetworkTCPPort  = 11113
MaxPDUSize      = 65536
MaxAssociations = 16
HostTable BEGIN
tsunagu         = (TSUNAGU, 127.0.0.1, 11112)
HostTable END
VendorTable BEGIN
VendorTable END
AETable BEGIN
PACS            $WORK/pacs/db    RW (2000, 4096mb)   ANY
AETable END
CFG
TCP_NODELAY=1 ip netns exec "$PREFIX-gw" dcmqrscp -c "$WORK/pacs/dcmqrscp.cfg" -dhl \
  > "$WORK/pacs.log" 2>&1 &
disown
wait_until 10 in_ns gw echoscu -aec PACS 127.0.0.1 11113
TCP_NODELAY=1 in_ns gw storescu -aec PACS +sd +r 127.0.0.1 11113 "$WORK/ct" > /dev/null 2>&1
check "the PACS holds the study" test "$(find "$WORK/pacs/db" -name 'CT*' | wc -l)" -eq "$slices"

cat > "$WORK/relay.toml" <<TOML
language = "en"
[upload]
bind_address = "$RL_INNER"
port = 8443
cert_file = "$tls/relay-cert.pem"
key_file = "$tls/relay-key.pem"
client_ca_file = "$tls/ca.pem"
allowed_clients = ["gateway.ipsec.test"]
[viewer]
bind_address = "127.0.0.1"
port = 8444
cert_file = "$tls/relay-cert.pem"
key_file = "$tls/relay-key.pem"
public_url = "https://127.0.0.1:8444"
assets_directory = "$top/viewer-lib/web"
[store]
data_directory = "$WORK/store"
key_directory = "$WORK/keys"
$(ipsec_section rl)
TOML
cat > "$WORK/gateway.toml" <<TOML
language = "en"
[dicom]
ae_title = "TSUNAGU"
port = 11112
[pacs]
host = "127.0.0.1"
port = 11113
ae_title = "PACS"
[storage]
data_directory = "$WORK/gw/data"
spool_directory = "$WORK/gw/spool"
spool_min_free = "64MiB"
[anonymizer]
secret_file = "$WORK/site-secret"
[relay]
url = "https://$RL_INNER:8443"
ca_file = "$tls/ca.pem"
client_cert_file = "$tls/gateway-cert.pem"
client_key_file = "$tls/gateway-key.pem"
[transport]
require_ipsec = true
[[threads]]
name = "cardio"
connector = "webhook"
$(ipsec_section gw)
TOML
"$gateway" ipsec render --config "$WORK/gateway.toml" --out "$WORK/gw/ipsec" > /dev/null
"$relay" ipsec render --config "$WORK/relay.toml" --out "$WORK/rl/ipsec" > /dev/null
start_charon rl && start_charon gw
swanctl_in rl --load-all > /dev/null 2>&1
swanctl_in gw --load-all > /dev/null 2>&1
check "the tunnel comes up" wait_until 30 "$gateway" ipsec status --config "$WORK/gateway.toml"

ip netns exec "$PREFIX-rl" "$relay" --config "$WORK/relay.toml" > "$WORK/relay.log" 2>&1 &
disown
ip netns exec "$PREFIX-gw" "$gateway" --config "$WORK/gateway.toml" > "$WORK/gateway.log" 2>&1 &
disown
check "the relay listens on its inner address" wait_until 20 grep -q "relay.start" "$WORK/relay.log"
check "the gateway is ready" wait_until 20 grep -q "gateway.ready" "$WORK/gateway.log"

job=$(in_ns gw "$gateway" send --config "$WORK/gateway.toml" --study-uid "$study_uid" \
      --thread cardio --no-wait 2>> "$WORK/send.err")
check "the send is queued" test -n "$job"
field() { in_ns gw "$gateway" status --config "$WORK/gateway.toml" "$job" 2>/dev/null | sed -n "s/^  $1: //p"; }
uploaded() { field instances | sed -n 's/.*uploaded \([0-9]*\).*/\1/p'; }
# Terminate the SA while the send is retrieving from the PACS, so that the job reaches its upload
# stage with the tunnel down (terminating later races with a fast upload of a small study).
swanctl_in gw --terminate --ike tsunagu > /dev/null 2>&1
check "the SA is gone" wait_until 10 bash -c "! '$gateway' ipsec status --config '$WORK/gateway.toml'"
check "the job reports the tunnel-down reason" \
  wait_until 30 bash -c "ip netns exec $PREFIX-gw '$gateway' status --config '$WORK/gateway.toml' '$job' | grep -q 'IPsec tunnel to relay is down'"
before=$(uploaded)
sleep 2
after=$(uploaded)
expect_eq "nothing is uploaded while the tunnel is down" "$before" "$after"
check "the job has not finished while the tunnel is down" test "$(field stage)" != cleaned
metrics=$(in_ns gw curl -s "http://127.0.0.1:8080/metrics")
expect_contains "metrics export the tunnel state" "tsunagu_gateway_ipsec_tunnel_up 0" "$metrics"
expect_contains "/healthz reports the tunnel down" "ipsec tunnel: down (uploads wait)" \
  "$(in_ns gw curl -s "http://127.0.0.1:8080/healthz")"
grep -q "ipsec.tunnel_down" "$WORK/gateway.log"
check "the log says the tunnel is down" test $? -eq 0

swanctl_in gw --initiate --child tsunagu-upload > /dev/null 2>&1
check "the job finishes once the SA is re-initiated" \
  wait_until 120 bash -c "ip netns exec $PREFIX-gw '$gateway' status --config '$WORK/gateway.toml' '$job' | grep -q 'stage: cleaned'"
expect_contains "every instance uploaded" "uploaded $slices" "$(field instances)"
link=$(field link)
token=${link##*/v/}
studies=$(in_ns rl curl -s --cacert "$tls/ca.pem" "https://127.0.0.1:8444/t/$token/dicomweb/studies")
count=$(/usr/bin/python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(len(d), d[0]["00201208"]["Value"][0])' "$studies" 2>/dev/null)
expect_eq "the relay holds the study once, complete" "1 $slices" "$count"
metrics=$(in_ns gw curl -s "http://127.0.0.1:8080/metrics")
expect_contains "metrics say the tunnel is up again" "tsunagu_gateway_ipsec_tunnel_up 1" "$metrics"
expect_contains "/healthz reports the tunnel up" "ipsec tunnel: up" \
  "$(in_ns gw curl -s "http://127.0.0.1:8080/healthz")"
finish
