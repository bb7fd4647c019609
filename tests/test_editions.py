"""Editions (digests/outbox/editions.py), on SQLite and PostgreSQL with frozen clocks: the
digests published since the previous edition, each reader getting the ones they may read."""

from __future__ import annotations

from datetime import date

from sqlmodel import col, select

from bot.console import ConsoleChannel
from digests.kinds import registry
from digests.models import Publication, utcnow
from digests.outbox.dispatcher import send_queued
from digests.outbox.editions import make_edition
from digests.publishing import publish
from digests.publishing.context import AdminContext
from digests.readers import passwords, periods
from tests.conftest import reader

SEED = "2-10-zhui-zong"  # published 2026-02-12 13:27 Beijing: 非农周三, CPI周五, 周五后放假


async def publication_ids(actx: AdminContext) -> list[int]:
    async with actx.store.sessions() as session:
        rows = await session.exec(select(Publication.id).order_by(col(Publication.id)))
        return [i for i in rows.all() if i is not None]


async def test_editions_bundle_what_was_published_since_the_last_one(actx: AdminContext) -> None:
    """An edition reader gets one message per edition with the digests published since the
    previous edition; nothing published → no edition; the same due time → made once."""
    ed = await reader(actx, "ed", delivery="edition")
    await passwords.unlock(actx.store, ed, "ld2602")
    await reader(actx, "instant")
    channel = ConsoleChannel()
    assert await make_edition(actx.store, utcnow()) == (None, 0)

    await publish.publish_post(actx, SEED, by="test")
    first_due = utcnow()
    edition, queued = await make_edition(actx.store, first_due)
    assert edition is not None and queued == 1
    assert edition.publication_ids == await publication_ids(actx)
    await send_queued(actx.store, registry(), {"console": channel})
    assert len(channel.inbox["ed"]) == 1
    assert "合集：1 篇摘要" in channel.inbox["ed"][0] and "2.10科技大爆发" in channel.inbox["ed"][0]

    await publish.publish_post(actx, "2026-02-20-public-new-year", by="test")
    await publish.publish_post(actx, "2026-02-26-broker-note-storage", by="test")
    second_due = utcnow()
    second, queued = await make_edition(actx.store, second_due)
    assert second is not None and queued == 1
    assert second.publication_ids == (await publication_ids(actx))[1:]
    await send_queued(actx.store, registry(), {"console": channel})
    assert len(channel.inbox["ed"]) == 2
    text = channel.inbox["ed"][1]
    assert "合集：2 篇摘要" in text and "节后第一篇" in text and "存储涨价周期复盘" in text
    assert "2.10科技大爆发" not in text
    assert await make_edition(actx.store, second_due) == (None, 0)
    assert await make_edition(actx.store, first_due) == (None, 0)


async def test_edition_leaves_out_gated_digests_the_reader_may_not_read(
    actx: AdminContext,
) -> None:
    """A March members' post in an edition reaches a March member but not a reader holding
    only February; the public post reaches both."""
    await periods.add_password(actx.store, "ld2603", date(2026, 3, 1), date(2026, 3, 31), "2026-03")
    february = await reader(actx, "feb", delivery="edition")
    await passwords.unlock(actx.store, february, "ld2602")
    march = await reader(actx, "mar", delivery="edition")
    await passwords.unlock(actx.store, march, "ld2603")
    await publish.publish_post(actx, "3-2-ben-zhou-feng-xian", by="test")
    await publish.publish_post(actx, "2026-02-20-public-new-year", by="test")
    edition, queued = await make_edition(actx.store, utcnow())
    assert edition is not None and len(edition.publication_ids) == 2 and queued == 2
    channel = ConsoleChannel()
    await send_queued(actx.store, registry(), {"console": channel})
    [feb_text], [mar_text] = channel.inbox["feb"], channel.inbox["mar"]
    assert "合集：1 篇摘要" in feb_text and "节后第一篇" in feb_text
    assert "3月第一周" not in feb_text
    assert "合集：2 篇摘要" in mar_text and "3月第一周" in mar_text
