"""The store's plumbing: driver selection from plain URLs, SQLite pragmas, aware datetimes."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from digests import db
from digests.models import Post
from tests.conftest import SHANGHAI
from tests.tcp_proxy import tcp_proxy

EMPTY = {"body_markdown": "", "body_text": "", "content_hash": "h"}  # a post's other columns


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("sqlite:///data/x.db", "sqlite+aiosqlite"),
        ("postgresql://u@h/db", "postgresql+asyncpg"),
        ("postgres://u@h/db", "postgresql+asyncpg"),
    ],
)
def test_plain_urls_get_the_async_driver(given: str, driver: str) -> None:
    """Users write plain URLs; the async driver is chosen for them."""
    assert db.async_url(given).drivername == driver


def test_unsupported_database_is_a_clear_error() -> None:
    """Anything but SQLite and PostgreSQL is refused with the accepted forms named."""
    with pytest.raises(ValueError, match="sqlite:/// or postgresql://"):
        db.async_url("mysql://root@localhost/test")


async def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path: Path) -> None:
    """Every SQLite connection has WAL and foreign keys on, and the file's folder is made."""
    url = f"sqlite:///{tmp_path}/new/dir/x.db"
    async with db.open_engine(url) as engine, engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1


async def test_datetimes_come_back_aware_in_utc(engine: AsyncEngine) -> None:
    """A Shanghai time is stored and read back as the same instant, zone-aware, on both stores."""
    sessions = db.make_sessionmaker(engine)
    when = datetime(2026, 2, 12, 13, 27, 29, tzinfo=SHANGHAI)
    async with sessions() as session, session.begin():
        session.add(Post(slug="s", source="hexo", title="t", published_at=when, **EMPTY))
    async with sessions() as session:
        post = (await session.exec(select(Post))).first()
    assert post is not None and post.published_at == when
    assert post.published_at.utcoffset() is not None


async def test_naive_datetimes_are_refused(engine: AsyncEngine) -> None:
    """A naive datetime would be ambiguous; the store refuses it instead of guessing."""
    sessions = db.make_sessionmaker(engine)
    with pytest.raises(Exception, match="naive datetime"):
        async with sessions() as session, session.begin():
            naive = datetime(2026, 1, 1)
            session.add(Post(slug="n", source="hexo", title="t", published_at=naive, **EMPTY))


def _through(database_url: str, port: int) -> str:
    """`database_url` with its server replaced by 127.0.0.1:`port`."""
    return make_url(database_url).set(host="127.0.0.1", port=port).render_as_string(False)


async def test_a_server_that_never_answers_fails_the_connection_in_time(database_url: str) -> None:
    """PostgreSQL that accepts the connection and says nothing: the connect gives up after
    the connect timeout instead of hanging (asyncpg's own default is 60 s)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no server")
    with tcp_proxy(None) as proxy:
        url = _through(database_url, proxy.port)
        async with db.open_engine(url, connect_timeout=0.5) as engine:
            with pytest.raises((TimeoutError, OSError)):
                async with asyncio.timeout(20) as bound, engine.connect():  # the test's bound
                    pass
    assert not bound.expired()  # the engine gave up, not the test


async def test_a_statement_the_server_never_answers_times_out(empty_database_url: str) -> None:
    """Connected, then the server goes silent: the statement gives up after the statement
    timeout, and migrations (run before the silence) are not held to it."""
    if not empty_database_url.startswith("postgresql"):
        pytest.skip("SQLite has no server")
    with tcp_proxy(("127.0.0.1", make_url(empty_database_url).port or 5432)) as proxy:
        url = _through(empty_database_url, proxy.port)
        async with db.open_engine(url, statement_timeout=0.5) as engine:
            await db.upgrade(engine)
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
                proxy.blackhole()
                with pytest.raises(TimeoutError):
                    async with asyncio.timeout(20) as bound:  # the test's own bound
                        await conn.execute(text("SELECT 1"))
                proxy.cut()
    assert not bound.expired()  # the statement gave up, not the test
