"""The python-telegram-bot Application: every handler registered here, in order.

Order matters twice: the gate in group -1 runs before everything and stops admin requests from
anyone else; in group 0 the first matching handler wins, so commands come before the catch-all
text handler.

Every request the bot makes goes through the process's one Pacer (sender.PacedLimiter): replies
ahead of the outbox, 429s waited out. At most CONCURRENT_UPDATES updates are handled at once,
so a burst of new readers queues in memory instead of opening hundreds of database sessions;
what a handler raises goes to errors.on_error (the reader always hears back).
"""

from __future__ import annotations

import logging

from telegram import BotCommand, Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    PreCheckoutQueryHandler,
    TypeHandler,
    filters,
)
from telegram.request import HTTPXRequest

from bot.container import Services
from bot.telegram import admin_handlers as a
from bot.telegram import handlers as h
from bot.telegram import payments as p
from bot.telegram import review_handlers as r
from bot.telegram.errors import NoticeThrottle, on_error
from bot.telegram.pacer import pacer_for
from bot.telegram.sender import PacedLimiter, on_request

log = logging.getLogger(__name__)
# Handlers running at once. Below the database pool (5 + 10 overflow) so handlers do not queue
# for connections; replies wait for the pacer, not for handlers: 16 keep it busy even at 300 ms
# of Bot API latency (30/s × (0.3 s + the handler's own work) < 16).
CONCURRENT_UPDATES = 16


def build_application(services: Services, *, polling: bool) -> Application:  # type: ignore[type-arg]
    """The bot wired to our services; `polling=False` for webhook mode (no Updater)."""
    settings = services.settings
    assert settings.telegram_bot_token is not None
    root = settings.telegram_api_base_url.rstrip("/")
    pacer = pacer_for(settings)
    builder = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(f"{root}/bot")
        .base_file_url(f"{root}/file/bot")
        .concurrent_updates(CONCURRENT_UPDATES)
        .rate_limiter(PacedLimiter(pacer))
        # PTB's own default pool (256 connections), with the hook that tells the pacer when
        # a message's request leaves (bot/telegram/pacer.py: what Telegram counts)
        .request(HTTPXRequest(httpx_kwargs={"event_hooks": {"request": [on_request]}}))
        # getUpdates has a pool of its own, of one connection by default: a long poll cut off
        # mid-flight can leave it checked out, and every later poll (and the last one at
        # shutdown, which confirms the offset) then fails with "Pool timeout" for good
        .get_updates_request(HTTPXRequest(connection_pool_size=4))
    )
    if not polling:
        builder = builder.updater(None)
    app = builder.build()
    app.bot_data["services"] = services
    app.bot_data["pacer"] = pacer  # the outbox's sends take their slots from it too
    app.bot_data["error_notices"] = NoticeThrottle()

    app.add_handler(TypeHandler(Update, h.gate), group=-1)  # before everything else
    # Stars payments: Telegram's own, outside the command table
    app.add_handler(CommandHandler("subscribe", p.on_subscribe))
    app.add_handler(CommandHandler("unsubscribe", p.on_unsubscribe))
    app.add_handler(CommandHandler("refund", p.on_refund))  # admin-only: the gate checks
    app.add_handler(PreCheckoutQueryHandler(p.on_pre_checkout))
    app.add_handler(MessageHandler(filters.SUCCESSFUL_PAYMENT, p.on_successful_payment))
    # every command of the table (digests/commands/); the gate has refused admin-only ones
    app.add_handler(CommandHandler(h.names(), h.on_command))
    app.add_handler(MessageHandler(filters.Document.ALL, a.on_document))
    # an admin's reply to the 编辑 text is an edit, not a new post: before the catch-all
    edited = filters.TEXT & ~filters.COMMAND & r.EditReply()
    app.add_handler(MessageHandler(edited, r.on_edit_reply))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, h.on_text))  # last: catch-all
    app.add_handler(CallbackQueryHandler(h.on_button))
    app.add_error_handler(on_error)
    return app


async def start(app: Application, *, polling: bool, poll_timeout: int = 30) -> None:  # type: ignore[type-arg]
    """Initialise, set the menu, start handling updates, and poll when not on a webhook."""
    await app.initialize()
    await set_menu(app)
    await app.start()
    if polling:
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0.0, timeout=poll_timeout)


async def stop(app: Application) -> None:  # type: ignore[type-arg]
    """The reverse of start()."""
    if app.updater is not None and app.updater.running:
        await app.updater.stop()
    if app.running:
        await app.stop()
    await app.shutdown()


async def set_menu(app: Application) -> None:  # type: ignore[type-arg]
    """The command menu is cosmetic: a failure is logged and never stops the bot."""
    try:
        menu = h.menu() + p.menu(app.bot_data["services"].settings)
        await app.bot.set_my_commands([BotCommand(name, text) for name, text in menu])
    except TelegramError as exc:
        log.warning("could not set the command menu: %s", exc)
