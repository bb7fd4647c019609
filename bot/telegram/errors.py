"""When a handler raises: the reader gets one plain sentence with a reference, the admins a
short notice (at most one a minute, the ones held back counted in the next), the log the trace
under the same reference. The reader never gets silence.

A store or network that cannot be reached (PostgreSQL down, say) is told apart: the reader is
asked to try again later rather than told that the admins were called.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable

from sqlalchemy import exc as sa_exc
from telegram import Update

from bot.telegram.context import Context, command_name, services
from bot.telegram.sender import send_reply
from digests.replies import Reply

log = logging.getLogger(__name__)
UNAVAILABLE = "暂时无法处理，请稍后再试（编号 {ref}）。"
FAILED = "抱歉，处理出错了，管理员已收到通知（编号 {ref}）。"
NOTICE_EVERY = 60.0  # seconds between two admin notices
# Outages rather than bugs: the database (refused, dropped, pool exhausted) or the network.
_OUTAGES = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
    OSError,
    TimeoutError,
)


class NoticeThrottle:
    """At most one admin notice per `every` seconds; those held back are counted (the clock
    is an input, so the policy is tested without waiting)."""

    def __init__(self, every: float = NOTICE_EVERY, clock: Callable[[], float] = time.monotonic):
        self.every, self.clock = every, clock
        self.next_at = float("-inf")
        self.held = 0

    def allow(self) -> int | None:
        """None: hold this notice back. Otherwise send it: the number held back since the last."""
        now = self.clock()
        if now < self.next_at:
            self.held += 1
            return None
        held, self.held, self.next_at = self.held, 0, now + self.every
        return held


def is_outage(error: BaseException | None) -> bool:
    """A store or network that cannot be reached: the error or what it was raised from."""
    while error is not None:
        if isinstance(error, _OUTAGES):
            return True
        error = error.__cause__
    return False


async def on_error(update: object, context: Context) -> None:
    """The Application's error handler (handlers and tasks made with create_task)."""
    error, ref = context.error, secrets.token_hex(3)
    where = describe(update)
    log.error("%s failed [ref %s]", where, ref, exc_info=error)
    chat = update.effective_chat if isinstance(update, Update) else None
    if chat is not None:
        text = (UNAVAILABLE if is_outage(error) else FAILED).format(ref=ref)
        try:
            await send_reply(context.bot, chat.id, Reply(text))
        except Exception:  # Telegram itself failing: the log has the reference already
            log.exception("could not tell chat %s about [ref %s]", chat.id, ref)
    throttle: NoticeThrottle = context.bot_data.setdefault("error_notices", NoticeThrottle())
    held = throttle.allow()
    if held is None:
        return
    notice = f"⚠️ 出错：{where}，{type(error).__name__}（编号 {ref}）。"
    if held:
        notice += f"此前一分钟内另有 {held} 次未通知，详见日志。"
    for admin_id in services(context).settings.telegram_admin_ids:
        try:
            await send_reply(context.bot, admin_id, Reply(notice))
        except Exception:
            log.exception("could not notify admin %s about [ref %s]", admin_id, ref)


def describe(update: object) -> str:
    """Where it happened, without the message's text (it may hold a password)."""
    if not isinstance(update, Update):
        return "后台任务"
    user = update.effective_user.id if update.effective_user else "?"
    message, query = update.effective_message, update.callback_query
    if query is not None:
        action = (query.data or "").partition(":")[0]
        return f"按钮 {action} (用户 {user})"
    if message is not None and message.text and message.text.startswith("/"):
        return f"/{command_name(message.text)} (用户 {user})"
    return f"消息 (用户 {user})"
