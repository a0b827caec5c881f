#!/usr/bin/env bash
# The monitoring files in packaging/monitoring/ (issue 11): promtool checks the alert rules and
# runs their unit tests (ops_alerts_test.yml); the Grafana dashboard parses; every metric the
# rules and the dashboard name is exported by a running gateway's /metrics, whose text promtool
# lints too.
set -u
top=$1
gateway=$2
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
  if [ "$name" = tsunagu_gateway_ipsec_tunnel_up ]; then
    # Exported only when [ipsec] is configured; check the exporter's source says so.
    check "$name is exported with [ipsec]" \
      grep -q "# TYPE $name gauge" "$top/gateway/src/control.cpp"
  else
    check "$name is in /metrics" grep -q "^# TYPE $name " "$tmp/metrics.txt"
  fi
done
finish
