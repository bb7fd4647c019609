"""Broadcast throughput against a fake Bot API with ~40 ms latency that enforces 30 messages a
second (and 3 per chat per second), answering 429 beyond: our delivery path vs a plain
python-telegram-bot loop with AIORateLimiter; then CPU per message at the paid-broadcast rate.

    uv run python -m bench.broadcast [--subscribers 3000]

Goals (delivery issue): ≥ 0.95 of the limit, ≤ 0.5 % of sends answered 429, zero lost, zero
duplicated; ≤ 1 ms CPU per message (so one core can feed 1,000/s).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time

from sqlalchemy import insert
from telegram import Bot
from telegram.error import RetryAfter
from telegram.ext import AIORateLimiter, ExtBot
from telegram.request import HTTPXRequest

from bench.ingest import scratch_database
from bot.container import Services, open_services
from bot.telegram.sender import Pacer, TelegramChannel
from digests import digesting
from digests.delivery import publish
from digests.dispatch import send_queued
from digests.ingest.core import ingest
from digests.models import StoredDigest, Subscriber
from digests.settings import Settings
from tests.conftest import EXAMPLES, subscriber_rows
from tests.fake_telegram import TOKEN, FakeTelegram, fake_telegram

LIMIT = 30
FIRST_CHAT = 100_000


def report(label: str, fake: FakeTelegram, chats: int, seconds: float, cpu: float) -> None:
    delivered = {chat: len(texts) for chat, texts in fake.inbox.items()}
    lost = sum(1 for c in range(FIRST_CHAT, FIRST_CHAT + chats) if c not in delivered)
    duplicated = sum(n - 1 for n in delivered.values() if n > 1)
    attempts = sum(1 for method, _ in fake.calls if method == "sendMessage")
    rate = sum(delivered.values()) / seconds
    print(
        f"{label:<34} {rate:6.1f} msg/s = {rate / LIMIT:5.3f} of {LIMIT}/s | 429s "
        f"{fake.floods / max(attempts, 1):6.2%} of {attempts} sends | lost {lost} | "
        f"duplicated {duplicated} | CPU {cpu / max(sum(delivered.values()), 1) * 1000:.2f} ms/msg"
    )


async def ours(chats: int, *, latency: float, per_second: int, pace: float) -> None:
    with tempfile.TemporaryDirectory() as tmp, fake_telegram() as fake:
        fake.latency, fake.per_second = latency, per_second
        async with scratch_database(None, tmp) as url:
            settings = Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]
            async with open_services(settings) as services:
                stored = await prepare(services, chats)
                bot = Bot(TOKEN, base_url=f"{fake.root}/bot",
                          request=HTTPXRequest(connection_pool_size=64))  # fmt: skip
                async with bot:
                    channel = TelegramChannel(bot, Pacer(pace))
                    await publish(services.member_context(), stored, by="bench")
                    started, cpu = time.perf_counter(), time.process_time()
                    await send_queued(services.member_context(), {"telegram": channel},
                                      in_flight=64)  # fmt: skip
                    seconds = time.perf_counter() - started
                    cpu = time.process_time() - cpu
        label = f"digestbot ({pace:.0f}/s pacing)"
        report(label, fake, chats, seconds, cpu)


async def prepare(services: Services, chats: int) -> StoredDigest:
    """The sample posts, `chats` Telegram subscribers, and the public post's digest."""
    [_ async for _ in ingest([str(EXAMPLES)], services.ingest_context())]
    rows = subscriber_rows(chats, channel="telegram", first=FIRST_CHAT)
    async with services.member_context().sessions() as session, session.begin():
        await session.exec(insert(Subscriber), params=rows)
    dctx = services.digest_context()
    post = await digesting.find_post(dctx, "2026-02-20-public-new-year")
    return await digesting.digest_post(dctx, post)


async def baseline(chats: int, *, latency: float, per_second: int) -> None:
    """What a plain PTB loop does: AIORateLimiter at 30/s, one message after the other."""
    with fake_telegram() as fake:
        fake.latency, fake.per_second = latency, per_second
        limiter = AIORateLimiter(overall_max_rate=LIMIT, max_retries=3)
        bot = ExtBot(TOKEN, base_url=f"{fake.root}/bot", rate_limiter=limiter)
        async with bot:
            started, cpu = time.perf_counter(), time.process_time()
            for chat in range(FIRST_CHAT, FIRST_CHAT + chats):
                with contextlib.suppress(RetryAfter):  # given up after retries: counted lost
                    await bot.send_message(chat, "节后第一篇：写给新朋友")
            seconds = time.perf_counter() - started
            cpu = time.process_time() - cpu
        report("PTB loop + AIORateLimiter", fake, chats, seconds, cpu)


async def main(chats: int) -> None:
    print(f"{chats} subscribers; fake Bot API: 40 ms latency, {LIMIT}/s overall, 3/s per chat")
    await ours(chats, latency=0.04, per_second=LIMIT, pace=LIMIT)
    await baseline(chats, latency=0.04, per_second=LIMIT)
    print("paid broadcast: no latency, 1000/s allowed")
    await ours(chats, latency=0.0, per_second=1000, pace=1000)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=3000)
    asyncio.run(main(parser.parse_args().subscribers))
