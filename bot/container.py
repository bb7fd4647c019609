"""The long-lived clients, opened and closed in one place (DESIGN.md rule 6)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from digests import db
from digests.ingest.core import IngestContext
from digests.settings import Settings

USER_AGENT = "digestbot/0.1 (+research digest bot)"


@dataclass
class Services:
    """Everything a command, handler or job may reach."""

    settings: Settings
    engine: AsyncEngine
    http: httpx.AsyncClient

    def ingest_context(self, extra_passwords: list[str] | None = None) -> IngestContext:
        """Ingestion's view: sessions, HTTP, time zone and every known password."""
        return IngestContext(
            sessions=db.make_sessionmaker(self.engine),
            http=self.http,
            tz=self.settings.tz,
            passwords=[*(extra_passwords or []), *self.settings.passwords()],
        )


@asynccontextmanager
async def open_services(settings: Settings, *, migrate: bool = True) -> AsyncIterator[Services]:
    """Open the database (migrated to head) and the HTTP client; close both on exit."""
    async with db.open_engine(settings.database_url) as engine:
        if migrate:
            await db.upgrade(engine)
        timeout = httpx.Timeout(settings.http_timeout_seconds)
        headers = {"User-Agent": USER_AGENT}
        async with httpx.AsyncClient(timeout=timeout, headers=headers) as http:
            yield Services(settings=settings, engine=engine, http=http)
