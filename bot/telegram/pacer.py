"""The process's one Telegram budget: every message this bot sends or edits, conversation
replies and the outbox's bulk sends alike, takes a slot from one Pacer.

    reply ─► its chat's turn (1 s private, 3 s group) ─► REPLY queue ─┐
    outbox lane ─► its chat's turn ──────────────────────► BULK queue ─┴─► one slot every
                                                                         1/(0.98 × limit) s
A slot goes to the longest-waiting reply if one is waiting, else to the longest-waiting bulk
send: a broadcast yields to the conversation, and a reader waits only for the replies queued
before theirs. Slots are handed out at max(now, last slot + interval): evenly spaced, 2 %
below the limit (room for clock skew between us and Telegram), and never "caught up": after a
stall, an idle spell or a pause the next slot is now and the one after a whole interval later,
so nothing bunches (Telegram counts any 1-second window, and answers a bunch with a 429 and a
flood wait that grows with every send made during it). The one exception is a timer that
fires a little late (up to ON_TIME: the event loop's own lateness on a busy machine): its slot
keeps its planned time, or every slot would lose that lateness and the rate with it.

What Telegram counts is the moment a message arrives, not the moment it got its slot: a lane
the event loop is slow to resume, or a reply that python-telegram-bot takes milliseconds to
encode, reaches the wire late, and the slots after it go on time. So each slot says when its
message left (`Slot.on_wire`: the outbox's from aiohttp's trace of the request, a reply's from
httpcore's), and a slot is given only once the message `limit` slots back left more than a
second (and a margin, 15 ms, for the jitter of arrival; each bot-wide 429 widens it by 20 ms,
up to 100 ms) ago, one not yet on the wire counting as leaving now: whatever the delays, no
second holds more than `limit` messages.

Telegram's limits: about 30 messages/s overall (1000/s with allow_paid_broadcast), about one a
second per private chat (short bursts tolerated), 20 a minute per group or channel (their ids
are negative). PTB's own AIORateLimiter has no per-chat limit, no priorities and retries
nothing by default.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections import Counter, defaultdict, deque
from enum import IntEnum

from digests.settings import Settings

PER_CHAT_INTERVAL = 1.0  # seconds between messages to one private chat
PER_GROUP_INTERVAL = 3.0  # 20 a minute to one group or channel
PAID_RATE = 1000.0  # messages/s with allow_paid_broadcast
HEADROOM = 0.98
WINDOW = 1.0  # Telegram's limits hold in any window of this many seconds
WINDOW_MARGIN = 0.015  # seconds: the network's and the server's jitter on arrival times
MARGIN_STEP, MARGIN_MAX = 0.02, 0.1  # a bot-wide 429 widens the margin (the jitter is more)
STUCK = 3.0  # seconds a message not yet on the wire counts as leaving now (then as left)
ON_TIME = 0.005  # seconds: a timer this late still counts as on time (module docstring)


class Priority(IntEnum):
    """Who is served first when both wait for a slot (lower first)."""

    REPLY = 0  # a conversation: someone is waiting for this answer
    BULK = 1  # the outbox: publications, broadcasts, reminders, notices


class Slot:
    """A granted slot: `at` is when its message left (the grant time until told otherwise)."""

    __slots__ = ("at", "left")

    def __init__(self, at: float) -> None:
        self.at = at
        self.left = False

    def on_wire(self) -> None:
        """The message is on the wire now: the one-second window counts it from here."""
        self.at, self.left = time.monotonic(), True


class Pacer:
    """Global slots by priority, per-chat turns, and a pause after a 429."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1 / (per_second * HEADROOM)
        self.next_slot = 0.0  # time.monotonic() of the earliest next slot
        self.paused_until = 0.0
        self.margin = WINDOW_MARGIN
        # the last `limit` slots given, oldest first: the window rule (module docstring)
        self.recent: deque[Slot] = deque(maxlen=max(1, math.floor(per_second)))
        self.last: dict[int, float] = defaultdict(float)  # each chat's last slot
        self.locks: dict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.granted: Counter[Priority] = Counter()  # slots given, per priority (for benches)
        self._queue: list[tuple[int, int, asyncio.Future[Slot]]] = []  # (priority, order, waiter)
        self._order = itertools.count()
        self._timer: asyncio.TimerHandle | None = None

    def pause(self, seconds: float, chat_id: int) -> None:
        """After a 429. The Bot API does not say which limit was hit, but we pace private
        chats at 1/s, well inside their limit, so a 429 there means the bot-wide limit: no slot
        is given to anyone until it ends (sending on would only earn more 429s and a longer
        flood wait). A group or channel has its own 20/min limit: only that chat holds."""
        until = time.monotonic() + seconds
        if chat_id < 0:
            self.last[chat_id] = max(self.last[chat_id], until - PER_GROUP_INTERVAL)
        else:
            # the arrivals were more uneven than the margin allowed for: allow for more,
            # once per pause (the sends in flight meet the same 429)
            if self.paused_until < time.monotonic():
                self.margin = min(MARGIN_MAX, self.margin + MARGIN_STEP)
            self.paused_until = max(self.paused_until, until)

    async def wait(
        self, chat_id: int, priority: Priority = Priority.BULK, *, deadline: float | None = None
    ) -> Slot:
        """Return when this chat's turn has come and a slot is ours; call the slot's
        `on_wire()` when the message leaves, if that is later than now. `deadline` (a
        time.monotonic() value): TimeoutError if the slot has not come by then, and the waiter
        leaves the queue."""
        interval = PER_GROUP_INTERVAL if chat_id < 0 else PER_CHAT_INTERVAL
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        async with asyncio.timeout(timeout), self.locks[chat_id]:
            while True:
                turn = self.last[chat_id] + interval
                if turn > time.monotonic():
                    await asyncio.sleep(turn - time.monotonic())
                slot = await self._slot(priority)
                # a 429 in this group while we queued moved its turn on: the slot is forfeit
                if self.last[chat_id] + interval <= time.monotonic():
                    break
                slot.on_wire()  # nothing will use it: it must not hold the window open
            self.last[chat_id] = time.monotonic()
        self.granted[priority] += 1
        return slot

    async def _slot(self, priority: Priority) -> Slot:
        waiter: asyncio.Future[Slot] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._queue, (priority, next(self._order), waiter))
        self._arm()
        return await waiter  # a cancelled or timed-out wait cancels `waiter`: _grant skips it

    def _earliest(self) -> float:
        """When the next slot may be given: an interval after the last, after any pause, and
        a second after the message `limit` slots back left."""
        earliest = max(self.next_slot, self.paused_until)
        if len(self.recent) == self.recent.maxlen:
            oldest = self.recent[0]
            at = oldest.at
            if not oldest.left:  # it may leave any moment (a slot never told: STUCK at most)
                at = max(at, min(time.monotonic(), at + STUCK))
            earliest = max(earliest, at + WINDOW + self.margin)
        return earliest

    def _arm(self) -> None:
        """Grant now if a slot is free, else make sure a timer will."""
        if self._timer is not None or not self._queue:
            return
        delay = self._earliest() - time.monotonic()
        if delay <= 0:
            self._grant()
        else:
            self._timer = asyncio.get_running_loop().call_later(delay, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._grant()

    def _grant(self) -> None:
        now = time.monotonic()
        if self._earliest() > now:  # a pause began, or a message left late, since the timer
            self._arm()
            return
        while self._queue:
            _, _, waiter = heapq.heappop(self._queue)
            if waiter.done():  # its wait was cancelled or timed out
                continue
            slot = Slot(now)
            waiter.set_result(slot)
            self.recent.append(slot)
            # from now, not from the last slot's planned time: a stall, an idle spell or a
            # pause never turns into slots closer than the interval (nor ON_TIME closer)
            late = now - self.next_slot
            self.next_slot = (self.next_slot if 0 <= late <= ON_TIME else now) + self.interval
            break
        self._arm()


def pacer_for(settings: Settings) -> Pacer:
    """The process's one pacer: every send of this bot shares Telegram's limits."""
    paid = settings.telegram_paid_broadcast
    return Pacer(PAID_RATE if paid else settings.telegram_rate_limit)
