#!/usr/bin/python3
"""A local HTTPS stand-in for a chat platform, for the connectors' contract tests.

Listens on 127.0.0.1 (port 0: the kernel picks), prints "PORT <n>" on stdout, answers requests
from a script of responses in order, and appends every request it received to a JSON-lines log
(method, raw path, headers with lower-case names, body). Exits by itself after --lifetime
seconds so a crashed test cannot leave it behind.
"""
import argparse
import http.server
import json
import ssl
import sys
import threading
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--script", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--lifetime", type=float, default=60.0)
    a = p.parse_args()
    with open(a.script, encoding="utf-8") as f:
        script = json.load(f)
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def handle_any(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with lock:
                with open(a.log, "a", encoding="utf-8") as log:
                    log.write(json.dumps({
                        "method": self.command,
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body.decode("utf-8", "replace"),
                    }) + "\n")
                answer = script.pop(0) if script else {"status": 500, "body": "script exhausted"}
            time.sleep(float(answer.get("delay", 0)))
            data = answer.get("body", "").encode("utf-8")
            try:
                self.send_response(int(answer.get("status", 200)))
                for k, v in answer.get("headers", {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

        do_GET = do_POST = do_PUT = do_DELETE = handle_any

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Timer(a.lifetime, server.shutdown).start()
    print("PORT %d" % server.server_address[1], flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
