"""A burst of new readers, then conversation during a broadcast, against the product as run:
`digestbot run` in a process of its own (settings as shipped, polling) and a strict fake Bot API
in another (bench/fakebot.py: 40 ms latency, 30 messages in any 1-second window, ~1/s per chat,
the whole bot barred after a 429).

    uv run python -m bench.burst [--chats 1000] [--readers 3000] [--status 50]
                                 [--postgres postgresql://postgres@127.0.0.1/test]

1. `--chats` private chats send /start within one second. Goals: every one answered, zero
   429s, p95 time to the first answer ≤ 1.25 × chats / 30 + 3 s.
2. The admin publishes a public digest (/publish in the chat) to `--readers` readers (the new
   ones among them); while it goes out, `--status` of them send /status. Goals: p95 answer
   ≤ 3 s, and every message sent while the broadcast ran (replies included) at ≥ 0.9 of 30/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile

from bench.broadcast import stopped, why_refused
from bench.fakebot import FakeProcess, Sent, fake_process, wait_for
from bench.ingest import scratch_database
from bench.product import Bot, readers_unlocked

LIMIT = 30
ADMIN = 1
FIRST_CHAT = 100_000
PUBLIC_POST = "2026-02-20-public-new-year"


def percentile(values: list[float], share: float) -> str:
    """The value below which `share` of them lie (nearest rank), in seconds; an unanswered
    chat counts as never (inf)."""
    ordered = sorted(values)
    if not ordered:
        return "n/a"
    found = ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]
    return "never" if found == float("inf") else f"{found:.2f} s"


def first_answers(said: list[Sent], sent: list[Sent], text: str, match: str) -> list[float]:
    """For each chat that said `text`: seconds until the first message to it containing
    `match` (inf for a chat never answered)."""
    asked = {chat: at for at, chat, said_text in said if said_text == text}
    answered: dict[int, float] = {}
    for at, chat, sent_text in sent:
        if chat in asked and chat not in answered and at >= asked[chat] and match in sent_text:
            answered[chat] = at - asked[chat]
    return [answered.get(chat, float("inf")) for chat in asked]


def burst(fake: FakeProcess, chats: int) -> None:
    """Phase 1: `chats` new readers send /start within one second."""
    ids = list(range(FIRST_CHAT, FIRST_CHAT + chats))
    goal = 1.25 * chats / LIMIT + 3
    spread = fake.ask("burst", ids, "/start", 1.0)
    wait_for(fake, ("answered", ids), chats, within=goal * 2 + 30)
    said, sent, attempts, floods = fake.ask("log")
    waits = first_answers(said, sent, "/start", "欢迎订阅")
    answered = sum(1 for wait in waits if wait < float("inf"))
    print(
        f"burst: {chats} chats sent /start within {spread:.2f} s\n"
        f"  answered {answered}/{chats} | 429s {floods} of {attempts} sends | first answer "
        f"p50 {percentile(waits, 0.5)}, p95 {percentile(waits, 0.95)}, max "
        f"{percentile(waits, 1.0)} (goal p95 ≤ {goal:.1f} s)" + why_refused(fake)
    )


def broadcast(fake: FakeProcess, readers: int, asking: int) -> None:
    """Phase 2: a digest to `readers` readers; `asking` of them send /status meanwhile."""
    _, before, _, floods_before = fake.ask("log")
    fake.ask("burst", [ADMIN], f"/publish {PUBLIC_POST}", 0.0)
    wait_for(fake, ("count", "<b>"), 60, within=60)  # the digest is going out
    # the askers, at random moments over the next two thirds of the broadcast
    pick = random.Random(12)
    askers = pick.sample(range(FIRST_CHAT, FIRST_CHAT + readers), asking)
    spread = (readers - 60) / LIMIT * 2 / 3
    fake.ask("burst", askers, "/status", spread)
    wait_for(fake, ("count", "<b>"), readers, within=readers / LIMIT * 2 + 60)
    said, sent, _, floods = fake.ask("log")
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
        + why_refused(fake)
    )


async def main(chats: int, readers: int, asking: int, server_url: str | None) -> None:
    print(
        f"strict fake Bot API: 40 ms latency, {LIMIT} in any 1 s window, ~1/s per chat, the bot "
        "barred after a 429"
    )
    with tempfile.TemporaryDirectory() as tmp, fake_process(0.04, LIMIT) as fake:
        async with scratch_database(server_url, tmp) as url:
            # the broadcast's other readers; the burst's chats register with /start
            await readers_unlocked(url, readers - chats, first_chat=FIRST_CHAT + chats)
            bot = Bot(url, fake.root, TELEGRAM_ADMIN_IDS=str(ADMIN))
            try:
                await asyncio.to_thread(bot.wait_ready)
                load = " ".join(f"{x:.1f}" for x in os.getloadavg())
                store = "PostgreSQL" if server_url else "SQLite"
                print(f"digestbot run, {store} (load {load})")
                cpu = bot.cpu()
                await asyncio.to_thread(burst, fake, chats)
                await asyncio.to_thread(broadcast, fake, readers, asking)
                cpu = bot.cpu() - cpu
            finally:
                code, took = bot.stop()
            _, sent, _, _ = fake.ask("log")
            print(f"  CPU {cpu / max(len(sent), 1) * 1000:.2f} ms per message sent")
            print(stopped(bot, code, took))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=1000, help="new readers in the burst")
    parser.add_argument("--readers", type=int, default=3000, help="readers of the broadcast")
    parser.add_argument("--status", type=int, default=50, help="readers asking /status during it")
    parser.add_argument(
        "--postgres", metavar="URL", help="a PostgreSQL server; a scratch database is made on it"
    )
    args = parser.parse_args()
    asyncio.run(main(args.chats, max(args.readers, args.chats), args.status, args.postgres))
