"""An edit becomes the digest's next revision. The row's `current_revision` is compared and
moved in the same UPDATE, and (digest, number) is unique: of two saves made on the same
revision the first stands and the second is refused with StaleRevision, nothing written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlmodel import col

from digests.errors import NotFound, StaleRevision
from digests.index import documents as search_index
from digests.models import DigestRevision, Post, StoredDigest, utcnow
from digests.summarize.digesting import DigestContext
from digests.summarize.schema import Digest


@dataclass(frozen=True)
class Saved:
    """The revision an edit made."""

    digest_id: int
    number: int
    changes: list[str]
    warnings: list[dict[str, str]]


async def save(
    ctx: DigestContext,
    digest_id: int,
    *,
    base: int,
    digest: Digest,
    dropped: dict[str, Any],
    author: str,
    changes: Sequence[str],
    warnings: Sequence[dict[str, str]] = (),
) -> Saved:
    """Store `digest` as revision base + 1 of the digest, if `base` is still its revision;
    StaleRevision otherwise. An admin's edit is a review: the digest is ready (searchable,
    publishable) whatever the model's output was."""
    data = digest.model_dump()
    async with ctx.sessions() as session, session.begin():
        row = await session.get(StoredDigest, digest_id)
        post = await session.get(Post, row.post_id) if row is not None else None
        if row is None or post is None:
            raise NotFound(f"no digest {digest_id}")
        moved = await session.exec(
            update(StoredDigest)
            .where(col(StoredDigest.id) == digest_id, col(StoredDigest.current_revision) == base)
            .values(
                data=data,
                dropped=dropped,
                current_revision=base + 1,
                edited=True,
                status="ready",
                error="",
                updated_at=utcnow(),
            )
        )
        if moved.rowcount != 1:
            await session.refresh(row)
            raise StaleRevision(base, row.current_revision)
        session.add(
            DigestRevision(
                digest_id=digest_id,
                number=base + 1,
                data=data,
                dropped=dropped,
                author=author,
                source="edit",
                changes=list(changes),
                warnings=list(warnings),
            )
        )
        # search and /ask read the edited words from now on
        await search_index.put(await session.connection(), [search_index.digest_doc(post, data)])
    return Saved(digest_id, base + 1, list(changes), list(warnings))
