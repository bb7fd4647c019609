"""Broadcast throughput of the product as run: `digestbot run` in a process of its own (settings
as shipped, the digest policy `no_advice` with its disclaimer, per-reader fingerprints and the
delivery audit on) sends the seed post's digest, published with `digestbot publish`, to N
unlocked readers, against a strict fake Bot API in another process (bench/fakebot.py: a sliding
1-second window of 30 messages, ~1/s per chat, the whole bot barred after a 429, 40 ms
latency). Then the same with TELEGRAM_PAID_BROADCAST (1,000 messages/s allowed).

    uv run python -m bench.broadcast [--subscribers 3000] [--postgres URL | --no-postgres]
                                     [--no-paid] [--in-process]

Prints per store: messages/s as a share of the limit, 429s, duplicates, readers never reached,
CPU per message of the bot's process, the longest silence between two sends and the messages
sent in each second. `--in-process` adds the older figures: the dispatcher driven inside the
bench's own process (no `digestbot run`, no scheduler, no Telegram application), and a plain
python-telegram-bot loop with its AIORateLimiter, against the same strict fake.

Goals (issue 23): ≥ 0.95 of the limit, 0 429s, 0 duplicates on SQLite and PostgreSQL for
3,000 readers; the paid rate measured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import tempfile
import time
from collections import Counter

from bench.fakebot import FakeProcess, fake_process, wait_for
from bench.ingest import scratch_database
from bench.product import SEED_POST, Bot, readers_unlocked
from tests.conftest import PG_ADMIN

LIMIT = 30
PAID_LIMIT = 1000
FIRST_CHAT = 100_000


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def figures(fake: FakeProcess, readers: int, limit: int, cpu: float) -> str:
    """What the fake saw, as one block of text."""
    _, sent, attempts, floods = fake.ask("log")
    chats = range(FIRST_CHAT, FIRST_CHAT + readers)
    ours = [(at, chat) for at, chat, _ in sent if FIRST_CHAT <= chat < FIRST_CHAT + readers]
    per_chat = Counter(chat for _, chat in ours)
    parts = Counter(per_chat.values()).most_common(1)[0][0] if per_chat else 1
    lost = sum(1 for chat in chats if per_chat[chat] < parts)
    duplicated = sum(max(0, n - parts) for n in per_chat.values())
    times = sorted(at for at, _ in ours)
    span = times[-1] - times[0] if len(times) > 1 else float("nan")
    rate = (len(times) - 1) / span  # n messages span n - 1 intervals
    gaps = sorted((b - a for a, b in itertools.pairwise(times)), reverse=True)
    seconds = Counter(int(at - times[0]) for at in times)
    histogram = " ".join(str(seconds[s]) for s in range(int(span) + 1))
    return (
        f"  {len(times)} messages ({parts} per reader) in {span:.1f} s: {rate:.1f} msg/s = "
        f"{rate / limit:.3f} of {limit}/s | 429s {floods} of {attempts} sends | duplicates "
        f"{duplicated} | never reached {lost} | CPU {cpu / max(len(times), 1) * 1000:.2f} ms/msg"
        f"\n  longest silences {', '.join(f'{g * 1000:.0f}' for g in gaps[:3])} ms | per second: "
        + (histogram if len(histogram) < 400 else histogram[:400] + " …")
        + why_refused(fake)
    )


def why_refused(fake: FakeProcess) -> str:
    """The limits the fake's 429s came from (a 429 during a bar is the bar's, not counted),
    and for the first of the one-second window how that second looked to it."""
    refusals = fake.ask("refusals")
    if not refusals:
        return ""
    windows = [(at, counted) for at, _, counted in refusals if counted]
    chats = [chat for _, chat, counted in refusals if not counted]
    why = (
        f"\n  429s of a limit: {len(windows)} of the 1 s window, {len(chats)} of a chat {chats[:5]}"
    )
    if windows:
        at, counted = windows[0]
        spacing = [b - a for a, b in itertools.pairwise(counted)]
        why += (
            f"; the first window's: {len(counted)} arrivals in the second before it, "
            f"{(at - counted[0]) * 1000:.0f} ms from the first, closest two "
            f"{min(spacing) * 1000:.1f} ms apart, widest gap {max(spacing) * 1000:.0f} ms"
        )
    return why


async def product(readers: int, server_url: str | None, *, paid: bool) -> None:
    """`digestbot run` sends what `digestbot publish` queued."""
    limit = PAID_LIMIT if paid else LIMIT
    with tempfile.TemporaryDirectory() as tmp, fake_process(0.04, limit) as fake:
        async with scratch_database(server_url, tmp) as url:
            await readers_unlocked(url, readers, first_chat=FIRST_CHAT)
            settings = {"TELEGRAM_PAID_BROADCAST": "true"} if paid else {}
            bot = Bot(url, fake.root, **settings)
            try:
                await asyncio.to_thread(bot.wait_ready)
                cpu, fake_cpu = bot.cpu(), fake.ask("cpu")
                load = load_average()
                await asyncio.to_thread(bot.command, "publish", SEED_POST)
                chats = list(range(FIRST_CHAT, FIRST_CHAT + readers))
                within = readers / limit * 4 + 60
                done = await asyncio.to_thread(wait_for, fake, ("answered", chats), readers, within)
                cpu, fake_cpu = bot.cpu() - cpu, fake.ask("cpu") - fake_cpu
                # one more delivery tick (5 s): anything it would send twice
                await asyncio.sleep(6)
            finally:
                code, took = bot.stop()
            store = "PostgreSQL" if server_url else "SQLite"
            mode = "paid broadcast" if paid else f"{LIMIT}/s"
            print(
                f"digestbot run, {store}, {mode}, {readers} readers (load {load}):"
                + ("" if done else " NOT FINISHED")
            )
            print(figures(fake, readers, limit, cpu))
            print(
                f"  the fake Bot API's own CPU: {fake_cpu / readers * 1000:.2f} ms per message "
                f"(nice {fake.ask('nice')})"
            )
            print(stopped(bot, code, took))


def stopped(bot: Bot, code: int, took: float) -> str:
    """How the process ended, and what its log warned of (the whole log is kept in its
    directory)."""
    clean = "clean" if bot.ended_cleanly() else "NOT clean"
    problems = bot.problems()
    shown = "".join(f"\n    {line[:200]}" for line in problems[:5])
    return (
        f"  SIGTERM: exit {code} in {took:.1f} s ({clean}); {len(problems)} warnings in "
        f"{bot.cwd}/run.log{shown}"
    )


async def in_process(readers: int) -> None:
    """The older figure: the dispatcher in the bench's own process, no `digestbot run`."""
    from bench.product import POLICY
    from bot.container import open_services
    from bot.telegram.outbox import TelegramOutbox
    from bot.telegram.pacer import pacer_for
    from digests.outbox.dispatcher import send_queued
    from digests.outbox.enqueue import publish
    from digests.settings import Settings
    from digests.summarize import digesting
    from tests.fake_telegram import TOKEN

    with tempfile.TemporaryDirectory() as tmp, fake_process(0.04, LIMIT) as fake:
        async with scratch_database(None, tmp) as url:
            await readers_unlocked(url, readers, first_chat=FIRST_CHAT)
            settings = Settings(
                _env_file=None,
                database_url=url,
                telegram_bot_token=TOKEN,
                telegram_api_base_url=fake.root,
                digest_policy=POLICY["DIGEST_POLICY"],
                disclaimer=POLICY["DISCLAIMER"],
            )
            async with open_services(settings) as services:
                dctx = services.digest_context()
                stored = await digesting.digest_post(
                    dctx, await digesting.find_post(dctx, SEED_POST)
                )
                async with TelegramOutbox(settings, pacer_for(settings)) as channel:
                    await publish(services.store_context(), stored, by="bench")
                    cpu = time.process_time()
                    await send_queued(
                        services.store_context(), services.kinds, {"telegram": channel}
                    )
                    cpu = time.process_time() - cpu
        print(f"in-process dispatcher (not digestbot run), SQLite, {readers} readers:")
        print(figures(fake, readers, LIMIT, cpu))


async def baseline(readers: int) -> None:
    """What a plain PTB loop does: AIORateLimiter at 30/s, one message after the other."""
    from telegram.error import RetryAfter
    from telegram.ext import AIORateLimiter, ExtBot

    from tests.fake_telegram import TOKEN

    with fake_process(0.04, LIMIT) as fake:
        limiter = AIORateLimiter(overall_max_rate=LIMIT, max_retries=3)
        bot = ExtBot(TOKEN, base_url=f"{fake.root}/bot", rate_limiter=limiter)
        async with bot:
            cpu = time.process_time()
            for chat in range(FIRST_CHAT, FIRST_CHAT + readers):
                with contextlib.suppress(RetryAfter):  # given up after retries: never reached
                    await bot.send_message(chat, "节后第一篇：写给新朋友")
            cpu = time.process_time() - cpu
        print(f"python-telegram-bot loop + AIORateLimiter (for comparison), {readers} readers:")
        print(figures(fake, readers, LIMIT, cpu))


async def main(readers: int, postgres: str | None, paid: bool, inside: bool) -> None:
    print(
        f"{readers} readers; strict fake Bot API: 40 ms latency, {LIMIT} in any 1 s window, "
        "~1/s per chat, the bot barred after a 429 (at nice -10 where allowed)"
    )
    for server_url in (None, postgres) if postgres else (None,):
        try:
            await product(readers, server_url, paid=False)
        except OSError as exc:  # asyncpg's refused connection, among others
            if server_url is None:
                raise
            print(f"PostgreSQL at {server_url} not reachable ({exc}): skipped")
    if paid:
        await product(readers, None, paid=True)
    if inside:
        await in_process(readers)
        await baseline(readers)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=3000)
    parser.add_argument("--postgres", metavar="URL", default=PG_ADMIN)
    parser.add_argument("--no-postgres", dest="postgres", action="store_const", const=None)
    parser.add_argument("--no-paid", dest="paid", action="store_false")
    parser.add_argument("--in-process", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.subscribers, args.postgres, args.paid, args.in_process))
