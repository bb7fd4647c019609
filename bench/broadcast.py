"""Broadcast throughput against a fake Bot API with ~40 ms latency that enforces 30 messages a
second (and 3 per chat per second), answering 429 beyond: our delivery path vs a plain
python-telegram-bot loop with AIORateLimiter; then CPU per message at the paid-broadcast rate.
The fake runs in a process of its own, so the CPU figures are ours alone.

    uv run python -m bench.broadcast [--subscribers 3000]

Goals (delivery issue): ≥ 0.95 of the limit, ≤ 0.5 % of sends answered 429, zero lost, zero
duplicated; ≤ 1 ms CPU per message (so one core can feed 1,000/s).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import tempfile
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection

from sqlalchemy import insert
from telegram.error import RetryAfter
from telegram.ext import AIORateLimiter, ExtBot

from bench.ingest import scratch_database
from bot.container import Services, open_services
from bot.telegram.outbox import TelegramOutbox
from bot.telegram.sender import pacer_for
from digests.ingest.core import ingest
from digests.models import StoredDigest, Subscriber
from digests.outbox.dispatcher import send_queued
from digests.outbox.enqueue import publish
from digests.settings import Settings
from digests.summarize import digesting
from tests.conftest import EXAMPLES, subscriber_rows
from tests.fake_telegram import TOKEN, fake_telegram

LIMIT = 30
FIRST_CHAT = 100_000


@contextlib.contextmanager
def fake_process(latency: float, per_second: int) -> Iterator[Callable[[], Stats]]:
    """A FakeTelegram in another process; yields a function that stops it and returns what
    it saw (the bot's root URL is in ROOT[0] meanwhile)."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_serve, args=(child, latency, per_second))
    process.start()
    ROOT[:] = [parent.recv()]

    def stop() -> Stats:
        parent.send("stop")
        stats: Stats = parent.recv()
        process.join()
        return stats

    yield stop


Stats = tuple[dict[int, int], int, int]  # messages per chat, sendMessage calls, 429s
ROOT: list[str] = []


def _serve(conn: Connection, latency: float, per_second: int) -> None:
    with fake_telegram() as fake:
        fake.latency, fake.per_second = latency, per_second
        conn.send(fake.root)
        conn.recv()
        attempts = sum(1 for method, _ in fake.calls if method == "sendMessage")
        conn.send(({c: len(t) for c, t in fake.inbox.items()}, attempts, fake.floods))


def report(label: str, stats: Stats, chats: int, seconds: float, cpu: float) -> None:
    delivered, attempts, floods = stats
    lost = sum(1 for c in range(FIRST_CHAT, FIRST_CHAT + chats) if c not in delivered)
    duplicated = sum(n - 1 for n in delivered.values() if n > 1)
    rate = sum(delivered.values()) / seconds
    print(
        f"{label:<34} {rate:6.1f} msg/s = {rate / LIMIT:5.3f} of {LIMIT}/s | 429s "
        f"{floods / max(attempts, 1):6.2%} of {attempts} sends | lost {lost} | "
        f"duplicated {duplicated} | CPU {cpu / max(sum(delivered.values()), 1) * 1000:.2f} ms/msg"
    )


async def ours(chats: int, *, latency: float, per_second: int, paid: bool) -> None:
    """The product's path: publish (fan-out), then the dispatcher through TelegramOutbox."""
    with tempfile.TemporaryDirectory() as tmp, fake_process(latency, per_second) as stop:
        async with scratch_database(None, tmp) as url:
            settings = Settings(  # type: ignore[call-arg]
                _env_file=None,
                database_url=url,
                telegram_bot_token=TOKEN,
                telegram_api_base_url=ROOT[0],
                telegram_rate_limit=LIMIT,
                telegram_paid_broadcast=paid,
            )
            async with open_services(settings) as services:
                stored = await prepare(services, chats)
                async with TelegramOutbox(settings, pacer_for(settings)) as channel:
                    await publish(services.store_context(), stored, by="bench")
                    started, cpu = time.perf_counter(), time.process_time()
                    await send_queued(
                        services.store_context(), services.kinds, {"telegram": channel}
                    )
                    seconds = time.perf_counter() - started
                    cpu = time.process_time() - cpu
        stats = stop()
    label = "digestbot (paid broadcast)" if paid else f"digestbot ({LIMIT}/s pacing)"
    report(label, stats, chats, seconds, cpu)


async def prepare(services: Services, chats: int) -> StoredDigest:
    """The sample posts, `chats` Telegram subscribers, and the public post's digest."""
    [_ async for _ in ingest([str(EXAMPLES)], services.ingest_context())]
    rows = subscriber_rows(chats, channel="telegram", first=FIRST_CHAT)
    async with services.store_context().sessions() as session, session.begin():
        await session.exec(insert(Subscriber), params=rows)
    dctx = services.digest_context()
    post = await digesting.find_post(dctx, "2026-02-20-public-new-year")
    return await digesting.digest_post(dctx, post)


async def baseline(chats: int, *, latency: float, per_second: int) -> None:
    """What a plain PTB loop does: AIORateLimiter at 30/s, one message after the other."""
    with fake_process(latency, per_second) as stop:
        limiter = AIORateLimiter(overall_max_rate=LIMIT, max_retries=3)
        bot = ExtBot(TOKEN, base_url=f"{ROOT[0]}/bot", rate_limiter=limiter)
        async with bot:
            started, cpu = time.perf_counter(), time.process_time()
            for chat in range(FIRST_CHAT, FIRST_CHAT + chats):
                with contextlib.suppress(RetryAfter):  # given up after retries: counted lost
                    await bot.send_message(chat, "节后第一篇：写给新朋友")
            seconds = time.perf_counter() - started
            cpu = time.process_time() - cpu
        stats = stop()
    report("PTB loop + AIORateLimiter", stats, chats, seconds, cpu)


async def main(chats: int) -> None:
    print(f"{chats} subscribers; fake Bot API: 40 ms latency, {LIMIT}/s overall, 3/s per chat")
    await ours(chats, latency=0.04, per_second=LIMIT, paid=False)
    await baseline(chats, latency=0.04, per_second=LIMIT)
    print("paid broadcast: no latency, 1000/s allowed")
    await ours(chats, latency=0.0, per_second=1000, paid=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=3000)
    asyncio.run(main(parser.parse_args().subscribers))
