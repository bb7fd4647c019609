"""For the author: the most-watched names and how many active readers watch each."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import col, select

from digests.models import Subscriber, Watch
from digests.replies import StoreContext

TOP = 10


async def most_watched(ctx: StoreContext, *, limit: int = TOP) -> list[tuple[str, int]]:
    """(name, readers) for the `limit` names most active readers watch, most first; a name
    typed in several spellings (HBM, hbm) counts once, shown in its first spelling."""
    readers = func.count(col(Watch.subscriber_id).distinct())
    query = (
        select(Watch.key, func.min(Watch.name), readers)
        .join(Subscriber, col(Subscriber.id) == col(Watch.subscriber_id))
        .where(col(Subscriber.status) == "active")
        .group_by(col(Watch.key))
        .order_by(readers.desc(), col(Watch.key))
        .limit(limit)
    )
    async with ctx.sessions() as session:
        rows = (await session.exec(query)).all()
    return [(name, int(count)) for _, name, count in rows]


def stats_line(top: list[tuple[str, int]]) -> str:
    """关注最多：天孚通信 12 人、液冷 9 人 (empty when nobody watches anything)."""
    if not top:
        return ""
    return "关注最多：" + "、".join(f"{name} {count} 人" for name, count in top)
