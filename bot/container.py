"""The long-lived clients, opened and closed in one place (docs/design.md rule 6)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import httpx
from openai import AsyncOpenAI
from sqlalchemy.ext.asyncio import AsyncEngine

from digests import db
from digests.archive.ask import AskContext
from digests.ingest.core import IngestContext
from digests.kinds import registry
from digests.outbox.leader import Leader
from digests.outbox.types import Kinds
from digests.publishing.context import AdminContext
from digests.replies import StoreContext
from digests.settings import Settings
from digests.summarize.digesting import DigestContext
from digests.summarize.llm import LLM

T = TypeVar("T")
USER_AGENT = "digestbot/0.1 (+research digest bot)"


def make_client(settings: Settings) -> AsyncOpenAI | None:
    """The openai client for the configured server, or None when no LLM is configured (built
    here, from the settings: the digest core is handed the client, never the settings)."""
    if not settings.llm_configured:
        return None
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "unused"
    return AsyncOpenAI(
        api_key=key,  # local servers (Ollama, llama.cpp) ignore it, the client requires one
        base_url=settings.openai_base_url,
        timeout=settings.llm_timeout_seconds,  # per read: the longest silence of a stream
        max_retries=settings.llm_max_retries,  # LLM resends 429/503 itself, nothing else
    )


@dataclass
class Services:
    """Everything a command, handler or job may reach."""

    settings: Settings
    engine: AsyncEngine
    http: httpx.AsyncClient
    llm: LLM | None
    leader: Leader  # only the leader runs the scheduler and sends the outbox
    kinds: Kinds  # the outbox's message kinds (digests/kinds.py): the engine imports no feature

    def ingest_context(self, extra_passwords: list[str] | None = None) -> IngestContext:
        """Ingestion's view: sessions, HTTP, time zone and every known password."""
        return IngestContext(
            sessions=db.make_sessionmaker(self.engine),
            http=self.http,
            tz=self.settings.tz,
            passwords=[*(extra_passwords or []), *self.settings.passwords()],
        )

    def digest_context(self) -> DigestContext:
        """Digesting's view: sessions, the LLM (None = extractive) and its budget."""
        return DigestContext(
            sessions=db.make_sessionmaker(self.engine),
            llm=self.llm,
            budget_chars=self.settings.digest_chunk_chars,
            retry_after=timedelta(minutes=self.settings.summary_retry_minutes),
            rules=self.settings.policy_rules(),
            disclaimer=self.settings.disclaimer or "",
            names=self.settings.securities(),
        )

    def store_context(self) -> StoreContext:
        """The use cases' view: sessions, the time zone, the digest policy and disclaimer."""
        return StoreContext(
            sessions=db.make_sessionmaker(self.engine),
            tz=self.settings.tz,
            watch_teasers=self.settings.watch_teasers,
            rules=self.settings.policy_rules(),
            disclaimer=self.settings.disclaimer or "",
        )

    def ask_context(self) -> AskContext:
        """/ask's view: the store, the LLM (None = search results) and the daily limit."""
        return AskContext(self.store_context(), self.llm, self.settings.ask_daily_limit)

    def admin_context(self) -> AdminContext:
        """The admin use cases' view (they reach everything)."""
        return AdminContext(self.store_context(), self.digest_context(), self.ingest_context())


@asynccontextmanager
async def open_services(settings: Settings, *, migrate: bool = True) -> AsyncIterator[Services]:
    """Open the database (migrated to head), the HTTP client and the LLM client; close all."""
    async with db.open_engine(
        settings.database_url,
        connect_timeout=settings.database_connect_timeout_seconds,
        statement_timeout=settings.database_statement_timeout_seconds,
    ) as engine:
        if migrate:
            await db.upgrade(engine)
        timeout = httpx.Timeout(settings.http_timeout_seconds)
        headers = {"User-Agent": USER_AGENT}
        client = make_client(settings)
        llm, leader = None, Leader(engine)
        if client is not None:
            llm = LLM(
                client,
                model=settings.digest_model,
                max_output_tokens=settings.digest_max_output_tokens,
                context_tokens=settings.llm_context_tokens,
                concurrency=settings.llm_concurrency,
            )
        try:
            async with httpx.AsyncClient(timeout=timeout, headers=headers) as http:
                yield Services(settings, engine, http, llm, leader, registry())
        finally:
            await leader.release()
            if client is not None:
                await client.close()


def run_with_services(settings: Settings, job: Callable[[Services], Awaitable[T]]) -> T:
    """Run one job with the services open (the CLI's commands)."""

    async def main() -> T:
        async with open_services(settings) as services:
            return await job(services)

    return asyncio.run(main())
