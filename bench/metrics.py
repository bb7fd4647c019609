"""/healthz while /metrics is scraped hard: `digestbot run` as a real process on a database
with ROWS delivery rows; bursts of 30 simultaneous /metrics calls, each with a /healthz call
started alongside, then 30 scrapers looping for a few seconds while /healthz is probed every
100 ms. Prints /healthz latencies and how many /metrics answers were served.

    uv run python -m bench.metrics [--rows 3000000] [--postgres postgresql://…/test]
                                   [--source DIR]   # run another checkout's code (a baseline)

Issue 13: with 3M rows and /metrics uncached, 30 concurrent calls slowed /healthz to 4.2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import text

from bench.ingest import scratch_database
from digests import db

TOKEN = "bench-metrics-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BURSTS = 5
LOOP_SECONDS = 8.0


async def load(url: str, rows: int) -> None:
    """Migrate, one subscriber, `rows` deliveries spread over four statuses."""
    async with db.open_engine(url, statement_timeout=None) as engine:
        await db.upgrade(engine)
        async with engine.begin() as conn:
            sid = (
                await conn.execute(
                    text(
                        "INSERT INTO subscriber (channel, external_id, name, status, delivery,"
                        " reminders, awaiting_password, gone_reason, created_at, updated_at)"
                        " VALUES ('telegram', '1', '', 'active', 'instant', true, false, '',"
                        " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP) RETURNING id"
                    )
                )
            ).scalar_one()
            series = (
                "SELECT g FROM generate_series(1, :n) AS g"
                if engine.dialect.name == "postgresql"
                else "WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s"
                " WHERE g < :n) SELECT g FROM s"
            )
            await conn.execute(
                text(
                    "INSERT INTO delivery (kind, ref, channel, subscriber_id, status, attempts,"
                    " last_error, created_at) SELECT 'digest', CAST(g AS TEXT), 'telegram',"
                    " :sid, CASE g % 4 WHEN 0 THEN 'sent' WHEN 1 THEN 'queued' WHEN 2 THEN"
                    f" 'failed' ELSE 'skipped' END, 0, '', CURRENT_TIMESTAMP FROM ({series}) AS t"
                ),
                {"n": rows, "sid": sid},
            )
        if engine.dialect.name == "postgresql":
            async with engine.connect() as conn:
                await conn.execute(text("COMMIT"))
                await conn.execute(text("VACUUM ANALYZE delivery"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def timed(client: httpx.AsyncClient, path: str) -> tuple[float, int]:
    started = time.perf_counter()
    answer = await client.get(path, headers=AUTH)
    return time.perf_counter() - started, answer.status_code


def summary(name: str, seconds: list[float]) -> str:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (
        f"{name}: n={len(ordered)} p50={statistics.median(ordered) * 1000:.0f} ms "
        f"p95={p95 * 1000:.0f} ms max={ordered[-1] * 1000:.0f} ms"
    )


async def measure(base: str) -> None:
    limits = httpx.Limits(max_connections=100)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
        idle = [(await timed(client, "/healthz"))[0] for _ in range(20)]
        print(summary("/healthz idle", idle))
        burst_health, burst_metrics, statuses = [], [], set()
        for _ in range(BURSTS):
            scrapes = [asyncio.create_task(timed(client, "/metrics")) for _ in range(30)]
            await asyncio.sleep(0.05)  # the scrapes are in flight
            burst_health.append((await timed(client, "/healthz"))[0])
            for seconds, status in await asyncio.gather(*scrapes):
                burst_metrics.append(seconds)
                statuses.add(status)
            await asyncio.sleep(1.0)
        print(summary("/healthz during a burst of 30 /metrics", burst_health))
        print(summary("/metrics in those bursts", burst_metrics) + f" statuses={statuses}")
        served, probes = 0, []
        deadline = time.monotonic() + LOOP_SECONDS

        async def scraper() -> None:
            nonlocal served
            while time.monotonic() < deadline:
                await timed(client, "/metrics")
                served += 1

        async def prober() -> None:
            while time.monotonic() < deadline:
                probes.append((await timed(client, "/healthz"))[0])
                await asyncio.sleep(0.1)

        await asyncio.gather(prober(), *(scraper() for _ in range(30)))
        print(summary(f"/healthz while 30 scrapers loop {LOOP_SECONDS:.0f} s", probes))
        print(f"/metrics answers served meanwhile: {served} ({served / LOOP_SECONDS:.0f}/s)")


async def main(rows: int, server_url: str | None, source: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with scratch_database(server_url, tmp) as url:
            started = time.perf_counter()
            await load(url, rows)
            loaded = time.perf_counter() - started
            print(
                f"{url.split(':', 1)[0]}, {rows:,} delivery rows (loaded in {loaded:.0f} s), "
                f"code: {source or 'this checkout'}"
            )
            port = _free_port()
            server = await asyncio.to_thread(start_server, tmp, url, port, source)
            try:
                base = f"http://127.0.0.1:{port}"
                await _until_up(base, server)
                await measure(base)
            finally:
                server.terminate()
                await asyncio.to_thread(server.wait, 60)


def start_server(folder: str, url: str, port: int, source: str | None) -> subprocess.Popen[str]:
    """`python -m bot run` (from `source` when given), its output in folder/server.log."""
    env = {**os.environ, "DATABASE_URL": url, "WEB_PORT": str(port), "METRICS_TOKEN": TOKEN}
    if source:
        env["PYTHONPATH"] = str(Path(source).resolve())
    with (Path(folder) / "server.log").open("w") as sink:  # the child keeps its own copy
        return subprocess.Popen(
            [sys.executable, "-m", "bot", "run"],
            cwd=folder,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
        )


async def _until_up(base: str, server: subprocess.Popen[str]) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=5) as client:
        for _ in range(600):
            if server.poll() is not None:
                raise SystemExit("the server stopped: see server.log")
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit("the server did not answer /healthz within 2 minutes")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3_000_000)
    parser.add_argument("--postgres", help="a PostgreSQL URL (a scratch database is made on it)")
    parser.add_argument("--source", help="run the server from this checkout (a baseline)")
    args = parser.parse_args()
    asyncio.run(main(args.rows, args.postgres, args.source))
