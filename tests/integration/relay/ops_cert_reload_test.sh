#!/usr/bin/env bash
# Certificate renewal without a restart (issue 11): the running relay re-reads its upload and
# viewer certificates on SIGHUP; new handshakes get the new certificate, the process stays the
# same, a gateway still uploads; a broken renewal (key not matching) is refused and the working
# certificate kept.
set -u
top=$1
relay=$2
gateway=$3
source "$top/tests/integration/lib/testlib.sh"
source "$top/tests/integration/gateway/lib.sh"

served_serial() {  # served_serial PORT
  openssl s_client -connect "127.0.0.1:$1" -CAfile "$tmp/pki/ca.pem" \
    -cert "$tmp/pki/gateway-cert.pem" -key "$tmp/pki/gateway-key.pem" < /dev/null 2>/dev/null |
    openssl x509 -noout -serial 2>/dev/null | cut -d= -f2
}
file_serial() { openssl x509 -noout -serial -in "$1" | cut -d= -f2; }
issue() {  # issue NAME: a new server certificate from the test CA in $tmp/new/NAME-{cert,key}.pem
  mkdir -p "$tmp/new"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1.tsunagu.test" \
    -keyout "$tmp/new/$1-key.pem" -out "$tmp/new/$1.csr" 2>/dev/null
  openssl x509 -req -in "$tmp/new/$1.csr" -CA "$tmp/pki/ca.pem" -CAkey "$tmp/pki/ca-key.pem" \
    -CAcreateserial -days 2 -extfile <(echo "subjectAltName=IP:127.0.0.1,DNS:localhost") \
    -out "$tmp/new/$1-cert.pem" 2>/dev/null
  chmod 600 "$tmp/new/$1-key.pem"
}

make_pki
start_relay "$relay" "$tmp/relay" "$tmp/relay.log"
old_upload=$(served_serial "$relay_upload_port")
old_viewer=$(served_serial "$relay_viewer_port")
expect_eq "the relay serves its upload certificate" "$(file_serial "$tmp/pki/relay-cert.pem")" "$old_upload"

issue relay; issue viewer
cp "$tmp/new/relay-cert.pem" "$tmp/pki/relay-cert.pem"; cp "$tmp/new/relay-key.pem" "$tmp/pki/relay-key.pem"
cp "$tmp/new/viewer-cert.pem" "$tmp/pki/viewer-cert.pem"; cp "$tmp/new/viewer-key.pem" "$tmp/pki/viewer-key.pem"
check "before SIGHUP the old certificate is still served" test "$(served_serial "$relay_upload_port")" = "$old_upload"
kill -HUP "$relay_pid"
wait_until 10 grep -q "relay.certificate_reloaded listener=viewer" "$tmp/relay.log"
check "the relay logs both reloads" grep -q "relay.certificate_reloaded listener=upload serial=" "$tmp/relay.log"
expect_eq "new handshakes get the new upload certificate" "$(file_serial "$tmp/new/relay-cert.pem")" "$(served_serial "$relay_upload_port")"
expect_eq "and the new viewer certificate" "$(file_serial "$tmp/new/viewer-cert.pem")" "$(served_serial "$relay_viewer_port")"
check "the relay process is the same" kill -0 "$relay_pid"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$tmp/pki/ca.pem" \
       --cert "$tmp/pki/gateway-cert.pem" --key "$tmp/pki/gateway-key.pem" \
       "https://127.0.0.1:$relay_upload_port/v1/health")
expect_eq "an enrolled gateway still gets answers" 200 "$code"

# A broken renewal: the key does not match the certificate. The relay keeps the working pair.
issue broken
cp "$tmp/new/broken-key.pem" "$tmp/pki/relay-key.pem"
kill -HUP "$relay_pid"
wait_until 10 grep -q "relay.certificate_reload_failed listener=upload" "$tmp/relay.log"
check "the broken renewal is logged" grep -q "does not match the certificate" "$tmp/relay.log"
expect_eq "the working certificate is kept" "$(file_serial "$tmp/new/relay-cert.pem")" "$(served_serial "$relay_upload_port")"
check "the relay still runs" kill -0 "$relay_pid"

# At start a certificate that cannot be served is refused at once, not at the first handshake.
kill -TERM "$relay_pid"; wait "$relay_pid"
timeout 20 "$relay" --config "$tmp/relay.toml" > "$tmp/refused.log" 2>&1; rc=$?
expect_eq "the relay refuses to start with a key that does not match" 1 "$rc"
check "and says why" grep -q "relay.certificate_failed.*does not match the certificate" "$tmp/refused.log"
finish
