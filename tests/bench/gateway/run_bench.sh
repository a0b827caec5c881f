#!/usr/bin/env bash
# Gateway benchmark: a synthetic CT (default 300 slices of 512x512, 16-bit, ~158 MB) from a real
# dcmqrscp, timed two ways in the same run on the same cores:
#   peer:    movescu -> storescp (both TCP_NODELAY=1), the bare C-MOVE
#   tsunagu: `tsunagu-gateway send` until the relay has committed the study: C-FIND, C-MOVE into
#            the spool, de-identification, TLS upload, commit (gateway, relay and PACS all here)
# Prints each run, the medians, the ratio, and where the gateway's time went (from its log).
set -u
top=$1
build=$2
slices=${3:-300}
runs=${RUNS:-3}
gateway=$build/gateway/tsunagu-gateway
relay=$build/relay/tsunagu-relay
here=$top/tests/integration/gateway
source "$top/tests/integration/lib/testlib.sh"
source "$here/lib.sh"
now() { date +%s.%N; }
# CPU seconds (user + system, with reaped children) a process has used so far.
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15 + $16 + $17) / hz}' "/proc/$1/stat" 2>/dev/null || echo 0; }

echo "== generating a ${slices}-slice CT (512x512, 16-bit)"
/usr/bin/python3 "$top/samples/generate_study.py" --kind ct --out "$tmp/ct" --slices "$slices" \
  --seed 300 --patient-id BENCH00300 > /dev/null || exit 1
n=$(find "$tmp/ct" -name '*.dcm' | wc -l)
bytes=$(du -sb "$tmp/ct" | cut -f1)
echo "   $n instances, $((bytes / 1000000)) MB"
study_uid=$(dcmdump +P StudyInstanceUID "$(find "$tmp/ct" -name '*.dcm' | head -1)" | sed 's/.*\[\(.*\)\].*/\1/')

gw_port=$(free_port); web_port=$(free_port); pacs_port=$(free_port); scp_port=$(free_port)
start_pacs pacs "$pacs_port" "tsunagu = (TSUNAGU, 127.0.0.1, $gw_port)
storescp = (STORESCP, 127.0.0.1, $scp_port)" 1
load_pacs "$pacs_port" "$tmp/ct"

echo "== peer: movescu -> storescp, $runs runs"
mkdir -p "$tmp/scp"
TCP_NODELAY=1 storescp -aet STORESCP -od "$tmp/scp" "$scp_port" > "$tmp/storescp.log" 2>&1 &
scp_pid=$!
pids+=($scp_pid)
pacs_pid=${pgroups[-1]}
wait_until 10 echoscu -aec STORESCP 127.0.0.1 "$scp_port"
peer=()
for i in $(seq "$runs"); do
  find "$tmp/scp" -type f -delete
  c_pacs=$(cpu_of "$pacs_pid"); c_scp=$(cpu_of "$scp_pid")
  t0=$(now)
  TCP_NODELAY=1 movescu -S -aet LOADER -aec PACS -aem STORESCP -k QueryRetrieveLevel=STUDY \
    -k StudyInstanceUID="$study_uid" 127.0.0.1 "$pacs_port" > "$tmp/movescu.log" 2>&1
  t1=$(now)
  got=$(find "$tmp/scp" -type f | wc -l)
  [ "$got" -eq "$n" ] || { echo "movescu moved $got of $n"; exit 1; }
  peer+=("$(awk "BEGIN{print $t1 - $t0}")")
  printf "   run %d: %.2f s  (cpu: dcmqrscp %.2f s, storescp %.2f s)\n" "$i" "${peer[-1]}" \
    "$(awk "BEGIN{print $(cpu_of "$pacs_pid") - $c_pacs}")" "$(awk "BEGIN{print $(cpu_of "$scp_pid") - $c_scp}")"
done

echo "== tsunagu: send until relay-committed, $runs runs"
make_pki
start_relay "$relay" "$tmp/relay" "$tmp/relay.log"
cfg=$tmp/gw.toml
write_config "$cfg" "$tmp/gw" "$pacs_port" "$gw_port" "$web_port" "1GiB"
sed -i 's/^log_level = "debug"/log_level = "info"/; s/^move_deadline = .*/move_deadline = "10m"/' "$cfg"
use_relay "$cfg"
start_gateway "$cfg" "$tmp/gateway.log"; gw_pid=$last_pid
ours=()
for i in $(seq "$runs"); do
  # A new thread each run: a repeated send of the same study to the same thread is one job.
  sed -i "s/^name = \"\(cardio\|bench[0-9]*\)\"/name = \"bench$i\"/" "$cfg"
  kill -TERM "$gw_pid"; wait "$gw_pid"
  # A fresh relay store each run: the study de-identifies to the same UIDs every time, and a
  # relay that already holds it does less work than a first send.
  if [ "$i" -gt 1 ]; then
    kill -TERM "$relay_pid"; wait "$relay_pid"
    start_relay "$relay" "$tmp/relay$i" "$tmp/relay.log"
  fi
  start_gateway "$cfg" "$tmp/gateway.log"; gw_pid=$last_pid
  c_pacs=$(cpu_of "$pacs_pid"); c_gw=$(cpu_of "$gw_pid"); c_relay=$(cpu_of "$relay_pid")
  # BENCH_PERF=FILE: `perf record -g` of the gateway during the last send (perf report -i FILE).
  perf_pid=
  if [ -n "${BENCH_PERF:-}" ] && [ "$i" -eq "$runs" ]; then
    perf record -g -o "$BENCH_PERF" -p "$gw_pid" > "$tmp/perf.log" 2>&1 &
    perf_pid=$!
    sleep 0.5
  fi
  t0=$(now)
  "$gateway" send --config "$cfg" --study-uid "$study_uid" --thread "bench$i" --timeout 10m \
    > "$tmp/send$i.out" 2> "$tmp/send$i.err" || { echo "send failed:"; cat "$tmp/send$i.err"; exit 1; }
  t1=$(now)
  if [ -n "$perf_pid" ]; then kill -INT "$perf_pid"; wait "$perf_pid"; fi
  # CPU of the gateway's threads that outlive the send (engine, relay client I/O, web, ...).
  for t in /proc/"$gw_pid"/task/*; do
    awk -v hz="$(getconf CLK_TCK)" '{c=$2; gsub(/[()]/, "", c); print c, ($14 + $15) / hz}' "$t/stat"
  done | awk '{s[$1] += $2} END {for (k in s) printf "%s=%.2fs ", k, s[k]; print ""}' > "$tmp/threads$i"
  ours+=("$(awk "BEGIN{print $t1 - $t0}")")
  printf "   run %d: %.2f s  (cpu: dcmqrscp %.2f s, gateway %.2f s, relay %.2f s)\n" "$i" "${ours[-1]}" \
    "$(awk "BEGIN{print $(cpu_of "$pacs_pid") - $c_pacs}")" \
    "$(awk "BEGIN{print $(cpu_of "$gw_pid") - $c_gw}")" \
    "$(awk "BEGIN{print $(cpu_of "$relay_pid") - $c_relay}")"
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mp=$(median "${peer[@]}"); mo=$(median "${ours[@]}")
echo "== result ($n instances, $((bytes / 1000000)) MB)"
printf "   movescu->storescp median: %.2f s (%.0f instances/s)\n" "$mp" "$(awk "BEGIN{print $n / $mp}")"
printf "   tsunagu send->committed median: %.2f s (%.0f instances/s)\n" "$mo" "$(awk "BEGIN{print $n / $mo}")"
printf "   ratio tsunagu/peer: %.2f (target <= 2.0)\n" "$(awk "BEGIN{print $mo / $mp}")"
cp "$tmp/gateway.log" "${BENCH_KEEP_LOG:-/dev/null}" 2>/dev/null
echo "== where the gateway's time went (last run, from its log)"
echo "   CPU of long-lived gateway threads: $(cat "$tmp/threads$runs")"
/usr/bin/python3 - "$tmp/gateway.log" "$t0" "$t1" <<'PY'
import re, sys, datetime
events = {}
cpu = {}
for line in open(sys.argv[1]):
    # The last run's per-association and per-stream CPU (both logged at their end).
    if " retrieve.listed " in line:
        cpu = {}
    m = re.search(r"dicom.association_end .* stores=(\d+) cpu_ms=(\d+)", line)
    if m and int(m.group(1)) > 0:
        cpu["receive (C-STORE SCP threads)"] = cpu.get("receive (C-STORE SCP threads)", 0) + int(m.group(2))
    m = re.search(r"retrieve.streamed .* deidentify_cpu_ms=(\d+) upload_cpu_ms=(\d+) store_cpu_ms=(\d+)", line)
    if m:
        cpu["de-identify + hash (stream workers)"] = int(m.group(1))
        cpu["upload calls (stream workers)"] = int(m.group(2))
        cpu["job store reads/records (stream)"] = int(m.group(3))
for k, v in cpu.items():
    print(f"   cpu {k:<36} {v / 1000:6.2f} s")
for line in open(sys.argv[1]):
    m = re.match(r'\[?(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)', line)
    if not m:
        continue
    t = datetime.datetime.fromisoformat(m.group(1))
    for ev in ("web.listen", "retrieve.listed", "retrieve.move", "retrieve.complete",
               "deidentify.done", "upload.done", "commit.done", "link.ready", "job.cleaned"):
        if " " + ev + " " in line:
            events[ev] = t  # the last occurrence: the last run
# A timeline of the last run from the send command's start (t0) to its return (t1), in ms. The
# log's timestamps are UTC with milliseconds.
t0, t1 = float(sys.argv[2]), float(sys.argv[3])
def epoch(ts):
    return ts.replace(tzinfo=datetime.timezone.utc).timestamp()
timeline = []
run_started = False
for line in open(sys.argv[1]):
    m = re.match(r'\[?(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)', line)
    if not m:
        continue
    at = epoch(datetime.datetime.fromisoformat(m.group(1)))
    if at < t0 - 0.01 or at > t1 + 0.01:
        continue
    a = re.search(r"dicom.association_end .* stores=(\d+) .*duration_ms=(\d+)", line)
    if a and int(a.group(1)) > 0:
        timeline.append((at - int(a.group(2)) / 1000, "C-STOREs begin (association open)"))
        timeline.append((at, f"last C-STORE done ({a.group(1)} instances, association end)"))
        continue
    for ev, what in (("retrieve.listed", "C-FIND list recorded"), ("retrieve.move", "C-MOVE sent"),
                     ("retrieve.complete", "move done, study verified complete"),
                     ("retrieve.streamed", "streamed de-identify+upload drained"),
                     ("deidentify.done", "de-identify step done"), ("upload.done", "upload step done"),
                     ("commit.done", "relay commit done"), ("link.ready", "link posted")):
        if " " + ev + " " in line:
            timeline.append((at, what))
timeline.append((t0, "send command started"))
timeline.append((t1, "send command returned"))
timeline.sort()
print("   timeline of the last run (ms from the send command's start; +ms since the previous):")
prev = t0
for at, what in timeline:
    print(f"   {(at - t0) * 1000:7.0f} {(at - prev) * 1000:+6.0f}  {what}")
    prev = at
order = ["retrieve.move", "retrieve.complete", "deidentify.done", "upload.done", "commit.done"]
# De-identification and upload stream alongside the C-MOVE, so the phases are: the move (with
# the streamed work), what was left of the streamed work when the move ended, the upload step's
# leftovers, and the commit.
names = {"retrieve.complete": "C-FIND list + C-MOVE (+ streamed work)",
         "deidentify.done": "streamed work left after the move",
         "upload.done": "upload step (leftovers)", "commit.done": "relay commit"}
start = events.get("retrieve.listed")
prev = start
for ev in order[1:]:
    if ev in events and prev:
        print(f"   {names[ev]:<38} {(events[ev] - prev).total_seconds():6.2f} s")
        prev = events[ev]
PY
