# Two hosts on one machine for the IPsec tests: network namespaces "<prefix>-gw" and
# "<prefix>-rl" joined by a veth pair, each running its own charon (strongSwan) with userland ESP
# (kernel-libipsec over TUN; these kernels have no CONFIG_INET_ESP) in a private mount namespace
# (charon writes a fixed /run/charon.pid). Addresses are documentation ranges, only ever inside
# these namespaces:
#   outer (IKE, ESP-in-UDP): gateway 192.0.2.1, relay 192.0.2.2 on the veth
#   inner (the tunnel):      gateway 198.51.100.1/32, relay 203.0.113.1/32 on lo
# Source it, set WORK and PREFIX, call netns_up; netns_down runs from the caller's EXIT trap.

GW_OUTER=192.0.2.1
RL_OUTER=192.0.2.2
GW_INNER=198.51.100.1
RL_INNER=203.0.113.1

netns_down() {
  for side in gw rl; do
    if [ -f "$WORK/$side/run/charon.pid" ]; then kill "$(cat "$WORK/$side/run/charon.pid")" 2>/dev/null; fi
    ip netns pids "$PREFIX-$side" 2>/dev/null | xargs -r kill -9 2>/dev/null
    ip netns del "$PREFIX-$side" 2>/dev/null
  done
  return 0
}

netns_up() {
  for side in gw rl; do
    ip netns add "$PREFIX-$side" || return 1
    ip netns exec "$PREFIX-$side" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
      net.ipv6.conf.default.disable_ipv6=1
    ip -n "$PREFIX-$side" link set lo up
  done
  ip link add "$PREFIX-vg" type veth peer name "$PREFIX-vr" || return 1
  ip link set "$PREFIX-vg" netns "$PREFIX-gw"
  ip link set "$PREFIX-vr" netns "$PREFIX-rl"
  ip -n "$PREFIX-gw" addr add "$GW_OUTER/24" dev "$PREFIX-vg"
  ip -n "$PREFIX-rl" addr add "$RL_OUTER/24" dev "$PREFIX-vr"
  ip -n "$PREFIX-gw" link set "$PREFIX-vg" up
  ip -n "$PREFIX-rl" link set "$PREFIX-vr" up
  ip -n "$PREFIX-gw" addr add "$GW_INNER/32" dev lo
  ip -n "$PREFIX-rl" addr add "$RL_INNER/32" dev lo
}

# in_ns SIDE COMMAND...: run in that host's network namespace.
in_ns() { local side=$1; shift; ip netns exec "$PREFIX-$side" "$@"; }

# make_ike_pki DIR: a CA and one certificate per side, made with strongSwan's pki.
make_ike_pki() {
  local dir=$1
  mkdir -p "$dir"
  local conf="$dir/pki.conf"
  echo 'pki { load = openssl pem pkcs1 pkcs8 x509 random }' > "$conf"
  STRONGSWAN_CONF=$conf pki --gen --type ecdsa --size 384 --outform pem > "$dir/ca-key.pem"
  STRONGSWAN_CONF=$conf pki --self --ca --lifetime 7 --in "$dir/ca-key.pem" --type ecdsa \
    --dn "CN=Tsunagu IPsec test CA" --outform pem > "$dir/ca.pem"
  for side in gw rl; do
    STRONGSWAN_CONF=$conf pki --gen --type ecdsa --size 384 --outform pem > "$dir/$side-key.pem"
    STRONGSWAN_CONF=$conf pki --pub --in "$dir/$side-key.pem" --type ecdsa |
      STRONGSWAN_CONF=$conf pki --issue --lifetime 7 --cacert "$dir/ca.pem" \
        --cakey "$dir/ca-key.pem" --dn "CN=$side.ipsec.test" --san "$side.ipsec.test" \
        --outform pem > "$dir/$side-cert.pem"
    chmod 600 "$dir/$side-key.pem"
  done
}

# ipsec_section SIDE: the [ipsec] TOML section for that side (vici socket in $WORK/SIDE/run).
ipsec_section() {
  local side=$1 peer local_outer remote_outer local_inner remote_inner
  if [ "$side" = gw ]; then peer=rl; local_outer=$GW_OUTER; remote_outer=$RL_OUTER
    local_inner=$GW_INNER; remote_inner=$RL_INNER
  else peer=gw; local_outer=$RL_OUTER; remote_outer=$GW_OUTER
    local_inner=$RL_INNER; remote_inner=$GW_INNER
  fi
  cat <<TOML
[ipsec]
local_address = "$local_outer"
remote_address = "$remote_outer"
local_subnet = "$local_inner/32"
remote_subnet = "$remote_inner/32"
local_id = "CN=$side.ipsec.test"
remote_id = "CN=$peer.ipsec.test"
ca_file = "$WORK/ikepki/ca.pem"
cert_file = "$WORK/ikepki/$side-cert.pem"
key_file = "$WORK/ikepki/$side-key.pem"
esp_backend = "libipsec"
dpd_delay = "2s"
vici_socket = "unix://$WORK/$side/run/charon.vici"
TOML
}

# start_charon SIDE: charon in SIDE's namespace with the rendered $WORK/SIDE/ipsec config.
start_charon() {
  local side=$1
  mkdir -p "$WORK/$side/run"
  ip netns exec "$PREFIX-$side" unshare --mount --propagation private bash -c \
    "mount -n --bind '$WORK/$side/run' /run && STRONGSWAN_CONF='$WORK/$side/ipsec/strongswan.conf' exec /usr/lib/ipsec/charon" \
    > "$WORK/$side/charon.log" 2>&1 &
  disown
  local i
  for i in $(seq 100); do [ -S "$WORK/$side/run/charon.vici" ] && return 0; sleep 0.05; done
  return 1
}

# swanctl_in SIDE ARGS...: swanctl against SIDE's charon.
swanctl_in() {
  local side=$1; shift
  STRONGSWAN_CONF="$WORK/$side/ipsec/strongswan.conf" SWANCTL_DIR="$WORK/$side/ipsec" \
    ip netns exec "$PREFIX-$side" swanctl "$@" --uri "unix://$WORK/$side/run/charon.vici"
}

# wait_until SECONDS COMMAND...: bounded wait for COMMAND to succeed.
wait_until() {
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}
