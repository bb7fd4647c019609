"""WeChat's daily mass-send for N unlocked readers outside the 48-hour window, against the fake
WeChat API on loopback: the time to plan it (claim, resolve, choose), the API calls (tagging
50 OpenIDs a call) and the rows one mass-send delivers.

    uv run python -m bench.mass [--readers 10000] [--postgres postgresql://…/test]

A tenth of the readers had the public digest in their window (so they wait for the two
broadcasts only): the plan must leave the digest out for them, not send it twice.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections import Counter
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import col, func, select

from bench.fanout import insert_rows
from bench.ingest import scratch_database
from bot.container import Services, open_services
from bot.wechat.mass import MassSender
from bot.wechat.sender import WeChatChannel
from digests.ingest.core import ingest
from digests.models import AccessGrant, Broadcast, Delivery, Subscriber, utcnow
from digests.outbox.enqueue import queue_broadcast
from digests.publishing import publish
from tests.conftest import EXAMPLES, subscriber_rows
from tests.fake_wechat import fake_wechat

PUBLIC = "2026-02-20-public-new-year"


async def main(readers: int, server_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp, fake_wechat() as fake:
        async with scratch_database(server_url, tmp) as url:
            settings = fake.settings(url)
            async with open_services(settings) as services:
                [_ async for _ in ingest([str(EXAMPLES)], services.ingest_context())]
                ctx = services.store_context()
                await load(services, readers)
                await publish.publish_post(services.admin_context(), PUBLIC, by="bench")
                async with ctx.sessions() as session, session.begin():  # a tenth had it already
                    await session.exec(
                        update(Delivery)
                        .where(col(Delivery.subscriber_id) % 10 == 0)
                        .values(status="sent")
                    )
                for text in ("周五休市提醒。", "今晚八点直播复盘。"):
                    async with ctx.sessions() as session, session.begin():
                        note = Broadcast(text=text, created_by="bench")
                        session.add(note)
                    await queue_broadcast(ctx, note.id or 0)
                async with ctx.sessions() as session, session.begin():
                    await session.exec(
                        update(Delivery)
                        .where(col(Delivery.status) == "queued")
                        .values(status="waiting")
                    )
                channel = WeChatChannel(settings, ctx)
                fake.calls.clear()
                cpu, wall = time.process_time(), time.perf_counter()
                report = await MassSender(channel).run()
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                calls = Counter(c.path for c in fake.calls)
                left = await _count(services, "waiting")
    backend = services.engine.url.get_backend_name()
    print(
        f"{backend:<10} {readers} readers: one mass-send delivered {report.rows} rows to "
        f"{report.readers} readers ({left} rows left waiting) in {wall:.2f} s, "
        f"CPU {cpu:.2f} s; API calls: {dict(calls)}"
    )


async def load(services: Services, count: int) -> None:
    """`count` WeChat readers, silent for 49 hours, each holding a grant that covers now."""
    ctx = services.store_context()
    rows = subscriber_rows(count, channel="wechat", first=0)
    for row in rows:
        row["external_id"] = f"o-{row['external_id']}"
        row["last_contact_at"] = utcnow() - timedelta(hours=49)
    now = utcnow()
    async with ctx.sessions() as session, session.begin():
        await insert_rows(session, Subscriber, rows)
        ids = (await session.exec(select(Subscriber.id))).all()
        grants = [
            {
                "subscriber_id": i,
                "label": "now",
                "starts_at": now - timedelta(days=1),
                "ends_at": now + timedelta(days=30),
                "reminded_days": 99,
                "created_at": now,
            }
            for i in ids
        ]
        await insert_rows(session, AccessGrant, grants)


async def _count(services: Services, status: str) -> int:
    ctx = services.store_context()
    async with ctx.sessions() as session:
        found = await session.exec(
            select(func.count()).select_from(Delivery).where(Delivery.status == status)
        )
        return int(found.one())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=10_000)
    parser.add_argument("--postgres", metavar="URL", default=None)
    args = parser.parse_args()
    asyncio.run(main(args.readers, args.postgres))
