"""The dispatcher (digests/outbox/dispatcher.py) through the console channel, on SQLite and
PostgreSQL: a publication reaches the entitled once, entitlement is checked again at send time,
a blocked reader is gone, concurrent senders and a crashed one send each row once, transient
failures back off, and the progress it reports."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import insert
from sqlmodel import col, select

from bot.console import ConsoleChannel
from digests import db
from digests.kinds import registry
from digests.models import Delivery, Status, Subscriber, utcnow
from digests.outbox.dispatcher import send_queued
from digests.outbox.progress import publication_progress
from digests.outbox.types import Reader, SendResult
from digests.publishing import publish
from digests.publishing.context import AdminContext
from digests.readers import account, passwords
from digests.replies import Reply, StoreContext
from tests.conftest import SHANGHAI, fresh, reader, subscriber_rows


async def test_publish_reaches_the_entitled_once_and_not_the_others(actx: AdminContext) -> None:
    """Gated post → only the unlocked reader; public post → both; edition readers wait; a
    second send run sends nothing again."""
    alice, _bob, carol = [await reader(actx, n) for n in ("alice", "bob", "carol")]
    await passwords.unlock(actx.store, alice, "ld2602")
    await account.update_settings(actx.store, carol, delivery="edition")
    await passwords.unlock(actx.store, carol, "ld2602")
    gated = await publish.publish_post(actx, "2-10-zhui-zong", by="test")
    assert "即时推送 1 人" in gated.text
    await publish.publish_post(actx, "2026-02-20-public-new-year", by="test")
    channel = ConsoleChannel()
    counts = await send_queued(actx.store, registry(), {"console": channel})
    assert (counts.sent, counts.failed) == (3, 0)
    assert len(channel.inbox["alice"]) == 2 and len(channel.inbox["bob"]) == 1
    assert "carol" not in channel.inbox
    assert "2.10科技大爆发" not in channel.inbox["bob"][0]
    again = await send_queued(actx.store, registry(), {"console": channel})
    assert again.sent == 0 and len(channel.inbox["alice"]) == 2


async def test_entitlement_is_checked_again_at_send_time(actx: AdminContext) -> None:
    """A reader who unsubscribes after the publish is queued gets nothing."""
    alice = await reader(actx, "alice")
    await passwords.unlock(actx.store, alice, "ld2602")
    await publish.publish_post(actx, "2-10-zhui-zong", by="test")
    await account.update_settings(actx.store, alice, status="stopped")
    channel = ConsoleChannel()
    counts = await send_queued(actx.store, registry(), {"console": channel})
    assert (counts.sent, counts.skipped) == (0, 1) and not channel.inbox


async def test_a_blocked_reader_is_marked_gone_and_gets_nothing_more(actx: AdminContext) -> None:
    """A channel answering 'gone' (Telegram 403) marks the subscriber gone for good."""

    class Blocking(ConsoleChannel):
        async def send(self, subscriber: Reader, reply: Reply) -> SendResult:
            return SendResult("gone", detail="Forbidden: bot was blocked by the user")

    dave = await reader(actx, "dave")
    await publish.publish_post(actx, "2026-02-20-public-new-year", by="test")
    counts = await send_queued(actx.store, registry(), {"console": Blocking()})
    assert counts.gone == [dave.id] and (await fresh(actx, dave)).status == "gone"
    await publish.publish_post(actx, "2026-02-20-public-new-year", by="test", again=True)
    channel = ConsoleChannel()
    assert (await send_queued(actx.store, registry(), {"console": channel})).sent == 0


async def test_two_send_loops_side_by_side_send_each_row_once(actx: AdminContext) -> None:
    """A publish's send and the scheduler's tick running together: every row goes out once."""
    for name in ("r1", "r2", "r3", "r4", "r5"):
        await reader(actx, name)
    await publish.publish_post(actx, "2026-02-20-public-new-year", by="test")
    channel = ConsoleChannel()
    first, second = await asyncio.gather(
        send_queued(actx.store, registry(), {"console": channel}),
        send_queued(actx.store, registry(), {"console": channel}),
    )
    assert first.sent + second.sent == 5
    assert all(len(inbox) == 1 for inbox in channel.inbox.values()) and len(channel.inbox) == 5


async def test_a_crashed_senders_rows_are_sent_after_the_lease_and_sent_rows_never_again(
    actx: AdminContext,
) -> None:
    """A row left `sending` by a killed sender goes out once its lease has run out; a row
    still leased is left alone; a row marked sent is never sent again."""
    for name in ("r1", "r2", "r3"):
        await reader(actx, name)
    await publish.publish_post(actx, "2026-02-20-public-new-year", by="test")
    async with actx.store.sessions() as session, session.begin():
        rows = (await session.exec(select(Delivery).order_by(col(Delivery.id)))).all()
        crashed, leased, done = rows
        crashed.status, crashed.lease_until = "sending", utcnow() - timedelta(seconds=1)
        leased.status, leased.lease_until = "sending", utcnow() + timedelta(minutes=5)
        done.status = "sent"
    channel = ConsoleChannel()
    counts = await send_queued(actx.store, registry(), {"console": channel})
    assert counts.sent == 1 and list(channel.inbox) == ["r1"]


STORED = ["queued", "sending", "sent", "failed", "skipped", "waiting"]


def test_statuses_are_the_strings_stored_rows_hold() -> None:
    """Status's values are the `delivery.status` strings, in lifecycle order: rows written
    before the enum keep their meaning, and the CLI prints the same words."""
    assert [status.value for status in Status] == STORED
    assert f"{Status.WAITING}" == "waiting" and Status("sent") is Status.SENT


async def test_publication_progress_counts_and_rate(actx: AdminContext) -> None:
    """`digestbot deliveries`: per publication counts by status, then nothing left to send."""
    for name in ("r1", "r2"):
        await reader(actx, name)
    await publish.publish_post(actx, "2026-02-20-public-new-year", by="test")
    [before] = await publication_progress(actx.store)
    assert (before["queued"], before["sent"], before["title"]) == (2, 0, "节后第一篇：写给新朋友")
    assert list(before)[:7] == ["publication", *STORED]  # the --json keys, in this order
    await send_queued(actx.store, registry(), {"console": ConsoleChannel()})
    [after] = await publication_progress(actx.store)
    assert (after["queued"], after["sent"], after["eta_seconds"]) == (0, 2, 0)


async def test_two_senders_with_their_own_pools_deliver_2000_messages_exactly_once(
    actx: AdminContext, database_url: str
) -> None:
    """Like two processes sharing one database: each claims batches (SKIP LOCKED on
    PostgreSQL) and between them every row is sent exactly once."""
    rows = subscriber_rows(2000, channel="console")
    async with actx.store.sessions() as session, session.begin():
        await session.exec(insert(Subscriber), params=rows)
    await publish.publish_post(actx, "2026-02-20-public-new-year", by="test")
    channel = ConsoleChannel()
    async with db.open_engine(database_url) as other:
        second = StoreContext(db.make_sessionmaker(other), SHANGHAI)
        one, two = await asyncio.gather(
            send_queued(actx.store, registry(), {"console": channel}, batch=100),
            send_queued(second, registry(), {"console": channel}, batch=100),
        )
    assert one.sent + two.sent == 2000 and one.sent > 0 and two.sent > 0
    assert len(channel.inbox) == 2000 and all(len(m) == 1 for m in channel.inbox.values())


async def test_transient_failures_back_off_then_fail_for_good(actx: AdminContext) -> None:
    """A 5xx-like failure requeues the row with a growing backoff (other rows go on); after
    five tries it is `failed`."""

    class Flaky(ConsoleChannel):
        async def send(self, subscriber: Reader, reply: Reply) -> SendResult:
            return SendResult("transient", detail="HTTP 502 Bad Gateway")

    await reader(actx, "alice")
    await publish.publish_post(actx, "2026-02-20-public-new-year", by="test")
    waits = []
    for _ in range(5):
        counts = await send_queued(actx.store, registry(), {"console": Flaky()})
        async with actx.store.sessions() as session:
            row = (await session.exec(select(Delivery))).one()
        if row.next_attempt_at is None:
            break
        waits.append((row.next_attempt_at - utcnow()).total_seconds())
        # still backing off: a send run now leaves it alone
        assert (await send_queued(actx.store, registry(), {"console": Flaky()})).retried == 0
        async with actx.store.sessions() as session, session.begin():
            due = await session.get(Delivery, row.id)
            assert due is not None
            due.next_attempt_at = utcnow()  # time passes
    assert (counts.failed, row.status, row.attempts) == (1, "failed", 5)
    assert [round(w / 30) for w in waits] == [1, 2, 4, 8] and "502" in row.last_error
