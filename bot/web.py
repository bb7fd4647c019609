"""HTTP routes of the app's web server: /healthz, /metrics, the Telegram webhook and each
subscriber's iCalendar feed."""

from __future__ import annotations

import hmac
import logging

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from telegram import Update

from digests.calendar import events
from digests.calendar.ical import calendar_ics

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


async def healthz(request: Request) -> Response:
    """200 when the database answers; says which channels run."""
    services = request.app.state.services
    try:
        async with services.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to reach the store is "unhealthy", with its reason
        return JSONResponse({"status": "error", "database": str(exc)}, status_code=503)
    telegram = request.app.state.telegram_mode
    return JSONResponse({"status": "ok", "database": "ok", "telegram": telegram})


async def metrics(request: Request) -> Response:
    """Prometheus text format: deliveries, subscribers, posts, digests and LLM usage."""
    services = request.app.state.services
    lines: list[str] = []
    for name, help_text, query in _METRICS:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
        async with services.engine.connect() as conn:
            for label, value in (await conn.execute(text(query))).all():
                tag = f'{{status="{label}"}}' if label is not None else ""
                lines.append(f"{name}{tag} {value}")
    return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")


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
    try:
        update = Update.de_json(await request.json(), application.bot)
    except ValueError:
        return Response(status_code=400)
    await application.update_queue.put(update)
    return Response(status_code=200)


async def calendar_feed(request: Request) -> Response:
    """/calendar/{token}.ics: confirmed and cancelled events (so calendar apps drop the
    cancelled), for the subscriber whose secret token this is; anyone else gets 404."""
    services = request.app.state.services
    ctx = services.member_context()
    reader = await events.by_token(ctx, request.path_params["token"])
    if reader is None:
        return PlainTextResponse("unknown or revoked calendar link", status_code=404)
    found = await events.listing(ctx, reader=reader, statuses=("confirmed", "cancelled"))
    body = calendar_ics(found, name="研报日历", tz=services.settings.tz)
    return Response(body, media_type="text/calendar; charset=utf-8")
