"""The dispatcher's recorder: outcomes of sends, buffered and written FLUSH_ROWS per statement,
and kept until they are written.

A message sent whose outcome is not written yet is a duplicate in waiting (its row is still
`sending`, and is sent again after a crash or a takeover), so:
- an outcome is never dropped: a write that fails (the database is away) keeps the buffer and
  is tried again after a growing pause; the flusher outlives any error;
- a lane takes a slot before it sends, and gets it back when that outcome is written: never
  more than `in_flight + FLUSH_ROWS` messages sent but not recorded (the README's crash bound,
  for a database outage as for `kill -9`); a sender that cannot record stops sending;
- an outcome is written only to a row this run still holds (`claimed_by`), or to one that was
  put back in the queue without being claimed again. A row claimed by someone else means
  another sender took over (a new leader re-queued our claims, or a lease ran out): the run
  has `lost` its claims and sends nothing more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import and_, bindparam, or_, update
from sqlalchemy import select as sa_select
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col

from digests.db import reason
from digests.models import Delivery, Status, Subscriber, table_of, utcnow
from digests.outbox import retry
from digests.outbox.types import ClaimedRow, Counts, SendResult
from digests.replies import StoreContext

log = logging.getLogger(__name__)
FLUSH_ROWS = 32  # outcomes written per statement; with the lanes, the crash bound
FLUSH_SECONDS = 0.2
RETRY_MAX = 2.0  # the longest pause between tries while the database is away
T = TypeVar("T")
P = ParamSpec("P")


async def patiently(
    what: str, attempt: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs
) -> T:
    """`attempt(...)` until the database answers (a pause growing to RETRY_MAX between tries)."""
    pause, since = FLUSH_SECONDS, 0.0
    while True:
        try:
            result = await attempt(*args, **kwargs)
        except (SQLAlchemyError, OSError) as exc:
            if not since:
                since = time.monotonic()
                log.warning(
                    "cannot %s (%s): trying again until the database answers", what, reason(exc)
                )
            await asyncio.sleep(pause)
            pause = min(pause * 2, RETRY_MAX)
            continue
        if since:
            log.warning("could %s again after %.1f s", what, time.monotonic() - since)
        return result


class Recorder:
    """One send run's outcomes, written in batches by the task running `run()`."""

    def __init__(
        self,
        ctx: StoreContext,
        claimant: str,
        counts: Counts,
        progress: Any,
        slots: int,
        *,
        timely: frozenset[str],  # kinds dropped, not held, out of reach (Kinds.timely)
    ) -> None:
        self.ctx, self.claimant, self.counts, self.progress = ctx, claimant, counts, progress
        self.timely = timely
        self.rows: list[tuple[dict[str, Any], bool]] = []  # (the UPDATE's values, held a slot)
        self.writing = 0  # the first rows, being written now
        self.gone: list[tuple[int, str]] = []
        self.slots = asyncio.Semaphore(slots)  # sends whose outcome is not written yet
        self.writable = asyncio.Event()  # the last write worked: the feeder may claim
        self.writable.set()
        self.lost = False  # another sender holds rows we claimed: send nothing more
        self.full = asyncio.Event()
        self.abandon = asyncio.Event()  # shutting down: stop retrying
        self.lock = asyncio.Lock()
        self.closing = False
        self.failing_since = 0.0

    async def add(
        self, delivery: ClaimedRow, result: SendResult, *, skipped: str = "", held: bool = False
    ) -> None:
        """Buffer one outcome (`held`: the lane took a slot for this send)."""
        decision = retry.decide(
            result.outcome,
            attempts=delivery.attempts,
            timely=delivery.kind in self.timely,
            skipped=bool(skipped),
            retry_after=result.retry_after,
        )
        self.counts.tally(decision.counter, delivery.subscriber_id)
        if decision.counter == "gone":
            self.gone.append((delivery.subscriber_id, result.detail))
        elif decision.counter == "failed":
            log.warning("delivery %s failed: %s", delivery.id, result.detail)
        now, retry_in = utcnow(), decision.retry_in
        values = {
            "row_id": delivery.id,
            "status": decision.status,
            "error": skipped or result.detail,
            "sent_at": now if decision.status == Status.SENT else None,
            "next_at": now + timedelta(seconds=retry_in) if retry_in is not None else None,
            "ids": result.message_ids or None,  # NULL, not JSON null (none_as_null)
            "tried": int(decision.attempted),
            "sha": result.content_sha256 if decision.status == Status.SENT else "",
            "policy": self.ctx.rules.policy.value if decision.status == Status.SENT else "",
        }
        self.rows.append((values, held))
        if len(self.rows) - self.writing >= FLUSH_ROWS:
            self.full.set()

    async def run(self) -> None:
        """Flush every FLUSH_SECONDS, or sooner when FLUSH_ROWS wait; while writes fail, try
        again after a growing pause. Returns once close() is called and all is written (or
        close(patient=False): at the next pause)."""
        pause = 0.0
        while not self.abandon.is_set():
            wake = self.abandon if pause else self.full
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), pause or FLUSH_SECONDS)
            self.full.clear()
            if await self.flush():
                pause = 0.0
                if self.closing and not self.rows and not self.gone:
                    return
            else:
                pause = min(max(pause * 2, FLUSH_SECONDS), RETRY_MAX)

    async def flush(self) -> bool:
        """Write the buffered outcomes; False if the database did not take them (they stay
        buffered). Shielded: a cancelled send run still records what it sent, and no
        connection is left mid-transaction holding SQLite's write lock."""
        async with self.lock:
            rows, gone = list(self.rows), list(self.gone)
            if not rows and not gone:
                return True
            self.writing = len(rows)
            try:
                taken = await asyncio.shield(self._write([values for values, _ in rows], gone))
            except Exception as exc:  # the flusher must outlive anything: outcomes are kept
                self.writing = 0
                self.writable.clear()
                if not self.failing_since:
                    self.failing_since = time.monotonic()
                    log.warning(
                        "cannot record %d outcomes (%s): kept, sending paused until written",
                        len(rows),
                        reason(exc),
                    )
                return False
            del self.rows[: len(rows)], self.gone[: len(gone)]
            self.writing = 0
            for _ in range(sum(1 for _, held in rows if held)):
                self.slots.release()
            if self.failing_since:
                waited, self.failing_since = time.monotonic() - self.failing_since, 0.0
                log.warning("outcomes recorded again after %.1f s; sending resumes", waited)
            self.writable.set()
            if taken and not self.lost:
                self.lost = True
                log.warning("another sender took over %d rows of this run: it stops here", taken)
        if self.progress is not None:
            self.progress(self.counts)
        return True

    async def _write(self, rows: list[dict[str, Any]], gone: list[tuple[int, str]]) -> int:
        """One transaction; returns how many of the rows another sender holds now."""
        table = table_of(Delivery)
        ours = and_(table.c.status == Status.SENDING, table.c.claimed_by == self.claimant)
        requeued = and_(table.c.status == Status.QUEUED, table.c.claimed_by.is_(None))
        async with self.ctx.sessions() as session, session.begin():
            conn = await session.connection()
            found = await conn.execute(
                sa_select(table.c.id, table.c.claimed_by)
                .where(table.c.id.in_([row["row_id"] for row in rows]))
                .with_for_update()  # a new leader's requeue waits for this write
            )
            holders: dict[int, str | None] = {row.id: row.claimed_by for row in found}
            if rows:
                await conn.execute(
                    update(table)
                    .where(table.c.id == bindparam("row_id"), or_(ours, requeued))
                    .values(
                        status=bindparam("status"),
                        last_error=bindparam("error"),
                        sent_at=bindparam("sent_at"),
                        next_attempt_at=bindparam("next_at"),
                        message_ids=bindparam("ids"),
                        attempts=table.c.attempts + bindparam("tried"),
                        content_sha256=bindparam("sha"),
                        policy=bindparam("policy"),
                        lease_until=None,
                    ),
                    rows,
                )
            for subscriber_id, why in gone:  # blocked or deactivated: nothing more
                await conn.execute(
                    update(table_of(Subscriber))
                    .where(col(Subscriber.id) == subscriber_id)
                    .values(status="gone", gone_reason=why, stopped_at=utcnow())
                )
        return sum(1 for row in rows if holders.get(row["row_id"]) != self.claimant)

    async def close(self, flusher: asyncio.Task[None], *, patient: bool = True) -> bool:
        """Stop the flusher once everything is written (`patient`), or after one more try
        (shutting down); True if nothing is left unwritten."""
        self.closing = True
        if not patient:
            self.abandon.set()
        self.full.set()
        await flusher
        if (self.rows or self.gone) and not await self.flush():
            log.error(
                "%d outcomes not recorded (database away at shutdown): those messages may "
                "be sent again",
                len(self.rows),
            )
        return not (self.rows or self.gone)
