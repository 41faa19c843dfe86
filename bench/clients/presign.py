#!/usr/bin/env python3
"""Prints one signed App ID authentication request for the clients of bench/run that cannot
sign (Lua 5.1's lua-curl, LuaSec, the curl command), as two shell assignments:

    BENCH_AUTH_BODY='{"appId":...}'
    BENCH_AUTH_HEADER='HMAC-SHA256 signature=...,access=...'

Signed as shared/mmc-api.md says, from BENCH_APP_ID and BENCH_APP_KEY; good for one use
(its nonce) within 10 minutes."""
import base64, hmac, hashlib, json, os, secrets, shlex, time

app_id, app_key = os.environ["BENCH_APP_ID"], os.environ["BENCH_APP_KEY"]
expire, nonce = int(time.time()) + 600, secrets.token_hex(24)
signature = hmac.new(app_key.encode(), f"{app_id}::{expire}:{nonce}".encode(),
                     hashlib.sha256).hexdigest()
body = json.dumps({"appId": app_id, "clientType": 72, "expireTime": expire, "nonce": nonce},
                  separators=(",", ":"))
access = base64.b64encode(app_id.encode()).decode()
print("BENCH_AUTH_BODY=" + shlex.quote(body))
print("BENCH_AUTH_HEADER=" + shlex.quote(f"HMAC-SHA256 signature={signature},access={access}"))
