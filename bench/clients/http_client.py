#!/usr/bin/env python3
"""Python's standard library http.client with one kept-alive HTTPS connection (the transport
of Huawei's official Python SDK, without the SDK's own overhead), for bench/run:

    http_client.py status N   authenticate (not timed), then N timed change-status calls
    http_client.py cold N     the first call from cold (connect, TLS, authentication, call)
                              timed alone, then N steady calls
    http_client.py curl N     the curl command, run once per call as the API documentation
                              shows it (with --cacert instead of -k): first an authentication
                              (signed by bench/run: BENCH_AUTH_BODY, BENCH_AUTH_HEADER) and a
                              call, timed together, then N timed calls

It signs the authentication itself, as shared/mmc-api.md says. Prints the RESULT line
(see clients/common.lua); for the curl command CPU time and peak memory are the children's.
"""
import base64, hashlib, hmac, http.client, json, os, resource, secrets, ssl, subprocess
import sys, time, urllib.parse, uuid

env = os.environ
endpoint = urllib.parse.urlsplit(env["BENCH_ENDPOINT"])
app_id, app_key, webhook_id = env["BENCH_APP_ID"], env["BENCH_APP_KEY"], env["BENCH_WEBHOOK_ID"]
ca = env["BENCH_CA"]
STATUS_PATH = "/v1/mmc/management/webhook/change-status?id=%s&status=0" % urllib.parse.quote(
    webhook_id, safe="")
AUTH_PATH = "/v2/usg/acs/auth/appauth"


def hwm_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


def report(lat, wall, cpu, hwm, extra=()):
    lat.sort()
    n = len(lat)
    p99 = int(0.99 * (n - 1) + 0.5)
    print("RESULT calls=%d wall=%.6f cpu=%.6f p50=%.1f p99=%.1f hwm=%d%s" % (
        n, wall, cpu, lat[(n - 1) // 2] * 1e6, lat[p99] * 1e6, hwm,
        "".join(" " + kv for kv in extra)), flush=True)


class Client:
    def __init__(self):
        context = ssl.create_default_context(cafile=ca)
        self.conn = http.client.HTTPSConnection(endpoint.hostname, endpoint.port,
                                                context=context, timeout=30)
        self.token = None

    def authenticate(self):
        expire, nonce = int(time.time()) + 600, secrets.token_hex(24)
        sig = hmac.new(app_key.encode(), f"{app_id}::{expire}:{nonce}".encode(),
                       hashlib.sha256).hexdigest()
        body = json.dumps({"appId": app_id, "clientType": 72, "expireTime": expire,
                           "nonce": nonce}, separators=(",", ":"))
        access = base64.b64encode(app_id.encode()).decode()
        self.conn.request("POST", AUTH_PATH, body=body, headers={
            "Content-Type": "application/json; charset=UTF-8", "Accept": "application/json",
            "X-Request-ID": str(uuid.uuid4()),
            "Authorization": f"HMAC-SHA256 signature={sig},access={access}"})
        r = self.conn.getresponse()
        answer = json.loads(r.read())
        assert r.status == 200, answer
        self.token = answer["accessToken"]

    def call(self):
        self.conn.request("PUT", STATUS_PATH, headers={
            "Accept": "application/json", "X-Request-ID": str(uuid.uuid4()),
            "X-Access-Token": self.token, "Content-Length": "0"})
        r = self.conn.getresponse()
        json.loads(r.read())
        return r.status


def timed_loop(n, fn):
    lat = [0.0] * n
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for i in range(n):
        t = time.perf_counter()
        status = fn()
        lat[i] = time.perf_counter() - t
        if status != 200:
            sys.exit("http_client: call %d: HTTP %s" % (i + 1, status))
    return lat, time.perf_counter() - wall0, time.process_time() - cpu0


def curl_command(*args):
    """Runs curl once (as the API docs show it, verifying the certificate instead of -k);
    returns the HTTP status and the body."""
    out = subprocess.run(["curl", "-sS", "-w", "\\n%{http_code}", "--cacert", ca] + list(args),
                         check=True, capture_output=True, text=True).stdout
    body, _, status = out.rpartition("\n")
    return int(status), body


def curl_mode(n):
    t = time.perf_counter()
    status, body = curl_command(
        "-X", "POST", "-H", "Content-Type: application/json; charset=UTF-8",
        "-H", "Authorization: " + env["BENCH_AUTH_HEADER"], "-d", env["BENCH_AUTH_BODY"],
        env["BENCH_ENDPOINT"] + AUTH_PATH)
    assert status == 200, body
    token = json.loads(body)["accessToken"]
    call_args = ("-X", "PUT", "-H", "Accept: application/json", "-H", "X-Access-Token: " + token,
                 env["BENCH_ENDPOINT"] + STATUS_PATH)
    assert curl_command(*call_args)[0] == 200
    first = time.perf_counter() - t
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    lat, wall, _ = timed_loop(n, lambda: curl_command(*call_args)[0])
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    report(lat, wall, cpu, after.ru_maxrss, ["first=%.1f" % (first * 1e6)])


def main():
    mode, n = sys.argv[1], int(sys.argv[2])
    extra = []
    if mode == "curl":
        return curl_mode(n)
    client = Client()
    if mode == "cold":
        t = time.perf_counter()
        client.authenticate()
        assert client.call() == 200
        extra.append("first=%.1f" % ((time.perf_counter() - t) * 1e6))
    elif mode == "status":
        client.authenticate()
    else:
        sys.exit("mode must be status, cold or curl")
    lat, wall, cpu = timed_loop(n, client.call)
    report(lat, wall, cpu, hwm_kb(), extra)


if __name__ == "__main__":   # clients/pool_client.py imports Client
    main()
