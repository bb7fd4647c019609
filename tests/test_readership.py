"""The readership (digests/readership/stats.py, chart.py; bot/scheduler.py's jobs): the
figures match counts built by hand, the chart is a PNG of the stated size, page opens count
unique readers, and the weekly report is scheduled only when STATS_REPORT_SCHEDULE is set."""

from __future__ import annotations

import asyncio
import json
import struct
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import time_machine
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlmodel import delete, select
from typer.testing import CliRunner

from bot.cli import app
from bot.console import ConsoleChannel
from bot.container import open_services
from bot.scheduler import add_readership_jobs
from digests import db
from digests.ingest.core import IngestContext, ingest
from digests.kinds import registry
from digests.models import AccessGrant, Delivery, Publication, Status, Subscriber
from digests.outbox.dispatcher import send_queued
from digests.outbox.types import sent_hash
from digests.publishing import publish
from digests.publishing.context import AdminContext
from digests.readers import account
from digests.readership import actions, chart
from digests.readership.stats import Week, readership
from digests.replies import StoreContext
from digests.settings import Settings
from digests.summarize.digesting import DigestContext
from tests.conftest import EXAMPLES, SHANGHAI
from tests.test_digest_page import Site, site

NOW = datetime(2026, 3, 4, 10, 0, tzinfo=SHANGHAI)  # a Wednesday
PUBLIC_SLUG = "2026-02-20-public-new-year"
_ = site  # the digest page's fixture, used below


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=SHANGHAI)


async def _admin_context(sessions: Any, http: httpx.AsyncClient) -> AdminContext:
    ictx = IngestContext(sessions=sessions, http=http, tz=SHANGHAI, passwords=[])
    [_ async for _ in ingest([str(EXAMPLES)], ictx)]
    return AdminContext(StoreContext(sessions, SHANGHAI), DigestContext(sessions, llm=None), ictx)


async def seed_console_delivery(database_url: str) -> tuple[int, int, str]:
    """A console reader who was sent the public post: (reader, publication, hash of the text)."""
    async with db.open_engine(database_url) as engine, httpx.AsyncClient() as http:
        await db.upgrade(engine)
        actx = await _admin_context(db.make_sessionmaker(engine), http)
        alice, _ = await account.register(actx.store, channel="console", external_id="alice")
        await publish.publish_post(actx, PUBLIC_SLUG, by="test")
        console = ConsoleChannel()
        await send_queued(actx.store, registry(), {"console": console})
        async with actx.store.sessions() as session:
            publication = (await session.exec(select(Publication.id))).one()
    assert alice.id is not None and publication is not None
    return alice.id, publication, sent_hash(console.inbox["alice"])


async def _seed_readership(database_url: str) -> int:
    """Four readers, two grants, one publication with one delivery sent and one failed, two
    readers' page opens (one of them twice) and three taps; returns the publication id."""
    async with db.open_engine(database_url) as engine, httpx.AsyncClient() as http:
        await db.upgrade(engine)
        actx = await _admin_context(db.make_sessionmaker(engine), http)
        with time_machine.travel(NOW, tick=False):
            await publish.publish_post(actx, PUBLIC_SLUG, by="test")
        async with actx.store.sessions() as session, session.begin():
            await session.exec(delete(Delivery))  # type: ignore[call-overload]
            people = {
                "t1": Subscriber(channel="telegram", external_id="1", created_at=at("2026-02-03")),
                "t2": Subscriber(
                    channel="telegram", external_id="2", status="stopped",
                    created_at=at("2026-02-04"), stopped_at=at("2026-02-18"),
                ),
                "w1": Subscriber(channel="wechat", external_id="o1", created_at=at("2026-02-25")),
                "r1": Subscriber(channel="wecom", external_id="robot", created_at=at("2026-01-05")),
            }  # fmt: skip
            session.add_all(people.values())
            await session.flush()
            ids = {name: s.id or 0 for name, s in people.items()}
            session.add_all(
                [
                    AccessGrant(
                        subscriber_id=ids["t1"], label="2026-02", starts_at=at("2026-02-01"),
                        ends_at=at("2026-03-01"), created_at=at("2026-02-03"),
                    ),
                    AccessGrant(
                        subscriber_id=ids["w1"], label="2026-03", starts_at=at("2026-03-01"),
                        ends_at=at("2026-04-01"), created_at=at("2026-02-26"),
                    ),
                ]
            )  # fmt: skip
            publication = (await session.exec(select(Publication.id))).one() or 0
            for name, status in (("t1", Status.SENT), ("w1", Status.FAILED)):
                session.add(
                    Delivery(
                        kind="digest", ref=str(publication), channel=people[name].channel,
                        subscriber_id=ids[name], status=status,
                    )
                )  # fmt: skip
        for name, kind, times in (
            ("t1", actions.PAGE_OPEN, 2),
            ("w1", actions.PAGE_OPEN, 1),
            ("t1", actions.TAP, 3),
        ):
            for _ in range(times):
                await actions.record(
                    actx.store, subscriber_id=ids[name], publication_id=publication, kind=kind
                )
    return publication


def test_stats_json_matches_counts_built_by_hand(cli: CliRunner, database_url: str) -> None:
    """`digestbot stats --json` at a fixed now: readers by channel, unlocked per period,
    weekly readers/unlocked/new/stopped, conversion (robots left out), per publication."""
    publication = asyncio.run(_seed_readership(database_url))
    with time_machine.travel(NOW, tick=True):
        result = cli.invoke(app, ["stats", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["since"] == "2025-12-15"  # 12 weeks ending with NOW's
    assert report["readers_by_channel"] == {
        "telegram": {"active": 1, "stopped": 1},
        "wechat": {"active": 1},
        "wecom": {"active": 1},
    }
    assert report["unlocked_per_period"] == {"2026-02": 1, "2026-03": 1}
    fields = ("readers", "unlocked", "new", "stopped")
    weeks = {w["start"]: tuple(w[f] for f in fields) for w in report["weeks"]}
    assert len(weeks) == 12
    assert weeks["2026-01-05"] == (1, 0, 1, 0)
    assert weeks["2026-02-02"] == (3, 1, 2, 0)  # t1 and t2 started
    assert weeks["2026-02-16"] == (2, 1, 0, 1)
    assert weeks["2026-02-23"] == (3, 1, 1, 0)  # t1's February ended, w1's March began
    assert weeks["2026-03-02"] == (3, 1, 0, 0)
    assert report["conversion"] == {"started": 3, "unlocked": 2, "rate": 0.6667}
    [row] = report["publications"]
    assert row["publication"] == publication
    assert (row["delivered"], row["failed"], row["opened"], row["taps"]) == (1, 1, 2, 3)
    text = cli.invoke(app, ["stats", "--since", "2026-02-02"])
    assert text.exit_code == 0 and "2026-02-02  readers 3  unlocked 1  new 2" in text.output


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


@pytest.mark.parametrize("cjk", [True, False])
def test_the_chart_is_a_png_of_the_stated_size(cjk: bool) -> None:
    """With the CJK font found (or English labels without one) the PNG is 900 × 500."""
    weeks = [Week(date(2026, 1, 5) + timedelta(weeks=i), 10 + i, i, 2, 1) for i in range(12)]
    png = chart.draw(weeks, cjk=cjk)
    assert _png_size(png) == (chart.WIDTH, chart.HEIGHT) == (900, 500)
    assert len(png) > 5000  # something was drawn


def test_page_opens_count_unique_readers(site: Site) -> None:
    """Two opens of one link by the same reader are one reader in `opened`."""
    for _ in range(2):
        assert site.open(site.alice, site.public).status_code == 200

    async def opened() -> dict[int, int]:
        async with open_services(site.settings, migrate=False) as services:
            report = await readership(services.store_context())
        return {p["publication"]: p["opened"] for p in report.publications}

    assert asyncio.run(opened())[site.public] == 1


def _scheduler(**settings: Any) -> AsyncIOScheduler:
    values = Settings(_env_file=None, **settings)  # type: ignore[call-arg]
    scheduler = AsyncIOScheduler(timezone=values.timezone)

    async def notify(reply: object) -> None:
        return None

    add_readership_jobs(scheduler, SimpleNamespace(settings=values), notify)  # type: ignore[arg-type]
    return scheduler


def test_the_weekly_report_is_scheduled_only_when_set() -> None:
    """No STATS_REPORT_SCHEDULE: only the audit's pruning; set: Monday 09:00 in TIMEZONE."""
    assert {job.id for job in _scheduler().get_jobs()} == {"audit"}
    scheduler = _scheduler(stats_report_schedule="0 9 * * 1")
    report = scheduler.get_job("stats-report")
    assert report is not None
    fire = report.trigger.get_next_fire_time(None, NOW)
    assert fire == datetime(2026, 3, 9, 9, 0, tzinfo=SHANGHAI)
    assert fire.astimezone(UTC).hour == 1


def test_a_bad_report_schedule_is_refused() -> None:
    """STATS_REPORT_SCHEDULE must be a five-field cron line."""
    with pytest.raises(ValueError, match="five-field"):
        Settings(_env_file=None, stats_report_schedule="every monday")  # type: ignore[call-arg]
