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

import pytest
from sqlmodel import col, func, select

from digests import db
from digests.models import Delivery
from digests.outbox.dispatcher import FLUSH_ROWS, IN_FLIGHT
from tests.conftest import publish_to_readers
from tests.fake_telegram import TOKEN, FakeTelegram, fake_telegram
from tests.tcp_proxy import tcp_proxy

READERS = 2000
OUTAGE_READERS = 365  # issue 13's broadcast
FIRST_CHAT = 10_000
CRASH_BOUND = IN_FLIGHT + FLUSH_ROWS  # docs/architecture.md's "at most" for one killed sender


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with fake_telegram() as running:
        running.latency = 0.005
        yield running


async def _sent_rows(database_url: str) -> int:
    async with db.open_engine(database_url) as engine, db.make_sessionmaker(engine)() as session:
        found = await session.exec(select(func.count()).where(col(Delivery.status) == "sent"))
        return int(found.one())


def _sender(
    database_url: str, fake: FakeTelegram, cwd: Path, rate: int = 400
) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": fake.root,
        "TELEGRAM_RATE_LIMIT": str(rate),
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


def _check_everyone_got_it(fake: FakeTelegram, readers: int = READERS) -> int:
    """Every reader has the digest; returns how many were sent twice."""
    chats = range(FIRST_CHAT, FIRST_CHAT + readers)
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
    asyncio.run(publish_to_readers(database_url, READERS, first_chat=FIRST_CHAT))
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
    asyncio.run(publish_to_readers(database_url, READERS, first_chat=FIRST_CHAT))
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
    asyncio.run(publish_to_readers(database_url, READERS, first_chat=FIRST_CHAT))
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


@pytest.mark.parametrize("outage", [3.0, 12.0])
def test_a_database_outage_mid_send_costs_no_more_than_a_crash(
    database_url: str, fake: FakeTelegram, tmp_path: Path, outage: float
) -> None:
    """PostgreSQL cut (connections dropped, new ones refused) for 3 s or 12 s while `digestbot
    send` sends to 365 readers at 30/s: the sender waits, writes the outcomes it kept and
    finishes; everyone gets the message, at most IN_FLIGHT + FLUSH_ROWS twice."""
    if not database_url.startswith("postgresql"):
        pytest.skip("the outage is a cut connection to a PostgreSQL server")
    asyncio.run(publish_to_readers(database_url, OUTAGE_READERS, first_chat=FIRST_CHAT))
    with tcp_proxy(("127.0.0.1", 5432)) as proxy:
        sender = _sender(proxy.url(database_url), fake, tmp_path, rate=30)
        _wait_for(fake, 75, sender)  # 2.5 s into the broadcast
        proxy.cut()
        time.sleep(outage)
        proxy.restore()
        _, err = sender.communicate(timeout=120)
    assert sender.returncode == 0, err
    assert proxy.refused and "outcomes recorded again" in err  # it was cut off, and waited
    duplicates = _check_everyone_got_it(fake, OUTAGE_READERS)
    assert duplicates <= CRASH_BOUND, f"{duplicates} duplicates"
    assert asyncio.run(_sent_rows(database_url)) == OUTAGE_READERS


def test_a_sender_cut_off_from_the_database_is_replaced_and_stops(
    database_url: str, fake: FakeTelegram, tmp_path: Path
) -> None:
    """The leader's sender loses the database (and its lock with it) while another process
    reaches it: that one takes the lead and re-queues the claims; the cut-off sender, back,
    finds its rows taken and stops. Everyone gets the message, at most IN_FLIGHT + FLUSH_ROWS
    twice."""
    if not database_url.startswith("postgresql"):
        pytest.skip("the outage is a cut connection to a PostgreSQL server")
    asyncio.run(publish_to_readers(database_url, OUTAGE_READERS, first_chat=FIRST_CHAT))
    with tcp_proxy(("127.0.0.1", 5432)) as proxy:
        cut_off = _sender(proxy.url(database_url), fake, tmp_path, rate=30)
        _wait_for(fake, 75, cut_off)
        proxy.cut()  # the server drops the connection holding the lock
        successor = _sender(database_url, fake, tmp_path, rate=30)
        _wait_for(fake, _delivered(fake) + 20, successor)  # sending the re-queued rows
        proxy.restore()
        _, cut_off_err = cut_off.communicate(timeout=120)
        _, err = successor.communicate(timeout=120)
    assert cut_off.returncode == 0 and successor.returncode == 0, (cut_off_err, err)
    assert "queued again" in err and "another sender took over" in cut_off_err
    duplicates = _check_everyone_got_it(fake, OUTAGE_READERS)
    assert duplicates <= CRASH_BOUND, f"{duplicates} duplicates"
    assert asyncio.run(_sent_rows(database_url)) == OUTAGE_READERS
