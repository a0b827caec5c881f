#!/usr/bin/env bash
# Bounded memory: one large multi-frame instance (default XA, 1024x1024 8-bit, 2000 frames =
# 2.1 GB) pushed with storescu into the gateway, de-identified and uploaded to a real relay, with
# the gateway's peak resident memory (VmHWM in /proc/PID/status) read after the study is committed. Target
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

# Generating 2 GB takes minutes: XA_CACHE=DIR keeps the generated study there for the next run.
src=${XA_CACHE:-$tmp/xa}
if [ -z "$(find "$src" -name '*.dcm' 2>/dev/null | head -1)" ]; then
  echo "== generating one XA instance, 1024x1024, $frames frames"
  /usr/bin/python3 "$top/samples/generate_study.py" --kind xa --out "$src" --size 1024 \
    --frames "$frames" --seed 77 --patient-id BENCHXA0001 > /dev/null || exit 1
fi
file=$(find "$src" -name '*.dcm' | head -1)
bytes=$(stat -c %s "$file")
echo "   $((bytes / 1000000)) MB"
study_uid=$(dcmdump +P StudyInstanceUID "$file" | sed 's/.*\[\(.*\)\].*/\1/')

gw_port=$(free_port); web_port=$(free_port); pacs_port=$(free_port)
# dcmqrscp cannot hold it: its index refuses a study over DB_UpperMaxBytesPerStudy (1 GiB,
# dcmqrdb/include/dcmtk/dcmqrdb/dcmqridx.h), whatever the configured quota. So the instance
# comes in as a push (storescu to the gateway's C-STORE SCP: the same receiving path a C-MOVE
# uses), and the PACS (empty) is only asked to reconcile.
start_pacs pacs "$pacs_port" "tsunagu = (TSUNAGU, 127.0.0.1, $gw_port)" 1
make_pki
start_relay "$relay" "$tmp/relay" "$tmp/relay.log"
cfg=$tmp/gw.toml
write_config "$cfg" "$tmp/gw" "$pacs_port" "$gw_port" "$web_port" "1GiB"
sed -i 's/^log_level = "debug"/log_level = "info"/; s/^move_deadline = .*/move_deadline = "10m"/; s/^dimse_timeout = .*/dimse_timeout = "120s"/' "$cfg"
use_relay "$cfg"
start_gateway "$cfg" "$tmp/gateway.log"; gw_pid=$last_pid
echo "   gateway idle: VmHWM $(hwm_mb "$gw_pid") MB"
t0=$(now)
TCP_NODELAY=1 storescu -aet MODALITY -aec TSUNAGU -to 600 -td 600 127.0.0.1 "$gw_port" "$file" \
  > "$tmp/storescu.log" 2>&1 || { echo "storescu failed:"; tail -5 "$tmp/storescu.log"; exit 1; }
t_stored=$(now)
stage=""
end=$((SECONDS + 1200))
while [ $SECONDS -lt $end ]; do
  stage=$("$gateway" status --config "$cfg" | awk 'NR==2 {print $3}')
  [ "$stage" = cleaned ] || [ "$stage" = failed ] && break
  sleep 0.5
done
t1=$(now)
[ "$stage" = cleaned ] || { echo "the push did not finish: ${stage:-no job}"; "$gateway" status --config "$cfg" 1; tail -20 "$tmp/gateway.log"; exit 1; }
printf "   received in %.1f s (C-STORE)\n" "$(awk "BEGIN{print $t_stored - $t0}")"
peak=$(hwm_mb "$gw_pid")
printf "== result: %d MB instance pushed and committed in %.1f s; gateway peak RSS (VmHWM) %d MB (limit %d MB)\n" \
  "$((bytes / 1000000))" "$(awk "BEGIN{print $t1 - $t0}")" "$peak" "$limit_mb"
grep -E "push.complete|deidentify.streamed|deidentify.done|upload.done|commit.done" "$tmp/gateway.log" | cut -c1-160
[ "$peak" -lt "$limit_mb" ] || { echo "OVER THE LIMIT"; exit 1; }
