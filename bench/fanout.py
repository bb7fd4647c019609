"""Publishing fan-out: time to queue one digest for N subscribers, on a fresh database: a
gated post (half of the subscribers hold the period's grant) and a public one (all of them),
then the public one again (`--again`) after 1 % more subscribers came.

    uv run python -m bench.fanout [--subscribers 100000] [--postgres postgresql://…/test]

Goal (delivery issue): 100,000 subscribers queued in under 10 s on PostgreSQL and under 20 s
on SQLite. Publishing is one INSERT … SELECT with the entitlement rule in SQL.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from typing import Any

from sqlalchemy import insert
from sqlmodel import select

from bench.ingest import scratch_database
from bot.container import Services, open_services
from digests.ingest.core import ingest
from digests.models import AccessGrant, Subscriber
from digests.outbox.enqueue import publish
from digests.settings import Settings
from digests.summarize import digesting
from tests.conftest import EXAMPLES, february_grants, subscriber_rows

BATCH = 10_000


async def main(count: int, server_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with scratch_database(server_url, tmp) as url:
            settings = Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]
            async with open_services(settings) as services:
                await load(services, count)
                for slug in ("2-10-zhui-zong", "2026-02-20-public-new-year"):
                    await time_publish(services, slug, count)
                await time_again(services, "2026-02-20-public-new-year", count)


async def load(services: Services, count: int) -> None:
    """The sample posts, and `count` Telegram subscribers, every second one with February."""
    [_ async for _ in ingest([str(EXAMPLES)], services.ingest_context())]
    subscribers = subscriber_rows(count, channel="telegram", first=10_000)
    async with services.store_context().sessions() as session, session.begin():
        await insert_rows(session, Subscriber, subscribers)
        ids = (await session.exec(select(Subscriber.id))).all()
        grants = february_grants(ids[::2], services.settings.tz)
        await insert_rows(session, AccessGrant, grants)


async def insert_rows(session: Any, model: Any, rows: list[dict[str, Any]]) -> None:
    """Bulk INSERT, BATCH rows per statement (the benches' loads)."""
    for start in range(0, len(rows), BATCH):
        await session.exec(insert(model), params=rows[start : start + BATCH])


async def time_publish(services: Services, slug: str, count: int) -> None:
    dctx = services.digest_context()
    stored = await digesting.digest_post(dctx, await digesting.find_post(dctx, slug))
    started = time.perf_counter()
    queued = (await publish(services.store_context(), stored, by="bench")).queued
    seconds = time.perf_counter() - started
    backend = services.engine.url.get_backend_name()
    print(
        f"{backend:<10} {slug:<28} {count} subscribers → {queued:>6} rows queued in "
        f"{seconds:.2f} s ({queued / seconds:,.0f} rows/s)"
    )


async def time_again(services: Services, slug: str, count: int) -> None:
    """`publish --again` after 1 % more readers came: only they are queued, the others are
    left out by the rule "has not got this revision" (a NOT IN over the first round's rows)."""
    late = max(count // 100, 1)
    async with services.store_context().sessions() as session, session.begin():
        rows = subscriber_rows(late, channel="telegram", first=10_000 + count)
        await insert_rows(session, Subscriber, rows)
    dctx = services.digest_context()
    stored = await digesting.digest_post(dctx, await digesting.find_post(dctx, slug))
    started = time.perf_counter()
    again = await publish(services.store_context(), stored, by="bench", again=True)
    seconds = time.perf_counter() - started
    backend = services.engine.url.get_backend_name()
    print(
        f"{backend:<10} {slug + ' --again':<28} {count + late} subscribers → "
        f"{again.queued:>6} rows queued in {seconds:.2f} s"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--postgres", metavar="URL", default=None)
    args = parser.parse_args()
    asyncio.run(main(args.subscribers, args.postgres))
