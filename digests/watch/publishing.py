"""What publishing does for watchlists: index the names the digest holds (digests/watch/
archive.py) and queue the alerts of readers who watch them (digests/watch/alerts.py)."""

from __future__ import annotations

from digests.models import Post, Publication, StoredDigest
from digests.replies import StoreContext
from digests.summarize.schema import Digest
from digests.watch import alerts, archive


async def published(
    ctx: StoreContext, post: Post, publication: Publication, stored: StoredDigest
) -> int:
    """After a new publication: its names indexed, its alerts queued (how many)."""
    digest = Digest.model_validate(stored.data)
    async with ctx.sessions() as session, session.begin():
        await archive.record(session, publication.id or 0, digest)
    return await alerts.queue_alerts(ctx, post, digest)
