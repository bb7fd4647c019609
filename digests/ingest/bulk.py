"""New posts stored together: a chunk of posts, their first revisions and their search docs in
one transaction, and a post's columns from its draft (one place for core.py and this).

A new post costs Python work (its plain text, its index tokens) and database work (the rows,
FTS5's or GIN's indexing). The Python work is done before the transaction (`prepare`), and
`save_drafts` prepares the next chunk while this one is written, giving the database's thread
(SQLite's runs in C, without the GIL) turns as it goes: on two cores the two overlap
(bench/ingest.py, docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from digests.index import documents as search_index
from digests.ingest.draft import Draft
from digests.ingest.text import markdown_to_text
from digests.models import Post, PostRevision, table_of, utcnow

log = logging.getLogger(__name__)
POSTS = table_of(Post)
REVISIONS = table_of(PostRevision)
CHUNK = 200  # new posts per transaction in a bulk import
_TURN = 2  # posts prepared between two turns of the event loop


@dataclass
class Prepared:
    """A new post ready to insert: its row (without an id yet) and its index tokens."""

    draft: Draft
    row: dict[str, Any]
    words: tuple[str, str]


async def prepare(drafts: Sequence[Draft]) -> list[Prepared]:
    """Rows and index tokens for new posts. The event loop gets a turn every few posts: a
    chunk being written meanwhile goes on to its next statement."""
    now, ready = utcnow(), []
    for n, draft in enumerate(drafts, 1):
        row: dict[str, Any] = {"slug": draft.slug, "source": draft.source, "revision": 1}
        row |= {"created_at": now, **post_fields(draft)}
        ready.append(Prepared(draft, row, search_index.index_words(row["title"], row["body_text"])))
        if n % _TURN == 0:
            await asyncio.sleep(0)
    return ready


async def insert_together(
    posts: Sequence[Prepared], sessions: async_sessionmaker[AsyncSession]
) -> bool:
    """Insert new posts, their first revisions and search docs in one transaction; False if
    it failed (the caller then stores them one by one)."""
    rows = [post.row for post in posts]
    try:
        async with sessions() as session, session.begin():
            conn = await session.connection()
            # RETURNING in the rows' order would make SQLAlchemy send SQLite one INSERT a row
            # (SQLite does not promise that order): the ids are matched by slug instead
            inserted = await conn.execute(insert(POSTS).returning(POSTS.c.id, POSTS.c.slug), rows)
            ids = {slug: post_id for post_id, slug in inserted}
            stored = [(ids[post.row["slug"]], post) for post in posts]
            await conn.execute(  # RETURNING: one multi-row INSERT (see search_index.add)
                insert(REVISIONS).returning(REVISIONS.c.id),
                [revision_row(i, 1, p.draft) for i, p in stored],
            )
            docs = [search_index.post_doc(p.row | {"id": i}, p.words) for i, p in stored]
            await search_index.add(conn, docs)  # the search index, in the same transaction
    except Exception as exc:  # the database's refusal, or one post's bug: find out singly
        log.info("batch insert of %d posts failed (%s); storing them one by one", len(rows), exc)
        return False
    return True


def post_fields(draft: Draft) -> dict[str, Any]:
    """A post's columns from a draft (rendering its plain text)."""
    plain = markdown_to_text(draft.body_markdown)
    return {
        "title": draft.title,
        "url": draft.url,
        "source_ref": draft.source_ref,
        "published_at": draft.published_at,
        "updated_at": draft.updated_at,
        "categories": draft.categories,
        "tags": draft.tags,
        "abstract": draft.abstract,
        "body_markdown": draft.body_markdown,
        "body_text": plain.text,
        "links": plain.links,
        "images": plain.images,
        "gated": draft.gated,
        "encrypted": draft.encrypted,
        "content_hash": draft.content_hash,
        "digest_stale": True,
        "ingested_at": utcnow(),
    }


def revision_row(post_id: int, revision: int, draft: Draft) -> dict[str, Any]:
    """A post's revision as a row of post_revision."""
    return {
        "post_id": post_id,
        "revision": revision,
        "title": draft.title,
        "body_markdown": draft.body_markdown,
        "content_hash": draft.content_hash,
        "created_at": utcnow(),
    }
