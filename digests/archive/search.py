"""/search: the best posts and digests for a reader's words, entitled text only.

One full-text query ranks the docs (SQLite FTS5's bm25 with the title weighted 4:1, PostgreSQL's
ts_rank over the tsvector, title weighted A), a post's post and digest docs count once, and only
the ten shown are read whole, for their snippets. A hit the reader is not entitled to shows its
title and date under 🔒, never a word of its text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, false, func, literal_column, or_, select, text
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from digests.archive.index import DOCS, FTS_TABLE
from digests.archive.tokens import query_terms, single_char, words
from digests.models import AccessGrant, Publication, Subscriber
from digests.readers.passwords import grants_of
from digests.replies import Reply, StoreContext

TOP = 10
Period = tuple[datetime, datetime]


@dataclass
class Hit:
    """One post found: its best doc's kind, title, date, gate, and (filled later) a snippet."""

    post_id: int
    doc_id: int
    kind: str
    title: str
    published_at: datetime
    gated: bool
    snippet: str = ""


def fts5_query(terms: list[list[str]], *, any_term: bool = False) -> str:
    """An FTS5 MATCH expression: each term a phrase (a lone CJK character a prefix)."""
    parts = [f"{t[0]}*" if single_char(t) else '"' + " ".join(t) + '"' for t in terms]
    return (" OR " if any_term else " AND ").join(parts)


def ts_query(terms: list[list[str]], *, any_term: bool = False) -> str:
    """A to_tsquery('simple', …) expression with the same meaning."""
    parts = [f"{t[0]}:*" if single_char(t) else "(" + " <-> ".join(t) + ")" for t in terms]
    return (" | " if any_term else " & ").join(parts)


def _within(periods: Sequence[Period] | None) -> ColumnElement[bool] | None:
    """Docs the reader is entitled to: ungated, or published within one of their grants."""
    if periods is None:
        return None
    covered = [and_(DOCS.c.published_at >= s, DOCS.c.published_at < e) for s, e in periods]
    return or_(DOCS.c.gated == false(), *covered)


async def find(
    session: AsyncSession,
    terms: list[list[str]],
    *,
    limit: int = TOP,
    any_term: bool = False,
    periods: Sequence[Period] | None = None,
) -> list[Hit]:
    """The best `limit` posts for these terms, best first; with `periods`, only docs those
    grants entitle to (or ungated ones)."""
    if not terms:
        return []
    conn = await session.connection()
    columns = [DOCS.c.post_id, DOCS.c.id, DOCS.c.kind, DOCS.c.title]
    columns += [DOCS.c.published_at, DOCS.c.gated]
    if conn.dialect.name == "sqlite":
        score: ColumnElement[float] = literal_column(f"bm25({FTS_TABLE}, 4.0, 1.0)")
        query = (
            select(*columns)
            .select_from(DOCS.join(text(FTS_TABLE), text(f"{FTS_TABLE}.rowid = search_doc.id")))
            .where(text(f"{FTS_TABLE} MATCH :q").bindparams(q=fts5_query(terms, any_term=any_term)))
            .order_by(score)
        )
    else:
        tsq = func.to_tsquery(
            literal_column("'simple'::regconfig"), ts_query(terms, any_term=any_term)
        )
        tsv: ColumnElement[str] = literal_column("search_doc.tsv")
        query = select(*columns).where(tsv.op("@@")(tsq)).order_by(func.ts_rank(tsv, tsq).desc())
    entitled = _within(periods)
    if entitled is not None:
        query = query.where(entitled)
    hits: dict[int, Hit] = {}
    for row in await conn.execute(query.limit(limit * 3)):  # post and digest may both match
        if row.post_id not in hits:
            hits[row.post_id] = Hit(
                row.post_id, row.id, row.kind, row.title, row.published_at, row.gated
            )
    return list(hits.values())[:limit]


async def bodies(session: AsyncSession, hits: Sequence[Hit]) -> dict[int, str]:
    """The text of these hits' docs, by doc id (read only for what is shown)."""
    ids = [hit.doc_id for hit in hits]
    if not ids:
        return {}
    conn = await session.connection()
    rows = await conn.execute(select(DOCS.c.id, DOCS.c.body).where(DOCS.c.id.in_(ids)))
    return {row.id: row.body for row in rows}


def snippet(body: str, query: str, *, width: int = 60) -> str:
    """About `width` characters of `body` around the first of the query's words it holds."""
    lowered = body.lower()
    lowered = lowered if len(lowered) == len(body) else body
    found = [lowered.find(word) for word in words(query)]
    at = min((i for i in found if i >= 0), default=0)
    start = max(0, at - width // 3)
    piece = " ".join(body[start : start + width].split())
    return ("…" if start else "") + piece + ("…" if start + width < len(body) else "")


async def periods_of(session: AsyncSession, reader: Subscriber) -> list[Period]:
    """The reader's grant periods (none for a reader who is not active)."""
    if reader.status != "active" or reader.id is None:
        return []
    return [(g.starts_at, g.ends_at) for g in await grants_of(session, reader.id)]


def is_open(hit: Hit, grants: Sequence[AccessGrant] | Sequence[Period]) -> bool:
    """access.entitled for a hit, from grants or their periods."""
    periods = [(g.starts_at, g.ends_at) if isinstance(g, AccessGrant) else g for g in grants]
    return not hit.gated or any(s <= hit.published_at < e for s, e in periods)


async def search(ctx: StoreContext, reader: Subscriber, query: str, *, width: int = 60) -> Reply:
    """/search 词语: the best ten posts, entitled ones with a snippet, locked ones 🔒."""
    terms = query_terms(query)
    if not terms:
        return Reply("用法：/search 词语（如 /search 液冷 或 /search CPO）")
    async with ctx.sessions() as session:
        hits = await find(session, terms)
        periods = await periods_of(session, reader)
        open_hits = [hit for hit in hits if is_open(hit, periods)]
        texts = await bodies(session, open_hits)
        shown = await _publications(session, [hit.post_id for hit in open_hits])
    if not hits:
        return Reply(f"没有找到与「{query.strip()}」相关的文章或摘要。")
    lines, choices = [f"「{query.strip()}」的搜索结果（最相关的 {len(hits)} 篇）："], []
    for n, hit in enumerate(hits, 1):
        day = hit.published_at.astimezone(ctx.tz).strftime("%Y-%m-%d")
        if hit not in open_hits:
            lines.append(f"{n}. 🔒《{hit.title}》{day}")
            continue
        lines.append(
            f"{n}. 《{hit.title}》{day}\n   {snippet(texts[hit.doc_id], query, width=width)}"
        )
        if hit.post_id in shown:
            choices.append((f"{n}. {hit.title}"[:60], f"open:{shown[hit.post_id]}"))
    if len(open_hits) < len(hits):
        lines.append("🔒 为会员文章：发送本月密码（或 /unlock 密码）解锁后可见。")
    return Reply("\n".join(lines), choices=choices)


async def _publications(session: AsyncSession, post_ids: list[int]) -> dict[int, int]:
    """Each post's latest publication, for a button that opens its digest."""
    if not post_ids:
        return {}
    query = (
        select(col(Publication.post_id), func.max(col(Publication.id)))
        .where(col(Publication.post_id).in_(post_ids))
        .group_by(col(Publication.post_id))
    )
    conn = await session.connection()
    return {row[0]: row[1] or 0 for row in await conn.execute(query)}
