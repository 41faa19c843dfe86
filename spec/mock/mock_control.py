"""Meeting control and the meeting count for the local Huawei mock (huawei_mock.py).

huawei_mock.py imports this module and calls install(itself), which adds:

  * the setup key "meetings": how many meetings each app has to page through (the two seeded
    ones, then generated ones; default 1000, at most 100000), so a spec can ask for 10,000;
  * on the API server, meeting control (reference section 6, Huawei's "conference control"):
      GET /v1/mmc/control/conferences/token?conferenceID=   a control token
          with X-Password: <host password> and X-Login-Type: 1, or (keep-alive) with
          X-Conference-Authorization: <a live control token of that meeting> instead;
          answers {"data":{"token","expireTime" (Unix ms),"confTokenExpireTime" (seconds it
          lasts), "role":1,"wsURL","tmpWsToken","confID"}}; a new token each time, lasting
          30 minutes unless the control route below says otherwise.
      PUT /v1/mmc/control/conferences/mute?conferenceID=    body {"isMute": 0 or 1}
          with X-Conference-Authorization: <a live control token of that meeting>;
          answers 200 with an empty body.
    Neither needs X-Access-Token (Huawei's Java SDK leaves it out on control paths; the Python
    SDK sends it): one sent is not checked;
  * on the control server, POST /control/conference-control {"password": "..", "token_life":
    seconds, "revoke": true} (each optional: the host password of every meeting, the life of
    tokens issued from now, revoking every token issued so far), and GET
    /control/conference-control: {"password", "token_life", "tokens": [every token issued],
    "muted": {conferenceID: 0 or 1}}.

Decided here (assumed, the reference does not say): one host password for every meeting
(DEFAULT_PASSWORD until set); a missing, unknown, expired or revoked control token is 401
MMC.111070005 (the gateway's "token invalid" status; the code is invented); a wrong password is
403 MMC.111070006 (invented; not 401, which clients read as "log in again"); an unknown
conferenceID is 404 MMC.111071001, as the meeting routes answer.
"""

import time

DEFAULT_PASSWORD = "Hp-4711-9265-ZX"
DEFAULT_MEETINGS = 1000
MAX_MEETINGS = 100000
TOKEN_LIFE = 1800                  # seconds (reference section 6: 30 minutes)
TOKEN_PATH = "/v1/mmc/control/conferences/token"
MUTE_PATH = "/v1/mmc/control/conferences/mute"
E_TOKEN = "MMC.111070005"          # assumed: an invented code
E_PASSWORD = "MMC.111070006"       # assumed: an invented code

hm = None   # huawei_mock, set by install()


def _check_meetings(cfg):
    n = cfg.get("meetings", DEFAULT_MEETINGS)
    if not hm.is_int(n) or not 2 <= n <= MAX_MEETINGS:
        raise hm.BadInput("meetings must be an integer from 2 to %d" % MAX_MEETINGS)
    return n


def _reset(st, meetings):
    st.meeting_count = meetings
    st.control = {"password": DEFAULT_PASSWORD, "token_life": TOKEN_LIFE, "tokens": {},
                  "muted": {}}


def _conference_id(handler, st, query):
    params = hm._meeting_query(query, ("conferenceID",))
    conference_id = params.get("conferenceID")
    if not conference_id:
        raise hm.ApiError(400, hm.E_BAD_PARAM, "conferenceID is required")
    with st.lock:
        known = any(c["conferenceID"] == conference_id
                    for app_id in st.apps for c in hm._conferences(st, app_id))
    if not known:
        raise hm.ApiError(404, hm.E_CONF_NOT_FOUND, "conference not found")
    return conference_id


def _one_header(handler, name):
    values = handler.headers.get_all(name) or []
    if len(values) > 1:
        raise hm.ApiError(400, hm.E_BAD_PARAM, "%s is repeated" % name)
    return values[0] if values else None


def _live_control_token(st, token, conference_id):
    """Caller holds the lock."""
    rec = st.control["tokens"].get(token) if token else None
    return rec is not None and not rec["revoked"] and rec["conference"] == conference_id \
        and time.time() < rec["expires"]


def _require_control_token(handler, st, conference_id):
    token = _one_header(handler, "X-Conference-Authorization")
    with st.lock:
        if not _live_control_token(st, token, conference_id):
            raise hm.ApiError(401, E_TOKEN, "conference token missing, invalid or expired")


def _token(handler, st, query, body):
    conference_id = _conference_id(handler, st, query)
    if body:
        raise hm.ApiError(400, hm.E_BAD_PARAM, "request body must be empty")
    password = _one_header(handler, "X-Password")
    renewal = _one_header(handler, "X-Conference-Authorization")
    if (password is None) == (renewal is None):
        raise hm.ApiError(400, hm.E_BAD_PARAM,
                          "give X-Password or X-Conference-Authorization, one of them")
    if password is not None:
        if _one_header(handler, "X-Login-Type") != "1":
            raise hm.ApiError(400, hm.E_BAD_PARAM, "X-Login-Type must be 1 with X-Password")
        with st.lock:
            right = hm.hmac.compare_digest(password.encode(),
                                           st.control["password"].encode())
        if not right:
            raise hm.ApiError(403, E_PASSWORD, "wrong host password")
    else:
        _require_control_token(handler, st, conference_id)
    now = time.time()
    token = hm.random_token(48)
    with st.lock:
        life = st.control["token_life"]
        st.control["tokens"][token] = {"conference": conference_id, "expires": now + life,
                                       "revoked": False}
    return {"data": {"token": token, "expireTime": int((now + life) * 1000),
                     "confTokenExpireTime": int(life), "role": 1, "confID": conference_id,
                     "wsURL": "wss://127.0.0.1/cms/open/websocket/confctl/increment/conn",
                     "tmpWsToken": hm.random_token(32)}}


def _mute(handler, st, query, body):
    conference_id = _conference_id(handler, st, query)
    _require_control_token(handler, st, conference_id)
    req = hm.json_object_body(handler.headers, body, hm.E_BAD_PARAM)
    if set(req) != {"isMute"} or req["isMute"] not in (0, 1) or not hm.is_int(req["isMute"]):
        raise hm.ApiError(400, hm.E_BAD_PARAM, 'the body must be {"isMute": 0 or 1}')
    with st.lock:
        st.control["muted"][conference_id] = req["isMute"]
    return None


def c_conference_control(st, arg):
    hm._check_keys(arg, ("password", "token_life", "revoke"), "conference-control")
    if "password" in arg and (not isinstance(arg["password"], str) or not arg["password"]):
        raise hm.BadInput("password must be a non-empty string")
    if "token_life" in arg and (not hm._number(arg["token_life"]) or arg["token_life"] <= 0):
        raise hm.BadInput("token_life must be a number of seconds above 0")
    if not isinstance(arg.get("revoke", False), bool):
        raise hm.BadInput("revoke must be a boolean")
    with st.lock:
        if "password" in arg:
            st.control["password"] = arg["password"]
        if "token_life" in arg:
            st.control["token_life"] = arg["token_life"]
        revoked = 0
        if arg.get("revoke"):
            for rec in st.control["tokens"].values():
                revoked += not rec["revoked"]
                rec["revoked"] = True
    return {"ok": True, "revoked": revoked}


def c_conference_state(st, arg):
    with st.lock:
        return {"ok": True, "password": st.control["password"],
                "token_life": st.control["token_life"],
                "tokens": list(st.control["tokens"]), "muted": dict(st.control["muted"])}


def install(mock_module):
    global hm
    hm = mock_module
    hm.SETUP_EXTENSIONS.append((("meetings",), _check_meetings, _reset))
    hm.TOKENLESS_ROUTES[TOKEN_PATH] = {"GET": _token}
    hm.TOKENLESS_ROUTES[MUTE_PATH] = {"PUT": _mute}
    hm.ROUTES.update({TOKEN_PATH: ("GET",), MUTE_PATH: ("PUT",)})
    hm.CONTROL_ROUTES[("POST", "/control/conference-control")] = c_conference_control
    hm.CONTROL_ROUTES[("GET", "/control/conference-control")] = c_conference_state

