"""The Telegram outbox channel (bot/telegram/outbox.py) against the fake Bot API on loopback:
each kind of answer becomes the right delivery outcome, nothing is dropped."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from bot.telegram.outbox import TelegramOutbox
from bot.telegram.sender import Pacer
from digests.outbox.types import Reader
from digests.replies import Reply
from digests.settings import Settings
from tests.fake_telegram import TOKEN, FakeTelegram, fake_telegram

Running = tuple[FakeTelegram, TelegramOutbox]


@pytest.fixture
async def outbox() -> AsyncIterator[Running]:
    with fake_telegram() as fake:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            telegram_bot_token=TOKEN,
            telegram_api_base_url=fake.root,
            telegram_paid_broadcast=True,
        )
        async with TelegramOutbox(settings, Pacer(per_second=1000)) as channel:
            yield fake, channel


def to(chat: int) -> Reader:
    return Reader(1, "telegram", str(chat), True, "instant", None, 0)


async def test_ok_keeps_message_ids_and_sends_paid(
    outbox: Running,
) -> None:
    """A sent message answers ok with Telegram's message id; paid mode sets
    allow_paid_broadcast on every sendMessage."""
    fake, channel = outbox
    result = await channel.send(to(5), Reply("早上好 <b>不是标签</b> & more"))
    assert result.outcome == "ok" and len(result.message_ids) == 1
    assert fake.inbox[5] == ["早上好 &lt;b&gt;不是标签&lt;/b&gt; &amp; more"]
    sends = [params for method, params in fake.calls if method == "sendMessage"]
    assert sends[-1]["allow_paid_broadcast"] is True


async def test_429_waits_retry_after_then_sends(
    outbox: Running,
) -> None:
    """A 429 pauses for retry_after (1 s here) and the same message is sent once."""
    fake, channel = outbox
    fake.rate_limited = 1
    started = time.monotonic()
    result = await channel.send(to(6), Reply("hi"))
    assert result.outcome == "ok" and fake.inbox[6] == ["hi"]
    assert time.monotonic() - started >= 0.95


async def test_429_three_times_is_a_retry_outcome(
    outbox: Running,
) -> None:
    """Three 429s in a row: the dispatcher gets `retry` with the wait, nothing was sent."""
    fake, channel = outbox
    fake.rate_limited = 3
    result = await channel.send(to(7), Reply("hi"))
    assert (result.outcome, result.retry_after) == ("retry", 1.0) and 7 not in fake.inbox


async def test_blocked_and_missing_chats_are_gone(
    outbox: Running,
) -> None:
    """403 (blocked) and 400 chat not found both mean the subscriber is gone."""
    fake, channel = outbox
    fake.blocked.add(8)
    fake.missing.add(9)
    assert (await channel.send(to(8), Reply("hi"))).outcome == "gone"
    gone = await channel.send(to(9), Reply("hi"))
    assert gone.outcome == "gone" and "chat not found" in gone.detail


async def test_unparsable_html_goes_once_more_as_plain_text(outbox: Running) -> None:
    """400 can't parse entities: the part is sent again without parse_mode, unescaped."""
    fake, channel = outbox
    fake.unparsable = 1
    result = await channel.send(to(10), Reply("a < b & c"))
    assert result.outcome == "ok" and fake.inbox[10] == ["a < b & c"]
    assert "parse_mode" not in [p for m, p in fake.calls if m == "sendMessage"][-1]


async def test_server_errors_are_transient(outbox: Running) -> None:
    """A 500 is transient (the dispatcher backs off and tries again later)."""
    fake, channel = outbox
    fake.fail_methods.add("sendMessage")
    result = await channel.send(to(11), Reply("hi"))
    assert result.outcome == "transient" and "500" in result.detail


async def test_unreachable_api_is_transient() -> None:
    """Nobody listening: a network error, transient, not a crash."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, telegram_bot_token=TOKEN, telegram_api_base_url="http://127.0.0.1:9"
    )
    async with TelegramOutbox(settings, Pacer(per_second=1000)) as channel:
        result = await channel.send(to(12), Reply("hi"))
    assert result.outcome == "transient"
