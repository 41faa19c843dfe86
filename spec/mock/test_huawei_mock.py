"""Self-test of the Huawei API mock (huawei_mock.py).

Run from the repository root:
    python3 -m unittest discover -s spec/mock -p 'test_*.py'

Starts the mock as a real subprocess (as the project's harness does), with throw-away
certificates from make_certs.sh, and talks to it with http.client + ssl. The client side
here computes signatures itself with hmac, independently of the mock's code.
"""

import base64
import hashlib
import hmac
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
MOCK = os.path.join(HERE, "huawei_mock.py")
MAKE_CERTS = os.path.join(HERE, "make_certs.sh")

APPAUTH = "/v2/usg/acs/auth/appauth"
CHANGE = "/v1/mmc/management/webhook/change-status"
JSON_CT = "application/json;charset=UTF-8"

ENT = ("app-enterprise", "enterprise-key-0123456789", "enterprise")
SP = ("app-sp", "sp-key-abcdef", "sp")
HOOK = "b958adc3639b11ecb310e97279c39e66"
ODD_HOOK = "hook two/&="          # needs percent-encoding in a query
SETUP = {
    "apps": [
        {"app_id": ENT[0], "app_key": ENT[1], "mode": "enterprise"},
        {"app_id": SP[0], "app_key": SP[1], "mode": "sp", "corp_ids": ["corp-a", "corp-b"]},
    ],
    "token_valid_period": 86400,
    "webhook_ids": [HOOK, ODD_HOOK],
}

CERTS = None     # temp dir with make_certs.sh output
MAIN = None      # the shared mock process


def b64(s):
    return base64.b64encode(s.encode()).decode()


class Mock:
    """One mock subprocess, started from the command line like the harness does."""

    def __init__(self, *extra, cert="server"):
        self.dir = tempfile.mkdtemp(prefix="mmc-mock-")
        ready = os.path.join(self.dir, "ready.json")
        self.stderr = open(os.path.join(self.dir, "stderr.log"), "w+")
        args = [sys.executable, MOCK, "--cert", os.path.join(CERTS, cert + ".pem"),
                "--key", os.path.join(CERTS, cert + ".key"), "--ready-file", ready, *extra]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        deadline = time.time() + 10
        while not os.path.exists(ready):
            if self.proc.poll() is not None or time.time() > deadline:
                self.stderr.seek(0)
                raise RuntimeError("mock did not start: " + self.stderr.read())
            time.sleep(0.02)
        with open(ready) as f:
            self.info = json.load(f)
        self.stdout_line = self.proc.stdout.readline()
        self.port, self.control_port = self.info["port"], self.info["control_port"]

    def control(self, method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.control_port, timeout=5)
        try:
            data = None if body is None else json.dumps(body)
            conn.request(method, path, body=data,
                         headers={"Content-Type": "application/json"} if data else {})
            r = conn.getresponse()
            return r.status, json.loads(r.read())
        finally:
            conn.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=5)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdout.close()
            self.stderr.close()
            shutil.rmtree(self.dir, ignore_errors=True)
        return rc


def setUpModule():
    global CERTS, MAIN
    CERTS = tempfile.mkdtemp(prefix="mmc-certs-")
    subprocess.run(["bash", MAKE_CERTS, CERTS], check=True)
    MAIN = Mock()


def tearDownModule():
    if MAIN is not None:
        MAIN.stop()
    shutil.rmtree(CERTS, ignore_errors=True)


class Base(unittest.TestCase):
    mock = None

    def setUp(self):
        self.mock = MAIN
        status, out = self.mock.control("POST", "/control/setup", SETUP)
        self.assertEqual((status, out["ok"]), (200, True))

    def ctl(self, method, path, body=None):
        return self.mock.control(method, path, body)

    def conn(self, cafile="ca.pem", host="127.0.0.1"):
        ctx = ssl.create_default_context(cafile=os.path.join(CERTS, cafile))
        return http.client.HTTPSConnection(host, self.mock.port, context=ctx, timeout=5)

    def api(self, method, target, body=None, headers=None, conn=None):
        own = conn is None
        conn = conn or self.conn()
        try:
            conn.request(method, target, body=body, headers=headers or {})
            r = conn.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            if own:
                conn.close()

    def auth(self, app=ENT, user_id=None, corp_id=None, expire=None, nonce=None,
             patch=None, drop=(), authz=None, sign_parts=None, sign_key=None, upper=False,
             content_type="application/json; charset=UTF-8", raw=None, conn=None):
        """An App ID authentication request, correct unless told otherwise."""
        app_id, key, mode = app
        expire = int(time.time()) + 600 if expire is None else expire
        nonce = uuid.uuid4().hex if nonce is None else nonce
        body = {"appId": app_id, "clientType": 72, "expireTime": expire, "nonce": nonce}
        if user_id is not None:
            body["userId"] = user_id
        if corp_id is not None:
            body["corpId"] = corp_id
        parts = sign_parts or ([app_id] + ([corp_id or ""] if mode == "sp" else [])
                               + [user_id or "", str(expire), nonce])
        sig = hmac.new((sign_key or key).encode(), ":".join(parts).encode(),
                       hashlib.sha256).hexdigest()
        sig = sig.upper() if upper else sig
        body.update(patch or {})
        for k in drop:
            body.pop(k, None)
        headers = {}
        if content_type is not None:
            headers["Content-Type"] = content_type
        if authz is None:
            headers["Authorization"] = "HMAC-SHA256 signature=%s,access=%s" % (sig, b64(app_id))
        elif callable(authz):      # authz=False: no Authorization header at all
            headers["Authorization"] = authz(sig, b64(app_id))
        data = raw if raw is not None else json.dumps(body).encode()
        status, hdrs, out = self.api("POST", APPAUTH, data, headers, conn)
        return status, hdrs, json.loads(out)

    def login(self, app=ENT, **kw):
        status, _, out = self.auth(app, **kw)
        self.assertEqual(status, 200, out)
        return out["accessToken"]

    def requests(self):
        return self.ctl("GET", "/control/requests")[1]["requests"]

    def assertError(self, result, status, code):
        got_status, hdrs, out = result
        self.assertEqual((got_status, out.get("error_code")), (status, code), out)
        self.assertRegex(hdrs["x-request-id"], r"^[0-9a-f]{32}$")
        self.assertEqual(out["request_id"], hdrs["x-request-id"])
        self.assertEqual(hdrs["content-type"], JSON_CT)

    def put(self, query, token=None, body=None, method="PUT", path=CHANGE):
        headers = {} if token is None else {"X-Access-Token": token}
        target = path + ("?" + query if query is not None else "")
        status, hdrs, out = self.api(method, target, body, headers)
        return status, hdrs, out

    def put_json(self, *a, **kw):
        status, hdrs, out = self.put(*a, **kw)
        return status, hdrs, json.loads(out)


class AppAuthTests(Base):

    def test_enterprise_admin(self):
        before = time.time()
        status, hdrs, out = self.auth()
        self.assertEqual(status, 200, out)
        self.assertEqual(hdrs["content-type"], JSON_CT)
        self.assertRegex(hdrs["x-request-id"], r"^[0-9a-f]{32}$")
        self.assertRegex(out["accessToken"], r"^[A-Za-z0-9]{40}$")
        self.assertRegex(out["refreshToken"], r"^[A-Za-z0-9]{40}$")
        self.assertEqual(out["validPeriod"], 86400)
        self.assertLessEqual(abs(out["expireTime"] - out["createTime"] // 1000 - 86400), 1)
        self.assertLessEqual(int(before * 1000) - 1, out["createTime"])
        self.assertEqual(out["refreshValidPeriod"], 2 * 86400)
        self.assertEqual((out["clientType"], out["tokenType"], out["firstLogin"]), (72, 0, False))
        self.assertEqual(out["user"], {"userId": "admin", "companyId": "corp-1", "spId": "",
                                       "name": "Mock User", "userType": 2, "adminType": 2})
        rec = self.requests()[-1]
        self.assertEqual((rec["status"], rec["error_code"], rec["signature_valid"]),
                         (200, None, True))
        self.assertEqual(self.ctl("GET", "/control/tokens")[1],
                         {"ok": True, "issued": 1, "active": 1})

    def test_user_with_uppercase_hex(self):
        status, _, out = self.auth(user_id="alice", upper=True)
        self.assertEqual(status, 200, out)
        self.assertEqual((out["user"]["userId"], out["user"]["adminType"]), ("alice", 0))

    def test_empty_user_id_and_never_expiring_signature(self):
        self.assertEqual(self.auth(user_id="")[0], 200)
        self.assertEqual(self.auth(expire=0)[0], 200)

    def test_sp_mode(self):
        status, _, out = self.auth(SP, corp_id="corp-b", user_id="bob")
        self.assertEqual(status, 200, out)
        self.assertEqual((out["user"]["companyId"], out["user"]["spId"]), ("corp-b", "sp-1"))
        # SP administrator: both corpId and userId empty, "app:::expire:nonce".
        self.assertEqual(self.auth(SP)[0], 200)
        self.assertEqual(self.auth(SP, corp_id="")[0], 200)

    def test_rejections(self):
        now = int(time.time())
        space = lambda s, a: "HMAC-SHA256 signature=%s, access=%s" % (s, a)
        cases = [
            ("text/plain", dict(content_type="text/plain"), 400, "USG.000000001"),
            ("no content type", dict(content_type=None), 400, "USG.000000001"),
            ("not json", dict(raw=b"{appId:"), 400, "USG.000000001"),
            ("not utf-8", dict(raw=b'{"appId":"\xff"}'), 400, "USG.000000001"),
            ("json array", dict(raw=b"[]"), 400, "USG.000000001"),
            ("duplicate key", dict(raw=b'{"clientType":72,"clientType":72}'), 400, "USG.000000001"),
            ("clientType string", dict(patch={"clientType": "72"}), 400, "USG.000000002"),
            ("clientType bool", dict(patch={"clientType": True}), 400, "USG.000000002"),
            ("clientType float", dict(patch={"clientType": 72.0}), 400, "USG.000000002"),
            ("clientType 73", dict(patch={"clientType": 73}), 400, "USG.000000002"),
            ("clientType missing", dict(drop=["clientType"]), 400, "USG.000000002"),
            ("appId unknown", dict(patch={"appId": "nobody"}), 401, "USG.000000003"),
            ("appId too long", dict(patch={"appId": "a" * 65}), 400, "USG.000000003"),
            ("appId number", dict(patch={"appId": 5}), 400, "USG.000000003"),
            ("nonce 31", dict(nonce="n" * 31), 400, "USG.000000005"),
            ("nonce 65", dict(nonce="n" * 65), 400, "USG.000000005"),
            ("nonce missing", dict(drop=["nonce"]), 400, "USG.000000005"),
            ("expired", dict(expire=now - 1), 401, "USG.000000006"),
            ("expireTime bool", dict(patch={"expireTime": True}), 400, "USG.000000006"),
            ("expireTime string", dict(patch={"expireTime": str(now + 60)}), 400, "USG.000000006"),
            ("expireTime negative", dict(expire=-5), 400, "USG.000000006"),
            ("userId too long", dict(user_id="u" * 65), 400, "USG.000000013"),
            ("userId null", dict(patch={"userId": None}), 400, "USG.000000013"),
            ("corpId in enterprise", dict(corp_id="corp-a"), 400, "USG.000000007"),
            ("empty corpId in enterprise", dict(corp_id=""), 400, "USG.000000007"),
            ("unknown corpId", dict(app=SP, corp_id="corp-x"), 401, "USG.000000008"),
            ("no Authorization", dict(authz=False), 401, "USG.000000009"),
            ("space after comma", dict(authz=space), 401, "USG.000000009"),
            ("no access", dict(authz=lambda s, a: "HMAC-SHA256 signature=" + s), 401,
             "USG.000000009"),
            ("lowercase scheme", dict(authz=lambda s, a: "hmac-sha256 signature=%s,access=%s"
                                      % (s, a)), 401, "USG.000000009"),
            ("short signature", dict(authz=lambda s, a: "HMAC-SHA256 signature=%s,access=%s"
                                     % (s[:63], a)), 401, "USG.000000009"),
            ("access of other app", dict(authz=lambda s, a: "HMAC-SHA256 signature=%s,access=%s"
                                         % (s, b64(SP[0]))), 401, "USG.000000010"),
            ("access not base64", dict(authz=lambda s, a: "HMAC-SHA256 signature=%s,access=abc"
                                       % s), 401, "USG.000000010"),
            ("wrong key", dict(sign_key="not-the-key"), 401, "USG.000000011"),
            ("signed other user", dict(
                user_id="alice", nonce="x" * 32, expire=now + 60,
                sign_parts=[ENT[0], "bob", str(now + 60), "x" * 32]), 401, "USG.000000011"),
            ("signed SP form in enterprise", dict(
                nonce="y" * 32, expire=now + 60,
                sign_parts=[ENT[0], "", "", str(now + 60), "y" * 32]), 401, "USG.000000011"),
            ("SP signed without corpId", dict(
                app=SP, corp_id="corp-a", nonce="z" * 32, expire=now + 60,
                sign_parts=[SP[0], "", str(now + 60), "z" * 32]), 401, "USG.000000011"),
            # Several problems at once: the first in check order wins.
            ("first problem wins", dict(patch={"clientType": 1}, sign_key="bad"), 400,
             "USG.000000002"),
        ]
        for name, kw, status, code in cases:
            with self.subTest(name):
                self.assertError(self.auth(**kw), status, code)
        recs = self.requests()
        self.assertEqual(len(recs), len(cases))
        self.assertTrue(all(r["status"] != 200 for r in recs))
        self.assertEqual(self.ctl("GET", "/control/tokens")[1]["issued"], 0)
        by_code = {r["error_code"]: r["signature_valid"] for r in recs}
        self.assertIs(by_code["USG.000000011"], False)
        self.assertIsNone(by_code["USG.000000002"])

    def test_replay_and_nonce_scope(self):
        nonce = uuid.uuid4().hex
        # A rejected request does not burn its nonce ...
        self.assertError(self.auth(nonce=nonce, sign_key="bad"), 401, "USG.000000011")
        self.assertEqual(self.auth(nonce=nonce)[0], 200)
        # ... a successful one does, even with a different userId.
        self.assertError(self.auth(nonce=nonce, user_id="other"), 401, "USG.000000012")
        self.assertIs(self.requests()[-1]["signature_valid"], True)
        # Nonces are per app.
        self.assertEqual(self.auth(SP, nonce=nonce)[0], 200)

    def test_token_limit_per_user(self):
        self.ctl("POST", "/control/setup", dict(SETUP, max_tokens_per_user=2))
        t1, t2, t3 = (self.login() for _ in range(3))
        self.login(user_id="someone-else")
        query = "id=%s&status=0" % HOOK
        self.assertError(self.put_json(query, t1), 401, "USG.000000004")   # evicted
        for t in (t2, t3):
            self.assertEqual(self.put(query, t)[0], 200)


class WebhookTests(Base):

    def test_change_status(self):
        token = self.login()
        status, hdrs, out = self.put("id=%s&status=0" % HOOK, token)
        self.assertEqual((status, out), (200, b'{"returnCode":0,"returnDesc":"success"}'))
        self.assertEqual(len(out), 39)
        self.assertRegex(hdrs["x-request-id"], r"^[0-9a-f]{32}$")
        self.assertEqual(self.ctl("GET", "/control/webhooks")[1]["webhooks"],
                         {HOOK: 0, ODD_HOOK: 1})
        # Parameter order does not matter; percent-encoded ids are decoded.
        q = "status=2&id=" + urllib.parse.quote(ODD_HOOK, safe="")
        self.assertEqual(self.put(q, token)[0], 200)
        self.assertEqual(self.ctl("GET", "/control/webhooks")[1]["webhooks"][ODD_HOOK], 2)

    def test_token_checks(self):
        good = "id=%s&status=0" % HOOK
        self.assertError(self.put_json(good), 401, "USG.000000004")
        self.assertError(self.put_json(good, "x" * 40), 401, "USG.000000004")
        # The token is checked before the query.
        self.assertError(self.put_json("garbage", None), 401, "USG.000000004")
        t1, t2 = self.login(), self.login()
        self.assertEqual(self.ctl("POST", "/control/revoke", {"token": t1})[1]["revoked"], 1)
        self.assertError(self.put_json(good, t1), 401, "USG.000000004")
        self.assertEqual(self.put(good, t2)[0], 200)
        self.assertEqual(self.ctl("POST", "/control/revoke")[1]["revoked"], 1)
        self.assertError(self.put_json(good, t2), 401, "USG.000000004")
        self.assertEqual(self.ctl("GET", "/control/tokens")[1],
                         {"ok": True, "issued": 2, "active": 0})
        # Expired: a zero lifetime expires at once.
        self.ctl("POST", "/control/setup", dict(SETUP, token_valid_period=0))
        self.assertError(self.put_json(good, self.login()), 401, "USG.000000004")

    def test_query_rejections(self):
        token = self.login()
        cases = [
            (None, "MMC.111070001"),
            ("", "MMC.111070001"),
            ("id=%s" % HOOK, "MMC.111070001"),
            ("id=%s&status=1&x=1" % HOOK, "MMC.111070001"),
            ("id=%s&status=0&status=1" % HOOK, "MMC.111070001"),   # injected parameter
            ("id=%s&&status=1" % HOOK, "MMC.111070001"),
            ("id=%s&status=1&" % HOOK, "MMC.111070001"),
            ("id=%s&STATUS=1" % HOOK, "MMC.111070001"),
            ("id=%zz&status=1", "MMC.111070001"),
            ("id=%ff&status=1", "MMC.111070001"),
            ("id=%s;status=1" % HOOK, "MMC.111070001"),
            ("id=%s%%26status%%3D0&status=1" % HOOK, "MMC.111070002"),  # escaped: one odd id
            ("id=nope&status=1", "MMC.111070002"),
            ("id=%s&status=1" % ODD_HOOK.replace(" ", "%20"), "MMC.111070001"),  # & unescaped
            ("id=%s&status=3" % HOOK, "MMC.111070003"),
            ("id=%s&status=01" % HOOK, "MMC.111070003"),
            ("id=%s&status=" % HOOK, "MMC.111070003"),
            ("id=%s&status=%%201" % HOOK, "MMC.111070003"),
        ]
        for query, code in cases:
            with self.subTest(query):
                self.assertError(self.put_json(query, token), 400, code)
        with self.subTest("body"):
            self.assertError(self.put_json("id=%s&status=0" % HOOK, token, body=b"{}"),
                             400, "MMC.111070001")
        self.assertEqual(self.ctl("GET", "/control/webhooks")[1]["webhooks"][HOOK], 1)

    def test_routing(self):
        token = self.login()
        status, hdrs, out = self.put_json("id=%s&status=0" % HOOK, token, method="GET")
        self.assertError((status, hdrs, out), 405, "MOCK.405")
        self.assertEqual(hdrs["allow"], "PUT")
        self.assertError(self.put_json(None, method="GET", path=APPAUTH), 405, "MOCK.405")
        self.assertError(self.put_json(None, path="/v1/mmc/nothing"), 404, "MOCK.404")
        self.assertError(self.put_json(None, method="BREW", path=CHANGE), 405, "MOCK.405")


class FaultTests(Base):

    def test_fail_with_path_filter_and_count(self):
        token = self.login()
        ok, = self.ctl("POST", "/control/fail", {"status": 502, "body": "<html>bad gateway",
                                                "content_type": "text/html", "count": 2,
                                                "path": "/v1/"})[1:]
        self.assertTrue(ok["ok"])
        self.assertEqual(self.auth()[0], 200)           # not under /v1/: untouched
        target = "%s?id=%s&status=0" % (CHANGE, HOOK)
        for _ in range(2):
            status, hdrs, out = self.api("PUT", target, headers={"X-Access-Token": token})
            self.assertEqual((status, hdrs["content-type"], out),
                             (502, "text/html", b"<html>bad gateway"))
        self.assertEqual(self.api("PUT", target, headers={"X-Access-Token": token})[0], 200)
        self.assertEqual([r["status"] for r in self.requests()], [200, 200, 502, 502, 200])

    def test_fail_default_count_and_clear(self):
        self.ctl("POST", "/control/fail", {"status": 500, "body": "not json"})
        self.assertEqual(self.api("POST", APPAUTH, b"{}")[::2], (500, b"not json"))
        self.assertEqual(self.auth()[0], 200)
        self.ctl("POST", "/control/fail", {"status": 503, "count": None})
        self.ctl("POST", "/control/clear-faults")
        self.assertEqual(self.auth()[0], 200)

    def test_drop(self):
        self.ctl("POST", "/control/fail", {"status": 500, "drop": True})
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            self.auth()
        self.assertIsNone(self.requests()[-1]["status"])
        self.assertEqual(self.auth()[0], 200)

    def test_delay(self):
        self.ctl("POST", "/control/delay", {"seconds": 0.3, "count": 1})
        t0 = time.time()
        self.assertEqual(self.auth()[0], 200)
        t1 = time.time()
        self.assertEqual(self.auth()[0], 200)
        t2 = time.time()
        self.assertGreaterEqual(t1 - t0, 0.3)
        self.assertLess(t2 - t1, 0.25)

    def test_bad_fault_input(self):
        for body in ({"status": 99}, {"status": "500"}, {"status": 500, "count": 0},
                     {"status": 500, "bogus": 1}):
            self.assertEqual(self.ctl("POST", "/control/fail", body)[0], 400, body)
        self.assertEqual(self.ctl("POST", "/control/delay", {"seconds": -1})[0], 400)


class RecordingTests(Base):

    def test_keep_alive_and_records(self):
        conn = self.conn()
        try:
            a = self.auth(conn=conn)
            b = self.auth(conn=conn, user_id="u1")
            # Raw target with '//' and a query, and a repeated header.
            conn.putrequest("GET", "//odd/path?x=%41&y", skip_accept_encoding=True)
            conn.putheader("X-Dup", "one")
            conn.putheader("X-Dup", "two")
            conn.endheaders()
            r = conn.getresponse()
            r.read()
            self.assertEqual(r.status, 404)
        finally:
            conn.close()
        self.assertNotEqual(a[1]["x-request-id"], b[1]["x-request-id"])
        self.assertEqual(self.auth()[0], 200)
        recs = self.requests()
        self.assertEqual([r["seq"] for r in recs], [1, 2, 3, 4])
        self.assertEqual(recs[0]["client_port"], recs[1]["client_port"])
        self.assertEqual(recs[0]["client_port"], recs[2]["client_port"])
        self.assertNotEqual(recs[0]["client_port"], recs[3]["client_port"])
        first = recs[0]
        self.assertEqual((first["method"], first["path"], first["raw_target"], first["query"]),
                         ("POST", APPAUTH, APPAUTH, ""))
        self.assertEqual(json.loads(first["body"])["clientType"], 72)
        self.assertTrue(first["headers"]["authorization"].startswith("HMAC-SHA256 "))
        odd = recs[2]
        self.assertEqual((odd["path"], odd["raw_target"], odd["query"]),
                         ("//odd/path", "//odd/path?x=%41&y", "x=%41&y"))
        self.assertEqual(odd["headers"]["x-dup"], "one, two")
        self.assertEqual(odd["error_code"], "MOCK.404")
        self.assertIsInstance(odd["time"], float)
        self.ctl("POST", "/control/clear-requests")
        self.assertEqual(self.requests(), [])

    def test_chunked_body(self):
        body = json.dumps({"appId": ENT[0], "clientType": 72, "expireTime": 0,
                           "nonce": "c" * 32}).encode()
        sig = hmac.new(ENT[1].encode(), ("%s::0:%s" % (ENT[0], "c" * 32)).encode(),
                       hashlib.sha256).hexdigest()
        conn = self.conn()
        try:
            conn.request("POST", APPAUTH, body=iter([body[:10], body[10:]]),
                         headers={"Content-Type": "application/json",
                                  "Authorization": "HMAC-SHA256 signature=%s,access=%s"
                                  % (sig, b64(ENT[0]))},
                         encode_chunked=True)
            r = conn.getresponse()
            self.assertEqual(r.status, 200, r.read())
        finally:
            conn.close()


class ControlTests(Base):

    def test_bad_setup_keeps_state(self):
        token = self.login()
        bad = [{"apps": [{"app_id": "x", "app_key": "k", "mode": "single"}]},
               {"apps": [{"app_id": "x", "app_key": "k"}, {"app_id": "x", "app_key": "k"}]},
               {"webhook_ids": "abc"}, {"token_valid_period": "1"}, {"typo": 1}]
        for body in bad:
            self.assertEqual(self.ctl("POST", "/control/setup", body)[0], 400, body)
        self.assertEqual(self.ctl("GET", "/control/tokens")[1]["active"], 1)
        self.assertEqual(self.ctl("GET", "/control/nothing")[0], 404)
        self.assertNotIn(token, json.dumps(self.ctl("GET", "/control/tokens")[1]))


class TlsTests(Base):

    def test_unknown_ca_is_refused_and_server_survives(self):
        before = self.ctl("GET", "/control/tls-errors")[1]["count"]
        with self.assertRaises(ssl.SSLCertVerificationError):
            self.api("POST", APPAUTH, b"{}", conn=self.conn(cafile="other-ca.pem"))
        self.assertEqual(self.auth()[0], 200)
        deadline = time.time() + 2
        while self.ctl("GET", "/control/tls-errors")[1]["count"] == before:
            self.assertLess(time.time(), deadline)
            time.sleep(0.02)
        # A client speaking plain HTTP to the TLS port does not hurt either.
        with socket.create_connection(("127.0.0.1", self.mock.port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            s.recv(100)
        self.assertEqual(self.auth()[0], 200)

    def test_localhost_name_also_valid(self):
        conn = self.conn(host="localhost")
        status = self.api("GET", "/", conn=conn)[0]
        conn.close()
        self.assertEqual(status, 404)


class ProcessTests(unittest.TestCase):

    def test_plain_config_ready_file_and_sigterm(self):
        cfg = os.path.join(CERTS, "config.json")
        with open(cfg, "w") as f:
            json.dump(SETUP, f)
        m = Mock("--plain", "--config", cfg)
        try:
            self.assertEqual(json.loads(m.stdout_line), m.info)
            self.assertEqual(m.info["pid"], m.proc.pid)
            conn = http.client.HTTPConnection("127.0.0.1", m.port, timeout=5)
            nonce = uuid.uuid4().hex
            sig = hmac.new(ENT[1].encode(), ("%s::0:%s" % (ENT[0], nonce)).encode(),
                           hashlib.sha256).hexdigest()
            conn.request("POST", APPAUTH, json.dumps({"appId": ENT[0], "clientType": 72,
                                                      "expireTime": 0, "nonce": nonce}),
                         {"Content-Type": "application/json",
                          "Authorization": "HMAC-SHA256 signature=%s,access=%s"
                          % (sig, b64(ENT[0]))})
            r = conn.getresponse()
            self.assertEqual(r.status, 200, r.read())
            r.read()
            # The keep-alive connection stays open: shutdown must not wait for it.
            t0 = time.time()
        finally:
            rc = m.stop()
        self.assertEqual(rc, 0)
        self.assertLess(time.time() - t0, 3)
        conn.close()

    def test_wrong_host_cert(self):
        m = Mock(cert="wrong-host")
        try:
            ctx = ssl.create_default_context(cafile=os.path.join(CERTS, "ca.pem"))
            conn = http.client.HTTPSConnection("127.0.0.1", m.port, context=ctx, timeout=5)
            with self.assertRaises(ssl.SSLCertVerificationError) as cm:
                conn.request("GET", "/")
            self.assertIn("match", str(cm.exception))
            conn.close()
        finally:
            self.assertEqual(m.stop(), 0)


if __name__ == "__main__":
    unittest.main()
