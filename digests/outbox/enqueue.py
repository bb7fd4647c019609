"""The outbox's front: publishing and broadcasting queue one Delivery row per recipient in
set-based statements (the dispatcher sends them); a one-off message is queued the same way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeAlias

from sqlalchemy import Select, String, cast, insert, literal, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from digests.entitlement import active_readers, holds_grant_at
from digests.models import (
    Broadcast,
    Delivery,
    Post,
    Publication,
    Status,
    StoredDigest,
    Subscriber,
    UTCDateTime,
    utcnow,
)
from digests.replies import StoreContext

# A reader has got a revision when a row of it is sent or still on its way; a failed or
# skipped row (blocked then, not entitled then) did not reach them.
_REACHED = (Status.QUEUED, Status.SENDING, Status.SENT, Status.WAITING)


@dataclass
class Published:
    """What a publish did: a new publication and its rows, or the one that exists already."""

    publication: Publication
    queued: int
    new: bool  # False: the post was published before, and nothing was queued now
    first: Publication  # the post's first publication of this revision, else its first


# more work for a new publication's transaction (session, publication)
Within: TypeAlias = Callable[[AsyncSession, Publication], Awaitable[object]]


async def publish(
    ctx: StoreContext,
    stored: StoredDigest,
    *,
    by: str,
    again: bool = False,
    within: Within | None = None,
) -> Published:
    """Publish a digest once: the post's first publication queues it for every active,
    instant, entitled subscriber in one INSERT … SELECT (entitlement evaluated by the
    database); later calls answer with what exists. `again` (the admin's explicit --again,
    e.g. for a corrected revision) adds a round that goes only to readers who did not get
    this revision. The unique key on (post, round) decides between simultaneous calls, in
    one process or several: the loser reports the winner's publication. `within` does more
    in the new publication's transaction (the watchlists' index and alerts): all or none."""
    async with ctx.sessions() as session:
        earlier = await _publications_of(session, stored.post_id)
    if earlier and not again:
        return Published(earlier[-1], 0, False, _first(earlier, stored.revision))
    round_ = earlier[-1].round + 1 if earlier else 1
    try:
        async with ctx.sessions() as session, session.begin():
            post = await session.get(Post, stored.post_id)
            assert post is not None and stored.id is not None
            publication = Publication(
                post_id=post.id or 0,
                digest_id=stored.id,
                revision=stored.revision,
                digest_revision=stored.current_revision,
                round=round_,
                published_by=by,
            )
            session.add(publication)
            await session.flush()  # the unique key answers here
            readers = active_readers().where(col(Subscriber.delivery) == "instant")
            if post.gated:
                # the post's date, or (Stars, codes) the moment it goes out: now
                released = publication.published_at
                readers = readers.where(holds_grant_at(post.published_at, released_at=released))
            if earlier:
                got = _got(post.id, stored.revision, stored.current_revision)
                readers = readers.where(col(Subscriber.id).not_in(got))
            queued = await queue_rows(session, "digest", str(publication.id), readers)
            if within is not None:
                await within(session, publication)
    except IntegrityError:  # another call took this round a moment ago
        async with ctx.sessions() as session:
            earlier = await _publications_of(session, stored.post_id)
        winner = next((p for p in earlier if p.round == round_), None)
        if winner is None:  # not the round's key (the post vanished meanwhile, say)
            raise
        return Published(winner, 0, False, _first(earlier, stored.revision))
    return Published(publication, queued, True, _first([*earlier, publication], stored.revision))


async def _publications_of(session: AsyncSession, post_id: int) -> list[Publication]:
    query = select(Publication).where(col(Publication.post_id) == post_id)
    return list((await session.exec(query.order_by(col(Publication.round)))).all())


def _first(publications: list[Publication], revision: int) -> Publication:
    same = [p for p in publications if p.revision == revision]
    return (same or publications)[0]


def _got(post_id: int | None, revision: int, digest_revision: int) -> SelectOfScalar[int]:
    """Subscribers a publication of this post revision and digest text has reached or is
    reaching (an edited digest is news to those who got the text before the fix)."""
    refs = select(cast(col(Publication.id), String)).where(
        col(Publication.post_id) == post_id,
        col(Publication.revision) == revision,
        col(Publication.digest_revision) == digest_revision,
    )
    return select(Delivery.subscriber_id).where(
        col(Delivery.kind) == "digest",
        col(Delivery.ref).in_(refs),
        col(Delivery.status).in_(_REACHED),
    )


async def queue_rows(
    session: AsyncSession, kind: str, ref: str, readers: Select[str, int | None]
) -> int:
    """INSERT one queued Delivery per (channel, subscriber id) row of `readers`."""
    rows = readers.with_only_columns(
        literal(kind),
        literal(ref),
        col(Subscriber.channel),
        col(Subscriber.id),
        literal(Status.QUEUED, String),
        literal(0),
        literal(""),
        literal(utcnow(), UTCDateTime),
    )
    columns = [
        "kind",
        "ref",
        "channel",
        "subscriber_id",
        "status",
        "attempts",
        "last_error",
        "created_at",
    ]
    result = await session.exec(insert(Delivery).from_select(columns, rows))
    return int(result.rowcount or 0)


async def queue_broadcast(ctx: StoreContext, broadcast_id: int) -> int | None:
    """Confirm a broadcast and queue it for every active subscriber; None if it was already
    confirmed (a second press of the button sends nothing)."""
    async with ctx.sessions() as session, session.begin():
        confirmed = await session.exec(
            update(Broadcast)
            .where(col(Broadcast.id) == broadcast_id, col(Broadcast.confirmed_at).is_(None))
            .values(confirmed_at=utcnow())
        )
        if confirmed.rowcount != 1:
            return None
        return await queue_rows(session, "broadcast", str(broadcast_id), active_readers())


async def queue_message(ctx: StoreContext, subscriber_id: int, text: str, *, by: str) -> int:
    """One text for one subscriber through the outbox (a reply that came too late to be an
    answer, say); stored like a broadcast to one, so a restart loses nothing."""
    async with ctx.sessions() as session, session.begin():
        note = Broadcast(text=text, created_by=by, confirmed_at=utcnow())
        session.add(note)
        await session.flush()
        readers = active_readers().where(col(Subscriber.id) == subscriber_id)
        return await queue_rows(session, "broadcast", str(note.id), readers)
