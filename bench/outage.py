"""What a PostgreSQL outage in the middle of a broadcast costs (issue 13): the real process
(`digestbot send`, or `digestbot run` with its leader loop and delivery tick) sends one digest
to READERS Telegram readers at 30/s against the fake Bot API on loopback, through a TCP proxy
that drops every database connection and refuses new ones for N seconds, 2.5 s in.

    uv run python -m bench.outage --readers 365 --outage 3 12 --mode send run takeover

Prints, per mode and outage: messages delivered, readers reached, duplicates, and how the
processes ended. In `send` mode a sender that dies is started again while rows are left (what
an operator would do); in `run` mode the app recovers by itself; in `takeover` mode a second
`digestbot send`, which reaches the database, starts as the first is cut off (it takes the
free lock and re-queues the first one's claims). Needs PostgreSQL on
127.0.0.1:5432 (a throwaway database; the server itself is never touched).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

from sqlmodel import col, func, select

from bench.ingest import scratch_database
from digests import db
from digests.models import Delivery
from tests.conftest import PG_ADMIN, publish_to_readers
from tests.fake_telegram import TOKEN, FakeTelegram, fake_telegram
from tests.tcp_proxy import TcpProxy, tcp_proxy

FIRST_CHAT = 10_000
CUT_AFTER = 75  # messages delivered: 2.5 s at 30/s


async def unfinished(database_url: str) -> int:
    """Rows still queued or claimed."""
    async with db.open_engine(database_url) as engine, db.make_sessionmaker(engine)() as session:
        found = await session.exec(
            select(func.count()).where(col(Delivery.status).in_(("queued", "sending")))
        )
        return int(found.one())


def start(command: str, database_url: str, fake: FakeTelegram, cwd: str) -> subprocess.Popen[str]:
    """`digestbot <command>` as a process of its own, through the proxy, at Telegram's 30/s."""
    with socket.socket() as probe:  # a free port for `run`'s web server
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": fake.root,
        "TELEGRAM_RATE_LIMIT": "30",
        "WEB_PORT": str(port),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "bot", command],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def delivered(fake: FakeTelegram) -> int:
    return sum(len(texts) for texts in list(fake.inbox.values()))


def outage(proxy: TcpProxy, fake: FakeTelegram, seconds: float, restore: bool = True) -> None:
    """Wait until the broadcast is CUT_AFTER messages in, then cut the database for `seconds`."""
    deadline = time.monotonic() + 60
    while delivered(fake) < CUT_AFTER and time.monotonic() < deadline:
        time.sleep(0.01)
    proxy.cut()
    time.sleep(seconds)
    if restore:
        proxy.restore()


def scenario(
    mode: str, url: str, proxy: TcpProxy, fake: FakeTelegram, seconds: float, verbose: bool
) -> str:
    """Run one outage; returns how the processes ended."""
    with tempfile.TemporaryDirectory() as cwd:
        if mode == "send":
            ends = []
            process = start("send", proxy.url(url), fake, cwd)
            outage(proxy, fake, seconds)
            while True:
                show(process.communicate(timeout=300)[1], verbose)
                ends.append(str(process.returncode))
                if process.returncode == 0 or not asyncio.run(unfinished(url)) or len(ends) > 5:
                    return "send exit codes " + ",".join(ends)
                process = start("send", proxy.url(url), fake, cwd)
        if mode == "takeover":  # another process takes the lead while the sender is cut off
            process = start("send", proxy.url(url), fake, cwd)
            outage(proxy, fake, 0.0, restore=False)
            successor = start("send", url, fake, cwd)
            time.sleep(seconds)
            proxy.restore()
            show(process.communicate(timeout=300)[1], verbose)
            show(successor.communicate(timeout=300)[1], verbose)
            return f"send exit codes {process.returncode} (cut off), {successor.returncode}"
        process = start("run", proxy.url(url), fake, cwd)
        outage(proxy, fake, seconds)
        deadline = time.monotonic() + 120
        while asyncio.run(unfinished(url)) and time.monotonic() < deadline:
            time.sleep(1)
        time.sleep(6)  # one more delivery tick: anything it would send again
        process.send_signal(signal.SIGTERM)
        show(process.communicate(timeout=60)[1], verbose)
        return f"run stopped ({'all done' if time.monotonic() < deadline else 'timed out'})"


def show(log: str, verbose: bool) -> None:
    """The process's warnings (`-v`): what it did about the outage."""
    if verbose:
        for line in log.splitlines():
            if "WARNING" in line or "ERROR" in line or "leads" in line:
                print("    " + line[:160])


async def one(mode: str, readers: int, seconds: float, verbose: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp, fake_telegram() as fake:
        fake.latency = 0.005
        async with scratch_database(PG_ADMIN, tmp) as url:
            await publish_to_readers(url, readers, first_chat=FIRST_CHAT, by="bench")
            with tcp_proxy(("127.0.0.1", 5432)) as proxy:
                ended = await asyncio.to_thread(scenario, mode, url, proxy, fake, seconds, verbose)
        chats = range(FIRST_CHAT, FIRST_CHAT + readers)
        reached = sum(1 for chat in chats if fake.inbox.get(chat))
        total = delivered(fake)
        print(
            f"{mode:<4} outage {seconds:4.1f} s | {readers} readers | delivered {total} | "
            f"reached {reached} | duplicates {total - reached} | {ended}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=365)
    parser.add_argument("--outage", type=float, nargs="+", default=[3.0, 12.0])
    parser.add_argument(
        "--mode",
        choices=["send", "run", "takeover"],
        nargs="+",
        default=["send", "run", "takeover"],
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show their warnings")
    args = parser.parse_args()
    for mode in args.mode:
        for seconds in args.outage:
            asyncio.run(one(mode, args.readers, seconds, args.verbose))


if __name__ == "__main__":
    main()
