"""A burst of new readers, then conversation during a broadcast: the real python-telegram-bot
Application (polling), handlers, store and pacer against a fake Bot API in a process of its own
with ~40 ms latency that enforces Telegram's limits (30 messages/s overall, ~1/s per chat with a
burst of 3, 429 with retry_after and a flood penalty beyond).

    uv run python -m bench.burst [--chats 1000] [--readers 3000] [--status 50]
                                 [--postgres postgresql://postgres@127.0.0.1/test]

1. `--chats` private chats send /start within one second. Goals: every one answered, zero
   429s, p95 time to the first answer ≤ 1.25 × chats / 30 + 3 s.
2. The admin publishes a public digest to `--readers` readers (the new ones among them); while
   it goes out, `--status` of them send /status. Goals: p95 answer ≤ 3 s, and every message
   sent while the broadcast ran (replies included) at ≥ 0.9 of 30/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import multiprocessing
import random
import tempfile
import threading
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import Any

from sqlalchemy import insert

from bench.ingest import scratch_database
from bot.container import Services, open_services
from bot.telegram.application import build_application, start, stop
from bot.telegram.pacer import Pacer, Priority
from digests.ingest.core import ingest
from digests.models import Subscriber
from digests.settings import Settings
from tests.conftest import EXAMPLES, subscriber_rows
from tests.fake_telegram import TOKEN, fake_telegram

LIMIT = 30
ADMIN = 1
FIRST_CHAT = 100_000
PUBLIC_POST = "2026-02-20-public-new-year"
Sent = tuple[float, int, str]  # (monotonic time, chat, the message's first characters)


class FakeProcess:
    """The bench's end of a FakeTelegram running in another process. Asked from a thread: the
    bot runs on this event loop, which must never wait for the pipe."""

    def __init__(self, conn: Connection, root: str) -> None:
        self.conn, self.root = conn, root
        self.lock = threading.Lock()

    async def ask(self, *command: Any) -> Any:
        return await asyncio.to_thread(self._ask, command)

    def _ask(self, command: tuple[Any, ...]) -> Any:
        with self.lock:
            self.conn.send(command)
            return self.conn.recv()


@contextlib.contextmanager
def fake_process(latency: float, per_second: int) -> Iterator[FakeProcess]:
    """A FakeTelegram with Telegram's limits in another process (so its CPU is not ours)."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_serve, args=(child, latency, per_second))
    process.start()
    try:
        yield FakeProcess(parent, parent.recv())
    finally:
        parent.send(("stop",))
        process.join()


def _serve(conn: Connection, latency: float, per_second: int) -> None:
    """The fake's process: serve the Bot API on loopback; do what the bench asks."""
    with fake_telegram() as fake:
        fake.latency, fake.per_second = latency, per_second
        conn.send(fake.root)
        while (command := conn.recv())[0] != "stop":
            if command[0] == "burst":  # chats, text, seconds: spread evenly over the seconds
                _, chats, text, seconds = command
                started = time.monotonic()
                for index, chat in enumerate(chats):
                    time.sleep(max(0.0, started + seconds * index / len(chats) - time.monotonic()))
                    fake.user_says(chat, text)
                conn.send(time.monotonic() - started)
            elif command[0] == "answered":  # how many of these chats got anything
                conn.send(sum(1 for chat in command[1] if chat in fake.inbox))
            elif command[0] == "count":  # messages delivered that start with this text
                conn.send(sum(1 for _, _, text in fake.sent if text.startswith(command[1])))
            elif command[0] == "log":
                sent = [(at, chat, text[:40]) for at, chat, text in fake.sent]
                attempts = sum(1 for method, _ in fake.calls if method == "sendMessage")
                conn.send((list(fake.said), sent, attempts, fake.floods))


def percentile(values: list[float], share: float) -> str:
    """The value below which `share` of them lie (nearest rank), in seconds; an unanswered
    chat counts as never (inf)."""
    ordered = sorted(values)
    if not ordered:
        return "n/a"
    found = ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]
    return "never" if found == float("inf") else f"{found:.2f} s"


async def until(fake: FakeProcess, command: tuple[Any, ...], target: int, within: float) -> None:
    """Poll the fake until `command` answers `target` (or give up after `within` seconds)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await fake.ask(*command) >= target:
            return
        await asyncio.sleep(0.25)


def first_answers(said: list[Sent], sent: list[Sent], text: str, match: str) -> list[float]:
    """For each chat that said `text`: seconds until the first message to it containing
    `match` (inf for a chat never answered)."""
    asked = {chat: at for at, chat, said_text in said if said_text == text}
    answered: dict[int, float] = {}
    for at, chat, sent_text in sent:
        if chat in asked and chat not in answered and at >= asked[chat] and match in sent_text:
            answered[chat] = at - asked[chat]
    return [answered.get(chat, float("inf")) for chat in asked]


async def burst(fake: FakeProcess, chats: int) -> None:
    """Phase 1: `chats` new readers send /start within one second."""
    ids = list(range(FIRST_CHAT, FIRST_CHAT + chats))
    goal = 1.25 * chats / LIMIT + 3
    spread = await fake.ask("burst", ids, "/start", 1.0)
    await until(fake, ("answered", ids), chats, within=goal * 2 + 30)
    said, sent, attempts, floods = await fake.ask("log")
    waits = first_answers(said, sent, "/start", "欢迎订阅")
    answered = sum(1 for wait in waits if wait < float("inf"))
    print(
        f"burst: {chats} chats sent /start within {spread:.2f} s\n"
        f"  answered {answered}/{chats} | 429s {floods} of {attempts} sends | first answer "
        f"p50 {percentile(waits, 0.5)}, p95 {percentile(waits, 0.95)}, max "
        f"{percentile(waits, 1.0)} (goal p95 ≤ {goal:.1f} s)"
    )


async def broadcast(
    fake: FakeProcess, services: Services, chats: int, readers: int, asking: int
) -> None:
    """Phase 2: a digest to `readers` readers; `asking` of them send /status meanwhile."""
    extra = max(0, readers - chats)
    rows = subscriber_rows(extra, channel="telegram", first=FIRST_CHAT + chats)
    async with services.store_context().sessions() as session, session.begin():
        await session.exec(insert(Subscriber), params=rows)
    _, before, _, floods_before = await fake.ask("log")
    await fake.ask("burst", [ADMIN], f"/publish {PUBLIC_POST}", 0.0)
    await until(fake, ("count", "<b>"), 60, within=60)  # the digest is going out
    # the askers, at random moments over the next two thirds of the broadcast
    pick = random.Random(12)
    askers = pick.sample(range(FIRST_CHAT, FIRST_CHAT + readers), asking)
    spread = (readers - 60) / LIMIT * 2 / 3
    await fake.ask("burst", askers, "/status", spread)
    await until(fake, ("count", "<b>"), readers, within=readers / LIMIT * 2 + 60)
    said, sent, _, floods = await fake.ask("log")
    waits = first_answers(said, sent, "/status", "推送方式")
    digest = [at for at, _, text in sent[len(before) :] if text.startswith("<b>")]
    span = max(digest) - min(digest)
    during = [at for at, _, _ in sent if min(digest) <= at <= max(digest)]
    rate = (len(during) - 1) / span  # n messages span n - 1 intervals
    print(
        f"broadcast: the public digest to {readers} readers; {asking} of them send /status "
        f"during it\n  /status answered {sum(1 for w in waits if w < float('inf'))}/{asking} | "
        f"p50 {percentile(waits, 0.5)}, p95 {percentile(waits, 0.95)}, max "
        f"{percentile(waits, 1.0)} (goal p95 ≤ 3 s) | 429s "
        f"{floods - floods_before} | {len(during)} messages in {span:.1f} s = {rate:.1f}/s = "
        f"{rate / LIMIT:.3f} of {LIMIT}/s (goal ≥ 0.9) | digest delivered {len(digest)}/{readers}"
    )


async def main(chats: int, readers: int, asking: int, server_url: str | None) -> None:
    print(f"fake Bot API: 40 ms latency, {LIMIT}/s overall, ~1/s per chat (burst 3), 429 + penalty")
    with tempfile.TemporaryDirectory() as tmp, fake_process(0.04, LIMIT) as fake:
        async with scratch_database(server_url, tmp) as url:
            settings = Settings(  # type: ignore[call-arg]
                _env_file=None,
                database_url=url,
                telegram_bot_token=TOKEN,
                telegram_admin_ids=[ADMIN],
                telegram_api_base_url=fake.root,
                telegram_rate_limit=LIMIT,
            )
            async with open_services(settings) as services:
                print(f"database: {services.engine.url.get_backend_name()}")
                [_ async for _ in ingest([str(EXAMPLES)], services.ingest_context())]
                app = build_application(services, polling=True)
                await start(app, polling=True, poll_timeout=1)
                try:
                    await burst(fake, chats)
                    await broadcast(fake, services, chats, readers, asking)
                    pacer: Pacer = app.bot_data["pacer"]
                    print(
                        f"pacer slots: {pacer.granted[Priority.REPLY]} replies, "
                        f"{pacer.granted[Priority.BULK]} bulk"
                    )
                finally:
                    await stop(app)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=1000, help="new readers in the burst")
    parser.add_argument("--readers", type=int, default=3000, help="readers of the broadcast")
    parser.add_argument("--status", type=int, default=50, help="readers asking /status during it")
    parser.add_argument(
        "--postgres", metavar="URL", help="a PostgreSQL server; a scratch database is made on it"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main(args.chats, max(args.readers, args.chats), args.status, args.postgres))
