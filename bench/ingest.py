"""Ingest throughput: 2,000 generated posts, new then unchanged, on a fresh database.

    uv run python -m bench.ingest [--posts 2000] [--postgres postgresql://postgres@127.0.0.1/test]

Goal (issue 2, this 2-core machine, SQLite): ≥ 500 new posts/s, ≥ 2,000 unchanged/s.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import httpx

from digests import db
from digests.ingest.core import IngestContext, ingest

SECTORS = ["计算机", "通信", "传媒", "电子", "医药"]
STOCKS = ["天孚通信", "中际旭创", "润泽科技", "英维克", "中文在线", "迪安诊断", "麦格米特"]


def write_posts(folder: Path, count: int) -> None:
    rng = random.Random(7)
    for i in range(count):
        paragraphs = "\n\n".join(
            f"{rng.choice(SECTORS)}方向：{rng.choice(STOCKS)}订单增长{rng.randint(5, 90)}%，"
            f"[纪要](https://example.com/{i}/{j})，建议关注{rng.choice(STOCKS)}。"
            for j in range(30)
        )  # about 2 KB of body, like a short market note
        day = 1 + i % 28
        (folder / f"post-{i:05d}.md").write_text(
            f"---\ntitle: 第{i}篇 市场笔记\ndate: 2026-02-{day:02d} 13:27:29\n"
            f"categories:\n  - 投研\ntags: [A股, CPO]\npassword: ld2602\n---\n\n"
            f"## 要点\n\n{paragraphs}\n\n- 风险：美国CPI周五公布\n- 非农周三\n",
            encoding="utf-8",
        )


async def timed(folder: Path, ctx: IngestContext) -> tuple[float, float, dict[str, int]]:
    """Wall seconds, CPU seconds (this process, all threads) and outcome counts."""
    counts: dict[str, int] = {}
    start, cpu = time.perf_counter(), time.process_time()
    async for outcome in ingest([str(folder)], ctx):
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    return time.perf_counter() - start, time.process_time() - cpu, counts


def postgres_up() -> bool:
    """Whether a PostgreSQL server answers on 127.0.0.1:5432 (the benches' and tests' default)."""
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
    except OSError:
        return False
    return True


@asynccontextmanager
async def scratch_database(server_url: str | None, tmp: str) -> AsyncIterator[str]:
    """A new empty database: a SQLite file, or a throwaway database on the PostgreSQL server."""
    if server_url is None:
        yield f"sqlite:///{tmp}/bench.db"
        return
    name = f"bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server_url.rsplit("/", 1)[0] + "/" + name
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def main(posts: int, server_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "posts"
        folder.mkdir()
        write_posts(folder, posts)
        async with (
            scratch_database(server_url, tmp) as url,
            db.open_engine(url) as engine,
            httpx.AsyncClient() as http,
        ):
            await db.upgrade(engine)
            ctx = IngestContext(
                sessions=db.make_sessionmaker(engine), http=http, tz=ZoneInfo("Asia/Shanghai")
            )
            print(f"database: {engine.url.get_backend_name()}, posts: {posts}")
            for label in ("new", "unchanged"):
                seconds, cpu, counts = await timed(folder, ctx)
                print(
                    f"{label:<9} {posts / seconds:7.0f} posts/s  {cpu / posts * 1000:.2f} ms CPU"
                    f"/post  ({seconds:.2f} s, {counts})"
                )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument(
        "--postgres",
        metavar="URL",
        default=None,
        help="a PostgreSQL server URL; a scratch database is made on it",
    )
    args = parser.parse_args()
    asyncio.run(main(args.posts, args.postgres))
