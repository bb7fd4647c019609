"""Replies → Telegram messages (rendered once per Reply), conversation replies through PTB,
and the pacing every Telegram send of this process shares.

Pacing: one global limiter at TELEGRAM_RATE_LIMIT messages/s (1000/s with
TELEGRAM_PAID_BROADCAST), about one message a second per private chat and 20 a minute per
group or channel (Telegram's documented limits; PTB's own AIORateLimiter has no per-chat limit
and retries nothing).
"""

from __future__ import annotations

import asyncio
import html
import logging
import time
from collections import defaultdict

from aiolimiter import AsyncLimiter
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest, RetryAfter

from digests import render
from digests.members import Reply
from digests.settings import Settings

log = logging.getLogger(__name__)
PER_CHAT_INTERVAL = 1.0  # seconds between messages to one private chat
PER_GROUP_INTERVAL = 3.0  # 20 a minute to one group or channel (their ids are negative)
PAID_RATE = 1000.0  # messages/s with allow_paid_broadcast
RETRY_AFTER_ATTEMPTS = 3
HEADROOM = 0.98


def reply_parts(reply: Reply) -> list[str]:
    """The HTML messages a reply becomes (buttons go on the last one); rendered once per Reply,
    since a publication's Reply is shared by all of its recipients."""
    cached = _rendered.get(id(reply))
    if cached is not None and cached[0] is reply:
        return cached[1]
    parts = _render(reply)
    if len(_rendered) > 256:
        _rendered.clear()
    _rendered[id(reply)] = (reply, parts)
    return parts


_rendered: dict[int, tuple[Reply, list[str]]] = {}


def _render(reply: Reply) -> list[str]:
    parts = [html.escape(reply.text, quote=False)] if reply.text else []
    for shown in reply.views:
        parts += render.telegram_html(shown.digest, title=shown.title, extractive=shown.extractive)
    return parts or [html.escape("（空）")]


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    """Buttons, one per row for lists, in one row for short action sets."""
    if not reply.choices:
        return None
    buttons = [InlineKeyboardButton(label, callback_data=action) for label, action in reply.choices]
    rows = [buttons] if len(buttons) <= 3 else [[b] for b in buttons]
    return InlineKeyboardMarkup(rows)


class Pacer:
    """Global and per-chat pacing for outgoing messages, and a pause after a 429."""

    def __init__(self, per_second: float) -> None:
        # One message per 1/rate seconds, no bursts: Telegram counts in windows, and a burst of
        # a full second's allowance at a window's edge is answered with 429s. 2 % below the
        # limit leaves room for clock skew between us and Telegram.
        self.limiter = AsyncLimiter(1, 1 / (per_second * HEADROOM))
        self.last: dict[int, float] = defaultdict(float)
        self.locks: dict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.paused_until = 0.0

    def pause(self, seconds: float, chat_id: int) -> None:
        """After a 429. The Bot API does not say which limit was hit, but we pace private
        chats at 1/s, well inside their limit, so a 429 there means the bot-wide limit:
        every lane holds (sending on would only earn more 429s and a longer flood wait). A
        group or channel has its own 20/min limit: only that chat holds."""
        until = time.monotonic() + seconds
        if chat_id < 0:
            self.last[chat_id] = max(self.last[chat_id], until - PER_GROUP_INTERVAL)
        else:
            self.paused_until = max(self.paused_until, until)

    async def wait(self, chat_id: int) -> None:
        interval = PER_GROUP_INTERVAL if chat_id < 0 else PER_CHAT_INTERVAL
        async with self.locks[chat_id]:
            while True:
                resume = max(self.last[chat_id] + interval, self.paused_until)
                if resume > time.monotonic():
                    await asyncio.sleep(resume - time.monotonic())
                await self.limiter.acquire()
                if self.paused_until <= time.monotonic():  # no pause began meanwhile
                    break
            self.last[chat_id] = time.monotonic()


async def send_reply(
    bot: Bot, chat_id: int, reply: Reply, pacer: Pacer | None = None
) -> list[Message]:
    """Send every part of a reply in a conversation, waiting out a 429 (twice at most); an HTML
    part Telegram cannot parse goes once more as plain text. (The outbox's bulk sends go
    through bot/telegram/outbox.py.)"""
    parts = reply_parts(reply)
    sent = []
    for index, part in enumerate(parts):
        markup = keyboard(reply) if index == len(parts) - 1 else None
        for attempt in range(1, RETRY_AFTER_ATTEMPTS + 1):
            if pacer is not None:
                await pacer.wait(chat_id)
            try:
                sent.append(await _send_part(bot, chat_id, part, markup))
                break
            except RetryAfter as exc:
                if attempt == RETRY_AFTER_ATTEMPTS:
                    raise
                if pacer is not None:
                    pacer.pause(_seconds(exc.retry_after), chat_id)  # waited out in wait()
                else:
                    await asyncio.sleep(_seconds(exc.retry_after))
    return sent


async def _send_part(
    bot: Bot, chat_id: int, part: str, markup: InlineKeyboardMarkup | None
) -> Message:
    try:
        return await bot.send_message(chat_id, part, parse_mode=ParseMode.HTML, reply_markup=markup)
    except BadRequest as exc:
        if "parse entities" not in str(exc).lower():
            raise
        log.warning("Telegram could not parse our HTML (%s); sending it as plain text", exc)
        return await bot.send_message(chat_id, html.unescape(part), reply_markup=markup)


def _seconds(wait: object) -> float:
    """retry_after is an int in older PTB releases and a timedelta in newer ones."""
    total = getattr(wait, "total_seconds", None)
    return float(total()) if callable(total) else float(wait)  # type: ignore[arg-type]


def pacer_for(settings: Settings) -> Pacer:
    """The process's one pacer: every send of this bot shares Telegram's limits."""
    paid = settings.telegram_paid_broadcast
    return Pacer(PAID_RATE if paid else settings.telegram_rate_limit)
