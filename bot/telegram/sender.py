"""Replies → Telegram messages (rendered once per Reply), and conversation replies through
python-telegram-bot paced by the process's one Pacer (bot/telegram/pacer.py).

Every request PTB makes passes through `PacedLimiter` (installed by application.py): a message
sent or edited waits for its chat's turn and a slot, replies ahead of the outbox; a 429 pauses
the pacer and the message waits and goes again, for up to REPLY_WITHIN. A reply that cannot go
out by then raises NotSentInTime (bot/telegram/context.py queues it in the outbox). Other calls
(getUpdates, answerCallbackQuery, deleteMessage, getFile, …) are not counted by Telegram as
messages and go straight.
"""

from __future__ import annotations

import html
import logging
import re
import time
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest, RetryAfter
from telegram.ext import BaseRateLimiter

from bot.telegram.pacer import Pacer, Priority, pacer_for
from digests import commands, fingerprint, render
from digests.commands import ChatChannel
from digests.replies import DigestView, Reply

__all__ = [
    "NotSentInTime",
    "PacedLimiter",
    "Pacer",
    "mark_of",
    "pacer_for",
    "reply_parts",
    "send_reply",
]
log = logging.getLogger(__name__)
RETRY_AFTER_ATTEMPTS = 3  # the outbox's sends; the dispatcher backs off after that
REPLY_WITHIN = 180.0  # seconds a reply may wait (for its slot and 429s) before the outbox takes it
_COUNTED = ("send", "edit", "copy", "forward")  # Bot API methods that are messages to Telegram
_NOT_COUNTED = {"sendChatAction"}


def reply_parts(reply: Reply, mark: fingerprint.Mark | None = None) -> list[str]:
    """The HTML messages a reply becomes (buttons go on the last one); rendered once per Reply,
    since a publication's Reply is shared by all of its recipients; with a reader's `mark`,
    stamped in a cheap pass over those parts (digests/fingerprint.py)."""
    rendered = _rendered.get(id(reply))
    if rendered is None or rendered.reply is not reply:
        if len(_rendered) > 256:
            _rendered.clear()
        rendered = _rendered[id(reply)] = _Rendered(reply, _render(reply))
    if mark is None:
        return rendered.parts
    templates, rooms = rendered.templates()
    return fingerprint.stamp_parts(templates, mark, rooms)


def mark_of(reply: Reply, key: bytes, chat_id: int | str) -> fingerprint.Mark | None:
    """The fingerprint of this chat's copy of a reply that carries digests (None otherwise)."""
    views = reply.views
    if not views:
        return None
    medium = fingerprint.Medium.MESSAGE
    return fingerprint.mark_for(key, "telegram", str(chat_id), views[0].publication_id, medium)


class _Rendered:
    """A reply's parts, and (made on the first marked send) where marks go in them."""

    def __init__(self, reply: Reply, parts: list[str]) -> None:
        self.reply, self.parts = reply, parts
        self._templates: tuple[list[fingerprint.Template], list[int | None]] | None = None

    def templates(self) -> tuple[list[fingerprint.Template], list[int | None]]:
        if self._templates is None:
            free = (render.TELEGRAM_LIMIT - render.telegram_visible_len(p) for p in self.parts)
            rooms: list[int | None] = [units // fingerprint.MARK_UTF16 for units in free]
            made = [fingerprint.template(part) for part in self.parts]
            self._templates = (made, rooms)
        return self._templates


_rendered: dict[int, _Rendered] = {}


def _render(reply: Reply) -> list[str]:
    reply = commands.spelled(reply, ChatChannel.TELEGRAM)  # ⟦latest⟧ → /latest
    parts = [html.escape(reply.text, quote=False)] if reply.text else []
    for shown in reply.views:
        parts += _view_parts(shown)
    if reply.lead:  # a reader's ⭐ line: on top of the first part when it fits
        lead = html.escape(reply.lead, quote=False)
        first = f"{lead}\n{parts[0]}" if parts else lead
        if parts and render.telegram_visible_len(first) > render.TELEGRAM_LIMIT:
            parts.insert(0, lead)
        else:
            parts[:1] = [first]
    return parts or [html.escape("（空）")]


def _view_parts(shown: DigestView) -> list[str]:
    """A digest's parts, rendered once per view however many readers' Replies carry it (a
    watcher's copy is its own Reply with a ⭐ lead over the same view)."""
    cached = _views.get(id(shown))
    if cached is not None and cached[0] is shown:
        return cached[1]
    room = fingerprint.MARK_UTF16  # every line may carry a chunk of a reader's fingerprint
    parts = render.telegram_html(
        shown.digest,
        title=shown.title,
        extractive=shown.extractive,
        disclaimer=shown.disclaimer,
        room_per_line=room,
    )
    if len(_views) > 256:
        _views.clear()
    _views[id(shown)] = (shown, parts)
    return parts


_views: dict[int, tuple[DigestView, list[str]]] = {}


def plain(part: str) -> str:
    """One of our HTML parts as plain text (we only emit b and i tags)."""
    return html.unescape(re.sub(r"</?[a-z][^>]*>", "", part))


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    """Buttons, one per row for lists, in one row for short action sets."""
    if not reply.choices:
        return None
    buttons = [InlineKeyboardButton(label, callback_data=action) for label, action in reply.choices]
    rows = [buttons] if len(buttons) <= 3 else [[b] for b in buttons]
    return InlineKeyboardMarkup(rows)


class NotSentInTime(Exception):
    """A message that could not go out within REPLY_WITHIN (no slot, or a longer flood wait);
    `parts` are the reply's parts not sent (send_reply fills them in)."""

    def __init__(self, chat_id: int, reason: str) -> None:
        super().__init__(f"no message to chat {chat_id} within {REPLY_WITHIN:.0f} s: {reason}")
        self.parts: list[str] = []


class PacedLimiter(BaseRateLimiter[Priority]):
    """PTB's requests through the process's Pacer (see the module docstring). A method's
    `rate_limit_args` is its Priority; none given means a reply."""

    def __init__(self, pacer: Pacer, *, within: float = REPLY_WITHIN) -> None:
        self.pacer, self.within = pacer, within

    async def initialize(self) -> None:
        """Nothing to open: the pacer lives as long as the process."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: Priority | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        """Pace messages (waiting out 429s until the deadline); pass everything else."""
        counted = endpoint.startswith(_COUNTED) and endpoint not in _NOT_COUNTED
        if not counted or data.get("chat_id") is None:
            return await callback(*args, **kwargs)
        chat_id = _chat(data["chat_id"])
        priority = Priority.REPLY if rate_limit_args is None else rate_limit_args
        deadline = time.monotonic() + self.within
        while True:
            try:
                slot = await self.pacer.wait(chat_id, priority, deadline=deadline)
            except TimeoutError:
                raise NotSentInTime(chat_id, "no slot came") from None
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                seconds = retry_seconds(exc.retry_after)
                self.pacer.pause(seconds, chat_id)  # waited out in the next pacer.wait()
                log.info("429 on %s to chat %s: waiting %.0f s", endpoint, chat_id, seconds)
                if time.monotonic() + seconds > deadline:
                    raise NotSentInTime(chat_id, f"flood wait of {seconds:.0f} s") from exc
            finally:
                # PTB's request left somewhere between the slot and now (encoding it takes
                # milliseconds): counted from now, which errs on the safe side
                slot.on_wire()


def _chat(chat_id: object) -> int:
    """The pacer's key: the chat id, or for an @channelname a stable negative number (only
    groups and channels have names)."""
    try:
        return int(str(chat_id))
    except ValueError:
        return -1 - (abs(hash(str(chat_id))) % 10**12)


async def send_reply(
    bot: Bot, chat_id: int, reply: Reply, *, key: bytes | None = None
) -> list[Message]:
    """Send every part of a reply in a conversation (paced by the bot's PacedLimiter); an HTML
    part Telegram cannot parse goes once more as plain text. NotSentInTime carries the parts
    not sent. With the fingerprint `key`, digests carry this chat's mark. (The outbox's bulk
    sends go through bot/telegram/outbox.py.)"""
    parts = reply_parts(reply, mark_of(reply, key, chat_id) if key is not None else None)
    sent = []
    for index, part in enumerate(parts):
        markup = keyboard(reply) if index == len(parts) - 1 else None
        try:
            sent.append(await _send_part(bot, chat_id, part, markup))
        except NotSentInTime as late:
            late.parts = parts[index:]
            raise
    if reply.image is not None:  # the readership chart, after its figures
        sent.append(await bot.send_photo(chat_id, reply.image))
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
        return await bot.send_message(chat_id, plain(part), reply_markup=markup)


def retry_seconds(wait: object) -> float:
    """retry_after is an int in older PTB releases and a timedelta in newer ones."""
    total = getattr(wait, "total_seconds", None)
    return float(total()) if callable(total) else float(wait)  # type: ignore[arg-type]
