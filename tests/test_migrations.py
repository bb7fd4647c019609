"""Migrations: every revision walks up and down cleanly, and head matches the models."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, Table, inspect
from sqlmodel import SQLModel

from digests import db
from digests.index.documents import include_name, include_object
from digests.models import utcnow

# the databases' own full-text structures (digests/index/documents.py) are no models
FILTERS = {"include_name": include_name, "include_object": include_object}


def _revisions() -> list[str]:
    config = Config()
    config.set_main_option("script_location", str(Path(db.__file__).parent / "migrations"))
    script = ScriptDirectory.from_config(config)
    return [r.revision for r in reversed(list(script.walk_revisions()))]


async def test_stairway_up_and_down_every_revision(empty_database_url: str) -> None:
    """Each revision upgrades, downgrades and upgrades again (the stairway test)."""
    async with db.open_engine(empty_database_url) as engine:
        previous = "base"
        for revision in _revisions():
            await db.upgrade(engine, revision)
            await db.downgrade(engine, previous)
            await db.upgrade(engine, revision)
            previous = revision
        await db.downgrade(engine, "base")
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
        assert set(tables) <= {"alembic_version"}


async def test_head_schema_matches_the_models(empty_database_url: str) -> None:
    """No model change is missing a migration."""
    async with db.open_engine(empty_database_url) as engine:
        await db.upgrade(engine)
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts=FILTERS), SQLModel.metadata
                )
            )
    assert diff == []


async def test_publication_rounds_number_earlier_duplicates(empty_database_url: str) -> None:
    """A database where a post was published twice (before publishing became once) upgrades:
    rounds 1 and 2 in publishing order, each with its digest's revision."""
    async with db.open_engine(empty_database_url) as engine:
        await db.upgrade(engine, "0010")
        async with engine.begin() as conn:
            post = await conn.run_sync(_insert, "post", slug="p", revision=2)
            digest = await conn.run_sync(_insert, "digest", post_id=post, revision=2)
            for _ in range(2):
                await conn.run_sync(_insert, "publication", post_id=post, digest_id=digest)
        await db.upgrade(engine)
        async with engine.connect() as conn:
            rows = await conn.exec_driver_sql("SELECT round, revision FROM publication ORDER BY id")
            assert [tuple(row) for row in rows] == [(1, 2), (2, 2)]


def _insert(conn: Connection, name: str, **values: Any) -> int:
    """One row of the table as it stands at this revision: every required column without a
    value gets a neutral one of its type."""
    table = Table(name, MetaData(), autoload_with=conn)
    neutral = {int: 0, str: "x", bool: False, float: 0.0}
    for column in table.columns:
        if column.primary_key or column.nullable or column.name in values:
            continue
        try:
            kind = column.type.python_type
        except NotImplementedError:
            kind = object
        # anything else is a JSON list here (the reflected type varies by backend)
        values[column.name] = utcnow() if kind is datetime else neutral.get(kind, [])
    if name == "digest":
        values["cache_key"] = "k" * 64
    result = conn.execute(table.insert().values(**values))
    return int(result.inserted_primary_key[0])
