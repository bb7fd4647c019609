"""The tests' databases at head, made cheaply (the fixtures are in conftest.py).

Running every migration for every test cost ~0.3 s on PostgreSQL and ~0.1 s on SQLite; a
`CREATE DATABASE … TEMPLATE` still cost the server ~0.2 s of CPU (it writes the whole template,
catalogs and all, through its WAL), a third of the server's work in a parallel run. So each
test process (xdist worker) migrates one template of each kind once. A SQLite test gets a copy
of the file. A PostgreSQL test gets a database of the process's pool: a copy of the template
the first time; after the test its connections are ended, every row is deleted and every
sequence restarted, and the next test of the process gets it, unless the test changed the
schema (a trigger of its own, say): that database is dropped instead. Databases are named
with a uuid, so no two processes ever touch one another's.
"""

from __future__ import annotations

import asyncio
import os
import uuid

import asyncpg

from digests import db

PG_ADMIN = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")

# the schema as the catalogs describe it: tables and columns, constraints, triggers,
# functions, schemas and the Alembic revision (anything a test may have changed)
_SCHEMA = """
SELECT md5(string_agg(x, ',' ORDER BY x)) FROM (
  SELECT 'r:' || c.relname || ':' || c.relkind::text || ':' || coalesce(a.attname, '')
         || ':' || coalesce(format_type(a.atttypid, a.atttypmod), '')
    FROM pg_class c
    LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    WHERE c.relnamespace = 'public'::regnamespace
  UNION ALL SELECT 'k:' || conname || ':' || pg_get_constraintdef(oid)
    FROM pg_constraint WHERE connamespace = 'public'::regnamespace
  UNION ALL SELECT 't:' || tgname || ':' || tgenabled::text FROM pg_trigger WHERE NOT tgisinternal
  UNION ALL SELECT 'f:' || proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace
  UNION ALL SELECT 'n:' || nspname FROM pg_namespace
  UNION ALL SELECT 'v:' || version_num FROM alembic_version
) AS s(x)"""


def on_server(name: str) -> str:
    """The URL of database `name` on the tests' PostgreSQL server."""
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


async def admin(sql: str) -> None:
    """One statement on the server's admin database (CREATE / DROP DATABASE)."""
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def migrate(database_url: str) -> None:
    """Apply every migration."""
    async with db.open_engine(database_url) as engine:
        await db.upgrade(engine)


def create(template: str | None = None) -> str:
    """A new database (a copy of `template`, else empty); returns its name."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    asyncio.run(admin(f'CREATE DATABASE "{name}"{copy}'))
    return name


def drop(name: str) -> None:
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


class PostgresPool:
    """This process's PostgreSQL databases at head: `take()` one for a test, `give_back()`
    it after."""

    def __init__(self, template: str) -> None:
        self.template = template
        self.free: list[str] = []
        self.made: list[str] = []
        self.schema, self.emptying = asyncio.run(self._describe(template))

    def take(self) -> str:
        if self.free:
            return self.free.pop()
        name = create(self.template)
        self.made.append(name)
        return name

    def give_back(self, name: str) -> None:
        """Empty the database for the next test, or drop it if its schema changed."""
        try:
            reusable = asyncio.run(self._empty(name))
        except (OSError, asyncpg.PostgresError):
            reusable = False
        if reusable:
            self.free.append(name)
        else:
            self.made.remove(name)
            drop(name)

    def close(self) -> None:
        for name in self.made:
            drop(name)
        drop(self.template)

    async def _describe(self, name: str) -> tuple[str, str]:
        """The template's schema fingerprint, and the SQL that empties a copy of it."""
        conn = await asyncpg.connect(on_server(name))
        try:
            schema = await conn.fetchval(_SCHEMA)
            tables = await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                " AND tablename <> 'alembic_version'"
            )
            sequences = await conn.fetch(
                "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"
            )
        finally:
            await conn.close()  # nobody may be connected to a template being copied
        # replica role: no foreign-key checks or triggers while every table is emptied
        statements = ["SET session_replication_role = replica"]
        statements += [f'DELETE FROM "{row[0]}"' for row in tables]
        statements += [f"SELECT setval('\"{row[0]}\"', 1, false)" for row in sequences]
        return schema, ";\n".join(statements)

    async def _empty(self, name: str) -> bool:
        conn = await asyncpg.connect(on_server(name))
        try:
            # whatever the test left connected (a pool, a killed process's session) goes first:
            # it may hold locks, or an advisory lock the next test's leader would wait for
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if await conn.fetchval(_SCHEMA) != self.schema:
                return False
            async with conn.transaction():
                await conn.execute(self.emptying)
        finally:
            await conn.close()
        return True
