"""A fake Bot API server on loopback HTTP, for running the real python-telegram-bot Application.

It speaks the methods the bot uses (getMe, getUpdates with long polling, sendMessage, sendPhoto,
editMessageText, answerCallbackQuery, deleteMessage, setMyCommands, getFile and file
download, and the Stars payments of tests/fake_stars.py under `stars`), validates HTML and
length the way Telegram does (tests/telegram_html.py), and can answer 403 for blocked chats and
429 on demand.

With `per_second` set it enforces Telegram's message limits as the benches and the pacing tests
assume them: `per_second` messages a second overall (a bucket refilled at that rate that holds
a fifth of a second's allowance: arrival jitter of a paced sender passes, a burst does not),
about one a second per chat (a bucket of `chat_burst` refilled at 1/s), and beyond either a
429 with `retry_after`; a send during that wait is refused too and lengthens it (the flood
penalty).

`strict = True` is the benches' Telegram (bench/fakebot.py): any 1-second window holds at most
`per_second` accepted messages (a sliding window, counted when a request arrives, before the
latency: no bucket absorbs jitter), and after any 429 everything is refused for its
`retry_after`, each refused send lengthening the bar. Arrival is the kernel's timestamp of the
request's first bytes (SO_TIMESTAMPNS), not the clock read once the handler's thread gets the
GIL: with tens of threads in this one process that read lagged the arrival by up to 80 ms and
saw bunches no client sent.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
import socket
import struct
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import date
from email.parser import BytesParser
from email.policy import default
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from bot.container import Services, open_services
from bot.telegram.application import build_application, start, stop
from digests.ingest.core import ingest
from digests.readers import periods
from digests.settings import Settings
from tests.conftest import EXAMPLES, LoopbackHandler, serve
from tests.fake_stars import METHODS as STARS_METHODS
from tests.fake_stars import StarsDesk
from tests.telegram_html import problems

TOKEN = "123456:TEST-TOKEN"
BOT = {
    "id": 123456,
    "is_bot": True,
    "first_name": "Digest",
    "username": "digest_bot",
    "can_join_groups": False,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}


def _open_gate() -> threading.Event:
    gate = threading.Event()
    gate.set()
    return gate


@dataclass
class FakeTelegram:
    root: str = ""
    updates: list[dict[str, Any]] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    inbox: dict[int, list[str]] = field(default_factory=dict)  # chat id → texts the bot sent
    deleted: list[tuple[int, int]] = field(default_factory=list)
    blocked: set[int] = field(default_factory=set)
    missing: set[int] = field(default_factory=set)  # answer 400 chat not found
    unparsable: int = 0  # answer this many HTML sends with 400 can't parse entities first
    rate_limited: int = 0  # answer this many sendMessage calls with 429 first
    retry_after: int = 1  # … telling the bot to wait this many seconds
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    undeclared: set[str] = field(default_factory=set)  # file ids sent without a file_size
    served: dict[str, int] = field(default_factory=dict)  # file path → bytes a download got
    fail_methods: set[str] = field(default_factory=set)  # answer 500 (cosmetic-call tests)
    photos: dict[int, list[bytes]] = field(default_factory=dict)  # chat id → sendPhoto files
    # the benches and pacing tests: answer after `latency` seconds; enforce the limits (see
    # the module docstring) when `per_second` is set, counting the 429s in `floods`
    latency: float = 0.0
    per_second: int = 0
    chat_burst: int = 3
    flood_wait: int = 1  # seconds of the first 429's retry_after; each refused retry adds as much
    strict: bool = False  # a sliding 1 s window, and any 429 bars the whole bot (module docstring)
    floods: int = 0
    # sendMessage calls wait while this is clear: a test holds a sender mid-broadcast (its
    # requests in flight) for as long as it needs, instead of racing it
    gate: threading.Event = field(default_factory=_open_gate)
    said: list[tuple[float, int, str]] = field(default_factory=list)  # (monotonic, user, text)
    refused: list[float] = field(default_factory=list)  # monotonic times of the 429s answered
    sent: list[tuple[float, int, str]] = field(default_factory=list)  # delivered, in order
    _overall: tuple[float, float] | None = None  # the bot-wide bucket: (tokens, refilled at)
    _buckets: dict[int, tuple[float, float]] = field(default_factory=dict)  # chat → (tokens, at)
    _barred: dict[int | None, float] = field(default_factory=dict)  # None: the whole bot
    # strict: arrivals accepted lately, sorted (threads may take them out of arrival order)
    _window: list[float] = field(default_factory=list)
    # strict: for each 429 of a limit (not of a bar), when it came, to which chat, and the
    # arrivals the window counted (an empty list: the chat's own limit) (benches)
    window_refusals: list[tuple[float, int, list[float]]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _ready: threading.Condition = field(default_factory=threading.Condition)
    stars: StarsDesk = field(init=False)

    def __post_init__(self) -> None:
        self.stars = StarsDesk(push=self._push, message=self._message)

    # -- what a user does ---------------------------------------------------------------------
    def user_says(self, user_id: int, text: str) -> int:
        self.said.append((time.monotonic(), user_id, text))
        message = self._message(user_id, text=text)
        if text.startswith("/"):
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": len(text.split()[0])}
            ]
        return self._push({"message": message})

    def user_sends_file(
        self, user_id: int, name: str, content: bytes, caption: str = "", *, declared: bool = True
    ) -> int:
        """A document message; `declared=False` leaves out its file_size (Telegram may)."""
        file_id = f"file{next(self._ids)}"
        self.files[file_id] = (f"documents/{name}", content)
        document = {
            "file_id": file_id,
            "file_unique_id": file_id,
            "file_name": name,
            "file_size": len(content),
            "mime_type": "text/markdown",
        }
        if not declared:
            self.undeclared.add(file_id)
            del document["file_size"]
        message = self._message(user_id, document=document)
        if caption:
            message["caption"] = caption
        return self._push({"message": message})

    def user_replies(self, user_id: int, text: str, to: str) -> int:
        """A message answering (Telegram's reply) the bot's message whose text was `to`."""
        message = self._message(user_id, text=text)
        message["reply_to_message"] = self._message(user_id, text=to, from_bot=True)
        return self._push({"message": message})

    def user_presses(self, user_id: int, data: str) -> int:
        query = {
            "id": f"cq{next(self._ids)}",
            "from": _user(user_id),
            "chat_instance": "ci",
            "data": data,
            "message": self._message(user_id, text="(buttons)", from_bot=True),
        }
        return self._push({"callback_query": query})

    def buttons(self, chat_id: int) -> list[tuple[str, str]]:
        """The inline buttons of the last message to this chat that had any."""
        for method, params in reversed(self.calls):
            if method == "sendMessage" and int(params["chat_id"]) == chat_id:
                markup = params.get("reply_markup")
                rows = json.loads(markup) if isinstance(markup, str) else markup
                if rows and "inline_keyboard" in rows:  # not a ForceReply
                    return [
                        (b["text"], b["callback_data"])
                        for row in rows["inline_keyboard"]
                        for b in row
                    ]
        return []

    def _message(self, user_id: int, *, from_bot: bool = False, **content: Any) -> dict[str, Any]:
        return {
            "message_id": next(self._ids),
            "date": int(time.time()),
            "chat": {  # a username, so /revoke @u2001 can be tested
                "id": user_id,
                "type": "private",
                "first_name": f"U{user_id}",
                "username": f"u{user_id}",
            },
            "from": BOT if from_bot else _user(user_id),
            **content,
        }

    def _push(self, update: dict[str, Any]) -> int:
        with self._ready:
            update["update_id"] = next(self._ids)
            self.updates.append(update)
            self._ready.notify_all()
        return update["update_id"]

    # -- what the bot calls --------------------------------------------------------------------
    def call(self, method: str, params: dict[str, Any]) -> tuple[int, Any]:
        self.calls.append((method, params))
        if method in self.fail_methods:
            return 500, {"ok": False, "error_code": 500, "description": "Internal Server Error"}
        if method == "getUpdates":
            return 200, {"ok": True, "result": self._get_updates(params)}
        if method == "sendMessage":
            return self._send(params)
        if method in STARS_METHODS:
            return self.stars.call(method, params)
        if method == "sendPhoto":
            chat_id = int(params["chat_id"])
            self.photos.setdefault(chat_id, []).append(params["photo"])
            return 200, {"ok": True, "result": self._message(chat_id, from_bot=True, photo=[])}
        if method == "deleteMessage":
            self.deleted.append((int(params["chat_id"]), int(params["message_id"])))
        if method == "getFile":
            path, content = self.files[params["file_id"]]
            found = {
                "file_id": params["file_id"],
                "file_unique_id": params["file_id"],
                "file_size": len(content),
                "file_path": path,
            }
            if params["file_id"] in self.undeclared:
                del found["file_size"]
            return 200, {"ok": True, "result": found}
        if method == "getMe":
            return 200, {"ok": True, "result": BOT}
        if method == "editMessageText":
            return 200, {
                "ok": True,
                "result": self._message(int(params["chat_id"]), from_bot=True, text=params["text"]),
            }
        return 200, {"ok": True, "result": True}

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), 2.0)
        with self._ready:
            while True:
                ready = [u for u in self.updates if u["update_id"] >= offset]
                ready = ready[: int(params.get("limit") or 100)]
                if ready or time.monotonic() >= deadline:
                    return ready
                self._ready.wait(deadline - time.monotonic())

    def _flooded(self, chat_id: int) -> int:
        """0 if this message is within the limits, else the retry_after of its 429."""
        now = time.monotonic()
        with self._lock:
            for scope in (None, chat_id):  # a send while barred lengthens the bar: the penalty
                if self._barred.get(scope, 0.0) > now:
                    return self._bar(scope, now, self._barred[scope])
            room = max(2.0, self.per_second / 5)
            overall, since = self._overall or (room, now)
            overall = min(room, overall + (now - since) * self.per_second)
            tokens, at = self._buckets.get(chat_id, (float(self.chat_burst), now))
            tokens = min(float(self.chat_burst), tokens + (now - at))
            if overall < 1.0:
                return self._bar(None, now, now)
            if tokens < 1.0:
                return self._bar(chat_id, now, now)
            self._overall = (overall - 1.0, now)
            self._buckets[chat_id] = (tokens - 1.0, now)
            return 0

    def _window_flooded(self, chat_id: int) -> int:
        """Strict limits at arrival: 0 if accepted, else the retry_after of its 429 (times on
        the wall clock: the kernel's arrival stamps are)."""
        now = getattr(_arrival, "at", None) or time.time()
        with self._lock:
            if self._barred.get(None, 0.0) > now:
                return self._bar(None, now, self._barred[None])
            del self._window[: bisect.bisect_right(self._window, now - 2.0)]  # long gone
            first = bisect.bisect_right(self._window, now - 1.0)
            counted = self._window[first : bisect.bisect_right(self._window, now)]
            tokens, at = self._buckets.get(chat_id, (float(self.chat_burst), now))
            tokens = min(float(self.chat_burst), tokens + max(0.0, now - at))
            if len(counted) >= self.per_second or tokens < 1.0:
                full = len(counted) >= self.per_second
                self.window_refusals.append((now, chat_id, counted if full else []))
                return self._bar(None, now, now)
            bisect.insort(self._window, now)
            self._buckets[chat_id] = (tokens - 1.0, max(now, at))
            return 0

    def _bar(self, scope: int | None, now: float, since: float) -> int:
        self.floods += 1
        self._barred[scope] = since + self.flood_wait
        return max(1, math.ceil(self._barred[scope] - now))

    def _send(self, params: dict[str, Any]) -> tuple[int, Any]:
        if "chat_id" not in params:  # a request cut short (tests kill senders mid-request)
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request"}
        chat_id, text = int(params["chat_id"]), str(params["text"])
        self.gate.wait()
        wait = self._window_flooded(chat_id) if self.per_second and self.strict else 0
        if self.latency:
            time.sleep(self.latency)
        if self.per_second and not self.strict:
            wait = self._flooded(chat_id)
        if wait:
            self.refused.append(time.monotonic())
            return _too_many(wait)
        if chat_id in self.blocked:
            return 403, {
                "ok": False,
                "error_code": 403,
                "description": "Forbidden: bot was blocked by the user",
            }
        if chat_id in self.missing:
            return 400, {
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: chat not found",
            }
        if self.unparsable > 0 and params.get("parse_mode") == "HTML":
            self.unparsable -= 1
            return 400, {
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: can't parse entities: unsupported start tag",
            }
        if self.rate_limited > 0:
            self.rate_limited -= 1
            self.refused.append(time.monotonic())
            return _too_many(self.retry_after)
        found = problems(text) if params.get("parse_mode") == "HTML" else []
        if found or not 1 <= len(text.encode("utf-16-le")) // 2 <= 4096:
            return 400, {
                "ok": False,
                "error_code": 400,
                "description": f"Bad Request: can't parse entities: {found}",
            }
        self.inbox.setdefault(chat_id, []).append(text)
        self.sent.append((time.monotonic(), chat_id, text))
        return 200, {"ok": True, "result": self._message(chat_id, from_bot=True, text=text)}


_arrival = threading.local()  # the request this thread handles: when the kernel had its bytes
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux


def _kernel_arrival(connection: socket.socket) -> float | None:
    """Wait for the next request's first bytes and return when the kernel received them
    (time.time() seconds), without taking them; None where the kernel does not say."""
    try:
        connection.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        data, ancillary, _, _ = connection.recvmsg(1, socket.CMSG_SPACE(16), socket.MSG_PEEK)
    except OSError:
        return None
    for level, kind, value in ancillary:
        if data and level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
            seconds, nanoseconds = struct.unpack("qq", value[:16])
            return seconds + nanoseconds / 1e9
    return None


def _too_many(retry_after: int) -> tuple[int, dict[str, Any]]:
    return 429, {
        "ok": False,
        "error_code": 429,
        "parameters": {"retry_after": retry_after},
        "description": f"Too Many Requests: retry after {retry_after}",
    }


def _form(kind: str, body: bytes) -> dict[str, Any]:
    """A multipart/form-data body: file fields as bytes, the others as text."""
    message = BytesParser(policy=default).parsebytes(
        f"Content-Type: {kind}\r\n\r\n".encode() + body
    )
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        fields[str(name)] = payload if part.get_filename() else payload.decode()
    return fields


def _user(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": f"U{user_id}"}


@contextmanager
def fake_telegram() -> Iterator[FakeTelegram]:
    """Run a FakeTelegram on 127.0.0.1; its `root` is the TELEGRAM_API_BASE_URL."""
    state = FakeTelegram()

    class Handler(LoopbackHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as Telegram's servers do

        def handle_one_request(self) -> None:
            # strict limits count a request from when the kernel had it (module docstring)
            _arrival.at = _kernel_arrival(self.connection) if state.strict else None
            super().handle_one_request()

        def do_POST(self) -> None:
            method = urlsplit(self.path).path.rsplit("/", 1)[-1]
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length) if length else b""
            kind = self.headers.get("Content-Type", "")
            if kind.startswith("multipart/form-data"):  # sendPhoto: files as bytes
                params = _form(kind, body)
            else:
                raw = body.decode()
                params = json.loads(raw) if "json" in kind and raw else dict(parse_qsl(raw))
            status, body = state.call(method, params)
            self.respond(status, json.dumps(body).encode(), {"Content-Type": "application/json"})

        def do_GET(self) -> None:  # file downloads: /file/bot<token>/<path>
            path = unquote(urlsplit(self.path).path).split(f"/file/bot{TOKEN}/", 1)[-1]
            content = next((c for p, c in state.files.values() if p == path), None)
            if content is None:
                self.respond(404, b"not found", {"Content-Type": "text/plain"})
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            state.served[path] = 0
            try:  # in pieces, counting what the client took before it hung up
                for start in range(0, len(content), 65536):
                    self.wfile.write(content[start : start + 65536])
                    state.served[path] += len(content[start : start + 65536])
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

    with serve(Handler) as root:
        state.root = root
        yield state


@asynccontextmanager
async def running_bot(
    database_url: str, admin_id: int, *, fail_methods: set[str] = frozenset(), **overrides: Any
) -> AsyncIterator[tuple[FakeTelegram, Services]]:
    """The real PTB Application polling a FakeTelegram, on a database with the sample posts
    and February's password; `fail_methods` answer 500 from the start; `overrides` are extra
    settings."""
    with fake_telegram() as fake:
        fake.fail_methods = set(fail_methods)
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            database_url=database_url,
            telegram_bot_token=TOKEN,
            telegram_admin_ids=[admin_id],
            telegram_api_base_url=fake.root,
            **{"telegram_rate_limit": 1000, **overrides},
        )
        async with open_services(settings) as services:
            [_ async for _ in ingest([str(EXAMPLES)], services.ingest_context())]
            await periods.add_password(
                services.admin_context().store,
                "ld2602",
                date(2026, 2, 1),
                date(2026, 2, 28),
                "2026-02",
            )
            app = build_application(services, polling=True)
            await start(app, polling=True, poll_timeout=1)
            try:
                yield fake, services
            finally:
                await stop(app)
