#!/usr/bin/env python3
"""Strict local mock of the Huawei Cloud Meeting server API, for mmc's tests.

Written from the API reference (shared/mmc-api.md), not from the client's C code, so
that a signing bug in the client cannot be mirrored here. Python standard library only.

    huawei_mock.py --cert CERT.pem --key KEY.pem [--host 127.0.0.1] [--port 0]
                   [--control-port 0] [--ready-file PATH] [--config FILE.json]
                   [--plain] [--verbose]

Two servers share one state:
  * the API server (HTTPS, or plain HTTP with --plain) answers like Huawei:
      POST /v2/usg/acs/auth/appauth                  App ID authentication
      PUT  /v1/mmc/management/webhook/change-status  enable/disable/lock event push
  * the control server (plain HTTP, 127.0.0.1 only) lets tests configure apps and
    webhooks, inject delays and faults, revoke tokens and read every recorded request.

The mock is deliberately stricter than Huawei may be: whatever the reference leaves
open, it rejects, so the client is pushed towards the documented form.
"""

import argparse
import base64
import binascii
import hashlib
import hmac
import http.server
import json
import os
import re
import secrets
import signal
import socketserver
import ssl
import string
import sys
import threading
import time
import urllib.parse
import uuid

APPAUTH_PATH = "/v2/usg/acs/auth/appauth"
CHANGE_STATUS_PATH = "/v1/mmc/management/webhook/change-status"
ROUTES = {APPAUTH_PATH: ("POST",), CHANGE_STATUS_PATH: ("PUT",)}

JSON_CT = "application/json;charset=UTF-8"
MAX_BODY = 1 << 20            # nothing legitimate comes close; protects the mock itself
HANDSHAKE_TIMEOUT = 10.0      # a client that connects and never speaks TLS must not pin a thread
DEFAULT_VALID_PERIOD = 86400
DEFAULT_MAX_TOKENS_PER_USER = 64   # reference section 1: the 65th token evicts the oldest

# fullmatch() is used, so no anchors are needed; '$' would also accept a trailing newline.
AUTH_RE = re.compile(r"HMAC-SHA256 signature=([0-9A-Fa-f]{64}),access=([A-Za-z0-9+/=]+)")
BAD_PERCENT_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
TOKEN_ALPHABET = string.ascii_letters + string.digits


class ApiError(Exception):
    """An error answer in Huawei's format: {"error_code", "error_msg", "request_id"}."""

    def __init__(self, status, code, msg, headers=()):
        super().__init__(msg)
        self.status, self.code, self.msg, self.headers = status, code, msg, list(headers)


class BadInput(ValueError):
    """Bad control-server input (answered with 400), or a bad --config file."""


def random_token(n=40):
    return "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(n))


def strict_json(text):
    """json.loads that refuses what a sloppy client might get away with elsewhere:
    duplicate keys (which one would Huawei use?) and NaN/Infinity (not JSON)."""
    def no_dups(pairs):
        obj = {}
        for k, v in pairs:
            if k in obj:
                raise ValueError("duplicate key %r" % k)
            obj[k] = v
        return obj

    def no_constants(name):
        raise ValueError("%s is not JSON" % name)

    return json.loads(text, object_pairs_hook=no_dups, parse_constant=no_constants)


def is_int(v):
    return type(v) is int           # bool is a subclass of int; JSON true is not 72


# --------------------------------------------------------------------------- state

def _check_keys(obj, allowed, what):
    if not isinstance(obj, dict):
        raise BadInput("%s must be a JSON object" % what)
    extra = sorted(set(obj) - set(allowed))
    if extra:   # a typo in a test's setup should fail loudly, not be ignored
        raise BadInput("%s: unknown keys %s" % (what, extra))


def parse_setup(cfg):
    """Validate a setup document; return (apps, valid_period, webhook_ids, max_tokens)."""
    _check_keys(cfg, ("apps", "token_valid_period", "webhook_ids", "max_tokens_per_user"), "setup")
    apps = {}
    raw_apps = cfg.get("apps", [])
    if not isinstance(raw_apps, list):
        raise BadInput("apps must be a list")
    for a in raw_apps:
        _check_keys(a, ("app_id", "app_key", "mode", "corp_ids"), "app")
        app_id, app_key = a.get("app_id"), a.get("app_key")
        mode, corp_ids = a.get("mode", "enterprise"), a.get("corp_ids", [])
        if not isinstance(app_id, str) or not 1 <= len(app_id) <= 64:
            raise BadInput("app_id must be a string of 1..64 chars")
        if not isinstance(app_key, str) or not app_key:
            raise BadInput("app_key must be a non-empty string")
        if mode not in ("enterprise", "sp"):
            raise BadInput("mode must be 'enterprise' or 'sp'")
        if not isinstance(corp_ids, list) or not all(isinstance(c, str) and c for c in corp_ids):
            raise BadInput("corp_ids must be a list of non-empty strings")
        if app_id in apps:
            raise BadInput("duplicate app_id %r" % app_id)
        apps[app_id] = {"app_id": app_id, "app_key": app_key, "mode": mode,
                        "corp_ids": list(corp_ids)}
    period = cfg.get("token_valid_period", DEFAULT_VALID_PERIOD)
    if not is_int(period) or period < 0:
        raise BadInput("token_valid_period must be an integer >= 0")
    hooks = cfg.get("webhook_ids", [])
    if not isinstance(hooks, list) or not all(isinstance(h, str) and h for h in hooks):
        raise BadInput("webhook_ids must be a list of non-empty strings")
    max_tokens = cfg.get("max_tokens_per_user", DEFAULT_MAX_TOKENS_PER_USER)
    if max_tokens is not None and (not is_int(max_tokens) or max_tokens < 1):
        raise BadInput("max_tokens_per_user must be an integer >= 1 or null")
    return apps, period, hooks, max_tokens


class State:
    """Everything both servers share. One lock guards all of it; no handler holds it
    while sleeping or doing I/O."""

    def __init__(self):
        self.lock = threading.Lock()
        self.tls_errors = []          # survives setup: it is about connections, not config
        self.setup({})

    def setup(self, cfg):
        apps, period, hooks, max_tokens = parse_setup(cfg)   # validate before touching state
        with self.lock:
            self.apps = apps
            self.token_valid_period = period
            self.max_tokens_per_user = max_tokens
            self.webhooks = {h: 1 for h in hooks}    # 1 = disabled, Huawei's initial state
            self.tokens = {}          # token -> {app_id, user_id, corp_id, expires_at, revoked}
            self.tokens_by_user = {}  # (app_id, corp_id, user_id) -> [token, ...] oldest first
            self.nonces = set()       # (app_id, nonce)
            self.delay = None         # {"seconds": float, "remaining": int | None}
            self.fail_rules = []      # consumed in order; see take_faults()
            self.requests = []
            self.seq = 0

    def issue_token(self, app_id, corp_id, user_id, now):
        """Caller holds the lock."""
        token = random_token()
        self.tokens[token] = {"app_id": app_id, "user_id": user_id, "corp_id": corp_id,
                              "expires_at": now + self.token_valid_period, "revoked": False}
        # Huawei keeps at most N live tokens per user and silently drops the oldest.
        owned = self.tokens_by_user.setdefault((app_id, corp_id, user_id), [])
        owned.append(token)
        live = [t for t in owned if self._live(self.tokens[t], now)]
        if self.max_tokens_per_user is not None:
            while len(live) > self.max_tokens_per_user:
                self.tokens[live.pop(0)]["revoked"] = True
        self.tokens_by_user[(app_id, corp_id, user_id)] = live
        return token

    @staticmethod
    def _live(tok, now):
        return not tok["revoked"] and now < tok["expires_at"]

    def token_is_valid(self, token):
        with self.lock:
            tok = self.tokens.get(token)
            return tok is not None and self._live(tok, time.time())

    def take_faults(self, path):
        """Decide, once per API request and atomically, which faults it gets."""
        with self.lock:
            delay = 0.0
            if self.delay is not None:
                delay = self.delay["seconds"]
                if self.delay["remaining"] is not None:
                    self.delay["remaining"] -= 1
                    if self.delay["remaining"] <= 0:
                        self.delay = None
            rule = None
            for r in self.fail_rules:
                if path.startswith(r["path"]):
                    rule = dict(r)
                    if r["remaining"] is not None:
                        r["remaining"] -= 1
                    break
            self.fail_rules = [r for r in self.fail_rules
                               if r["remaining"] is None or r["remaining"] > 0]
            return delay, rule

    def record(self, rec):
        with self.lock:
            self.seq += 1
            rec["seq"] = self.seq
            self.requests.append(rec)

    def finish(self, rec, status, code):
        with self.lock:
            rec["status"], rec["error_code"] = status, code


# --------------------------------------------------------------------------- servers

class QuietHandler(http.server.BaseHTTPRequestHandler):
    """Shared HTTP/1.1 plumbing for both servers."""

    protocol_version = "HTTP/1.1"      # real keep-alive, so connection reuse can be tested
    disable_nagle_algorithm = True     # otherwise every small reply waits for a delayed ACK

    def version_string(self):
        return "HuaweiMock/1.0"

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("[%s] %s\n" % (type(self.server).__name__, fmt % args))

    def raw_target(self):
        # self.path has '//' collapsed by http.server; record what really arrived.
        words = self.requestline.split()
        return words[1] if len(words) >= 2 else ""

    def read_body(self):
        """Read the request body so keep-alive stays in sync. Returns bytes or raises
        ApiError (the connection is then closed: we no longer know where the next
        request starts)."""
        te = self.headers.get_all("Transfer-Encoding")
        cl = self.headers.get_all("Content-Length")
        if te and cl:
            raise ApiError(400, "MOCK.400", "both Transfer-Encoding and Content-Length")
        if te:
            if ",".join(te).strip().lower() != "chunked":
                raise ApiError(501, "MOCK.501", "unsupported Transfer-Encoding")
            return self._read_chunked()
        if not cl:
            return b""     # HTTP/1.1: a request without either header has no body
        if len(set(v.strip() for v in cl)) != 1 or not re.fullmatch(r"[0-9]+", cl[0].strip()):
            raise ApiError(400, "MOCK.400", "bad Content-Length")
        n = int(cl[0])
        if n > MAX_BODY:
            raise ApiError(413, "MOCK.413", "body too large")
        data = self.rfile.read(n)
        if len(data) != n:
            raise ApiError(400, "MOCK.400", "body shorter than Content-Length")
        return data

    def _read_chunked(self):
        data = b""
        while True:
            line = self.rfile.readline(1024)
            size_text = line.split(b";")[0].strip()
            if not re.fullmatch(rb"[0-9A-Fa-f]{1,8}", size_text):
                raise ApiError(400, "MOCK.400", "bad chunk size")
            size = int(size_text, 16)
            if size == 0:
                break
            if len(data) + size > MAX_BODY:
                raise ApiError(413, "MOCK.413", "body too large")
            data += self.rfile.read(size)
            if self.rfile.read(2) != b"\r\n":
                raise ApiError(400, "MOCK.400", "bad chunk framing")
        while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
            pass     # trailers: ignored
        return data

    def send_body(self, status, body, content_type=JSON_CT, headers=(), close=False,
                  request_id=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Request-Id", request_id or uuid.uuid4().hex)
        for k, v in headers:
            self.send_header(k, v)
        if close or self.close_connection:
            self.send_header("Connection", "close")   # also sets self.close_connection
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_error(self, code, message=None, explain=None):
        # Protocol-level errors from http.server (bad request line, huge headers, ...):
        # answer in JSON too, so a client never has to parse HTML from the mock.
        self.log_error("code %d, message %s", code, message)
        rid = uuid.uuid4().hex
        body = json.dumps({"error_code": "MOCK.%d" % code,
                           "error_msg": message or self.responses.get(code, ("",))[0],
                           "request_id": rid}).encode()
        self.close_connection = True
        self.send_body(code, body, close=True, request_id=rid)

    def __getattr__(self, name):
        # Route every method (also FOO, PATCH, ...) through dispatch() so that a wrong
        # method on a known path is a recorded 405, not http.server's 501.
        if name.startswith("do_"):
            return self.dispatch
        raise AttributeError(name)


class ApiHandler(QuietHandler):

    def dispatch(self):
        st = self.server.state
        raw = self.raw_target()
        path, _, query = raw.partition("?")
        rec = {"seq": None, "method": self.command, "path": path, "raw_target": raw,
               "query": query, "headers": {}, "body": "", "status": None,
               "error_code": None, "signature_valid": None,
               "client_port": self.client_address[1], "time": time.time()}
        for k, v in self.headers.items():
            k = k.lower()
            rec["headers"][k] = rec["headers"][k] + ", " + v if k in rec["headers"] else v
        try:
            body = self.read_body()
        except ApiError as e:
            st.record(rec)
            self._answer_error(rec, e, close=True)
            return
        rec["body"] = body.decode("utf-8", errors="replace")
        st.record(rec)

        delay, rule = st.take_faults(path)
        if delay > 0:
            time.sleep(delay)
        if rule is not None:
            self._answer_fault(rec, rule)
            return

        self.sig_valid = None
        try:
            methods = ROUTES.get(path)
            if methods is None:
                raise ApiError(404, "MOCK.404", "no such API: %s" % path)
            if self.command not in methods:
                raise ApiError(405, "MOCK.405", "method %s not allowed" % self.command,
                               headers=[("Allow", ", ".join(methods))])
            if path == APPAUTH_PATH:
                result = self.appauth(st, body)
            else:
                self.check_token(st)
                result = self.change_status(st, query, body)
        except ApiError as e:
            with st.lock:
                rec["signature_valid"] = self.sig_valid
            self._answer_error(rec, e)
            return
        with st.lock:
            rec["signature_valid"] = self.sig_valid
        out = json.dumps(result, separators=(",", ":"), ensure_ascii=False).encode()
        st.finish(rec, 200, None)
        self.send_body(200, out)

    def _answer_error(self, rec, e, close=False):
        rid = uuid.uuid4().hex
        body = json.dumps({"error_code": e.code, "error_msg": e.msg, "request_id": rid},
                          separators=(",", ":")).encode()
        self.server.state.finish(rec, e.status, e.code)
        self.send_body(e.status, body, headers=e.headers, close=close, request_id=rid)

    def _answer_fault(self, rec, rule):
        st = self.server.state
        if rule["drop"]:
            # Vanish without a byte of answer: the client sees EOF / a reset.
            st.finish(rec, None, None)
            self.close_connection = True
            return
        st.finish(rec, rule["status"], None)
        self.send_body(rule["status"], rule["body"].encode("utf-8"),
                       content_type=rule["content_type"], close=rule["close"])

    # ---- POST /v2/usg/acs/auth/appauth

    def appauth(self, st, body):
        # Checks run in a fixed order and stop at the first problem, so each test can
        # break exactly one thing and know which code to expect.
        if not self.headers.get("Content-Type", "").lower().startswith("application/json"):
            raise ApiError(400, "USG.000000001", "Content-Type must be application/json")
        try:
            req = strict_json(body.decode("utf-8"))
        except ValueError as e:      # UnicodeDecodeError and JSONDecodeError included
            raise ApiError(400, "USG.000000001", "body is not valid JSON: %s" % e) from None
        if not isinstance(req, dict):
            raise ApiError(400, "USG.000000001", "body must be a JSON object")

        client_type = req.get("clientType")
        if not is_int(client_type) or client_type != 72:
            raise ApiError(400, "USG.000000002", "clientType must be the integer 72")

        app_id = req.get("appId")
        if not isinstance(app_id, str) or not 1 <= len(app_id) <= 64:
            raise ApiError(400, "USG.000000003", "appId must be a string of 1..64 chars")
        with st.lock:
            app = st.apps.get(app_id)
            app = dict(app) if app else None
        if app is None:
            raise ApiError(401, "USG.000000003", "unknown appId")

        nonce = req.get("nonce")
        if not isinstance(nonce, str) or not 32 <= len(nonce) <= 64:
            raise ApiError(400, "USG.000000005", "nonce must be a string of 32..64 chars")

        expire = req.get("expireTime")
        if not is_int(expire) or expire < 0:
            raise ApiError(400, "USG.000000006", "expireTime must be an integer >= 0")
        now = time.time()
        if expire != 0 and expire <= now:
            raise ApiError(401, "USG.000000006", "signature expired")

        user_id = req.get("userId", "")
        if not isinstance(user_id, str) or len(user_id) > 64:
            raise ApiError(400, "USG.000000013", "userId must be a string of 0..64 chars")

        corp_id = ""
        if app["mode"] == "enterprise":
            if "corpId" in req:
                raise ApiError(400, "USG.000000007",
                               "corpId not allowed in single-enterprise mode")
        else:
            corp_id = req.get("corpId", "")
            if not isinstance(corp_id, str) or len(corp_id) > 64:
                raise ApiError(400, "USG.000000008", "corpId must be a string of 0..64 chars")
            if corp_id and corp_id not in app["corp_ids"]:
                raise ApiError(401, "USG.000000008", "corpId not managed by this app")

        auth = self.headers.get_all("Authorization") or []
        m = AUTH_RE.fullmatch(auth[0]) if len(auth) == 1 else None
        if m is None:
            raise ApiError(401, "USG.000000009", "Authorization header missing or malformed")
        signature, access = m.group(1).lower(), m.group(2)
        try:
            access_id = base64.b64decode(access, validate=True)
        except (binascii.Error, ValueError):
            access_id = None
        if access_id != app_id.encode("utf-8"):
            raise ApiError(401, "USG.000000010", "access does not match appId")

        parts = [app_id] + ([corp_id] if app["mode"] == "sp" else []) + \
            [user_id, str(expire), nonce]
        expected = hmac.new(app["app_key"].encode("utf-8"), ":".join(parts).encode("utf-8"),
                            hashlib.sha256).hexdigest()
        self.sig_valid = hmac.compare_digest(expected, signature)
        if not self.sig_valid:
            raise ApiError(401, "USG.000000011", "signature mismatch")

        with st.lock:
            # Only a fully valid request burns its nonce; otherwise anyone could
            # pre-spend a client's nonces with garbage requests.
            if (app_id, nonce) in st.nonces:
                raise ApiError(401, "USG.000000012", "nonce already used (replay)")
            st.nonces.add((app_id, nonce))
            now = time.time()
            token = st.issue_token(app_id, corp_id, user_id, now)
            period = st.token_valid_period
        return {
            "accessToken": token,
            "validPeriod": period,
            "expireTime": int(now) + period,
            "createTime": int(now * 1000),
            "tokenIp": "127.0.0.1",
            "clientType": 72,
            "user": {"userId": user_id or "admin", "companyId": corp_id or "corp-1",
                     "spId": "sp-1" if app["mode"] == "sp" else "", "name": "Mock User",
                     "userType": 2, "adminType": 0 if user_id else 2},
            "refreshToken": random_token(),
            "refreshValidPeriod": 2 * period,
            "refreshExpireTime": int(now) + 2 * period,
            "tokenType": 0,
            "firstLogin": False,
        }

    # ---- /v1/mmc/...

    def check_token(self, st):
        vals = self.headers.get_all("X-Access-Token") or []
        if not vals or vals == [""]:
            raise ApiError(401, "USG.000000004", "X-Access-Token missing")
        if len(vals) != 1 or not st.token_is_valid(vals[0]):
            raise ApiError(401, "USG.000000004", "token invalid or expired")

    def change_status(self, st, query, body):
        bad = "query must be exactly id=<id>&status=<0|1|2>"
        # parse_qsl silently keeps '%zz' as text; a client that sends that has an
        # escaping bug, so refuse it like any other malformed query.
        if BAD_PERCENT_RE.search(query):
            raise ApiError(400, "MMC.111070001", "bad percent-escape in query")
        try:
            pairs = urllib.parse.parse_qsl(query, keep_blank_values=True,
                                           strict_parsing=True, errors="strict")
        except ValueError:
            raise ApiError(400, "MMC.111070001", bad) from None
        # Exactly one id and one status: a duplicate would mean an injected parameter.
        if sorted(k for k, _ in pairs) != ["id", "status"]:
            raise ApiError(400, "MMC.111070001", bad)
        params = dict(pairs)
        with st.lock:
            if params["id"] not in st.webhooks:
                raise ApiError(400, "MMC.111070002", "webhook config not found")
            if params["status"] not in ("0", "1", "2"):
                raise ApiError(400, "MMC.111070003", "status must be 0, 1 or 2")
            if body:
                raise ApiError(400, "MMC.111070001", "request body must be empty")
            st.webhooks[params["id"]] = int(params["status"])
        return {"returnCode": 0, "returnDesc": "success"}


class ControlHandler(QuietHandler):

    def dispatch(self):
        try:
            body = self.read_body()
        except ApiError as e:     # framing is lost: answer and close
            self.send_body(e.status, json.dumps({"ok": False, "error": e.msg}).encode(),
                           close=True)
            return
        try:
            route = CONTROL_ROUTES.get((self.command, self.path.partition("?")[0]))
            if route is None:
                raise ApiError(404, "", "no such control endpoint")
            arg = strict_json(body.decode("utf-8")) if body.strip() else {}
            result = route(self.server.state, arg)
            status = 200
        except ApiError as e:
            result, status = {"ok": False, "error": e.msg}, e.status
        except ValueError as e:      # BadInput, JSON and UTF-8 errors
            result, status = {"ok": False, "error": str(e)}, 400
        self.send_body(status, json.dumps(result).encode())


def _number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def c_setup(st, arg):
    st.setup(arg)
    return {"ok": True}


def c_revoke(st, arg):
    _check_keys(arg, ("token",), "revoke")
    with st.lock:
        if "token" in arg:
            tok = st.tokens.get(arg["token"])
            targets = [tok] if tok else []
        else:
            targets = list(st.tokens.values())
        n = 0
        for tok in targets:
            n += not tok["revoked"]
            tok["revoked"] = True
    return {"ok": True, "revoked": n}


def c_delay(st, arg):
    _check_keys(arg, ("seconds", "count"), "delay")
    secs, count = arg.get("seconds"), arg.get("count")
    if not _number(secs) or secs < 0:
        raise BadInput("seconds must be a number >= 0")
    if count is not None and (not is_int(count) or count < 1):
        raise BadInput("count must be an integer >= 1 or null")
    with st.lock:
        st.delay = {"seconds": float(secs), "remaining": count} if secs > 0 else None
    return {"ok": True}


def c_fail(st, arg):
    _check_keys(arg, ("status", "body", "content_type", "count", "path", "close", "drop"),
                "fail")
    rule = {"status": arg.get("status"), "body": arg.get("body", ""),
            "content_type": arg.get("content_type", JSON_CT),
            "remaining": arg.get("count", 1), "path": arg.get("path", ""),
            "close": arg.get("close", False), "drop": arg.get("drop", False)}
    if not is_int(rule["status"]) or not 200 <= rule["status"] <= 599:
        raise BadInput("status must be an integer 200..599")
    for k in ("body", "content_type", "path"):
        if not isinstance(rule[k], str):
            raise BadInput("%s must be a string" % k)
    if rule["remaining"] is not None and (not is_int(rule["remaining"]) or rule["remaining"] < 1):
        raise BadInput("count must be an integer >= 1 or null")
    if not isinstance(rule["close"], bool) or not isinstance(rule["drop"], bool):
        raise BadInput("close and drop must be booleans")
    with st.lock:
        st.fail_rules.append(rule)
    return {"ok": True}


def c_clear_faults(st, arg):
    with st.lock:
        st.delay, st.fail_rules = None, []
    return {"ok": True}


def c_requests(st, arg):
    with st.lock:
        return {"ok": True, "requests": [dict(r, headers=dict(r["headers"]))
                                         for r in st.requests]}


def c_clear_requests(st, arg):
    with st.lock:
        st.requests = []
    return {"ok": True}


def c_webhooks(st, arg):
    with st.lock:
        return {"ok": True, "webhooks": dict(st.webhooks)}


def c_tokens(st, arg):
    with st.lock:
        now = time.time()
        active = sum(1 for t in st.tokens.values() if st._live(t, now))
        return {"ok": True, "issued": len(st.tokens), "active": active}


def c_tls_errors(st, arg):
    with st.lock:
        return {"ok": True, "count": len(st.tls_errors), "errors": list(st.tls_errors[-50:])}


CONTROL_ROUTES = {
    ("POST", "/control/setup"): c_setup,
    ("POST", "/control/revoke"): c_revoke,
    ("POST", "/control/delay"): c_delay,
    ("POST", "/control/fail"): c_fail,
    ("POST", "/control/clear-faults"): c_clear_faults,
    ("GET", "/control/requests"): c_requests,
    ("POST", "/control/clear-requests"): c_clear_requests,
    ("GET", "/control/webhooks"): c_webhooks,
    ("GET", "/control/tokens"): c_tokens,
    ("GET", "/control/tls-errors"): c_tls_errors,
}


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False   # idle keep-alive connections must not stall shutdown

    def __init__(self, addr, handler, state, verbose, ssl_ctx=None):
        self.state, self.verbose, self.ssl_ctx = state, verbose, ssl_ctx
        super().__init__(addr, handler)
        if ssl_ctx is not None:
            # The handshake is done per connection in its own thread (finish_request),
            # not in accept(), so one silent client cannot block the accept loop.
            self.socket = ssl_ctx.wrap_socket(self.socket, server_side=True,
                                              do_handshake_on_connect=False)

    def server_bind(self):
        # HTTPServer.server_bind calls getfqdn(), a DNS lookup we neither need nor want.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def finish_request(self, request, client_address):
        if isinstance(request, ssl.SSLSocket):
            try:
                request.settimeout(HANDSHAKE_TIMEOUT)
                request.do_handshake()
                request.settimeout(None)
            except (ssl.SSLError, OSError) as e:
                # Expected in tests (a client refusing our cert): one line, no traceback.
                line = "TLS handshake with %s:%d failed: %s" % (client_address[0],
                                                                 client_address[1], e)
                with self.state.lock:
                    self.state.tls_errors.append(line)
                sys.stderr.write("huawei_mock: %s\n" % line)
                return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        # Clients resetting keep-alive connections is normal; no tracebacks unless asked.
        if self.verbose:
            e = sys.exc_info()[1]
            sys.stderr.write("huawei_mock: connection %s: %r\n" % (client_address, e))


# --------------------------------------------------------------------------- main

def main(argv=None):
    p = argparse.ArgumentParser(description="Strict local mock of the Huawei Meeting API")
    p.add_argument("--cert", help="server certificate chain (PEM)")
    p.add_argument("--key", help="server private key (PEM)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--control-port", type=int, default=0)
    p.add_argument("--ready-file")
    p.add_argument("--config", help="initial setup, same JSON as POST /control/setup")
    p.add_argument("--plain", action="store_true", help="serve the API over plain HTTP")
    p.add_argument("--verbose", action="store_true")
    a = p.parse_args(argv)
    if not a.plain and not (a.cert and a.key):
        p.error("--cert and --key are required unless --plain")

    state = State()
    if a.config:
        try:
            with open(a.config, encoding="utf-8") as f:
                state.setup(strict_json(f.read()))
        except (OSError, ValueError) as e:
            p.error("--config %s: %s" % (a.config, e))

    ctx = None
    if not a.plain:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)
    api = Server((a.host, a.port), ApiHandler, state, a.verbose, ctx)
    ctl = Server(("127.0.0.1", a.control_port), ControlHandler, state, a.verbose)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1},
                                daemon=True) for s in (api, ctl)]
    for t in threads:
        t.start()

    ready = json.dumps({"port": api.server_address[1], "control_port": ctl.server_address[1],
                        "pid": os.getpid()})
    if a.ready_file:
        # Atomic, so a harness polling for the file never reads half of it.
        tmp = "%s.%d.tmp" % (a.ready_file, os.getpid())
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(ready + "\n")
        os.replace(tmp, a.ready_file)
    print(ready, flush=True)

    while not stop.wait(1.0):
        pass
    for s in (api, ctl):
        s.shutdown()
        s.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
