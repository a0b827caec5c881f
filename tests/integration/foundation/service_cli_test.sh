#!/usr/bin/env bash
# The skeleton services: --help in both languages, --version, --check (0 valid, 2 invalid, with
# the exact message), usage errors, and a clean stop on SIGTERM with a start line logged.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/testlib.sh"
gateway=$1
relay=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Valid configs: the examples with paths pointing at files made here.
for f in secret gw-key.pem relay-key.pem viewer-key.pem; do echo x > "$tmp/$f"; chmod 600 "$tmp/$f"; done
for f in ca.pem gw-cert.pem relay-cert.pem viewer-cert.pem; do echo x > "$tmp/$f"; done
cat > "$tmp/gateway.toml" <<TOML
language = "en"
[dicom]
port = 11112
[storage]
data_directory = "data"
spool_directory = "spool"
[anonymizer]
secret_file = "secret"
[relay]
url = "https://127.0.0.1:1"
ca_file = "ca.pem"
client_cert_file = "gw-cert.pem"
client_key_file = "gw-key.pem"
TOML
cat > "$tmp/relay.toml" <<TOML
language = "en"
[upload]
cert_file = "relay-cert.pem"
key_file = "relay-key.pem"
client_ca_file = "ca.pem"
allowed_clients = ["gw"]
[viewer]
cert_file = "viewer-cert.pem"
key_file = "viewer-key.pem"
public_url = "https://relay.example"
[store]
data_directory = "store"
TOML

for svc in gateway relay; do
  bin=${!svc}
  out=$(TSUNAGU_LANG=en "$bin" --help); rc=$?
  expect_eq "$svc --help exits 0" 0 "$rc"
  expect_contains "$svc --help in English" "Usage: tsunagu-$svc" "$out"
  out=$(TSUNAGU_LANG=ja "$bin" --help)
  expect_contains "$svc --help in Japanese" "使い方: tsunagu-$svc" "$out"
  out=$("$bin" --version)
  expect_contains "$svc --version" "tsunagu-$svc 0." "$out"

  out=$("$bin" --check --config "$tmp/$svc.toml" 2>&1); rc=$?
  expect_eq "$svc --check on a valid config exits 0" 0 "$rc"
  expect_eq "$svc --check message" "$tmp/$svc.toml: configuration is valid" "$out"

  out=$("$bin" --bogus 2>&1); rc=$?
  expect_eq "$svc unknown option exits 2" 2 "$rc"
  expect_eq "$svc unknown option message" "tsunagu-$svc: unknown option --bogus (see --help)" "$out"

  out=$("$bin" --check --config "$tmp/missing.toml" 2>&1); rc=$?
  expect_eq "$svc missing config exits 2" 2 "$rc"
  expect_eq "$svc missing config message" \
    "$tmp/missing.toml: cannot read the file: it does not exist" "$out"
done

# Bad gateway config: exit 2 and the exact lines, nothing else on stdout.
sed 's/^port = 11112/port = "abc"/' "$tmp/gateway.toml" > "$tmp/bad.toml"
echo 'typo_key = 1' >> "$tmp/bad.toml"
out=$("$gateway" --check --config "$tmp/bad.toml" 2>&1); rc=$?
expect_eq "invalid gateway config exits 2" 2 "$rc"
expect_eq "invalid gateway config lists every problem" \
  "$tmp/bad.toml: dicom.port: expected an integer 1–65535, got \"abc\"
$tmp/bad.toml: relay.typo_key: unknown key" "$out"

# World-readable key: refused with the fix, and the key's content is never printed.
echo "SECRET-CONTENT" > "$tmp/relay-key.pem"; chmod 644 "$tmp/relay-key.pem"
out=$("$relay" --check --config "$tmp/relay.toml" 2>&1); rc=$?
expect_eq "world-readable relay key exits 2" 2 "$rc"
expect_contains "world-readable key names the fix" "run: chmod 600 $tmp/relay-key.pem" "$out"
check "key content not printed" bash -c "! grep -q SECRET-CONTENT <<< '$out'"
chmod 600 "$tmp/relay-key.pem"

# doctor: a table naming each problem, exit 2 when something failed. The files here are not
# real certificates.
for svc in gateway relay; do
  bin=${!svc}
  out=$(TSUNAGU_LANG=en "$bin" doctor --config "$tmp/$svc.toml" 2>&1); rc=$?
  expect_eq "$svc doctor exits 2 when a check fails" 2 "$rc"
  expect_contains "$svc doctor prints a table" "check" "$out"
  expect_contains "$svc doctor names the bad certificate" "is not a PEM certificate" "$out"
  expect_contains "$svc doctor gives a fix" "fix: " "$out"
  expect_contains "$svc doctor summary" "Some checks failed; see the fixes above." "$out"
  out=$("$bin" doctor --config "$tmp/missing.toml" 2>&1); rc=$?
  expect_eq "$svc doctor on a missing config exits 2" 2 "$rc"
done

# The relay loads its server certificates and client CA at start (and refuses placeholders): real self-signed
# pairs from here on.
for who in relay viewer; do
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj "/CN=$who.test" -keyout "$tmp/$who-key.pem" -out "$tmp/$who-cert.pem" 2>/dev/null
  chmod 600 "$tmp/$who-key.pem"
done
cp "$tmp/relay-cert.pem" "$tmp/ca.pem"  # the client CA must load too

# Start, log a start line, stop cleanly on SIGTERM (bounded waits).
for svc in gateway relay; do
  bin=${!svc}
  "$bin" --config "$tmp/$svc.toml" > "$tmp/$svc.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do grep -q "$svc.start" "$tmp/$svc.log" && break; sleep 0.05; done
  check "$svc logs a start line" grep -q "info $svc $svc.start version=" "$tmp/$svc.log"
  kill -TERM "$pid"
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
  wait "$pid"; rc=$?
  expect_eq "$svc exits 0 on SIGTERM" 0 "$rc"
  check "$svc logs a stop line" grep -q "$svc.stop signal=15" "$tmp/$svc.log"
done
finish
