"""The Starlette app: one lifespan opens and closes the database, HTTP and LLM clients and the
Telegram application; routes are in web.py."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.routing import Route
from telegram.ext import Application

from bot import pages, web
from bot.container import open_services
from bot.review import routes as review
from bot.scheduler import Notify, build_scheduler, catch_up
from bot.startup import channel_report
from bot.telegram import review_handlers
from bot.telegram.application import build_application, start, stop
from bot.telegram.outbox import TelegramOutbox
from bot.telegram.sender import pacer_for, send_reply
from bot.wechat.endpoint import wechat_callback
from bot.wechat.guard import ReplayGuard
from bot.wechat.notices import also_to_wechat_admins
from bot.wechat.sender import WeChatChannel
from bot.wecom import WeComChannel, register_robots
from digests import fingerprint
from digests.outbox.dispatcher import requeue_orphans
from digests.outbox.leader import lead
from digests.outbox.running import SendLoop
from digests.outbox.types import Channel

if TYPE_CHECKING:  # redis is imported when REDIS_URL is set: half a second off every start
    from redis.asyncio import Redis
from digests.replies import Reply
from digests.settings import Settings

log = logging.getLogger(__name__)
REDIS_TIMEOUT = 3.0  # seconds; well inside WeChat's 5 s for the callback's replay check


def build_app(settings: Settings) -> Starlette:
    """The web app for `digestbot run` (and tests)."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_services(settings) as services, AsyncExitStack() as stack:
            app.state.services = services
            report = channel_report(settings)
            log.info("%s", report.line)
            for problem in report.problems:  # `digestbot run` refuses these before it starts
                log.warning("%s", problem)
            app.state.metrics = web.MetricsCache(lambda: web.metrics_text(services.engine))
            redis = _redis(settings)
            if redis is not None:
                stack.push_async_callback(redis.aclose)
            app.state.redis = redis
            app.state.wechat_guard = ReplayGuard(services.store_context(), redis)
            app.state.telegram, app.state.telegram_mode = None, "off"
            if settings.telegram_bot_token is not None:
                webhook = settings.telegram_webhook_url
                telegram = build_application(services, polling=not webhook)
                await start(telegram, polling=not webhook)
                if webhook and settings.telegram_webhook_secret is not None:
                    secret = settings.telegram_webhook_secret.get_secret_value()
                    await telegram.bot.set_webhook(webhook, secret_token=secret)
                app.state.telegram = telegram
                app.state.telegram_mode = "webhook" if webhook else "polling"
            notify, channels = await _telegram_outlets(app.state.telegram, settings, stack)
            if settings.wechat_app_secret is not None and settings.wechat_token is not None:
                channels["wechat"] = wechat = WeChatChannel(settings, services.store_context())
                admins = settings.wechat_admin_openids
                notify = also_to_wechat_admins(notify, wechat, services.admin_context(), admins)
            app.state.wechat_channel = channels.get("wechat")  # the callback's pictures
            if settings.wecom_webhook_urls:
                await register_robots(services.store_context(), settings.wecom_webhook_urls)
                key = fingerprint.key(settings.fingerprint_material())
                channels["wecom"] = WeComChannel(
                    settings.wecom_webhook_urls, services.http, key=key
                )
            # the process's one send run: the delivery tick, the admin's publish, the notices
            sending = SendLoop(services.store_context(), services.kinds, channels)
            if app.state.telegram is not None:
                app.state.telegram.bot_data["sending"] = sending
            scheduler = build_scheduler(services, notify, channels, sending)
            scheduler.start(paused=True)  # until this process leads

            async def gain() -> None:
                await requeue_orphans(services.store_context())  # the old leader's claims
                try:
                    await catch_up(services, notify)
                finally:  # a failed catch-up must not leave the scheduler paused
                    scheduler.resume()

            async def lose() -> None:
                scheduler.pause()

            leading = asyncio.create_task(lead(services.leader, on_gain=gain, on_loss=lose))
            # What start-up made (modules, clients, the calendar) lives as long as the process:
            # out of the collector's reach, a burst's full collection no longer scans it (a
            # 170-215 ms pause of every request in bench/unlock.py; 16-26 ms with this)
            gc.freeze()
            try:
                yield
            finally:
                leading.cancel()
                await asyncio.gather(leading, return_exceptions=True)
                scheduler.shutdown(wait=False)  # no new job; a running one ends with the run
                # the run records what it sent and puts its unsent claims back, while the
                # database and the HTTP pool are still open
                await sending.stop()
                if app.state.telegram is not None:
                    await stop(app.state.telegram)

    routes = [
        Route("/healthz", web.healthz),
        Route("/metrics", web.metrics),
        Route("/telegram", web.telegram_webhook, methods=["POST"]),
        Route("/calendar/{token}.ics", web.calendar_feed),
        Route("/wechat", wechat_callback, methods=["GET", "POST"]),
        Route("/d/{token}", pages.digest_page),
        Route("/review/{token}", review.show),
        Route("/review/{token}", review.save, methods=["POST"]),
        Route("/review/{token}/publish", review.publish, methods=["POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def _redis(settings: Settings) -> Redis | None:
    """The shared Redis, if configured; a dead one fails a call in seconds, never hangs it."""
    if not settings.redis_url:
        return None
    from redis.asyncio import Redis

    return Redis.from_url(
        settings.redis_url, socket_connect_timeout=REDIS_TIMEOUT, socket_timeout=REDIS_TIMEOUT
    )


async def _telegram_outlets(
    telegram: Application | None,  # type: ignore[type-arg]
    settings: Settings,
    stack: AsyncExitStack,
) -> tuple[Notify, dict[str, Channel]]:
    """How jobs reach admins and subscribers: through Telegram when it runs, else the log."""
    if telegram is None:

        async def log_only(reply: Reply) -> None:
            log.info("admin notice (no channel to send it): %s", reply.text)

        return log_only, {}
    pacer = telegram.bot_data.setdefault("pacer", pacer_for(settings))

    async def to_admins(reply: Reply) -> None:
        services = telegram.bot_data["services"]
        for admin_id in settings.telegram_admin_ids:  # a preview: each admin's review link
            mine = await review_handlers.for_admin(services, admin_id, reply)
            await send_reply(telegram.bot, admin_id, mine)  # paced by the bot

    outbox = await stack.enter_async_context(TelegramOutbox(settings, pacer))
    telegram.bot_data["outbox"] = outbox  # the admin's "send now" uses it too
    return to_admins, {"telegram": outbox}
