"""Subscriber handlers and the admin gate: plain typed async functions that application.py
registers in order. Each maps an update to one use case of digests/ and sends its Reply.
Subscribers are keyed by the private chat id."""

from __future__ import annotations

import logging
import re

from telegram import Update
from telegram.ext import ApplicationHandlerStop

from bot.telegram.access_handlers import ACCESS_ADMIN, redeem
from bot.telegram.admin_handlers import post_text
from bot.telegram.calendar_handlers import CALENDAR_ADMIN
from bot.telegram.context import Context, answer, command_name, is_admin, services, subscriber
from bot.telegram.payments import cancel_renewal, help_lines
from bot.telegram.sender import send_reply
from digests.readers import account, codes, passwords, reading
from digests.replies import Reply

log = logging.getLogger(__name__)
ADMIN_COMMANDS = {
    "post",
    "publish",
    "passwords",
    "password_add",
    "password_remove",
    "subscribers",
    "stats",
    "broadcast",
    "refund",  # Stars (bot/telegram/payments.py)
    *CALENDAR_ADMIN,
    *ACCESS_ADMIN,
}
ADMIN_ACTIONS = (
    "publish:",
    "regen:",
    "regen-edit:",
    "edit:",
    "discard:",
    "bcast:",
    "evok:",
    "evno:",
)
MENU = [
    ("latest", "最新摘要"),
    ("digests", "最近 10 篇"),
    ("search", "搜索文章与摘要"),
    ("ask", "向存档提问"),
    ("unlock", "解锁会员期"),
    ("redeem", "兑换码"),
    ("status", "我的会员期与设置"),
    ("settings", "推送方式与提醒"),
    ("calendar", "未来 7 天日历"),
    ("remind", "事件提醒 on/off"),
    ("watch", "关注个股或板块"),
    ("watchlist", "我的关注"),
    ("stock", "个股时间线"),
    ("help", "帮助"),
    ("stop", "退订"),
]


async def gate(update: Update, context: Context) -> None:
    """Group -1: admin commands and buttons from anyone else are refused, logged, stopped."""
    message, query = update.effective_message, update.callback_query
    command = ""
    if message is not None and message.text and message.text.startswith("/"):
        command = command_name(message.text)
    wants_admin = command in ADMIN_COMMANDS or (
        query is not None and (query.data or "").startswith(ADMIN_ACTIONS)
    )
    if wants_admin and not is_admin(update, context):
        user = update.effective_user
        log.warning(
            "refused admin request %r from user %s",
            command or (query and query.data),
            user.id if user else "?",
        )
        if query is not None:
            await query.answer("仅限管理员。")
        elif update.effective_chat is not None:
            await send_reply(context.bot, update.effective_chat.id, Reply("此命令仅限管理员。"))
        raise ApplicationHandlerStop


async def on_start(update: Update, context: Context) -> None:
    chat = update.effective_chat
    assert chat is not None
    _, reply = await account.register(
        services(context).store_context(),
        channel="telegram",
        external_id=str(chat.id),
        name=chat.full_name or "",
        username=chat.username or "",
    )
    await answer(update, context, reply)


async def on_help(update: Update, context: Context) -> None:
    await answer(update, context, Reply(account.HELP + help_lines(services(context).settings)))


async def on_unlock(update: Update, context: Context) -> None:
    password = " ".join(context.args or [])
    if not password:
        await answer(update, context, Reply("用法：/unlock 密码"))
        return
    reader = await subscriber(update, context)
    await answer(
        update,
        context,
        await passwords.unlock(services(context).store_context(), reader, password),
    )


async def on_latest(update: Update, context: Context) -> None:
    reader = await subscriber(update, context)
    await answer(update, context, await reading.latest(services(context).store_context(), reader))


async def on_digests(update: Update, context: Context) -> None:
    reader = await subscriber(update, context)
    await answer(update, context, await reading.recent(services(context).store_context(), reader))


async def on_status(update: Update, context: Context) -> None:
    reader = await subscriber(update, context)
    await answer(update, context, await account.status(services(context).store_context(), reader))


async def on_settings(update: Update, context: Context) -> None:
    choices = [
        ("即时推送", "set:instant"),
        ("只收合集", "set:edition"),
        ("提醒：开", "set:remind-on"),
        ("提醒：关", "set:remind-off"),
    ]
    await answer(update, context, Reply("选择推送方式与提醒：", choices=choices))


async def on_stop(update: Update, context: Context) -> None:
    reader = await subscriber(update, context)
    canceled = await cancel_renewal(context, reader)  # a Stars renewal ends with the subscription
    await account.update_settings(services(context).store_context(), reader, status="stopped")
    note = f"\n{canceled.text}" if canceled else ""
    await answer(update, context, Reply(f"已退订。发送 /start 可重新订阅。{note}"))


async def on_text(update: Update, context: Context) -> None:
    """A bare message: the password after /start; from an admin, otherwise a post."""
    message = update.effective_message
    assert message is not None and message.text is not None
    reader = await subscriber(update, context)
    text = message.text.strip()
    looks_like_password = len(text) <= 64 and not re.search(r"\s", text)
    if codes.looks_like_code(text):  # a code alone, whether or not a password is awaited
        await redeem(update, context, text)
    elif reader.awaiting_password and (looks_like_password or not is_admin(update, context)):
        await answer(
            update,
            context,
            await passwords.unlock(services(context).store_context(), reader, text),
        )
    elif is_admin(update, context):
        await post_text(update, context, text, name="")
    else:
        await answer(update, context, Reply(account.HELP))
