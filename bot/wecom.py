"""WeCom (企业微信) group robots: editions and reminders posted to the groups whose webhook URLs
are in WECOM_WEBHOOK_URLS, as markdown of at most 4096 bytes, 20 messages a minute per robot.

Each robot is a subscriber on channel `wecom` who takes editions and reminders. Its id is a
hash of the URL, so the URL's key (a secret: whoever has it can post to the group) is never
stored. A robot holds no access grant: a group's members are not checked by us, so a robot gets
what a reader without the period's password gets (public digests, public posts' events).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import defaultdict, deque
from typing import Any

import httpx

from digests import fingerprint, render
from digests.outbox.types import Reader, SendResult, sent_hash
from digests.readers import account
from digests.redact import error_text
from digests.replies import Reply, StoreContext

log = logging.getLogger(__name__)
PER_MINUTE = 20
FREQUENCY = 45009  # "api freq out of limit"
INVALID = {93000, 93004}  # webhook invalid / robot removed from the group


def robot_id(url: str) -> str:
    """The subscriber id of a robot: the URL's hash, never the URL."""
    return hashlib.sha256(url.encode()).hexdigest()[:32]


async def register_robots(ctx: StoreContext, urls: list[str]) -> None:
    """Every configured robot is an active subscriber that takes editions and reminders."""
    for url in urls:
        reader, _ = await account.register(ctx, channel="wecom", external_id=robot_id(url))
        await account.update_settings(ctx, reader, delivery="edition", reminders=True)


class WeComChannel:
    """Markdown posts to group robots, paced per robot (a sliding minute of 20)."""

    name = "wecom"

    def __init__(
        self,
        urls: list[str],
        http: httpx.AsyncClient,
        *,
        window: float = 60.0,
        key: bytes = fingerprint.key(None),
    ) -> None:
        self.urls = {robot_id(url): url for url in urls}
        self.key = key  # FINGERPRINT_SECRET's: a group's copy names its robot
        self.http, self.window = http, window
        self.sent: dict[str, deque[float]] = defaultdict(deque)
        self.locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def send(self, reader: Reader, reply: Reply) -> SendResult:
        url = self.urls.get(reader.external_id)
        if url is None:
            return SendResult("gone", detail="robot no longer in WECOM_WEBHOOK_URLS")
        parts = markdown_parts(reply)
        if reply.views:  # the group's copy carries its robot's mark, within WeCom's limit
            medium, first = fingerprint.Medium.MESSAGE, reply.views[0].publication_id
            mark = fingerprint.mark_for(self.key, "wecom", reader.external_id, first, medium)
            rooms: list[int | None] = [
                (render.WECOM_LIMIT - len(part.encode())) // fingerprint.MARK_UTF8 for part in parts
            ]
            templates = [fingerprint.template(part) for part in parts]
            parts = fingerprint.stamp_parts(templates, mark, rooms)
        try:
            for part in parts:
                await self._pace(reader.external_id)
                answer = await self.http.post(url, json=_markdown(part))
                answer.raise_for_status()
                errcode = int(answer.json().get("errcode", -1))
                if errcode:
                    return _outcome(errcode, str(answer.json().get("errmsg", "")))
        except (httpx.HTTPError, ValueError) as exc:  # the robot's URL carries its key
            return SendResult("transient", detail=error_text(exc))
        return SendResult("ok", content_sha256=sent_hash(parts))  # the audit: what went out

    async def _pace(self, robot: str) -> None:
        async with self.locks[robot]:
            sent = self.sent[robot]
            while len(sent) >= PER_MINUTE:
                wait = sent[0] + self.window - time.monotonic()
                if wait <= 0:
                    sent.popleft()
                else:
                    await asyncio.sleep(wait)
            sent.append(time.monotonic())


def markdown_parts(reply: Reply) -> list[str]:
    """The reply as WeCom markdown parts, each within 4096 bytes, as few as fit (each counts
    against the robot's 20 a minute)."""
    pieces = [reply.text] if reply.text else []
    for shown in reply.views:
        pieces += render.wecom_markdown(
            shown.digest,
            title=shown.title,
            extractive=shown.extractive,
            disclaimer=shown.disclaimer,
        )
    parts: list[str] = []
    for piece in pieces:
        joined = f"{parts[-1]}\n\n{piece}" if parts else piece
        if parts and len(joined.encode()) <= render.WECOM_LIMIT:
            parts[-1] = joined
        else:
            parts.append(piece)
    return parts


def _markdown(content: str) -> dict[str, Any]:
    return {"msgtype": "markdown", "markdown": {"content": content}}


def _outcome(errcode: int, errmsg: str) -> SendResult:
    detail = f"{errcode} {errmsg}"
    if errcode == FREQUENCY:
        return SendResult("retry", retry_after=60.0, detail=detail)
    if errcode in INVALID:
        return SendResult("gone", detail=detail)
    log.warning("WeCom refused a message: %s", detail)
    return SendResult("bad_request", detail=detail)
