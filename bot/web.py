"""HTTP routes of the app's web server: /healthz and the Telegram webhook."""

from __future__ import annotations

import hmac
import logging

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from telegram import Update

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
