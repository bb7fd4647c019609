"""The Telegram side of the Channel protocol: the outbox's bulk sends, straight to the Bot API's
sendMessage over one aiohttp keep-alive pool.

Why not python-telegram-bot here: measured against a fake Bot API in another process, a
send through PTB's Bot (httpx + Message.de_json) costs ~3.3 ms of CPU on this 2-core machine,
a bare httpx request ~2.4 ms, an aiohttp request ~0.7 ms; at the paid-broadcast limit (1000/s)
only the last leaves one core enough. Conversations (commands, buttons, previews) still go
through PTB; both share one Pacer, so Telegram sees one bot's rate, and these sends wait at
Priority.BULK: a conversation's reply takes the next slot before them.

Answers map to outcomes: 200 → ok (message ids kept); 429 → paused for `retry_after` and tried
again (three times at most), then `retry`; 403 → gone; 400 "chat not found" → gone; 400 "can't
parse entities" → the part once more as plain text (logged); other 400 → bad_request; 5xx and
network errors → transient (the dispatcher backs off).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace, TracebackType
from typing import Any

import aiohttp

from bot.telegram.pacer import Pacer, Priority, Slot, pacer_for
from bot.telegram.sender import RETRY_AFTER_ATTEMPTS, keyboard, mark_of, plain, reply_parts
from digests import fingerprint
from digests.outbox.dispatcher import IN_FLIGHT
from digests.outbox.types import Reader, SendResult, sent_hash
from digests.redact import error_text
from digests.replies import Reply
from digests.settings import Settings

log = logging.getLogger(__name__)
PAID_LANES = 64  # with allow_paid_broadcast: the crash bound is then 64 + FLUSH_ROWS


class _Answer(Exception):
    """A Bot API answer other than ok."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.description = str(body.get("description", f"HTTP {status}"))
        self.retry_after = float((body.get("parameters") or {}).get("retry_after") or 0)
        super().__init__(self.description)


class TelegramOutbox:
    """The Channel the dispatcher sends Telegram rows through (an async context manager: it
    owns the HTTP pool)."""

    name = "telegram"

    def __init__(self, settings: Settings, pacer: Pacer) -> None:
        assert settings.telegram_bot_token is not None
        token = settings.telegram_bot_token.get_secret_value()
        root = settings.telegram_api_base_url.rstrip("/")
        self.url = f"{root}/bot{token}/sendMessage"
        self.pacer, self.paid = pacer, settings.telegram_paid_broadcast
        # sends in flight: at ~40 ms a request, 16 lanes cap a paid broadcast near 400/s
        self.lanes = PAID_LANES if self.paid else IN_FLIGHT
        self.timeout = aiohttp.ClientTimeout(total=settings.http_timeout_seconds)
        self.http: aiohttp.ClientSession | None = None
        self.key = fingerprint.key(settings.fingerprint_material())  # derived once

    async def __aenter__(self) -> TelegramOutbox:
        connector = aiohttp.TCPConnector(limit=self.lanes * 2)  # a connection per lane, spare
        wire = aiohttp.TraceConfig()  # the pacer counts a message from when it left
        wire.on_request_chunk_sent.append(_left)
        self.http = aiohttp.ClientSession(
            connector=connector, timeout=self.timeout, trace_configs=[wire]
        )
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.http is not None:
            await self.http.close()

    async def send(self, subscriber: Reader, reply: Reply) -> SendResult:
        chat_id = int(subscriber.external_id)
        parts = reply_parts(reply, mark_of(reply, self.key, chat_id))  # this reader's copy
        markup = keyboard(reply)
        ids, sent = [], []
        try:
            for index, part in enumerate(parts):
                buttons = markup.to_dict() if markup and index == len(parts) - 1 else None
                message_id, text = await self._part(chat_id, part, buttons)
                ids.append(message_id)
                sent.append(text)
        except _Answer as answer:
            return _outcome(answer)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return SendResult("transient", detail=error_text(exc))  # its URL holds the token
        # the audit's hash: of the `text` fields Telegram accepted, plain fallbacks included
        return SendResult("ok", message_ids=ids, content_sha256=sent_hash(sent))

    async def _part(
        self, chat_id: int, text: str, buttons: dict[str, Any] | None
    ) -> tuple[int, str]:
        """One part, waiting out 429s; HTML Telegram cannot parse goes once as plain text.
        Returns the message id and the text that went out."""
        payload: dict[str, Any] = {"chat_id": chat_id, "text": text, "parse_mode": "HTML"}
        if buttons:
            payload["reply_markup"] = buttons
        if self.paid:
            payload["allow_paid_broadcast"] = True
        for attempt in range(1, RETRY_AFTER_ATTEMPTS + 1):
            slot = await self.pacer.wait(chat_id, Priority.BULK)
            try:
                return await self._post(payload, slot), text
            except _Answer as answer:
                if answer.status == 400 and "parse entities" in answer.description.lower():
                    log.warning(
                        "Telegram could not parse our HTML (%s); sending plain text",
                        answer.description,
                    )
                    unformatted = {**payload, "text": plain(text)}
                    del unformatted["parse_mode"]
                    return await self._post(unformatted, slot), unformatted["text"]
                if answer.status != 429 or attempt == RETRY_AFTER_ATTEMPTS:
                    raise
                self.pacer.pause(answer.retry_after or 1.0, chat_id)
            finally:
                if not slot.left:  # no request went (the connection failed): counted from now
                    slot.on_wire()
        raise AssertionError("unreachable")

    async def _post(self, payload: dict[str, Any], slot: Slot) -> int:
        assert self.http is not None, "use `async with TelegramOutbox(...)`"
        async with self.http.post(self.url, json=payload, trace_request_ctx=slot) as response:
            raw = await response.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = {"description": raw[:200].decode(errors="replace")}
        if response.status == 200 and body.get("ok"):
            return int(body["result"]["message_id"])
        raise _Answer(response.status, body)


async def _left(
    session: aiohttp.ClientSession,
    context: SimpleNamespace,
    sent: aiohttp.TraceRequestChunkSentParams,
) -> None:
    """aiohttp wrote a request's body: its message is on the wire (see Pacer's window)."""
    slot = context.trace_request_ctx
    if isinstance(slot, Slot):
        slot.on_wire()


def _outcome(answer: _Answer) -> SendResult:
    detail = f"{answer.status} {answer.description}"
    if answer.status == 429:
        return SendResult("retry", retry_after=answer.retry_after, detail=detail)
    if answer.status == 403 or "chat not found" in answer.description.lower():
        return SendResult("gone", detail=detail)  # blocked, deactivated, or no such chat
    if answer.status == 400:
        return SendResult("bad_request", detail=detail)
    return SendResult("transient", detail=detail)  # 5xx, and whatever else may pass


@asynccontextmanager
async def shared_outbox(
    bot_data: dict[str, Any], settings: Settings
) -> AsyncIterator[TelegramOutbox]:
    """The app's open outbox channel if it runs (bot_data["outbox"]), else one for this use;
    either way with the process's one Pacer."""
    shared = bot_data.get("outbox")
    if isinstance(shared, TelegramOutbox):
        yield shared
        return
    pacer = bot_data.setdefault("pacer", pacer_for(settings))
    async with TelegramOutbox(settings, pacer) as channel:
        yield channel
