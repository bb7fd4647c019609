"""The published archive as watchlists read it: each published post once (its newest
publication), newest first by the post's date, with its digest.

Read whole and matched in Python: names live inside each digest's JSON, which neither SQLite
nor PostgreSQL indexes here. Only the columns needed are read (no post bodies), and only the
names' keys are taken from each digest (bench/watch.py has the figures); an index table of
names filled at publish is the next step if the archive grows past a few thousand digests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select as sa_select
from sqlmodel.ext.asyncio.session import AsyncSession

from digests.models import Post, Publication, StoredDigest, table_of
from digests.summarize.schema import Digest
from digests.watch import names


@dataclass
class Published:
    """A published post, as a timeline entry needs it."""

    publication_id: int
    post_id: int
    title: str
    gated: bool
    published_at: datetime  # the post's date
    data: dict[str, Any]  # the stored digest's JSON (validate only the ones that match)
    keys: set[str]  # the keys of the names it holds (digests/watch/names.py)

    @property
    def digest(self) -> Digest:
        """The digest itself."""
        return Digest.model_validate(self.data)


async def published(session: AsyncSession) -> list[Published]:
    """Every published post once, with the digest of its newest publication, newest first."""
    publication, post, stored = table_of(Publication), table_of(Post), table_of(StoredDigest)
    query = (
        sa_select(
            publication.c.id,
            publication.c.post_id,
            post.c.title,
            post.c.gated,
            post.c.published_at,
            stored.c.data,
        )
        .join(post, post.c.id == publication.c.post_id)
        .join(stored, stored.c.id == publication.c.digest_id)
        .order_by(publication.c.published_at.desc(), publication.c.id.desc())
    )
    conn = await session.connection()
    found: dict[int, Published] = {}
    for pid, post_id, title, gated, when, data in await conn.execute(query):
        if post_id not in found:  # the newest publication comes first
            keys = names.keys_in(data)
            found[post_id] = Published(pid or 0, post_id, title, gated, when, data, keys)
    return sorted(found.values(), key=lambda p: (p.published_at, p.post_id), reverse=True)
