"""`digestbot run` as its own process, as a user runs it, for the benches that measure the
product: settings as shipped except what the bench names (the fake Bot API, the database, the
policy), its CPU time read from /proc, and a clean stop (SIGTERM) whose exit code is reported.

`BENCH_PROFILE=FILE` runs it under cProfile (pstats written to FILE at exit): where its CPU
goes, per function.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from sqlalchemy import insert
from sqlmodel import select

from bench.fanout import insert_rows
from digests import db
from digests.ingest.core import IngestContext, ingest
from digests.models import AccessGrant, Subscriber
from tests.conftest import EXAMPLES, SHANGHAI, february_grants, subscriber_rows
from tests.fake_telegram import TOKEN

SEED_POST = "2-10-zhui-zong"  # the seed's post: gated, February 2026 (password ld2602)
# the policy and its disclaimer as an operator keeping digests on the safe side sets them
POLICY = {"DIGEST_POLICY": "no_advice", "DISCLAIMER": "本摘要仅供学习交流，不构成投资建议。"}
CLK_TCK = os.sysconf("SC_CLK_TCK")


async def readers_unlocked(database_url: str, readers: int, *, first_chat: int) -> None:
    """A migrated database with the sample posts and `readers` Telegram readers (chat ids from
    `first_chat`), every one holding February 2026 (the seed post's period)."""
    import httpx

    async with db.open_engine(database_url) as engine:
        await db.upgrade(engine)
        sessions = db.make_sessionmaker(engine)
        async with httpx.AsyncClient() as http:
            ictx = IngestContext(sessions=sessions, http=http, tz=SHANGHAI, passwords=[])
            [_ async for _ in ingest([str(EXAMPLES)], ictx)]
        async with sessions() as session, session.begin():
            rows = subscriber_rows(readers, channel="telegram", first=first_chat)
            await insert_rows(session, Subscriber, rows)
            ids = (await session.exec(select(Subscriber.id))).all()
            grants = february_grants(ids, SHANGHAI)
            await session.exec(insert(AccessGrant), params=grants)


class Bot:
    """A running `digestbot run`; its stderr is kept (the log), its CPU time read on demand."""

    def __init__(self, database_url: str, api_root: str, **settings: str) -> None:
        with socket.socket() as probe:  # a free port for the web server
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE_URL": api_root,
            "WEB_PORT": str(self.port),
            **POLICY,
            **settings,
        }
        self.cwd = tempfile.mkdtemp(prefix="bench-run-")
        command = [sys.executable, "-m", "bot", "run"]
        profile = self.profile = os.environ.get("BENCH_PROFILE")
        if profile:
            command = [sys.executable, "-m", "cProfile", "-o", profile, "-m", "bot", "run"]
        self.process = subprocess.Popen(
            command,
            cwd=Path(__file__).resolve().parent.parent,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.log: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.log.append(line)

    def wait_ready(self, within: float = 60.0) -> None:
        """Until /healthz answers (the lifespan ran: Telegram polls, the scheduler is set)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("digestbot run exited:\n" + "".join(self.log[-20:]))
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError("digestbot run did not answer /healthz")

    def cpu(self) -> float:
        """Seconds of CPU the process (all its threads) has used."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime

    def command(self, *args: str) -> str:
        """Another `digestbot` command with the same settings (e.g. `publish SLUG`)."""
        done = subprocess.run(
            [sys.executable, "-m", "bot", *args],
            cwd=Path(__file__).resolve().parent.parent,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            raise RuntimeError(f"digestbot {' '.join(args)}: {done.stderr[-2000:]}")
        return done.stdout

    def stop(self) -> tuple[int, float]:
        """SIGTERM, as a service manager stops it: (exit code, seconds it took). Under
        cProfile SIGINT: uvicorn raises the signal it caught again once it has shut down, and
        only a KeyboardInterrupt leaves cProfile the chance to write its file."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGINT if self.profile else signal.SIGTERM)
        try:
            code = self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._reader.join(timeout=5)
        Path(self.cwd, "run.log").write_text("".join(self.log))
        return code, time.monotonic() - started

    def problems(self) -> list[str]:
        """Its log's warnings, errors and tracebacks (but the calendar's notice that next
        year's closures are estimated: true of the shipped data, and not what a bench
        measures)."""
        return [
            line.rstrip()
            for line in self.log
            if ("WARNING" in line or "ERROR" in line or "Traceback" in line)
            and "A股日历" not in line
        ]

    def ended_cleanly(self) -> bool:
        """The lifespan finished (uvicorn re-raises the SIGTERM it caught once it has: exit
        code -15 after a clean shutdown)."""
        return any("Application shutdown complete" in line for line in self.log)
