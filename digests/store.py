"""Query functions: keyword-only, taking the session; the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy.orm import QueryableAttribute, defer
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from digests.models import DigestRevision, Post, PostRevision, Source, StoredDigest

_IN_CHUNK = 500  # stay far below SQLite's bound-parameter limit


async def get_post_by_slug(*, session: AsyncSession, slug: str) -> Post | None:
    """The post with this slug, if any."""
    result = await session.exec(select(Post).where(Post.slug == slug))
    return result.first()


async def get_post_fingerprints(
    *, session: AsyncSession, slugs: Iterable[str]
) -> dict[str, tuple[str, str]]:
    """slug → (content hash, source) for the known ones: lets a batch skip unchanged posts."""
    wanted = list(dict.fromkeys(slugs))
    found: dict[str, tuple[str, str]] = {}
    for start in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[start : start + _IN_CHUNK]
        rows = await session.exec(
            select(Post.slug, Post.content_hash, Post.source).where(col(Post.slug).in_(chunk))
        )
        found.update((slug, (digest, source)) for slug, digest, source in rows)
    return found


async def list_posts(*, session: AsyncSession, limit: int | None = None) -> Sequence[Post]:
    """Posts newest first."""
    query = select(Post).order_by(col(Post.published_at).desc(), col(Post.id).desc()).limit(limit)
    return (await session.exec(query)).all()


async def list_revisions(*, session: AsyncSession, post_id: int) -> Sequence[PostRevision]:
    """A post's revisions, oldest first."""
    query = (
        select(PostRevision)
        .where(PostRevision.post_id == post_id)
        .order_by(col(PostRevision.revision))
    )
    return (await session.exec(query)).all()


async def get_or_create_source(*, session: AsyncSession, url: str) -> Source:
    """The polling state of a feed URL, created on first use (not yet flushed)."""
    result = await session.exec(select(Source).where(Source.url == url))
    source = result.first()
    if source is None:
        source = Source(url=url)
        session.add(source)
    return source


async def get_post(*, session: AsyncSession, ref: str) -> Post | None:
    """A post by slug, by numeric id, or `latest` (newest published)."""
    if ref == "latest":
        newest = await list_posts(session=session, limit=1)
        return newest[0] if newest else None
    if ref.isdigit():
        found = await session.get(Post, int(ref))
        if found is not None:
            return found
    return await get_post_by_slug(session=session, slug=ref)


async def get_digest_by_key(*, session: AsyncSession, cache_key: str) -> StoredDigest | None:
    """The digest made for this cache key, if any (pending ones included)."""
    result = await session.exec(select(StoredDigest).where(StoredDigest.cache_key == cache_key))
    return result.first()


async def list_due_pending(*, session: AsyncSession, now: datetime) -> Sequence[StoredDigest]:
    """Pending digests of posts' current revisions whose retry time has come."""
    query = (
        select(StoredDigest)
        .join(Post, col(Post.id) == col(StoredDigest.post_id))
        .where(StoredDigest.status == "pending")
        .where(col(StoredDigest.revision) == col(Post.revision))
        .where(col(StoredDigest.next_attempt_at) <= now)
        .order_by(col(StoredDigest.next_attempt_at))
    )
    return (await session.exec(query)).all()


async def get_edited_digest(*, session: AsyncSession, post: Post) -> StoredDigest | None:
    """The digest of the post's current revision an admin edited, if any: the author's word
    stands whatever model, prompt or policy is in force now (a new one would make a new key)."""
    query = select(StoredDigest).where(
        StoredDigest.post_id == post.id,
        StoredDigest.revision == post.revision,
        col(StoredDigest.edited).is_(True),
    )
    return (await session.exec(query.order_by(col(StoredDigest.updated_at).desc()))).first()


async def get_digest_revision(
    *, session: AsyncSession, digest_id: int, number: int
) -> DigestRevision | None:
    """One revision of a digest's text."""
    query = select(DigestRevision).where(
        DigestRevision.digest_id == digest_id, DigestRevision.number == number
    )
    return (await session.exec(query)).first()


# a revision's texts, as the ORM attributes defer() takes (SQLModel types them as dicts)
_TEXTS = [
    cast(QueryableAttribute[Any], DigestRevision.data),
    cast(QueryableAttribute[Any], DigestRevision.dropped),
]


async def list_digest_revisions(
    *, session: AsyncSession, digest_id: int, limit: int | None = None
) -> Sequence[DigestRevision]:
    """A digest's revisions, newest first, as a history: their texts (`data`, `dropped`) are
    not loaded (get_digest_revision reads one), so a long history stays cheap to list."""
    query = (
        select(DigestRevision)
        .where(DigestRevision.digest_id == digest_id)
        .options(*(defer(text, raiseload=True) for text in _TEXTS))
        .order_by(col(DigestRevision.number).desc())
        .limit(limit)
    )
    return (await session.exec(query)).all()


def next_revision(
    row: StoredDigest,
    *,
    author: str = "",
    source: str = "model",
    changes: Sequence[str] = (),
    warnings: Sequence[dict[str, str]] = (),
) -> DigestRevision:
    """The row's `data` and `dropped` as its next revision, the row moved on to it (not yet
    added). Two writers on the same revision make the same number: the unique key keeps one."""
    assert row.id is not None
    row.current_revision += 1
    row.edited = source == "edit"
    return DigestRevision(
        digest_id=row.id,
        number=row.current_revision,
        data=row.data,
        dropped=row.dropped,
        author=author,
        source=source,
        changes=list(changes),
        warnings=list(warnings),
    )
