"""The dispatcher: claims due outbox rows, checks entitlement, sends through a Channel, and
records the outcomes, a batch at a time.

    feeder ──claims 200 rows (one UPDATE … RETURNING; FOR UPDATE SKIP LOCKED on PostgreSQL)──┐
      └─ prepares them in one session: subscribers, entitlement, the message each row carries │
    16 lanes (a subscriber always in the same lane, so one reader's messages keep order) ◄──┘
      └─ channel.send() (the channel paces) ──► recorder: outcomes written 32 rows per statement

The feeder claims the next batch while the lanes still send the current one, so the rate never
dips at batch ends. Every claim names its run (`claimed_by`). At most IN_FLIGHT + FLUSH_ROWS
messages are ever sent without their outcome written (digests/outbox/recorder.py): that is what
a `kill -9` or a database outage can cost (docs/architecture.md, "Crash safety"). While the
database is away the run waits: claims and writes are tried again, and the lanes send nothing
new until the outcomes are written. Rows of a run that died are sent again once their lease runs
out, or at once when a new leader takes over (only the leader sends: digests/outbox/leader.py);
rows a running send of this process holds are left to it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import secrets
import socket
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import col

from digests.db import reason
from digests.models import Delivery, Status, Subscriber, table_of, utcnow
from digests.outbox.recorder import FLUSH_ROWS, Recorder, patiently
from digests.outbox.types import Batch, Channel, ClaimedRow, Counts, Kinds, Reader, SendResult
from digests.redact import error_text
from digests.replies import Reply, StoreContext

log = logging.getLogger(__name__)
LEASE = timedelta(minutes=5)  # longer than one send with its retries
NOT_ENTITLED = "not entitled at send time"
IN_FLIGHT = 16  # lanes, so network latency does not cap the rate (a channel may ask for more)
CLAIM_BATCH = 200
# This process's running sends (claimed_by values): a leader's requeue and an expired lease
# leave their rows alone, since each will send and record what it holds.
LIVE: set[str] = set()
_RUNS = itertools.count(1)
# host:pid:random, so two containers with the same host name and pid never share a claimant
_PROCESS = f"{socket.gethostname()[:32]}:{os.getpid()}:{secrets.token_hex(3)}"

Item = tuple[ClaimedRow, Reader, Reply]


async def send_queued(
    ctx: StoreContext,
    kinds: Kinds,
    channels: dict[str, Channel],
    *,
    in_flight: int | None = None,
    batch: int = CLAIM_BATCH,
    progress: Callable[[Counts], None] | None = None,
    stop: asyncio.Event | None = None,
) -> Counts:
    """Send every due row whose channel is here, until none is due; returns what happened.
    Waits out a database outage (nothing is sent meanwhile beyond the lanes' slots). Once
    `stop` is set, nothing new is handed to a channel: the sends under way finish and are
    recorded, and every claim not sent is put back in the queue (a clean shutdown)."""
    counts = Counts()
    claimant = f"{_PROCESS}:{next(_RUNS)}"
    stop = stop or asyncio.Event()
    if in_flight is None:  # lanes: what the most demanding channel asks for (Channel)
        in_flight = max(getattr(channel, "lanes", IN_FLIGHT) for channel in channels.values())
    LIVE.add(claimant)
    try:
        # a claim whose answer was lost to an outage is held by us but unknown: put back in
        # the queue at the end of a pass, and sent by another pass
        while await _pass(ctx, kinds, channels, claimant, counts, in_flight, batch, progress, stop):
            if stop.is_set():
                break
    finally:
        LIVE.discard(claimant)
    return counts


async def _pass(
    ctx: StoreContext,
    kinds: Kinds,
    channels: dict[str, Channel],
    claimant: str,
    counts: Counts,
    in_flight: int,
    batch: int,
    progress: Callable[[Counts], None] | None,
    stop: asyncio.Event,
) -> int:
    """Claim and send until nothing is due (or `stop`); returns how many claims were put
    back unsent."""
    slots = max(1, in_flight) + FLUSH_ROWS
    recorder = Recorder(ctx, claimant, counts, progress, slots=slots, timely=kinds.timely)
    lanes: list[asyncio.Queue[Item | None]] = [asyncio.Queue() for _ in range(max(1, in_flight))]
    room = asyncio.Semaphore(batch)  # claim ahead by one batch at most: short leases, fresh checks
    cache: dict[str, Any] = {}
    started: set[int] = set()  # handed to a channel, outcome not buffered yet
    failed: list[BaseException] = []  # the feeder's error: the lanes send nothing more

    async def feed() -> None:
        try:
            while not recorder.lost and not stop.is_set():
                await recorder.writable.wait()  # a sender that cannot record claims nothing
                claimed = await patiently(
                    "claim due rows", _claim_batch, ctx, list(channels), batch, claimant
                )
                if not claimed:
                    return
                for item in await patiently(
                    "prepare rows", _prepare, ctx, kinds, claimed, cache, recorder
                ):
                    await room.acquire()
                    lanes[item[0].subscriber_id % len(lanes)].put_nowait(item)
        except Exception as exc:
            failed.append(exc)
            raise
        finally:
            for lane in lanes:
                lane.put_nowait(None)

    async def work(lane: asyncio.Queue[Item | None]) -> None:
        while (item := await lane.get()) is not None:
            delivery, subscriber, reply = item
            # back-pressure: nothing new while writes fail, nor more than the slots unwritten
            await recorder.writable.wait()
            await recorder.slots.acquire()
            if failed or recorder.lost or stop.is_set():
                recorder.slots.release()
                room.release()
                continue
            started.add(delivery.id)
            try:
                result = await channels[delivery.channel].send(subscriber, reply)
            except Exception as exc:  # a channel bug must not strand the rest of the batch
                log.exception("channel %s raised", delivery.channel)
                result = SendResult("transient", detail=error_text(exc))
            await recorder.add(delivery, result, held=True)
            started.discard(delivery.id)
            room.release()

    async def finish(*, patient: bool) -> int:
        if not await recorder.close(flusher, patient=patient):
            return 0  # outcomes unwritten: which claims were sent is unknown
        # every outcome is written: what we still hold was never sent (the run stopped early,
        # or a claim's answer was lost to an outage), except sends cut off by a cancel
        return await _release(ctx, claimant, started)

    flusher = asyncio.create_task(recorder.run())
    try:
        results = await asyncio.gather(
            feed(), *(work(lane) for lane in lanes), return_exceptions=True
        )
    except asyncio.CancelledError:
        await asyncio.shield(finish(patient=False))  # shutting down: one last try
        raise
    put_back = await finish(patient=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return 0 if recorder.lost else put_back


async def _release(ctx: StoreContext, claimant: str, started: set[int]) -> int:
    """Our claims not sent, except `started` ones (their fate is unknown): queued again."""
    table = table_of(Delivery)
    try:
        async with ctx.sessions() as session, session.begin():
            conn = await session.connection()
            result = await conn.execute(
                update(table)
                .where(
                    table.c.claimed_by == claimant,
                    table.c.status == Status.SENDING,
                    table.c.id.not_in(started),
                )
                .values(status=Status.QUEUED, lease_until=None, claimed_by=None)
            )
    except Exception as exc:  # the lease or the next leader's requeue frees them instead
        log.warning("could not put back unsent claims: %s", reason(exc))
        return 0
    return int(result.rowcount or 0)


def _not_running_here() -> Any:
    """Rows no send of this process holds (unclaimed, or claimed by a run not running here)."""
    holder = col(Delivery.claimed_by)
    return or_(holder.is_(None), holder.not_in(sorted(LIVE)))


def _due(now: datetime) -> Any:
    """Queued and not backing off, or claimed by a sender whose lease ran out (it crashed, or
    has been cut off from the database that long) and that is not a running send of ours."""
    ready = or_(col(Delivery.next_attempt_at).is_(None), col(Delivery.next_attempt_at) <= now)
    expired = and_(
        col(Delivery.status) == Status.SENDING, col(Delivery.lease_until) < now, _not_running_here()
    )
    return or_(and_(col(Delivery.status) == Status.QUEUED, ready), expired)


async def _claim_batch(
    ctx: StoreContext, channels: list[str], size: int, claimant: str
) -> list[ClaimedRow]:
    """Due → sending with a lease and our name, up to `size` rows, in one statement."""
    now = utcnow()
    table = table_of(Delivery)
    due_ids = (
        sa_select(table.c.id)
        .where(_due(now), table.c.channel.in_(channels))
        .order_by(table.c.id)
        .limit(size)
        .with_for_update(skip_locked=True)  # PostgreSQL; SQLite's one writer needs no lock
    )
    async with ctx.sessions() as session, session.begin():
        conn = await session.connection()
        rows = await conn.execute(
            update(table)
            .where(table.c.id.in_(due_ids))
            .values(status=Status.SENDING, lease_until=now + LEASE, claimed_by=claimant)
            .returning(*(table.c[name] for name in ClaimedRow.__slots__))
        )
        claimed = [ClaimedRow(*row) for row in rows]
    return sorted(claimed, key=lambda d: d.id)


async def requeue_orphans(ctx: StoreContext) -> int:
    """Rows left `sending` by senders that are not running here: back to the queue now. Only
    the leader sends, so a new leader calls this before its first claim instead of waiting out
    the leases. A send of this process that outlived a lost lock (the database was away) keeps
    its rows and records them; another process's run that still holds some finds them gone
    when it next records (claimed_by cleared) and stops: at most its unrecorded sends (the
    crash bound) go out twice."""
    async with ctx.sessions() as session, session.begin():
        result = await session.exec(
            update(Delivery)
            .where(col(Delivery.status) == Status.SENDING, _not_running_here())
            .values(status=Status.QUEUED, lease_until=None, claimed_by=None)
        )
    return int(result.rowcount or 0)


async def wake_waiting(ctx: StoreContext, subscriber_id: int) -> int:
    """The reader wrote to us: their `waiting` rows are due now (rows backing off keep their
    time: the reader's message changes nothing for a failing API)."""
    async with ctx.sessions() as session, session.begin():
        result = await session.exec(
            update(Delivery)
            .where(
                col(Delivery.subscriber_id) == subscriber_id,
                col(Delivery.status) == Status.WAITING,
            )
            .values(status=Status.QUEUED, next_attempt_at=None)
        )
    return int(result.rowcount or 0)


async def resolve(
    ctx: StoreContext, kinds: Kinds, claimed: list[ClaimedRow], cache: dict[str, Any]
) -> list[tuple[ClaimedRow, Reader | None, Reply | None]]:
    """Each row with its active reader and the message it carries now (None: the reader left
    or is not entitled any more), in one session: the dispatcher and WeChat's mass-send."""
    async with ctx.sessions() as session:
        table = table_of(Subscriber)
        conn = await session.connection()  # plain rows: an ORM load per reader costs 0.1 ms
        found = await conn.execute(
            sa_select(*(table.c[name] for name in Reader.__slots__)).where(
                table.c.id.in_({d.subscriber_id for d in claimed}), table.c.status == "active"
            )
        )
        readers = {row.id: Reader(*row) for row in found}
        replies: dict[int, Reply | None] = {}
        for kind in {d.kind for d in claimed}:
            rows = [d for d in claimed if d.kind == kind]
            if kind in kinds.by_name:
                batch = Batch(session, ctx, readers, cache)
                replies.update(await kinds.by_name[kind].resolve(batch, rows))
    return [(d, readers.get(d.subscriber_id), replies.get(d.id)) for d in claimed]


async def _prepare(
    ctx: StoreContext,
    kinds: Kinds,
    claimed: list[ClaimedRow],
    cache: dict[str, Any],
    recorder: Recorder,
) -> list[Item]:
    """The batch's readers and messages; rows with nothing to send are skipped."""
    ready = []
    for delivery, reader, reply in await resolve(ctx, kinds, claimed, cache):
        if reply is None or reader is None:
            await recorder.add(delivery, SendResult("ok"), skipped=NOT_ENTITLED)
        else:
            ready.append((delivery, reader, reply))
    return ready
