"""What publishing does for watchlists: index the names the digest holds (digests/watch/
archive.py) and queue the alerts of readers who watch them (digests/watch/alerts.py)."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from digests.models import Post, Publication, StoredDigest
from digests.replies import StoreContext
from digests.summarize.schema import Digest
from digests.watch import alerts, archive


async def published(
    session: AsyncSession, ctx: StoreContext, publication: Publication, stored: StoredDigest
) -> int:
    """In a new publication's own transaction (enqueue.publish's `within`): its names
    indexed, its alerts queued (how many); a crash leaves all of it or none of it."""
    digest = Digest.model_validate(stored.data)
    post = await session.get(Post, publication.post_id)
    assert post is not None
    await archive.record(session, publication.id or 0, digest)
    return await alerts.queue_alerts(
        session, post, digest, released_at=publication.published_at, teasers=ctx.watch_teasers
    )
