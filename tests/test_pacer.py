"""The Telegram pacer: smooth global rate (slots never closer than the interval, after a stall
or a pause too, and never more than the limit in a second of messages on the wire), at least a
second between messages to one private chat and three to a group, a 429 holds every lane
(private chat) or only its group, and a waiting reply takes the next slot before any waiting
bulk send."""

from __future__ import annotations

import asyncio
import itertools
import time

from telegram.ext import ExtBot
from telegram.request import HTTPXRequest

from bot.telegram.outbox import TelegramOutbox
from bot.telegram.pacer import MARGIN_MAX, MARGIN_STEP, ON_TIME, WINDOW, Pacer, Priority
from bot.telegram.sender import PacedLimiter, on_request
from digests.outbox.types import Reader
from digests.replies import Reply
from digests.settings import Settings
from tests.fake_telegram import TOKEN, fake_telegram


async def test_one_chat_waits_a_second_between_messages() -> None:
    """A second message to the same chat is held for the per-chat interval (lower bounds only:
    a slow machine may add time, never remove it)."""
    pacer = Pacer(per_second=1000)
    await pacer.wait(1)
    started = time.monotonic()
    await pacer.wait(1)
    assert time.monotonic() - started >= 0.95


async def test_a_group_waits_three_seconds_between_messages() -> None:
    """Groups and channels (negative ids) get 20 messages a minute at most."""
    pacer = Pacer(per_second=1000)
    await pacer.wait(-100)
    started = time.monotonic()
    await asyncio.gather(pacer.wait(-100), pacer.wait(5))
    assert time.monotonic() - started >= 2.9


async def test_a_429_in_a_group_holds_only_that_group() -> None:
    """A group's 429 is its own 20/min limit: other chats go on at once."""
    pacer = Pacer(per_second=1000)
    pacer.pause(5.0, -100)
    started = time.monotonic()
    await asyncio.gather(pacer.wait(10), pacer.wait(11))
    assert time.monotonic() - started < 1.0
    waiting = asyncio.create_task(pacer.wait(-100))
    for _ in range(20):  # loop turns enough for a free turn and slot to be granted
        await asyncio.sleep(0)
    assert not waiting.done()
    waiting.cancel()


async def test_a_429_pauses_every_lane() -> None:
    """After a private chat's 429 (the bot-wide limit), no chat gets its next message before
    the pause ends."""
    pacer = Pacer(per_second=1000)
    pacer.pause(0.3, 7)
    started = time.monotonic()
    await asyncio.gather(pacer.wait(10), pacer.wait(11), pacer.wait(12))
    assert time.monotonic() - started >= 0.29


async def test_the_global_rate_is_smooth() -> None:
    """At 50/s, 10 messages to 10 chats take about 0.2 s: no burst at the start."""
    pacer = Pacer(per_second=50)
    started = time.monotonic()
    await asyncio.gather(*(pacer.wait(chat) for chat in range(10)))
    assert time.monotonic() - started >= 0.15


async def test_a_reply_takes_the_next_slot_before_waiting_bulk_sends() -> None:
    """Bulk sends queued first, a reply queued last: the reply gets the next slot; the bulk
    sends keep their own order after it."""
    pacer = Pacer(per_second=20)
    order: list[str] = []

    async def send(chat: int, priority: Priority, name: str) -> None:
        await pacer.wait(chat, priority)
        order.append(name)

    bulk = [asyncio.create_task(send(chat, Priority.BULK, f"bulk{chat}")) for chat in range(6)]
    await asyncio.sleep(0)  # the first bulk send takes the free slot; five queue
    reply = asyncio.create_task(send(100, Priority.REPLY, "reply"))
    await asyncio.gather(*bulk, reply)
    assert order == ["bulk0", "reply", "bulk1", "bulk2", "bulk3", "bulk4", "bulk5"]
    assert pacer.granted == {Priority.BULK: 6, Priority.REPLY: 1}


async def test_replies_are_served_in_their_own_order() -> None:
    """Among replies, first come first served (a burst of readers each waits their turn)."""
    pacer = Pacer(per_second=50)
    order: list[int] = []

    async def reply(chat: int) -> None:
        await pacer.wait(chat, Priority.REPLY)
        order.append(chat)

    await asyncio.gather(*(reply(chat) for chat in range(8)))
    assert order == list(range(8))


async def test_a_wait_past_its_deadline_leaves_the_queue() -> None:
    """A wait that cannot get a slot before its deadline raises TimeoutError and gives up its
    place: the slot goes to the next waiter."""
    pacer = Pacer(per_second=1000)
    pacer.pause(0.3, 7)
    late = asyncio.create_task(pacer.wait(1, Priority.REPLY, deadline=time.monotonic() + 0.05))
    bulk = asyncio.create_task(pacer.wait(2, Priority.BULK))
    done, _ = await asyncio.wait([late], timeout=2)
    assert done and isinstance(late.exception(), TimeoutError)
    await asyncio.wait_for(bulk, timeout=2)
    assert pacer.granted == {Priority.BULK: 1}


async def test_the_rate_is_smooth_whoever_waits() -> None:
    """At 50/s (98 %: a slot every 20.4 ms), 10 replies and 10 bulk sends to 20 chats take
    at least 19 slot intervals: priorities reorder slots, they never add any."""
    pacer = Pacer(per_second=50)
    started = time.monotonic()
    await asyncio.gather(
        *(pacer.wait(chat, Priority.REPLY if chat % 2 else Priority.BULK) for chat in range(20))
    )
    assert time.monotonic() - started >= 19 / (50 * 0.98) - 0.005


async def test_slots_after_a_stall_keep_the_interval() -> None:
    """An event loop held up past several slots' times (a long commit, a collection) does not
    make the pacer hand out the missed slots at once: every slot comes at least an interval
    after the one before (less a timer's lateness, ON_TIME), the first after the stall
    included."""
    pacer = Pacer(per_second=50)
    granted: list[float] = []
    another = asyncio.Event()

    async def send(chat: int) -> None:
        await pacer.wait(chat)
        granted.append(time.monotonic())
        another.set()

    waiting = [asyncio.create_task(send(chat)) for chat in range(12)]
    # after the 1st slot: the 2nd comes half an interval late; after the 5th: ~10 slots' worth
    for after, stall in ((1, 1.5 * pacer.interval), (5, 0.2)):
        while len(granted) < after:
            another.clear()
            await another.wait()
        time.sleep(stall)  # noqa: ASYNC251 (the event loop held up: the point of the test)
    await asyncio.gather(*waiting)
    gaps = [later - earlier for earlier, later in itertools.pairwise(granted)]
    assert min(gaps) >= pacer.interval - ON_TIME - 0.001


async def test_a_pause_ends_without_a_burst() -> None:
    """After a 429's pause the waiting sends go out one interval apart, not all at its end."""
    pacer = Pacer(per_second=50)
    pacer.pause(0.2, 7)
    granted: list[float] = []

    async def send(chat: int) -> None:
        await pacer.wait(chat)
        granted.append(time.monotonic())

    await asyncio.gather(*(send(chat) for chat in range(8)))
    gaps = [later - earlier for earlier, later in itertools.pairwise(granted)]
    assert min(gaps) >= pacer.interval - ON_TIME - 0.001


async def test_no_second_holds_more_than_the_limit_of_messages_on_the_wire() -> None:
    """Telegram counts when a message arrives: when messages leave late (their slots' holders
    say so), the slot `limit` places later waits until a second after the late one left."""
    pacer = Pacer(per_second=10)
    slots = [await pacer.wait(chat) for chat in range(10)]
    slots[0].on_wire()
    slots[0].at += 0.3  # it left 0.3 s after its slot (encoding it took that long)
    await pacer.wait(10)
    assert time.monotonic() >= slots[0].at + WINDOW


def test_a_bot_wide_429_widens_the_window_margin_once_per_pause() -> None:
    """A 429 of the bot-wide limit means arrivals were more uneven than allowed for: the
    margin grows (the 429s of the sends already in flight count once), up to its cap; a
    group's own 429 says nothing about it."""
    pacer = Pacer(per_second=30)
    first = pacer.margin
    pacer.pause(1.0, -100)
    assert pacer.margin == first
    pacer.pause(1.0, 7)
    pacer.pause(2.0, 8)  # in flight when the first came back
    assert pacer.margin == first + MARGIN_STEP
    for _ in range(10):
        pacer.paused_until = 0.0  # each pause over before the next 429
        pacer.pause(1.0, 7)
    assert pacer.margin == MARGIN_MAX


async def test_a_message_not_yet_on_the_wire_holds_the_window() -> None:
    """The message `limit` slots back has its slot but has not left (its request is slow to
    go): the next slot waits for it, and comes a second after it left."""
    pacer = Pacer(per_second=10)
    slots = [await pacer.wait(chat) for chat in range(10)]
    eleventh = asyncio.create_task(pacer.wait(10))
    for _ in range(20):  # loop turns enough for a free slot to be granted
        await asyncio.sleep(0)
    assert not eleventh.done()
    slots[0].on_wire()
    left = slots[0].at
    await eleventh
    assert time.monotonic() >= left + WINDOW


async def test_both_senders_tell_the_pacer_when_a_message_left() -> None:
    """The outbox (aiohttp) and a conversation reply (python-telegram-bot's httpx) each stamp
    their slot when the request goes out, not when its answer comes back 0.3 s later: the
    one-second window counts what Telegram counts."""
    with fake_telegram() as fake:
        fake.latency = 0.3
        settings = Settings(
            _env_file=None,
            database_url="sqlite:///unused.db",
            telegram_bot_token=TOKEN,
            telegram_api_base_url=fake.root,
        )
        pacer = Pacer(per_second=1000)
        async with TelegramOutbox(settings, pacer) as outbox:
            await outbox.send(Reader(1, "telegram", "501", True, "instant", None, 0), Reply("a"))
        answered = time.monotonic()
        assert pacer.recent[-1].left and pacer.recent[-1].at < answered - 0.2
        request = HTTPXRequest(httpx_kwargs={"event_hooks": {"request": [on_request]}})
        bot = ExtBot(
            TOKEN, base_url=f"{fake.root}/bot", request=request, rate_limiter=PacedLimiter(pacer)
        )
        async with bot:
            await bot.send_message(502, "b")
        answered = time.monotonic()
        assert pacer.recent[-1].left and pacer.recent[-1].at < answered - 0.2
        assert len(pacer.recent) == 2
