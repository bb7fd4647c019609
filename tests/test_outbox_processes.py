"""The outbox across real processes: `digestbot send` killed with SIGKILL and started again, and
two of them sharing one PostgreSQL database, against the fake Bot API on loopback."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import insert
from sqlmodel import col, func, select

from digests import admin, db
from digests.admin import AdminContext
from digests.digesting import DigestContext
from digests.dispatch import FLUSH_ROWS, IN_FLIGHT
from digests.ingest.core import IngestContext, ingest
from digests.members import MemberContext
from digests.models import Delivery, Subscriber
from tests.conftest import EXAMPLES, SHANGHAI, subscriber_rows
from tests.fake_telegram import TOKEN, FakeTelegram, fake_telegram

READERS = 2000
FIRST_CHAT = 10_000
CRASH_BOUND = IN_FLIGHT + FLUSH_ROWS  # the README's "at most" for one killed sender


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with fake_telegram() as running:
        running.latency = 0.005
        yield running


async def _queue_a_publication(database_url: str) -> None:
    """2,000 Telegram readers and the public sample post published to them."""
    async with db.open_engine(database_url) as engine:
        await db.upgrade(engine)
        sessions = db.make_sessionmaker(engine)
        async with httpx.AsyncClient() as http:
            ictx = IngestContext(sessions=sessions, http=http, tz=SHANGHAI, passwords=[])
            [_ async for _ in ingest([str(EXAMPLES)], ictx)]
            actx = AdminContext(
                MemberContext(sessions, SHANGHAI), DigestContext(sessions, llm=None), ictx
            )
            async with sessions() as session, session.begin():
                rows = subscriber_rows(READERS, channel="telegram", first=FIRST_CHAT)
                await session.exec(insert(Subscriber), params=rows)
            await admin.publish_post(actx, "2026-02-20-public-new-year", by="test")


async def _sent_rows(database_url: str) -> int:
    async with db.open_engine(database_url) as engine, db.make_sessionmaker(engine)() as session:
        found = await session.exec(select(func.count()).where(col(Delivery.status) == "sent"))
        return int(found.one())


def _sender(database_url: str, fake: FakeTelegram, cwd: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": fake.root,
        "TELEGRAM_RATE_LIMIT": "400",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "send"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _delivered(fake: FakeTelegram) -> int:
    return sum(len(texts) for texts in list(fake.inbox.values()))


def _wait_for(fake: FakeTelegram, count: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while _delivered(fake) < count:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the sender made no progress"
        time.sleep(0.01)


def _check_everyone_got_it(fake: FakeTelegram) -> int:
    """Every reader has the digest; returns how many were sent twice."""
    chats = range(FIRST_CHAT, FIRST_CHAT + READERS)
    assert all(fake.inbox.get(chat) for chat in chats), "a reader got nothing"
    return sum(len(fake.inbox[chat]) - 1 for chat in chats)


def _kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.communicate()  # reaps it and closes its pipes


def test_a_killed_sender_started_again_finishes_within_the_bound(
    database_url: str, fake: FakeTelegram, tmp_path: Path
) -> None:
    """SIGKILL mid-send, then a new `digestbot send`: nobody is missed and no more than
    IN_FLIGHT + FLUSH_ROWS readers get the message twice."""
    asyncio.run(_queue_a_publication(database_url))
    first = _sender(database_url, fake, tmp_path)
    _wait_for(fake, 400, first)
    _kill(first)
    assert _delivered(fake) < READERS  # it really died mid-run
    second = _sender(database_url, fake, tmp_path)
    _, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    assert "queued again" in err  # the dead sender's claims, taken back at once
    assert _check_everyone_got_it(fake) <= CRASH_BOUND
    assert asyncio.run(_sent_rows(database_url)) == READERS


def test_two_processes_on_postgresql_deliver_each_message_exactly_once(
    database_url: str, fake: FakeTelegram, tmp_path: Path
) -> None:
    """Two `digestbot send` started together share the outbox through the leader lock: 2,000
    messages, each delivered once."""
    if not database_url.startswith("postgresql"):
        pytest.skip("several processes share a PostgreSQL database, not a SQLite file")
    asyncio.run(_queue_a_publication(database_url))
    senders = [_sender(database_url, fake, tmp_path) for _ in range(2)]
    outputs = [sender.communicate(timeout=120) for sender in senders]
    assert [sender.returncode for sender in senders] == [0, 0], outputs
    assert any("another process leads" in err for _, err in outputs)
    assert _check_everyone_got_it(fake) == 0
    assert asyncio.run(_sent_rows(database_url)) == READERS


def test_a_standby_takes_over_within_a_minute_when_the_leader_is_killed(
    database_url: str, fake: FakeTelegram, tmp_path: Path
) -> None:
    """The leader dies (SIGKILL) mid-send; the waiting process takes the lock when the server
    drops the dead connection, and finishes: nobody missed, duplicates within the bound."""
    if not database_url.startswith("postgresql"):
        pytest.skip("several processes share a PostgreSQL database, not a SQLite file")
    asyncio.run(_queue_a_publication(database_url))
    leader = _sender(database_url, fake, tmp_path)
    _wait_for(fake, 200, leader)
    standby = _sender(database_url, fake, tmp_path)
    time.sleep(0.5)  # the standby is waiting for the lock by now
    before = _delivered(fake)
    _kill(leader)
    killed_at = time.monotonic()
    _wait_for(fake, before + 1, standby)
    assert time.monotonic() - killed_at < 60
    _, err = standby.communicate(timeout=120)
    assert standby.returncode == 0, err
    assert _check_everyone_got_it(fake) <= CRASH_BOUND
    assert asyncio.run(_sent_rows(database_url)) == READERS
