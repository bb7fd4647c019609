"""One leader among the processes sharing a database: it alone runs the scheduler and sends the
outbox, so Telegram's bot-wide limit is paced in one place.

On PostgreSQL the leader holds a session-level advisory lock on a connection of its own. When
the leader dies the server drops its connection and the lock with it (at once for a killed
process; within ~25 s for a vanished machine, thanks to the keepalives set below), and a
follower trying every CHECK_SECONDS takes over: well within a minute. SQLite allows one writing
process, so there the process is always the leader.

A database outage drops the lock's connection too: the leader finds out at its next check (a
check that gets no answer within CHECK_SECONDS counts as lost: a silent connection may be
gone for the server already). Whoever takes the lock then, this process once the database is
back or another one, re-queues the claims of sends that are not running in its own process
(`requeue_orphans` in digests/outbox/dispatcher.py): a send of ours that waited out the outage
keeps its rows, and another process's send finds its rows taken when it next records and
stops, so at most its unrecorded sends (the crash bound) go out twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from digests.db import reason

log = logging.getLogger(__name__)
LOCK_KEY = 0x64696765  # "dige": one advisory lock per database
CHECK_SECONDS = 10.0
# The server notices a silent (partitioned, powered-off) client after idle + interval × count.
KEEPALIVES = (
    "SET tcp_keepalives_idle = 10",
    "SET tcp_keepalives_interval = 5",
    "SET tcp_keepalives_count = 3",
)


class Leader:
    """Leadership through `pg_try_advisory_lock` (always granted on SQLite)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.solo = engine.dialect.name != "postgresql"
        self.conn: AsyncConnection | None = None

    @property
    def is_leader(self) -> bool:
        return self.solo or self.conn is not None

    async def try_acquire(self) -> bool:
        """Take the lock if it is free; True if this process leads now."""
        if self.is_leader:
            return True
        conn = await self.engine.connect()
        try:
            # autocommit: the lock belongs to the session, and no transaction is left open
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            for statement in KEEPALIVES:
                await conn.execute(text(statement))
            got = await conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY})
        except Exception:
            await conn.close()
            raise
        if got:
            self.conn = conn
        else:
            await conn.close()
        return bool(got)

    async def still_leading(self, *, within: float = CHECK_SECONDS) -> bool:
        """Whether the lock's connection answers `within` seconds; if not, leadership is lost
        (another process may hold the lock already)."""
        if self.solo:
            return True
        if self.conn is None:
            return False
        try:
            await asyncio.wait_for(self.conn.execute(text("SELECT 1")), within)
        except Exception as exc:  # the connection died, or hangs: so did the lock
            log.warning("lost the leader lock: %s", reason(exc))
            await self.release()
            return False
        return True

    async def release(self) -> None:
        """Give the lock up by closing its connection for good: returned to the pool it would
        keep the session's lock (and a dead one would be waited on)."""
        conn, self.conn = self.conn, None
        if conn is not None:
            try:
                await conn.invalidate()
                await conn.close()
            except Exception:  # already dead: the server freed the lock with it
                log.debug("leader connection closed with an error", exc_info=True)

    async def wait(self, *, every: float = CHECK_SECONDS) -> None:
        """Become the leader, however long that takes."""
        while not await self.try_acquire():  # noqa: ASYNC110 (the lock is in another process)
            await asyncio.sleep(every)


async def lead(
    leader: Leader,
    *,
    on_gain: Callable[[], Awaitable[None]],
    on_loss: Callable[[], Awaitable[None]],
    every: float = CHECK_SECONDS,
) -> None:
    """Forever: try to lead; run `on_gain` when this process becomes the leader and `on_loss`
    when it stops being one. Cancel the task to stop (the lock is released)."""
    leading = False
    try:
        while True:
            if leading and not await leader.still_leading():
                leading = False
                await on_loss()
            elif not leading and await _try(leader):
                leading = True
                log.info("this process leads now (scheduler and outbox)")
                await on_gain()
            await asyncio.sleep(every)
    finally:
        await leader.release()


async def _try(leader: Leader) -> bool:
    try:
        return await leader.try_acquire()
    except Exception as exc:  # the database is away: try again at the next check
        log.warning("could not try for the leader lock: %s", reason(exc))
        return False
