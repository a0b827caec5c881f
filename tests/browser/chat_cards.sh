#!/usr/bin/env bash
# Renders the chat card of `tsunagu-gateway chat preview` (synthetic values) for each platform
# format in Debian's Chromium and checks it (tests/browser/chat_cards.mjs). Usage:
#   chat_cards.sh GATEWAY_BINARY OUT_DIR
# With OUT_DIR = docs/images this regenerates the screenshots in docs/chat.md.
set -euo pipefail
gateway=$1
out=$2
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -d "$here/node_modules/playwright-core" ]; then
  echo "tests/browser/node_modules is missing: run 'npm ci' in tests/browser"; exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
out=$(cd "$out" && pwd)
head -c 32 /dev/urandom > "$tmp/secret"; echo x > "$tmp/x.pem"; chmod 600 "$tmp/secret" "$tmp/x.pem"
cat > "$tmp/gw.toml" <<TOML
[storage]
data_directory = "$tmp/data"
spool_directory = "$tmp/spool"
[anonymizer]
secret_file = "$tmp/secret"
[relay]
url = "https://127.0.0.1:1"
ca_file = "$tmp/x.pem"
client_cert_file = "$tmp/x.pem"
client_key_file = "$tmp/x.pem"
TOML
preview() { "$gateway" chat preview "$@" --config "$tmp/gw.toml"; }
/usr/bin/python3 - "$tmp/cards.json" \
  "$(preview html ja)" "$(preview html en opened)" "$(preview slack en)" \
  "$(preview chatwork ja)" "$(preview text ja)" <<'PY'
import json, sys
out, matrix_ja, matrix_en, slack_en, chatwork_ja, text_ja = sys.argv[1:]
cards = [
    {"name": "matrix-ja", "format": "html", "label": "Matrix (formatted_body)", "body": matrix_ja},
    {"name": "matrix-en-opened", "format": "html",
     "label": "Matrix, after the seen receipt (m.replace)", "body": matrix_en},
    {"name": "slack-en", "format": "slack", "label": "Slack / Mattermost (mrkdwn)",
     "body": slack_en},
    {"name": "chatwork-ja", "format": "chatwork", "label": "Chatwork ([info] notation)",
     "body": chatwork_ja},
    {"name": "text-ja", "format": "text", "label": "XMPP / LINE WORKS (plain text)",
     "body": text_ja},
]
json.dump(cards, open(out, "w", encoding="utf-8"), ensure_ascii=False)
PY
cd "$here" && timeout 120 node chat_cards.mjs "$tmp/cards.json" "$out"
