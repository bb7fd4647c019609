"""The review page's load time for the seed post's digest: `digestbot run` in a process of its
own, an admin's signed link, N sequential GETs (the first one cold), then N saves of a
one-line edit (each a new revision) and N GETs of the page that shows the revision history.

    uv run python -m bench.review [--loads 50] [--postgres postgresql://…/test]

Goal (issue 25): the page loads in ≤ 300 ms for the seed's digest on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import html
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

import httpx
from pydantic import SecretStr

from bench.ingest import scratch_database
from bench.unlock import _free_port, _ready
from bot.container import open_services
from digests.ingest.core import ingest
from digests.review import links
from digests.settings import Settings
from digests.summarize import digesting

SEED = "2-10-zhui-zong"
EXAMPLES = Path(__file__).parent.parent / "examples" / "posts"
ADMIN = "o-bench-admin"


async def main(loads: int, server_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with scratch_database(server_url, tmp) as url:
            settings = Settings(  # type: ignore[call-arg]
                _env_file=None,
                database_url=url,
                web_port=_free_port(),
                wechat_app_id="wx-bench",
                wechat_app_secret=SecretStr("bench-app-secret"),  # signs the links
                wechat_token=SecretStr("bench-token"),
                wechat_admin_openids=[ADMIN],
            )
            async with open_services(settings) as services:
                [_ async for _ in ingest([str(EXAMPLES)], services.ingest_context())]
                post = await digesting.find_post(services.digest_context(), SEED)
                await digesting.digest_post(services.digest_context(), post)  # offline digest
            link = links.admin_link(settings, f"wechat:{ADMIN}", post.id or 0)
            path = link.split(str(settings.public_base_url).rstrip("/"), 1)[1]
            async with _server(settings, tmp):
                await measure(f"http://127.0.0.1:{settings.web_port}", path, loads, url)


async def measure(base: str, path: str, loads: int, url: str) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        gets = [await _timed(http.get(path)) for _ in range(loads)]
        size = len((await http.get(path)).content)
        saves = []
        for i in range(loads):
            page = (await http.get(path)).text
            fields = _fields(page)
            fields["headline"] = f"{fields['headline'][:60]}（第 {i + 1} 次修订）"
            saves.append(await _timed(http.post(path, data=fields)))
        after = [await _timed(http.get(path)) for _ in range(loads)]
    store = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    print(f"review page of {SEED} on {store}, `digestbot run` in its own process, {size:,} bytes")
    print(f"  load (1st, cold):       {_ms(gets[0])}")
    print(f"  load, next {loads - 1}:         p50 {_ms(_p50(gets[1:]))}  p95 {_ms(_p95(gets[1:]))}"
          f"  max {_ms(max(gets[1:]))}")  # fmt: skip
    print(f"  save (303 + redirect):  p50 {_ms(_p50(saves))}  p95 {_ms(_p95(saves))}"
          f"  max {_ms(max(saves))}")  # fmt: skip
    print(f"  load with {loads} revisions: p50 {_ms(_p50(after))}  p95 {_ms(_p95(after))}"
          f"  max {_ms(max(after))}")  # fmt: skip
    worst = max(gets[0], _p95(gets[1:]), _p95(after))
    print(f"  goal ≤ 300 ms: {'met' if worst <= 0.3 else 'MISSED'}")


async def _timed(request: Awaitable[httpx.Response]) -> float:
    started = time.perf_counter()
    answer = await request
    elapsed = time.perf_counter() - started
    assert answer.status_code in (200, 303), answer.text[:300]
    return elapsed


def _fields(page: str) -> dict[str, str]:
    """The form as a browser posts it unchanged."""
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
    fields.update(re.findall(r'<textarea name="([^"]+)"[^>]*>([^<]*)</textarea>', page))
    fields.update(re.findall(r'<input type="text" [^>]*name="([^"]+)" value="([^"]*)"', page))
    return {k: html.unescape(v) for k, v in fields.items()}


@contextlib.asynccontextmanager
async def _server(settings: Settings, tmp: str) -> AsyncIterator[None]:
    """`digestbot run` as users run it: no Telegram; WeChat configured (the links are signed
    with its secret) against a closed port, so nothing leaves the machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WECHAT_"))}
    env.update(
        DATABASE_URL=settings.database_url,
        WEB_HOST="127.0.0.1",
        WEB_PORT=str(settings.web_port),
        WECHAT_APP_ID="wx-bench",
        WECHAT_APP_SECRET="bench-app-secret",
        WECHAT_TOKEN="bench-token",
        WECHAT_API_BASE_URL="http://127.0.0.1:9",
        WECHAT_ADMIN_OPENIDS=ADMIN,
        OPENAI_BASE_URL="",
        PYTHONPATH=os.pathsep.join([str(Path(__file__).parent.parent), env.get("PYTHONPATH", "")]),
    )
    process = subprocess.Popen(  # noqa: ASYNC220  # started once, before the measurement
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await _ready(settings.web_port)
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


def _p50(values: list[float]) -> float:
    return statistics.median(values)


def _p95(values: list[float]) -> float:
    return (
        statistics.quantiles(values, n=20, method="inclusive")[-1]
        if len(values) > 1
        else max(values)
    )


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=50)
    parser.add_argument("--postgres", help="a PostgreSQL server URL (a scratch database is made)")
    args = parser.parse_args()
    asyncio.run(main(args.loads, args.postgres))
