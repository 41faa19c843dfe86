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
import http.server
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
MOCK = os.path.join(HERE, "huawei_mock.py")
MAKE_CERTS = os.path.join(HERE, "make_certs.sh")

APPAUTH = "/v2/usg/acs/auth/appauth"
CHANGE = "/v1/mmc/management/webhook/change-status"
LINK = "/v1/mmc/management/webhook/link-config"
TOKEN = "/v1/usg/acs/token"
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
                "--key", os.path.join(CERTS, cert + ".key"), "--ready-file", ready,
                "--push-ca", os.path.join(CERTS, "ca.pem"), *extra]
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
                         {"ok": True, "issued": 1, "active": 1, "logged_out": 0})

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
            ("userId number", dict(patch={"userId": 5}), 400, "USG.000000013"),
            ("userId false", dict(patch={"userId": False}), 400, "USG.000000013"),
            ("corpId in enterprise", dict(corp_id="corp-a"), 400, "USG.000000007"),
            ("corpId number in enterprise", dict(patch={"corpId": 0}), 400, "USG.000000008"),
            ("corpId list in SP", dict(app=SP, patch={"corpId": []}), 400, "USG.000000008"),
            ("unknown corpId", dict(app=SP, corp_id="corp-x"), 401, "USG.000000008"),
            ("deptCode number", dict(patch={"deptCode": 7}), 400, "USG.000000001"),
            ("userName object", dict(patch={"userName": {}}), 400, "USG.000000001"),
            ("nonce null", dict(patch={"nonce": None}), 400, "USG.000000005"),
            ("expireTime null", dict(patch={"expireTime": None}), 400, "USG.000000006"),
            ("appId null", dict(patch={"appId": None}), 400, "USG.000000003"),
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

    def test_null_and_empty_optional_fields_are_absent(self):
        # Huawei's official Python SDK sends "userId": "", "corpId": null, "deptCode": null
        # when they are not set (in SP mode "corpId": ""): absent, as if left out.
        cases = [
            ("enterprise, corpId null", ENT, {"corpId": None}),
            ("enterprise, corpId empty", ENT, {"corpId": ""}),
            ("enterprise, userId null", ENT, {"userId": None}),
            ("enterprise, all of them", ENT, {"userId": "", "corpId": None, "deptCode": None,
                                              "userName": None, "userEmail": "",
                                              "userPhone": None}),
            ("SP administrator, corpId null", SP, {"corpId": None, "userId": None}),
            ("SP administrator, corpId empty", SP, {"corpId": "", "deptCode": None}),
        ]
        for name, app, patch in cases:
            with self.subTest(name):
                status, _, out = self.auth(app, patch=patch)
                self.assertEqual(status, 200, out)
                self.assertEqual((out["user"]["userId"], out["user"]["adminType"]),
                                 ("admin", 2))
                self.assertIs(self.requests()[-1]["signature_valid"], True)
        # A user id signed and sent with the others null is that user.
        status, _, out = self.auth(user_id="alice", patch={"corpId": None, "deptCode": "d1"})
        self.assertEqual((status, out["user"]["userId"]), (200, "alice"), out)

    def test_the_official_sdk_login_as_it_is_sent(self):
        """The exact bytes of the official Python SDK's login (huaweicloud-sdk-meeting
        3.1.211, MeetingCredentials with AuthTypeEnum.APP_ID), as captured on the wire."""
        for app, corp_json, corp_signed in ((ENT, "null", None), (SP, '""', ""),
                                            (SP, '"corp-a"', "corp-a")):
            with self.subTest(app=app[0], corp=corp_json):
                app_id, key, _ = app
                expire, nonce = int(time.time()) + 600, str(uuid.uuid4())
                parts = [app_id] + ([] if corp_signed is None else [corp_signed]) + \
                    ["", str(expire), nonce]
                sig = hmac.new(key.encode(), ":".join(parts).encode(),
                               hashlib.sha256).hexdigest().upper()
                body = ('{"appId": "%s", "userId": "", "corpId": %s, "expireTime": %d, '
                        '"nonce": "%s", "clientType": 72, "deptCode": null}'
                        % (app_id, corp_json, expire, nonce)).encode()
                self.assertEqual(len(nonce), 36)
                status, _, out = self.api("POST", APPAUTH, body, {
                    "User-Agent": "python-requests/2.28.1", "Accept-Encoding": "gzip, deflate",
                    "Accept": "*/*", "Connection": "keep-alive",
                    "Authorization": "HMAC-SHA256 signature=%s,access=%s" % (sig, b64(app_id)),
                    "Content-Type": "application/json"})
                self.assertEqual(status, 200, out)
                rec = self.requests()[-1]
                self.assertEqual((rec["body"].encode(), rec["signature_valid"]), (body, True))

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
                         {"ok": True, "issued": 2, "active": 0, "logged_out": 0})
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


class MeetingTests(Base):
    """The meeting routes (SearchMeetings, ShowMeetingDetail, CreateMeeting, CancelMeeting)."""

    CONFERENCES = "/v1/mmc/management/conferences"

    def test_list_detail_create_cancel(self):
        token = self.login()
        status, _, page = self.put_json("limit=1&searchKey=Weekly", token, method="GET",
                                        path=self.CONFERENCES)
        self.assertEqual((status, page["count"], page["limit"]), (200, 1, 1))
        conference_id = page["data"][0]["conferenceID"]
        status, _, detail = self.put_json("conferenceID=" + conference_id, token, method="GET",
                                          path=self.CONFERENCES + "/confDetail")
        self.assertEqual((status, detail["conferenceData"]["subject"]), (200, "Weekly sync"))
        self.assertEqual(detail["data"]["count"], 2)
        headers = {"X-Access-Token": token, "Content-Type": "application/json"}
        body = json.dumps({"subject": "new", "mediaTypes": "Voice", "length": 15}).encode()
        status, _, out = self.api("POST", self.CONFERENCES, body, headers)
        created = json.loads(out)[0]["conferenceID"]
        self.assertEqual(status, 200)
        self.assertEqual(self.put("conferenceID=" + created, token, method="DELETE",
                                  path=self.CONFERENCES)[0], 200)
        self.assertError(self.put_json("conferenceID=" + created, token, method="GET",
                                       path=self.CONFERENCES + "/confDetail"),
                         404, "MMC.111071001")

    def test_rejections(self):
        token = self.login()
        for query in ("limit=0", "limit=501", "offset=-1", "nope=1", "limit=1&limit=2",
                      "queryAll=yes", "sortType=up", "queryConfMode=AYEAR", "limit=%zz"):
            with self.subTest(query):
                self.assertError(self.put_json(query, token, method="GET", path=self.CONFERENCES),
                                 400, "MMC.111070001")
        self.assertError(self.put_json("limit=1", None, method="GET", path=self.CONFERENCES),
                         401, "USG.000000004")
        headers = {"X-Access-Token": token, "Content-Type": "application/json"}
        for body in (b"{}", b'{"mediaTypes":"Voice","x":1}', b'{"mediaTypes":"Voice","length":5}',
                     b"[]", b"not json"):
            with self.subTest(body):
                status, hdrs, out = self.api("POST", self.CONFERENCES, body, headers)
                self.assertError((status, hdrs, json.loads(out)), 400, "MMC.111070001")
        self.assertError(self.put_json(None, token, method="PATCH", path=self.CONFERENCES),
                         405, "MOCK.405")


class PagingAndControlTests(Base):
    """Paging through many meetings, and meeting control (mock_control.py)."""

    CONFERENCES = "/v1/mmc/management/conferences"
    CONTROL_TOKEN = "/v1/mmc/control/conferences/token"
    MUTE = "/v1/mmc/control/conferences/mute"

    def get(self, target, headers):
        status, hdrs, out = self.api("GET", target, None, headers)
        return status, hdrs, json.loads(out) if out else None

    def test_1000_meetings_by_default_paged_as_huawei(self):
        token = self.login()
        seen, offset = [], 0
        while True:
            status, _, page = self.get("%s?limit=500&offset=%d" % (self.CONFERENCES, offset),
                                       {"X-Access-Token": token})
            self.assertEqual(status, 200)
            self.assertEqual((page["offset"], page["limit"], page["count"]), (offset, 500, 1000))
            if not page["data"]:
                break
            seen += [c["conferenceID"] for c in page["data"]]
            offset += len(page["data"])
        self.assertEqual(len(seen), 1000)
        self.assertEqual(len(set(seen)), 1000)
        self.assertEqual(seen[:3], ["914083136", "914083137", "920000000"])

    def test_meetings_from_the_setup(self):
        self.assertEqual(self.ctl("POST", "/control/setup", dict(SETUP, meetings=10000))[0], 200)
        token = self.login()
        _, _, page = self.get(self.CONFERENCES + "?limit=1&offset=9999", {"X-Access-Token": token})
        self.assertEqual((page["count"], len(page["data"])), (10000, 1))
        for bad in (1, 100001, "9", True):
            with self.subTest(bad):
                self.assertEqual(self.ctl("POST", "/control/setup", dict(SETUP, meetings=bad))[0],
                                 400)

    def control_token(self, headers, conference_id="914083136"):
        return self.get("%s?conferenceID=%s" % (self.CONTROL_TOKEN, conference_id), headers)

    def mute(self, token, body=b'{"isMute": 1}', conference_id="914083136"):
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["X-Conference-Authorization"] = token
        status, hdrs, out = self.api("PUT", "%s?conferenceID=%s" % (self.MUTE, conference_id),
                                     body, headers)
        return status, hdrs, json.loads(out) if out else None

    def test_control_token_mute_and_keep_alive(self):
        before = time.time()
        status, _, out = self.control_token({"X-Password": "Hp-4711-9265-ZX",
                                             "X-Login-Type": "1"})
        self.assertEqual(status, 200, out)
        data = out["data"]
        self.assertEqual(data["confTokenExpireTime"], 1800)
        self.assertAlmostEqual(data["expireTime"] / 1000, before + 1800, delta=30)
        self.assertEqual(self.mute(data["token"])[0], 200)
        state = self.ctl("GET", "/control/conference-control")[1]
        self.assertEqual(state["muted"], {"914083136": 1})
        self.assertEqual(state["tokens"], [data["token"]])
        # keep-alive: the token itself instead of the password gives a new one
        status, _, renewed = self.control_token({"X-Conference-Authorization": data["token"]})
        self.assertEqual(status, 200, renewed)
        self.assertNotEqual(renewed["data"]["token"], data["token"])
        self.assertEqual(self.mute(renewed["data"]["token"], b'{"isMute": 0}')[0], 200)
        # a token of another meeting does not control this one
        self.assertError(self.mute(renewed["data"]["token"], conference_id="914083137"),
                         401, "MMC.111070005")

    def test_control_token_life_and_revocation(self):
        self.ctl("POST", "/control/conference-control", {"token_life": 0.5, "password": "pw-2"})
        _, _, out = self.control_token({"X-Password": "pw-2", "X-Login-Type": "1"})
        self.assertEqual(out["data"]["confTokenExpireTime"], 0)
        token = out["data"]["token"]
        self.assertEqual(self.mute(token)[0], 200)
        time.sleep(0.7)
        self.assertError(self.mute(token), 401, "MMC.111070005")
        self.assertError(self.control_token({"X-Conference-Authorization": token}),
                         401, "MMC.111070005")
        self.ctl("POST", "/control/conference-control", {"token_life": 60})
        token = self.control_token({"X-Password": "pw-2", "X-Login-Type": "1"})[2]["data"]["token"]
        self.assertEqual(self.ctl("POST", "/control/conference-control",
                                  {"revoke": True})[1]["revoked"], 2)
        self.assertError(self.mute(token), 401, "MMC.111070005")

    def test_control_rejections(self):
        self.assertError(self.control_token({"X-Password": "wrong", "X-Login-Type": "1"}),
                         403, "MMC.111070006")
        for headers in ({}, {"X-Password": "Hp-4711-9265-ZX"},
                        {"X-Password": "Hp-4711-9265-ZX", "X-Login-Type": "1",
                         "X-Conference-Authorization": "x"}):
            with self.subTest(headers):
                self.assertError(self.control_token(headers), 400, "MMC.111070001")
        self.assertError(self.control_token({"X-Password": "Hp-4711-9265-ZX",
                                             "X-Login-Type": "1"}, "1"), 404, "MMC.111071001")
        token = self.control_token({"X-Password": "Hp-4711-9265-ZX",
                                    "X-Login-Type": "1"})[2]["data"]["token"]
        self.assertError(self.mute(None), 401, "MMC.111070005")
        self.assertError(self.mute("not-a-token"), 401, "MMC.111070005")
        for body in (b"{}", b'{"isMute": 2}', b'{"isMute": true}', b'{"isMute": 1, "x": 1}'):
            with self.subTest(body):
                self.assertError(self.mute(token, body), 400, "MMC.111070001")
        for bad in ({"password": ""}, {"token_life": 0}, {"revoke": 1}, {"nope": 1}):
            with self.subTest(bad):
                self.assertEqual(self.ctl("POST", "/control/conference-control", bad)[0], 400)
class RecordingDownloadTests(Base):
    """downloadurls and the file host (mock_recordings.py): one-time tokens, exact bytes."""

    URLS = "/v1/mmc/management/record/downloadurls"
    CONF = "a8a4d4e0b6c511ee9a0b5f2c1d3e4f50"

    def urls(self, token, conf=None):
        status, _, out = self.put_json("confUUID=" + (conf or self.CONF), token, method="GET",
                                       path=self.URLS)
        self.assertEqual(status, 200, out)
        return out

    def fetch(self, url, token=None, method="GET", cafile="ca.pem"):
        parts = urllib.parse.urlsplit(url)
        ctx = ssl.create_default_context(cafile=os.path.join(CERTS, cafile))
        conn = http.client.HTTPSConnection(parts.hostname, parts.port, context=ctx, timeout=10)
        try:
            conn.request(method, parts.path, headers={} if token is None else
                         {"Authorization": token})
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def test_shape_bytes_and_one_use(self):
        files = self.ctl("GET", "/control/recording-files")[1]
        self.assertEqual(files["base"], "https://127.0.0.1:%d" % self.mock.info["file_port"])
        self.assertEqual(files["files"]["Hd"]["size"], 64 << 20)
        out = self.urls(self.login())
        self.assertEqual((out["count"], out["offset"]), (1, 0))
        (entry,) = out["recordUrls"]
        self.assertEqual(entry["confUuid"], self.CONF)
        self.assertEqual([u["fileType"] for u in entry["urls"]], ["Hd", "Sd", "Aux"])
        aux = entry["urls"][2]
        self.assertTrue(aux["url"].startswith(files["base"] + "/"), aux["url"])
        self.ctl("POST", "/control/clear-file-requests")
        status, data = self.fetch(aux["url"], aux["token"])
        self.assertEqual(status, 200)
        self.assertEqual(hashlib.sha256(data).hexdigest(), files["files"]["Aux"]["sha256"])
        status, data = self.fetch(aux["url"], aux["token"])
        self.assertEqual((status, json.loads(data)["error_code"]), (401, "MMC.111071103"))
        seen = self.ctl("GET", "/control/file-requests")[1]["requests"]
        self.assertEqual([(r["status"], r["headers"]["authorization"]) for r in seen],
                         [(200, aux["token"]), (401, aux["token"])])

    def test_refusals(self):
        token = self.login()
        hd, sd, _ = self.urls(token)["recordUrls"][0]["urls"]
        for tok, code in ((None, "MMC.111071101"), ("nope", "MMC.111071102"),
                          (sd["token"], "MMC.111071102")):
            with self.subTest(tok):
                status, data = self.fetch(hd["url"], tok)
                self.assertEqual((status, json.loads(data)["error_code"]), (401, code))
        self.assertEqual(self.ctl("POST", "/control/expire-download", {"token": hd["token"]}),
                         (200, {"ok": True, "expired": 1}))
        status, data = self.fetch(hd["url"], hd["token"])
        self.assertEqual((status, json.loads(data)["error_code"]), (401, "MMC.111071104"))
        self.assertEqual(self.fetch(sd["url"], sd["token"], method="POST")[0], 405)
        self.assertEqual(self.fetch(hd["url"].rsplit("/", 1)[0] + "/x.mp4", sd["token"])[0], 404)
        with self.assertRaises(ssl.SSLError):
            self.fetch(sd["url"], sd["token"], cafile="other-ca.pem")

    def test_downloadurls_queries(self):
        token = self.login()
        self.assertEqual(self.urls(token, "unknown")["recordUrls"], [])
        self.assertEqual(self.ctl("POST", "/control/recordings",
                                  {"confUUID": "other", "fileTypes": ["Sd"]})[0], 200)
        (entry,) = self.urls(token, "other")["recordUrls"]
        self.assertEqual([u["fileType"] for u in entry["urls"]], ["Sd"])
        for query in ("", "confUUID=", "confUUID=a&confUUID=b", "confUUID=a&x=1",
                      "confUUID=a&limit=0"):
            with self.subTest(query):
                self.assertError(self.put_json(query, token, method="GET", path=self.URLS),
                                 400, "MMC.111070001")
        self.assertError(self.put_json("confUUID=a", None, method="GET", path=self.URLS),
                         401, "USG.000000004")
        self.assertEqual(self.ctl("POST", "/control/recordings", {"confUUID": "a/b"})[0], 400)

class UploadTests(Base):
    """The four multipart/form-data upload routes (mock_uploads.py)."""

    BOUNDARY = "mock-test-boundary-0123"

    def form(self, parts, boundary=None, tail=b"--\r\n"):
        b = (boundary or self.BOUNDARY).encode()
        out = b""
        for headers, data in parts:
            out += b"--" + b + b"\r\n" + b"".join(h.encode() + b"\r\n" for h in headers) + \
                b"\r\n" + data + b"\r\n"
        return out + b"--" + b + tail

    def file_part(self, data, name="file", filename="a.png", ctype="image/png"):
        headers = ['Content-Disposition: form-data; name="%s"; filename="%s"' % (name, filename)]
        if ctype:
            headers.append("Content-Type: " + ctype)
        return (headers, data)

    def upload(self, method, path, body, token, ctype=None):
        headers = {"Content-Type": ctype or "multipart/form-data; boundary=" + self.BOUNDARY}
        if token:
            headers["X-Access-Token"] = token
        status, hdrs, out = self.api(method, path, body, headers)
        return status, hdrs, json.loads(out) if out else None

    def test_each_route_gets_the_bytes(self):
        token = self.login()
        data = bytes(range(256)) * 300 + b"\r\n--mock-test-boundary-012 almost"
        routes = (("POST", "/v1/usg/sss/materials"), ("POST", "/v1/usg/abs/profile-images"),
                  ("PUT", "/v1/usg/abs/profile-images/user-1"),
                  ("PUT", "/v1/wss/webinar/open/res/file"))
        for method, path in routes:
            status, _, out = self.upload(method, path, self.form([self.file_part(data)]), token)
            self.assertEqual(status, 200, (path, out))
            part = self.requests()[-1]["parts"][0]
            self.assertEqual((part["size"], part["sha256"], part["filename"]),
                             (len(data), hashlib.sha256(data).hexdigest(), "a.png"))
            if path.endswith("/file"):
                self.assertRegex(out["fileId"], r"^[0-9a-f]{32}$")
            else:
                self.assertIsNone(out)

    def test_rejections(self):
        token = self.login()
        path = "/v1/usg/sss/materials"
        good = self.form([self.file_part(b"png")])
        self.assertError(self.upload("POST", path, good, None), 401, "USG.000000004")
        bad = [
            (good, "multipart/form-data"),                          # no boundary
            (good, "application/json"),
            (good, "multipart/form-data; boundary=other"),         # not the one used
            (self.form([self.file_part(b"x", ctype=None)]), None),
            (self.form([self.file_part(b"x", ctype="text/plain")]), None),
            (self.form([self.file_part(b"x", name="image")]), None),
            (self.form([self.file_part(b"x"), self.file_part(b"y")]), None),
            (self.form([(['Content-Disposition: attachment; name="file"'], b"x")]), None),
            (self.form([(['Content-Disposition: form-data; name="file"'], b"x")]), None),
            (self.form([self.file_part(b"")]), None),
            (self.form([self.file_part(b"x")], tail=b"--\r\nextra"), None),
            (self.form([self.file_part(b"x")], tail=b""), None),
            (b"preamble\r\n" + good, None),
        ]
        for body, ctype in bad:
            self.assertError(self.upload("POST", path, body, token, ctype), 400,
                             "MMC.111070001")
        self.assertError(self.upload("POST", "/v1/usg/abs/profile-images",
                                     self.form([self.file_part(b"x" * 10000001)]), token),
                         413, "MOCK.413")

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

    def test_fail_with_query_filter(self):
        token = self.login()
        self.ctl("POST", "/control/fail", {"status": 201, "body": '{"returnDesc":"mine"}',
                                          "path": CHANGE, "query": "id=other&", "count": None})
        hdrs = {"X-Access-Token": token}
        self.assertEqual(self.api("PUT", "%s?id=%s&status=0" % (CHANGE, HOOK), headers=hdrs)[0],
                         200)
        for _ in range(2):
            self.assertEqual(self.api("PUT", "%s?id=other&status=1" % CHANGE, headers=hdrs)[::2],
                             (201, b'{"returnDesc":"mine"}'))
        self.assertEqual(self.ctl("POST", "/control/fail", {"status": 500, "query": 1})[0], 400)

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


# --------------------------------------------------------------------------- event push

HEX32 = r"^[0-9a-f]{32}$"


def top_level_members(text):
    """{key: (value, exact text of the value)} of a JSON object's top-level members, in
    order: an independent way to get eventInfo exactly as it stands in a push body."""
    dec, ws = json.JSONDecoder(), re.compile(r"[ \t\n\r]*")
    i = ws.match(text, 0).end()
    assert text[i] == "{", text
    i, out = i + 1, {}
    while True:
        i = ws.match(text, i).end()
        key, i = dec.raw_decode(text, i)
        i = ws.match(text, i).end()
        assert text[i] == ":", text
        start = ws.match(text, i + 1).end()
        value, i = dec.raw_decode(text, start)
        out[key] = (value, text[start:i])
        i = ws.match(text, i).end()
        if text[i] == "}":
            assert ws.match(text, i + 1).end() == len(text), text
            return out
        assert text[i] == ",", text
        i += 1


class Receiver:
    """A tiny HTTPS webhook receiver (the subscriber) on 127.0.0.1, with a certificate from
    make_certs.sh. `reply(raw_body) -> (status, bytes)` decides each answer; the default
    answers the verify handshake correctly and every other event with a bare 200."""

    def __init__(self, cert="receiver"):
        self.got, self.delay, self.reply = [], 0.0, self.echo
        rx = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                rx.got.append({"path": self.path, "body": raw.decode("utf-8"),
                               "headers": {k.lower(): v for k, v in self.headers.items()}})
                if rx.delay:
                    time.sleep(rx.delay)
                status, out = rx.reply(raw.decode("utf-8"))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads, block_on_close = True, False

            def server_bind(self):
                http.server.socketserver.TCPServer.server_bind(self)

            def handle_error(self, request, client_address):
                pass      # e.g. the mock gave up (push timeout) before we answered

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(CERTS, cert + ".pem"), os.path.join(CERTS, cert + ".key"))
        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @staticmethod
    def echo(raw):
        push = json.loads(raw)
        if push["eventInfo"]["event"] == "meeting.verify":
            return 200, json.dumps({"event": "meeting.verify", "nonce": push["nonce"]},
                                   separators=(",", ":")).encode()
        return 200, b""

    def url(self, path="/mmc/events?src=huawei", host="127.0.0.1"):
        return "https://%s:%d%s" % (host, self.port, path)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class HookBase(Base):
    SUB_ID, SUB_KEY = "subscriber-0001", "subscriber-key-ÄÖ-0123456789"

    def setUp(self):
        super().setUp()
        self.rx = Receiver()
        self.addCleanup(self.rx.stop)
        self.token = self.login()

    def link(self, token=None, body=None, raw=None, query="",
             content_type="application/json; charset=UTF-8", **fields):
        if body is None:
            body = {"subscriberId": self.SUB_ID, "subscriberKey": self.SUB_KEY,
                    "url": self.rx.url()}
            body.update(fields)
        headers = {"X-Access-Token": token or self.token}
        if content_type:
            headers["Content-Type"] = content_type
        data = raw if raw is not None else json.dumps(body).encode()
        return self.api("POST", LINK + ("?" + query if query else ""), data, headers)

    def show(self, query=None, token=None, body=None):
        return self.put_json(query, token or self.token, body=body, method="GET", path=LINK)

    def delete(self, query, token=None, body=None):
        return self.put(query, token or self.token, body=body, method="DELETE", path=LINK)

    def configs(self):
        return self.ctl("GET", "/control/webhook-config")[1]["configs"]

    def pushes(self):
        return self.ctl("GET", "/control/pushes")[1]["pushes"]

    def new_config(self, token=None, **fields):
        status, _, out = self.link(token, **fields)
        self.assertEqual((status, out), (200, b""))
        return self.configs()[-1]

    def status_of(self, hook_id):
        return self.ctl("GET", "/control/webhooks")[1]["webhooks"].get(hook_id)

    def assertSigned(self, text, sub_id=None, key=None):
        """Checks a push body independently of the mock; returns its decoded members."""
        m = top_level_members(text)
        self.assertEqual(list(m), ["appID", "timestamp", "nonce", "signature", "eventInfo"])
        app_id, ts, nonce, sig = (m[k][0] for k in ("appID", "timestamp", "nonce", "signature"))
        self.assertEqual(app_id, sub_id or self.SUB_ID)
        self.assertIs(type(ts), int)
        self.assertIsInstance(nonce, str)
        self.assertRegex(sig, r"^[0-9a-f]{64}$")
        message = app_id + str(ts) + nonce + m["eventInfo"][1]
        want = hmac.new((key or self.SUB_KEY).encode(), message.encode(),
                        hashlib.sha256).hexdigest()
        self.assertEqual(sig, want)
        info = m["eventInfo"][0]
        self.assertEqual(list(info), ["event", "timestamp", "payload"])
        self.assertIs(type(info["timestamp"]), int)
        self.assertIsInstance(info["payload"], dict)
        return {k: v[0] for k, v in m.items()}


class LinkConfigTests(HookBase):

    def test_set_show_replace_delete(self):
        status, hdrs, out = self.link()
        self.assertEqual((status, out), (200, b""))
        self.assertRegex(hdrs["x-request-id"], HEX32)
        cfg, = self.configs()
        self.assertRegex(cfg["id"], HEX32)
        self.assertEqual(cfg, {"id": cfg["id"], "app_id": ENT[0], "subscriberId": self.SUB_ID,
                               "subscriberKey": self.SUB_KEY, "url": self.rx.url(),
                               "status": 1})
        status, _, shown = self.show()
        self.assertEqual(status, 200, shown)
        self.assertEqual(list(shown), ["id", "subscriberId", "url", "status", "returnCode",
                                       "returnDesc"])
        self.assertEqual(shown, {"id": cfg["id"], "subscriberId": self.SUB_ID,
                                 "url": self.rx.url(), "status": 1, "returnCode": 0,
                                 "returnDesc": "success"})
        self.assertNotIn(self.SUB_KEY, json.dumps(shown))
        self.assertEqual(self.status_of(cfg["id"]), 1)
        # Setting again replaces: a new id, the old one is gone everywhere.
        new = self.new_config(subscriberId="second", url=self.rx.url("/other"))
        self.assertNotEqual(new["id"], cfg["id"])
        self.assertEqual([c["id"] for c in self.configs()], [new["id"]])
        self.assertIsNone(self.status_of(cfg["id"]))
        self.assertEqual(self.show()[2]["subscriberId"], "second")
        self.assertError(self.put_json("id=%s&status=1" % cfg["id"], self.token),
                         400, "MMC.111070002")
        self.assertError(self.put_json("id=" + cfg["id"], self.token, method="DELETE",
                                       path=LINK), 400, "MMC.111070002")
        status, hdrs, out = self.delete("id=" + new["id"])
        self.assertEqual((status, out), (200, b""))
        self.assertEqual(self.configs(), [])
        self.assertIsNone(self.status_of(new["id"]))
        self.assertError(self.show(), 404, "MMC.111070002")
        self.assertError(self.put_json("id=" + new["id"], self.token, method="DELETE",
                                       path=LINK), 400, "MMC.111070002")
        # The setup records are untouched and can be deleted too.
        self.assertEqual(self.status_of(HOOK), 1)
        self.assertEqual(self.delete("id=" + HOOK)[0], 200)
        self.assertIsNone(self.status_of(HOOK))
        self.assertEqual(self.pushes(), [])     # none of this pushed anything
        self.assertEqual(self.rx.got, [])

    def test_scopes(self):
        sp_admin = self.login(SP)
        a = self.new_config(sp_admin, corpId="corp-a", spId="sp-1")
        b = self.new_config(sp_admin, corpId="corp-b", subscriberId="b")
        own = self.new_config(sp_admin, subscriberId="sp-itself")
        ent = self.new_config()
        self.assertEqual((a["corpId"], a["spId"], a["app_id"]), ("corp-a", "sp-1", SP[0]))
        self.assertNotIn("corpId", own)
        self.assertEqual(len({a["id"], b["id"], own["id"], ent["id"]}), 4)
        self.assertEqual(self.show("corpId=corp-a", sp_admin)[2]["id"], a["id"])
        self.assertEqual(self.show("spId=x&corpId=corp-b", sp_admin)[2]["id"], b["id"])
        self.assertEqual(self.show(None, sp_admin)[2]["id"], own["id"])
        self.assertEqual(self.show()[2]["id"], ent["id"])
        self.assertError(self.show("corpId=corp-a"), 404, "MMC.111070002")
        # A token scoped to a corp sees that corp's config without naming it.
        corp_user = self.login(SP, corp_id="corp-b", user_id="u")
        self.assertEqual(self.show(None, corp_user)[2]["id"], b["id"])
        # Another app's record does not exist for this token.
        self.assertError(self.put_json("id=%s&status=1" % a["id"], self.token), 400,
                         "MMC.111070002")
        self.assertError(self.put_json("id=" + a["id"], self.token, method="DELETE",
                                       path=LINK), 400, "MMC.111070002")
        self.assertEqual(self.delete("id=" + a["id"], sp_admin)[0], 200)
        self.assertEqual(len(self.configs()), 3)

    def test_set_rejections(self):
        ok = {"subscriberId": self.SUB_ID, "subscriberKey": self.SUB_KEY, "url": self.rx.url()}

        def without(k):
            return {x: v for x, v in ok.items() if x != k}
        cases = [
            ("query", dict(query="x=1"), "MMC.111070001"),
            ("text/plain", dict(content_type="text/plain"), "MMC.111070001"),
            ("no content type", dict(content_type=None), "MMC.111070001"),
            ("not json", dict(raw=b"{subscriberId:"), "MMC.111070001"),
            ("empty body", dict(raw=b""), "MMC.111070001"),
            ("not utf-8", dict(raw=b'{"url":"\xff"}'), "MMC.111070001"),
            ("array", dict(raw=b"[]"), "MMC.111070001"),
            ("duplicate key", dict(raw=b'{"url":"https://a","url":"https://b"}'),
             "MMC.111070001"),
            ("unknown key", dict(body=dict(ok, status=1)), "MMC.111070001"),
            ("snake case", dict(body=dict(without("subscriberId"), subscriber_id="x")),
             "MMC.111070001"),
            ("subscriberId missing", dict(body=without("subscriberId")), "MMC.111070004"),
            ("subscriberId empty", dict(subscriberId=""), "MMC.111070004"),
            ("subscriberId 65", dict(subscriberId="s" * 65), "MMC.111070004"),
            ("subscriberId number", dict(subscriberId=12345678), "MMC.111070004"),
            ("subscriberId null", dict(subscriberId=None), "MMC.111070004"),
            ("subscriberKey missing", dict(body=without("subscriberKey")), "MMC.111070005"),
            ("subscriberKey empty", dict(subscriberKey=""), "MMC.111070005"),
            ("subscriberKey 129", dict(subscriberKey="k" * 129), "MMC.111070005"),
            ("subscriberKey list", dict(subscriberKey=["k"]), "MMC.111070005"),
            ("url missing", dict(body=without("url")), "MMC.111070006"),
            ("url null", dict(url=None), "MMC.111070006"),
            ("url http", dict(url="http://127.0.0.1/x"), "MMC.111070006"),
            ("url HTTPS", dict(url="HTTPS://127.0.0.1/x"), "MMC.111070006"),
            ("url no host", dict(url="https:///x"), "MMC.111070006"),
            ("url bare", dict(url="https://"), "MMC.111070006"),
            ("url space", dict(url="https://127.0.0.1/a b"), "MMC.111070006"),
            ("url newline", dict(url="https://127.0.0.1/\n"), "MMC.111070006"),
            ("url non-ascii", dict(url="https://127.0.0.1/ä"), "MMC.111070006"),
            ("url fragment", dict(url="https://127.0.0.1/x#f"), "MMC.111070006"),
            ("url userinfo", dict(url="https://u:p@127.0.0.1/x"), "MMC.111070006"),
            ("url bad port", dict(url="https://127.0.0.1:99999/x"), "MMC.111070006"),
            ("url port 0", dict(url="https://127.0.0.1:0/x"), "MMC.111070006"),
            ("url too long", dict(url="https://127.0.0.1/" + "a" * 1100), "MMC.111070006"),
            ("corpId number", dict(corpId=42), "MMC.111070007"),
            ("corpId 65", dict(corpId="c" * 65), "MMC.111070007"),
            ("spId false", dict(spId=False), "MMC.111070007"),
            ("spId list", dict(spId=["sp-1"]), "MMC.111070007"),
            ("first problem wins", dict(body={"subscriberKey": 1, "url": 2}), "MMC.111070004"),
        ]
        for name, kw, code in cases:
            with self.subTest(name):
                status, hdrs, out = self.link(**kw)
                self.assertError((status, hdrs, json.loads(out)), 400, code)
        self.assertEqual(self.configs(), [])
        # Limits are inclusive.
        self.new_config(subscriberId="s" * 64, subscriberKey="k" * 128, corpId="c" * 64,
                        spId="p" * 64, url="https://localhost:8443/" + "a" * 1000)

    def test_show_and_delete_rejections(self):
        cfg = self.new_config()
        for query, code in (("x=1", "MMC.111070001"), ("corpId=a&corpId=b", "MMC.111070001"),
                            ("corpid=a", "MMC.111070001"), ("corpId", "MMC.111070001"),
                            ("corpId=%zz", "MMC.111070001"), ("corpId=%ff", "MMC.111070001"),
                            ("corpId=a&&spId=b", "MMC.111070001"),
                            ("corpId=" + "c" * 65, "MMC.111070007")):
            with self.subTest(query):
                self.assertError(self.show(query), 400, code)
        self.assertError(self.show(None, body=b"{}"), 400, "MMC.111070001")
        # ';' separates nothing: this is one (unknown) corpId.
        self.assertError(self.show("corpId=a;spId=b"), 404, "MMC.111070002")
        for query in (None, "", "id=", "id=%s&id=%s" % (cfg["id"], cfg["id"]),
                      "id=%s&x=1" % cfg["id"], "ID=" + cfg["id"], "id=%zz"):
            with self.subTest(query):
                code = "MMC.111070002" if query == "id=" else "MMC.111070001"
                status, hdrs, out = self.delete(query)
                self.assertError((status, hdrs, json.loads(out)), 400, code)
        status, hdrs, out = self.delete("id=" + cfg["id"], body=b"{}")
        self.assertError((status, hdrs, json.loads(out)), 400, "MMC.111070001")
        self.assertEqual(len(self.configs()), 1)

    def test_null_and_empty_corp_and_sp_are_absent(self):
        sp_admin = self.login(SP)
        for name, fields in (("null", {"corpId": None, "spId": None}),
                             ("empty", {"corpId": "", "spId": ""})):
            with self.subTest(name):
                cfg = self.new_config(sp_admin, subscriberId="sp-" + name, **fields)
                self.assertNotIn("corpId", cfg)
                self.assertNotIn("spId", cfg)
                # The same scope as leaving them out: the SP's own record, replaced.
                self.assertEqual([c["id"] for c in self.configs()], [cfg["id"]])
                for query in (None, "corpId=", "spId=", "corpId=&spId="):
                    self.assertEqual(self.show(query, sp_admin)[2]["id"], cfg["id"], query)

    def test_token_required_and_routing(self):
        cfg = self.new_config()
        calls = [("POST", LINK, json.dumps({"subscriberId": "x", "subscriberKey": "y",
                                            "url": self.rx.url()}).encode()),
                 ("GET", LINK, None), ("DELETE", LINK + "?id=" + cfg["id"], None),
                 ("DELETE", TOKEN, None)]
        for method, target, body in calls:
            for token in (None, "", "x" * 40):
                with self.subTest(method=method, target=target, token=token):
                    headers = {"Content-Type": "application/json"}
                    if token is not None:
                        headers["X-Access-Token"] = token
                    status, hdrs, out = self.api(method, target, body, headers)
                    self.assertError((status, hdrs, json.loads(out)), 401, "USG.000000004")
        self.assertEqual(len(self.configs()), 1)
        status, hdrs, out = self.put_json(None, self.token, method="PUT", path=LINK)
        self.assertError((status, hdrs, out), 405, "MOCK.405")
        self.assertEqual(hdrs["allow"], "POST, GET, DELETE")
        status, hdrs, out = self.put_json(None, self.token, method="PUT", path=TOKEN)
        self.assertError((status, hdrs, out), 405, "MOCK.405")
        self.assertEqual(hdrs["allow"], "DELETE")


class OfficialSdkShapeTests(HookBase):
    """What Huawei's official Python SDK sends besides its login (captured on the wire):
    Content-Type: application/json on every call, bodiless ones too; Content-Length: 0 on
    PUT and DELETE; JSON with ", " and ": " separators, members in its own order."""

    SDK_HEADERS = {"User-Agent": "huaweicloud-usdk-python/3.0; os/Linux impl/CPython",
                   "Accept-Encoding": "gzip, deflate", "Accept": "*/*",
                   "Connection": "keep-alive", "Content-Type": "application/json"}

    def sdk(self, method, target, body=None):
        headers = dict(self.SDK_HEADERS, **{"X-Access-Token": self.token})
        if body is not None or method != "GET":
            headers["Content-Length"] = str(len(body or b""))
        return self.api(method, target, body, headers)

    def test_every_call_as_the_sdk_sends_it(self):
        for status in (0, 1):
            self.assertEqual(self.sdk("PUT", "%s?id=%s&status=%d" % (CHANGE, HOOK, status))[0],
                             200)
            self.assertEqual(self.status_of(HOOK), status)
        body = ('{"subscriberId": "%s", "subscriberKey": "%s", "url": "%s"}'
                % (self.SUB_ID, "sdk-key", self.rx.url())).encode()
        self.assertEqual(self.sdk("POST", LINK, body)[:3:2], (200, b""))
        cfg, = self.configs()
        status, _, out = self.sdk("GET", LINK)
        self.assertEqual((status, json.loads(out)["id"]), (200, cfg["id"]))
        self.assertEqual(self.sdk("DELETE", LINK + "?id=" + cfg["id"])[:3:2], (200, b""))
        self.assertEqual(self.configs(), [])
        status, _, out = self.sdk("GET", "/v1/mmc/management/conferences"
                                         "?limit=10&offset=0&searchKey=sync")
        self.assertEqual((status, json.loads(out)["count"]), (200, 1))
        self.assertEqual(self.sdk("DELETE", TOKEN)[:3:2], (200, b""))
        self.assertEqual(self.ctl("GET", "/control/tokens")[1]["logged_out"], 1)
        recs = [r for r in self.requests() if r["path"] != APPAUTH]
        self.assertEqual([r["headers"].get("content-length") for r in recs],
                         ["0", "0", str(len(body)), None, "0", None, "0"])
        self.assertTrue(all(r["headers"]["content-type"] == "application/json" for r in recs))

    def test_json_members_in_any_order_with_spaces(self):
        body = ('{ "url" : "%s" ,\n\t"subscriberKey": "k", "subscriberId": "%s" }'
                % (self.rx.url(), self.SUB_ID)).encode()
        self.assertEqual(self.sdk("POST", LINK, body)[:3:2], (200, b""))
        self.assertEqual(self.configs()[0]["subscriberKey"], "k")
        expire, nonce = int(time.time()) + 600, str(uuid.uuid4())
        sig = hmac.new(ENT[1].encode(), ("%s::%d:%s" % (ENT[0], expire, nonce)).encode(),
                       hashlib.sha256).hexdigest()
        login = ('{"nonce": "%s", "clientType": 72, "expireTime": %d, "appId": "%s"}'
                 % (nonce, expire, ENT[0])).encode()
        status, _, out = self.api("POST", APPAUTH, login, {
            "Content-Type": "application/json",
            "Authorization": "HMAC-SHA256 signature=%s,access=%s" % (sig, b64(ENT[0]))})
        self.assertEqual(status, 200, out)
        # Bodies on bodiless calls are still refused, whatever their Content-Type.
        status, hdrs, out = self.sdk("DELETE", TOKEN, b"{}")
        self.assertError((status, hdrs, json.loads(out)), 400, "USG.000000001")


class LogoutTests(HookBase):

    def logout(self, token, query=None, body=None):
        return self.put(query, token, body=body, method="DELETE", path=TOKEN)

    def test_logout_invalidates_only_that_token(self):
        other = self.login()
        status, hdrs, out = self.logout(self.token)
        self.assertEqual((status, out), (200, b""))
        self.assertRegex(hdrs["x-request-id"], HEX32)
        self.assertEqual(self.ctl("GET", "/control/tokens")[1],
                         {"ok": True, "issued": 2, "active": 1, "logged_out": 1})
        good = "id=%s&status=1" % HOOK
        self.assertError(self.put_json(good, self.token), 401, "USG.000000004")
        self.assertError(self.show(token=self.token), 401, "USG.000000004")
        status, hdrs, out = self.logout(self.token)
        self.assertError((status, hdrs, json.loads(out)), 401, "USG.000000004")
        self.assertEqual(self.put(good, other)[0], 200)
        rec = self.requests()
        self.assertEqual([(r["method"], r["path"], r["status"]) for r in rec
                          if r["path"] == TOKEN], [("DELETE", TOKEN, 200), ("DELETE", TOKEN, 401)])
        self.assertEqual(rec[-3]["headers"]["x-access-token"], self.token)

    def test_rejected_logout_keeps_token(self):
        for query, body in (("x=1", None), ("", b"{}")):
            with self.subTest(query=query, body=body):
                status, hdrs, out = self.logout(self.token, query, body)
                self.assertError((status, hdrs, json.loads(out)), 400, "USG.000000001")
        self.assertEqual(self.ctl("GET", "/control/tokens")[1]["logged_out"], 0)
        self.assertEqual(self.put("id=%s&status=1" % HOOK, self.token)[0], 200)


class HandshakeTests(HookBase):

    def enable(self, hook_id, status=0):
        status, hdrs, out = self.put("id=%s&status=%d" % (hook_id, status), self.token)
        return status, hdrs, json.loads(out)

    def assertRefused(self, cfg, why):
        status, hdrs, out = self.enable(cfg["id"])
        self.assertError((status, hdrs, out), 400, "MMC.111070008")
        self.assertIn(why, out["error_msg"])
        self.assertNotIn(self.SUB_KEY, out["error_msg"])
        self.assertEqual(self.status_of(cfg["id"]), 1)

    def test_enable_passes_with_the_echoed_nonce(self):
        cfg = self.new_config()
        before = int(time.time() * 1000)
        status, _, out = self.put("id=%s&status=0" % cfg["id"], self.token)
        self.assertEqual((status, out), (200, b'{"returnCode":0,"returnDesc":"success"}'))
        self.assertEqual(self.status_of(cfg["id"]), 0)
        self.assertEqual(self.show()[2]["status"], 0)
        got, = self.rx.got
        self.assertEqual(got["path"], "/mmc/events?src=huawei")
        self.assertEqual(got["headers"]["content-type"], "application/json")
        self.assertEqual(got["headers"]["host"], "127.0.0.1:%d" % self.rx.port)
        push = self.assertSigned(got["body"])
        self.assertRegex(push["nonce"], HEX32)
        self.assertEqual(push["eventInfo"]["event"], "meeting.verify")
        self.assertEqual(push["eventInfo"]["timestamp"], push["timestamp"])
        self.assertLessEqual(before, push["timestamp"])
        self.assertLessEqual(push["timestamp"], time.time() * 1000 + 1)
        rec, = self.pushes()
        self.assertEqual({k: rec[k] for k in ("seq", "kind", "id", "event", "nonce", "url",
                                              "status", "sent_body")},
                         {"seq": 1, "kind": "verify", "id": cfg["id"],
                          "event": "meeting.verify", "nonce": push["nonce"],
                          "url": self.rx.url(), "status": 200, "sent_body": got["body"]})
        self.assertEqual(json.loads(rec["body"]), {"event": "meeting.verify",
                                                   "nonce": push["nonce"]})
        self.assertNotIn("error", rec)
        # Each enabling asks again, with a fresh nonce.
        self.assertEqual(self.enable(cfg["id"])[0], 200)
        self.assertNotEqual(self.pushes()[1]["nonce"], push["nonce"])

    def test_disable_lock_and_setup_records_need_no_handshake(self):
        cfg = self.new_config()
        self.rx.reply = lambda raw: (500, b"down")
        for status in (2, 1, 2):
            self.assertEqual(self.enable(cfg["id"], status)[0], 200)
            self.assertEqual(self.status_of(cfg["id"]), status)
        self.assertEqual(self.enable(HOOK)[0], 200)            # no url: as before
        self.assertEqual(self.status_of(HOOK), 0)
        self.assertEqual((self.rx.got, self.pushes()), ([], []))

    def test_enable_refused(self):
        cfg = self.new_config()
        verify = lambda nonce: json.dumps({"event": "meeting.verify", "nonce": nonce}).encode()
        nonce_of = lambda raw: json.loads(raw)["nonce"]
        cases = [
            ("wrong nonce", lambda raw: (200, verify("0" * 32)), "wrong nonce"),
            ("nonce of upper case", lambda raw: (200, verify(nonce_of(raw).upper())),
             "wrong nonce"),
            ("HTTP 500", lambda raw: (500, verify(nonce_of(raw))), "HTTP 500"),
            ("HTTP 204", lambda raw: (204, b""), "HTTP 204"),
            ("empty 200", lambda raw: (200, b""), "not JSON"),
            ("other event", lambda raw: (200, json.dumps({"event": "meeting.started",
                                                          "nonce": nonce_of(raw)}).encode()),
             "event"),
            ("extra key", lambda raw: (200, json.dumps({"event": "meeting.verify", "ok": 1,
                                                        "nonce": nonce_of(raw)}).encode()),
             "exactly"),
            ("nonce missing", lambda raw: (200, b'{"event":"meeting.verify"}'), "exactly"),
        ]
        for name, reply, why in cases:
            with self.subTest(name):
                self.rx.reply = reply
                self.assertRefused(cfg, why)
        self.assertEqual(len(self.rx.got), len(cases))
        self.assertTrue(all(p["kind"] == "verify" and "error" not in p for p in self.pushes()))
        self.rx.reply = Receiver.echo
        self.assertEqual(self.enable(cfg["id"])[0], 200)

    def test_enable_refused_without_a_receiver(self):
        # Nothing listens.
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        cfg = self.new_config(url="https://127.0.0.1:%d/x" % port)
        self.assertRefused(cfg, "no answer")
        self.assertIn("Connection", self.pushes()[-1]["error"])
        # A receiver whose certificate is not for the url's host.
        bad = Receiver(cert="wrong-host")
        self.addCleanup(bad.stop)
        cfg = self.new_config(url=bad.url())
        self.assertRefused(cfg, "CERTIFICATE_VERIFY_FAILED")
        self.assertEqual(bad.got, [])
        # A host other than 127.0.0.1/localhost: refused without any traffic.
        cfg = self.new_config(url="https://example.invalid/hook")
        self.assertRefused(cfg, "only to 127.0.0.1")
        self.assertNotIn("status", self.pushes()[-1])

    def test_localhost_url(self):
        cfg = self.new_config(url=self.rx.url("/", host="localhost"))
        self.assertEqual(self.enable(cfg["id"])[0], 200)
        self.assertEqual(self.rx.got[0]["headers"]["host"], "localhost:%d" % self.rx.port)

    def test_push_timeout(self):
        m = Mock("--push-timeout", "0.3")
        try:
            self.mock = m
            self.ctl("POST", "/control/setup", SETUP)
            self.token = self.login()
            cfg = self.new_config()
            self.rx.delay = 1.0
            t0 = time.time()
            status, hdrs, out = self.enable(cfg["id"])
            self.assertError((status, hdrs, out), 400, "MMC.111070008")
            self.assertIn("timed out", out["error_msg"])
            self.assertLess(time.time() - t0, 0.9)
            self.assertEqual(self.status_of(cfg["id"]), 1)
        finally:
            self.assertEqual(m.stop(), 0)


class PushControlTests(HookBase):

    def test_push_default_payload(self):
        cfg = self.new_config()
        before = int(time.time() * 1000)
        status, out = self.ctl("POST", "/control/push", {"id": cfg["id"],
                                                         "event": "meeting.started"})
        self.assertEqual(status, 200, out)
        self.assertEqual((out["ok"], out["status"], out["body"], out["kind"]),
                         (True, 200, "", "control"))
        got, = self.rx.got
        self.assertEqual(out["sent_body"], got["body"])
        push = self.assertSigned(got["body"])
        self.assertEqual((push["nonce"], push["timestamp"]), (out["nonce"], out["timestamp"]))
        self.assertGreaterEqual(push["timestamp"], before)
        info = push["eventInfo"]
        self.assertEqual(info["event"], "meeting.started")
        payload = info["payload"]
        self.assertEqual(set(payload), {"meetingInfo", "attendeeInfo"})
        self.assertEqual(set(payload["meetingInfo"]),
                         {"meetingID", "meetingUUID", "meetingCycleSubID"})
        self.assertEqual(set(payload["attendeeInfo"]),
                         {"userUUID", "userAgent", "account", "participantID", "displayName",
                          "joinTime", "leftTime", "role", "callNumber"})
        # Raw UTF-8 and unescaped '/' in the signed text.
        self.assertIn("张三", got["body"])
        self.assertIn("CloudLink/9", got["body"])
        self.assertEqual(self.pushes(), [{k: v for k, v in out.items() if k != "ok"}])

    def test_push_custom_payload_nonce_timestamp_and_status(self):
        cfg = self.new_config()
        self.rx.reply = lambda raw: (503, b"busy")
        payload = {"meetingInfo": {"meetingID": "1"}, "list": [1, 2.5, None, True],
                   "text": "\u00e9\"\\/\n"}
        status, out = self.ctl("POST", "/control/push", {
            "id": cfg["id"], "event": "meeting.end", "payload": payload,
            "nonce": "n o\u00e9n\"ce", "timestamp": 1000})
        self.assertEqual((status, out["status"], out["body"]), (200, 503, "busy"))
        push = self.assertSigned(self.rx.got[0]["body"])
        self.assertEqual(push["eventInfo"]["payload"], payload)
        self.assertEqual((push["nonce"], push["timestamp"], push["eventInfo"]["timestamp"]),
                         ("n o\u00e9n\"ce", 1000, 1000))
        # meeting.verify from the control API too; its default payload is {}.
        self.rx.reply = Receiver.echo
        out = self.ctl("POST", "/control/push", {"id": cfg["id"], "event": "meeting.verify"})[1]
        self.assertEqual(json.loads(out["body"])["nonce"], out["nonce"])
        self.assertEqual(self.assertSigned(out["sent_body"])["eventInfo"]["payload"], {})
        self.assertEqual([p["seq"] for p in self.pushes()], [1, 2])
        # Setup clears pushes and configs.
        self.ctl("POST", "/control/setup", SETUP)
        self.assertEqual((self.pushes(), self.configs()), ([], []))

    def test_push_without_receiver(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        cfg = self.new_config(url="https://127.0.0.1:%d/" % port)
        status, out = self.ctl("POST", "/control/push", {"id": cfg["id"],
                                                         "event": "meeting.join"})
        self.assertEqual(status, 200)
        self.assertIn("error", out)
        self.assertNotIn("status", out)
        self.assertEqual(self.pushes()[0]["error"], out["error"])

    def test_push_retry(self):
        cfg = self.new_config()
        answers = [500, 503, 200]
        self.rx.reply = lambda raw: (answers.pop(0) if answers else 200, b"")
        self.assertEqual(self.ctl("POST", "/control/push-retry", {"first": 0.1, "every": 0.1,
                                                                  "for": 5})[0], 200)
        out = self.ctl("POST", "/control/push", {"id": cfg["id"], "event": "meeting.end"})[1]
        self.assertEqual(out["status"], 500)
        deadline = time.time() + 5
        while len(self.pushes()) < 3 and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)   # and no more once one was answered 200
        pushes = self.pushes()
        self.assertEqual([(p["kind"], p.get("attempt"), p["status"]) for p in pushes],
                         [("control", None, 500), ("retry", 1, 503), ("retry", 2, 200)])
        self.assertEqual({p["sent_body"] for p in pushes}, {out["sent_body"]})
        self.assertEqual([g["body"] for g in self.rx.got], [out["sent_body"]] * 3)
        self.assertEqual(pushes[1]["retry_of"], out["seq"])
        # Retries stop after `for`, and setup stops them (and turns retrying off).
        # Retries at about 0.2 s and 0.8 s; the next would be at 1.4 s, past 1.0 s. The margins
        # (0.2 s before the window ends, 0.4 s after) hold on a loaded machine, where each
        # delivery over TLS takes a while and the next retry is timed from its end.
        self.ctl("POST", "/control/push-retry", {"first": 0.2, "times": 1, "every": 0.6,
                                                 "for": 1.0})
        self.rx.reply = lambda raw: (500, b"")
        self.ctl("POST", "/control/push", {"id": cfg["id"], "event": "meeting.end"})
        deadline = time.time() + 5
        while len(self.pushes()) < 6 and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.8)   # and no third retry, past the window
        self.assertEqual([p["kind"] for p in self.pushes()[3:]], ["control", "retry", "retry"])
        self.ctl("POST", "/control/push-retry", {"first": 0.2})
        self.ctl("POST", "/control/push", {"id": cfg["id"], "event": "meeting.end"})
        self.ctl("POST", "/control/setup", SETUP)
        time.sleep(0.4)
        self.assertEqual(self.pushes(), [])
        for bad in ({"first": 0}, {"every": "1"}, {"for": True}, {"x": 1}, {"speed": 0},
                    {"speed": -2}, {"times": 1.5}, {"times": -1}, {"times": True},
                    {"off": 1}):
            self.assertEqual(self.ctl("POST", "/control/push-retry", bad)[0], 400, bad)

    def retries_of(self, first_seq):
        return [p for p in self.pushes() if p.get("retry_of") == first_seq]

    def wait_for_retries(self, first_seq, n, seconds):
        deadline = time.time() + seconds
        while len(self.retries_of(first_seq)) < n and time.time() < deadline:
            time.sleep(0.05)
        return self.retries_of(first_seq)

    def test_push_retry_follows_huaweis_schedule_sped_up(self):
        # Huawei: again after 30 s, three times, then every 30 minutes. 1200 times faster:
        # 25 ms three times, then every 1.5 s. Each wait runs from the end of the attempt
        # before; the upper bounds leave a loaded machine a second of slack.
        cfg = self.new_config()
        self.rx.reply = lambda raw: (503, b"")
        status, out = self.ctl("POST", "/control/push-retry", {"speed": 1200})
        self.assertEqual(status, 200, out)
        self.assertEqual(out["push_retry"], {"first": 30.0, "times": 3, "every": 1800.0,
                                             "for": 86400.0, "speed": 1200.0})
        first = self.ctl("POST", "/control/push", {"id": cfg["id"], "event": "meeting.end"})[1]
        retries = self.wait_for_retries(first["seq"], 5, 10)
        self.assertEqual([r["attempt"] for r in retries[:5]], [1, 2, 3, 4, 5])
        attempts = [first] + retries[:5]
        gaps = [b["time"] - (a["time"] + a["seconds"]) for a, b in zip(attempts, attempts[1:])]
        for i, gap in enumerate(gaps[:3]):
            self.assertGreaterEqual(gap, 0.025 - 0.005, gaps)
            self.assertLess(gap, 1.0, gaps)       # well before 1.5 s: the 30 s retries
        for gap in gaps[3:]:
            self.assertGreaterEqual(gap, 1.5 - 0.005, gaps)
            self.assertLess(gap, 2.5, gaps)
        self.assertEqual({r["sent_body"] for r in retries}, {first["sent_body"]})
        self.ctl("POST", "/control/setup", SETUP)    # stops them

    def test_push_retry_drops_the_push_after_the_day(self):
        # 43200 times faster: the day is 2 s, every 30 minutes is 42 ms.
        cfg = self.new_config()
        self.rx.reply = lambda raw: (500, b"")
        self.ctl("POST", "/control/push-retry", {"speed": 43200})
        first = self.ctl("POST", "/control/push", {"id": cfg["id"], "event": "meeting.end"})[1]
        time.sleep(2.0)
        count = len(self.wait_for_retries(first["seq"], 10 ** 6, 1.0))   # past the day
        time.sleep(0.5)
        retries = self.retries_of(first["seq"])
        self.assertEqual(len(retries), count, "a retry after the day")
        self.assertGreaterEqual(count, 4)    # 3 quick ones and at least one of the others
        self.assertLessEqual(count, 3 + 48)
        # Timers may start late on a loaded machine; none is scheduled past the day.
        self.assertLessEqual(max(r["time"] for r in retries) - first["time"], 2.0 + 0.5)

    def test_push_retry_from_the_setup(self):
        cfg_of = lambda: self.new_config()
        for setting in (True, {"speed": 1200, "times": 1}):
            with self.subTest(setting=setting):
                self.assertEqual(self.ctl("POST", "/control/setup",
                                          dict(SETUP, push_retry=setting))[0], 200)
                self.token = self.login()
                cfg = cfg_of()
                self.rx.reply = lambda raw: (500, b"")
                first = self.ctl("POST", "/control/push", {"id": cfg["id"],
                                                          "event": "meeting.end"})[1]
                if setting is True:     # Huawei's own schedule: nothing before 30 s
                    time.sleep(0.3)
                    self.assertEqual(self.retries_of(first["seq"]), [])
                else:
                    self.assertEqual(len(self.wait_for_retries(first["seq"], 1, 5)), 1)
        for bad in ({"speed": 0}, "yes", 1, {"x": 1}):
            with self.subTest(bad=bad):
                self.assertEqual(self.ctl("POST", "/control/setup",
                                          dict(SETUP, push_retry=bad))[0], 400)
        self.ctl("POST", "/control/setup", SETUP)

    def test_sign_push_does_not_send(self):
        cfg = self.new_config(subscriberId="other-sub", subscriberKey="k")
        status, out = self.ctl("POST", "/control/sign-push", {
            "id": cfg["id"], "event": "record.finish", "timestamp": 1234567890123})
        self.assertEqual(status, 200, out)
        self.assertEqual(set(out), {"ok", "body", "nonce", "timestamp"})
        push = self.assertSigned(out["body"], "other-sub", "k")
        self.assertEqual((push["timestamp"], push["nonce"]), (1234567890123, out["nonce"]))
        self.assertEqual(push["eventInfo"]["event"], "record.finish")
        # Tampering anywhere breaks the signature (the receiver's job to notice).
        tampered = out["body"].replace("985472154", "985472155")
        self.assertNotEqual(tampered, out["body"])
        with self.assertRaises(AssertionError):
            self.assertSigned(tampered, "other-sub", "k")
        self.assertEqual((self.rx.got, self.pushes()), ([], []))
        # Signing is deterministic given nonce and timestamp.
        again = self.ctl("POST", "/control/sign-push", {
            "id": cfg["id"], "event": "record.finish", "timestamp": 1234567890123,
            "nonce": out["nonce"]})[1]
        self.assertEqual(again["body"], out["body"])

    def test_control_rejections(self):
        cfg = self.new_config()
        bad = [{}, {"id": cfg["id"]}, {"event": "meeting.started"},
               {"id": "nope", "event": "meeting.started"},
               {"id": HOOK, "event": "meeting.started"},
               {"id": cfg["id"], "event": "meeting.bogus"},
               {"id": cfg["id"], "event": "meeting.started", "payload": []},
               {"id": cfg["id"], "event": "meeting.started", "payload": "x"},
               {"id": cfg["id"], "event": "meeting.started", "timestamp": True},
               {"id": cfg["id"], "event": "meeting.started", "timestamp": -1},
               {"id": cfg["id"], "event": "meeting.started", "timestamp": 1.5},
               {"id": cfg["id"], "event": "meeting.started", "nonce": ""},
               {"id": cfg["id"], "event": "meeting.started", "key": "k"},
               {"id": 5, "event": "meeting.started"}]
        for body in bad:
            for path in ("/control/push", "/control/sign-push"):
                with self.subTest(path=path, body=body):
                    status, out = self.ctl("POST", path, body)
                    self.assertEqual((status, out["ok"]), (400, False), out)
        self.assertIn("no url", self.ctl("POST", "/control/push",
                                         {"id": HOOK, "event": "meeting.end"})[1]["error"])
        self.assertEqual((self.rx.got, self.pushes()), ([], []))


if __name__ == "__main__":
    unittest.main()
