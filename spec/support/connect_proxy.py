#!/usr/bin/env python3
"""A small forward proxy for the proxy specs: HTTP CONNECT (plain or over TLS) and SOCKS5,
on 127.0.0.1, tunnelling only to 127.0.0.1. Python standard library only.

    connect_proxy.py --ready-file PATH --log PATH --raw-log PATH
                     [--user NAME:PASSWORD] [--tls-cert PEM --tls-key KEY] [--socks]

Every connection is logged as one JSON line in --log: {"kind": "connect"|"socks",
"request_line", "headers" (lower-case names), "target", "status"}. Every byte a client sends
(its request head and, once tunnelled, the TLS records it passes on) is appended to
--raw-log, so a spec can check that no token or header name ever crossed the proxy in clear.
With --user, CONNECT needs "Proxy-Authorization: Basic base64(NAME:PASSWORD)" (407 otherwise).
The port is written to --ready-file as {"port": N} once it listens.
"""

import argparse
import base64
import json
import os
import select
import signal
import socket
import socketserver
import ssl
import struct
import sys
import threading

ALLOWED_HOSTS = ("127.0.0.1", "localhost")


class Handler(socketserver.BaseRequestHandler):

    def note(self, data):
        with self.server.lock:
            with open(self.server.raw_log, "ab") as f:
                f.write(data)

    def log(self, entry):
        with self.server.lock:
            with open(self.server.log, "a", encoding="utf-8") as f:
                f.write(json.dumps(entry) + "\n")

    def handle(self):
        sock = self.request
        sock.settimeout(10)
        try:
            if self.server.socks:
                self.handle_socks(sock)
            else:
                self.handle_connect(sock)
        except (OSError, ValueError) as e:
            sys.stderr.write("connect_proxy: %r\n" % e)

    def handle_connect(self, sock):
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                return
            head += chunk
            if len(head) > 65536:
                return
        self.note(head)
        head, _, rest = head.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        words = lines[0].split(" ")
        entry = {"kind": "connect", "request_line": lines[0], "headers": headers,
                 "target": words[1] if len(words) > 1 else ""}
        host, _, port = entry["target"].rpartition(":")
        if words[0] != "CONNECT":
            return self.refuse(sock, entry, 405, "Method Not Allowed")
        if host not in ALLOWED_HOSTS or not port.isdigit():
            return self.refuse(sock, entry, 403, "Forbidden")
        if self.server.user is not None:
            want = "Basic " + base64.b64encode(self.server.user.encode()).decode()
            if headers.get("proxy-authorization") != want:
                return self.refuse(sock, entry, 407, "Proxy Authentication Required",
                                   'Proxy-Authenticate: Basic realm="specs"\r\n')
        upstream = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
        entry["status"] = 200
        self.log(entry)
        sock.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        if rest:
            self.note(rest)
            upstream.sendall(rest)
        self.pipe(sock, upstream)

    def refuse(self, sock, entry, status, reason, extra=""):
        entry["status"] = status
        self.log(entry)
        sock.sendall(("HTTP/1.1 %d %s\r\n%sContent-Length: 0\r\nConnection: close\r\n\r\n"
                      % (status, reason, extra)).encode())

    def read_exactly(self, sock, n):
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise ValueError("socks client went away")
            data += chunk
        self.note(data)
        return data

    def handle_socks(self, sock):
        # RFC 1928, no authentication, CONNECT only.
        version, count = self.read_exactly(sock, 2)
        methods = self.read_exactly(sock, count)
        if version != 5 or 0 not in methods:
            sock.sendall(b"\x05\xff")
            return
        sock.sendall(b"\x05\x00")
        version, command, _, address_type = self.read_exactly(sock, 4)
        if address_type == 1:
            host = socket.inet_ntoa(self.read_exactly(sock, 4))
        elif address_type == 3:
            host = self.read_exactly(sock, self.read_exactly(sock, 1)[0]).decode("latin-1")
        else:
            host = "(IPv6)"
            self.read_exactly(sock, 16)
        port = struct.unpack("!H", self.read_exactly(sock, 2))[0]
        entry = {"kind": "socks", "request_line": "SOCKS5 CONNECT %s:%d" % (host, port),
                 "headers": {}, "target": "%s:%d" % (host, port),
                 "address_type": {1: "ipv4", 3: "name", 4: "ipv6"}.get(address_type)}
        if command != 1 or host not in ALLOWED_HOSTS:
            entry["status"] = 2
            self.log(entry)
            sock.sendall(b"\x05\x02\x00\x01\x00\x00\x00\x00\x00\x00")
            return
        upstream = socket.create_connection(("127.0.0.1", port), timeout=10)
        entry["status"] = 0
        self.log(entry)
        sock.sendall(b"\x05\x00\x00\x01\x7f\x00\x00\x01" + struct.pack("!H", port))
        self.pipe(sock, upstream)

    def pipe(self, client, upstream):
        client.settimeout(None)
        upstream.settimeout(None)
        try:
            while True:
                readable, _, _ = select.select([client, upstream], [], [], 30)
                if not readable:
                    return
                for source in readable:
                    data = source.recv(65536)
                    if not data:
                        return
                    if source is client:
                        self.note(data)
                        upstream.sendall(data)
                    else:
                        client.sendall(data)
        finally:
            upstream.close()


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, args):
        super().__init__(("127.0.0.1", 0), Handler)
        self.lock = threading.Lock()
        self.log, self.raw_log, self.user, self.socks = args.log, args.raw_log, args.user, args.socks
        self.tls = None
        if args.tls_cert:
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls.load_cert_chain(args.tls_cert, args.tls_key)

    def get_request(self):
        sock, address = super().get_request()
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True)
        return sock, address


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ready-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--raw-log", required=True)
    p.add_argument("--user")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--socks", action="store_true")
    args = p.parse_args()
    for path in (args.log, args.raw_log):
        open(path, "w").close()
    server = Server(args)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    tmp = args.ready_file + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"port": server.server_address[1], "pid": os.getpid()}, f)
    os.replace(tmp, args.ready_file)
    server.serve_forever(poll_interval=0.1)


if __name__ == "__main__":
    main()
