"""A fake WeCom server API (and WeChat Official Account API) on 127.0.0.1:<ephemeral>.

A real ``ThreadingHTTPServer`` thread, like slack-bolt's own test servers: the code under
test talks HTTP to it through ``SCRM_WECOM_API_BASE`` / ``SCRM_WECHAT_API_BASE``, and tests
assert on ``calls`` (every request, with its exact JSON body) and on the platform state.

What it models (developer.work.weixin.qq.com, 服务端API):
- tokens: issued by ``gettoken`` (``token`` for the OA); ``expire_tokens`` makes every
  issued token answer 42001, ``invalidate_tokens`` 40014;
- ``message/send`` with partial failure (``invaliduser``, errcode 0), 81013 when nobody is
  valid, the duplicate check (same request JSON within ``duplicate_check_interval`` is
  acknowledged and not delivered), ``response_code`` for button cards;
- ``update_template_card`` (a response code works once), ``media/upload``;
- customer contact: follow users, ``batch/get_by_user`` with cursor paging, ``get``,
  corp tags (``get_corp_tag_list``, ``add_corp_tag`` with 40071 on a duplicate name),
  ``mark_tag`` (84061 without a relation, 60011 for a user outside the permission range);
- customer transfer (``transfer_customer``, ``transfer_result``, and their ``resigned/``
  twins, in ``tests/fakes/wecom_transfer.py``);
- faults: a share of calls answers 45009 or -1, or drops the connection before or after
  acting on the request; ``forbidden`` endpoints answer 48002.
"""

from __future__ import annotations

import base64
import itertools
import json
import random
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.fakes import wecom_transfer as T
from tests.fakes.wecom_callbacks import (  # noqa: F401 - re-exported for the tests
    AES_KEY,
    AGENT_ID,
    APP_SECRET,
    CONTACT_SECRET,
    CORP_ID,
    OA_APP_ID,
    OA_SECRET,
    TOKEN,
    contact_xml,
    encrypt,
    event_xml,
    text_xml,
)


@dataclass
class Call:
    method: str
    path: str  # e.g. "message/send" (WeCom) or "mp:user/info" (Official Account)
    params: dict[str, str]
    body: dict[str, Any] | None
    outcome: str = "ok"  # ok, errcode <n>, drop-before, drop-after


@dataclass
class Faults:
    rate: float = 0.0
    codes: tuple[int, ...] = (45009, -1)
    drops: bool = True
    paths: set[str] | None = None  # None: every path but the token endpoints
    rng: random.Random = field(default_factory=lambda: random.Random(7))


class _Drop(Exception):
    pass


class FakeWecom:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.calls: list[Call] = []
        self.faults = Faults()
        self.token_ttl = 7200
        self.issue_state = "ok"  # "expired": every new token is refused at once (42001)
        self._tokens: dict[str, str] = {}  # token -> "ok" | "expired" | "invalid"
        self._seq = itertools.count(1)
        self.members: set[str] = set()  # userids in the app's visible range
        self.forbidden: set[str] = set()  # paths answering 48002
        self.no_privilege: set[str] = set()  # userids outside the contact permission range
        self.delivered: list[dict[str, Any]] = []
        self.duplicates = 0
        self._recent: dict[str, float] = {}
        self._task_ids: set[str] = set()
        self._response_codes: dict[str, bool] = {}  # code -> used
        self.card_updates: list[dict[str, Any]] = []
        self.media: dict[str, int] = {}
        self.follow_users: list[str] = []
        self.contacts: dict[str, dict[str, Any]] = {}
        self.follows: dict[str, dict[str, dict[str, Any]]] = {}  # userid -> ext -> follow_info
        self.groups: list[dict[str, Any]] = []
        self.oa_users: dict[str, dict[str, Any]] = {}
        self.server: ThreadingHTTPServer | None = None

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeWecom:
        fake = self

        class Handler(_Handler):
            owner = fake

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def base(self) -> str:
        return self.url + "/cgi-bin/"

    @property
    def oa_base(self) -> str:
        return self.url + "/mp/cgi-bin/"

    # --- test helpers ---------------------------------------------------------------------

    def calls_to(self, path: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.path == path]

    def sent_to(self, userid: str) -> list[dict[str, Any]]:
        with self.lock:
            return [m for m in self.delivered if userid in m["touser"].split("|")]

    def expire_tokens(self) -> None:
        with self.lock:
            self._tokens = dict.fromkeys(self._tokens, "expired")

    def invalidate_tokens(self) -> None:
        with self.lock:
            self._tokens = dict.fromkeys(self._tokens, "invalid")

    def add_group(self, name: str, tags: list[str]) -> dict[str, str]:
        """A corp tag group; returns {tag name: tag id} (and the group id under "")."""
        with self.lock:
            group: dict[str, Any] = {
                "group_id": f"etGRP{next(self._seq)}",
                "group_name": name,
                "create_time": int(time.time()),
                "order": 0,
                "deleted": False,
                "tag": [],
            }
            self.groups.append(group)
            for t in tags:
                self._new_tag(group, t)
            return {"": group["group_id"], **{t["name"]: t["id"] for t in group["tag"]}}

    def add_contact(
        self,
        userid: str,
        external_userid: str,
        name: str,
        *,
        unionid: str | None = None,
        remark: str = "",
        tags: list[str] | None = None,
        createtime: int | None = None,
    ) -> None:
        with self.lock:
            if userid not in self.follow_users:
                self.follow_users.append(userid)
            self.members.add(userid)
            contact: dict[str, Any] = {
                "external_userid": external_userid,
                "name": name,
                "type": 1,
                "gender": 0,
            }
            if unionid:
                contact["unionid"] = unionid
            self.contacts.setdefault(external_userid, contact)
            self.follows.setdefault(userid, {})[external_userid] = {
                "userid": userid,
                "remark": remark,
                "description": "",
                "createtime": createtime or int(time.time()),
                "tag_id": list(tags or []),
                "remark_mobiles": [],
                "add_way": 1,
                "oper_userid": userid,
            }

    def remove_follow(self, userid: str, external_userid: str) -> None:
        with self.lock:
            self.follows.get(userid, {}).pop(external_userid, None)

    def tags_of(self, userid: str, external_userid: str) -> list[str]:
        with self.lock:
            return list(self.follows[userid][external_userid]["tag_id"])

    def tag_name(self, tag_id: str) -> str | None:
        for g in self.groups:
            for t in g["tag"]:
                if t["id"] == tag_id:
                    return str(t["name"])
        return None

    # --- dispatch -------------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, body: bytes, ctype: str) -> dict[str, Any]:
        url = urlparse(raw_path)
        params = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path.startswith("/mp/cgi-bin/"):
            path = "mp:" + url.path.removeprefix("/mp/cgi-bin/")
        else:
            path = url.path.removeprefix("/cgi-bin/")
        data: dict[str, Any] | None = None
        if body and "multipart" not in ctype:
            try:
                data = json.loads(body.decode("utf-8"))
            except ValueError:
                return {"errcode": 47001, "errmsg": "data format error"}
        call = Call(method, path, params, data)
        with self.lock:
            self.calls.append(call)
            fault = self._fault(path)
        if fault == "drop-before":
            call.outcome = fault
            raise _Drop
        if isinstance(fault, int):
            call.outcome = f"errcode {fault}"
            return {"errcode": fault, "errmsg": "system busy" if fault == -1 else "api limit"}
        with self.lock:
            result = self._route(path, params, data or {}, body)
        if fault == "drop-after":
            call.outcome = fault
            raise _Drop
        if result.get("errcode"):
            call.outcome = f"errcode {result['errcode']}"
        return result

    def _fault(self, path: str) -> str | int | None:
        f = self.faults
        if f.rate <= 0 or path in ("gettoken", "mp:token"):
            return None
        if f.paths is not None and path not in f.paths:
            return None
        if f.rng.random() >= f.rate:
            return None
        choices: list[str | int] = list(f.codes)
        if f.drops:
            choices += ["drop-before", "drop-after"]
        return f.rng.choice(choices)

    def _route(
        self, path: str, params: dict[str, str], data: dict[str, Any], raw: bytes
    ) -> dict[str, Any]:
        if path == "gettoken":
            if params.get("corpid") != CORP_ID or params.get("corpsecret") not in (
                APP_SECRET,
                CONTACT_SECRET,
            ):
                return {"errcode": 40001, "errmsg": "invalid credential"}
            return self._issue()
        if path == "mp:token":
            if params.get("appid") != OA_APP_ID or params.get("secret") != OA_SECRET:
                return {"errcode": 40001, "errmsg": "invalid credential"}
            return self._issue()
        state = self._tokens.get(params.get("access_token", ""))
        if state != "ok":
            code = 42001 if state == "expired" else 40014
            return {"errcode": code, "errmsg": "access_token expired or invalid"}
        if path in self.forbidden:
            return {"errcode": 48002, "errmsg": "api forbidden"}
        handler = _ROUTES.get(path)
        if handler is None:
            return {"errcode": 404, "errmsg": f"no such api {path}"}
        return handler(self, params, data, raw)

    def _issue(self) -> dict[str, Any]:
        token = f"tok{next(self._seq)}x{random.randrange(10**6)}"
        self._tokens[token] = self.issue_state
        return {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": self.token_ttl}

    # --- message --------------------------------------------------------------------------

    def _send(self, p: dict[str, str], d: dict[str, Any], raw: bytes) -> dict[str, Any]:
        if d.get("agentid") != AGENT_ID or not d.get("msgtype") or not d.get("touser"):
            return {"errcode": 40008, "errmsg": "invalid message"}
        users = d["touser"].split("|")
        valid = [u for u in users if u in self.members]
        if not valid:
            return {"errcode": 81013, "errmsg": "user & party & tag all invalid"}
        if d.get("enable_duplicate_check") == 1:
            canonical = json.dumps(d, sort_keys=True, ensure_ascii=False)
            seen = self._recent.get(canonical)
            window = int(d.get("duplicate_check_interval", 1800))
            if seen is not None and time.time() - seen < window:
                self.duplicates += 1
                return {"errcode": 0, "errmsg": "ok", "msgid": "dup"}
            self._recent[canonical] = time.time()
        kind = d["msgtype"]
        content = d.get(kind, {})
        if kind in ("text", "markdown") and len(content.get("content", "").encode()) > 2048:
            return {"errcode": 44004, "errmsg": "content over 2048 bytes"}
        if kind == "image" and content.get("media_id") not in self.media:
            return {"errcode": 40007, "errmsg": "invalid media_id"}
        out: dict[str, Any] = {"errcode": 0, "errmsg": "ok", "msgid": f"msg{next(self._seq)}"}
        if kind == "template_card":
            task_id = content.get("task_id")
            if not task_id or task_id in self._task_ids:
                return {"errcode": 40058, "errmsg": "task_id missing or already used"}
            self._task_ids.add(task_id)
            code = f"rc{next(self._seq)}"
            self._response_codes[code] = False
            out["response_code"] = code
        self.delivered.append({**d, "touser": "|".join(valid), "_response": out})
        invalid = [u.lower() for u in users if u not in self.members]
        if invalid:
            out["invaliduser"] = "|".join(invalid)
        return out

    def _update_card(self, p: dict[str, str], d: dict[str, Any], raw: bytes) -> dict[str, Any]:
        code = d.get("response_code", "")
        if self._response_codes.get(code) is not False:
            return {"errcode": 40058, "errmsg": "response_code invalid or used"}
        self._response_codes[code] = True
        self.card_updates.append(d)
        return {"errcode": 0, "errmsg": "ok", "invaliduser": []}

    def _upload(self, p: dict[str, str], d: dict[str, Any], raw: bytes) -> dict[str, Any]:
        if p.get("type") != "image" or b"\x89PNG" not in raw:
            return {"errcode": 40005, "errmsg": "invalid file type"}
        media_id = f"media{next(self._seq)}"
        self.media[media_id] = len(raw)
        return {"errcode": 0, "errmsg": "ok", "type": "image", "media_id": media_id}

    # --- customer contact -----------------------------------------------------------------

    def _follow_list(self, p: dict[str, str], d: dict[str, Any], raw: bytes) -> dict[str, Any]:
        return {"errcode": 0, "errmsg": "ok", "follow_user": list(self.follow_users)}

    def _by_user(self, p: dict[str, str], d: dict[str, Any], raw: bytes) -> dict[str, Any]:
        users = d.get("userid_list") or []
        if not 1 <= len(users) <= 100:
            return {"errcode": 40058, "errmsg": "userid_list must hold 1 to 100 userids"}
        limit = min(int(d.get("limit") or 50), 100)
        rows = [
            (u, ext)
            for u in users
            for ext in sorted(self.follows.get(u, {}))
            if ext in self.contacts
        ]
        cursor = d.get("cursor") or ""
        start = int(base64.b64decode(cursor).decode()) if cursor else 0
        page = rows[start : start + limit]
        nxt = start + limit
        return {
            "errcode": 0,
            "errmsg": "ok",
            "external_contact_list": [
                {"external_contact": self.contacts[ext], "follow_info": self.follows[u][ext]}
                for u, ext in page
            ],
            "next_cursor": base64.b64encode(str(nxt).encode()).decode() if nxt < len(rows) else "",
        }

    def _get_contact(self, p: dict[str, str], d: dict[str, Any], raw: bytes) -> dict[str, Any]:
        ext = p.get("external_userid", "")
        follows = [f[ext] for f in self.follows.values() if ext in f]
        if ext not in self.contacts or not follows:
            return {"errcode": 84061, "errmsg": "not external contact"}
        return {
            "errcode": 0,
            "errmsg": "ok",
            "external_contact": self.contacts[ext],
            "follow_user": [
                {
                    "userid": f["userid"],
                    "remark": f["remark"],
                    "createtime": f["createtime"],
                    "tags": [
                        {"tag_id": t, "tag_name": self.tag_name(t), "type": 1} for t in f["tag_id"]
                    ],
                }
                for f in follows
            ],
        }

    def _tag_list(self, p: dict[str, str], d: dict[str, Any], raw: bytes) -> dict[str, Any]:
        want_tags, want_groups = set(d.get("tag_id") or []), set(d.get("group_id") or [])
        out = []
        for g in self.groups:
            if want_groups and g["group_id"] not in want_groups:
                continue
            tags = [t for t in g["tag"] if not want_tags or t["id"] in want_tags]
            if want_tags and not tags:
                continue
            out.append({**g, "tag": tags})
        return {"errcode": 0, "errmsg": "ok", "tag_group": out}

    def _new_tag(self, group: dict[str, Any], name: str) -> dict[str, Any]:
        tag = {
            "id": f"etTAG{next(self._seq)}",
            "name": name,
            "create_time": int(time.time()),
            "order": 0,
            "deleted": False,
        }
        group["tag"].append(tag)
        return tag

    def _add_tag(self, p: dict[str, str], d: dict[str, Any], raw: bytes) -> dict[str, Any]:
        group = None
        if d.get("group_id"):
            group = next((g for g in self.groups if g["group_id"] == d["group_id"]), None)
            if group is None:
                return {"errcode": 40068, "errmsg": "invalid group id"}
        elif d.get("group_name"):
            group = next((g for g in self.groups if g["group_name"] == d["group_name"]), None)
            if group is None:
                ids = self.add_group(d["group_name"], [])
                group = next(g for g in self.groups if g["group_id"] == ids[""])
        else:
            return {"errcode": 40071, "errmsg": "group_id or group_name required"}
        names = [t.get("name", "") for t in d.get("tag") or []]
        if any(n in {t["name"] for t in group["tag"]} for n in names):
            return {"errcode": 40071, "errmsg": "UserTag Name Already Exist"}
        added = [self._new_tag(group, n) for n in names]
        return {"errcode": 0, "errmsg": "ok", "tag_group": {**group, "tag": added}}

    def _mark_tag(self, p: dict[str, str], d: dict[str, Any], raw: bytes) -> dict[str, Any]:
        userid, ext = d.get("userid", ""), d.get("external_userid", "")
        if userid in self.no_privilege:
            return {"errcode": 60011, "errmsg": "no privilege to access/modify contact"}
        follow = self.follows.get(userid, {}).get(ext)
        if follow is None:
            return {"errcode": 84061, "errmsg": "not external contact"}
        known = {t["id"] for g in self.groups for t in g["tag"]}
        for t in (d.get("add_tag") or []) + (d.get("remove_tag") or []):
            if t not in known:
                return {"errcode": 40068, "errmsg": f"invalid tagid {t}"}
        tags = [t for t in follow["tag_id"] if t not in (d.get("remove_tag") or [])]
        tags += [t for t in d.get("add_tag") or [] if t not in tags]
        follow["tag_id"] = tags
        return {"errcode": 0, "errmsg": "ok"}

    # --- Official Account -----------------------------------------------------------------

    def _oa_user(self, p: dict[str, str], d: dict[str, Any], raw: bytes) -> dict[str, Any]:
        user = self.oa_users.get(p.get("openid", ""))
        if user is None:
            return {"errcode": 40003, "errmsg": "invalid openid"}
        return {"subscribe": 1, "openid": p["openid"], **user}


_ROUTES = {
    "message/send": FakeWecom._send,
    "message/update_template_card": FakeWecom._update_card,
    "media/upload": FakeWecom._upload,
    "externalcontact/get_follow_user_list": FakeWecom._follow_list,
    "externalcontact/batch/get_by_user": FakeWecom._by_user,
    "externalcontact/get": FakeWecom._get_contact,
    "externalcontact/get_corp_tag_list": FakeWecom._tag_list,
    "externalcontact/add_corp_tag": FakeWecom._add_tag,
    "externalcontact/mark_tag": FakeWecom._mark_tag,
    "mp:user/info": FakeWecom._oa_user,
    "externalcontact/transfer_customer": lambda f, p, d, r: T.transfer(f, d, resigned=False),
    "externalcontact/resigned/transfer_customer": lambda f, p, d, r: T.transfer(
        f, d, resigned=True
    ),
    "externalcontact/transfer_result": lambda f, p, d, r: T.result(f, d, resigned=False),
    "externalcontact/resigned/transfer_result": lambda f, p, d, r: T.result(f, d, resigned=True),
}


class _Handler(BaseHTTPRequestHandler):
    owner: FakeWecom

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            result = self.owner.handle(
                method, self.path, body, self.headers.get("Content-Type") or ""
            )
        except _Drop:
            self.close_connection = True
            return
        data = json.dumps(result, ensure_ascii=False).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")
