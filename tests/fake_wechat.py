"""A fake WeChat Official Account API on loopback HTTP, for running the real wechatpy client.

`base_url` has the shape of wechatpy's `WeChatClient.API_BASE_URL`
("https://api.weixin.qq.com/cgi-bin/"), so it can be passed straight. It speaks: token,
message/custom/send (text, and image with a media_id it issued), media/upload (multipart
`media`; type image: PNG, JPEG, GIF or BMP of at most 10 MB, else 40005/40006/40004),
message/mass/sendall (clientmsgid: a repeat answers 45065), tags/get,
tags/create, tags/members/batch(un)tagging and user/tag/get, with WeChat's errcodes for the
limits the bot must respect. Time is a fake clock (`now`, epoch seconds); a user's 48-hour
window opens when the test calls `user_wrote`.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import default
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from digests.settings import Settings
from tests.conftest import LoopbackHandler, serve

APPID = "wx5823bf96d3bd56c7"
SECRET = "test-app-secret"
START = 1_767_574_800.0  # Monday 2026-01-05 09:00 Beijing: far from a day boundary
WINDOW = 48 * 3600  # customer-service messages only within 48 h of the user's last message
PER_USER_MESSAGE = 5  # customer-service messages per user message
TEXT_BYTES = 2048
IMAGE_BYTES = 10 * 1024 * 1024  # temporary media, type image
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM")
TAG_BATCH = 50
Answer = dict[str, Any]


@dataclass(frozen=True)
class Call:
    """One request: `path` relative to base_url ("token", "message/custom/send"), the query
    parameters and the decoded JSON body (None for GET)."""

    path: str
    query: dict[str, str]
    json: Any


@dataclass
class MassSend:
    tag_id: int | None  # None: is_to_all
    content: str
    recipients: list[str]
    at: float


@dataclass
class Tag:
    name: str
    members: list[str] = field(default_factory=list)


@dataclass
class FakeWeChat:
    appid: str = APPID
    secret: str = SECRET
    base_url: str = ""
    now: float = START
    token_ttl: int = 7200
    # WeChat keeps the previous token valid ~5 minutes after a refresh; 0 makes tests strict
    token_overlap: float = 0.0
    mass_per_day: int = 1  # verified subscription account; a service account has 4 a month
    tag_page_size: int = 10000
    calls: list[Call] = field(default_factory=list)
    inbox: dict[str, list[str]] = field(default_factory=dict)  # openid → delivered texts
    images: dict[str, list[bytes]] = field(default_factory=dict)  # openid → delivered images
    media: dict[str, bytes] = field(default_factory=dict)  # media_id → the uploaded image
    mass: list[MassSend] = field(default_factory=list)
    mass_keys: dict[str, int] = field(default_factory=dict)  # clientmsgid → msg_id
    tags: dict[int, Tag] = field(default_factory=dict)
    last_wrote: dict[str, float] = field(default_factory=dict)
    replies_left: dict[str, int] = field(default_factory=dict)
    tokens: list[str] = field(default_factory=list)  # every token issued, newest last
    _token_times: dict[str, float] = field(default_factory=dict)  # token → issued at
    _retired: dict[str, float] = field(default_factory=dict)  # token → stops working at
    _failures: list[tuple[int, str | None]] = field(default_factory=list)
    _tag_ids: Iterator[int] = field(default_factory=lambda: itertools.count(100))
    _msg_ids: Iterator[int] = field(default_factory=lambda: itertools.count(1000))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- what the test does ----------------------------------------------------------------------
    def settings(self, database_url: str, **extra: Any) -> Settings:
        """The app's settings for this account, pointed at this fake (no `.env`)."""
        return Settings(  # type: ignore[call-arg]
            _env_file=None,
            database_url=database_url,
            wechat_app_id=self.appid,
            wechat_app_secret=self.secret,
            wechat_token="callback-token",
            wechat_api_base_url=self.base_url,
            public_base_url="https://digest.example",
            **extra,
        )

    def user_wrote(self, openid: str, at: float | None = None) -> None:
        """The user sent the account a message: opens the 48 h window, resets the 5-reply quota."""
        self.last_wrote[openid] = self.now if at is None else at
        self.replies_left[openid] = PER_USER_MESSAGE

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def fail_next(self, errcode: int, count: int = 1, *, path: str | None = None) -> None:
        """Answer the next `count` API calls (to `path`, or any but token) with `errcode`
        (45009 API quota, 45011 minute quota, -1 system busy, …); nothing is delivered."""
        self._failures.extend([(errcode, path)] * count)

    def sent(self, path: str) -> list[Any]:
        """The JSON bodies of every call to `path`, answered or not."""
        return [c.json for c in self.calls if c.path == path]

    # -- what the app calls ----------------------------------------------------------------------
    def call(self, path: str, query: dict[str, str], body: Any) -> Answer:
        with self._lock:
            self.calls.append(Call(path, query, body))
            if path == "token":
                return self._token(query)
            if not (token := query.get("access_token")):
                return _err(41001, "access_token missing")
            issued = self._token_times.get(token)
            if issued is None or self.now >= self._retired.get(token, float("inf")):
                return _err(40001, "invalid credential, access_token is invalid or not latest")
            if self.now >= issued + self.token_ttl:
                return _err(42001, "access_token expired")
            for i, (errcode, only) in enumerate(self._failures):
                if only in (None, path):
                    del self._failures[i]
                    return _err(errcode, "injected failure")
            if path == "media/upload":
                return self._media_upload(query, body)
            if path == "tags/get" and body is None:
                return {
                    "tags": [
                        {"id": i, "name": t.name, "count": len(t.members)}
                        for i, t in self.tags.items()
                    ]
                }
            handler = _ROUTES.get(path)
            if handler is None:
                return _err(48001, "api unauthorized")
            if not isinstance(body, dict):
                return _err(47001, "data format error")
            return handler(self, body)

    def _token(self, query: dict[str, str]) -> Answer:
        if query.get("grant_type") != "client_credential":
            return _err(40002, "invalid grant_type")
        if query.get("appid") != self.appid:
            return _err(40013, "invalid appid")
        if query.get("secret") != self.secret:
            return _err(40125, "invalid appsecret")
        if self.tokens:
            self._retired[self.tokens[-1]] = self.now + self.token_overlap
        token = f"tok-{len(self.tokens) + 1}"
        self.tokens.append(token)
        self._token_times[token] = self.now
        return {"access_token": token, "expires_in": self.token_ttl}

    def _media_upload(self, query: dict[str, str], body: Any) -> Answer:
        if query.get("type") not in ("image", "voice", "video", "thumb"):
            return _err(40004, "invalid media type")
        data = body.get("media") if isinstance(body, dict) else None
        if not isinstance(data, bytes) or not data:
            return _err(41005, "media data missing")
        if query["type"] != "image" or not data.startswith(_IMAGE_MAGIC):
            return _err(40005, "invalid file type")
        if len(data) > IMAGE_BYTES:
            return _err(40006, "invalid meida size")
        media_id = f"media-{next(self._msg_ids)}"
        self.media[media_id] = data
        return {"type": "image", "media_id": media_id, "created_at": int(self.now)}

    def _custom_send(self, body: dict[str, Any]) -> Answer:
        openid, content = body.get("touser", ""), (body.get("text") or {}).get("content")
        image = (body.get("image") or {}).get("media_id")
        if body.get("msgtype") == "image":
            if image not in self.media:
                return _err(40007, "invalid media_id")
        elif body.get("msgtype") != "text" or not isinstance(content, str):
            return _err(40008, "invalid message type")
        wrote = self.last_wrote.get(openid)
        if wrote is None or self.now - wrote > WINDOW:
            return _err(45015, "response out of time limit or subscription is canceled")
        if content is not None and len(content.encode()) > TEXT_BYTES:
            return _err(45002, "content size out of limit")
        if self.replies_left.get(openid, 0) <= 0:
            return _err(45047, "out of response count limit")
        self.replies_left[openid] -= 1
        if image is not None:
            self.images.setdefault(openid, []).append(self.media[image])
        else:
            self.inbox.setdefault(openid, []).append(content)
        return _ok()

    def _mass_sendall(self, body: dict[str, Any]) -> Answer:
        flt, content = body.get("filter") or {}, (body.get("text") or {}).get("content")
        if body.get("msgtype") != "text" or not isinstance(content, str):
            return _err(40008, "invalid message type")
        to_all, tag = bool(flt.get("is_to_all")), self.tags.get(flt.get("tag_id", -1))
        if tag is None and not to_all:
            return _err(40050, "invalid tag id")
        key = body.get("clientmsgid")
        if key is not None and len(str(key).encode()) > 64:
            return _err(45067, "clientmsgid size out of limit")
        if key in self.mass_keys:  # a repeat of a mass-send it took: the first one's msg_id
            return {**_err(45065, "clientmsgid exist"), "msg_id": self.mass_keys[key]}
        today = _beijing_day(self.now)
        if sum(_beijing_day(m.at) == today for m in self.mass) >= self.mass_per_day:
            return _err(45028, "has no masssend quota")
        members = sorted(self.last_wrote) if to_all or tag is None else list(tag.members)
        self.mass.append(MassSend(None if to_all else flt["tag_id"], content, members, self.now))
        msg_id = next(self._msg_ids)
        if key is not None:
            self.mass_keys[key] = msg_id
        return _ok(msg_id=msg_id, msg_data_id=next(self._msg_ids))

    def _tag_create(self, body: dict[str, Any]) -> Answer:
        name = (body.get("tag") or {}).get("name", "")
        if not name or len(name.encode()) > 30:
            return _err(45158, "tag name too long")
        if any(t.name == name for t in self.tags.values()):
            return _err(45157, "invalid tag name (duplicate)")
        tag_id = next(self._tag_ids)
        self.tags[tag_id] = Tag(name)
        return {"tag": {"id": tag_id, "name": name}}

    def _tagging(self, body: dict[str, Any], *, add: bool) -> Answer:
        openids, tag = body.get("openid_list") or [], self.tags.get(body.get("tagid", -1))
        if not 1 <= len(openids) <= TAG_BATCH:
            return _err(40032, "invalid openid list size")
        if tag is None:
            return _err(45159, "invalid tag id")
        for openid in openids:
            if add and openid not in tag.members:
                tag.members.append(openid)
            elif not add and openid in tag.members:
                tag.members.remove(openid)
        return _ok()

    def _tag_users(self, body: dict[str, Any]) -> Answer:
        tag = self.tags.get(body.get("tagid", -1))
        if tag is None:
            return _err(45159, "invalid tag id")
        after, members = body.get("next_openid") or "", tag.members
        start = members.index(after) + 1 if after in members else 0
        page = members[start : start + self.tag_page_size]
        if not page:  # wechatpy's iter_tag_users stops on an answer without "data"
            return {"count": 0, "next_openid": ""}
        return {"count": len(page), "data": {"openid": page}, "next_openid": page[-1]}


_ROUTES: dict[str, Callable[[FakeWeChat, dict[str, Any]], Answer]] = {
    "message/custom/send": FakeWeChat._custom_send,
    "message/mass/sendall": FakeWeChat._mass_sendall,
    "tags/create": FakeWeChat._tag_create,
    "tags/members/batchtagging": lambda s, b: s._tagging(b, add=True),
    "tags/members/batchuntagging": lambda s, b: s._tagging(b, add=False),
    "user/tag/get": FakeWeChat._tag_users,
}


def _ok(**extra: Any) -> Answer:
    return {"errcode": 0, "errmsg": "ok", **extra}


def _err(errcode: int, errmsg: str) -> Answer:
    return {"errcode": errcode, "errmsg": errmsg}


def _form_files(content_type: str, raw: bytes) -> dict[str, bytes]:
    """A multipart/form-data body's parts by field name (the file `media`)."""
    message = BytesParser(policy=default).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw
    )
    found: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            found[name] = payload
    return found


def _beijing_day(at: float) -> int:
    return int((at + 8 * 3600) // 86400)


@contextmanager
def fake_wechat(**settings: Any) -> Iterator[FakeWeChat]:
    """Run a FakeWeChat on 127.0.0.1; its `base_url` replaces WeChatClient.API_BASE_URL and
    `base_url + "token"` the hard-coded token URL."""
    state = FakeWeChat(**settings)

    class Handler(LoopbackHandler):
        def do_GET(self) -> None:
            self._answer(None)

        def do_POST(self) -> None:
            # wechatpy posts UTF-8 JSON bytes without a Content-Type: decode regardless
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length) if length else b""
            kind = self.headers.get("Content-Type", "")
            if kind.startswith("multipart/form-data"):  # media/upload
                self._answer(_form_files(kind, raw))
                return
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                body = raw.decode(errors="replace")  # not JSON: answered 47001
            self._answer(body)

        def _answer(self, body: Any) -> None:
            url = urlsplit(self.path)  # a path outside /cgi-bin/ matches no route: 48001
            query = dict(parse_qsl(url.query))
            answer = state.call(url.path.removeprefix("/cgi-bin/"), query, body)
            data = json.dumps(answer, ensure_ascii=False).encode()
            # WeChat answers errors with 200 and an errcode
            self.respond(200, data, {"Content-Type": "application/json; encoding=utf-8"})

    with serve(Handler) as root:
        state.base_url = root + "/cgi-bin/"
        yield state
