#!/usr/bin/env python3
"""Strict local mock of the Huawei Cloud Meeting server API, for mmc's tests.

Written from the API reference (shared/mmc-api.md), not from the client's C code, so
that a signing bug in the client cannot be mirrored here. Python standard library only.

    huawei_mock.py --cert CERT.pem --key KEY.pem [--host 127.0.0.1] [--port 0]
                   [--control-port 0] [--ready-file PATH] [--config FILE.json]
                   [--push-ca CA.pem] [--push-timeout 5] [--plain] [--verbose]

Two servers share one state:
  * the API server (HTTPS, or plain HTTP with --plain) answers like Huawei:
      POST   /v2/usg/acs/auth/appauth                  App ID authentication
      DELETE /v1/usg/acs/token                         logout: the token dies
      PUT    /v1/mmc/management/webhook/change-status  enable/disable/lock event push
      POST   /v1/mmc/management/webhook/link-config    set (create or replace) the push config
      GET    /v1/mmc/management/webhook/link-config    show it (never the subscriberKey)
      DELETE /v1/mmc/management/webhook/link-config    delete it
      GET    /v1/mmc/management/conferences            list meetings (SearchMeetings)
      POST   /v1/mmc/management/conferences            create a meeting (CreateMeeting)
      DELETE /v1/mmc/management/conferences            cancel a meeting (CancelMeeting)
      GET    /v1/mmc/management/conferences/confDetail one meeting's details (ShowMeetingDetail)
      GET    /v1/mmc/management/record/downloadurls    a meeting's recordings (mock_recordings.py)
  * the file host (HTTPS, its own port) serves the recordings against one-time tokens
  * the control server (plain HTTP, 127.0.0.1 only) lets tests configure apps and
    webhooks, inject delays and faults, revoke tokens, read every recorded request, and
    make the mock send (or only sign) event pushes to a configured subscriber URL, and
    retry those not answered 200 on Huawei's schedule (30 s, three times, then every 30
    minutes, for 24 hours), `speed` times faster for tests (POST /control/push-retry, or
    "push_retry" in the setup).

Event pushes (Huawei -> subscriber) go out over HTTPS, verified against --push-ca (the
test CA; with-mock passes it), and only ever to 127.0.0.1 / localhost: a config whose
url names another host is stored, but a push to it fails without a byte being sent.

What Huawei's official Python SDK sends is accepted (it is its only way to log in, and
Huawei takes it): null and "" for an optional field mean absent ("userId": "", "corpId":
null, "deptCode": null), a signature in either hex case, a UUID nonce (36 characters),
Content-Type: application/json on bodiless calls, Content-Length: 0 on DELETE, JSON with
spaces after separators and members in any order.

Behaviour the reference leaves open, decided here (each is marked "assumed" below):
  * one push config per (app, corp): corp is the body's/query's corpId when given, else the
    corp of the token ("" for a single-enterprise app or an SP administrator). spId is
    validated and stored but does not select a record. Setting it again replaces the record
    (a new id; the old id is gone) and the new record starts disabled (status 1).
  * link-config answers POST and DELETE with 200 and an empty body; GET with no config is
    404 MMC.111070002; DELETE or change-status of an unknown id (or one of another app) is
    400 MMC.111070002, as change-status always did.
  * enabling (status 0) a record made by link-config first POSTs a signed meeting.verify
    push to its url; the change is accepted only if the receiver answers 200 with exactly
    {"event":"meeting.verify","nonce":"<that push's nonce>"} (any Content-Type);
    otherwise change-status answers 400 MMC.111070008 and the status is unchanged.
    Records from setup's webhook_ids have no url and keep enabling without a handshake.
  * logout answers 200 with an empty body.

The mock is deliberately stricter than Huawei may be: whatever the reference leaves
open, it rejects, so the client is pushed towards the documented form.
"""

import argparse
import base64
import binascii
import hashlib
import hmac
import http.client
import http.server
import json
import os
import re
import secrets
import signal
import socket
import socketserver
import ssl
import string
import sys
import threading
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mock_uploads  # noqa: E402  (the upload routes: multipart bodies, streamed)

APPAUTH_PATH = "/v2/usg/acs/auth/appauth"
CHANGE_STATUS_PATH = "/v1/mmc/management/webhook/change-status"
LINK_CONFIG_PATH = "/v1/mmc/management/webhook/link-config"
TOKEN_PATH = "/v1/usg/acs/token"
ROUTES = {APPAUTH_PATH: ("POST",), CHANGE_STATUS_PATH: ("PUT",),
          LINK_CONFIG_PATH: ("POST", "GET", "DELETE"), TOKEN_PATH: ("DELETE",)}
# The meeting routes (MEETING_ROUTES, defined with their handlers below) join ROUTES there.
# Routes that need no X-Access-Token (meeting control: its own token; mock_control.py):
# path -> {method: handler(api_handler, state, query, body)}; they join ROUTES too.
TOKENLESS_ROUTES = {}
# Modules that add routes (mock_control.py, ...) extend the setup: each entry is
# (keys it accepts, check(cfg) -> parsed value or BadInput, reset(state, parsed) under the lock).
SETUP_EXTENSIONS = []

JSON_CT = "application/json;charset=UTF-8"
# App ID authentication's other optional fields (reference section 1): strings when given.
APPAUTH_OPTIONAL_TEXT = ("userName", "userEmail", "userPhone", "deptCode")
MAX_BODY = 1 << 20            # nothing legitimate comes close; protects the mock itself
HANDSHAKE_TIMEOUT = 10.0      # a client that connects and never speaks TLS must not pin a thread
DEFAULT_VALID_PERIOD = 86400
DEFAULT_MAX_TOKENS_PER_USER = 64   # reference section 1: the 65th token evicts the oldest
DEFAULT_PUSH_TIMEOUT = 5.0    # per socket operation of one push to a subscriber
MAX_URL = 1024                # assumed: the reference gives no limit for a subscriber url
PUSH_HOSTS = ("127.0.0.1", "localhost")   # the mock never pushes anywhere else
PUSH_EVENTS = ("meeting.verify", "meeting.started", "meeting.end", "meeting.conclude",
               "meeting.create", "meeting.modify", "meeting.cancel", "meeting.join",
               "meeting.left", "record.finish")

# Error codes of the webhook APIs (Huawei documents none of them: all assumed).
E_BAD_PARAM = "MMC.111070001"      # malformed query/body, unknown or duplicate field
E_NOT_FOUND = "MMC.111070002"      # no such config (id unknown, or of another app)
E_BAD_STATUS = "MMC.111070003"
E_SUBSCRIBER_ID = "MMC.111070004"
E_SUBSCRIBER_KEY = "MMC.111070005"
E_URL = "MMC.111070006"
E_CORP_SP = "MMC.111070007"        # corpId / spId
E_VERIFY_FAILED = "MMC.111070008"  # the meeting.verify handshake with the url failed

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


def json_object_body(headers, body, code):
    """The request body as a JSON object, or an ApiError (400, `code`): the Content-Type must
    be JSON, the body strict JSON (UTF-8, no duplicate keys) and an object."""
    if not headers.get("Content-Type", "").lower().startswith("application/json"):
        raise ApiError(400, code, "Content-Type must be application/json")
    try:
        req = strict_json(body.decode("utf-8"))
    except ValueError as e:      # UnicodeDecodeError and JSONDecodeError included
        raise ApiError(400, code, "body is not valid JSON: %s" % e) from None
    if not isinstance(req, dict):
        raise ApiError(400, code, "body must be a JSON object")
    return req


def is_int(v):
    return type(v) is int           # bool is a subclass of int; JSON true is not 72


def optional_text(req, name, longest, code):
    """An optional string member of a JSON body: absent, null and "" are all "" (absent);
    anything else must be a string of at most `longest` characters, or ApiError(400, code)."""
    value = req.get(name)
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > longest:
        raise ApiError(400, code, "%s must be a string of 0..%d chars, or null" % (name, longest))
    return value


# --------------------------------------------------------------------------- state

def _check_keys(obj, allowed, what):
    if not isinstance(obj, dict):
        raise BadInput("%s must be a JSON object" % what)
    extra = sorted(set(obj) - set(allowed))
    if extra:   # a typo in a test's setup should fail loudly, not be ignored
        raise BadInput("%s: unknown keys %s" % (what, extra))


def parse_setup(cfg):
    """Validate a setup document; return (apps, valid_period, webhook_ids, max_tokens,
    push_retry policy or None)."""
    _check_keys(cfg, ("apps", "token_valid_period", "webhook_ids", "max_tokens_per_user",
                      "push_retry") + tuple(k for keys, _, _ in SETUP_EXTENSIONS for k in keys),
                "setup")
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
    retry = cfg.get("push_retry", False)
    if retry is True:
        retry = {}
    retry = None if retry is False or retry is None else retry_policy(retry)
    return apps, period, hooks, max_tokens, retry


# Huawei's schedule for a push not answered 200 (reference section 4): again after 30 s, three
# times, then every 30 minutes, until 24 hours after the first attempt; then it is dropped.
HUAWEI_PUSH_RETRY = {"first": 30.0, "times": 3, "every": 1800.0, "for": 86400.0, "speed": 1.0}


def retry_policy(arg):
    """A push-retry policy from its JSON form (see c_push_retry), or BadInput."""
    _check_keys(arg, ("first", "times", "every", "for", "speed", "off"), "push-retry")
    if arg.get("off", False) is True:
        return None
    if arg.get("off", False) is not False:
        raise BadInput("off must be a boolean")
    policy = dict(HUAWEI_PUSH_RETRY)
    for name in ("first", "every", "for", "speed"):
        if name in arg:
            value = arg[name]
            if not _number(value) or value <= 0:
                raise BadInput("%s must be a number above 0" % name)
            policy[name] = float(value)
    if "times" in arg:
        if not is_int(arg["times"]) or arg["times"] < 0:
            raise BadInput("times must be an integer >= 0")
        policy["times"] = arg["times"]
    return policy


def retry_delay(policy, attempt):
    """Seconds to wait before retry number `attempt` (1, 2, ...), after the speed-up."""
    return (policy["first"] if attempt <= policy["times"] else policy["every"]) / policy["speed"]


class State:
    """Everything both servers share. One lock guards all of it; no handler holds it
    while sleeping or doing I/O."""

    def __init__(self, push_ca=None, push_timeout=DEFAULT_PUSH_TIMEOUT):
        self.lock = threading.Lock()
        self.tls_errors = []          # survives setup: it is about connections, not config
        self.push_ca = push_ca        # CA file that verifies subscriber URLs (--push-ca)
        self.push_timeout = push_timeout
        self.setup({})

    def setup(self, cfg):
        apps, period, hooks, max_tokens, retry = parse_setup(cfg)   # validate first
        extensions = [(reset, check(cfg)) for _, check, reset in SETUP_EXTENSIONS]
        with self.lock:
            self.apps = apps
            self.token_valid_period = period
            self.max_tokens_per_user = max_tokens
            self.webhooks = {h: 1 for h in hooks}    # 1 = disabled, Huawei's initial state
            # Records made by link-config: id -> {id, app_id, scope, subscriberId,
            # subscriberKey, url[, corpId][, spId]}; their status is in self.webhooks too.
            self.configs = {}
            self.config_ids = {}      # (app_id, corp) -> id: one config per app and corp
            self.pushes = []          # every push sent to a subscriber, in order
            self.in_flight = 0        # API requests read and not yet answered, now
            self.max_in_flight = 0    # ... and the most at once since the setup
            self.push_retry = retry   # how failed pushes are retried: see c_push_retry
            # Retries scheduled under an older setup see a newer generation and stop.
            self.generation = getattr(self, "generation", 0) + 1
            self.tokens = {}          # token -> {app_id, user_id, corp_id, expires_at, revoked,
                                      #           logged_out}
            self.tokens_by_user = {}  # (app_id, corp_id, user_id) -> [token, ...] oldest first
            self.nonces = set()       # (app_id, nonce)
            self.delay = None         # {"seconds": float, "remaining": int | None}
            self.fail_rules = []      # consumed in order; see take_faults()
            self.requests = []
            self.seq = 0
            self.conferences = {}     # app_id -> [ConferenceInfo, ...]: see the meetings block
            self.conference_seq = 914083137   # the last conferenceID given
            for reset, parsed in extensions:
                reset(self, parsed)

    def issue_token(self, app_id, corp_id, user_id, now):
        """Caller holds the lock."""
        token = random_token()
        self.tokens[token] = {"app_id": app_id, "user_id": user_id, "corp_id": corp_id,
                              "expires_at": now + self.token_valid_period, "revoked": False,
                              "logged_out": False}
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
        return self.live_token(token) is not None

    def live_token(self, token):
        """A copy of the token's record if it is live, else None."""
        with self.lock:
            tok = self.tokens.get(token)
            return dict(tok) if tok is not None and self._live(tok, time.time()) else None

    def take_faults(self, path, query=""):
        """Decide, once per API request and atomically, which faults it gets. A rule with a
        "query" applies only to requests whose query string contains that text."""
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
                if path.startswith(r["path"]) and r["query"] in query:
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


# --------------------------------------------------------------------------- event pushes

def compact(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def default_payload(event, now_ms):
    """A realistic payload (reference section 4). meeting.verify carries none (assumed: {}).
    The display name is not ASCII and the user agent holds '/', so a receiver that re-encodes
    eventInfo instead of using its exact text computes the wrong signature."""
    if event == "meeting.verify":
        return {}
    return {
        "meetingInfo": {"meetingID": "985472154",
                        "meetingUUID": "a8a4d4e0b6c511ee9a0b5f2c1d3e4f50",
                        "meetingCycleSubID": ""},
        "attendeeInfo": {"userUUID": "ff8080817c0b63f6017c0c5a3d6e0a12",
                         "userAgent": "HUAWEI CloudLink/9.1.3 (Windows 10)",
                         "account": "zhangsan@example.com",
                         "participantID": "10086",
                         "displayName": "张三",
                         "joinTime": now_ms - 60000,
                         "leftTime": 0,
                         "role": 1,
                         "callNumber": "+8675528780808"},
    }


def sign_push(cfg, event, payload=None, timestamp=None, nonce=None):
    """The exact text of a signed push (reference section 4) for the config record `cfg`.
    eventInfo is serialized once and that same text is both signed and spliced into the
    body, so 'eventInfo as it stands in the body' is exactly what was signed."""
    ts = int(time.time() * 1000) if timestamp is None else timestamp
    nonce = uuid.uuid4().hex if nonce is None else nonce
    if payload is None:
        payload = default_payload(event, ts)
    event_info = compact({"event": event, "timestamp": ts, "payload": payload})
    app_id = cfg["subscriberId"]
    message = app_id + str(ts) + nonce + event_info
    signature = hmac.new(cfg["subscriberKey"].encode("utf-8"), message.encode("utf-8"),
                         hashlib.sha256).hexdigest()
    body = '{"appID":%s,"timestamp":%d,"nonce":%s,"signature":"%s","eventInfo":%s}' % (
        compact(app_id), ts, compact(nonce), signature, event_info)
    return body, nonce, ts


def check_url(url):
    """Why `url` is not acceptable as a subscriber url, or None."""
    if not isinstance(url, str):
        return "url must be a string"
    if not url.startswith("https://"):
        return "url must start with https://"
    if len(url) > MAX_URL:
        return "url longer than %d chars" % MAX_URL
    if any(ord(c) <= 32 or ord(c) >= 127 for c in url):
        return "url holds a space, a control or a non-ASCII character"
    try:
        u = urllib.parse.urlsplit(url)
        port = u.port
    except ValueError as e:
        return "url does not parse: %s" % e
    if not u.hostname:
        return "url has no host"
    if "@" in u.netloc:
        return "url must not hold user info"
    if u.fragment or url.endswith("#"):
        return "url must not hold a fragment"
    if port == 0:
        return "url has port 0"
    return None


def send_push(st, cfg, event, kind, payload=None, timestamp=None, nonce=None):
    """POST a signed push to cfg's url and record it. Never holds the lock during I/O.
    Returns the record: {seq, kind, id, event, nonce, timestamp, url, sent_body,
    status?, body?, error?, time, seconds} (status and body are the receiver's answer; time
    is when the attempt began, Unix seconds; seconds how long it took)."""
    body, nonce, ts = sign_push(cfg, event, payload, timestamp, nonce)
    rec = {"kind": kind, "id": cfg["id"], "event": event, "nonce": nonce, "timestamp": ts,
           "url": cfg["url"], "sent_body": body}
    _deliver(st, cfg, body, rec)
    if kind == "control" and _push_failed(rec):
        schedule_retry(st, cfg, body, rec, 1, rec["time"])
    return dict(rec)


def _deliver(st, cfg, body, rec):
    """POST `body` to cfg's url, put the answer (or the error) in `rec` and record it."""
    t0 = rec["time"] = time.time()
    try:
        rec["status"], rec["body"] = _post(st, cfg["url"], body.encode("utf-8"))
    except (OSError, http.client.HTTPException, ValueError) as e:  # ssl.SSLError is an OSError
        rec["error"] = "%s: %s" % (type(e).__name__, e)
    rec["seconds"] = round(time.time() - t0, 3)
    with st.lock:
        rec["seq"] = len(st.pushes) + 1
        st.pushes.append(rec)


def _push_failed(rec):
    return "error" in rec or rec.get("status") != 200


def schedule_retry(st, cfg, body, first, attempt, started):
    """Huawei retries a push that was not answered 200: after 30 s, three times, then every
    30 minutes, until 24 hours after the first attempt (reference section 4). With push
    retries on (/control/push-retry, or "push_retry" in the setup) the mock does the same,
    `speed` times faster, each wait timed from the end of the attempt before, sending the very
    same body each time (assumed: the reference does not say whether a retry is signed
    afresh). Each attempt is recorded as a push of kind "retry" with retry_of (the first
    push's seq) and attempt (1, 2, ...)."""
    with st.lock:
        policy, generation = st.push_retry, st.generation
    if policy is None:
        return
    delay = retry_delay(policy, attempt)
    if time.time() + delay - started > policy["for"] / policy["speed"]:
        return    # past the window: dropped, as Huawei drops it

    def fire():
        with st.lock:
            if st.generation != generation:
                return
        rec = {"kind": "retry", "retry_of": first["seq"], "attempt": attempt, "id": cfg["id"],
               "event": first["event"], "nonce": first["nonce"],
               "timestamp": first["timestamp"], "url": cfg["url"], "sent_body": body}
        _deliver(st, cfg, body, rec)
        if _push_failed(rec):
            schedule_retry(st, cfg, body, first, attempt + 1, started)

    timer = threading.Timer(delay, fire)
    timer.daemon = True
    timer.start()


def _post(st, url, data):
    u = urllib.parse.urlsplit(url)
    host = u.hostname
    if host not in PUSH_HOSTS:
        # Test material must never leave the machine.
        raise ValueError("the mock pushes only to %s, not to %r" % (" or ".join(PUSH_HOSTS), host))
    if not st.push_ca:
        raise ValueError("the mock was started without --push-ca: cannot verify %s" % host)
    ctx = ssl.create_default_context(cafile=st.push_ca)
    port = u.port or 443
    target = (u.path or "/") + ("?" + u.query if u.query else "")
    conn = http.client.HTTPSConnection(host, port, timeout=st.push_timeout, context=ctx)
    try:
        # Connect to 127.0.0.1 ourselves ('localhost' could resolve elsewhere), while
        # the certificate is still checked against the url's host name.
        raw = socket.create_connection(("127.0.0.1", port), timeout=st.push_timeout)
        try:
            conn.sock = ctx.wrap_socket(raw, server_hostname=host)
        except BaseException:
            raw.close()
            raise
        conn.request("POST", target, body=data, headers={
            "Content-Type": "application/json", "User-Agent": "HuaweiMock/1.0",
            "Connection": "close"})
        r = conn.getresponse()
        answer = r.read(MAX_BODY + 1)
        if len(answer) > MAX_BODY:
            raise ValueError("receiver answer too large")
        return r.status, answer.decode("utf-8", errors="replace")
    finally:
        conn.close()


def verify_reply(rec):
    """Why the receiver's answer to a meeting.verify push fails the handshake, or None."""
    if "error" in rec:
        return "no answer from %s: %s" % (rec["url"], rec["error"])
    if rec["status"] != 200:
        return "receiver answered HTTP %d" % rec["status"]
    try:
        reply = strict_json(rec["body"])
    except ValueError:
        return "receiver answer is not JSON"
    want = {"event": "meeting.verify", "nonce": rec["nonce"]}
    if not isinstance(reply, dict) or sorted(reply) != ["event", "nonce"]:
        return "receiver answer must be exactly {\"event\":..., \"nonce\":...}"
    if reply["event"] != want["event"]:
        return "receiver answered event %r" % (reply["event"],)
    if reply["nonce"] != want["nonce"]:
        return "receiver echoed the wrong nonce"
    return None


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
        if mock_uploads.route(self.command, path) is not None:
            st.record(rec)
            mock_uploads.serve(self, st, rec, path, ApiError)
            return
        try:
            body = self.read_body()
        except ApiError as e:
            st.record(rec)
            self._answer_error(rec, e, close=True)
            return
        rec["body"] = body.decode("utf-8", errors="replace")
        st.record(rec)
        with st.lock:
            st.in_flight += 1
            st.max_in_flight = max(st.max_in_flight, st.in_flight)
        try:
            self._serve(st, rec, path, query, body)
        finally:
            with st.lock:
                st.in_flight -= 1

    def _serve(self, st, rec, path, query, body):

        delay, rule = st.take_faults(path, query)
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
            elif path in TOKENLESS_ROUTES:
                result = TOKENLESS_ROUTES[path][self.command](self, st, query, body)
            else:
                tok = self.check_token(st)
                if path == CHANGE_STATUS_PATH:
                    result = self.change_status(st, tok, query, body)
                elif path == TOKEN_PATH:
                    result = self.logout(st, tok, query, body)
                elif path in MEETING_ROUTES:
                    result = MEETING_ROUTES[path][self.command](self, st, tok, query, body)
                elif self.command == "POST":
                    result = self.link_config_set(st, tok, query, body)
                elif self.command == "GET":
                    result = self.link_config_get(st, tok, query, body)
                else:
                    result = self.link_config_delete(st, tok, query, body)
        except ApiError as e:
            with st.lock:
                rec["signature_valid"] = self.sig_valid
            self._answer_error(rec, e)
            return
        with st.lock:
            rec["signature_valid"] = self.sig_valid
        # None: a documented empty answer (link-config set/delete, logout).
        out = b"" if result is None else \
            json.dumps(result, separators=(",", ":"), ensure_ascii=False).encode()
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
        extra = [] if rule.get("retry_after") is None else \
            [("Retry-After", str(rule["retry_after"]))]
        self.send_body(rule["status"], rule["body"].encode("utf-8"),
                       content_type=rule["content_type"], headers=extra, close=rule["close"])

    # ---- POST /v2/usg/acs/auth/appauth

    def appauth(self, st, body):
        # Checks run in a fixed order and stop at the first problem, so each test can
        # break exactly one thing and know which code to expect.
        req = json_object_body(self.headers, body, "USG.000000001")

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

        # Optional fields: null and "" mean absent. Huawei's official Python SDK sends
        # "userId": "", "corpId": null and "deptCode": null when they are not set, and it
        # is the SDK's only way to log in, so Huawei takes them as absent.
        user_id = optional_text(req, "userId", 64, "USG.000000013")

        corp_id = optional_text(req, "corpId", 64, "USG.000000008")
        if app["mode"] == "enterprise":
            if corp_id:
                # Assumed: Huawei documents corpId for SP mode only.
                raise ApiError(400, "USG.000000007",
                               "corpId not allowed in single-enterprise mode")
        elif corp_id and corp_id not in app["corp_ids"]:
            raise ApiError(401, "USG.000000008", "corpId not managed by this app")
        for name in APPAUTH_OPTIONAL_TEXT:
            optional_text(req, name, 256, "USG.000000001")

        auth = self.headers.get_all("Authorization") or []
        m = AUTH_RE.fullmatch(auth[0]) if len(auth) == 1 else None
        if m is None:
            raise ApiError(401, "USG.000000009", "Authorization header missing or malformed")
        # Either hex case: the docs and the Java SDK use lowercase, the Python SDK uppercase.
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
        """The caller's token record (a copy, with its text under "token"), or 401."""
        vals = self.headers.get_all("X-Access-Token") or []
        if not vals or vals == [""]:
            raise ApiError(401, "USG.000000004", "X-Access-Token missing")
        tok = st.live_token(vals[0]) if len(vals) == 1 else None
        if tok is None:
            raise ApiError(401, "USG.000000004", "token invalid or expired")
        tok["token"] = vals[0]
        return tok

    @staticmethod
    def query_pairs(query, bad, code=E_BAD_PARAM):
        # parse_qsl silently keeps '%zz' as text; a client that sends that has an
        # escaping bug, so refuse it like any other malformed query.
        if BAD_PERCENT_RE.search(query):
            raise ApiError(400, code, "bad percent-escape in query")
        try:
            return urllib.parse.parse_qsl(query, keep_blank_values=True,
                                          strict_parsing=True, errors="strict")
        except ValueError:
            raise ApiError(400, code, bad) from None

    @staticmethod
    def owned(st, hook_id, tok):
        """Caller holds the lock. Whether hook_id names a record this token may touch: a
        setup record (no owner) or a link-config record of the token's app."""
        cfg = st.configs.get(hook_id)
        return hook_id in st.webhooks and (cfg is None or cfg["app_id"] == tok["app_id"])

    def change_status(self, st, tok, query, body):
        bad = "query must be exactly id=<id>&status=<0|1|2>"
        pairs = self.query_pairs(query, bad)
        # Exactly one id and one status: a duplicate would mean an injected parameter.
        if sorted(k for k, _ in pairs) != ["id", "status"]:
            raise ApiError(400, E_BAD_PARAM, bad)
        params = dict(pairs)
        hook_id = params["id"]
        with st.lock:
            if not self.owned(st, hook_id, tok):
                raise ApiError(400, E_NOT_FOUND, "webhook config not found")
            if params["status"] not in ("0", "1", "2"):
                raise ApiError(400, E_BAD_STATUS, "status must be 0, 1 or 2")
            if body:
                raise ApiError(400, E_BAD_PARAM, "request body must be empty")
            status = int(params["status"])
            cfg = st.configs.get(hook_id)
            if status != 0 or cfg is None:
                # Disable and lock need no handshake; setup records have no url to ask.
                st.webhooks[hook_id] = status
                return {"returnCode": 0, "returnDesc": "success"}
            cfg = dict(cfg)
        # Enabling a record with a url: Huawei first asks the subscriber (meeting.verify).
        # The lock is not held while the receiver answers (up to the push timeout).
        why = verify_reply(send_push(st, cfg, "meeting.verify", "verify"))
        if why is not None:
            # The HTTP result of a failed handshake is assumed (reference section 3).
            raise ApiError(400, E_VERIFY_FAILED, "event push verification failed: " + why)
        with st.lock:
            if hook_id not in st.configs:    # deleted or replaced meanwhile
                raise ApiError(400, E_NOT_FOUND, "webhook config not found")
            st.webhooks[hook_id] = 0
        return {"returnCode": 0, "returnDesc": "success"}

    # ---- /v1/mmc/management/webhook/link-config

    @staticmethod
    def corp_sp(value, name):
        """An optional corpId/spId: None (null) and "" mean absent and give None."""
        if value is None or value == "":
            return None
        if not isinstance(value, str) or len(value) > 64:
            raise ApiError(400, E_CORP_SP, "%s must be a string of 0..64 chars, or null" % name)
        return value

    def link_config_set(self, st, tok, query, body):
        if query:
            raise ApiError(400, E_BAD_PARAM, "link-config POST takes no query")
        req = json_object_body(self.headers, body, E_BAD_PARAM)
        allowed = ("subscriberId", "subscriberKey", "url", "corpId", "spId")
        extra = sorted(set(req) - set(allowed))
        if extra:
            raise ApiError(400, E_BAD_PARAM, "unknown fields: %s" % ", ".join(extra))
        sub_id, sub_key, url = req.get("subscriberId"), req.get("subscriberKey"), req.get("url")
        if not isinstance(sub_id, str) or not 1 <= len(sub_id) <= 64:
            raise ApiError(400, E_SUBSCRIBER_ID, "subscriberId must be a string of 1..64 chars")
        if not isinstance(sub_key, str) or not 1 <= len(sub_key) <= 128:
            raise ApiError(400, E_SUBSCRIBER_KEY,
                           "subscriberKey must be a string of 1..128 chars")
        if "url" not in req:
            raise ApiError(400, E_URL, "url is required")
        why = check_url(url)
        if why is not None:
            raise ApiError(400, E_URL, why)
        cfg = {"app_id": tok["app_id"], "subscriberId": sub_id, "subscriberKey": sub_key,
               "url": url}
        for name in ("corpId", "spId"):
            value = self.corp_sp(req.get(name), name)
            if value is not None:
                cfg[name] = value
        cfg["scope"] = cfg.get("corpId", tok["corp_id"])
        with st.lock:
            old = st.config_ids.get((cfg["app_id"], cfg["scope"]))
            if old is not None:      # replaced: the old id is gone
                st.configs.pop(old, None)
                st.webhooks.pop(old, None)
            cfg["id"] = uuid.uuid4().hex
            st.configs[cfg["id"]] = cfg
            st.config_ids[(cfg["app_id"], cfg["scope"])] = cfg["id"]
            st.webhooks[cfg["id"]] = 1     # assumed: a new config starts disabled
        return None

    def link_config_get(self, st, tok, query, body):
        bad = "query may only hold corpId and spId, each at most once"
        pairs = self.query_pairs(query, bad)
        keys = [k for k, _ in pairs]
        if len(set(keys)) != len(keys) or not set(keys) <= {"corpId", "spId"}:
            raise ApiError(400, E_BAD_PARAM, bad)
        params = {k: self.corp_sp(v, k) for k, v in pairs}
        params = {k: v for k, v in params.items() if v is not None}
        if body:
            raise ApiError(400, E_BAD_PARAM, "request body must be empty")
        scope = params.get("corpId", tok["corp_id"])
        with st.lock:
            hook_id = st.config_ids.get((tok["app_id"], scope))
            if hook_id is None:
                # Assumed: Huawei documents no answer for "nothing configured".
                raise ApiError(404, E_NOT_FOUND, "webhook config not found")
            cfg = st.configs[hook_id]
            return {"id": hook_id, "subscriberId": cfg["subscriberId"], "url": cfg["url"],
                    "status": st.webhooks[hook_id], "returnCode": 0, "returnDesc": "success"}

    def link_config_delete(self, st, tok, query, body):
        bad = "query must be exactly id=<id>"
        pairs = self.query_pairs(query, bad)
        if [k for k, _ in pairs] != ["id"]:
            raise ApiError(400, E_BAD_PARAM, bad)
        hook_id = pairs[0][1]
        with st.lock:
            if not self.owned(st, hook_id, tok):
                raise ApiError(400, E_NOT_FOUND, "webhook config not found")
            if body:
                raise ApiError(400, E_BAD_PARAM, "request body must be empty")
            cfg = st.configs.pop(hook_id, None)
            if cfg is not None:
                st.config_ids.pop((cfg["app_id"], cfg["scope"]), None)
            del st.webhooks[hook_id]
        return None

    # ---- DELETE /v1/usg/acs/token

    def logout(self, st, tok, query, body):
        if query or body:
            raise ApiError(400, "USG.000000001", "logout takes no query and no body")
        with st.lock:
            live = st.tokens.get(tok["token"])
            if live is None or not st._live(live, time.time()):   # setup or revoke meanwhile
                raise ApiError(401, "USG.000000004", "token invalid or expired")
            live["revoked"] = live["logged_out"] = True
        return None


# --------------------------------------------------------------------------- meetings
# A few of Huawei's meeting APIs, so that mmc's generic call (client:request) is tested on
# real routes. Paths, query names and fields follow Huawei's API reference and its Python SDK
# (huaweicloudsdkmeeting/v1: SearchMeetings, ShowMeetingDetail, CreateMeeting, CancelMeeting).
# Decided here (assumed): every app starts with two scheduled meetings; an unknown
# conferenceID is 404 E_CONF_NOT_FOUND; a bad parameter is 400 E_BAD_PARAM; unknown query
# names and body fields are refused (as everywhere in this mock).

CONFERENCES_PATH = "/v1/mmc/management/conferences"
CONF_DETAIL_PATH = "/v1/mmc/management/conferences/confDetail"
E_CONF_NOT_FOUND = "MMC.111071001"
SEARCH_QUERY = ("userUUID", "offset", "limit", "queryAll", "searchKey", "queryConfMode",
                "sortType")
DETAIL_QUERY = ("conferenceID", "offset", "limit", "searchKey", "userUUID")
CANCEL_QUERY = ("conferenceID", "userUUID", "type")
SCHEDULE_FIELDS = ("startTime", "length", "subject", "mediaTypes", "groupuri", "attendees",
                   "isAutoRecord", "encryptMode", "language", "timeZoneID", "recordType",
                   "liveAddress", "auxAddress", "recordAuxStream", "confConfigInfo",
                   "recordAuthType", "vmrFlag", "cycleParams", "vmrID",
                   "concurrentParticipants", "supportSimultaneousInterpretation",
                   "confResType")


def _conference(conference_id, subject, start, length, media="Voice,HDVideo"):
    """A ConferenceInfo as SearchMeetings and ShowMeetingDetail return it (a subset)."""
    end = time.strftime("%Y-%m-%d %H:%M",
                        time.gmtime(time.mktime(time.strptime(start, "%Y-%m-%d %H:%M"))
                                    + 60 * length))
    return {"conferenceID": conference_id, "subject": subject, "size": 2,
            "timeZoneID": "56", "startTime": start, "endTime": end, "mediaTypes": media,
            "conferenceState": "Schedule", "language": "zh-CN",
            "accessNumber": "+991117", "userUUID": "ff808081699b56cb0169be103500012b",
            "scheduserName": "Mock User", "conferenceType": 0, "confType": "FUTURE",
            "isAutoRecord": 0, "recordType": 0, "vmrFlag": 0,
            "chairJoinUri": "https://c.meeting.huaweicloud.com/#/j/%s" % conference_id,
            "guestJoinUri": "https://c.meeting.huaweicloud.com/#/j/%s" % conference_id,
            "partAttendeeInfo": [{"name": "Zhang San", "phone": "+8657*******",
                                  "role": 1}],
            "terminlCount": 0, "normalCount": 2, "deptName": "Mock Corp"}


def _conferences(st, app_id):
    """Caller holds the lock. The app's meetings, seeded on first use: the two above, then
    generated ones up to the setup's "meetings" (mock_control.py; 1,000 by default), one an
    hour from 2030-02-01 00:00 UTC, conferenceIDs 920000000 up, subjects "Meeting N"."""
    if app_id not in st.conferences:
        seeded = [
            _conference("914083136", "Weekly sync", "2030-01-07 02:00", 60),
            _conference("914083137", "Release review: Q1", "2030-01-08 06:30", 30, "Voice"),
        ]
        base = time.mktime(time.strptime("2030-02-01 00:00", "%Y-%m-%d %H:%M"))
        for i in range(getattr(st, "meeting_count", 2) - len(seeded)):
            start = time.strftime("%Y-%m-%d %H:%M", time.localtime(base + 3600 * i))
            seeded.append(_conference(str(920000000 + i), "Meeting %d" % (i + 1), start, 30))
        st.conferences[app_id] = seeded
    return st.conferences[app_id]


def _meeting_query(query, allowed):
    """The query's parameters as a dict, each at most once and among `allowed`."""
    pairs = ApiHandler.query_pairs(query, "malformed query")
    names = [k for k, _ in pairs]
    unknown = sorted(set(names) - set(allowed))
    if unknown:
        raise ApiError(400, E_BAD_PARAM, "unknown query parameters: %s" % ", ".join(unknown))
    if len(set(names)) != len(names):
        raise ApiError(400, E_BAD_PARAM, "a query parameter is repeated")
    params = dict(pairs)
    for name, low, high in (("offset", 0, 1 << 31), ("limit", 1, 500)):
        if name in params:
            if not re.fullmatch(r"[0-9]{1,10}", params[name]) or \
                    not low <= int(params[name]) <= high:
                raise ApiError(400, E_BAD_PARAM, "%s must be an integer from %d to %d"
                               % (name, low, high))
    if "searchKey" in params and not 1 <= len(params["searchKey"]) <= 128:
        raise ApiError(400, E_BAD_PARAM, "searchKey must be 1 to 128 characters")
    return params


def _page(items, params):
    offset, limit = int(params.get("offset", 0)), int(params.get("limit", 20))
    return {"offset": offset, "limit": limit, "count": len(items),
            "data": items[offset:offset + limit]}


def _search_meetings(handler, st, tok, query, body):
    params = _meeting_query(query, SEARCH_QUERY)
    if body:
        raise ApiError(400, E_BAD_PARAM, "request body must be empty")
    if params.get("queryAll", "false") not in ("true", "false"):
        raise ApiError(400, E_BAD_PARAM, "queryAll must be true or false")
    if params.get("queryConfMode", "ALL") not in ("ADAY", "AWEEK", "AMONTH", "ALL"):
        raise ApiError(400, E_BAD_PARAM, "queryConfMode must be ADAY, AWEEK, AMONTH or ALL")
    if params.get("sortType", "ASC_StartTIME") not in ("ASC_StartTIME", "DSC_StartTIME"):
        raise ApiError(400, E_BAD_PARAM, "sortType must be ASC_StartTIME or DSC_StartTIME")
    key = params.get("searchKey")
    with st.lock:
        found = [dict(c) for c in _conferences(st, tok["app_id"])
                 if key is None or key in c["subject"] or key == c["conferenceID"]]
    found.sort(key=lambda c: c["startTime"],
               reverse=params.get("sortType") == "DSC_StartTIME")
    return _page(found, params)


def _show_meeting_detail(handler, st, tok, query, body):
    params = _meeting_query(query, DETAIL_QUERY)
    if "conferenceID" not in params:
        raise ApiError(400, E_BAD_PARAM, "conferenceID is required")
    with st.lock:
        found = [dict(c) for c in _conferences(st, tok["app_id"])
                 if c["conferenceID"] == params["conferenceID"]]
    if not found:
        raise ApiError(404, E_CONF_NOT_FOUND, "conference not found")
    participants = [{"participantID": "+99111283%03d" % i, "name": name, "role": role,
                     "state": "MEETTING", "attendeeType": "normal"}
                    for i, (name, role) in enumerate((("Mock User", 1), ("Zhang San", 0)))]
    return {"conferenceData": found[0], "data": _page(participants, params)}


def _create_meeting(handler, st, tok, query, body):
    _meeting_query(query, ("userUUID",))
    req = json_object_body(handler.headers, body, E_BAD_PARAM)
    unknown = sorted(set(req) - set(SCHEDULE_FIELDS))
    if unknown:
        raise ApiError(400, E_BAD_PARAM, "unknown fields: %s" % ", ".join(unknown))
    media = req.get("mediaTypes")
    if not isinstance(media, str) or not media or \
            not set(media.split(",")) <= {"Voice", "Video", "HDVideo", "Data"}:
        raise ApiError(400, E_BAD_PARAM, "mediaTypes is required: Voice, Video, HDVideo, Data")
    subject = req.get("subject", "")
    if not isinstance(subject, str) or len(subject) > 128:
        raise ApiError(400, E_BAD_PARAM, "subject must be at most 128 characters")
    length = req.get("length", 30)
    if not is_int(length) or not 15 <= length <= 1440:
        raise ApiError(400, E_BAD_PARAM, "length must be an integer from 15 to 1440 minutes")
    start = req.get("startTime") or time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    try:
        time.strptime(start, "%Y-%m-%d %H:%M")
    except (TypeError, ValueError):
        raise ApiError(400, E_BAD_PARAM, "startTime must be yyyy-MM-dd HH:mm") from None
    with st.lock:
        meetings = _conferences(st, tok["app_id"])
        st.conference_seq += 1
        conference = _conference(str(st.conference_seq), subject, start, length, media)
        meetings.append(conference)
        return [dict(conference)]


def _cancel_meeting(handler, st, tok, query, body):
    params = _meeting_query(query, CANCEL_QUERY)
    if "conferenceID" not in params:
        raise ApiError(400, E_BAD_PARAM, "conferenceID is required")
    with st.lock:
        meetings = _conferences(st, tok["app_id"])
        kept = [c for c in meetings if c["conferenceID"] != params["conferenceID"]]
        if len(kept) == len(meetings):
            raise ApiError(404, E_CONF_NOT_FOUND, "conference not found")
        st.conferences[tok["app_id"]] = kept
    return None


MEETING_ROUTES = {
    CONFERENCES_PATH: {"GET": _search_meetings, "POST": _create_meeting,
                       "DELETE": _cancel_meeting},
    CONF_DETAIL_PATH: {"GET": _show_meeting_detail},
}
ROUTES.update({path: tuple(methods) for path, methods in MEETING_ROUTES.items()})

# Meeting control and the meeting count (a module of its own); it adds to TOKENLESS_ROUTES,
# SETUP_EXTENSIONS and CONTROL_ROUTES through install().
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mock_control  # noqa: E402  (needs the names above)


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
    _check_keys(arg, ("status", "body", "content_type", "count", "path", "query", "close",
                      "drop", "retry_after"), "fail")
    rule = {"status": arg.get("status"), "body": arg.get("body", ""),
            "content_type": arg.get("content_type", JSON_CT),
            "remaining": arg.get("count", 1), "path": arg.get("path", ""),
            "query": arg.get("query", ""),
            "close": arg.get("close", False), "drop": arg.get("drop", False),
            "retry_after": arg.get("retry_after")}
    if rule["retry_after"] is not None and (not is_int(rule["retry_after"])
                                            or not 0 <= rule["retry_after"] <= 3600):
        raise BadInput("retry_after must be an integer 0..3600 or null")
    if not is_int(rule["status"]) or not 200 <= rule["status"] <= 599:
        raise BadInput("status must be an integer 200..599")
    for k in ("body", "content_type", "path", "query"):
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


def c_in_flight(st, arg):
    with st.lock:
        return {"ok": True, "in_flight": st.in_flight, "max_in_flight": st.max_in_flight}


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
        logged_out = sum(1 for t in st.tokens.values() if t["logged_out"])
        return {"ok": True, "issued": len(st.tokens), "active": active,
                "logged_out": logged_out}


def _push_args(st, arg, what):
    """Validate a push/sign-push request; return (cfg copy, event, kwargs for sign_push)."""
    _check_keys(arg, ("id", "event", "payload", "timestamp", "nonce"), what)
    hook_id, event = arg.get("id"), arg.get("event")
    if not isinstance(hook_id, str):
        raise BadInput("id must be a string")
    if event not in PUSH_EVENTS:
        raise BadInput("event must be one of %s" % ", ".join(PUSH_EVENTS))
    kw = {}
    if "payload" in arg:
        if not isinstance(arg["payload"], dict):
            raise BadInput("payload must be a JSON object")
        kw["payload"] = arg["payload"]
    if "timestamp" in arg:
        if not is_int(arg["timestamp"]) or arg["timestamp"] < 0:
            raise BadInput("timestamp must be an integer >= 0 (Unix ms)")
        kw["timestamp"] = arg["timestamp"]
    if "nonce" in arg:
        if not isinstance(arg["nonce"], str) or not 1 <= len(arg["nonce"]) <= 128:
            raise BadInput("nonce must be a string of 1..128 chars")
        kw["nonce"] = arg["nonce"]
    with st.lock:
        cfg = st.configs.get(hook_id)
        if cfg is None:
            if hook_id in st.webhooks:
                raise BadInput("webhook %r comes from setup and has no url; make one with "
                               "link-config" % hook_id)
            raise BadInput("no webhook config %r" % hook_id)
        return dict(cfg), event, kw


def c_push(st, arg):
    # Sent whatever the record's status: the specs decide when a push happens.
    cfg, event, kw = _push_args(st, arg, "push")
    rec = send_push(st, cfg, event, "control", **kw)
    return dict(rec, ok=True)


def c_sign_push(st, arg):
    cfg, event, kw = _push_args(st, arg, "sign-push")
    body, nonce, ts = sign_push(cfg, event, **kw)
    return {"ok": True, "body": body, "nonce": nonce, "timestamp": ts}


def c_push_retry(st, arg):
    """How a push sent by /control/push and not answered 200 is retried: {} is Huawei's
    schedule, again after `first` (30) seconds `times` (3) times, then every `every` (1800)
    seconds, while within `for` (86400) seconds of the first attempt; `speed` (1) divides
    every one of those times (600: the whole day in 144 s). Any of them may be given.
    {"off": true} stops retrying (the default, unless the setup says "push_retry")."""
    policy = retry_policy(arg)
    with st.lock:
        st.push_retry = policy
    return {"ok": True, "push_retry": policy}


def c_pushes(st, arg):
    with st.lock:
        return {"ok": True, "pushes": [dict(p) for p in st.pushes]}


def c_webhook_config(st, arg):
    with st.lock:
        configs = []
        for hook_id, cfg in st.configs.items():     # creation order
            c = {k: v for k, v in cfg.items() if k != "scope"}
            c["status"] = st.webhooks[hook_id]
            configs.append(c)
        return {"ok": True, "configs": configs}


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
    ("GET", "/control/in-flight"): c_in_flight,
    ("GET", "/control/tls-errors"): c_tls_errors,
    ("POST", "/control/push"): c_push,
    ("POST", "/control/sign-push"): c_sign_push,
    ("GET", "/control/pushes"): c_pushes,
    ("POST", "/control/push-retry"): c_push_retry,
    ("GET", "/control/webhook-config"): c_webhook_config,
}
mock_control.install(sys.modules[__name__])


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


# --------------------------------------------------------------------------- more routes
# Each in a module of its own (spec/mock/), which adds its routes to the tables above.
import mock_recordings  # noqa: E402  (downloadurls and the file host)
mock_recordings.install(sys.modules[__name__])


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
    p.add_argument("--push-ca", help="CA (PEM) that verifies subscriber URLs for pushes")
    p.add_argument("--push-timeout", type=float, default=DEFAULT_PUSH_TIMEOUT,
                   help="seconds per socket operation of a push (default %(default)s)")
    p.add_argument("--plain", action="store_true", help="serve the API over plain HTTP")
    p.add_argument("--verbose", action="store_true")
    mock_recordings.add_arguments(p)
    a = p.parse_args(argv)
    if not a.plain and not (a.cert and a.key):
        p.error("--cert and --key are required unless --plain")

    if a.push_timeout <= 0:
        p.error("--push-timeout must be > 0")
    state = State(push_ca=a.push_ca, push_timeout=a.push_timeout)
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
    files = mock_recordings.start(a, state, ctx)

    ready = json.dumps(dict({"port": api.server_address[1], "control_port": ctl.server_address[1],
                             "pid": os.getpid()}, **files.ready()))
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
    files.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
