"""The dispatcher: claims due outbox rows, checks entitlement, sends through a Channel, and
records the outcomes, a batch at a time.

    feeder ──claims 200 rows (one UPDATE … RETURNING; FOR UPDATE SKIP LOCKED on PostgreSQL)──┐
      └─ prepares them in one session: subscribers, entitlement, the message each row carries │
    16 lanes (a subscriber always in the same lane, so one reader's messages keep order) ◄──┘
      └─ channel.send() (the channel paces) ──► recorder: outcomes written 32 rows per statement

The feeder claims the next batch while the lanes still send the current one, so the rate never
dips at batch ends. A `kill -9` can leave at most IN_FLIGHT + FLUSH_ROWS rows sent but not
marked (see README, "Crash safety"); they are sent again once their lease runs out, or at once
when a new leader takes over (only the leader sends: digests/leader.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import col

from digests import editions  # noqa: F401 (registers the edition resolver)
from digests.calendar import reminders  # noqa: F401 (registers the reminder resolver)
from digests.members import MemberContext, Reply
from digests.models import Delivery, Subscriber, utcnow
from digests.outbox import (
    RESOLVERS,
    TIMELY,
    Batch,
    Channel,
    Claim,
    Counts,
    Reader,
    SendResult,
)

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5  # sends of one row before it is `failed` (the admins hear of it)
BACKOFF = 30.0  # seconds before the second try; doubling after
LEASE = timedelta(minutes=5)  # longer than one send with its retries
NOT_ENTITLED = "not entitled at send time"
IN_FLIGHT = 16  # lanes, so network latency does not cap the rate
CLAIM_BATCH = 200
FLUSH_ROWS = 32  # outcomes written per statement; with IN_FLIGHT, the crash bound
FLUSH_SECONDS = 0.2


async def send_queued(
    ctx: MemberContext,
    channels: dict[str, Channel],
    *,
    in_flight: int = IN_FLIGHT,
    batch: int = CLAIM_BATCH,
    progress: Callable[[Counts], None] | None = None,
) -> Counts:
    """Send every due row whose channel is here, until none is due; returns what happened."""
    counts = Counts()
    recorder = _Recorder(ctx, counts, progress)
    lanes: list[asyncio.Queue[tuple[Claim, Reader, Reply] | None]] = [
        asyncio.Queue() for _ in range(max(1, in_flight))
    ]
    room = asyncio.Semaphore(batch)  # claim ahead by one batch at most: short leases, fresh checks
    cache: dict[str, Any] = {}

    async def feed() -> None:
        try:
            while claimed := await _claim_batch(ctx, list(channels), batch):
                for delivery, subscriber, reply in await _prepare(ctx, claimed, cache, recorder):
                    await room.acquire()
                    lanes[delivery.subscriber_id % len(lanes)].put_nowait(
                        (delivery, subscriber, reply)
                    )
        finally:
            for lane in lanes:
                lane.put_nowait(None)

    async def work(lane: asyncio.Queue[tuple[Claim, Reader, Reply] | None]) -> None:
        while (item := await lane.get()) is not None:
            delivery, subscriber, reply = item
            try:
                result = await channels[delivery.channel].send(subscriber, reply)
            except Exception as exc:  # a channel bug must not strand the rest of the batch
                log.exception("channel %s raised", delivery.channel)
                result = SendResult("transient", detail=f"{type(exc).__name__}: {exc}")
            await recorder.add(delivery, result)
            room.release()

    flusher = asyncio.create_task(recorder.run())
    try:
        await asyncio.gather(feed(), *(work(lane) for lane in lanes))
    finally:
        await recorder.close(flusher)
    return counts


def _due(now: datetime) -> Any:
    """Queued and not backing off, or claimed by a sender whose lease ran out (it crashed)."""
    ready = or_(col(Delivery.next_attempt_at).is_(None), col(Delivery.next_attempt_at) <= now)
    expired = and_(col(Delivery.status) == "sending", col(Delivery.lease_until) < now)
    return or_(and_(col(Delivery.status) == "queued", ready), expired)


async def _claim_batch(ctx: MemberContext, channels: list[str], size: int) -> list[Claim]:
    """Due → sending with a lease, up to `size` rows, in one statement."""
    now = utcnow()
    table = Delivery.__table__  # type: ignore[attr-defined]
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
            .values(status="sending", lease_until=now + LEASE)
            .returning(*(table.c[name] for name in Claim.__slots__))
        )
        claimed = [Claim(*row) for row in rows]
    return sorted(claimed, key=lambda d: d.id)


async def requeue_orphans(ctx: MemberContext) -> int:
    """Rows left `sending` by a sender that died: back to the queue now. Only the leader sends,
    so a new leader calls this before its first claim instead of waiting out the leases."""
    async with ctx.sessions() as session, session.begin():
        result = await session.exec(
            update(Delivery)
            .where(col(Delivery.status) == "sending")
            .values(status="queued", lease_until=None)
        )
    return int(result.rowcount or 0)


async def wake_waiting(ctx: MemberContext, subscriber_id: int) -> int:
    """The reader wrote to us: their `waiting` rows are due now (rows backing off keep their
    time: the reader's message changes nothing for a failing API)."""
    async with ctx.sessions() as session, session.begin():
        result = await session.exec(
            update(Delivery)
            .where(
                col(Delivery.subscriber_id) == subscriber_id,
                col(Delivery.status) == "waiting",
            )
            .values(status="queued", next_attempt_at=None)
        )
    return int(result.rowcount or 0)


async def resolve(
    ctx: MemberContext, claimed: list[Claim], cache: dict[str, Any]
) -> list[tuple[Claim, Reader | None, Reply | None]]:
    """Each row with its active reader and the message it carries now (None: the reader left
    or is not entitled any more), in one session: the dispatcher and WeChat's mass-send."""
    async with ctx.sessions() as session:
        table = Subscriber.__table__  # type: ignore[attr-defined]
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
            if kind in RESOLVERS:
                replies.update(await RESOLVERS[kind](Batch(session, ctx, readers, cache), rows))
    return [(d, readers.get(d.subscriber_id), replies.get(d.id)) for d in claimed]


async def _prepare(
    ctx: MemberContext, claimed: list[Claim], cache: dict[str, Any], recorder: _Recorder
) -> list[tuple[Claim, Reader, Reply]]:
    """The batch's readers and messages; rows with nothing to send are skipped."""
    ready = []
    for delivery, reader, reply in await resolve(ctx, claimed, cache):
        if reply is None or reader is None:
            await recorder.add(delivery, SendResult("ok"), skipped=NOT_ENTITLED)
        else:
            ready.append((delivery, reader, reply))
    return ready


class _Recorder:
    """Outcomes buffered and written FLUSH_ROWS at a time (or every FLUSH_SECONDS): one UPDATE
    statement per flush, instead of a transaction per message."""

    def __init__(self, ctx: MemberContext, counts: Counts, progress: Any) -> None:
        self.ctx, self.counts, self.progress = ctx, counts, progress
        self.rows: list[dict[str, Any]] = []
        self.gone: list[tuple[int, str]] = []
        self.full = asyncio.Event()
        self.lock = asyncio.Lock()
        self.closing = False

    async def add(self, delivery: Claim, result: SendResult, *, skipped: str = "") -> None:
        counts, status, retry_in = self.counts, "sent", 0.0
        attempted = 1
        if skipped:
            status, counts.skipped = "skipped", counts.skipped + 1
        elif result.outcome == "wait" and delivery.kind in TIMELY:
            status, counts.skipped = "skipped", counts.skipped + 1  # worthless late
        elif result.outcome == "wait":  # claimed by nothing until the reader writes (wake_waiting)
            status, attempted = "waiting", 0  # or WeChat's daily mass-send takes it (bot/wechat)
            counts.waiting += 1
        elif result.outcome in ("retry", "transient") and delivery.attempts + 1 < MAX_ATTEMPTS:
            # 5xx, network errors, a 429 the channel could not wait out: back off; a later run
            # (the delivery tick) takes the row again, and the other rows go on meanwhile
            retry_in = max(result.retry_after, BACKOFF * 2**delivery.attempts)
            status, counts.retried = "queued", counts.retried + 1
        elif result.outcome == "ok":
            counts.sent += 1
        elif result.outcome == "gone":
            status, counts.skipped = "skipped", counts.skipped + 1
            counts.gone.append(delivery.subscriber_id)
            self.gone.append((delivery.subscriber_id, result.detail))
        else:
            log.warning("delivery %s failed: %s", delivery.id, result.detail)
            status, counts.failed = "failed", counts.failed + 1
        now = utcnow()
        self.rows.append(
            {
                "row_id": delivery.id,
                "status": status,
                "error": skipped or result.detail,
                "sent_at": now if status == "sent" else None,
                "next_at": now + timedelta(seconds=retry_in) if retry_in else None,
                "ids": result.message_ids or None,  # NULL, not JSON null (none_as_null)
                "tried": attempted,
            }
        )
        if len(self.rows) >= FLUSH_ROWS:
            self.full.set()

    async def run(self) -> None:
        """Flush every FLUSH_SECONDS, or sooner when FLUSH_ROWS wait; until close()."""
        while not self.closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.full.wait(), FLUSH_SECONDS)
            await self.flush()

    async def flush(self) -> None:
        """Write the buffered outcomes. Shielded: a cancelled send run still records what it
        sent (else those rows would be sent again), and no connection is left mid-transaction
        holding SQLite's write lock."""
        await asyncio.shield(self._flush())

    async def _flush(self) -> None:
        async with self.lock:
            self.full.clear()
            rows, gone, self.rows, self.gone = self.rows, self.gone, [], []
            if not rows:
                return
            table = Delivery.__table__  # type: ignore[attr-defined]
            async with self.ctx.sessions() as session, session.begin():
                conn = await session.connection()
                await conn.execute(
                    update(table)
                    .where(table.c.id == bindparam("row_id"))
                    .values(
                        status=bindparam("status"),
                        last_error=bindparam("error"),
                        sent_at=bindparam("sent_at"),
                        next_attempt_at=bindparam("next_at"),
                        message_ids=bindparam("ids"),
                        attempts=table.c.attempts + bindparam("tried"),
                        lease_until=None,
                    ),
                    rows,
                )
                for subscriber_id, reason in gone:  # blocked or deactivated: nothing more
                    await conn.execute(
                        update(Subscriber.__table__)  # type: ignore[attr-defined]
                        .where(col(Subscriber.id) == subscriber_id)
                        .values(status="gone", gone_reason=reason)
                    )
        if self.progress is not None:
            self.progress(self.counts)

    async def close(self, flusher: asyncio.Task[None]) -> None:
        self.closing = True
        self.full.set()
        await flusher
        await self.flush()
