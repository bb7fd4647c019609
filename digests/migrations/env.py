"""Alembic environment: runs on the connection our code hands over, or on DATABASE_URL.

`digests.db.upgrade()` passes its own connection (so the app, the CLI and the tests migrate the
exact database they use); the bare `alembic` command falls back to the settings.
"""

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import digests.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from digests.db import open_engine
from digests.index.documents import include_name, include_object
from digests.settings import Settings

target_metadata = SQLModel.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
        compare_type=True,
        include_name=include_name,  # the databases' own full-text structures are no models
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_standalone() -> None:
    async with open_engine(Settings().database_url) as engine, engine.connect() as connection:
        await connection.run_sync(_run)


given = context.config.attributes.get("connection")
if given is not None:
    _run(given)
else:
    asyncio.run(_run_standalone())
