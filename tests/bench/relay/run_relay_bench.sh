#!/usr/bin/env bash
# Relay benchmark, one command:
#   tests/bench/relay/run_relay_bench.sh [BUILD_DIR]        (default: build)
# Environment: SLICES (default 300: a 512x512 16-bit CT, ~158 MB), ROUNDS (timed uploads per
# side, default 3; medians and every run are printed), DURATION (wrk, default 10s),
# CONNECTIONS (default 100), UPLOAD_CONNECTIONS (concurrent instance uploads, each on its own
# keep-alive connection, as the gateway's [relay] upload_connections; default 4), TMPDIR (where the relay's store
# and nginx write; default /tmp: TMPDIR=/dev/shm shows the cost of fsync), KEEP=1 (leave both
# servers running and print their ports, for profiling).
#
# In one run, on 127.0.0.1 only:
#  1. upload of a de-identified CT series with the real RelayClient (mutual TLS, chunked,
#     encrypted at rest, re-checked by DCMTK, committed, durable) against the peer: `curl -T` of
#     the same bytes (concatenated into one file) over TLS to nginx-light with dav_methods PUT;
#     ROUNDS times each, alternating, after a `sync` each time;
#  2. wrk, CONNECTIONS connections, against WADO-RS frames (rotating over every slice) and series
#     metadata under a link token: requests/s and p99 latency; against the peer, nginx-light
#     serving one slice's file (the same size) over TLS 1.3, in the same run;
#  3. the listener alone (LISTENERS=0 skips it): wrk against a constant answer of a frame's size
#     from the relay's listener (Boost.Beast) and from the former cpprestsdk one, the measured
#     reason for the switch (relay/src/http_server_beast.cpp).
#  The wrk passes on frames and on nginx are each preceded by a 3 s first pass reported apart
#  (frames-cold, nginx-cold; WARMUP=0 skips them).
# Prints the figures and the ratios. Targets (issue 4): frame p99 < 100 ms; upload within 2x of
# curl -> nginx.
set -euo pipefail

BUILD=$(cd "${1:-build}" && pwd)
SLICES=${SLICES:-300}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-100}
THREADS=${UPLOAD_CONNECTIONS:-${THREADS:-4}}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RELAY=$BUILD/relay/tsunagu-relay
UPLOADER=$BUILD/tests/bench/relay/tsunagu_relay_bench_upload
LISTENER=$BUILD/tests/bench/relay/tsunagu_relay_bench_listener
for exe in "$RELAY" "$UPLOADER" "$LISTENER"; do
  [ -x "$exe" ] || { echo "missing $exe: build first (ninja -C $BUILD)" >&2; exit 2; }
done
for tool in wrk nginx curl openssl; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] ||
    { echo "missing $tool (scripts/packages.d/relay.list)" >&2; exit 2; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tsunagu_relay_bench.XXXXXX")
RELAY_PID=""
NGINX_PID=""
LISTENER_PID=""
cleanup() {
  [ -n "$RELAY_PID" ] && kill "$RELAY_PID" 2>/dev/null && wait "$RELAY_PID" 2>/dev/null || true
  [ -n "$LISTENER_PID" ] && kill "$LISTENER_PID" 2>/dev/null || true
  [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
if [ -z "${KEEP:-}" ]; then trap cleanup EXIT; fi

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {  # bounded: 15 s
  for _ in $(seq 1 150); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "port $1 did not open" >&2; return 1
}

# --- certificates (test PKI, made here) ---
cd "$WORK"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
  -days 1 -subj "/CN=Bench CA" 2>/dev/null
mkcert() {
  printf '%s\n' "$3" > "$1.ext"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$1.csr" \
    -subj "/CN=$2" 2>/dev/null
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$1.pem" -days 1 \
    -extfile "$1.ext" 2>/dev/null
  chmod 600 "$1.key"
}
mkcert server localhost "subjectAltName=IP:127.0.0.1,DNS:localhost"
mkcert gateway gateway.bench "extendedKeyUsage=clientAuth"

# --- the studies: one per timed relay upload (a repeated upload is a no-op at the relay) ---
ROUNDS=${ROUNDS:-3}
/usr/bin/python3 "$HERE/make_deidentified_ct.py" "$WORK/study" "$SLICES" $((2 * ROUNDS)) \
  > manifest.txt
STUDY=$(sed -n 's/^study_uid=//p' manifest.txt)
SERIES=$STUDY.1
grep -v '^study_uid=' manifest.txt > files.txt
BYTES=$(awk '{print $2}' files.txt | xargs cat | wc -c)
awk '{print $2}' files.txt | xargs cat > all.bin
for c in $(seq 2 $((2 * ROUNDS))); do
  grep -v '^study_uid=' "$WORK/study/copy$c/manifest.txt" > "files$c.txt"
done

# --- relay ---
UP=$(free_port); VIEW=$(free_port)
cat > relay.toml <<TOML
language = "en"
log_level = "warn"
[upload]
port = $UP
cert_file = "$WORK/server.pem"
key_file = "$WORK/server.key"
client_ca_file = "$WORK/ca.pem"
allowed_clients = ["gateway.bench"]
max_request_size = "64MiB"
[viewer]
port = $VIEW
cert_file = "$WORK/server.pem"
key_file = "$WORK/server.key"
public_url = "https://127.0.0.1:$VIEW"
[store]
data_directory = "$WORK/data"
key_directory = "$WORK/keys"
quota = "20GiB"
TOML
"$RELAY" --config relay.toml 2> relay.log &
RELAY_PID=$!
wait_port "$UP"; wait_port "$VIEW"

# --- nginx-light peer: TLS 1.3, PUT to disk ---
NG=$(free_port)
mkdir -p nginx/root nginx/tmp
chmod 755 "$WORK" nginx && chmod 777 nginx/root nginx/tmp  # nginx workers run as www-data
cat > nginx/nginx.conf <<NGINX
daemon off;
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/tmp;
  proxy_temp_path $WORK/nginx/tmp;
  fastcgi_temp_path $WORK/nginx/tmp;
  uwsgi_temp_path $WORK/nginx/tmp;
  scgi_temp_path $WORK/nginx/tmp;
  server {
    listen 127.0.0.1:$NG ssl;
    ssl_certificate $WORK/server.pem;
    ssl_certificate_key $WORK/server.key;
    ssl_protocols TLSv1.3;
    root $WORK/nginx/root;
    client_max_body_size 0;
    location / { dav_methods PUT; create_full_put_path on; }
  }
}
NGINX
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" &
NGINX_PID=$!
wait_port "$NG"

echo "relay benchmark: $SLICES slices 512x512 16-bit, $BYTES bytes, $(nproc) cores"

# --- upload ---
# ROUNDS rounds, each: the relay with known hashes (what a gateway does: it recorded each
# instance's SHA-256 when it de-identified it), the relay with hashes computed by the client,
# and curl, in an order that rotates from round to round. Before each timed upload `sync`
# writes back everything dirty (the inputs just generated, the previous upload), for both
# sides alike: the relay's commit makes the study durable and would otherwise also pay for
# the benchmark's own fresh files. Prints every run and the medians.
relay_upload() {  # manifest, hashes -> seconds (and TOKEN for the first study)
  local out
  out=$("$UPLOADER" "https://127.0.0.1:$UP" ca.pem gateway.pem gateway.key \
    "$(sed -n 's/ .*//p' "$1" | head -1 | sed 's/\.1\.[0-9]*$//')" "$1" "$THREADS" \
    $((8 << 20)) "$2")
  local kv
  for kv in $out; do
    case "$kv" in
      seconds=*) echo "${kv#seconds=}" ;;
      commit_seconds=*) echo "${kv#commit_seconds=}" >> "commit_$2.txt" ;;
      token=*) if [ "$1" = files.txt ]; then echo "${kv#token=}" > token.txt; fi ;;
    esac
  done
}
curl_upload() {
  curl -sf --cacert ca.pem -T all.bin "https://127.0.0.1:$NG/all.bin" -o /dev/null \
    -w '%{time_total}'
}
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END{print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
KNOWN_S=""; COMPUTED_S=""; CURL_S=""
for r in $(seq 1 "$ROUNDS"); do
  known_files=files.txt; [ "$r" -gt 1 ] && known_files=files$((2 * r - 1)).txt
  computed_files=files$((2 * r)).txt
  order="known computed curl"
  [ $((r % 3)) = 2 ] && order="curl known computed"
  [ $((r % 3)) = 0 ] && order="computed curl known"
  for who in $order; do
    sync
    case "$who" in
      known) t=$(relay_upload "$known_files" known); KNOWN_S="$KNOWN_S $t" ;;
      computed) t=$(relay_upload "$computed_files" computed); COMPUTED_S="$COMPUTED_S $t" ;;
      curl) t=$(curl_upload); CURL_S="$CURL_S $t" ;;
    esac
  done
  printf 'upload  round %s (%s): relay known hashes %.2f s (commit %.2f s), relay computed hashes %.2f s (commit %.2f s), curl %.2f s\n' \
    "$r" "$order" "${KNOWN_S##* }" "$(tail -1 commit_known.txt)" "${COMPUTED_S##* }" \
    "$(tail -1 commit_computed.txt)" "${CURL_S##* }"
done
K=$(echo "$KNOWN_S" | median); C=$(echo "$COMPUTED_S" | median); N=$(echo "$CURL_S" | median)
mb() { awk -v b="$BYTES" -v s="$1" 'BEGIN{printf "%.1f", b/1e6/s}'; }
printf 'upload  tsunagu RelayClient -> relay, known hashes (%s connection(s)), median of %s: %.2f s, %s MB/s\n' \
  "$THREADS" "$ROUNDS" "$K" "$(mb "$K")"
printf 'upload  tsunagu RelayClient -> relay, hashes computed by the client, median:        %.2f s, %s MB/s\n' \
  "$C" "$(mb "$C")"
printf 'upload  peer curl -T -> nginx-light TLS 1.3 (one file, no fsync), median:          %.2f s, %s MB/s\n' \
  "$N" "$(mb "$N")"
awk -v a="$K" -v c="$C" -v b="$N" 'BEGIN{printf "upload  time ratio relay/curl: %.2fx with known hashes (as a gateway uploads), %.2fx with hashes computed by the client (target <= 2x)\n", a/b, c/b}'

# --- wrk: frames and metadata under the token ---
TOKEN=$(cat token.txt)
{
  echo "paths = {"
  awk -v t="$TOKEN" -v st="$STUDY" -v se="$SERIES" \
    '{printf "  \"/t/%s/dicomweb/studies/%s/series/%s/instances/%s/frames/1\",\n", t, st, se, $1}' \
    files.txt
  echo "}"
  echo 'counter = 0'
  echo 'request = function() counter = counter + 1; return wrk.format("GET", paths[(counter % #paths) + 1]) end'
} > frames.lua
wrk_run() {  # name, extra args...
  local name=$1; shift
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency "$@" > "wrk_$name.txt" 2>&1
  local rps p99 non2xx
  rps=$(awk '/Requests\/sec/{print $2}' "wrk_$name.txt")
  p99=$(awk '$1=="99%"{print $2}' "wrk_$name.txt")
  non2xx=$(awk '/Non-2xx/{print $NF}' "wrk_$name.txt")
  printf 'wrk     %-11s %s connections: %s requests/s, p99 %s, non-2xx %s\n' "$name" \
    "$CONNECTIONS" "$rps" "$p99" "${non2xx:-0}"
}
FRAME_FILE=$(head -1 files.txt | awk '{print $2}')
cp "$FRAME_FILE" nginx/root/frame.bin && chmod 644 nginx/root/frame.bin
# The first requests for each slice read, decrypt and parse the instance (the relay keeps the
# frames in memory afterwards); nginx's first requests open the file and fill the page cache.
# Both get the same short first pass, reported apart as "-cold" (WARMUP=0 skips it), so that the
# measured passes compare the steady state of both and the cold cost stays visible.
if [ "${WARMUP:-1}" != 0 ]; then
  DURATION=${WARMUP_DURATION:-3s} wrk_run frames-cold -s frames.lua "https://127.0.0.1:$VIEW"
  DURATION=${WARMUP_DURATION:-3s} wrk_run nginx-cold "https://127.0.0.1:$NG/frame.bin"
fi
wrk_run frames -s frames.lua "https://127.0.0.1:$VIEW"
wrk_run metadata "https://127.0.0.1:$VIEW/t/$TOKEN/dicomweb/studies/$STUDY/series/$SERIES/metadata"
wrk_run nginx-1f "https://127.0.0.1:$NG/frame.bin"

if [ "${LISTENERS:-1}" != 0 ]; then
  FRAME_BYTES=$(stat -c %s "$FRAME_FILE")
  for kind in beast cpprest; do
    LP=$(free_port)
    mkfifo "listener_$kind.in"
    "$LISTENER" "$kind" "$LP" server.pem server.key "$FRAME_BYTES" < "listener_$kind.in" \
      > "listener_$kind.out" 2>&1 &
    LISTENER_PID=$!
    exec 4> "listener_$kind.in"
    wait_port "$LP"
    wrk_run "$kind" "https://127.0.0.1:$LP/blob"
    exec 4>&-
    for _ in $(seq 1 50); do kill -0 "$LISTENER_PID" 2>/dev/null || break; sleep 0.1; done
    kill "$LISTENER_PID" 2>/dev/null || true
    wait "$LISTENER_PID" 2>/dev/null || true
    LISTENER_PID=""
  done
fi
[ -n "${KEEP:-}" ] && echo "kept $WORK relay_pid=$RELAY_PID nginx_pid=$NGINX_PID view=$VIEW token=$TOKEN nginx=$NG"
grep -h -E "error|warn" relay.log | grep -v keys_inside | head -5 || true
