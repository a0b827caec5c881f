#!/usr/bin/env bash
# The monitoring files in packaging/monitoring/ (issue 11): promtool checks the alert rules and
# runs their unit tests (ops_alerts_test.yml); the Grafana dashboard parses; every metric the
# rules and the dashboard name is exported by a running gateway's or relay's /metrics, whose text
# promtool lints too; the relay's counters move with what happens on its listeners, and an
# enrolled gateway's last contact survives a restart and shows in `tsunagu-relay studies`.
set -u
top=$1
gateway=$2
relay=$3
here=$(cd "$(dirname "$0")" && pwd)
source "$top/tests/integration/lib/testlib.sh"
source "$top/tests/integration/gateway/lib.sh"
mon=$top/packaging/monitoring

command -v promtool > /dev/null || { echo "promtool missing: apt-get install prometheus (scripts/packages.d/packaging.list)"; exit 1; }
out=$(promtool check rules "$mon/tsunagu-alerts.yml" 2>&1); rc=$?
expect_eq "promtool accepts the alert rules" 0 "$rc"
mkdir -p "$tmp/rules"
cp "$mon/tsunagu-alerts.yml" "$here/ops_alerts_test.yml" "$tmp/rules/"
out=$(cd "$tmp/rules" && promtool test rules ops_alerts_test.yml 2>&1); rc=$?
expect_eq "the alert rules pass their unit tests" 0 "$rc"
[ "$rc" -eq 0 ] || echo "$out"

names=$(/usr/bin/python3 - "$mon/tsunagu-dashboard.json" "$mon/tsunagu-alerts.yml" <<'PY'
import json, re, sys
d = json.load(open(sys.argv[1]))
exprs = [t["expr"] for p in d["panels"] for t in p.get("targets", [])]
assert len(d["panels"]) >= 8 and all(p.get("targets") for p in d["panels"]), "panels without queries"
text = "\n".join(exprs) + open(sys.argv[2]).read()
print(" ".join(sorted(set(re.findall(r"\btsunagu_[a-z_]+", text)))))
PY
); rc=$?
expect_eq "the dashboard is JSON with a query in every panel" 0 "$rc"
check "the rules and dashboard name metrics" test -n "$names"

gw_port=$(free_port); web_port=$(free_port)
cfg=$tmp/gw.toml
write_config "$cfg" "$tmp/gw" "$(free_port)" "$gw_port" "$web_port" "64MiB"
start_gateway "$cfg" "$tmp/gateway.log"
curl -sf "http://127.0.0.1:$web_port/metrics" > "$tmp/metrics.txt"; rc=$?
expect_eq "the gateway serves /metrics" 0 "$rc"
out=$(promtool check metrics < "$tmp/metrics.txt" 2>&1); rc=$?
expect_eq "promtool finds no problem in /metrics ($out)" 0 "$rc"
for name in $names; do
  case $name in tsunagu_relay_*) continue ;; esac
  if [ "$name" = tsunagu_gateway_ipsec_tunnel_up ]; then
    # Exported only when [ipsec] is configured; check the exporter's source says so.
    check "$name is exported with [ipsec]" \
      grep -q "out.Gauge(\"$name\"" "$top/gateway/src/control.cpp"
  else
    check "$name is in /metrics" grep -q "^# TYPE $name " "$tmp/metrics.txt"
  fi
done

# The relay: /metrics on its own plain-HTTP listener ([metrics]), not on the upload port.
make_pki
start_relay "$relay" "$tmp/relay" "$tmp/relay.log"
upload() {  # upload ARGS...: a request to the upload API as the enrolled gateway
  curl -s --cacert "$tmp/pki/ca.pem" --cert "$tmp/pki/gateway-cert.pem" \
    --key "$tmp/pki/gateway-key.pem" "$@"
}
metric() {  # metric SERIES: its value in the relay's /metrics now
  curl -sf "http://127.0.0.1:$relay_metrics_port/metrics" | awk -v s="$1" '$1 == s { print $2 }'
}
expect_eq "no gateway contact before an enrolled request" "" \
  "$(metric 'tsunagu_relay_gateway_last_contact_timestamp_seconds{gateway="test-gateway"}')"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$tmp/pki/ca.pem" --cert "$tmp/pki/gateway-cert.pem" \
       --key "$tmp/pki/gateway-key.pem" "https://127.0.0.1:$relay_upload_port/metrics")
expect_eq "the upload port does not serve /metrics" 404 "$code"
before=$(metric 'tsunagu_relay_tls_handshake_failures_total{listener="upload"}')
curl -s -o /dev/null --cacert "$tmp/pki/ca.pem" "https://127.0.0.1:$relay_upload_port/v1/health"
after=$(metric 'tsunagu_relay_tls_handshake_failures_total{listener="upload"}')
expect_eq "a client without a certificate counts as a failed handshake" "$((before + 1))" "$after"
upload -o /dev/null -X POST -d '{}' "https://127.0.0.1:$relay_upload_port/v1/studies/1.2.3/commit"
expect_eq "a refused commit is counted by its error code" 1 \
  "$(metric 'tsunagu_relay_upload_rejections_total{reason="invalid_argument"}')"
contact=$(metric 'tsunagu_relay_gateway_last_contact_timestamp_seconds{gateway="test-gateway"}')
now=$(date +%s)
check "the enrolled gateway's last contact is now ($contact vs $now)" \
  test "${contact:-0}" -ge "$((now - 60))" -a "${contact:-0}" -le "$((now + 1))"
for _ in $(seq 100); do [ "$(metric tsunagu_relay_purge_runs_total)" -ge 1 ] && break; sleep 0.1; done
check "the purge run's time is exported" test "$(metric tsunagu_relay_last_purge_timestamp_seconds)" -gt 0
curl -sf "http://127.0.0.1:$relay_metrics_port/metrics" > "$tmp/relay-metrics.txt"; rc=$?
expect_eq "the relay serves /metrics" 0 "$rc"
out=$(promtool check metrics < "$tmp/relay-metrics.txt" 2>&1); rc=$?
expect_eq "promtool finds no problem in the relay's /metrics ($out)" 0 "$rc"
relay_names=0
for name in $names; do
  case $name in tsunagu_relay_*) ;; *) continue ;; esac
  relay_names=$((relay_names + 1))
  check "$name is in the relay's /metrics" grep -q "^# TYPE $name " "$tmp/relay-metrics.txt"
done
check "the rules and dashboard name relay metrics ($relay_names)" test "$relay_names" -ge 10
check "the relay's /metrics holds no study UID" bash -c "! grep -q '1\.2\.3' '$tmp/relay-metrics.txt'"
kill -TERM "$relay_pid"; wait "$relay_pid"
out=$("$relay" studies --config "$tmp/relay.toml" 2>&1); rc=$?
expect_eq "tsunagu-relay studies runs" 0 "$rc"
expect_contains "it shows the gateway's last contact" "test-gateway                             $(date -u -d "@$contact" '+%Y-%m-%d %H:%M')" "$out"
finish
