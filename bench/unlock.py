"""Unlocking under a crowd: N readers each send one wrong password at the same moment while a
thread polls /healthz; prints /healthz's latency during the burst and the readers' waits.

    uv run python -m bench.unlock [--periods 24] [--readers 100] [--postgres postgresql://…/test]
                                  [--through wechat]

By default the app's web server (uvicorn, the real Starlette app) and the unlocks share one
event loop, as the Telegram handlers do: the figures are the unlock path's. `--through wechat`
runs `digestbot run` as a process of its own and sends each password as a signed plain-mode
WeChat message: the whole callback (replay guard, 48-hour window, reply) under the crowd.
Goal (issue 13): 100 concurrent wrong passwords with 24 periods keep /healthz under 200 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable
from datetime import date
from pathlib import Path

import httpx
import uvicorn
from pydantic import SecretStr
from sqlmodel import col, select

from bench.ingest import scratch_database
from bot.app import build_app
from bot.container import Services, open_services
from digests.models import Subscriber
from digests.readers import account, passwords
from digests.settings import Settings

TOKEN = "bench-token"
PING_EVERY = 0.02  # seconds between /healthz probes (each waits for the previous answer)


async def main(periods: int, readers: int, server_url: str | None, through: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with scratch_database(server_url, tmp) as url:
            settings = Settings(
                _env_file=None,
                database_url=url,
                web_port=_free_port(),
                wechat_token=SecretStr(TOKEN),
            )
            async with open_services(settings) as services:
                await load(services, periods, readers)
                async with _server(settings, tmp, in_process=through == "direct"):
                    base = f"http://127.0.0.1:{settings.web_port}"
                    if through == "direct":
                        burst = _direct(services, readers)
                    else:
                        burst = _wechat(base, readers)
                    await measure(base, burst, readers, periods, through)


async def load(services: Services, periods: int, readers: int) -> None:
    """`periods` monthly access periods (each its own password) and `readers` WeChat readers."""
    actx = services.admin_context()
    for i in range(periods):
        first = date(2024 + i // 12, 1 + i % 12, 1)
        await periods.add_password(actx.store, f"pw{first:%Y%m}", first, first.replace(day=28))
    for i in range(readers):
        await account.register(actx.store, channel="wechat", external_id=f"o-bench-{i}")


async def measure(
    base: str, burst: Awaitable[list[tuple[float, str]]], readers: int, periods: int, through: str
) -> None:
    probes: list[tuple[float, float]] = []  # (when sent, latency)
    stop = threading.Event()
    pinger = threading.Thread(target=_ping, args=(base, probes, stop), daemon=True)
    pinger.start()
    await asyncio.sleep(1.0)
    started = time.perf_counter()
    answers = await burst
    ended = time.perf_counter()
    await asyncio.sleep(0.2)
    stop.set()
    await asyncio.to_thread(pinger.join)
    idle = [latency for sent, latency in probes if sent < started]
    during = [latency for sent, latency in probes if started <= sent <= ended]
    waits = [wait for wait, _ in answers]
    wrong = sum("密码不正确" in text for _, text in answers)
    deferred = sum(text == "success" for _, text in answers)  # WeChat: answered after 4 s
    errors = [text for _, text in answers if text.startswith("error")]
    print(
        f"{readers} readers × 1 wrong password, {periods} periods, through {through}: "
        f"burst over in {ended - started:.2f} s"
    )
    print(f"/healthz idle:         p95 {_ms(_p95(idle))}, max {_ms(max(idle))} ({len(idle)})")
    print(f"/healthz during burst: p95 {_ms(_p95(during))}, max {_ms(max(during))} ({len(during)})")
    print(
        f"reader's answer:       p95 {_ms(_p95(waits))}, max {_ms(max(waits))}; {wrong} "
        f"密码不正确, {deferred} deferred past 4 s, {len(errors)} errors"
    )
    if errors:
        print(f"errors: {', '.join(sorted(set(errors)))}")


def _ping(base: str, probes: list[tuple[float, float]], stop: threading.Event) -> None:
    """/healthz, one probe after another, until `stop`; a dropped probe counts its time too."""
    with httpx.Client(base_url=base, timeout=60) as http:
        while not stop.is_set():
            sent = time.perf_counter()
            with contextlib.suppress(httpx.TransportError):
                http.get("/healthz")
            probes.append((sent, time.perf_counter() - sent))
            time.sleep(PING_EVERY)


async def _direct(services: Services, readers: int) -> list[tuple[float, str]]:
    """Every reader's wrong password through passwords.unlock, all at once, on this loop."""
    async with services.store_context().sessions() as session:
        query = select(Subscriber).order_by(col(Subscriber.id)).limit(readers)
        crowd = list((await session.exec(query)).all())

    async def one(i: int, reader: Subscriber) -> tuple[float, str]:
        started = time.perf_counter()
        try:
            reply = await passwords.unlock(services.store_context(), reader, f"wrong{i}")
        except Exception as exc:  # counted: the first version's 5 s lock waits gave up
            return time.perf_counter() - started, f"error {type(exc).__name__}"
        return time.perf_counter() - started, reply.text

    return list(await asyncio.gather(*(one(i, r) for i, r in enumerate(crowd))))


async def _wechat(base: str, readers: int) -> list[tuple[float, str]]:
    """Every reader sends 解锁 with a wrong password as a signed plain-mode WeChat message."""
    limits = httpx.Limits(max_connections=readers + 10)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
        return list(await asyncio.gather(*(_wechat_unlock(http, i) for i in range(readers))))


async def _wechat_unlock(http: httpx.AsyncClient, i: int) -> tuple[float, str]:
    ts, nonce = str(int(time.time())), f"bench{i}"
    signature = hashlib.sha1("".join(sorted((TOKEN, ts, nonce))).encode()).hexdigest()
    xml = (
        f"<xml><ToUserName><![CDATA[gh_bench]]></ToUserName>"
        f"<FromUserName><![CDATA[o-bench-{i}]]></FromUserName><CreateTime>{ts}</CreateTime>"
        f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[解锁 wrong{i}]]></Content>"
        f"<MsgId>{10_000 + i}</MsgId></xml>"
    )
    params = {"signature": signature, "timestamp": ts, "nonce": nonce, "openid": f"o-bench-{i}"}
    started = time.perf_counter()
    try:
        response = await http.post("/wechat", params=params, content=xml.encode())
    except httpx.TransportError as exc:
        return time.perf_counter() - started, f"error {type(exc).__name__}"
    text = response.text if response.is_success else f"error HTTP {response.status_code}"
    return time.perf_counter() - started, text


@contextlib.asynccontextmanager
async def _server(settings: Settings, tmp: str, *, in_process: bool) -> AsyncIterator[None]:
    """The app's web server: on this loop, or `digestbot run` in its own process."""
    if in_process:
        config = uvicorn.Config(
            build_app(settings),
            host="127.0.0.1",
            port=settings.web_port,
            log_level="warning",
            lifespan="on",
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        await _ready(settings.web_port)
        try:
            yield
        finally:
            server.should_exit = True
            await task
        return
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WECHAT_"))}
    env.update(
        DATABASE_URL=settings.database_url,
        WEB_HOST="127.0.0.1",
        WEB_PORT=str(settings.web_port),
        WECHAT_TOKEN=TOKEN,
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


async def _ready(port: int) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        for _ in range(300):
            with contextlib.suppress(httpx.TransportError):
                if (await http.get("/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise SystemExit("the server did not start within 30 s")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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
    parser.add_argument("--periods", type=int, default=24)
    parser.add_argument("--readers", type=int, default=100)
    parser.add_argument("--postgres", help="a PostgreSQL server URL to make a scratch database on")
    parser.add_argument("--through", choices=("direct", "wechat"), default="direct")
    args = parser.parse_args()
    asyncio.run(main(args.periods, args.readers, args.postgres, args.through))
