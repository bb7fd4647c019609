"""Shared fixtures: real databases (SQLite always, PostgreSQL when reachable: tests/databases.py)
and a loopback HTTP server standing in for the blog (tests/loopback.py)."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import httpx
import pytest
import time_machine
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from bench.ingest import postgres_up
from digests import db
from digests.ingest.core import IngestContext, ingest
from digests.models import Subscriber, utcnow
from digests.publishing import publish
from digests.publishing.context import AdminContext
from digests.readers import access, account, periods
from digests.replies import StoreContext
from digests.summarize.digesting import DigestContext
from tests import databases
from tests.databases import PG_ADMIN as PG_ADMIN  # for bench/outage.py
from tests.loopback import Blog, LoopbackHandler, Route, serve

if TYPE_CHECKING:
    from tests.fake_llm import FakeLLM

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLES = Path(__file__).parent.parent / "examples" / "posts"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--clock",
        default=os.environ.get("TEST_CLOCK"),
        help="run every test with the wall clock moved to this ISO date or time (it still "
        "ticks): a test that is green today and red on that day depends on today's date",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first: in a parallel run (pytest -n) a long test started last would keep
    one worker busy after the others are done."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True)
def _moved_clock(request: pytest.FixtureRequest) -> Iterator[None]:
    """With --clock (or TEST_CLOCK), the process's wall clock starts at that moment; monotonic
    time is untouched, so timeouts and pacing behave."""
    clock = request.config.getoption("--clock")
    if not clock:
        yield
        return
    with time_machine.travel(datetime.fromisoformat(clock).astimezone(UTC), tick=True):
        yield


POSTGRES_UP = postgres_up()


def subscriber_rows(count: int, *, channel: str, first: int = 0) -> list[dict[str, object]]:
    """`count` active, instant subscribers as rows for one bulk INSERT (tests and benches);
    external ids are `first`, `first + 1`, …"""
    now = utcnow()
    return [
        {
            "channel": channel,
            "external_id": str(first + i),
            "name": "",
            "status": "active",
            "delivery": "instant",
            "reminders": True,
            "awaiting_password": False,
            "gone_reason": "",
            "created_at": now,
            "updated_at": now,
        }
        for i in range(count)
    ]


def february_grants(ids: Iterable[int | None], tz: ZoneInfo) -> list[dict[str, object]]:
    """Rows giving each of these subscribers February 2026 (the seed post's period), already
    reminded of its end (tests and benches)."""
    starts, ends = access.period_bounds(date(2026, 2, 1), date(2026, 2, 28), tz)
    now = utcnow()
    return [
        {
            "subscriber_id": i,
            "label": "2026-02",
            "starts_at": starts,
            "ends_at": ends,
            "reminded_days": 99,
            "created_at": now,
        }
        for i in ids
    ]


async def reader(actx: AdminContext, name: str, **settings: object) -> Subscriber:
    """A console reader registered as `name`, with `settings` (delivery, reminders...) set."""
    subscriber, _ = await account.register(actx.store, channel="console", external_id=name)
    if settings:
        subscriber = await account.update_settings(actx.store, subscriber, **settings)  # type: ignore[arg-type]
    return subscriber


async def fresh(actx: AdminContext, subscriber: Subscriber) -> Subscriber:
    """`subscriber` as stored now (after handlers changed it in their own sessions)."""
    async with actx.store.sessions() as session:
        found = await session.get(Subscriber, subscriber.id)
    assert found is not None
    return found


async def publish_to_readers(
    database_url: str, readers: int, *, first_chat: int, by: str = "test"
) -> None:
    """A migrated database with the samples, `readers` Telegram readers (chat ids from
    `first_chat`) and the public sample post published to them (tests and benches)."""
    async with db.open_engine(database_url) as engine:
        await db.upgrade(engine)
        sessions = db.make_sessionmaker(engine)
        async with httpx.AsyncClient() as http:
            ictx = IngestContext(sessions=sessions, http=http, tz=SHANGHAI, passwords=[])
            [_ async for _ in ingest([str(EXAMPLES)], ictx)]
            actx = AdminContext(
                StoreContext(sessions, SHANGHAI), DigestContext(sessions, llm=None), ictx
            )
            async with sessions() as session, session.begin():
                rows = subscriber_rows(readers, channel="telegram", first=first_chat)
                await session.exec(insert(Subscriber), params=rows)
            await publish.publish_post(actx, "2026-02-20-public-new-year", by=by)


@pytest.fixture(scope="session")
def sqlite_head(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per test process; tests get copies of it."""
    path = tmp_path_factory.mktemp("template") / "head.db"
    asyncio.run(databases.migrate(f"sqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def postgres_pool() -> Iterator[databases.PostgresPool]:
    """This process's PostgreSQL databases at head (tests/databases.py)."""
    template = databases.create()
    try:
        asyncio.run(databases.migrate(databases.on_server(template)))
    except BaseException:
        databases.drop(template)
        raise
    pool = databases.PostgresPool(template)
    yield pool
    pool.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of each kind at head, with no rows, for this test alone (a copy of the
    process's SQLite template; a PostgreSQL database of its pool). One test walks the
    migrations themselves: tests/test_migrations.py."""
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copyfile(request.getfixturevalue("sqlite_head"), path)
        yield f"sqlite:///{path}"
        return
    _need_postgres()
    pool: databases.PostgresPool = request.getfixturevalue("postgres_pool")
    name = pool.take()
    yield databases.on_server(name)
    pool.give_back(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of each kind (no migration applied), for the migrations' tests."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    _need_postgres()
    name = databases.create()
    yield databases.on_server(name)
    databases.drop(name)


def need(present: bool, required_by: str, missing: str) -> None:
    """Skip the test when a service or tool is `missing`, or fail it when the environment
    variable `required_by` is set (CI sets them: there a skip would hide untested code)."""
    if present:
        return
    if os.environ.get(required_by):
        pytest.fail(f"{missing}, and {required_by} is set")
    pytest.skip(missing)


def _need_postgres() -> None:
    need(POSTGRES_UP, "REQUIRE_POSTGRES", "PostgreSQL is not reachable on 127.0.0.1:5432")


@pytest.fixture
def redis_url() -> str:
    """Redis on 127.0.0.1:6379 (database 15); tests keep to keys of their own there, since
    parallel workers share it."""
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
        up = True
    except OSError:
        up = False
    need(up, "REQUIRE_REDIS", "Redis is not reachable on 127.0.0.1:6379")
    return "redis://127.0.0.1:6379/15"


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    """A `digestbot` runner whose environment points at a fresh database and no `.env`."""
    return cli_on(database_url, monkeypatch, tmp_path)


def cli_on(database_url: str, monkeypatch: pytest.MonkeyPatch, folder: Path) -> CliRunner:
    """A `digestbot` runner on this database, in `folder`, with no `.env`."""
    monkeypatch.chdir(folder)  # keep the developer's .env out of the test
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("TIMEZONE", "Asia/Shanghai")
    return CliRunner()


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a database migrated to head."""
    async with db.open_engine(database_url) as engine:
        await db.upgrade(engine)
        yield engine


@pytest.fixture
async def ctx(engine: AsyncEngine) -> AsyncIterator[IngestContext]:
    """Ingestion wired to the test database and a real HTTP client."""
    async with httpx.AsyncClient(timeout=5) as http:
        yield IngestContext(
            sessions=db.make_sessionmaker(engine), http=http, tz=SHANGHAI, passwords=["ld2602"]
        )


@pytest.fixture
async def actx(ctx: IngestContext) -> AsyncIterator[AdminContext]:
    """Sample posts stored, February's password set, no LLM (extractive digests)."""
    [_ async for _ in ingest([str(EXAMPLES)], ctx)]
    context = AdminContext(
        StoreContext(ctx.sessions, SHANGHAI), DigestContext(ctx.sessions, llm=None), ctx
    )
    await periods.add_password(
        context.store, "ld2602", date(2026, 2, 1), date(2026, 2, 28), "2026-02"
    )
    yield context


@pytest.fixture
def server() -> Iterator[FakeLLM]:
    """A fake OpenAI-compatible server on loopback (tests/fake_llm.py)."""
    from tests.fake_llm import fake_llm  # imported here: fake_llm builds on this module

    with fake_llm() as fake:
        yield fake


@pytest.fixture
async def dctx(ctx: IngestContext, server: FakeLLM) -> AsyncIterator[DigestContext]:
    """The sample posts stored, and digesting wired to the fake server (no retries)."""
    from tests.fake_llm import samples_digested_by

    async with samples_digested_by(server, ctx) as digests:
        yield digests


@pytest.fixture
def blog() -> Iterator[Blog]:
    """Serve `blog.routes` on 127.0.0.1; conditional GET is honoured like a real server."""
    state = Blog(base="")

    class Handler(LoopbackHandler):
        def do_GET(self) -> None:
            state.requests.append((self.path, dict(self.headers.items())))
            route = state.routes.get(self.path, Route(404, b"not found"))
            etag = route.headers.get("ETag")
            if route.status == 200 and etag and self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.end_headers()
                return
            self.respond(route.status, route.body, route.headers)

    with serve(Handler) as base:
        state.base = base
        yield state
