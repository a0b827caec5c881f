#!/usr/bin/env bash
# IPsec between gateway and relay, proven on the wire:
# - configs rendered by the services themselves (ipsec render), loaded into real charons;
# - with the child SA up, traffic to the relay's inner address crosses the veth only as IKE and
#   ESP-in-UDP, and a plaintext marker sent through the tunnel never appears in the capture;
# - a control transfer outside the tunnel does show the marker (so the check can fail);
# - with the SA terminated there is no route to the inner address (fail closed), `ipsec status`
#   says the tunnel is down, and it comes back when the SA is re-initiated.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/testlib.sh"
source "$here/netns_lib.sh"
gateway=$1
relay=$2
[ "$(id -u)" = 0 ] || { echo "ipsec tests need root"; exit 1; }
WORK=$(mktemp -d /tmp/tsunagu-ipsec-XXXXXX)
PREFIX=tsu$$
trap 'netns_down; [ -n "${KEEP:-}" ] || rm -rf "$WORK"' EXIT
netns_up || { echo "cannot create network namespaces"; exit 1; }
make_ike_pki "$WORK/ikepki" 2>/dev/null

# Minimal service configs plus the [ipsec] section; file checks need these files to exist.
for f in secret key.pem; do echo x > "$WORK/$f"; chmod 600 "$WORK/$f"; done
echo x > "$WORK/cert.pem"
cat > "$WORK/gateway.toml" <<TOML
language = "en"
[storage]
data_directory = "$WORK/gw/data"
spool_directory = "$WORK/gw/spool"
[anonymizer]
secret_file = "$WORK/secret"
[relay]
url = "https://$RL_INNER:8443"
ca_file = "$WORK/cert.pem"
client_cert_file = "$WORK/cert.pem"
client_key_file = "$WORK/key.pem"
$(ipsec_section gw)
TOML
cat > "$WORK/relay.toml" <<TOML
language = "en"
[upload]
bind_address = "$RL_INNER"
cert_file = "$WORK/cert.pem"
key_file = "$WORK/key.pem"
client_ca_file = "$WORK/cert.pem"
allowed_clients = ["gw"]
[viewer]
cert_file = "$WORK/cert.pem"
key_file = "$WORK/key.pem"
public_url = "https://relay.example"
[store]
data_directory = "$WORK/rl/store"
$(ipsec_section rl)
TOML

out=$("$gateway" ipsec render --config "$WORK/gateway.toml" --out "$WORK/gw/ipsec" 2>&1)
expect_eq "gateway ipsec render exits 0" 0 $?
expect_contains "render names what it wrote" "wrote $WORK/gw/ipsec/swanctl.conf" "$out"
"$relay" ipsec render --config "$WORK/relay.toml" --out "$WORK/rl/ipsec" > /dev/null
expect_eq "relay ipsec render exits 0" 0 $?
out=$("$gateway" ipsec render --check --config "$WORK/gateway.toml" --out "$WORK/gw/ipsec" 2>&1)
expect_eq "render --check on fresh output exits 0" 0 $?
expect_contains "render --check says up to date" "is up to date" "$out"
sed -i 's/^dpd_delay = "2s"/dpd_delay = "3s"/' "$WORK/gateway.toml"
"$gateway" ipsec render --check --config "$WORK/gateway.toml" --out "$WORK/gw/ipsec" > /dev/null 2>&1
expect_eq "render --check notices a changed config" 1 $?
"$gateway" ipsec render --config "$WORK/gateway.toml" --out "$WORK/gw/ipsec" > /dev/null

# Before any SA: no route to the relay's inner address; no cleartext path exists.
in_ns rl /usr/bin/python3 -m http.server 8080 --bind "$RL_INNER" --directory "$WORK/www" \
  > /dev/null 2>&1 &
mkdir -p "$WORK/www"
marker="TSUNAGU-PLAINTEXT-MARKER-$$-$RANDOM"
# The marker on every line, so that a capture cannot miss it where TCP splits a line.
head -c 1500000 /dev/urandom | base64 -w 60 | sed "s/^/$marker /" > "$WORK/www/upload.txt"
in_ns gw curl -s -m 3 -o /dev/null "http://$RL_INNER:8080/upload.txt"
check "no tunnel, no route to the relay's inner address" test $? -ne 0
"$gateway" ipsec status --config "$WORK/gateway.toml" > "$WORK/status.txt" 2>&1
expect_eq "ipsec status exits 1 while charon is not running" 1 $?

start_charon rl && start_charon gw
check "both charons started" test -S "$WORK/gw/run/charon.vici" -a -S "$WORK/rl/run/charon.vici"
swanctl_in rl --load-all > "$WORK/rl/load.log" 2>&1
swanctl_in gw --load-all > "$WORK/gw/load.log" 2>&1
check "the gateway brings the tunnel up by itself (start_action=start)" \
  wait_until 20 "$gateway" ipsec status --config "$WORK/gateway.toml"
out=$("$gateway" ipsec status --config "$WORK/gateway.toml" 2>&1)
expect_eq "ipsec status reports the installed child SA" \
  "IPsec tunnel: up (child SA tsunagu-upload INSTALLED)" "$out"
sas=$(swanctl_in gw --list-sas --raw 2>/dev/null)
expect_contains "IKE with AES-256-GCM" "encr-alg=AES_GCM_16 encr-keysize=256" "$sas"
expect_contains "IKE with ECP-384" "dh-group=ECP_384" "$sas"
expect_contains "tunnel mode ESP" "mode=TUNNEL protocol=ESP" "$sas"

# Through the tunnel: capture on the veth holds only IKE/ESP-in-UDP (and ARP), never the marker.
ip netns exec "$PREFIX-gw" tcpdump -Z root -U -i "$PREFIX-vg" -w "$WORK/tunnel.pcap" \
  > "$WORK/tcpdump1.log" 2>&1 &
tcpdump_pid=$!
wait_until 10 grep -q listening "$WORK/tcpdump1.log"
got=$(in_ns gw curl -s -m 20 "http://$RL_INNER:8080/upload.txt" | sha256sum)
expect_eq "the transfer through the tunnel arrives intact" "$(sha256sum < "$WORK/www/upload.txt")" "$got"
sleep 0.3; kill "$tcpdump_pid"; wait "$tcpdump_pid" 2>/dev/null
packets=$(tcpdump -nr "$WORK/tunnel.pcap" 2>/dev/null | wc -l)
check "the tunnel capture is not empty ($packets packets)" test "$packets" -gt 100
other=$(tcpdump -nr "$WORK/tunnel.pcap" 'not (udp port 4500 or udp port 500 or arp)' 2>/dev/null | wc -l)
expect_eq "only IKE and ESP-in-UDP on the wire" 0 "$other"
esp=$(tcpdump -nr "$WORK/tunnel.pcap" 'udp port 4500' 2>/dev/null | grep -c 'UDP-encap')
check "ESP-in-UDP packets carried the transfer ($esp)" test "$esp" -gt 100
check "the marker never appears in the tunnel capture" bash -c "! grep -aq '$marker' '$WORK/tunnel.pcap'"

# Control: the same transfer outside the tunnel (to the outer address) shows the marker.
in_ns rl /usr/bin/python3 -m http.server 8081 --bind "$RL_OUTER" --directory "$WORK/www" \
  > /dev/null 2>&1 &
wait_until 10 in_ns gw curl -s -m 2 -o /dev/null "http://$RL_OUTER:8081/"
ip netns exec "$PREFIX-gw" tcpdump -Z root -U -i "$PREFIX-vg" -w "$WORK/control.pcap" \
  > "$WORK/tcpdump2.log" 2>&1 &
tcpdump_pid=$!
wait_until 10 grep -q listening "$WORK/tcpdump2.log"
in_ns gw curl -s -m 20 -o /dev/null "http://$RL_OUTER:8081/upload.txt"
sleep 0.3; kill "$tcpdump_pid"; wait "$tcpdump_pid" 2>/dev/null
seen=$(grep -ac "$marker" "$WORK/control.pcap")
check "the control capture (plain TCP) shows the marker ($seen times)" test "$seen" -gt 100

# Fail closed: terminate the SA; the inner address is unreachable and status says down.
swanctl_in gw --terminate --ike tsunagu > /dev/null 2>&1
check "status reports down after the SA is terminated" \
  wait_until 10 bash -c "! '$gateway' ipsec status --config '$WORK/gateway.toml'"
out=$("$gateway" ipsec status --config "$WORK/gateway.toml" 2>&1)
expect_contains "status says why" "IPsec tunnel: down" "$out"
in_ns gw curl -s -m 3 -o /dev/null "http://$RL_INNER:8080/upload.txt"
check "no SA, no cleartext fallback to the inner address" test $? -ne 0
swanctl_in gw --initiate --child tsunagu-upload > /dev/null 2>&1
check "the tunnel comes back when re-initiated" \
  wait_until 20 "$gateway" ipsec status --config "$WORK/gateway.toml"
got=$(in_ns gw curl -s -m 20 "http://$RL_INNER:8080/upload.txt" | sha256sum)
expect_eq "traffic flows again after re-initiation" "$(sha256sum < "$WORK/www/upload.txt")" "$got"
finish
