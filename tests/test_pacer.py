"""The Telegram pacer: smooth global rate, at least a second between messages to one private
chat and three to a group, and a 429 holds every lane (private chat) or only its group."""

from __future__ import annotations

import asyncio
import time

from bot.telegram.sender import Pacer


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
    await asyncio.sleep(0.2)
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
