"""The benches' Telegram: tests/fake_telegram.py's FakeTelegram in strict mode (a sliding
1-second window of `per_second` messages, ~1/s per chat, the whole bot barred after a 429 and
longer for every send during the bar), with its latency, in a process of its own so the bot's
CPU figures are the bot's alone. The bench asks it from a thread, never from the event loop a
bot under test may share with it.

    with fake_process(latency=0.04, per_second=30) as fake:
        fake.root                      # TELEGRAM_API_BASE_URL
        fake.ask("burst", chats, "/start", 1.0)   # users write, spread over one second
        said, sent, attempts, floods = fake.ask("log")
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import threading
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import Any

from tests.fake_telegram import fake_telegram

Sent = tuple[float, int, str]  # (monotonic time, chat, the message's first 40 characters)


class FakeProcess:
    """The bench's end of the pipe to the fake's process (thread-safe)."""

    def __init__(self, conn: Connection, root: str) -> None:
        self.conn, self.root = conn, root
        self.lock = threading.Lock()

    def ask(self, *command: Any) -> Any:
        with self.lock:
            self.conn.send(command)
            return self.conn.recv()

    async def ask_async(self, *command: Any) -> Any:
        """From an event loop: the pipe is waited on in a thread."""
        return await asyncio.to_thread(self.ask, *command)


@contextlib.contextmanager
def fake_process(latency: float, per_second: int) -> Iterator[FakeProcess]:
    """A strict FakeTelegram in another process (monotonic clocks agree across processes on
    Linux, so its times compare with ours)."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_serve, args=(child, latency, per_second), daemon=True)
    process.start()
    try:
        yield FakeProcess(parent, parent.recv())
    finally:
        with contextlib.suppress(OSError):
            parent.send(("stop",))
        process.join(timeout=30)


def _serve(conn: Connection, latency: float, per_second: int) -> None:
    """The fake's process: serve the Bot API on loopback; do what the bench asks. It runs
    at a raised priority where allowed (Telegram's servers do not share our CPU; on this
    shared machine the load is 10-26 while other sessions test), and counts arrivals by the
    kernel's timestamps (tests/fake_telegram.py), not by its threads' late reads of the clock."""
    with contextlib.suppress(OSError):
        os.nice(-10)
    with fake_telegram() as fake:
        fake.latency, fake.per_second, fake.strict = latency, per_second, True
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
                conn.send(sum(1 for _, _, text in list(fake.sent) if text.startswith(command[1])))
            elif command[0] == "refusals":  # the window's 429s: when, and what it counted
                conn.send(list(fake.window_refusals))
            elif command[0] == "nice":  # the priority it runs at
                conn.send(os.nice(0))
            elif command[0] == "cpu":  # this process's CPU seconds (its threads included)
                conn.send(time.process_time())
            elif command[0] == "delivered":  # messages delivered in all
                conn.send(len(fake.sent))
            elif command[0] == "log":
                sent = [(at, chat, text[:40]) for at, chat, text in list(fake.sent)]
                attempts = sum(1 for method, _ in list(fake.calls) if method == "sendMessage")
                conn.send((list(fake.said), sent, attempts, fake.floods))


def wait_for(fake: FakeProcess, command: tuple[Any, ...], target: int, within: float) -> bool:
    """Ask the fake until `command` answers at least `target`; False if `within` seconds pass."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if fake.ask(*command) >= target:
            return True
        time.sleep(0.2)
    return False
