"""Recordings for the Huawei API mock: downloadurls, and the second HTTPS host that serves the
files against one-time tokens. huawei_mock.py calls install() once its own routes exist,
add_arguments() on its parser and start() in main(); nothing else of it knows about this.

    GET /v1/mmc/management/record/downloadurls?confUUID=&offset=&limit=   (X-Access-Token)
answers, as Huawei does (reference section 6):
    {"offset":0,"limit":20,"count":1,
     "recordUrls":[{"confUuid":"..","urls":[{"url":"https://127.0.0.1:PORT/..","token":"..",
                                             "fileType":"Hd"}, ...Sd, Aux]}]}
Each url is on the file host (its own port, HTTPS with the same certificate as the API, which
names IP 127.0.0.1), and is served only with `Authorization: <its token>`: a token is valid
one hour and spent by its first use (whatever happens to that transfer afterwards).

Decided here (assumed: Huawei documents none of it):
  * the recorded meetings are the confUUIDs in `recordings` (by default one: the meetingUUID of
    the mock's default record.finish push, a8a4d4e0b6c511ee9a0b5f2c1d3e4f50); POST
    /control/recordings adds one; an unknown confUUID answers 200 with count 0 and no
    recordUrls; a missing or empty confUUID is 400 MMC.111070001.
  * the file host refuses with 401 and a JSON error body: MMC.111071101 no Authorization,
    MMC.111071102 unknown token (or one of another file), MMC.111071103 token already used,
    MMC.111071104 token expired; an unknown path is 404 MMC.111071105; a method other than
    GET is 405.
  * the files: one deterministic byte stream of --recording-size bytes (default 64 MiB, or
    MMC_MOCK_RECORDING_SIZE), made at start in an unlinked temporary file (never on disk under
    a name, gone when the mock stops however it stops): Hd is all of it, Sd its first quarter,
    Aux its first sixteenth. GET /control/recording-files gives each one's size and SHA-256
    (waiting until the stream is made).

Control routes: GET /control/recording-files, POST /control/recordings {"confUUID": ..,
"fileTypes": ["Hd", ..]}, POST /control/expire-download {"token": ..} (or {} for all),
GET /control/file-requests (every request the file host read, its headers included),
POST /control/clear-file-requests.
"""

import hashlib
import json
import os
import random
import re
import secrets
import tempfile
import threading
import time

DOWNLOADURLS_PATH = "/v1/mmc/management/record/downloadurls"
DEFAULT_SIZE = 64 << 20
MIN_SIZE = 16
FILE_TYPES = ("Hd", "Sd", "Aux")
FRACTION = {"Hd": 1, "Sd": 4, "Aux": 16}   # each file is the stream's first size/FRACTION bytes
TOKEN_LIFE = 3600.0
DEFAULT_RECORDED = "a8a4d4e0b6c511ee9a0b5f2c1d3e4f50"
CHUNK = 1 << 20
SEND = 256 << 10
UUID_RE = re.compile(r"[0-9A-Za-z_-]{1,64}")
E_NO_AUTH, E_BAD_TOKEN, E_SPENT, E_EXPIRED, E_NO_FILE = (
    "MMC.111071101", "MMC.111071102", "MMC.111071103", "MMC.111071104", "MMC.111071105")

M = None   # the huawei_mock module, set by install()


class Recordings:
    """The file host's state; guarded by the mock's one lock (st.lock)."""

    def __init__(self, size):
        self.size = size
        self.recorded = {DEFAULT_RECORDED: list(FILE_TYPES)}
        self.tokens = {}         # token -> {conf, type, expires_at, spent}
        self.requests = []
        self.base = None         # "https://127.0.0.1:PORT"
        self.made = threading.Event()
        self.fd = None
        self.files = {}          # type -> {"size", "sha256"}
        self.error = None

    def make(self):
        """The byte stream: random.Random seeded with a constant, so every run (and every
        checker) gets the same bytes for the same size."""
        try:
            f = tempfile.TemporaryFile(prefix="mmc-recording-")
            rnd = random.Random(0x6d6d63)
            ends = {t: self.size // FRACTION[t] for t in FILE_TYPES}
            hashes = {t: hashlib.sha256() for t in FILE_TYPES}
            done = 0
            while done < self.size:
                chunk = rnd.randbytes(min(CHUNK, self.size - done))
                for t in FILE_TYPES:
                    if done < ends[t]:
                        hashes[t].update(chunk[:ends[t] - done])
                f.write(chunk)
                done += len(chunk)
            f.flush()
            self.files = {t: {"size": ends[t], "sha256": hashes[t].hexdigest()}
                          for t in FILE_TYPES}
            self.fd = f
        except OSError as e:
            self.error = "the recording could not be made: %s" % e
        self.made.set()


def _state(st):
    return st.recordings


def _downloadurls(handler, st, tok, query, body):
    params = M._meeting_query(query, ("confUUID", "offset", "limit"))
    conf = params.get("confUUID")
    if not conf:
        raise M.ApiError(400, M.E_BAD_PARAM, "confUUID is required")
    rec = _state(st)
    now = time.time()
    with st.lock:
        types = rec.recorded.get(conf)
        entries = []
        if types:
            urls = []
            for t in types:
                token = secrets.token_urlsafe(32)
                rec.tokens[token] = {"conf": conf, "type": t, "expires_at": now + TOKEN_LIFE,
                                     "spent": False}
                urls.append({"url": "%s/recordings/%s/%s.mp4" % (rec.base, conf, t),
                             "token": token, "fileType": t})
            entries.append({"confUuid": conf, "urls": urls})
    page = M._page(entries, params)
    return {"offset": page["offset"], "limit": page["limit"], "count": page["count"],
            "recordUrls": page["data"]}


FileHandler = None   # made by install(): it needs huawei_mock's QuietHandler


def _file_handler_class():
    class Handler(M.QuietHandler):

        def dispatch(self):
            st = self.server.state
            rec = _state(st)
            path = self.raw_target().partition("?")[0]
            entry = {"method": self.command, "path": path,
                     "headers": {k.lower(): v for k, v in self.headers.items()},
                     "status": None, "time": time.time()}
            with st.lock:
                rec.requests.append(entry)
            try:
                self.read_body()
                status, code, msg, token = self._check(st, rec, path)
            except M.ApiError as e:
                status, code, msg, token = e.status, e.code, e.msg, None
            entry["status"] = status
            if status != 200:
                out = json.dumps({"error_code": code, "error_msg": msg,
                                  "request_id": M.uuid.uuid4().hex}).encode()
                self.send_body(status, out, headers=[("Allow", "GET")] if status == 405 else ())
                return
            self._send_file(rec, token)

        def _check(self, st, rec, path):
            m = re.fullmatch(r"/recordings/([^/]+)/(Hd|Sd|Aux)\.mp4", path)
            if self.command != "GET":
                return 405, "MOCK.405", "method %s not allowed" % self.command, None
            if m is None:
                return 404, E_NO_FILE, "no such file", None
            values = self.headers.get_all("Authorization") or []
            if len(values) != 1 or not values[0]:
                return 401, E_NO_AUTH, "Authorization (the download token) missing", None
            token = values[0]
            now = time.time()
            with st.lock:
                t = rec.tokens.get(token)
                if t is None or (t["conf"], t["type"]) != (m.group(1), m.group(2)):
                    return 401, E_BAD_TOKEN, "download token invalid", None
                if t["spent"]:
                    return 401, E_SPENT, "download token already used", None
                if now >= t["expires_at"]:
                    return 401, E_EXPIRED, "download token expired", None
                t["spent"] = True
                return 200, None, None, t

        def _send_file(self, rec, token):
            rec.made.wait()
            if rec.error:
                self.send_body(500, json.dumps({"error_code": "MOCK.500",
                                                "error_msg": rec.error}).encode(), close=True)
                return
            size = rec.files[token["type"]]["size"]
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(size))
            self.send_header("X-Request-Id", M.uuid.uuid4().hex)
            self.end_headers()
            done, fd = 0, rec.fd.fileno()
            while done < size:
                data = os.pread(fd, min(SEND, size - done), done)
                if not data:
                    break
                self.wfile.write(data)
                done += len(data)

    return Handler


def c_recording_files(st, arg):
    rec = _state(st)
    rec.made.wait()
    if rec.error:
        raise M.BadInput(rec.error)
    return {"ok": True, "base": rec.base, "files": rec.files}


def c_recordings(st, arg):
    M._check_keys(arg, ("confUUID", "fileTypes"), "recordings")
    conf, types = arg.get("confUUID"), arg.get("fileTypes", list(FILE_TYPES))
    if not isinstance(conf, str) or not UUID_RE.fullmatch(conf):
        raise M.BadInput("confUUID must be 1..64 letters, digits, - or _")
    if not isinstance(types, list) or not types or not set(types) <= set(FILE_TYPES) or \
            len(set(types)) != len(types):
        raise M.BadInput("fileTypes must be a list of distinct Hd, Sd, Aux")
    with st.lock:
        _state(st).recorded[conf] = list(types)
    return {"ok": True}


def c_expire_download(st, arg):
    M._check_keys(arg, ("token",), "expire-download")
    rec = _state(st)
    with st.lock:
        if "token" in arg:
            t = rec.tokens.get(arg["token"])
            targets = [t] if t else []
        else:
            targets = list(rec.tokens.values())
        for t in targets:
            t["expires_at"] = 0.0
    return {"ok": True, "expired": len(targets)}


def c_file_requests(st, arg):
    with st.lock:
        return {"ok": True, "requests": [dict(r, headers=dict(r["headers"]))
                                         for r in _state(st).requests]}


def c_clear_file_requests(st, arg):
    with st.lock:
        _state(st).requests = []
    return {"ok": True}


def install(mock):
    """Adds the routes to huawei_mock's tables (called once, from huawei_mock itself)."""
    global M, FileHandler
    M = mock
    FileHandler = _file_handler_class()
    mock.MEETING_ROUTES[DOWNLOADURLS_PATH] = {"GET": _downloadurls}
    mock.ROUTES[DOWNLOADURLS_PATH] = ("GET",)
    mock.CONTROL_ROUTES.update({
        ("GET", "/control/recording-files"): c_recording_files,
        ("POST", "/control/recordings"): c_recordings,
        ("POST", "/control/expire-download"): c_expire_download,
        ("GET", "/control/file-requests"): c_file_requests,
        ("POST", "/control/clear-file-requests"): c_clear_file_requests,
    })


def add_arguments(parser):
    parser.add_argument("--recording-size", type=int,
                        default=int(os.environ.get("MMC_MOCK_RECORDING_SIZE") or DEFAULT_SIZE),
                        help="bytes of the generated recording (default 64 MiB, or "
                             "MMC_MOCK_RECORDING_SIZE)")


class FileHost:
    def __init__(self, server):
        self.server = server

    def ready(self):
        return {"file_port": self.server.server_address[1]}

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def start(args, state, ssl_ctx):
    """Starts the file host (same TLS context as the API: a certificate for 127.0.0.1) and
    makes the recording in the background, so the mock is ready at once."""
    if args.recording_size < MIN_SIZE:
        raise SystemExit("huawei_mock: --recording-size must be at least %d" % MIN_SIZE)
    rec = Recordings(args.recording_size)
    state.recordings = rec
    server = M.Server(("127.0.0.1", 0), FileHandler, state, args.verbose, ssl_ctx)
    rec.base = "%s://127.0.0.1:%d" % ("https" if ssl_ctx else "http", server.server_address[1])
    threading.Thread(target=rec.make, daemon=True).start()
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                     daemon=True).start()
    return FileHost(server)
