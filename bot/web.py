"""HTTP routes of the app's web server: /healthz, /metrics, the Telegram webhook and each
subscriber's iCalendar feed.

/healthz answers within CHECK_SECONDS whatever the database or Redis do, and names neither's
address. /metrics needs METRICS_TOKEN as a bearer token (unset: 404, as if absent) and is
served from counts at most METRICS_TTL seconds old, so any number of scrapers make at most
one round of queries per interval.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from telegram import Update

from digests.calendar import events
from digests.calendar.ical import calendar_ics
from digests.redact import error_text

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
CHECK_SECONDS = 2.5  # /healthz's bound on each check (a load balancer's probe waits ~5 s)
METRICS_TTL = 10.0  # seconds a /metrics answer is reused (Prometheus scrapes every 15-60 s)
MAX_UPDATE_BYTES = 1 << 20  # a Telegram update is a few KB; refuse more than 1 MB unread
CALENDAR_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")  # secrets.token_urlsafe(24) is 32


async def healthz(request: Request) -> Response:
    """200 when the database (and Redis, when configured) answer within CHECK_SECONDS, else
    503; says which kind of database and which Telegram mode run, never an address."""
    state = request.app.state
    engine: AsyncEngine = state.services.engine
    checks: dict[str, Awaitable[Any]] = {"database": _select_one(engine)}
    if state.redis is not None:
        checks["redis"] = state.redis.ping()
    results = await asyncio.gather(*(_check(name, c) for name, c in checks.items()))
    body = dict(zip(checks, results, strict=True))
    healthy = all(result == "ok" for result in results)
    body = {
        "status": "ok" if healthy else "error",
        **body,
        "database_kind": engine.dialect.name,
        "telegram": state.telegram_mode,
    }
    return JSONResponse(body, status_code=200 if healthy else 503)


async def _select_one(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def _check(name: str, check: Awaitable[Any]) -> str:
    task = asyncio.ensure_future(check)
    await asyncio.wait({task}, timeout=CHECK_SECONDS)
    if not task.done():
        # Not awaited: cancelling a query on a silent server sends it a cancel request, which
        # waits in turn (2 s more, measured). The task ends in the background.
        task.cancel()
        _lingering.add(task)
        task.add_done_callback(_forget)
        log.warning("healthz: %s is down: no answer within %s s", name, CHECK_SECONDS)
        return "down"
    if (exc := task.exception()) is not None:  # refused, reset, unreachable
        log.warning("healthz: %s is down: %s", name, error_text(exc))
        return "down"
    return "ok"


_lingering: set[asyncio.Future[Any]] = set()  # checks given up on, still being cancelled


def _forget(task: asyncio.Future[Any]) -> None:
    _lingering.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: it is the reason the check was down, logged already


class MetricsCache:
    """The /metrics text, loaded at most once per `ttl` seconds: callers arriving while it is
    stale wait for the one load in progress instead of starting their own."""

    def __init__(
        self,
        load: Callable[[], Awaitable[str]],
        *,
        ttl: float = METRICS_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.load, self.ttl, self.clock = load, ttl, clock
        self.text: str | None = None
        self.loaded_at = 0.0
        self.lock = asyncio.Lock()

    def _fresh(self) -> bool:
        return self.text is not None and self.clock() - self.loaded_at < self.ttl

    async def get(self) -> str:
        """The counts, reused while fresh."""
        if not self._fresh():
            async with self.lock:
                if not self._fresh():  # another caller may have loaded them meanwhile
                    self.text = await self.load()
                    self.loaded_at = self.clock()
        assert self.text is not None
        return self.text


async def metrics(request: Request) -> Response:
    """Prometheus text format: deliveries, subscribers, posts, digests and LLM usage; for the
    holder of METRICS_TOKEN only."""
    token = request.app.state.services.settings.metrics_token
    if token is None:
        return Response(status_code=404)
    given = request.headers.get("Authorization", "").encode()
    if not hmac.compare_digest(given, f"Bearer {token.get_secret_value()}".encode()):
        return Response(status_code=401, headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    try:
        body = await request.app.state.metrics.get()
    except Exception as exc:  # the store is away: the scraper records a failed scrape
        log.warning("metrics: the counts could not be read: %s", error_text(exc))
        return PlainTextResponse("the database did not answer", status_code=503)
    return PlainTextResponse(body, media_type="text/plain; version=0.0.4")


async def metrics_text(engine: AsyncEngine) -> str:
    """Every gauge, counted on one connection."""
    lines: list[str] = []
    async with engine.connect() as conn:
        for name, help_text, query in _METRICS:
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
            for label, value in (await conn.execute(text(query))).all():
                tag = f'{{status="{label}"}}' if label is not None else ""
                lines.append(f"{name}{tag} {value}")
    return "\n".join(lines) + "\n"


_METRICS = (
    ("digestbot_deliveries", "Outgoing messages by status.",
     "SELECT status, count(*) FROM delivery GROUP BY status"),
    ("digestbot_subscribers", "Subscribers by status.",
     "SELECT status, count(*) FROM subscriber GROUP BY status"),
    ("digestbot_posts", "Stored posts.", "SELECT NULL, count(*) FROM post"),
    ("digestbot_digests", "Digests by status.",
     "SELECT status, count(*) FROM digest GROUP BY status"),
    ("digestbot_llm_calls", "LLM calls made for digests.",
     "SELECT NULL, coalesce(sum(llm_calls), 0) FROM digest"),
    ("digestbot_llm_tokens", "LLM tokens used (prompt + completion).",
     "SELECT NULL, coalesce(sum(prompt_tokens + completion_tokens), 0) FROM digest"),
)  # fmt: skip


async def telegram_webhook(request: Request) -> Response:
    """Updates pushed by Telegram; the secret header must match (constant-time)."""
    application = request.app.state.telegram
    secret = request.app.state.services.settings.telegram_webhook_secret
    if application is None or secret is None or request.app.state.telegram_mode != "webhook":
        return Response(status_code=404)
    given = request.headers.get(SECRET_HEADER, "")
    if not hmac.compare_digest(given.encode(), secret.get_secret_value().encode()):
        log.warning("refused a webhook call with a wrong secret from %s", request.client)
        return Response(status_code=403)
    body = await read_at_most(request, MAX_UPDATE_BYTES)
    if body is None:
        log.warning("refused a webhook call: body over %d bytes", MAX_UPDATE_BYTES)
        return Response(status_code=413)
    update = _update(body, application.bot)
    if update is None:
        log.warning("refused a webhook call: not a Telegram update")
        return Response(status_code=400)
    await application.update_queue.put(update)
    return Response(status_code=200)


async def read_at_most(request: Request, limit: int) -> bytes | None:
    """The body, or None once it passes `limit` bytes (read no further)."""
    declared = request.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _update(body: bytes, bot: Any) -> Update | None:
    """An Update, or None for anything that is not one (not JSON, not an object, no
    update_id, nested too deep, fields of the wrong types)."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or type(data.get("update_id")) is not int:
        return None
    try:
        return Update.de_json(data, bot)
    except (TypeError, KeyError, ValueError, AttributeError, RecursionError):
        return None


async def calendar_feed(request: Request) -> Response:
    """/calendar/{token}.ics: confirmed and cancelled events (so calendar apps drop the
    cancelled), for the subscriber whose secret token this is; anyone else gets 404."""
    services = request.app.state.services
    ctx = services.store_context()
    token = request.path_params["token"]
    # a token of another shape was never issued; it must not reach the database either
    # (PostgreSQL refuses a NUL byte with an error, not an empty answer)
    reader = await events.by_token(ctx, token) if CALENDAR_TOKEN.fullmatch(token) else None
    if reader is None:
        return PlainTextResponse("unknown or revoked calendar link", status_code=404)
    found = await events.listing(ctx, reader=reader, statuses=("confirmed", "cancelled"))
    body = calendar_ics(found, name="研报日历", tz=services.settings.tz)
    return Response(body, media_type="text/calendar; charset=utf-8")
