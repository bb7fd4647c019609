"""The process's one send run (digests/outbox/running.py), on SQLite and PostgreSQL: requests
while a run goes on join it instead of starting a second one, rows queued meanwhile are sent
by it, and stopping it (the app's shutdown) records what went out and puts the rest back."""

from __future__ import annotations

import asyncio
from collections import Counter

from sqlalchemy import insert

from digests.kinds import registry
from digests.models import Subscriber
from digests.outbox.running import SendLoop
from digests.publishing import publish
from digests.publishing.context import AdminContext
from tests.conftest import subscriber_rows
from tests.test_dispatcher_outage import Gated, entered, publish_to, statuses

PUBLIC = "2026-02-20-public-new-year"


async def test_requests_during_a_run_join_it(actx: AdminContext) -> None:
    """Three requests while a run sends (the delivery tick, a publish, the notices) make one
    run: the sends never run two at a time, and everyone gets the message once."""
    await publish_to(actx, 20)
    slow = Gated()
    sending = SendLoop(actx.store, registry(), {"console": slow})
    first = asyncio.create_task(sending.send())
    await entered(slow, 16)  # its lanes are all busy
    others = [asyncio.create_task(sending.send()) for _ in range(3)]
    await asyncio.sleep(0)
    slow.gate.set()
    results = await asyncio.gather(first, *others)
    assert {counts.sent for counts in results} == {20}  # all of them saw the one run
    assert sending.runs == 2  # the run, and once round again for the requests it got
    assert Counter(len(messages) for messages in slow.inbox.values()) == {1: 20}


async def test_rows_queued_during_a_run_are_sent_by_it(actx: AdminContext) -> None:
    """Rows queued while a run is busy is sent by that run (its request makes it
    claim once more), not left for the next delivery tick."""
    await publish_to(actx, 4)
    slow = Gated()
    sending = SendLoop(actx.store, registry(), {"console": slow})
    run = asyncio.create_task(sending.send())
    await entered(slow, 4)
    async with actx.store.sessions() as session, session.begin():
        rows = subscriber_rows(3, channel="console", first=100)
        await session.exec(insert(Subscriber), params=rows)
    await publish.publish_post(actx, PUBLIC, by="test", again=True)  # to the three new ones
    joined = asyncio.create_task(sending.send())
    await asyncio.sleep(0)
    slow.gate.set()
    assert (await run).sent == (await joined).sent
    assert await statuses(actx) == {"sent": 4 + 3}


async def test_stopping_lets_the_sends_under_way_finish_and_puts_back_the_rest(
    actx: AdminContext,
) -> None:
    """The app's shutdown stops the run: the sends under way finish and are recorded, what it
    claimed but never handed to the platform is queued again at once (a restart sends
    nothing twice), a request afterwards sends nothing, and a caller waiting on the run gets
    back what it did."""
    await publish_to(actx, 20)
    slow = Gated()
    sending = SendLoop(actx.store, registry(), {"console": slow})
    waiting = asyncio.create_task(sending.send())
    await entered(slow, 16)
    stopping = asyncio.create_task(sending.stop())
    await asyncio.sleep(0)
    slow.gate.set()  # the platform answers the sends under way
    await stopping
    assert (await waiting).sent == 16 and not sending.running
    assert await statuses(actx) == {"sent": 16, "queued": 4}
    assert (await sending.send()).sent == 0


async def test_a_run_that_cannot_finish_in_time_is_cancelled(actx: AdminContext) -> None:
    """Sends that never end (the platform hangs) do not hold the shutdown past its grace: the
    run is cancelled, its unsent claims are queued again, and the ones cut off mid-send stay
    claimed until their lease runs out (they may have gone out)."""
    await publish_to(actx, 20)
    hung = Gated()
    sending = SendLoop(actx.store, registry(), {"console": hung})
    waiting = asyncio.create_task(sending.send())
    await entered(hung, 16)
    await sending.stop(grace=0.2)
    assert (await waiting).sent == 0
    assert await statuses(actx) == {"queued": 4, "sending": 16}


async def test_a_tick_during_a_run_only_pokes_it(actx: AdminContext) -> None:
    """The delivery tick finds a run going: it asks it to look again and returns at once
    (no second run, no job left waiting); with no run going there is nothing to poke."""
    await publish_to(actx, 20)
    slow = Gated()
    sending = SendLoop(actx.store, registry(), {"console": slow})
    assert not sending.poke()
    run = asyncio.create_task(sending.send())
    await entered(slow, 16)
    assert sending.poke()
    slow.gate.set()
    assert (await run).sent == 20 and sending.runs == 2
