"""The published archive as watchlists read it, through the `digest_name` index (one row per
publication and name key, written at publish by `record`): which posts a name appears in
(each post by its newest publication, newest post first), and their digests for one page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy import select as sa_select
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from digests.models import DigestName, Post, Publication, table_of
from digests.summarize.schema import Digest
from digests.watch import names

KEY_CHARS = 100  # the column's size; names are far shorter


@dataclass
class Entry:
    """A published post that names something, as a timeline lists it."""

    publication_id: int  # the post's newest publication
    title: str
    gated: bool
    published_at: datetime  # the post's date


async def record(session: AsyncSession, publication_id: int, digest: Digest) -> None:
    """Index the names a new publication's digest holds (the caller commits)."""
    keys = {k[:KEY_CHARS] for k in names.keys_in(digest.model_dump())}
    if keys:
        rows = [{"publication_id": publication_id, "key": k} for k in sorted(keys)]
        await session.exec(insert(DigestName), params=rows)


async def is_named(session: AsyncSession, key: str) -> bool:
    """Has any published digest named this key?"""
    query = select(DigestName.publication_id).where(DigestName.key == key[:KEY_CHARS]).limit(1)
    return (await session.exec(query)).first() is not None


async def naming(session: AsyncSession, key: str) -> list[Entry]:
    """The posts whose newest publication names `key`, newest post first: one query (every
    publication of a post that any publication names it in, flagged when it does)."""
    publication, post, named = table_of(Publication), table_of(Post), table_of(DigestName)
    hits = sa_select(named.c.publication_id).where(named.c.key == key)
    posts = sa_select(publication.c.post_id).where(publication.c.id.in_(hits))
    here = named.c.publication_id == publication.c.id
    query = (
        sa_select(
            publication.c.id,
            post.c.title,
            post.c.gated,
            post.c.published_at,
            publication.c.post_id,
            named.c.key.is_not(None),
        )
        .join(post, post.c.id == publication.c.post_id)
        .outerjoin(named, here & (named.c.key == key))
        .where(publication.c.post_id.in_(posts))
        .order_by(publication.c.published_at.desc(), publication.c.id.desc())
    )
    conn = await session.connection()
    newest: dict[int, tuple[Entry, bool]] = {}
    for pid, title, gated, when, post_id, names_it in await conn.execute(query):
        newest.setdefault(post_id, (Entry(pid, title, gated, when), bool(names_it)))
    found = [entry for entry, names_it in newest.values() if names_it]
    return sorted(found, key=lambda e: (e.published_at, e.publication_id), reverse=True)
