"""Telegram's handlers, all but payments and files: the admin gate, then one handler for every
command of the table (digests/commands/), one for plain text (the shared router) and one for
buttons. application.py registers them in order. Subscribers are keyed by the private chat id.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import ApplicationHandlerStop

from bot.telegram.admin_handlers import send_now
from bot.telegram.context import Context, answer, is_admin, services, subscriber
from bot.telegram.payments import cancel_renewal, help_lines
from bot.telegram.review_handlers import offered  # a preview: 编辑 and the review link
from bot.telegram.sender import send_reply
from digests import commands
from digests.commands import Call, ChatChannel
from digests.models import Subscriber
from digests.readers import account
from digests.replies import Reply

log = logging.getLogger(__name__)
# Telegram-only admin commands outside the table (bot/telegram/payments.py)
PAYMENTS_ADMIN = frozenset({"refund"})


class TelegramHooks:
    """What the use cases ask of Telegram: Stars renewals, sending at once, Stars' help."""

    def __init__(self, context: Context) -> None:
        self.context = context

    async def access_ended(self, reader: Subscriber) -> str:
        """A stopped or revoked Telegram reader's Stars renewal is cancelled: they would pay
        for nothing."""
        if reader.channel != ChatChannel.TELEGRAM:
            return ""
        canceled = await cancel_renewal(self.context, reader)
        return canceled.text if canceled else ""

    async def queued(self) -> None:
        self.context.application.create_task(send_now(self.context))

    def help_lines(self) -> str:
        return help_lines(services(self.context).settings)


async def call_for(
    update: Update, context: Context, rest: str = "", *, register: bool = True
) -> Call:
    """The table's Call for this update: its reader, registered on first contact (an admin's
    command, `register=False`, does not make the admin a subscriber)."""
    s, user = services(context), update.effective_user
    reader = await subscriber(update, context) if register else await _known(update, context)
    return Call(
        ctx=s.admin_context(),
        channel=ChatChannel.TELEGRAM,
        reader=reader,
        rest=rest,
        admin=is_admin(update, context),
        by=f"telegram:{user.id}" if user else "telegram",
        ask_limit=s.settings.ask_daily_limit,
        base_url=s.settings.public_base_url,
        hooks=TelegramHooks(context),
    )


async def _known(update: Update, context: Context) -> Subscriber:
    """The chat's subscriber if there is one, else an unsaved stand-in."""
    chat = update.effective_chat
    assert chat is not None
    async with services(context).store_context().sessions() as session:
        found = await account.get_subscriber(session, channel="telegram", external_id=str(chat.id))
    return found or Subscriber(channel="telegram", external_id=str(chat.id))


def _wants_admin(update: Update) -> str:
    """The admin-only command or button this update asks for, or ""."""
    message, query = update.effective_message, update.callback_query
    if query is not None:
        found = commands.action(query.data or "")
        return query.data or "" if found is not None and found[0].admin else ""
    if message is None or not message.text:
        return ""
    found = commands.find(ChatChannel.TELEGRAM, message.text)
    if found is not None and found[0].admin:
        return found[0].name
    head = message.text.split()[0] if message.text.startswith("/") else ""
    return head if head[1:].split("@")[0].lower() in PAYMENTS_ADMIN else ""


async def gate(update: Update, context: Context) -> None:
    """Group -1: admin commands and buttons from anyone else are refused, logged, stopped."""
    wanted = _wants_admin(update)
    if wanted and not is_admin(update, context):
        user = update.effective_user
        log.warning("refused admin request %r from user %s", wanted, user.id if user else "?")
        if update.callback_query is not None:
            await update.callback_query.answer("仅限管理员。")
        elif update.effective_chat is not None:
            await send_reply(context.bot, update.effective_chat.id, Reply(commands.ADMINS_ONLY))
        raise ApplicationHandlerStop


async def on_command(update: Update, context: Context) -> None:
    """Any command of the table: its row runs with the words after it."""
    message = update.effective_message
    assert message is not None and message.text is not None
    found = commands.find(ChatChannel.TELEGRAM, message.text)
    if found is None:  # registered from the table, so only a race with a redeploy gets here
        return
    row, rest = found
    call = await call_for(update, context, rest, register=not row.admin)
    await answer(update, context, await offered(update, context, await commands.run(row, call)))


async def on_text(update: Update, context: Context) -> None:
    """A bare message: the shared router (a code, the awaited password, an admin's post, or
    the help)."""
    message = update.effective_message
    assert message is not None and message.text is not None
    call = await call_for(update, context)
    await answer(
        update,
        context,
        await offered(update, context, await commands.route_text(call, message.text)),
    )


async def on_button(update: Update, context: Context) -> None:
    """A button of the table's (open:ID, settings:…, publish:SLUG, stock:名称 2, …)."""
    query = update.callback_query
    assert query is not None
    await query.answer()
    found = commands.action(query.data or "")
    if found is None:
        return
    row, value = found
    call = await call_for(update, context, value, register=not row.admin)
    await answer(update, context, await offered(update, context, await commands.run(row, call)))


def menu() -> list[tuple[str, str]]:
    """The command menu: the table's rows marked for it, in the table's order."""
    return [(row.name, row.summary) for row in commands.COMMANDS if row.menu]


def names() -> list[str]:
    """Every command of the table Telegram answers (buttons' actions are no commands)."""
    return [row.name for row in commands.COMMANDS if not row.button]
