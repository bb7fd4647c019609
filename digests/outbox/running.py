"""The process's one send run. The delivery tick (every 5 s), the admin's publish and the daily
expiry notices all ask for "send what is due"; each starting its own `send_queued` beside a
running one would split the claims and the lanes between two runs (each paced, but each idling
at its own batch ends, and two recorders writing), and a shutdown would have to find them all.

    request ─► no run going: start one ─────────────────────► send_queued ─┐ once more if a
    request ─► a run going: it goes round once more, and we wait for it ◄──┘ request came meanwhile

`stop()` (the app's shutdown) lets the sends under way finish, writes their outcomes and puts
every claim not sent back in the queue, so a restart sends nobody anything twice; a run that
cannot finish within STOP_GRACE (a long flood wait, the database away) is cancelled, and then
only its sends cut off mid-request may go out again (digests/outbox/dispatcher.py). Later
requests send nothing.
"""

from __future__ import annotations

import asyncio
import contextlib

from digests.outbox.dispatcher import send_queued
from digests.outbox.types import Channel, Counts, Kinds
from digests.replies import StoreContext

STOP_GRACE = 10.0  # seconds the sends under way get to finish at shutdown


class SendLoop:
    """At most one send run at a time for these channels."""

    def __init__(self, ctx: StoreContext, kinds: Kinds, channels: dict[str, Channel]) -> None:
        self.ctx, self.kinds, self.channels = ctx, kinds, channels
        self.runs = 0  # send_queued calls made (a test counts them)
        self._task: asyncio.Task[Counts] | None = None
        self._again = False
        self._stopped = False
        self._stop = asyncio.Event()  # tells the run to hand nothing new to a channel

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

    def poke(self) -> bool:
        """If a run goes on, make it claim once more after its current pass and return True
        (without waiting for it); False if none runs."""
        if not self.running:
            return False
        self._again = True
        return True

    async def _run(self) -> Counts:
        total = Counts()
        while True:
            self._again = False
            self.runs += 1
            total.add(await send_queued(self.ctx, self.kinds, self.channels, stop=self._stop))
            if not self._again or self._stopped:
                return total

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """Stop the run, if one goes: the sends under way finish within `grace` seconds (else
        it is cancelled); outcomes written, unsent claims back in the queue."""
        self._stopped = True
        self._stop.set()
        task = self._task
        if task is None or task.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), grace)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
