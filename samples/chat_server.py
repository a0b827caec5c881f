#!/usr/bin/python3
"""A local chat server for the demo: receives the gateway's generic-webhook cards over HTTPS,
verifies their HMAC-SHA-256 signature and replay window exactly as docs/chat.md describes, shows
each card in the terminal and appends it to a JSON-lines file. Only for the demo and tests on
127.0.0.1; a hospital points the webhook connector at its own system.

Usage: chat_server.py --port N --cert F --key F --secret-file F --out cards.jsonl
"""

import argparse
import hashlib
import hmac
import http.server
import json
import ssl
import sys
import threading
import time

WINDOW = 300
seen = {}
lock = threading.Lock()


def verify(secret, headers, body):
    ts = headers.get("X-Tsunagu-Timestamp", "")
    sig = headers.get("X-Tsunagu-Signature", "")
    if not ts.isdigit() or abs(time.time() - int(ts)) > WINDOW:
        return "stale"
    mac = hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest("v1=" + mac, sig):
        return "bad-signature"
    key = headers.get("Idempotency-Key", "")
    with lock:
        now = time.time()
        for k, t in list(seen.items()):
            if now - t > WINDOW:
                del seen[k]
        if key in seen:
            return "duplicate"
        seen[key] = now
    return "ok"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--secret-file", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    with open(args.secret_file, "rb") as f:
        secret = f.read().rstrip(b"\r\n")

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def reply(self, code, body=b""):
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            verdict = verify(secret, self.headers, body)
            if verdict in ("stale", "bad-signature"):
                self.reply(401, b'{"ok":false}')
                print("chat: refused a post (%s)" % verdict, flush=True)
                return
            self.reply(200, b'{"ok":true}')
            if verdict == "duplicate":
                return
            card = json.loads(body)
            with open(args.out, "a", encoding="utf-8") as f:
                f.write(json.dumps(card, ensure_ascii=False) + "\n")
            print("\n┌─ chat thread %s ─ card from the gateway" % card.get("thread", "?"), flush=True)
            for line in card.get("text", "").splitlines():
                print("│ " + line, flush=True)
            print("└" + "─" * 40, flush=True)

        def log_message(self, *unused):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print("chat: listening on https://127.0.0.1:%d" % args.port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
