"""A reader's account, the same on every channel: register (/start), the settings (/settings,
/remind) and /status.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from digests.models import (
    AccessGrant,
    Subscriber,
    utcnow,
)
from digests.readers import stars
from digests.readers.passwords import grants_of
from digests.replies import Reply, StoreContext, command

WELCOME = (
    "欢迎订阅投研摘要！\n会员文章的摘要需要本月密码：直接发送密码，"
    f"或发送 {command('unlock', '密码')}。\n"
    f"公开文章的摘要所有订阅者都会收到。发送 {command('help')} 查看全部命令。"
)


async def register(
    ctx: StoreContext, *, channel: str, external_id: str, name: str = "", username: str = ""
) -> tuple[Subscriber, Reply]:
    """/start: create or reactivate the subscriber and ask for the password."""
    async with ctx.sessions() as session, session.begin():
        subscriber = await get_subscriber(session, channel=channel, external_id=external_id)
        if subscriber is None:
            subscriber = Subscriber(channel=channel, external_id=external_id, name=name)
        subscriber.status, subscriber.awaiting_password = "active", True
        subscriber.username = username[:64] or subscriber.username
        subscriber.gone_reason, subscriber.updated_at = "", utcnow()
        subscriber.stopped_at = None
        session.add(subscriber)
    return subscriber, Reply(WELCOME)


async def get_subscriber(
    session: AsyncSession, *, channel: str, external_id: str
) -> Subscriber | None:
    """The subscriber for a channel's user id."""
    query = select(Subscriber).where(
        Subscriber.channel == channel, Subscriber.external_id == external_id
    )
    return (await session.exec(query)).first()


async def status(
    ctx: StoreContext, subscriber: Subscriber, *, now: datetime | None = None
) -> Reply:
    """/status: access periods (current and coming) and settings."""
    now = now or utcnow()
    assert subscriber.id is not None
    async with ctx.sessions() as session:
        grants = [g for g in await grants_of(session, subscriber.id) if g.ends_at > now]
        paid = await stars.describe(session, ctx, grants)  # how each Stars grant was obtained
    grants.sort(key=lambda g: g.starts_at)
    lines = [paid.get(g.id or 0) or _obtained(ctx, g) for g in grants]
    lines = lines or ["当前没有会员期：公开文章照常推送。"]
    mode = "即时推送" if subscriber.delivery == "instant" else "只收定时合集"
    lines += [f"推送方式：{mode}", f"事件提醒：{'开' if subscriber.reminders else '关'}"]
    return Reply("\n".join(lines))


def _obtained(ctx: StoreContext, grant: AccessGrant) -> str:
    """A password period or a redeemed code (Stars grants are described by stars.describe)."""
    period = ctx.period(grant.starts_at, grant.ends_at)
    if grant.label.startswith("code:"):
        return f"兑换码会员期：{period}"
    return f"会员期 {grant.label}（密码解锁）：{period}"


async def update_settings(
    ctx: StoreContext,
    subscriber: Subscriber,
    *,
    delivery: str | None = None,
    reminders: bool | None = None,
    status: str | None = None,
) -> Subscriber:
    """Change delivery (instant | edition), reminders or status (stopped | gone)."""
    async with ctx.sessions() as session, session.begin():
        stored = await session.get(Subscriber, subscriber.id)
        assert stored is not None
        if delivery is not None:
            stored.delivery = delivery
        if reminders is not None:
            stored.reminders = reminders
        if status is not None:
            stored.status = status
            stored.stopped_at = None if status == "active" else utcnow()
        stored.updated_at = utcnow()
        session.add(stored)
    return stored
