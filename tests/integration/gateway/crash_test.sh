#!/usr/bin/env bash
# Crash test: 22 sends from a real dcmqrscp through the gateway to a real relay while the gateway
# is killed with SIGKILL at random moments (and, separately, the relay), restarted each time.
# Afterwards every study is on the relay exactly once and complete (read back through its link),
# every job is cleaned, each link was posted once, and no identified file is left in the spool.
set -u
top=$1
gateway=$2
relay=$3
studies=${STUDIES:-22}
max_relay_kills=${RELAY_KILLS:-4}
here=$(cd "$(dirname "$0")" && pwd)
source "$top/tests/integration/lib/testlib.sh"
source "$here/lib.sh"
RANDOM=${SEED:-5}
echo "== seed ${SEED:-5}, $studies studies, up to $max_relay_kills relay kills"

for i in $(seq "$studies"); do
  /usr/bin/python3 "$top/samples/generate_study.py" --kind ct --out "$tmp/studies/$i" --slices 16 \
    --size 128 --seed "$((100 + i))" --patient-id "CRASH$(printf %04d "$i")" > /dev/null || exit 1
done
per_study=$(find "$tmp/studies/1" -name '*.dcm' | wc -l)
gw_port=$(free_port); web_port=$(free_port); pacs_port=$(free_port)
start_pacs pacs "$pacs_port" "tsunagu = (TSUNAGU, 127.0.0.1, $gw_port)" 1
load_pacs "$pacs_port" "$tmp/studies"
make_pki
start_relay "$relay" "$tmp/relay" "$tmp/relay.log"
cfg=$tmp/gw.toml
write_config "$cfg" "$tmp/gw" "$pacs_port" "$gw_port" "$web_port" "64MiB"
use_relay "$cfg"
start_gateway "$cfg" "$tmp/gateway.log"; gw_pid=$last_pid

jobs=()
for i in $(seq "$studies"); do
  j=$("$gateway" send --config "$cfg" --patient-id "CRASH$(printf %04d "$i")" --thread cardio \
      --no-wait 2>> "$tmp/send.err") || { echo "send $i failed"; cat "$tmp/send.err"; exit 1; }
  jobs+=("$j")
done
expect_eq "every send was queued" "$studies" "${#jobs[@]}"

all_done() {
  local n
  n=$("$gateway" status --config "$cfg" | awk 'NR>1 && ($3=="cleaned" || $3=="failed")' | wc -l)
  [ "$n" -ge "$studies" ]
}
kills=0; relay_kills=0
end=$((SECONDS + 150))
# Kill until the work is done and at least ten gateway kills happened (on a fast machine the
# sends can finish after a few kills; the later kills then hit start-up, cleanup and idle).
while { ! all_done || [ "$kills" -lt 10 ]; } && [ $SECONDS -lt $end ]; do
  # Short, random intervals, so that most kills land while work is in flight (a fast machine
  # finishes the 22 sends in a few seconds).
  sleep "0.$(printf %02d $((RANDOM % 25 + 5)))"
  if [ $((RANDOM % 4)) -eq 0 ] && [ $relay_kills -lt "$max_relay_kills" ]; then
    kill -9 "$relay_pid" 2>/dev/null; wait "$relay_pid" 2>/dev/null
    relay_kills=$((relay_kills + 1))
    sleep "0.$((RANDOM % 5))"
    start_relay "$relay" "$tmp/relay" "$tmp/relay.log"
  else
    kill -9 "$gw_pid" 2>/dev/null; wait "$gw_pid" 2>/dev/null
    kills=$((kills + 1))
    start_gateway "$cfg" "$tmp/gateway.log"; gw_pid=$last_pid
  fi
  [ $((kills + relay_kills)) -ge 20 ] && break
done
echo "   killed the gateway $kills times and the relay $relay_kills times"
check "the gateway was killed at least 10 times" test "$kills" -ge 10
wait_until 120 all_done
status=$("$gateway" status --config "$cfg")
cleaned=$(awk 'NR>1 && $3=="cleaned"' <<< "$status" | wc -l)
expect_eq "every job ends cleaned" "$studies" "$cleaned"
awk 'NR>1 && $3!="cleaned"' <<< "$status" >&2
spooled=$(find "$tmp/gw/spool" -type f | wc -l)
expect_eq "no identified file is left in the spool" 0 "$spooled"

# Each study on the relay exactly once and complete: every job's link opens its own study with
# all instances, and the de-identified study UIDs are distinct.
uids=()
for j in "${jobs[@]}"; do
  url=$("$gateway" status --config "$cfg" "$j" | sed -n 's/^  link: //p')
  token=${url##*/}
  qido=$(curl -s --cacert "$tmp/pki/ca.pem" -H "Authorization: Bearer $token" \
         "https://127.0.0.1:$relay_viewer_port/dicomweb/studies")
  read -r uid count < <(/usr/bin/python3 -c 'import json,sys
d=json.loads(sys.argv[1]); print(d[0]["0020000D"]["Value"][0], d[0]["00201208"]["Value"][0])' "$qido" 2>/dev/null)
  [ "${count:-0}" = "$per_study" ] || echo "job $j: relay holds ${count:-none} of $per_study" >&2
  [ "${count:-0}" = "$per_study" ] && uids+=("$uid")
done
expect_eq "every study is complete on the relay" "$studies" "${#uids[@]}"
distinct=$(printf '%s\n' "${uids[@]}" | sort -u | wc -l)
expect_eq "each study is there once (distinct de-identified study UIDs)" "$studies" "$distinct"
# Links: posted once per job (the link poster logs each post; a restart must not post again).
for j in "${jobs[@]}"; do
  posts=$(grep -c "link.ready job=$j " "$tmp/gateway.log")
  [ "$posts" -eq 1 ] || echo "job $j: link posted $posts times" >&2
done
once=$(for j in "${jobs[@]}"; do grep -c "link.ready job=$j " "$tmp/gateway.log"; done | grep -cx 1)
expect_eq "every link was posted exactly once" "$studies" "$once"
check "no log holds a patient ID" bash -c "! grep -q CRASH0 '$tmp/gateway.log' '$tmp/relay.log'"
finish
