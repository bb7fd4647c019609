"""The shared router (digests/commands/) under a reader's everyday messages: N readers who have
just followed and not unlocked send small talk, WeChat words and a password-shaped guess;
prints per kind the time route_text takes (p50, p95) and how many password tries were counted.

    uv run python -m bench.commands [--readers 200] [--postgres postgresql://…/test]

Goal (issue 24): small talk costs no try; a bare message costs one cheap query for the shapes.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import date

from sqlmodel import func, select

from bench.ingest import scratch_database
from bot.container import open_services
from digests import commands
from digests.commands import Call, ChatChannel
from digests.models import UnlockAttempt
from digests.readers import account, periods
from digests.settings import Settings

MESSAGES = {
    "small talk": ["你好", "在吗", "谢谢", "hello"],
    "words": ["帮助", "状态", "设置", "往期"],
    "password-shaped": ["ld2601"],
}


async def main(readers: int, server_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with scratch_database(server_url, tmp) as url:
            settings = Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]
            async with open_services(settings) as services:
                actx = services.admin_context()
                await periods.add_password(
                    actx.store, "ld2602", date(2026, 2, 1), date(2026, 2, 28), "2026-02"
                )
                times: dict[str, list[float]] = {kind: [] for kind in MESSAGES}
                for n in range(readers):
                    reader, _ = await account.register(
                        actx.store, channel="wechat", external_id=f"o-bench-{n}"
                    )
                    call = Call(ctx=actx, channel=ChatChannel.WECHAT, reader=reader)
                    for kind, texts in MESSAGES.items():
                        for text in texts:
                            started = time.perf_counter()
                            await commands.route_text(call, text)
                            times[kind].append(time.perf_counter() - started)
                async with actx.store.sessions() as session:
                    tries = (
                        await session.exec(select(func.count()).select_from(UnlockAttempt))
                    ).one()
    where = "PostgreSQL" if server_url else "SQLite"
    print(f"{readers} readers, {where}")
    for kind, spent in times.items():
        q = statistics.quantiles(spent, n=20)
        p50, p95 = q[9] * 1000, q[18] * 1000
        print(f"  {kind:16} {len(spent):5} messages  p50 {p50:6.2f} ms  p95 {p95:6.2f} ms")
    small = readers * len(MESSAGES["small talk"])
    print(
        f"  password tries counted: {tries} (of {small} small-talk and {readers} shaped messages)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readers", type=int, default=200)
    parser.add_argument(
        "--postgres", default=None, help="a PostgreSQL server URL instead of SQLite"
    )
    arguments = parser.parse_args()
    asyncio.run(main(arguments.readers, arguments.postgres))
