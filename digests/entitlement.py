"""Who may receive what, as SQL: the active readers, the holders of a grant covering a moment,
and the entitled among a set of readers (the rule of digests/readers/access.py, set-based).

Plain queries over the store, beside it at the bottom: the outbox, the calendar, the watch
and the readers all ask them, and none may import a layer above itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from digests.models import (
    AccessGrant,
    Post,
    Subscriber,
)


def active_readers() -> Select[str, int | None]:
    """Active subscribers' (channel, id), for an INSERT … SELECT."""
    readers = sa_select(col(Subscriber.channel), col(Subscriber.id))
    return readers.where(col(Subscriber.status) == "active")


def grant_holders(moment: datetime) -> SelectOfScalar[int]:
    """Ids of the subscribers holding a grant whose period covers `moment`: access.covers in
    SQL, the one place every set-based entitlement check starts from."""
    return select(AccessGrant.subscriber_id).where(
        col(AccessGrant.starts_at) <= moment, col(AccessGrant.ends_at) > moment
    )


def holds_grant_at(moment: datetime) -> Any:
    """The subscriber holds a grant covering `moment`. An IN over the covering grants, not a
    correlated EXISTS: PostgreSQL hashes it even before its statistics know the tables
    (EXISTS took 24 s for 100,000 subscribers there, IN < 1 s)."""
    return col(Subscriber.id).in_(grant_holders(moment))


async def entitled_among(session: AsyncSession, ids: set[int], post: Post) -> set[int]:
    """Of these subscribers, those entitled to the post's digest now (access.entitled for a
    whole batch, in one query)."""
    if not post.gated or not ids:
        return set(ids)
    found = await session.exec(
        grant_holders(post.published_at).where(col(AccessGrant.subscriber_id).in_(ids))
    )
    return set(found.all())
