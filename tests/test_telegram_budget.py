"""One Telegram budget, conversation first, and nobody left without an answer: the real PTB
Application against the fake Bot API with Telegram's limits enforced (tests/fake_telegram.py),
on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import col, select

from bot.container import Services
from bot.telegram.errors import NoticeThrottle
from digests.commands import ChatChannel, help_text
from digests.models import Broadcast, Delivery, Subscriber
from tests.conftest import subscriber_rows
from tests.fake_telegram import FakeTelegram, running_bot
from tests.test_telegram import ADMIN, ALICE, BOB, said, subscribe, until

CAROL = 2003
REF = re.compile(r"编号 ([0-9a-f]{6})")


@pytest.fixture
async def limited(database_url: str) -> AsyncIterator[tuple[FakeTelegram, Services]]:
    """The bot at Telegram's 30 messages/s against a fake that enforces it (and ~1/s per chat,
    429 with a flood penalty beyond)."""
    async with running_bot(database_url, ADMIN, telegram_rate_limit=30) as (fake, services):
        fake.per_second = 30
        yield fake, services


@pytest.fixture
async def running(database_url: str) -> AsyncIterator[tuple[FakeTelegram, Services]]:
    """The bot, unthrottled, against the fake."""
    async with running_bot(database_url, ADMIN) as running:
        yield running


async def test_a_burst_of_new_readers_is_answered_without_a_429(
    limited: tuple[FakeTelegram, Services],
) -> None:
    """90 chats send /start at once: each gets the welcome once, and Telegram never answers
    429 (replies share the pacer instead of racing it)."""
    fake, _ = limited
    chats = range(10_000, 10_090)
    for chat in chats:
        fake.user_says(chat, "/start")
    await until(lambda: all(said(fake, chat, "欢迎订阅")() for chat in chats), within=60)
    assert fake.floods == 0
    assert all(len(fake.inbox[chat]) == 1 for chat in chats)


async def test_a_reply_that_meets_429s_waits_and_arrives(
    running: tuple[FakeTelegram, Services],
) -> None:
    """Three 429s in a row: the reply waits each one out and is delivered once, not dropped."""
    fake, _ = running
    fake.rate_limited = 3
    fake.user_says(CAROL, "/help")
    await until(said(fake, CAROL, "/latest"), within=20)
    attempts = [p for m, p in fake.calls if m == "sendMessage" and int(p["chat_id"]) == CAROL]
    assert len(attempts) == 4 and fake.rate_limited == 0
    assert len(fake.inbox[CAROL]) == 1


async def test_a_reply_facing_a_long_flood_wait_is_kept_in_the_outbox(
    running: tuple[FakeTelegram, Services],
) -> None:
    """A 429 whose wait is longer than a reply may wait: the reply becomes an outbox row for
    the reader (so a restart does not lose it either)."""
    fake, services = running
    await subscribe(fake, ALICE)
    fake.rate_limited, fake.retry_after = 1, 600
    fake.user_says(ALICE, "/help")

    async def queued() -> list[str]:
        """Texts of the rows queued for Alice, with who queued them."""
        async with services.store_context().sessions() as session:
            rows = await session.exec(
                select(Delivery.ref)
                .join(Subscriber, col(Subscriber.id) == col(Delivery.subscriber_id))
                .where(Subscriber.external_id == str(ALICE), Delivery.kind == "broadcast")
            )
            notes = [await session.get(Broadcast, int(ref)) for ref in rows.all()]
        return [f"{n.created_by}: {n.text}" for n in notes if n is not None]

    for _ in range(200):
        if await queued():
            break
        await asyncio.sleep(0.05)
    assert await queued() == [f"telegram-late-reply: {help_text(ChatChannel.TELEGRAM)}"]
    assert not said(fake, ALICE, "/latest")()


async def test_replies_overtake_a_running_broadcast(database_url: str) -> None:
    """While a broadcast goes out at the bot's limit, a 429 stops every send for its
    retry_after (3 s) and five readers' /help come in: when the wait ends the replies go first,
    ahead of the broadcast's sends that queued before them. (Keeping within Telegram's limits
    is the burst test's and the pacer's tests' to pin: a loaded machine may bunch the sends.)"""
    askers = range(3001, 3006)
    readers = range(50_000, 50_050)
    async with running_bot(database_url, ADMIN, telegram_rate_limit=10) as (fake, services):
        rows = subscriber_rows(len(readers), channel="telegram", first=readers[0])
        async with services.store_context().sessions() as session, session.begin():
            await session.exec(insert(Subscriber), params=rows)  # type: ignore[call-overload]
        fake.user_says(ADMIN, "/broadcast 今晚八点直播")
        await until(lambda: bool(fake.buttons(ADMIN)))
        fake.user_presses(ADMIN, fake.buttons(ADMIN)[0][1])

        def broadcast() -> list[float]:
            return [at for at, _, text in fake.sent if text == "今晚八点直播"]

        await until(lambda: len(broadcast()) >= 3, within=20)
        fake.retry_after, fake.rate_limited = 3, 1  # the next send: 429, wait 3 s
        await until(lambda: fake.rate_limited == 0)
        for chat in askers:  # their replies queue behind the waiting broadcast sends
            fake.user_says(chat, "/help")
        await until(lambda: all(said(fake, chat, "/latest")() for chat in askers), within=30)
        await until(lambda: len(broadcast()) == len(readers), within=30)
    # Sends granted before the pause reach the fake within moments of the 429; every later one
    # was granted once the pause was over, 3 s after the 429 or later.
    resumed = [to for at, to, _ in fake.sent if at >= fake.refused[0] + fake.retry_after]
    replies_first = resumed[: max(resumed.index(chat) for chat in askers) + 1]
    assert not set(replies_first) & set(readers), resumed[:10]


async def test_a_handler_that_raises_tells_the_reader_and_once_the_admins(
    running: tuple[FakeTelegram, Services], caplog: pytest.LogCaptureFixture
) -> None:
    """A handler fails (Telegram answers 500 to the button's answerCallbackQuery): the reader
    gets one sentence with a reference, the log the trace under it, the admin one notice; a
    second failure within the minute is not notified again."""
    fake, _ = running
    await subscribe(fake, ALICE)
    fake.fail_methods.add("answerCallbackQuery")
    with caplog.at_level(logging.ERROR, logger="bot.telegram.errors"):
        fake.user_presses(ALICE, "set:instant")
        await until(said(fake, ALICE, "管理员已收到通知"))
        await until(said(fake, ADMIN, "出错"))
        fake.user_presses(ALICE, "set:edition")
        await until(lambda: sum("编号" in m for m in fake.inbox[ALICE]) == 2)
    first = REF.search(fake.inbox[ALICE][1])
    assert first is not None
    notices = [m for m in fake.inbox[ADMIN] if "出错" in m]
    assert len(notices) == 1 and first.group(1) in notices[0] and "按钮 set" in notices[0]
    traced = [r for r in caplog.records if first.group(1) in r.getMessage()]
    assert traced and traced[0].exc_info is not None


async def test_with_the_database_unreachable_the_reader_is_asked_to_retry(
    running: tuple[FakeTelegram, Services], tmp_path: Path
) -> None:
    """The store cannot be reached (PostgreSQL: a closed port; SQLite: a file that cannot be
    opened): /start and /status are answered "暂时无法处理，请稍后再试", not dropped."""
    fake, services = running
    await subscribe(fake, ALICE)
    if services.engine.url.get_backend_name() == "postgresql":
        with socket.socket() as probe:  # a port nobody listens on
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        unreachable = services.engine.url.set(host="127.0.0.1", port=port)
    else:
        (tmp_path / "file").write_text("not a folder")
        unreachable = services.engine.url.set(database=str(tmp_path / "file" / "db.sqlite"))
    engine, services.engine = services.engine, create_async_engine(unreachable)
    try:
        fake.user_says(ALICE, "/status")
        fake.user_says(BOB, "/start")
        await until(said(fake, ALICE, "暂时无法处理，请稍后再试"), within=20)
        await until(said(fake, BOB, "暂时无法处理，请稍后再试"), within=20)
    finally:
        await services.engine.dispose()
        services.engine = engine


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (0.0, 0),  # the first notice goes
        (10.0, None),  # within the minute: held back
        (59.9, None),
        (60.0, 2),  # the next one goes, counting the two held back
        (61.0, None),
        (200.0, 1),
    ],
)
def test_admin_notices_are_at_most_one_a_minute(at: float, expected: int | None) -> None:
    """The notice throttle, replayed on a fixed clock up to each row: what the row's error
    gets (None: held back; n: sent, with n held back before it)."""
    times = [0.0, 10.0, 59.9, 60.0, 61.0, 200.0]
    now = [0.0]
    throttle = NoticeThrottle(every=60.0, clock=lambda: now[0])
    result: int | None = -1
    for moment in times[: times.index(at) + 1]:
        now[0] = moment
        result = throttle.allow()
    assert result == expected
