"""The dispatcher when the database fails under it (digests/outbox/dispatcher.py and
recorder.py), on SQLite and PostgreSQL: outcomes that could not be written are kept and
written later, a sender that cannot record stops sending, a running send's claims are nobody
else's, and a send whose claims were taken over stops. The database refuses writes through a
trigger, a real error."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from datetime import timedelta

from sqlalchemy import insert, text, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from bot.console import ConsoleChannel
from digests.kinds import registry
from digests.models import Delivery, Subscriber, utcnow
from digests.outbox.dispatcher import FLUSH_ROWS, IN_FLIGHT, requeue_orphans, send_queued
from digests.outbox.recorder import Recorder
from digests.outbox.types import ClaimedRow, Counts, Reader, SendResult
from digests.publishing import publish
from digests.publishing.context import AdminContext
from digests.replies import Reply
from tests.conftest import subscriber_rows

REFUSE = {
    "sqlite": [
        "CREATE TRIGGER refuse_writes BEFORE UPDATE ON delivery "
        "BEGIN SELECT RAISE(ABORT, 'database unavailable'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_writes() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'database unavailable'; END $$",
        "CREATE TRIGGER refuse_writes BEFORE UPDATE ON delivery "
        "FOR EACH STATEMENT EXECUTE FUNCTION refuse_writes()",
    ],
}
ALLOW = {
    "sqlite": ["DROP TRIGGER refuse_writes"],
    "postgresql": ["DROP TRIGGER refuse_writes ON delivery", "DROP FUNCTION refuse_writes()"],
}


async def refuse_writes(engine: AsyncEngine, refuse: bool = True) -> None:
    """Every UPDATE of an outbox row fails from now on (or works again: refuse=False)."""
    async with engine.begin() as conn:
        for statement in (REFUSE if refuse else ALLOW)[engine.dialect.name]:
            await conn.execute(text(statement))


async def publish_to(actx: AdminContext, readers: int) -> None:
    """`readers` console readers and the public sample post published to them."""
    async with actx.store.sessions() as session, session.begin():
        await session.exec(insert(Subscriber), params=subscriber_rows(readers, channel="console"))
    await publish.publish_post(actx, "2026-02-20-public-new-year", by="test")


async def statuses(actx: AdminContext) -> Counter[str]:
    async with actx.store.sessions() as session:
        return Counter((await session.exec(select(Delivery.status))).all())


class Gated(ConsoleChannel):
    """A console channel whose sends wait for `gate` (a slow platform); `entered` counts them."""

    def __init__(self) -> None:
        super().__init__()
        self.gate, self.entered = asyncio.Event(), 0

    async def send(self, subscriber: Reader, reply: Reply) -> SendResult:
        self.entered += 1
        await self.gate.wait()
        return await super().send(subscriber, reply)


async def entered(channel: Gated, sends: int) -> None:
    while channel.entered < sends:  # noqa: ASYNC110 (the lanes run on this loop)
        await asyncio.sleep(0.01)


async def test_an_outcome_that_could_not_be_written_is_kept_and_written_later(
    actx: AdminContext, engine: AsyncEngine
) -> None:
    """A flush whose UPDATE fails keeps its outcomes (rows stay `sending`, the lanes' slots
    stay taken); the next flush, once the database takes writes, records them."""
    await publish_to(actx, 3)
    async with actx.store.sessions() as session, session.begin():
        rows = (await session.exec(select(Delivery))).all()
        for row in rows:
            row.status, row.claimed_by = "sending", "here:1:1"
    claims = [ClaimedRow(r.id or 0, r.kind, r.ref, r.channel, r.subscriber_id, 0) for r in rows]
    recorder = Recorder(actx.store, "here:1:1", Counts(), None, slots=3, timely=registry().timely)
    for claim in claims:
        await recorder.slots.acquire()
        await recorder.add(claim, SendResult("ok", message_ids=[7]), held=True)
    await refuse_writes(engine)
    assert not await recorder.flush()
    assert not await recorder.flush()  # still refused: still kept
    assert await statuses(actx) == {"sending": 3} and recorder.slots.locked()
    await refuse_writes(engine, False)
    assert await recorder.flush()
    assert await statuses(actx) == {"sent": 3} and not recorder.slots.locked()


async def test_a_send_waits_out_refused_writes_and_sends_each_row_once(
    actx: AdminContext, engine: AsyncEngine
) -> None:
    """Writes refused for a second mid-run: the lanes send at most IN_FLIGHT + FLUSH_ROWS
    messages they cannot record, then wait; once writes work, everything is recorded and the
    run finishes: each reader gets the message once, every row is `sent`."""

    class Outage(ConsoleChannel):
        refused, during = False, 0

        async def send(self, subscriber: Reader, reply: Reply) -> SendResult:
            if len(self.inbox) == 50 and not restore:
                restore.append(asyncio.create_task(self.restore()))
                await refuse_writes(engine)
                self.refused = True  # from now on: writes made before the trigger worked
            self.during += self.refused
            return await super().send(subscriber, reply)

        async def restore(self) -> None:
            await asyncio.sleep(1.0)
            await refuse_writes(engine, False)
            self.refused = False

    restore: list[asyncio.Task[None]] = []
    await publish_to(actx, 300)
    channel = Outage()
    counts = await send_queued(actx.store, registry(), {"console": channel})
    assert restore and 0 < channel.during <= IN_FLIGHT + FLUSH_ROWS
    assert counts.sent == 300 and await statuses(actx) == {"sent": 300}
    assert len(channel.inbox) == 300 and all(len(m) == 1 for m in channel.inbox.values())


async def test_a_running_sends_claims_are_neither_requeued_nor_taken_after_their_lease(
    actx: AdminContext,
) -> None:
    """While a send holds its claims (its platform is slow), requeue_orphans puts back only
    the row of a sender not running here, and another send after the leases ran out takes
    none of the running send's rows: each reader gets the message once."""
    await publish_to(actx, 20)
    async with actx.store.sessions() as session, session.begin():
        orphan = (await session.exec(select(Delivery).limit(1))).one()
        orphan.status, orphan.claimed_by = "sending", "elsewhere:1:1"
        orphan.lease_until = utcnow() + timedelta(minutes=5)
    slow = Gated()
    first = asyncio.create_task(send_queued(actx.store, registry(), {"console": slow}, in_flight=4))
    await entered(slow, 4)
    assert await requeue_orphans(actx.store) == 1
    async with actx.store.sessions() as session, session.begin():
        await session.exec(  # time passes: every lease has run out
            update(Delivery).values(lease_until=utcnow() - timedelta(seconds=1))
        )
    quick = ConsoleChannel()
    second = await send_queued(actx.store, registry(), {"console": quick})
    slow.gate.set()
    assert (await first).sent + second.sent == 20 and second.sent <= 1
    inboxes = Counter(list(slow.inbox) + list(quick.inbox))
    assert len(inboxes) == 20 and set(inboxes.values()) == {1}
    assert await statuses(actx) == {"sent": 20}


async def test_a_send_whose_claims_another_leader_took_stops_sending(
    actx: AdminContext,
) -> None:
    """Another process's new leader re-queues our claims mid-run (we lost the lock): the run
    writes what it sent, sees its rows taken and sends nothing more, at most its slots'
    worth after the takeover; the new leader's send finishes, each reader once."""
    await publish_to(actx, 100)
    slow = Gated()
    first = asyncio.create_task(send_queued(actx.store, registry(), {"console": slow}, in_flight=4))
    await entered(slow, 4)
    async with actx.store.sessions() as session, session.begin():
        await session.exec(  # what requeue_orphans does in another process
            update(Delivery)
            .where(col(Delivery.status) == "sending")
            .values(status="queued", lease_until=None, claimed_by=None)
        )
    slow.gate.set()
    stopped = await first
    assert 4 <= stopped.sent <= 4 + FLUSH_ROWS
    quick = ConsoleChannel()
    assert (
        await send_queued(actx.store, registry(), {"console": quick})
    ).sent == 100 - stopped.sent
    inboxes = Counter(list(slow.inbox) + list(quick.inbox))
    assert len(inboxes) == 100 and set(inboxes.values()) == {1}


async def test_a_cancelled_send_puts_back_at_once_what_it_never_sent(
    actx: AdminContext,
) -> None:
    """Cancelled mid-run (shutdown): rows it claimed but never handed to the platform are
    queued again at once; rows whose send was cut off stay claimed until their lease ends."""
    await publish_to(actx, 20)
    slow = Gated()
    run = asyncio.create_task(send_queued(actx.store, registry(), {"console": slow}, in_flight=4))
    await entered(slow, 4)
    run.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await run
    assert await statuses(actx) == {"queued": 16, "sending": 4}
