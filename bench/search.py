"""Archive search at 10,000 posts: p50/p95 of /search (the whole use case: ranked full-text
query, the reader's grants, snippets) on SQLite and PostgreSQL.

    uv run python -m bench.search [--posts 10000] [--queries 300] [--no-postgres]
                                  [--postgres postgresql://postgres@127.0.0.1:5432/test]

Posts are made from the sample posts' sentences, shuffled, about 3 KB each with stock and sector
names, half of them gated; they are stored through ingest(), so the index is built as in
production (its cost shows in the ingest rate printed). Goal (issue 15): p95 ≤ 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import text

from bench.ingest import postgres_up, scratch_database
from digests import db
from digests.archive import search
from digests.ingest.core import IngestContext, ingest
from digests.publishing.context import AdminContext
from digests.readers import account, passwords, periods
from digests.replies import StoreContext
from digests.summarize.digesting import DigestContext

EXAMPLES = Path(__file__).parent.parent / "examples" / "posts"
TZ = ZoneInfo("Asia/Shanghai")
NAMES = [
    "天孚通信",
    "中际旭创",
    "润泽科技",
    "英维克",
    "中文在线",
    "迪安诊断",
    "麦格米特",
    "工业富联",
]
WORDS = ["液冷", "存储", "CPO", "HBM", "光模块", "算力", "铜", "PCB", "机器人", "涨价周期"]
# common and rare words, Chinese and Latin, phrases, two words, and one nothing matches
QUERIES = [*WORDS, *NAMES, "CPO 液冷", "存储 涨价", "美国非农", "量子引力", "hbm", "科技"]


def sentences() -> list[str]:
    words = " ".join(p.read_text(encoding="utf-8") for p in EXAMPLES.glob("*.md"))
    found = [s.strip() for s in re.split(r"(?<=[。！？\n])", words) if len(s.strip()) > 8]
    return [s for s in found if not s.startswith(("---", "title:", "date:", "password"))]


def write_posts(folder: Path, count: int) -> None:
    rng, pool = random.Random(15), sentences()
    for i in range(count):
        body = "".join(
            rng.choice(pool) + (f"{rng.choice(NAMES)}与{rng.choice(WORDS)}。" if j % 4 else "")
            for j in range(40)
        )
        gated = "password: ld2602\n" if i % 2 else ""
        (folder / f"p{i:05d}.md").write_text(
            f"---\ntitle: 第{i}篇 {rng.choice(WORDS)}跟踪\ndate: 2026-02-{1 + i % 28:02d} 09:00\n"
            f"{gated}---\n\n{body}\n",
            encoding="utf-8",
        )


async def run(url: str, folder: Path, posts: int, queries: int) -> None:
    async with db.open_engine(url) as engine, httpx.AsyncClient() as http:
        await db.upgrade(engine)
        sessions = db.make_sessionmaker(engine)
        ictx = IngestContext(sessions=sessions, http=http, tz=TZ)
        start = time.perf_counter()
        [_ async for _ in ingest([str(folder)], ictx)]
        seconds = time.perf_counter() - start
        if engine.dialect.name == "postgresql":
            async with engine.begin() as conn:  # what autovacuum does after a bulk load
                await conn.execute(text("ANALYZE"))
        store = StoreContext(sessions, TZ)
        actx = AdminContext(store, DigestContext(sessions, llm=None), ictx)
        await periods.add_password(
            actx.store, "ld2602", date(2026, 2, 1), date(2026, 2, 28), "2026-02"
        )
        reader, _ = await account.register(store, channel="console", external_id="bench")
        await passwords.unlock(store, reader, "ld2602")
        for query in QUERIES:  # warm the caches once
            await search.search(store, reader, query)
        times, rng = [], random.Random(1)
        for _ in range(queries):
            query = rng.choice(QUERIES)
            begun = time.perf_counter()
            await search.search(store, reader, query)
            times.append((time.perf_counter() - begun) * 1000)
        times.sort()
        p95 = times[int(len(times) * 0.95) - 1]
        print(
            f"{engine.dialect.name:<10} posts {posts}  ingest {posts / seconds:5.0f} posts/s"
            f"  search p50 {statistics.median(times):5.1f} ms  p95 {p95:5.1f} ms"
            f"  max {times[-1]:5.1f} ms  ({queries} queries)"
        )


async def main(posts: int, queries: int, server_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "posts"
        folder.mkdir()
        write_posts(folder, posts)
        for target in (None, server_url) if server_url else (None,):
            async with scratch_database(target, tmp) as url:
                await run(url, folder, posts, queries)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    pg = None if args.no_postgres or not postgres_up() else args.postgres
    asyncio.run(main(args.posts, args.queries, pg))
