"""Finding a reader (/readers) and ending their access now (/revoke, `readers revoke`).

A revoked grant keeps its row (its unique label still says a code or a period was used, so
the same password or code does not open it again) but its period becomes empty: starts_at =
ends_at = the moment of revocation. An empty period covers no post, old or new, so every
entitlement check (the outbox's at send time, the digest page's, /latest's) refuses from then
on, and queued deliveries to the reader are skipped when their turn comes. reminded_days = 0
keeps the expiry job from telling the reader "your period ended".
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from digests.models import AccessGrant, Subscriber, utcnow
from digests.replies import Reply, StoreContext, command

MAX_FOUND = 20
STATUS = {"active": "活跃", "stopped": "已退订", "gone": "失联"}


def ended_values(now: datetime) -> dict[str, Any]:
    """The column values that end a grant at `now` (an UPDATE's .values(**ended_values(now)))."""
    return {"starts_at": now, "ends_at": now, "reminded_days": 0}


def is_revoked(grant: AccessGrant) -> bool:
    """A grant ended by revocation: its period is empty."""
    return grant.ends_at <= grant.starts_at


async def resolve(session: AsyncSession, who: str) -> list[Subscriber]:
    """The readers `who` names: `@username` (Telegram), `#id` (ours, as /readers shows it),
    else a channel's id (a Telegram chat id, a WeChat openid, a console name)."""
    who = who.strip()
    if who.startswith("@") and len(who) > 1:
        query = select(Subscriber).where(
            func.lower(Subscriber.username) == who[1:].lower(), Subscriber.channel == "telegram"
        )
    elif who.startswith("#") and who[1:].isascii() and who[1:].isdigit():
        query = select(Subscriber).where(Subscriber.id == int(who[1:]))
    else:
        query = select(Subscriber).where(Subscriber.external_id == who)
    return list((await session.exec(query.order_by(col(Subscriber.id)))).all())


async def note_username(ctx: StoreContext, reader: Subscriber, username: str) -> None:
    """Keep a Telegram reader's current @username (they may change it), for /revoke @name."""
    async with ctx.sessions() as session, session.begin():
        await session.exec(
            update(Subscriber).where(col(Subscriber.id) == reader.id).values(username=username[:64])
        )
    reader.username = username[:64]


async def find_readers(ctx: StoreContext, text: str, *, now: datetime | None = None) -> Reply:
    """/readers QUERY: readers whose name, @username or channel id contains QUERY (or whose
    #id it is), each with their status and how long their access runs."""
    now = now or utcnow()
    text = text.strip()
    if not text:
        return Reply(f"用法：{command('readers', '名字、@用户名、Telegram id 或微信 openid')}")
    pattern = f"%{text.lstrip('@').lower()}%"
    async with ctx.sessions() as session:
        named = await resolve(session, text)
        query = (
            select(Subscriber)
            .where(
                or_(
                    func.lower(Subscriber.name).like(pattern),
                    func.lower(Subscriber.username).like(pattern),
                    func.lower(Subscriber.external_id).like(pattern),
                )
            )
            .order_by(col(Subscriber.id))
            .limit(MAX_FOUND)
        )
        found = {s.id: s for s in [*named, *(await session.exec(query)).all()]}
        lines = [await _line(session, s, now, ctx.tz) for s in list(found.values())[:MAX_FOUND]]
    if not lines:
        return Reply(f"没有找到读者「{text}」。")
    more = f"\n（只显示前 {MAX_FOUND} 位）" if len(found) > MAX_FOUND else ""
    return Reply("\n".join(lines) + more)


async def revoke_reader(ctx: StoreContext, who: str, *, now: datetime | None = None) -> Reply:
    """/revoke READER: end every grant the reader holds, now; a name matching several
    readers is refused with their list (revoke by #id then)."""
    now = now or utcnow()
    if not who.strip():
        return Reply(
            f"用法：{command('revoke', '读者（Telegram id、@用户名、微信 openid 或 #编号）')}"
        )
    async with ctx.sessions() as session, session.begin():
        readers = await resolve(session, who)
        if len(readers) > 1:
            lines = [await _line(session, s, now, ctx.tz) for s in readers]
            return Reply("有多位读者符合，请用 #编号：\n" + "\n".join(lines))
        if not readers:
            return Reply(f"没有找到读者「{who.strip()}」；可先用 {command('readers')} 查找。")
        reader = readers[0]
        ended = await session.exec(
            update(AccessGrant)
            .where(
                col(AccessGrant.subscriber_id) == reader.id,
                col(AccessGrant.ends_at) > col(AccessGrant.starts_at),
            )
            .values(**ended_values(now))
        )
        count = ended.rowcount
    who_text = _who(reader)
    if not count:
        return Reply(f"{who_text} 没有会员期可收回。")
    return Reply(f"已收回 {who_text} 的 {count} 个会员期；排队中的会员摘要不再发给 ta。")


async def _line(session: AsyncSession, reader: Subscriber, now: datetime, tz: ZoneInfo) -> str:
    """One reader as the admin sees them."""
    ends = (
        await session.exec(
            select(func.max(AccessGrant.ends_at)).where(
                AccessGrant.subscriber_id == reader.id,
                col(AccessGrant.ends_at) > now,
                col(AccessGrant.ends_at) > col(AccessGrant.starts_at),
            )
        )
    ).one()
    last = (ends.astimezone(tz) - timedelta(seconds=1)).date() if ends else None
    access = f"会员至 {last}" if last else "无会员期"
    return f"{_who(reader)}  {STATUS.get(reader.status, reader.status)}  {access}"


def _who(reader: Subscriber) -> str:
    """#id channel id name @username."""
    parts = [f"#{reader.id}", reader.channel, reader.external_id, reader.name]
    if reader.username:
        parts.append(f"@{reader.username}")
    return " ".join(part for part in parts if part)
