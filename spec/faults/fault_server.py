#!/usr/bin/env python3
"""A fault-injecting HTTPS/HTTP server on 127.0.0.1 for spec/faults_spec.lua.

Python's standard library only. The API listeners are raw `socket` + `ssl`, with a hand-written
HTTP/1.1 reader and writer, so every byte and every pause of an answer is chosen here: nothing
is "fixed up" by a server framework.

    python3 spec/faults/fault_server.py --certs DIR --work DIR --ready-file FILE
                                        [--parent-pid PID] [--lifetime SECONDS]

--certs is spec/mock/make_certs.sh's output (ca.pem, ca.key, server.pem/.key, wrong-host.pem/.key;
with-mock exports it as MMC_TEST_CERTS). At start-up the server makes, in --work, with `openssl`:
  expired.pem/.key      signed by the test CA for localhost/127.0.0.1, valid 2020-01-01..02
                        (`openssl ca -startdate -enddate`: OpenSSL 3.0's `x509 -req` cannot
                        back-date a certificate)
  self-signed.pem/.key  self-signed for localhost/127.0.0.1 (the right host, no trusted issuer)
When ready it writes FILE: {"pid", "control_port", "listeners": {"main": port, "target": port,
"plain": port}}. It exits on SIGTERM, when --parent-pid is gone, or after --lifetime seconds.

Listeners (each records its own connections and requests):
  main    HTTPS with the test CA's server certificate: the API the client under test talks to
  target  HTTPS, same certificate: where redirects point (a second "host"); answers 200 to all
  plain   plain HTTP, same behaviour and faults as main (for allow_http clients)

Normal behaviour of main/plain (no fault armed):
  POST /v2/usg/acs/auth/appauth              200 {"accessToken", "validPeriod": 3600,
                                             "expireTime", "refreshToken", ...}: a fresh
                                             random token per call, remembered
  PUT  /v1/mmc/management/webhook/change-status  200 {"returnCode":0,"returnDesc":"success"}
                                             with an X-Access-Token it issued, else 401 USG JSON
  anything else                              404 JSON
Answers are HTTP/1.1 with Content-Length and keep-alive, and carry X-Request-Id.

Control channel: plain HTTP on control_port, JSON in and out.
  GET  /state                   {"listeners": {name: {"port", "listening", "connections",
                                 "tls_errors", "requests": [...]}}, "tokens": [...]}
                                 each request: {"seq", "conn", "client_port", "method", "path",
                                 "query", "headers" (lower-case names), "t" (s since start,
                                 monotonic), "fault" (action or null), "sent" (body bytes
                                 written), "finished"}
  POST /reset                   forget faults, logs and tokens; every listener listening again
  POST /clear                   forget armed faults only
  POST /fault {rule}            arm a fault (see below)
  POST /listen {"listener", "on", "for"}  close (connection refused) or re-open a listener, on
                                the same port; with "on": false, "for": S it re-opens by itself
                                S seconds later
  POST /drop {"listener"}       close every open connection of a listener now (kept-alive ones)

A rule: {"listener": "main" (default), "on": "connection" | "request", "action": ...,
"count": N (default 1; -1 = until cleared), "path": prefix (request rules; default any),
"method": (request rules; default any), ...}. The first armed rule that matches is used and
its count goes down.

Connection actions (at accept, before any TLS):
  silence       accept, then never send a byte (holds the socket until the client goes away)
  reset         close at once with SO_LINGER 0 (RST)
  tls_garbage   read the ClientHello, answer with bytes that are not TLS, close
  tls_abort     read the ClientHello, then reset the connection
  cert          handshake with "cert": "wrong_host" | "expired" | "self_signed", then serve
                normally (a verifying client aborts the handshake)

Request actions (after a whole request was read):
  respond          {"status", "body" (text, or "body_b64"), "headers": {..}, "reason",
                   "http10": bool (HTTP/1.0, no Content-Length, body ends at close),
                   "chunks": [texts] (Transfer-Encoding: chunked), "close": bool,
                   "no_length": bool, "issue_token": bool (each "{token}" in the body or
                   chunks becomes a fresh token the server then accepts)}
  headers_silence  status line and headers (Content-Length: 100), then silence
  half_body        Content-Length: "length" (default 2000), half of it, then close (FIN)
  reset_mid        Content-Length: 2000, 700 bytes, then RST (SO_LINGER 0)
  huge             200 with "size" bytes (default 100 MiB) of a JSON string, streamed in 64 KiB
                   pieces until the client hangs up; "chunked": true for no Content-Length
  redirect         "status" (302), Location: https://localhost:<target port><path>?<query>
  close_idle       the normal answer, kept-alive in its headers, then the server closes the
                   connection ("delay" seconds later, default 0.05): the client must reconnect
  delay            sleep "seconds", then the normal answer
  raw              "data" (text) or "data_b64" (bytes) as the whole answer, then close
"""

import argparse
import base64
import json
import os
import secrets
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

APPAUTH = "/v2/usg/acs/auth/appauth"
CHANGE_STATUS = "/v1/mmc/management/webhook/change-status"
START = time.monotonic()
MAX_HEAD = 64 * 1024


def log(*args):
    print("fault_server:", *args, file=sys.stderr, flush=True)


# ---- certificates ---------------------------------------------------------------------------

LEAF_EXT = """basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
"""

CA_CONFIG = """[ca]
default_ca = fault_ca
[fault_ca]
database = {db}/index.txt
new_certs_dir = {db}
serial = {db}/serial
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[any]
commonName = supplied
[leaf]
""" + LEAF_EXT


def openssl(*args):
    result = subprocess.run(["openssl", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (args[0], result.stderr))


def make_certs(certs, work):
    """expired.pem/.key (signed by the test CA, long expired) and self-signed.pem/.key."""
    db = os.path.join(work, "ca-db")
    os.makedirs(db, exist_ok=True)
    open(os.path.join(db, "index.txt"), "w").close()
    with open(os.path.join(db, "serial"), "w") as f:
        f.write(secrets.token_hex(8) + "\n")
    config = os.path.join(work, "ca.cnf")
    with open(config, "w") as f:
        f.write(CA_CONFIG.format(db=db))
    csr = os.path.join(work, "expired.csr")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-sha256", "-subj", "/CN=localhost",
            "-keyout", os.path.join(work, "expired.key"), "-out", csr)
    openssl("ca", "-batch", "-config", config, "-cert", os.path.join(certs, "ca.pem"),
            "-keyfile", os.path.join(certs, "ca.key"), "-in", csr,
            "-out", os.path.join(work, "expired.pem"), "-startdate", "20200101000000Z",
            "-enddate", "20200102000000Z", "-extensions", "leaf", "-notext")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "2",
            "-subj", "/CN=localhost", "-keyout", os.path.join(work, "self-signed.key"),
            "-out", os.path.join(work, "self-signed.pem"),
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-addext", "basicConstraints=critical,CA:FALSE",
            "-addext", "extendedKeyUsage=serverAuth")


def context(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


# ---- state ----------------------------------------------------------------------------------

class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.tokens = []
        self.listeners = {}

    def find_rule(self, listener, on, method=None, path=None):
        with self.lock:
            for rule in listener.rules:
                if rule.get("on", "request") != on or rule.get("count", 1) == 0:
                    continue
                if on == "request":
                    if rule.get("path") and not path.startswith(rule["path"]):
                        continue
                    if rule.get("method") and rule["method"] != method:
                        continue
                if rule.get("count", 1) > 0:
                    rule["count"] = rule.get("count", 1) - 1
                return dict(rule)
        return None


STATE = State()
STOP = threading.Event()


class Listener:
    def __init__(self, name, tls_context, port=0):
        self.name = name
        self.tls = tls_context
        self.rules = []
        self.requests = []
        self.connections = 0
        self.tls_errors = 0
        self.live = set()
        self.sock = None
        self.port = port
        self.open()

    def open(self):
        if self.sock is not None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(64)
        self.port = sock.getsockname()[1]
        self.sock = sock
        threading.Thread(target=self.accept_loop, args=(sock,), daemon=True).start()

    def close(self):
        sock, self.sock = self.sock, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def drop(self):
        with STATE.lock:
            live = list(self.live)
        for connection in live:
            connection.shutdown()

    def accept_loop(self, sock):
        while not STOP.is_set():
            try:
                raw, address = sock.accept()
            except OSError:
                return
            with STATE.lock:
                self.connections += 1
                number = self.connections
                connection = Connection(self, raw, address, number)
                self.live.add(connection)
            threading.Thread(target=self.serve, args=(connection,), daemon=True).start()

    def serve(self, connection):
        try:
            connection.run()
        except Exception as e:  # a fault's own noise (broken pipes, resets): never fatal
            if not isinstance(e, (OSError, ssl.SSLError, ValueError)):
                log("connection", connection.number, "on", self.name, "ended with", repr(e))
        finally:
            with STATE.lock:
                self.live.discard(connection)
            try:
                connection.sock.close()
            except OSError:
                pass

    def snapshot(self):
        with STATE.lock:
            return {"port": self.port, "listening": self.sock is not None,
                    "connections": self.connections, "tls_errors": self.tls_errors,
                    "requests": [dict(r) for r in self.requests]}


CERTS = {}


def rst_close(sock):
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def wait_for_hangup(raw, limit=120):
    """Holds a connection without answering until the peer closes it (or the server stops)."""
    raw.settimeout(0.2)
    deadline = time.monotonic() + limit
    while not STOP.is_set() and time.monotonic() < deadline:
        try:
            data = raw.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            return
        if not data:
            return


class Connection:
    def __init__(self, listener, raw, address, number):
        self.listener = listener
        self.raw = raw   # the accepted socket; once wrapped for TLS, only self.sock is usable
        self.sock = raw
        self.client_port = address[1]
        self.number = number
        self.pending = b""

    def shutdown(self):
        """Ends the connection from another thread (a FIN to the client)."""
        try:
            socket.socket.shutdown(self.sock, socket.SHUT_RDWR)
        except OSError:
            pass

    # -- connection level

    def run(self):
        listener = self.listener
        rule = STATE.find_rule(listener, "connection")
        action = rule["action"] if rule else None
        raw = self.raw
        raw.settimeout(30)
        if action == "silence":
            wait_for_hangup(raw)
            return
        if action == "reset":
            rst_close(raw)
            return
        if action in ("tls_garbage", "tls_abort"):
            try:
                raw.recv(65536)  # the ClientHello
            except OSError:
                return
            if action == "tls_garbage":
                raw.sendall(b"HTTP/1.1 400 This is not TLS\r\n\r\n" + secrets.token_bytes(64))
                time.sleep(0.1)
                raw.close()
            else:
                rst_close(raw)
            return
        if listener.tls is not None:
            ctx = CERTS[rule["cert"]] if action == "cert" else listener.tls
            tls = ctx.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
            self.sock = tls
            try:
                tls.do_handshake()
            except (ssl.SSLError, OSError):
                with STATE.lock:
                    listener.tls_errors += 1
                return
        self.serve_requests()

    # -- HTTP

    def read_head(self):
        while b"\r\n\r\n" not in self.pending:
            if len(self.pending) > MAX_HEAD:
                return None
            try:
                data = self.sock.recv(65536)
            except (OSError, ssl.SSLError):
                return None
            if not data:
                return None
            self.pending += data
        head, self.pending = self.pending.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ", 2)
        except ValueError:
            return None
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length") or 0)
        while len(self.pending) < length:
            data = self.sock.recv(65536)
            if not data:
                return None
            self.pending += data
        body, self.pending = self.pending[:length], self.pending[length:]
        path, _, query = target.partition("?")
        return method, path, query, version, headers, body

    def serve_requests(self):
        listener = self.listener
        while not STOP.is_set():
            request = self.read_head()
            if request is None:
                return
            method, path, query, version, headers, body = request
            rule = None
            if listener.name != "target":
                rule = STATE.find_rule(listener, "request", method, path)
            record = {"conn": self.number, "client_port": self.client_port, "method": method,
                      "path": path, "query": query, "headers": headers,
                      "t": time.monotonic() - START, "fault": rule["action"] if rule else None,
                      "sent": 0, "finished": False}
            with STATE.lock:
                record["seq"] = len(listener.requests) + 1
                listener.requests.append(record)
            keep = self.answer(rule, record, method, path, query, headers, body)
            with STATE.lock:
                record["finished"] = True
            if not keep or headers.get("connection", "").lower() == "close":
                self.close_gently()
                return

    def close_gently(self):
        try:
            if isinstance(self.sock, ssl.SSLSocket):
                self.sock.unwrap()
        except (OSError, ssl.SSLError, ValueError):
            pass
        self.shutdown()

    def send(self, data):
        self.sock.sendall(data)

    def head(self, status, reason, headers, version="HTTP/1.1"):
        lines = ["%s %d %s" % (version, status, reason)]
        for name, value in headers:
            lines.append("%s: %s" % (name, value))
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def normal(self, method, path, headers):
        """The status and JSON body the API would answer."""
        if self.listener.name == "target":
            return 200, {"returnCode": 0, "returnDesc": "you reached the redirect target"}
        if method == "POST" and path == APPAUTH:
            token = "tok" + secrets.token_hex(20)
            now = int(time.time())
            with STATE.lock:
                STATE.tokens.append(token)
            return 200, {"accessToken": token, "validPeriod": 3600, "expireTime": now + 3600,
                         "createTime": now * 1000, "clientType": 72,
                         "refreshToken": "ref" + secrets.token_hex(20),
                         "refreshValidPeriod": 7200, "tokenType": 0, "firstLogin": False,
                         "user": {"userId": "admin", "name": "Fault User"}}
        if path.startswith("/v1/"):
            token = headers.get("x-access-token")
            with STATE.lock:
                known = token in STATE.tokens
            if not known:
                return 401, {"error_code": "USG.000000004", "error_msg": "token invalid or expired"}
            if method == "PUT" and path == CHANGE_STATUS:
                return 200, {"returnCode": 0, "returnDesc": "success"}
            if path == "/v1/mmc/management/webhook/link-config":
                return 200, {"returnCode": 0, "returnDesc": "success"}
        return 404, {"error_code": "MMC.404", "error_msg": "no such path"}

    def answer(self, rule, record, method, path, query, headers, body):
        """Writes one answer. False when the connection must end afterwards."""
        action = rule["action"] if rule else None
        request_id = "req-" + secrets.token_hex(8)
        if action == "delay":
            time.sleep(float(rule.get("seconds", 1)))
            action = None
        if action is None or action == "close_idle":
            status, document = self.normal(method, path, headers)
            payload = json.dumps(document).encode()
            self.send(self.head(status, "OK" if status == 200 else "Error", [
                ("Content-Type", "application/json;charset=UTF-8"),
                ("Content-Length", len(payload)), ("X-Request-Id", request_id)]) + payload)
            record["sent"] = len(payload)
            if action == "close_idle":
                time.sleep(float(rule.get("delay", 0.05)))
                return False
            return True
        if action == "respond":
            return self.respond(rule, record, request_id)
        if action == "headers_silence":
            self.send(self.head(200, "OK", [("Content-Type", "application/json"),
                                            ("Content-Length", 100), ("X-Request-Id", request_id)]))
            wait_for_hangup(self.sock)
            return False
        if action == "half_body":
            length = int(rule.get("length", 2000))
            half = (b'{"returnCode":0,"returnDesc":"' + b"x" * length)[:length // 2]
            self.send(self.head(200, "OK", [("Content-Type", "application/json"),
                                            ("Content-Length", length)]) + half)
            record["sent"] = len(half)
            time.sleep(0.05)
            self.close_gently()
            return False
        if action == "reset_mid":
            part = (b'{"returnCode":0,"returnDesc":"' + b"y" * 2000)[:700]
            self.send(self.head(200, "OK", [("Content-Type", "application/json"),
                                            ("Content-Length", 2000)]) + part)
            record["sent"] = len(part)
            time.sleep(0.1)  # let the client read what came, then cut
            rst_close(self.sock)
            return False
        if action == "huge":
            return self.huge(rule, record)
        if action == "raw":
            data = base64.b64decode(rule["data_b64"]) if "data_b64" in rule else rule["data"].encode()
            self.send(data)
            record["sent"] = len(data)
            time.sleep(0.05)
            self.close_gently()
            return False
        if action == "redirect":
            status = int(rule.get("status", 302))
            target = STATE.listeners["target"].port
            location = "https://localhost:%d%s%s" % (target, path, "?" + query if query else "")
            payload = b'{"returnCode":0,"returnDesc":"moved"}'
            self.send(self.head(status, "Moved", [("Location", location),
                                                  ("Content-Type", "application/json"),
                                                  ("Content-Length", len(payload)),
                                                  ("X-Request-Id", request_id)]) + payload)
            return True
        raise ValueError("unknown action %r" % action)

    def respond(self, rule, record, request_id):
        status = int(rule.get("status", 200))
        if "body_b64" in rule:
            payload = base64.b64decode(rule["body_b64"])
        else:
            payload = rule.get("body", "").encode("utf-8")
        if rule.get("issue_token"):
            token = "tok" + secrets.token_hex(20)
            with STATE.lock:
                STATE.tokens.append(token)
            payload = payload.replace(b"{token}", token.encode())
            rule["chunks"] = [c.replace("{token}", token) for c in rule.get("chunks", [])] \
                if "chunks" in rule else None
            if rule["chunks"] is None:
                del rule["chunks"]
        extra = list((rule.get("headers") or {}).items())
        reason = rule.get("reason", "Fault")
        if rule.get("http10"):
            self.send(self.head(status, reason, [("Content-Type", "application/json"),
                                                 ("X-Request-Id", request_id)] + extra,
                                version="HTTP/1.0") + payload)
            record["sent"] = len(payload)
            time.sleep(0.05)
            self.close_gently()
            return False
        if "chunks" in rule:
            self.send(self.head(status, reason, [("Content-Type", "application/json"),
                                                 ("Transfer-Encoding", "chunked"),
                                                 ("X-Request-Id", request_id)] + extra))
            for chunk in rule["chunks"]:
                data = chunk.encode("utf-8")
                self.send(b"%x\r\n%s\r\n" % (len(data), data))
                record["sent"] += len(data)
                time.sleep(0.02)  # separate TLS records and TCP segments
            self.send(b"0\r\n\r\n")
            return not rule.get("close")
        headers = [("Content-Type", "application/json"), ("X-Request-Id", request_id)]
        if not rule.get("no_length"):
            headers.append(("Content-Length", len(payload)))
        if rule.get("close"):
            headers.append(("Connection", "close"))
        self.send(self.head(status, reason, headers + extra) + payload)
        record["sent"] = len(payload)
        return not rule.get("close") and not rule.get("no_length")

    def huge(self, rule, record):
        size = int(rule.get("size", 100 * 1024 * 1024))
        chunked = bool(rule.get("chunked"))
        headers = [("Content-Type", "application/json")]
        headers.append(("Transfer-Encoding", "chunked") if chunked else ("Content-Length", size))
        self.send(self.head(200, "OK", headers))
        piece = b'"' + b"z" * (64 * 1024 - 1)
        sent = 0
        try:
            while sent < size and not STOP.is_set():
                data = piece[:min(len(piece), size - sent)]
                self.send(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
                sent += len(data)
                with STATE.lock:
                    record["sent"] = sent
            if chunked:
                self.send(b"0\r\n\r\n")
        except (OSError, ssl.SSLError):
            pass
        return False


# ---- control --------------------------------------------------------------------------------

class Control(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, document, status=200):
        payload = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self):
        if self.path == "/state":
            with STATE.lock:
                tokens = list(STATE.tokens)
            self.reply({"listeners": {n: l.snapshot() for n, l in STATE.listeners.items()},
                        "tokens": tokens})
        else:
            self.reply({"error": "no such control path"}, 404)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        try:
            args = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return self.reply({"error": "bad JSON"}, 400)
        listener = STATE.listeners.get(args.get("listener", "main"))
        if listener is None:
            return self.reply({"error": "no such listener"}, 400)
        if self.path == "/reset":
            with STATE.lock:
                STATE.tokens.clear()
                for l in STATE.listeners.values():
                    l.rules.clear()
                    l.requests.clear()
                    l.connections = 0
                    l.tls_errors = 0
            for l in STATE.listeners.values():
                if l.sock is None:
                    l.open()
                l.drop()
        elif self.path == "/clear":
            with STATE.lock:
                for l in STATE.listeners.values():
                    l.rules.clear()
        elif self.path == "/fault":
            if args.get("on", "request") not in ("request", "connection") or "action" not in args:
                return self.reply({"error": "a rule needs on and action"}, 400)
            if args.get("action") == "cert" and args.get("cert") not in CERTS:
                return self.reply({"error": "unknown cert"}, 400)
            args.setdefault("count", 1)
            with STATE.lock:
                listener.rules.append(args)
        elif self.path == "/listen":
            if args.get("on") and listener.sock is None:
                listener.open()
            elif not args.get("on"):
                listener.close()
                if args.get("for"):  # listening again by itself after that many seconds
                    timer = threading.Timer(float(args["for"]), listener.open)
                    timer.daemon = True
                    timer.start()
        elif self.path == "/drop":
            listener.drop()
        else:
            return self.reply({"error": "no such control path"}, 404)
        self.reply({"ok": True})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--certs", required=True)
    parser.add_argument("--work", default=None)
    parser.add_argument("--ready-file", required=True)
    parser.add_argument("--parent-pid", type=int, default=0)
    parser.add_argument("--lifetime", type=float, default=900)
    options = parser.parse_args()
    work = options.work or tempfile.mkdtemp(prefix="mmc-faults.")
    os.makedirs(work, exist_ok=True)

    make_certs(options.certs, work)
    certs = options.certs
    good = context(os.path.join(certs, "server.pem"), os.path.join(certs, "server.key"))
    CERTS["wrong_host"] = context(os.path.join(certs, "wrong-host.pem"),
                                  os.path.join(certs, "wrong-host.key"))
    CERTS["expired"] = context(os.path.join(work, "expired.pem"), os.path.join(work, "expired.key"))
    CERTS["self_signed"] = context(os.path.join(work, "self-signed.pem"),
                                   os.path.join(work, "self-signed.key"))

    for name, tls in (("main", good), ("target", good), ("plain", None)):
        STATE.listeners[name] = Listener(name, tls)
    control = ThreadingHTTPServer(("127.0.0.1", 0), Control)
    control.daemon_threads = True
    threading.Thread(target=control.serve_forever, daemon=True).start()

    signal.signal(signal.SIGTERM, lambda *_: STOP.set())
    signal.signal(signal.SIGINT, lambda *_: STOP.set())
    ready = {"pid": os.getpid(), "control_port": control.server_address[1],
             "listeners": {n: l.port for n, l in STATE.listeners.items()}}
    with open(options.ready_file + ".tmp", "w") as f:
        json.dump(ready, f)
    os.replace(options.ready_file + ".tmp", options.ready_file)

    deadline = time.monotonic() + options.lifetime
    while not STOP.wait(0.5):
        if time.monotonic() > deadline:
            log("lifetime over, exiting")
            break
        if options.parent_pid:
            try:
                os.kill(options.parent_pid, 0)
            except ProcessLookupError:
                log("parent", options.parent_pid, "is gone, exiting")
                break
    STOP.set()
    control.shutdown()
    for l in STATE.listeners.values():
        l.close()
        l.drop()


if __name__ == "__main__":
    main()
