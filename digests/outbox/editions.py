"""Editions: at DIGEST_SCHEDULE, the digests published since the previous edition, bundled in
one message for subscribers who chose editions (`/settings edition`). The Edition row is keyed
by its scheduled time, so a cron tick and a catch-up after downtime make it once."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from digests.entitlement import active_readers, entitled_among
from digests.models import Edition, Publication, Subscriber, utcnow
from digests.outbox.enqueue import queue_rows
from digests.outbox.types import Batch, ClaimedRow
from digests.replies import Reply, StoreContext, view


async def make_edition(ctx: StoreContext, due_at: datetime) -> tuple[Edition | None, int]:
    """The edition for the scheduled time `due_at`, queued for every edition reader; None if
    it exists already or nothing was published since the previous one."""
    async with ctx.sessions() as session, session.begin():
        if (await session.exec(select(Edition).where(Edition.due_at == due_at))).first():
            return None, 0
        previous = await session.exec(
            select(Edition.due_at)
            .where(col(Edition.due_at) < due_at)
            .order_by(col(Edition.due_at).desc())
        )
        since = previous.first()
        query = select(Publication).where(col(Publication.published_at) <= due_at)
        if since is not None:
            query = query.where(col(Publication.published_at) > since)
        window = list((await session.exec(query.order_by(col(Publication.id)))).all())
        ids = await _unseen(session, window, since)
        if not ids:
            return None, 0
        edition = Edition(due_at=due_at, publication_ids=ids, created_at=utcnow())
        session.add(edition)
        await session.flush()
        readers = active_readers().where(col(Subscriber.delivery) == "edition")
        queued = await queue_rows(session, "edition", str(edition.id), readers)
    return edition, queued


async def _unseen(
    session: AsyncSession, window: list[Publication], since: datetime | None
) -> list[int]:
    """The publications of the window whose text (post and digest revision) no earlier
    edition carried (an --again round of a text already bundled would give edition readers it
    twice), and of a post published twice in the window only the later: its corrected text."""
    seen: set[tuple[int, int, int]] = set()
    if since is not None and window:
        earlier = await session.exec(
            select(Publication.post_id, Publication.revision, Publication.digest_revision).where(
                col(Publication.published_at) <= since,
                col(Publication.post_id).in_({p.post_id for p in window}),
            )
        )
        seen = set(earlier.all())
    latest: dict[int, int] = {}  # post → its newest unseen publication, in first-seen order
    for publication in window:
        text = (publication.post_id, publication.revision, publication.digest_revision)
        if text not in seen and publication.id:
            seen.add(text)
            latest[publication.post_id] = publication.id
    return list(latest.values())


async def resolve(batch: Batch, rows: list[ClaimedRow]) -> dict[int, Reply | None]:
    """The outbox kind `edition`: each reader gets the edition's digests they are entitled to
    (a reader entitled to none gets nothing): one entitlement query per digest of the batch,
    and one Reply per distinct selection, so the channel renders each selection once."""
    found: dict[int, Reply | None] = {}
    for ref in {row.ref for row in rows}:
        key = f"edition:{ref}"
        if key not in batch.cache:
            edition = await batch.session.get(Edition, int(ref))
            shown = []
            for publication_id in edition.publication_ids if edition else []:
                publication = await batch.session.get(Publication, publication_id)
                if publication is not None:
                    post, digest = await view(batch.session, publication, batch.ctx)
                    shown.append((post, digest, publication.published_at))
            batch.cache[key] = shown
        mine = [row for row in rows if row.ref == ref]
        readers = {row.subscriber_id for row in mine}
        allowed = [
            await entitled_among(batch.session, readers, post, released_at=released)
            for post, _, released in batch.cache[key]
        ]
        for row in mine:
            views = [
                d
                for (_, d, _), ok in zip(batch.cache[key], allowed, strict=True)
                if row.subscriber_id in ok
            ]
            picked = tuple(view.publication_id for view in views)
            reply = batch.cache.setdefault(
                f"{key}:{picked}", Reply(f"📰 合集：{len(views)} 篇摘要", digests=views)
            )
            found[row.id] = reply if views else None
    return found
