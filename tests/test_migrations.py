"""Migrations: every revision walks up and down cleanly, and head matches the models."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlmodel import SQLModel

from digests import db, models  # noqa: F401  (models registers the tables)


def _revisions() -> list[str]:
    config = Config()
    config.set_main_option("script_location", str(Path(db.__file__).parent / "migrations"))
    script = ScriptDirectory.from_config(config)
    return [r.revision for r in reversed(list(script.walk_revisions()))]


async def test_stairway_up_and_down_every_revision(database_url: str) -> None:
    """Each revision upgrades, downgrades and upgrades again (the stairway test)."""
    async with db.open_engine(database_url) as engine:
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


async def test_head_schema_matches_the_models(database_url: str) -> None:
    """No model change is missing a migration."""
    async with db.open_engine(database_url) as engine:
        await db.upgrade(engine)
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), SQLModel.metadata)
            )
    assert diff == []
