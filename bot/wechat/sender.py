"""The WeChat side of the Channel protocol: customer-service text messages through wechatpy.

WeChat's rules (docs/design.md): only to readers who wrote within 48 hours, at most 5 messages per
message of theirs, ≲ 2048 bytes each. We keep both in step per subscriber (last_contact_at,
replies_left: the callback refreshes them) and answer `wait` when a message must wait for the
reader's next contact; WeChat's own answers decide in the end:

    45015 (window closed) / 45047 (budget spent)  → wait (sent when the reader writes again)
    45009 / 45011 (API quota)                      → retry after a minute
    40001 / 42001 (token)                          → wechatpy refreshes once; then transient
    43004 (unfollowed) / 40003 (unknown OpenID)   → gone
    other errors                                   → bad_request; network errors → transient

A digest goes as one message: its title, headline and section names, and the link to its
page (/d/{token}) with the whole digest, so a reader spends one of their 5 replies on it.
A picture (the admin's readership chart) is uploaded as temporary media (media/upload, type
image) and sent as a customer-service image message, under the same two rules.
wechatpy is synchronous (requests): every call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import requests
from sqlalchemy import update
from sqlmodel import col
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session.memorystorage import MemoryStorage
from wechatpy.session.redisstorage import RedisStorage

from digests import commands, fingerprint, render
from digests.commands import ChatChannel
from digests.models import Subscriber, utcnow
from digests.outbox.types import Reader, SendResult, sent_hash
from digests.readers import pagelinks
from digests.redact import error_text, redact
from digests.replies import Reply, StoreContext
from digests.settings import Settings

log = logging.getLogger(__name__)
WINDOW = timedelta(hours=48)
GONE = {43004, 40003}
WAIT = {45015, 45047}
QUOTA = {45009, 45011}


class Client(WeChatClient):  # type: ignore[misc]
    """wechatpy's client with every URL, the token's too, under WECHAT_API_BASE_URL (wechatpy
    hard-codes the token URL)."""

    def __init__(self, settings: Settings, session: Any) -> None:
        assert settings.wechat_app_secret is not None
        secret = settings.wechat_app_secret.get_secret_value()
        super().__init__(settings.wechat_app_id, secret, session=session)
        self.API_BASE_URL = settings.wechat_api_base_url

    def fetch_access_token(self) -> Any:
        return self._fetch_access_token(
            url=self.API_BASE_URL + "token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )


def session_storage(settings: Settings) -> Any:
    """One access token for every process (a fresh fetch invalidates the others' token):
    Redis when REDIS_URL is set; in memory otherwise (only the leader sends)."""
    if settings.redis_url:
        import redis

        return RedisStorage(redis.Redis.from_url(settings.redis_url), prefix="digestbot-wechat")
    return MemoryStorage()


class WeChatChannel:
    """Customer-service messages to WeChat readers."""

    name = "wechat"

    def __init__(self, settings: Settings, ctx: StoreContext) -> None:
        # one client, so one access token, for the outbox, the mass-send and the callback's
        # pictures: a second token fetched would invalidate the first
        self.settings, self.ctx = settings, ctx
        self.client = Client(settings, session_storage(settings))
        self.page_secret = pagelinks.page_secret(settings)  # derived once, not per message
        self.key = fingerprint.key(settings.fingerprint_material())

    async def send(self, reader: Reader, reply: Reply) -> SendResult:
        if (closed := _closed(reader)) is not None:
            return closed
        text = self.message(reader, reply)
        failed = await self._call(reader, self.client.message.send_text, reader.external_id, text)
        return failed or SendResult("ok", content_sha256=sent_hash([text]))  # the audit record

    async def send_image(self, reader: Reader, png: bytes) -> SendResult:
        """A PNG as a customer-service image message: uploaded as temporary media first
        (WeChat keeps it 3 days; it is sent once, so nothing is kept)."""
        if (closed := _closed(reader)) is not None:
            return closed
        upload = self.client.media.upload
        try:
            uploaded = await asyncio.to_thread(upload, "image", ("chart.png", io.BytesIO(png)))
        except WeChatClientException as exc:
            return _outcome(int(exc.errcode or 0), redact(str(exc)))
        except requests.RequestException as exc:
            return SendResult("transient", detail=error_text(exc))
        media_id = str(uploaded.get("media_id", ""))
        failed = await self._call(
            reader, self.client.message.send_image, reader.external_id, media_id
        )
        return failed or SendResult("ok")

    async def _call(self, reader: Reader, send: Any, *args: Any) -> SendResult | None:
        """One customer-service message: the outcome when it failed, None when it went (and
        one of the reader's 5 replies is spent)."""
        try:
            await asyncio.to_thread(send, *args)
        except WeChatClientException as exc:
            return _outcome(int(exc.errcode or 0), redact(str(exc)))
        except requests.RequestException as exc:  # its text holds the URL: secret, access_token
            return SendResult("transient", detail=error_text(exc))
        async with self.ctx.sessions() as session, session.begin():
            await session.exec(
                update(Subscriber)
                .where(col(Subscriber.id) == reader.id)
                .values(replies_left=Subscriber.replies_left - 1)
            )
        return None

    def message(self, reader: Reader, reply: Reply) -> str:
        """The one text a reply becomes: its text, then for a digest a short view and the link
        to its page (signed for this reader), with the reader's fingerprint in its lines."""
        links = (f"全文：{self.link(reader, shown.publication_id)}" for shown in reply.views)
        text = teaser(reply, links)
        if not reply.views:
            return render.clip_utf8(text, render.WECHAT_LIMIT, "……")
        mark = fingerprint.mark_for(
            self.key,
            "wechat",
            reader.external_id,
            reply.views[0].publication_id,
            fingerprint.Medium.MESSAGE,
        )
        return fingerprint.within_utf8(text, mark, render.WECHAT_LIMIT, "……")

    def link(self, reader: Reader, publication_id: int) -> str:
        base = self.settings.public_base_url
        return pagelinks.link(self.page_secret, base, reader.id, publication_id)


def teaser(reply: Reply, links: Iterable[str] = ()) -> str:
    """A reply as WeChat text: its text, then per digest its title, headline and sections with
    their stocks, each followed by the next of `links` if any (a mass-send has none: a link is
    signed for one reader)."""
    reply = commands.spelled(reply, ChatChannel.WECHAT)  # WeChat's words, never a /command
    lines, links = [t for t in (reply.lead, reply.text) if t], iter(links)
    for shown in reply.views:
        d = shown.digest
        lines += [f"【{shown.title}】", d.headline]
        lines += [_section(n, s.name, s.stocks) for n, s in enumerate(d.sections, 1)]
        lines += list(itertools.islice(links, 1))
    return "\n".join(lines)


def _closed(reader: Reader) -> SendResult | None:
    """`wait` when WeChat would refuse a customer-service message to the reader now."""
    if reader.last_contact_at is None or utcnow() - reader.last_contact_at > WINDOW:
        return SendResult("wait", detail="outside the 48-hour window: waits for the reader")
    if reader.replies_left <= 0:
        return SendResult("wait", detail="5 replies used: waits for the reader's next message")
    return None


def _section(n: int, name: str, stocks: list[str]) -> str:
    return f"{n}. {name}：{'、'.join(stocks)}" if stocks else f"{n}. {name}"


def _outcome(errcode: int, detail: str) -> SendResult:
    if errcode in WAIT:
        return SendResult("wait", detail=detail)
    if errcode in QUOTA:
        return SendResult("retry", retry_after=60.0, detail=detail)
    if errcode in GONE:
        return SendResult("gone", detail=detail)
    if errcode in (40001, 42001, -1):  # token trouble wechatpy could not fix, system busy
        return SendResult("transient", detail=detail)
    log.warning("WeChat refused a message: %s", detail)
    return SendResult("bad_request", detail=detail)


async def touch(ctx: StoreContext, subscriber_id: int) -> None:
    """The reader wrote to us: a new 48-hour window and 5 replies."""
    async with ctx.sessions() as session, session.begin():
        await session.exec(
            update(Subscriber)
            .where(col(Subscriber.id) == subscriber_id)
            .values(last_contact_at=utcnow(), replies_left=5)
        )
