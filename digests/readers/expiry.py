"""Access-expiry notices: 3 days and 1 day before a grant ends, and once when it has ended.
A Stars grant renews by itself, so its reader hears only the end, once, and only when no
renewal came within stars.NOTICE_GRACE.

Notices are queued as Delivery rows (kind `notice`, ref `expiry:GRANT:DAYS`), so the unique
constraint on deliveries makes each one go out at most once, whatever runs the job.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import insert
from sqlmodel import col, select

from digests.models import AccessGrant, Delivery, Status, Subscriber, utcnow
from digests.outbox.types import Batch, ClaimedRow
from digests.readers import stars
from digests.replies import Reply, StoreContext

STEPS = (3, 1)  # days before the end


async def queue_expiry_notices(ctx: StoreContext, *, now: datetime | None = None) -> int:
    """Queue the notices that have fallen due; returns how many (the daily job calls this)."""
    now = now or utcnow()
    rows = []
    async with ctx.sessions() as session, session.begin():
        due = await session.exec(
            select(AccessGrant, Subscriber)
            .join(Subscriber, col(Subscriber.id) == col(AccessGrant.subscriber_id))
            .where(Subscriber.status == "active", col(AccessGrant.reminded_days) > 0)
            .where(col(AccessGrant.ends_at) <= now + timedelta(days=max(STEPS)))
        )
        for grant, subscriber in due.all():
            later = await session.exec(  # renewed: a later grant starts by this one's end
                select(AccessGrant.id).where(
                    AccessGrant.subscriber_id == subscriber.id,
                    col(AccessGrant.starts_at) <= grant.ends_at,
                    col(AccessGrant.ends_at) > grant.ends_at,
                )
            )
            if stars.is_stars(grant) and now < grant.ends_at + stars.NOTICE_GRACE:
                continue
            days = 0 if stars.is_stars(grant) else _step(grant.ends_at - now)
            if days >= grant.reminded_days:
                continue
            grant.reminded_days = days
            session.add(grant)
            if later.first() is None:
                rows.append(
                    {
                        "kind": "notice",
                        "ref": f"expiry:{grant.id}:{days}",
                        "channel": subscriber.channel,
                        "subscriber_id": subscriber.id,
                        "status": Status.QUEUED,
                        "created_at": now,
                    }
                )
        if rows:
            await session.exec(insert(Delivery), params=rows)
    return len(rows)


def _step(left: timedelta) -> int:
    """0 when ended, else the smallest step the time left is within."""
    if left <= timedelta(0):
        return 0
    return min(step for step in STEPS if left <= timedelta(days=step))


def notice_text(ctx: StoreContext, grant: AccessGrant, days: int) -> str:
    """The notice a subscriber reads."""
    if stars.is_stars(grant):
        return stars.ended_text(ctx, grant)
    period = ctx.period(grant.starts_at, grant.ends_at)
    if days == 0:
        return (
            f"会员期 {grant.label}（{period}）已结束。拿到新一期密码后直接发送给我即可续期；"
            "公开文章的摘要照常推送。"
        )
    return f"提醒：会员期 {grant.label}（{period}）将在 {days} 天内结束，请留意新一期密码。"


async def resolve(batch: Batch, rows: list[ClaimedRow]) -> dict[int, Reply | None]:
    """The outbox kind `notice`: the notice's text, from its grant as it is now."""
    refs = {row.id: row.ref.split(":") for row in rows}  # expiry:GRANT:DAYS
    grants = await batch.session.exec(
        select(AccessGrant).where(col(AccessGrant.id).in_({int(g) for _, g, _ in refs.values()}))
    )
    by_id = {grant.id: grant for grant in grants.all()}
    found: dict[int, Reply | None] = {}
    for row in rows:
        _, grant_id, days = refs[row.id]
        grant = by_id.get(int(grant_id))
        found[row.id] = Reply(notice_text(batch.ctx, grant, int(days))) if grant else None
    return found
