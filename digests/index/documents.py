"""The archive index: one search_doc row per post (its title and text) and one per post's
ready digest, written in the same transaction as the post or digest it mirrors.

The full-text structure over search_doc belongs to each database and is kept by its triggers
(made in migration 0016): on SQLite an external-content FTS5 table `search_fts`, on PostgreSQL
`tsv` (title and text) and `ttsv` (title) tsvector columns with GIN indexes. Neither is a model: the
models describe what every database has, and `include_name`/`include_object` keep Alembic's
comparison off these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import RowMapping, delete, insert, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from digests.index.tokens import as_text
from digests.models import Post, SearchDoc, table_of

DOCS = table_of(SearchDoc)
POSTS = table_of(Post)
FTS_TABLE = "search_fts"  # SQLite only
PG_ONLY = ("tsv", "ttsv", "ix_search_doc_tsv", "ix_search_doc_ttsv")  # PostgreSQL only


@dataclass(frozen=True)
class Doc:
    """What one post or digest contributes to the index (`words`: its title's and body's
    tokens, when already made: see index_words)."""

    post_id: int
    kind: str  # post | digest
    title: str
    body: str
    published_at: datetime
    gated: bool
    words: tuple[str, str] | None = None

    def row(self) -> dict[str, Any]:
        title_tokens, body_tokens = self.words or index_words(self.title, self.body)
        return {
            "order_key": order_key(self.published_at, self.post_id, self.kind),
            "post_id": self.post_id,
            "kind": self.kind,
            "title": self.title,
            "body": self.body,
            "published_at": self.published_at,
            "gated": self.gated,
            "title_tokens": title_tokens,
            "body_tokens": body_tokens,
        }


def index_words(title: str, body: str) -> tuple[str, str]:
    """A doc's title and body as index tokens: the costly part of indexing, which a bulk
    import does before its transaction (digests/ingest/bulk.py)."""
    return as_text(title), as_text(body)


def order_key(published_at: datetime, post_id: int, kind: str) -> int:
    """Publish time in seconds, then the post, then the kind: unique, and newest largest."""
    if published_at.tzinfo is None:  # SQLite's rows as a migration reads them: UTC
        published_at = published_at.replace(tzinfo=UTC)
    return int(published_at.timestamp()) * 2**24 + post_id * 2 + (kind == "digest")


def digest_text(data: dict[str, Any]) -> str:
    """A digest's words, one line per part, for the index and its snippets."""
    lines = [str(data.get("headline", "")), "".join(map(_said, _listed(data.get("summary"))))]
    for section in data.get("sections", []):
        stocks = "、".join(section.get("stocks", []))
        points = "；".join(map(_said, section.get("points", [])))
        lines.append(f"{section.get('name', '')}：{points}" + (f"（{stocks}）" if stocks else ""))
    lines += [f"风险：{_said(risk)}" for risk in data.get("risks", [])]
    return "\n".join(line for line in lines if line)


def _said(claim: Any) -> str:
    """A claim's text: a {"text", "cites"} object, or a plain string in older digests."""
    return str(claim.get("text", "")) if isinstance(claim, dict) else str(claim)


def _listed(summary: Any) -> list[Any]:
    """A summary as its sentences: a list of claims, or one string in older digests."""
    return summary if isinstance(summary, list) else [summary or ""]


async def put(conn: AsyncConnection, docs: Sequence[Doc]) -> None:
    """Replace these posts' docs of these kinds (the database's triggers follow)."""
    if not docs:
        return
    keys = [(doc.post_id, doc.kind) for doc in docs]
    await conn.execute(delete(DOCS).where(tuple_(DOCS.c.post_id, DOCS.c.kind).in_(keys)))
    await add(conn, docs)


async def add(conn: AsyncConnection, docs: Sequence[Doc]) -> None:
    """Index docs that have none yet (the posts just created)."""
    if docs:  # RETURNING: SQLAlchemy sends it as one multi-row INSERT, not a row at a time
        await conn.execute(insert(DOCS).returning(DOCS.c.id), [doc.row() for doc in docs])


async def follow_post(conn: AsyncConnection, post_id: int) -> None:
    """After a post's new revision: its text doc anew, and its digest doc dropped (it
    summarised the old text; a ready digest of the new one puts it back)."""
    row = (await conn.execute(select(POSTS).where(POSTS.c.id == post_id))).one()
    await put(conn, [post_doc(row._mapping)])
    await conn.execute(delete(DOCS).where(DOCS.c.post_id == post_id, DOCS.c.kind == "digest"))


def post_doc(post: Mapping[str, Any] | RowMapping, words: tuple[str, str] | None = None) -> Doc:
    """A post's columns as its text doc (`words`: index_words of them, if made already)."""
    return Doc(
        post_id=post["id"],
        kind="post",
        title=post["title"],
        body=post["body_text"],
        published_at=post["published_at"],
        gated=bool(post["gated"]),
        words=words,
    )


def digest_doc(post: Post, data: dict[str, Any]) -> Doc:
    """A post's ready digest as a doc (under the post's title, date and gate)."""
    assert post.id is not None
    words = digest_text(data)
    return Doc(post.id, "digest", post.title, words, post.published_at, post.gated)


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic: the FTS5 table and its shadow tables are not models."""
    return not (type_ == "table" and name is not None and name.startswith(FTS_TABLE))


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic: PostgreSQL's tsvector column and its index are not models."""
    return not (reflected and compare_to is None and name in PG_ONLY)
