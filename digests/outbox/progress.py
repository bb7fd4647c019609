"""The outbox read back: counts by status, and each publication's progress (sent, queued,
rate, ETA) for /stats, `digestbot deliveries` and the publish reply.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import col, select

from digests.models import (
    Delivery,
    Post,
    Publication,
    Status,
)
from digests.replies import StoreContext


async def delivery_counts(ctx: StoreContext) -> dict[str, int]:
    """Deliveries by status, for /stats."""
    async with ctx.sessions() as session:
        rows = await session.exec(select(Delivery.status, func.count()).group_by(Delivery.status))
        return {status: count for status, count in rows.all()}


async def progress_of(ctx: StoreContext, publication_id: int) -> dict[str, int]:
    """One publication's rows by status (every status present, 0 when none)."""
    async with ctx.sessions() as session:
        rows = await session.exec(
            select(Delivery.status, func.count())
            .where(col(Delivery.kind) == "digest", col(Delivery.ref) == str(publication_id))
            .group_by(col(Delivery.status))
        )
        return {**dict.fromkeys(Status, 0), **dict(rows.all())}


async def publication_progress(ctx: StoreContext) -> list[dict[str, Any]]:
    """Per publication: counts by status, messages/s while sending, and time to finish."""
    async with ctx.sessions() as session:
        conn = await session.connection()  # Core: SQLModel's exec() types stop at 4 columns
        rows = await conn.execute(
            sa_select(
                col(Delivery.ref),
                col(Delivery.status),
                func.count(),
                func.min(col(Delivery.sent_at)),
                func.max(col(Delivery.sent_at)),
            )
            .where(col(Delivery.kind) == "digest")
            .group_by(col(Delivery.ref), col(Delivery.status))
        )
        found: dict[str, dict[str, Any]] = {}
        for ref, status, count, first, last in rows.all():
            entry = found.setdefault(ref, {"publication": int(ref), **dict.fromkeys(Status, 0)})
            entry[status] = count
            if status == Status.SENT and first is not None and last is not None:
                entry["span"] = (last - first).total_seconds()
        for entry in found.values():
            publication = await session.get(Publication, entry["publication"])
            post = await session.get(Post, publication.post_id) if publication else None
            entry["title"] = post.title if post else ""
            entry["published_at"] = (
                publication.published_at.astimezone(ctx.tz).isoformat() if publication else None
            )
            span = entry.pop("span", 0.0)
            rate = entry[Status.SENT] / span if span > 0 else None
            left = entry[Status.QUEUED] + entry[Status.SENDING]
            entry["messages_per_second"] = round(rate, 2) if rate else None
            entry["eta_seconds"] = (
                round(left / rate) if rate and left else (0 if not left else None)
            )
    return sorted(found.values(), key=lambda e: e["publication"], reverse=True)
