"""Watchlists over a large archive: /stock (a name's timeline: every post naming it, one page of
digests read) and /watch's check whether any digest named the name, both through the
`digest_name` index; this prints how long they take as the archive grows, on SQLite or
PostgreSQL.

    uv run python -m bench.watch [--posts 1000 3000] [--postgres postgresql://…/test]

Each post gets a copy of the seed post's digest (3 sections, 20 stocks): 天孚通信 is named in one
post of 20, 英维克 in all of them (the worst case for /stock); a third of the posts are gated.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.ingest import scratch_database
from bot.container import open_services
from digests.models import Post, Publication, StoredDigest, Subscriber
from digests.readers import account
from digests.settings import Settings
from digests.summarize.schema import Digest
from digests.watch import archive, names, timeline

SECTIONS = [
    {"name": "通信", "points": ["首推cpo+ocs，天孚通信弹性最大。", "液冷：英维克、飞龙股份。"],
     "stocks": ["天孚通信", "英维克", "飞龙股份", "川润股份", "依米康", "麦格米特", "锐明技术"]},
    {"name": "计算机", "points": ["idc方向受益：大位科技，润泽科技。"] * 3,
     "stocks": ["大位科技", "润泽科技", "新意网集团", "数据港", "科华数据", "宏景科技", "优刻得"]},
    {"name": "传媒", "points": ["标的：中文在线，上海电影，bilibili。"] * 2,
     "stocks": ["中文在线", "上海电影", "兆驰股份", "捷成股份", "掌阅科技", "bilibili"]},
]  # fmt: skip


def digest(n: int) -> dict[str, Any]:
    """The seed-like digest of post n: 天孚通信 is named in one post of 20 (the rest name one of
    500 other stocks in its place), 英维克 in every post (the worst case)."""
    sections = [dict(section) for section in SECTIONS]
    if n % 20:
        sections[0]["stocks"] = [f"股票{n % 500}", *SECTIONS[0]["stocks"][1:]]
    return {"headline": f"第{n}篇", "summary": "摘要", "sections": sections, "risks": [],
            "events": []}  # fmt: skip


async def fill(services: Any, posts: int, first: int) -> None:
    """`posts` more published posts, each with its digest and publication."""
    start = datetime(2024, 1, 1, tzinfo=UTC)
    async with services.store_context().sessions() as session, session.begin():
        for n in range(first, first + posts):
            post = Post(slug=f"p{n}", source="admin", title=f"盘后速递{n}", body_markdown="x",
                        body_text="x", content_hash=f"{n:064d}", gated=n % 3 == 0,
                        published_at=start + timedelta(hours=n))  # fmt: skip
            session.add(post)
            await session.flush()
            stored = StoredDigest(post_id=post.id or 0, revision=1, cache_key=f"{n:064d}",
                                  status="ready", mode="llm", data=digest(n))  # fmt: skip
            session.add(stored)
            await session.flush()
            publication = Publication(post_id=post.id or 0, digest_id=stored.id or 0)
            session.add(publication)
            await session.flush()
            await archive.record(session, publication.id or 0, Digest.model_validate(digest(n)))


async def is_named(ctx: Any, name: str) -> bool:
    async with ctx.sessions() as session:
        return await archive.is_named(session, names.key(name))


async def timed(call: Any, runs: int) -> tuple[float, float]:
    """p50 and p95 in milliseconds."""
    took = []
    for _ in range(runs):
        began = time.perf_counter()
        await call()
        took.append((time.perf_counter() - began) * 1000)
    took.sort()
    return statistics.median(took), took[int(len(took) * 0.95) - 1]


async def main(sizes: list[int], server_url: str | None, runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with scratch_database(server_url, tmp) as url:
            settings = Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]
            async with open_services(settings) as services:
                ctx = services.store_context()
                reader, _ = await account.register(ctx, channel="console", external_id="r")
                kind = "PostgreSQL" if server_url else "SQLite"
                have = 0
                for size in sizes:
                    await fill(services, size - have, have)
                    have = size
                    some = await timed(lambda: timeline.timeline(ctx, reader, "天孚通信"), runs)
                    every = await timed(lambda: timeline.timeline(ctx, reader, "英维克"), runs)
                    known = await timed(lambda: is_named(ctx, "天孚通信"), runs)
                    print(f"{kind}, {size:,} published digests: /stock of a name in 1 of 20 "
                          f"p50 {some[0]:.0f} ms, p95 {some[1]:.0f} ms; of a name in all "
                          f"p50 {every[0]:.0f} ms, p95 {every[1]:.0f} ms; /watch's name check "
                          f"p50 {known[0]:.0f} ms, p95 {known[1]:.0f} ms")  # fmt: skip
                assert isinstance(reader, Subscriber)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, nargs="+", default=[1000, 3000, 10000])
    parser.add_argument("--postgres", default=None, help="a PostgreSQL server URL")
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(main(args.posts, args.postgres, args.runs))
