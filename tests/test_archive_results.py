"""What /search finds, pinned on a corpus: 300 of bench/search.py's posts, each of its queries,
on SQLite and PostgreSQL, against the plain statement of the search (the plain tokeniser of
tests/test_archive_tokens.py, phrases matched token by token, titles first, newest first).
Whatever makes ingestion or the index faster must leave these results as they are."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.search import QUERIES, write_posts
from digests import db
from digests.archive.search import TOP, find
from digests.index.tokens import query_terms, single_char
from digests.ingest.core import IngestContext, ingest
from tests.conftest import SHANGHAI
from tests.test_archive_tokens import reference

POSTS = 300
# the bench's queries, and a few more: a word in no title, a phrase across a name, a lone
# character that only starts bigrams, Latin in another case, a term of two scripts
EXTRA = ["纪要", "通信与", "铜", "Hbm", "美国CPI", "A股", "光 模块"]


def _holds(tokens: list[str], term: list[str]) -> bool:
    """The term's tokens in a row (a lone CJK character: any token it starts)."""
    if single_char(term):
        return any(token.startswith(term[0]) for token in tokens)
    size = len(term)
    return any(tokens[i : i + size] == term for i in range(len(tokens) - size + 1))


def expected(posts: list[dict[str, Any]], query: str) -> list[int]:
    """The ten posts /search shows for a query: those whose title holds every term, then
    those whose title or text does (a phrase within one of them), newest first in each."""
    terms = query_terms(query)
    found: list[int] = []
    for title_only in (True, False):
        for post in posts:
            fields = post["fields"][:1] if title_only else post["fields"]
            holds = all(any(_holds(field, term) for field in fields) for term in terms)
            if holds and post["id"] not in found and len(found) < TOP:
                found.append(post["id"])
    return found


async def _stored(engine: AsyncEngine) -> list[dict[str, Any]]:
    """The posts as stored, newest first, with their title and text as plain tokens."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT id, title, body_text FROM post ORDER BY published_at DESC, id DESC")
        )
        return [
            {"id": row.id, "fields": [reference(field).split() for field in row[1:]]}
            for row in rows
        ]


async def test_the_bench_queries_find_what_the_plain_search_finds(
    database_url: str, tmp_path: Path
) -> None:
    """Every query of bench/search.py (and a few odd ones) finds the same posts, in the same
    order, as the search stated plainly over the plain tokens."""
    write_posts(tmp_path, POSTS)
    async with db.open_engine(database_url) as engine, httpx.AsyncClient() as http:
        sessions = db.make_sessionmaker(engine)
        ctx = IngestContext(sessions, http, SHANGHAI)
        outcomes = [outcome async for outcome in ingest([str(tmp_path)], ctx)]
        assert {o.status for o in outcomes} == {"new"} and len(outcomes) == POSTS
        posts = await _stored(engine)
        async with sessions() as session:
            for query in [*QUERIES, *EXTRA]:
                hits = await find(session, query_terms(query))
                assert [hit.post_id for hit in hits] == expected(posts, query), query
