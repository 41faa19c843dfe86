"""The four multipart/form-data upload routes of Huawei Cloud Meeting, for huawei_mock.py.

    POST /v1/usg/sss/materials                 AddMaterial          answers 200, no body
    POST /v1/usg/abs/profile-images            SetProfileImage      answers 200, no body
    PUT  /v1/usg/abs/profile-images/{user_id}  SetUserProfileImage  answers 200, no body
    PUT  /v1/wss/webinar/open/res/file         UploadFile           answers {"fileId", "imageModeration"}

Each takes one form field, `file` (huaweicloud-sdk-python-v3, huaweicloudsdkmeeting/v1:
form_params['file'] in all four; the SDK sends SetUserProfileImage as POST where the issue
and Huawei's page say PUT: both are accepted). Images (materials, profile images) must be
image/jpeg or image/png; a profile image at most 10 MB (the SDK's description). Anything else
in the form is refused (400), as the mock refuses unknown fields everywhere.

The body is checked strictly as it is read, never held whole: Content-Length required, the
boundary of the Content-Type, each part's Content-Disposition (form-data; name="..."[;
filename="..."]) and Content-Type, the closing delimiter and nothing after it. The bytes of
each part are hashed as they arrive; the request's record (control API /control/requests)
gets "parts": [{"name", "filename", "content_type", "size", "sha256", "value"}] ("value" for
text parts of at most 1 KiB), so a spec compares what arrived with what it sent.
"""

import hashlib
import json
import re
import uuid

MATERIALS = "/v1/usg/sss/materials"
PROFILE_IMAGES = "/v1/usg/abs/profile-images"
WEBINAR_FILE = "/v1/wss/webinar/open/res/file"
USER_IMAGE_RE = re.compile(r"/v1/usg/abs/profile-images/([A-Za-z0-9._@-]{1,64})")
E_BAD_PARAM = "MMC.111070001"
IMAGE_TYPES = ("image/jpeg", "image/png")
MAX_UPLOAD = 1 << 30           # the mock's own cap: a recording-sized file at most
MAX_PART_HEADERS = 8192
BOUNDARY_RE = re.compile(r"[0-9A-Za-z'()+_,./:=?-]{1,70}")   # RFC 2046 bchars, no space
READ = 1 << 16


def route(method, path):
    """The route's rules for an upload path, or None when it is not one."""
    if path == MATERIALS and method == "POST":
        return {"image": True, "max": MAX_UPLOAD, "answer": None}
    if path == PROFILE_IMAGES and method == "POST":
        return {"image": True, "max": 10 * 1000 * 1000, "answer": None}
    if USER_IMAGE_RE.fullmatch(path) and method in ("PUT", "POST"):
        return {"image": True, "max": 10 * 1000 * 1000, "answer": None}
    if path == WEBINAR_FILE and method == "PUT":
        return {"image": False, "max": MAX_UPLOAD, "answer": "file"}
    return None


class _Reader:
    """Reads exactly Content-Length bytes from the request, in pieces."""

    def __init__(self, rfile, length, error):
        self.rfile, self.left, self.error = rfile, length, error
        self.buffer = b""

    def fill(self):
        if self.left == 0:
            return False
        data = self.rfile.read(min(READ, self.left))
        if not data:
            raise self.error(400, "MOCK.400", "body shorter than Content-Length")
        self.left -= len(data)
        self.buffer += data
        return True

    def expect(self, text, what):
        while len(self.buffer) < len(text) and self.fill():
            pass
        if not self.buffer.startswith(text):
            raise self.error(400, E_BAD_PARAM, "multipart: %s expected" % what)
        self.buffer = self.buffer[len(text):]

    def headers(self):
        while b"\r\n\r\n" not in self.buffer:
            if len(self.buffer) > MAX_PART_HEADERS or not self.fill():
                raise self.error(400, E_BAD_PARAM, "multipart: a part's headers do not end")
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        return head

    def data_until(self, delimiter, sink):
        """Passes the part's bytes to sink() up to the delimiter, which is consumed."""
        while True:
            at = self.buffer.find(delimiter)
            if at >= 0:
                sink(self.buffer[:at])
                self.buffer = self.buffer[at + len(delimiter):]
                return
            keep = len(delimiter) - 1
            if len(self.buffer) > keep:
                sink(self.buffer[:-keep])
                self.buffer = self.buffer[-keep:]
            if not self.fill():
                raise self.error(400, E_BAD_PARAM, "multipart: the closing delimiter is missing")


def _boundary(content_type, error):
    kind, _, params = (content_type or "").partition(";")
    if kind.strip().lower() != "multipart/form-data":
        raise error(400, E_BAD_PARAM, "Content-Type must be multipart/form-data")
    found = re.fullmatch(r'\s*boundary=(?:"([^"]+)"|([^";\s]+))\s*', params)
    boundary = found and (found.group(1) or found.group(2))
    if not boundary or not BOUNDARY_RE.fullmatch(boundary):
        raise error(400, E_BAD_PARAM, "multipart/form-data needs a valid boundary parameter")
    return boundary.encode("ascii")


DISPOSITION_RE = re.compile(r'form-data; name="([^"\r\n]+)"(?:; filename="([^"\r\n]*)")?')


def _part_headers(head, error):
    fields = {}
    for line in head.split(b"\r\n"):
        name, colon, value = line.decode("utf-8", "strict").partition(":")
        key = name.strip().lower()
        if not colon or key in fields or key not in ("content-disposition", "content-type"):
            raise error(400, E_BAD_PARAM, "multipart: unexpected part header %r" % name)
        fields[key] = value.strip()
    found = DISPOSITION_RE.fullmatch(fields.get("content-disposition", ""))
    if not found:
        raise error(400, E_BAD_PARAM,
                    'multipart: Content-Disposition must be form-data; name="..."')
    return found.group(1), found.group(2), fields.get("content-type")


def read_form(handler, error, limit):
    """Reads and checks the whole multipart body; returns its parts."""
    if handler.headers.get_all("Transfer-Encoding"):
        raise error(411, "MOCK.411", "uploads need a Content-Length")
    lengths = handler.headers.get_all("Content-Length") or []
    if len(lengths) != 1 or not re.fullmatch(r"[0-9]+", lengths[0].strip()):
        raise error(411, "MOCK.411", "uploads need one Content-Length")
    length = int(lengths[0])
    if length > limit + 65536:
        raise error(413, "MOCK.413", "body too large")
    boundary = _boundary(handler.headers.get("Content-Type"), error)
    reader = _Reader(handler.rfile, length, error)
    reader.expect(b"--" + boundary + b"\r\n", "the first boundary")
    parts = []
    while True:
        name, filename, content_type = _part_headers(reader.headers(), error)
        digest, size, value = hashlib.sha256(), [0], []

        def sink(data):
            digest.update(data)
            size[0] += len(data)
            if size[0] <= 1024:
                value.append(data)
            if size[0] > limit:
                raise error(413, "MOCK.413", "part %s too large" % name)
        reader.data_until(b"\r\n--" + boundary, sink)
        part = {"name": name, "filename": filename, "content_type": content_type,
                "size": size[0], "sha256": digest.hexdigest()}
        if filename is None and size[0] <= 1024:
            part["value"] = b"".join(value).decode("utf-8", "replace")
        parts.append(part)
        while len(reader.buffer) < 2 and reader.fill():
            pass
        if reader.buffer.startswith(b"--"):
            reader.buffer = reader.buffer[2:]
            while reader.fill():
                pass
            if reader.buffer not in (b"", b"\r\n"):
                raise error(400, E_BAD_PARAM, "multipart: bytes after the closing delimiter")
            return parts
        reader.expect(b"\r\n", "a line break after the boundary")


def check_parts(rules, parts, error):
    names = [p["name"] for p in parts]
    unknown = sorted(set(names) - {"file"})
    if unknown:
        raise error(400, E_BAD_PARAM, "unknown form fields: %s" % ", ".join(unknown))
    if names.count("file") != 1:
        raise error(400, E_BAD_PARAM, "the form needs exactly one field named file")
    part = parts[0]
    if part["filename"] is None or part["filename"] == "":
        raise error(400, E_BAD_PARAM, "file must be a file part (with a filename)")
    if part["size"] == 0:
        raise error(400, E_BAD_PARAM, "file is empty")
    if not part["content_type"]:
        raise error(400, E_BAD_PARAM, "file needs a Content-Type")
    if rules["image"] and part["content_type"] not in IMAGE_TYPES:
        raise error(400, E_BAD_PARAM, "file must be image/jpeg or image/png")


def _drain(handler):
    """Reads and drops a body of up to MAX_UPLOAD bytes announced by Content-Length."""
    lengths = handler.headers.get_all("Content-Length") or []
    if len(lengths) == 1 and re.fullmatch(r"[0-9]+", lengths[0].strip()):
        left = int(lengths[0])
        while 0 < left <= MAX_UPLOAD:
            data = handler.rfile.read(min(READ, left))
            if not data:
                break
            left -= len(data)


def serve(handler, st, rec, path, error):
    """Answers an upload route (route() said it is one). The connection is closed after any
    refusal: the rest of the body was not read."""
    rules = route(handler.command, path)
    try:
        try:
            handler.check_token(st)
        except error:
            _drain(handler)   # so that the client reads the 401 rather than a reset
            raise
        parts = read_form(handler, error, rules["max"])
        with st.lock:
            rec["parts"] = parts
        check_parts(rules, parts, error)
    except error as e:
        handler._answer_error(rec, e, close=True)
        return
    out = b""
    if rules["answer"] == "file":
        out = json.dumps({"fileId": uuid.uuid4().hex, "imageModeration": None},
                         separators=(",", ":")).encode()
    st.finish(rec, 200, None)
    handler.send_body(200, out)
