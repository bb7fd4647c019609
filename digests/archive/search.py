"""/search: the best posts and digests for a reader's words, entitled text only.

"Best" is: posts whose title holds the words, then posts whose text does, newest first in each.
Relevance scores (FTS5's bm25, PostgreSQL's ts_rank) were measured and dropped: they score every
match, and a word in most posts of a 10,000-post archive then cost 200 ms to 2 s; newest-first
reads the index in key order and stops after ten (bench/search.py, docs/benchmarks.md). A
post's post and digest docs count once, and only the ten shown are read whole, for snippets.
A hit the reader is not entitled to shows its
title and date under 🔒, never a word of its text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, literal_column, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from digests.entitlement import runs
from digests.index.documents import DOCS, FTS_TABLE
from digests.index.tokens import query_terms, single_char, words
from digests.models import Post, Publication, Subscriber
from digests.readers.passwords import grants_of
from digests.replies import Reply, StoreContext, command
from digests.summarize.policy import PolicyRules, scrub
from digests.summarize.schema import Digest

TOP = 10
# a grant's start and end, and whether it also covers the digests published while it runs
# (a Stars or code grant: digests/entitlement.py)
Period = tuple[datetime, datetime, bool]


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


EMPTY = Digest(headline="", summary="", sections=[], risks=[], events=[])


def fts5_query(terms: list[list[str]], *, any_term: bool = False, column: str = "") -> str:
    """An FTS5 MATCH expression: each term a phrase (a lone CJK character a prefix), in one
    column when given."""
    where = f"{column} : " if column else ""
    parts = [where + (f"{t[0]}*" if single_char(t) else '"' + " ".join(t) + '"') for t in terms]
    return (" OR " if any_term else " AND ").join(parts)


def ts_query(terms: list[list[str]], *, any_term: bool = False, phrases: bool = True) -> str:
    """A to_tsquery('simple', …) expression with the same meaning (`phrases=False`: a term's
    tokens anywhere in the doc, a superset the GIN index answers without rechecking)."""
    glue = " <-> " if phrases else " & "
    parts = [f"{t[0]}:*" if single_char(t) else "(" + glue.join(t) + ")" for t in terms]
    return (" | " if any_term else " & ").join(parts)


def _within(periods: Sequence[Period] | None) -> ColumnElement[bool] | None:
    """Docs the reader is entitled to: ungated, dated within one of their grants, or (a Stars
    or code grant) of a post whose digest was published while it ran."""
    if periods is None:
        return None
    covered = []
    for starts, ends, running in periods:
        covered.append(and_(DOCS.c.published_at >= starts, DOCS.c.published_at < ends))
        if running:
            released = select(col(Publication.post_id)).where(
                col(Publication.published_at) >= starts, col(Publication.published_at) < ends
            )
            covered.append(DOCS.c.post_id.in_(released))
    return or_(DOCS.c.gated == false(), *covered)


async def find(
    session: AsyncSession,
    terms: list[list[str]],
    *,
    limit: int = TOP,
    any_term: bool = False,
    periods: Sequence[Period] | None = None,
) -> list[Hit]:
    """The best `limit` posts for these terms: those whose title holds them first, then the
    rest, newest first within each; with `periods`, only docs those grants entitle to (or
    ungated ones). Both passes read the index in key order (newest first) and stop early,
    so a word in every post costs no more than a rare one."""
    if not terms:
        return []
    conn = await session.connection()
    if conn.dialect.name == "postgresql":
        # The planner costs a tsvector match as cheap, not seeing that it unpacks the TOASTed
        # vector: it chose a sequential scan for rare words (100+ ms at 4,000 docs). Without
        # it, it weighs the GIN index (rare words) against walking order_key (common ones).
        await conn.execute(text("SET LOCAL enable_seqscan = off"))
    hits: dict[int, Hit] = {}
    for title_only in (True, False):
        pg = conn.dialect.name == "postgresql"
        walk = pg and await _common(conn, terms, title_only=title_only, any_term=any_term)
        query = _newest(
            conn.dialect.name,
            terms,
            any_term=any_term,
            title_only=title_only,
            entitled=_within(periods),
            limit=limit * 2,  # a post's post and digest docs may both match
            walk=walk,
        )
        for row in await conn.execute(query):
            if row.post_id not in hits and len(hits) < limit:
                hit = Hit(row.post_id, row.id, row.kind, row.title, row.published_at, row.gated)
                hits[row.post_id] = hit
    return list(hits.values())


def _newest(
    dialect: str,
    terms: list[list[str]],
    *,
    any_term: bool,
    title_only: bool,
    entitled: ColumnElement[bool] | None,
    limit: int,
    walk: bool = False,
) -> Select[Any]:
    """Docs matching the terms (in their titles only, or anywhere), newest first."""
    columns = [DOCS.c.post_id, DOCS.c.id, DOCS.c.kind, DOCS.c.title]
    columns += [DOCS.c.published_at, DOCS.c.gated]
    if dialect == "sqlite":  # FTS5 yields its rows in key order: it stops after `limit`
        match = fts5_query(terms, any_term=any_term, column="title_tokens" if title_only else "")
        fts_key: ColumnElement[int] = literal_column(f"{FTS_TABLE}.rowid")
        query = (
            select(*columns)
            .select_from(text(FTS_TABLE))
            .join(DOCS, DOCS.c.order_key == fts_key)
            .where(text(f"{FTS_TABLE} MATCH :q").bindparams(q=match))
        )
        query = query if entitled is None else query.where(entitled)
        return query.order_by(fts_key.desc()).limit(limit)
    # PostgreSQL: the GIN index answers a query of plain tokens exactly, without opening the
    # vectors; a phrase needs their positions, so it is checked on those candidates only.
    config: ColumnElement[str] = literal_column("'simple'::regconfig")
    tsv: ColumnElement[str] = literal_column("search_doc.ttsv" if title_only else "search_doc.tsv")
    exact = func.to_tsquery(config, ts_query(terms, any_term=any_term))
    if walk:  # a common word: newest docs first, each checked, ten found soon
        query = select(*columns).where(tsv.op("@@")(exact))
        query = query if entitled is None else query.where(entitled)
        return query.order_by(DOCS.c.order_key.desc()).limit(limit)
    loose = func.to_tsquery(config, ts_query(terms, any_term=any_term, phrases=False))
    candidates = select(*columns, DOCS.c.order_key, tsv.label("vector"))
    candidates = candidates.where(tsv.op("@@")(loose))
    candidates = candidates if entitled is None else candidates.where(entitled)
    # "+ 0": not by walking the order_key index, which would open every vector it passes; the
    # candidates carry their vectors unopened (TOAST pointers) until the phrase check below
    found = candidates.order_by((DOCS.c.order_key + 0).desc()).limit(limit * 3).subquery()
    query = select(*(found.c[c.name] for c in columns))
    if any(len(term) > 1 for term in terms):
        query = query.where(func.ts_match_vq(found.c.vector, exact))
    return query.order_by(found.c.order_key.desc()).limit(limit)


COMMON = 1500  # docs holding every token: from here on, walking the newest docs is cheaper


async def _common(
    conn: AsyncConnection, terms: list[list[str]], *, title_only: bool, any_term: bool
) -> bool:
    """PostgreSQL: do at least COMMON docs hold the terms' tokens? Counted from the GIN index
    (exact for plain tokens, no vector opened). The bitmap of a word in most of 20,000 docs
    cost 120 ms to sort; walking the newest docs finds ten of those in a few."""
    column = "ttsv" if title_only else "tsv"
    loose = ts_query(terms, any_term=any_term, phrases=False)
    found = await conn.execute(
        text(
            f"SELECT count(*) FROM (SELECT 1 FROM search_doc WHERE {column} @@"
            " to_tsquery('simple', :q) LIMIT :n) AS m"
        ).bindparams(q=loose, n=COMMON)
    )
    return int(found.scalar_one()) >= COMMON


async def bodies(
    session: AsyncSession, hits: Sequence[Hit], rules: PolicyRules | None = None
) -> dict[int, str]:
    """The text of these hits' docs, by doc id (read only for what is shown), as the
    DIGEST_POLICY in force allows readers to see it (`rules`; policy.scrub)."""
    ids = [hit.doc_id for hit in hits]
    if not ids:
        return {}
    conn = await session.connection()
    rows = await conn.execute(select(DOCS.c.id, DOCS.c.body).where(DOCS.c.id.in_(ids)))
    found = {row.id: row.body for row in rows}
    if rules is None or not rules.strict:
        return found
    for hit in hits:
        names = await stock_names(session, [hit], rules)
        found[hit.doc_id] = scrub(found.get(hit.doc_id, ""), rules, names)
    return found


async def stock_names(session: AsyncSession, hits: Sequence[Hit], rules: PolicyRules) -> list[str]:
    """The stock names these hits' posts give, which sectors_only hides (none otherwise: no
    post is read)."""
    if not rules.hides_names:
        return []
    names: list[str] = []
    for post_id in dict.fromkeys(hit.post_id for hit in hits):
        post = await session.get(Post, post_id)
        if post is not None:
            names += rules.names(EMPTY, post.title, post.body_text, post.body_markdown)
    return names


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
    return [(g.starts_at, g.ends_at, runs(g.label)) for g in await grants_of(session, reader.id)]


def is_open(hit: Hit, periods: Sequence[Period], released: Sequence[datetime] = ()) -> bool:
    """access.entitled for a hit, from the reader's periods and when its post's digest was
    published (`released`: each publication's time)."""
    return not hit.gated or any(
        starts <= hit.published_at < ends or (running and any(starts <= r < ends for r in released))
        for starts, ends, running in periods
    )


async def search(ctx: StoreContext, reader: Subscriber, query: str, *, width: int = 60) -> Reply:
    """/search 词语: the best ten posts, entitled ones with a snippet, locked ones 🔒."""
    terms = query_terms(query)
    if not terms:
        return Reply(
            f"用法：{command('search', '词语')}"
            f"（如 {command('search', '液冷')} 或 {command('search', 'CPO')}）"
        )
    async with ctx.sessions() as session:
        hits = await find(session, terms)
        periods = await periods_of(session, reader)
        released = await _released(session, [hit.post_id for hit in hits])
        open_hits = [hit for hit in hits if is_open(hit, periods, released.get(hit.post_id, []))]
        texts = await bodies(session, open_hits, ctx.rules)
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


async def _released(session: AsyncSession, post_ids: list[int]) -> dict[int, list[datetime]]:
    """When each post's digest was published (every round)."""
    query = select(col(Publication.post_id), col(Publication.published_at)).where(
        col(Publication.post_id).in_(post_ids)
    )
    found: dict[int, list[datetime]] = {}
    conn = await session.connection()
    for post_id, published_at in await conn.execute(query):
        found.setdefault(post_id, []).append(published_at)
    return found


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
