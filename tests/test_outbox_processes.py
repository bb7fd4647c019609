"""The outbox across real processes: `digestbot send` killed with SIGKILL and started again, and
two of them sharing one PostgreSQL database, against the fake Bot API on loopback.

Each step waits for what the processes say or do (a line on stderr, a count of deliveries,
the fake's gate held shut), never for a guessed time, so a loaded machine makes the tests
slower, not different."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import col, func, select, update

from digests import db
from digests.models import Delivery
from digests.outbox.dispatcher import FLUSH_ROWS, IN_FLIGHT
from tests.conftest import publish_to_readers
from tests.fake_telegram import TOKEN, FakeTelegram, fake_telegram
from tests.tcp_proxy import tcp_proxy

READERS = 600  # more than three claim batches of the lanes' and the recorder's worth
OUTAGE_READERS = 180  # at 30/s: the cut comes 2.5 s in, with sends still to go either side
FIRST_CHAT = 10_000
CRASH_BOUND = IN_FLIGHT + FLUSH_ROWS  # docs/architecture.md's "at most" for one killed sender
WITHIN = 120.0  # seconds any one step may take on a busy machine before the test gives up
pytestmark = pytest.mark.slow


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with fake_telegram() as running:
        running.latency = 0.005
        yield running


class Sender:
    """A `digestbot send` process whose stderr is read as it comes, so a test can wait for
    what it says."""

    def __init__(
        self, database_url: str, fake: FakeTelegram, cwd: Path, rate: int, command: str = "send"
    ) -> None:
        with socket.socket() as probe:  # a free port, for `run`'s web server
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE_URL": fake.root,
            "TELEGRAM_RATE_LIMIT": str(rate),
            "WEB_PORT": str(port),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", command],
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._said = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        with self.process.stderr as stream:
            for line in stream:
                with self._said:
                    self.lines.append(line)
                    self._said.notify_all()
        with self._said:
            self.lines.append("")  # end of output
            self._said.notify_all()

    def says(self, text: str) -> None:
        """Wait until the process has written a line holding `text`."""
        with self._said:
            found = self._said.wait_for(lambda: self._ended() or text in self.err, WITHIN)
        assert found and text in self.err, f"no {text!r} from the sender: {self.err}"

    def _ended(self) -> bool:
        return bool(self.lines) and self.lines[-1] == ""

    @property
    def err(self) -> str:
        return "".join(self.lines)

    def alive(self) -> None:
        assert self.process.poll() is None, self.err

    def finish(self) -> str:
        """Wait for the process to end by itself; it must succeed. Returns its stderr."""
        status = self.process.wait(timeout=WITHIN)
        self._reader.join(WITHIN)
        assert status == 0, self.err
        return self.err

    def terminate(self) -> str:
        """SIGTERM, as a service manager stops it; returns its stderr once it ended (uvicorn
        re-raises the signal after a clean shutdown: the exit status is -SIGTERM)."""
        self.process.send_signal(signal.SIGTERM)
        status = self.process.wait(timeout=WITHIN)
        self._reader.join(WITHIN)
        assert status in (0, -signal.SIGTERM), self.err
        return self.err

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=WITHIN)
        self._reader.join(WITHIN)


@pytest.fixture
def senders(fake: FakeTelegram) -> Iterator[list[Sender]]:
    """The senders a test starts (`_start`); whatever still runs at its end is killed."""
    started: list[Sender] = []
    yield started
    fake.gate.set()
    for sender in started:
        if sender.process.poll() is None:
            sender.kill()


def _start(
    senders: list[Sender],
    database_url: str,
    fake: FakeTelegram,
    cwd: Path,
    rate: int = 400,
    command: str = "send",
) -> Sender:
    sender = Sender(database_url, fake, cwd, rate, command)
    senders.append(sender)
    return sender


async def _sent_rows(database_url: str) -> int:
    async with db.open_engine(database_url) as engine, db.make_sessionmaker(engine)() as session:
        found = await session.exec(select(func.count()).where(col(Delivery.status) == "sent"))
        return int(found.one())


def _delivered(fake: FakeTelegram) -> int:
    return sum(len(texts) for texts in list(fake.inbox.values()))


def _wait_for(fake: FakeTelegram, count: int, sender: Sender) -> None:
    """Until the fake has taken `count` messages (the sender must stay alive meanwhile)."""
    deadline = time.monotonic() + WITHIN
    while _delivered(fake) < count:
        sender.alive()
        assert time.monotonic() < deadline, "the sender made no progress"
        time.sleep(0.01)


def _check_everyone_got_it(fake: FakeTelegram, readers: int = READERS) -> int:
    """Every reader has the digest; returns how many were sent twice."""
    chats = range(FIRST_CHAT, FIRST_CHAT + readers)
    assert all(fake.inbox.get(chat) for chat in chats), "a reader got nothing"
    return sum(len(fake.inbox[chat]) - 1 for chat in chats)


def _postgresql_only(database_url: str, why: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip(why)


def test_a_killed_sender_started_again_finishes_within_the_bound(
    database_url: str, fake: FakeTelegram, tmp_path: Path, senders: list[Sender]
) -> None:
    """SIGKILL mid-send (its requests in flight), then a new `digestbot send`: nobody is
    missed and no more than IN_FLIGHT + FLUSH_ROWS readers get the message twice."""
    asyncio.run(publish_to_readers(database_url, READERS, first_chat=FIRST_CHAT))
    first = _start(senders, database_url, fake, tmp_path)
    _wait_for(fake, READERS // 4, first)
    fake.gate.clear()  # its sends hang in flight: it is killed mid-run, however fast it is
    first.kill()
    fake.gate.set()
    assert _delivered(fake) < READERS
    second = _start(senders, database_url, fake, tmp_path)
    assert "queued again" in second.finish()  # the dead sender's claims, taken back at once
    assert _check_everyone_got_it(fake) <= CRASH_BOUND
    assert asyncio.run(_sent_rows(database_url)) == READERS


async def _statuses(database_url: str) -> dict[str, int]:
    async with db.open_engine(database_url) as engine, db.make_sessionmaker(engine)() as session:
        found = await session.exec(select(Delivery.status, func.count()).group_by(Delivery.status))
        return {str(status): int(n) for status, n in found.all()}


def test_digestbot_run_stopped_mid_broadcast_and_started_again_sends_each_message_once(
    database_url: str, fake: FakeTelegram, tmp_path: Path, senders: list[Sender]
) -> None:
    """`digestbot run` stopped with SIGTERM while it broadcasts shuts down cleanly: the sends
    under way finish and are recorded, the rest go back to the queue (none is left claimed),
    and the next `digestbot run` sends only those: every reader gets the message once."""
    asyncio.run(publish_to_readers(database_url, READERS, first_chat=FIRST_CHAT))
    first = _start(senders, database_url, fake, tmp_path, command="run")
    _wait_for(fake, READERS // 4, first)
    err = first.terminate()
    assert "Application shutdown complete" in err
    left = asyncio.run(_statuses(database_url))
    assert "sending" not in left and left.get("queued", 0) > 0, left
    assert _delivered(fake) == left["sent"]
    second = _start(senders, database_url, fake, tmp_path, command="run")
    _wait_for(fake, READERS, second)
    second.terminate()
    assert _check_everyone_got_it(fake) == 0
    assert asyncio.run(_statuses(database_url)) == {"sent": READERS}


def test_two_processes_on_postgresql_deliver_each_message_exactly_once(
    database_url: str, fake: FakeTelegram, tmp_path: Path, senders: list[Sender]
) -> None:
    """Two `digestbot send` started together share the outbox through the leader lock: each
    message delivered once."""
    _postgresql_only(database_url, "several processes share a PostgreSQL database, not a file")
    asyncio.run(publish_to_readers(database_url, READERS, first_chat=FIRST_CHAT))
    both = [_start(senders, database_url, fake, tmp_path) for _ in range(2)]
    errors = [sender.finish() for sender in both]
    assert any("another process leads" in err for err in errors)
    assert _check_everyone_got_it(fake) == 0
    assert asyncio.run(_sent_rows(database_url)) == READERS


def test_a_standby_takes_over_within_a_minute_when_the_leader_is_killed(
    database_url: str, fake: FakeTelegram, tmp_path: Path, senders: list[Sender]
) -> None:
    """The leader dies (SIGKILL) mid-send while another process waits for the lock; the
    waiting one takes it when the server drops the dead connection, and finishes: nobody
    missed, duplicates within the bound."""
    _postgresql_only(database_url, "several processes share a PostgreSQL database, not a file")
    asyncio.run(publish_to_readers(database_url, READERS, first_chat=FIRST_CHAT))
    leader = _start(senders, database_url, fake, tmp_path)
    _wait_for(fake, READERS // 4, leader)
    fake.gate.clear()  # the leader stays mid-send until the standby is waiting
    standby = _start(senders, database_url, fake, tmp_path)
    standby.says("another process leads")
    leader.kill()
    killed_at = time.monotonic()
    before = _delivered(fake)
    fake.gate.set()
    _wait_for(fake, before + IN_FLIGHT + 1, standby)  # more than the leader had in flight
    assert time.monotonic() - killed_at < 60
    assert "queued again" in standby.finish()
    assert _check_everyone_got_it(fake) <= CRASH_BOUND
    assert asyncio.run(_sent_rows(database_url)) == READERS


def test_claims_a_dead_sender_commits_late_are_sent_before_the_send_ends(
    database_url: str, fake: FakeTelegram, tmp_path: Path, senders: list[Sender]
) -> None:
    """A killed leader's last claim can commit after the new leader re-queued what it held
    (its lock and its claims are on different connections): rows claimed by a sender that
    is not running, turning up mid-run, are queued again and sent before `digestbot send`
    ends, not left to their five-minute lease."""
    asyncio.run(publish_to_readers(database_url, READERS, first_chat=FIRST_CHAT))
    sender = _start(senders, database_url, fake, tmp_path)
    _wait_for(fake, 1, sender)
    fake.gate.clear()  # its first sends hang: rows are still queued behind them
    assert asyncio.run(_claim_as_dead_sender(database_url, IN_FLIGHT)) == IN_FLIGHT
    fake.gate.set()
    assert "left over: queued again" in sender.finish()
    assert _check_everyone_got_it(fake) == 0
    assert asyncio.run(_sent_rows(database_url)) == READERS


async def _claim_as_dead_sender(database_url: str, count: int) -> int:
    """Mark `count` queued rows as claimed, for five minutes, by a sender that is gone."""
    async with db.open_engine(database_url) as engine, db.make_sessionmaker(engine)() as session:
        queued = select(Delivery.id).where(col(Delivery.status) == "queued")
        ids = (await session.exec(queued.order_by(col(Delivery.id).desc()).limit(count))).all()
        lease = datetime.now(UTC) + timedelta(minutes=5)
        values = {"status": "sending", "claimed_by": "gone:1", "lease_until": lease}
        done = await session.exec(
            update(Delivery).where(col(Delivery.id).in_(ids)).values(**values)
        )
        await session.commit()
        return int(done.rowcount or 0)


@pytest.mark.parametrize("outage", [3.0, 12.0])
def test_a_database_outage_mid_send_costs_no_more_than_a_crash(
    database_url: str, fake: FakeTelegram, tmp_path: Path, senders: list[Sender], outage: float
) -> None:
    """PostgreSQL cut (connections dropped, new ones refused) for 3 s or 12 s while `digestbot
    send` sends at 30/s: the sender waits, writes the outcomes it kept and finishes; everyone
    gets the message, at most IN_FLIGHT + FLUSH_ROWS twice."""
    _postgresql_only(database_url, "the outage is a cut connection to a PostgreSQL server")
    asyncio.run(publish_to_readers(database_url, OUTAGE_READERS, first_chat=FIRST_CHAT))
    with tcp_proxy(("127.0.0.1", 5432)) as proxy:
        sender = _start(senders, proxy.url(database_url), fake, tmp_path, rate=30)
        _wait_for(fake, 75, sender)  # 2.5 s into the broadcast
        proxy.cut()
        sender.says("cannot record")  # it noticed: outcomes kept, sending paused
        time.sleep(outage)  # the outage itself: how long the database stays away
        proxy.restore()
        err = sender.finish()
    assert proxy.refused and "outcomes recorded again" in err  # it was cut off, and waited
    duplicates = _check_everyone_got_it(fake, OUTAGE_READERS)
    assert duplicates <= CRASH_BOUND, f"{duplicates} duplicates"
    assert asyncio.run(_sent_rows(database_url)) == OUTAGE_READERS


def test_a_sender_cut_off_from_the_database_is_replaced_and_stops(
    database_url: str, fake: FakeTelegram, tmp_path: Path, senders: list[Sender]
) -> None:
    """The leader's sender loses the database (and its lock with it) while another process
    reaches it: that one takes the lead and re-queues the claims; the cut-off sender, back,
    finds its rows taken and stops. Everyone gets the message, at most IN_FLIGHT + FLUSH_ROWS
    twice."""
    _postgresql_only(database_url, "the outage is a cut connection to a PostgreSQL server")
    asyncio.run(publish_to_readers(database_url, OUTAGE_READERS, first_chat=FIRST_CHAT))
    with tcp_proxy(("127.0.0.1", 5432)) as proxy:
        cut_off = _start(senders, proxy.url(database_url), fake, tmp_path, rate=30)
        _wait_for(fake, 75, cut_off)
        proxy.cut()  # the server drops the connection holding the lock
        cut_off.says("cannot record")  # it holds its claims and sends nothing new
        successor = _start(senders, database_url, fake, tmp_path)
        successor.says("queued again")  # it leads now, and took the claims back
        proxy.restore()
        cut_off_err = cut_off.finish()
        successor.finish()
    assert "another sender took over" in cut_off_err
    duplicates = _check_everyone_got_it(fake, OUTAGE_READERS)
    assert duplicates <= CRASH_BOUND, f"{duplicates} duplicates"
    assert asyncio.run(_sent_rows(database_url)) == OUTAGE_READERS
