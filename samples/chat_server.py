#!/usr/bin/python3
"""A local chat server for the demo: receives the gateway's generic-webhook cards over HTTPS,
verifies their HMAC-SHA-256 signature and replay window exactly as docs/chat.md describes, shows
each card in the terminal and appends it to a JSON-lines file. Only for the demo and tests on
127.0.0.1; a hospital points the webhook connector at its own system.

With --matrix-token-file it also answers the part of the Matrix client-server API the gateway's
Matrix connector uses (createRoom; PUT .../send/m.room.message/{txnId} with transaction-id
idempotency; m.replace edits; POST /_matrix/media/v3/upload for thumbnails), so per-patient
rooms, thumbnails and seen receipts can be shown and tested: each room creation, message and
upload is a JSON line with "kind": "matrix_room" / "matrix_message" / "matrix_upload".

Usage: chat_server.py --port N --cert F --key F --secret-file F --out cards.jsonl
                      [--matrix-token-file F]
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
import urllib.parse

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
    p.add_argument("--matrix-token-file")
    args = p.parse_args()
    with open(args.secret_file, "rb") as f:
        secret = f.read().rstrip(b"\r\n")
    matrix_token = None
    if args.matrix_token_file:
        with open(args.matrix_token_file, "rb") as f:
            matrix_token = f.read().strip().decode()
    rooms = {}  # room id -> name
    txns = {}  # (room, txn) -> event id
    media = []  # uploaded media, mxc://chat.local/media<index + 1>

    def record(entry):
        with lock:
            with open(args.out, "a", encoding="utf-8") as f:
                f.write(json.dumps(entry, ensure_ascii=False) + "\n")

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def reply(self, code, body=b""):
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def matrix(self, body):
            if self.headers.get("Authorization", "") != "Bearer " + matrix_token:
                self.reply(401, b'{"errcode":"M_UNKNOWN_TOKEN","error":"bad token"}')
                return
            path = urllib.parse.unquote(self.path)
            if self.command == "POST" and path.split("?")[0] == "/_matrix/media/v3/upload":
                # The media repository: the card's thumbnail, shown as <img src="mxc://...">.
                ctype = self.headers.get("Content-Type", "")
                if not body or not ctype.startswith("image/"):
                    self.reply(400, b'{"errcode":"M_UNKNOWN","error":"no image"}')
                    return
                with lock:
                    media.append(body)
                    uri = "mxc://chat.local/media%d" % len(media)
                record({"kind": "matrix_upload", "content_uri": uri, "content_type": ctype,
                        "bytes": len(body), "jpeg": body[:3] == b"\xff\xd8\xff"})
                self.reply(200, json.dumps({"content_uri": uri}).encode())
                return
            try:
                content = json.loads(body or b"{}")
            except ValueError:
                self.reply(400, b'{"errcode":"M_NOT_JSON","error":"not JSON"}')
                return
            if self.command == "POST" and path == "/_matrix/client/v3/createRoom":
                with lock:
                    room = "!room%d:chat.local" % (len(rooms) + 1)
                    rooms[room] = content.get("name", "")
                record({"kind": "matrix_room", "room": room, "name": rooms[room],
                        "invite": content.get("invite", [])})
                print("chat: room %s created (%s)" % (room, rooms[room]), flush=True)
                self.reply(200, json.dumps({"room_id": room}).encode())
                return
            parts = path.split("/")
            # /_matrix/client/v3/rooms/{room}/send/m.room.message/{txn}
            if (self.command == "PUT" and len(parts) == 9 and parts[4] == "rooms" and
                    parts[6] == "send" and parts[7] == "m.room.message"):
                room, txn = parts[5], parts[8]
                if room not in rooms and not room.startswith("!fixed"):
                    self.reply(404, b'{"errcode":"M_NOT_FOUND","error":"unknown room"}')
                    return
                with lock:
                    event = txns.get((room, txn))
                    fresh = event is None
                    if fresh:
                        event = "$ev%d" % (len(txns) + 1)
                        txns[(room, txn)] = event
                if not fresh:
                    record({"kind": "matrix_repeat", "room": room, "txn": txn, "event": event})
                if fresh:
                    rel = content.get("m.relates_to", {})
                    shown = content.get("m.new_content", content)
                    record({"kind": "matrix_message", "room": room, "txn": txn, "event": event,
                            "replaces": rel.get("event_id"), "body": shown.get("body", ""),
                            "formatted_body": shown.get("formatted_body", "")})
                    print("\n┌─ room %s (%s)%s" % (room, rooms.get(room, ""),
                                                 " ─ edit" if rel else ""), flush=True)
                    for line in shown.get("body", "").splitlines():
                        print("│ " + line, flush=True)
                    print("└" + "─" * 40, flush=True)
                self.reply(200, json.dumps({"event_id": event}).encode())
                return
            self.reply(404, b'{"errcode":"M_UNRECOGNIZED","error":"not here"}')

        def do_PUT(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if matrix_token is not None and self.path.startswith("/_matrix/"):
                self.matrix(body)
                return
            self.reply(405, b'{"ok":false}')

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if matrix_token is not None and self.path.startswith("/_matrix/"):
                self.matrix(body)
                return
            verdict = verify(secret, self.headers, body)
            if verdict in ("stale", "bad-signature"):
                self.reply(401, b'{"ok":false}')
                print("chat: refused a post (%s)" % verdict, flush=True)
                return
            self.reply(200, b'{"ok":true}')
            if verdict == "duplicate":
                return
            card = json.loads(body)
            record(card)
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
