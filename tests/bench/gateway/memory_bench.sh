#!/usr/bin/env bash
# Bounded memory: one large multi-frame instance (default XA, 1024x1024 8-bit, 2000 frames =
# 2.1 GB) from a real dcmqrscp through `tsunagu-gateway send` to a real relay, with the gateway's
# peak resident memory (VmHWM in /proc/PID/status) read after the study is committed. Target
# (issue #5): under 200 MB. Usage:
#   bash tests/bench/gateway/memory_bench.sh SOURCE_DIR BUILD_DIR [FRAMES]
# Needs about 4 x the study size of free disk under $TMPDIR.
set -u
top=$1
build=$2
frames=${3:-2000}
limit_mb=${LIMIT_MB:-200}
gateway=$build/gateway/tsunagu-gateway
relay=$build/relay/tsunagu-relay
here=$top/tests/integration/gateway
source "$top/tests/integration/lib/testlib.sh"
source "$here/lib.sh"
now() { date +%s.%N; }
hwm_mb() { awk '/^VmHWM:/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }

echo "== generating one XA instance, 1024x1024, $frames frames"
/usr/bin/python3 "$top/samples/generate_study.py" --kind xa --out "$tmp/xa" --size 1024 \
  --frames "$frames" --seed 77 --patient-id BENCHXA0001 > /dev/null || exit 1
file=$(find "$tmp/xa" -name '*.dcm' | head -1)
bytes=$(stat -c %s "$file")
echo "   $((bytes / 1000000)) MB"
study_uid=$(dcmdump +P StudyInstanceUID "$file" | sed 's/.*\[\(.*\)\].*/\1/')

gw_port=$(free_port); web_port=$(free_port); pacs_port=$(free_port)
start_pacs pacs "$pacs_port" "tsunagu = (TSUNAGU, 127.0.0.1, $gw_port)" 1
load_pacs "$pacs_port" "$tmp/xa"
rm -rf "$tmp/xa"
make_pki
start_relay "$relay" "$tmp/relay" "$tmp/relay.log"
# The relay's default request limit is below one 8 MiB chunk plus headers on some builds: keep
# the default chunk size and let the relay's own limits apply.
cfg=$tmp/gw.toml
write_config "$cfg" "$tmp/gw" "$pacs_port" "$gw_port" "$web_port" "1GiB"
sed -i 's/^log_level = "debug"/log_level = "info"/; s/^move_deadline = .*/move_deadline = "10m"/; s/^dimse_timeout = .*/dimse_timeout = "120s"/' "$cfg"
use_relay "$cfg"
start_gateway "$cfg" "$tmp/gateway.log"; gw_pid=$last_pid
echo "   gateway idle: VmHWM $(hwm_mb "$gw_pid") MB"
t0=$(now)
"$gateway" send --config "$cfg" --study-uid "$study_uid" --thread cardio --timeout 20m \
  > "$tmp/send.out" 2> "$tmp/send.err" || { echo "send failed:"; tail -3 "$tmp/send.err"; tail -20 "$tmp/gateway.log"; exit 1; }
t1=$(now)
peak=$(hwm_mb "$gw_pid")
printf "== result: %d MB instance sent in %.1f s; gateway peak RSS (VmHWM) %d MB (limit %d MB)\n" \
  "$((bytes / 1000000))" "$(awk "BEGIN{print $t1 - $t0}")" "$peak" "$limit_mb"
grep -E "retrieve.complete|retrieve.streamed|deidentify.done|upload.done|commit.done" "$tmp/gateway.log" | cut -c1-160
[ "$peak" -lt "$limit_mb" ] || { echo "OVER THE LIMIT"; exit 1; }
