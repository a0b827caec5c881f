#!/usr/bin/python3
"""A minimal HTTP CONNECT proxy on 127.0.0.1 for the proxy contract test.

Prints "PORT <n>", appends each CONNECT target to --log, tunnels bytes both ways, refuses
targets outside 127.0.0.1, and exits by itself after --lifetime seconds.
"""
import argparse
import select
import socket
import sys
import threading


def tunnel(client, log_path, lock):
    try:
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 8192:
            chunk = client.recv(4096)
            if not chunk:
                return
            head += chunk
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = line.split()
        with lock, open(log_path, "a", encoding="utf-8") as log:
            log.write(line + "\n")
        if len(parts) != 3 or parts[0] != "CONNECT" or not parts[1].startswith("127.0.0.1:"):
            client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        upstream = socket.create_connection(("127.0.0.1", int(parts[1].split(":")[1])), timeout=10)
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        socks = [client, upstream]
        while True:
            ready, _, _ = select.select(socks, [], [], 30)
            if not ready:
                return
            for s in ready:
                data = s.recv(65536)
                if not data:
                    return
                (upstream if s is client else client).sendall(data)
    except OSError:
        pass
    finally:
        client.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--log", required=True)
    p.add_argument("--lifetime", type=float, default=60.0)
    a = p.parse_args()
    lock = threading.Lock()
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.5)
    print("PORT %d" % server.getsockname()[1], flush=True)
    stop = threading.Event()
    threading.Timer(a.lifetime, stop.set).start()
    while not stop.is_set():
        try:
            client, _ = server.accept()
        except socket.timeout:
            continue
        threading.Thread(target=tunnel, args=(client, a.log, lock), daemon=True).start()
    return 0


if __name__ == "__main__":
    sys.exit(main())
