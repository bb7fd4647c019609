"""The process's one send run. The delivery tick (every 5 s), the admin's publish and the daily
expiry notices all ask for "send what is due"; each starting its own `send_queued` beside a
running one would split the claims and the lanes between two runs (each paced, but each idling
at its own batch ends, and two recorders writing), and a shutdown would have to find them all.

    request ─► no run going: start one ─────────────────────► send_queued ─┐ once more if a
    request ─► a run going: it goes round once more, and we wait for it ◄──┘ request came meanwhile

`stop()` (the app's shutdown) cancels the run: its outcomes are written and its unsent claims
put back in the queue (digests/outbox/dispatcher.py), and later requests send nothing.
"""

from __future__ import annotations

import asyncio
import contextlib

from digests.outbox.dispatcher import send_queued
from digests.outbox.types import Channel, Counts
from digests.replies import StoreContext


class SendLoop:
    """At most one send run at a time for these channels."""

    def __init__(self, ctx: StoreContext, channels: dict[str, Channel]) -> None:
        self.ctx, self.channels = ctx, channels
        self.runs = 0  # send_queued calls made (a test counts them)
        self._task: asyncio.Task[Counts] | None = None
        self._again = False
        self._stopped = False

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def send(self) -> Counts:
        """Send what is due: start a run, or join the one going (it claims once more after
        its current pass, for rows queued since). Returns what that run did."""
        if self._stopped or not self.channels:
            return Counts()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="outbox send run")
        else:
            self._again = True
        task = self._task
        try:
            return await asyncio.shield(task)  # a caller that gives up leaves the run going
        except asyncio.CancelledError:
            if self._stopped and task.cancelled():
                return Counts()  # stopped by the shutdown: not the caller's cancellation
            raise

    async def _run(self) -> Counts:
        total = Counts()
        while True:
            self._again = False
            self.runs += 1
            total.add(await send_queued(self.ctx, self.channels))
            if not self._again:
                return total

    async def stop(self) -> None:
        """Stop the run, if one goes (outcomes written, unsent claims back in the queue)."""
        self._stopped = True
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
