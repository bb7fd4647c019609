"""The jobs' notices to admins (a polled post's preview, messages failed for good, a calendar
gap) for the admins on WeChat, beside those on Telegram: as customer-service messages, a
preview with the admin's review link. WeChat refuses them outside the admin's 48-hour window:
then the notice is only logged (it is not a reader's message the outbox could keep)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from sqlmodel import col, select

from bot.wechat.commands import with_review_link
from bot.wechat.sender import WeChatChannel
from digests.models import Subscriber
from digests.outbox.types import Reader
from digests.publishing.context import AdminContext
from digests.replies import Reply

log = logging.getLogger(__name__)
Notify = Callable[[Reply], Awaitable[None]]


def also_to_wechat_admins(
    first: Notify, channel: WeChatChannel, actx: AdminContext, openids: list[str]
) -> Notify:
    """`first` (Telegram's admins, or the log), then each WeChat admin who has written to us."""

    async def notify(reply: Reply) -> None:
        await first(reply)
        for openid in openids:
            reader = await _reader(actx, openid)
            if reader is None:
                log.info("admin notice: WeChat admin %s has not written to us yet", openid)
                continue
            base = channel.settings.public_base_url
            mine = await with_review_link(actx, reply, "", openid, channel.page_secret, base)
            result = await channel.send(reader, mine)
            if result.outcome != "ok":
                log.warning("admin notice to WeChat admin %s: %s", openid, result.detail)

    return notify


async def _reader(actx: AdminContext, openid: str) -> Reader | None:
    async with actx.store.sessions() as session:
        found = await session.exec(
            select(Subscriber).where(
                col(Subscriber.channel) == "wechat", col(Subscriber.external_id) == openid
            )
        )
        row = found.first()
    if row is None or row.id is None:
        return None
    return Reader(
        row.id,
        row.channel,
        row.external_id,
        row.reminders,
        row.delivery,
        row.last_contact_at,
        row.replies_left,
    )
