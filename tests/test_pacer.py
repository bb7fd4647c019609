"""The Telegram pacer: smooth global rate, at least a second between messages to one chat,
and a 429 holds every lane."""

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


async def test_a_429_pauses_every_lane() -> None:
    """After pause(0.3), no chat gets its next message before the pause ends."""
    pacer = Pacer(per_second=1000)
    pacer.pause(0.3)
    started = time.monotonic()
    await asyncio.gather(pacer.wait(10), pacer.wait(11), pacer.wait(12))
    assert time.monotonic() - started >= 0.29


async def test_the_global_rate_is_smooth() -> None:
    """At 50/s, 10 messages to 10 chats take about 0.2 s: no burst at the start."""
    pacer = Pacer(per_second=50)
    started = time.monotonic()
    await asyncio.gather(*(pacer.wait(chat) for chat in range(10)))
    assert time.monotonic() - started >= 0.15
