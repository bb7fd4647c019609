"""Engine and session factory; the one place a database connection is configured.

SQLite (the embedded default) gets WAL and foreign keys on every connection; PostgreSQL is the
scale-out store. Users give plain `sqlite:///` or `postgresql://` URLs and we pick the async
driver, so `.env` files stay driver-agnostic.

A PostgreSQL server that accepts connections and never answers must not hang the bot: a
connection is given up after `connect_timeout` seconds, a statement (the pool's pre-ping
too) after `statement_timeout`: asyncpg's client-side timeouts, so they hold when the server
says nothing at all; a wait for a free pooled connection ends after POOL_TIMEOUT. Migrations
run without the statement timeout: an index built on a large table may take longer.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}
CONNECT_TIMEOUT = 10.0  # seconds (DATABASE_CONNECT_TIMEOUT_SECONDS)
STATEMENT_TIMEOUT = 60.0  # seconds (DATABASE_STATEMENT_TIMEOUT_SECONDS)
POOL_TIMEOUT = 30.0  # seconds a session waits for a free pooled connection (all 15 busy)


def async_url(database_url: str) -> URL:
    """Map a user's `sqlite:///…` / `postgresql://…` URL to its async driver."""
    url = make_url(database_url.replace("postgres://", "postgresql://", 1))
    backend = url.get_backend_name()
    if backend not in _ASYNC_DRIVERS:
        raise ValueError(f"DATABASE_URL must be sqlite:/// or postgresql://, not {backend}://")
    return url.set(drivername=_ASYNC_DRIVERS[backend])


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers (the bot) run while a writer (ingest) commits; SQLite leaves foreign
    # keys off unless asked on every connection.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)  # Chinese stays readable in the database


def make_engine(
    database_url: str | URL,
    *,
    connect_timeout: float = CONNECT_TIMEOUT,
    statement_timeout: float | None = STATEMENT_TIMEOUT,
) -> AsyncEngine:
    """Create the async engine; creates the SQLite file's folder when needed. The timeouts
    apply to PostgreSQL (SQLite waits for a lock at most `busy_timeout`, 5 s)."""
    url = async_url(database_url) if isinstance(database_url, str) else database_url
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, json_serializer=_json)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    connect_args: dict[str, float] = {"timeout": connect_timeout}
    if statement_timeout is not None:
        connect_args["command_timeout"] = statement_timeout
    return create_async_engine(
        url,
        json_serializer=_json,
        pool_pre_ping=True,
        pool_timeout=POOL_TIMEOUT,
        connect_args=connect_args,
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions keep loaded objects usable after commit (docs/design.md rule 4)."""
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


@asynccontextmanager
async def open_engine(
    database_url: str | URL,
    *,
    connect_timeout: float = CONNECT_TIMEOUT,
    statement_timeout: float | None = STATEMENT_TIMEOUT,
) -> AsyncIterator[AsyncEngine]:
    """An engine disposed on exit, for commands and tests."""
    engine = make_engine(
        database_url, connect_timeout=connect_timeout, statement_timeout=statement_timeout
    )
    try:
        yield engine
    finally:
        await engine.dispose()


@asynccontextmanager
async def _for_migrations(engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """`engine`, or on PostgreSQL a short-lived twin without the statement timeout."""
    if engine.dialect.name != "postgresql":
        yield engine
        return
    async with open_engine(engine.url, statement_timeout=None) as twin:
        yield twin


def _alembic_config(connection: Any) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply Alembic migrations up to `revision` (the app and `digestbot db upgrade` call this)."""
    from alembic import command

    async with _for_migrations(engine) as target, target.begin() as conn:
        await conn.run_sync(lambda c: command.upgrade(_alembic_config(c), revision))


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    """Walk migrations down to `revision` (`base` empties the schema)."""
    from alembic import command

    async with _for_migrations(engine) as target, target.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(_alembic_config(c), revision))


def reason(exc: BaseException) -> str:
    """A database error for the log: the driver's message, without the statement and the
    parameters SQLAlchemy adds to its own."""
    cause = exc.orig if isinstance(exc, DBAPIError) else exc
    return f"{type(cause).__name__}: {cause}"[:200]
