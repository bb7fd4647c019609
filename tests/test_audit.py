"""The audit record (digests/readership/audit.py): every delivery sent keeps the SHA-256 of
exactly what the platform received and the policy in force; `audit` lists exactly those; old
rows are pruned, younger ones never."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import httpx
from sqlmodel import col, select
from typer.testing import CliRunner

from bot.cli import app
from bot.console import ConsoleChannel
from bot.wecom import WeComChannel, register_robots
from digests.kinds import registry
from digests.models import Delivery, Publication, ReaderAction, Status, utcnow
from digests.outbox.dispatcher import send_queued
from digests.outbox.editions import make_edition
from digests.outbox.types import sent_hash
from digests.publishing import publish
from digests.publishing.context import AdminContext
from digests.readers.account import get_subscriber
from digests.readership import actions, audit
from digests.replies import StoreContext
from digests.summarize.policy import DigestPolicy, PolicyRules
from tests.conftest import reader
from tests.fake_telegram import running_bot
from tests.test_telegram import ADMIN, ALICE, BOB, subscribe, until
from tests.test_wechat_sender import follower, world
from tests.test_wecom import Robot, robot

_ = (world, robot)  # fixtures of the WeChat and WeCom tests, used here too

PUBLIC = "2026-02-20-public-new-year"


async def _publication_id(store: StoreContext) -> int:
    async with store.sessions() as session:
        found = (await session.exec(select(Publication.id))).first()
    assert found is not None
    return found


async def _final(store: StoreContext) -> bool:
    async with store.sessions() as session:
        open_rows = await session.exec(
            select(Delivery.id).where(col(Delivery.status).in_([Status.QUEUED, Status.SENDING]))
        )
        return not open_rows.all()


async def test_audit_hashes_match_what_the_fake_bot_api_received(database_url: str) -> None:
    """After a publish over Telegram, the record lists exactly the messages sent (a blocked
    reader's is not), each with the SHA-256 of the text the Bot API received, policy full."""
    async with running_bot(database_url, ADMIN) as (fake, services):
        await subscribe(fake, ALICE, BOB)
        before = len(fake.inbox[ALICE])
        fake.blocked.add(BOB)
        fake.user_says(ADMIN, f"/publish {PUBLIC}")
        await until(lambda: len(fake.inbox[ALICE]) > before)
        store = services.store_context()
        for _ in range(200):
            if await _final(store):
                break
            await asyncio.sleep(0.05)
        received = fake.inbox[ALICE][before:]
        async with store.sessions() as session:
            alice = await get_subscriber(session, channel="telegram", external_id=str(ALICE))
            bob = await get_subscriber(session, channel="telegram", external_id=str(BOB))
        assert alice is not None and alice.id is not None and bob is not None
        publication = await _publication_id(store)
        rows = await audit.reader_record(store, alice.id)
        assert [(r["kind"], r["publications"]) for r in rows] == [("digest", [publication])]
        assert rows[0]["sha256"] == sent_hash(received)
        assert rows[0]["policy"] == "full"
        assert await audit.reader_record(store, bob.id or 0) == []
        who = await audit.publication_record(store, publication)
        assert [r["reader"] for r in who] == [alice.id]


async def test_admin_stats_sends_the_chart_as_a_photo(database_url: str) -> None:
    """/stats answers with the figures (LLM costs kept) and then a PNG photo; a reader's tap
    on a publication's button is counted."""
    async with running_bot(database_url, ADMIN) as (fake, services):
        fake.user_says(ADMIN, f"/publish {PUBLIC}")
        await until(lambda: any("已发布" in m for m in fake.inbox.get(ADMIN, [])))
        await subscribe(fake, ALICE)
        publication = await _publication_id(services.store_context())
        fake.user_presses(ALICE, f"open:{publication}")
        await until(lambda: len(fake.inbox[ALICE]) > 1)
        fake.user_says(ADMIN, "/stats")
        await until(lambda: bool(fake.photos.get(ADMIN)))
        text = next(m for m in fake.inbox[ADMIN] if "LLM" in m)
        assert "读者（活跃）" in text and "按钮 1 次" in text
        assert fake.photos[ADMIN][0].startswith(b"\x89PNG\r\n\x1a\n")


async def test_the_policy_in_force_and_the_console_text_are_recorded(
    actx: AdminContext,
) -> None:
    """A send under another policy records it; the console's hash is of the text it showed."""
    alice = await reader(actx, "alice")
    rules = PolicyRules(DigestPolicy.no_advice)
    store = StoreContext(actx.store.sessions, actx.store.tz, rules=rules)
    await publish.publish_post(actx, PUBLIC, by="test")
    console = ConsoleChannel()
    counts = await send_queued(store, registry(), {"console": console})
    assert counts.sent == 1
    [row] = await audit.reader_record(store, alice.id or 0)
    assert row["policy"] == "no_advice"
    assert row["sha256"] == sent_hash(console.inbox["alice"])


async def test_retention_prunes_only_old_final_rows(actx: AdminContext) -> None:
    """Rows older than the retention go; younger rows and old rows still queued stay."""
    now = utcnow()
    alice = await reader(actx, "alice")
    await publish.publish_post(actx, PUBLIC, by="test")
    publication = await _publication_id(actx.store)
    old, young = now - timedelta(days=1100), now - timedelta(days=1000)
    async with actx.store.sessions() as session, session.begin():
        for ref, status, created in (
            ("old-sent", Status.SENT, old),
            ("old-queued", Status.QUEUED, old),
            ("young-sent", Status.SENT, young),
        ):
            session.add(
                Delivery(
                    kind="broadcast", ref=ref, channel="console", subscriber_id=alice.id or 0,
                    status=status, created_at=created,
                    sent_at=created if status == Status.SENT else None,
                )
            )  # fmt: skip
    for at in (old, young):
        await actions.record(
            actx.store, subscriber_id=alice.id or 0, publication_id=publication,
            kind=actions.PAGE_OPEN, at=at,
        )  # fmt: skip
    pruned = await audit.prune(actx.store, days=1095, now=now)
    assert pruned == {"deliveries": 1, "actions": 1}
    async with actx.store.sessions() as session:
        refs = set((await session.exec(select(Delivery.ref))).all())
        kept = (await session.exec(select(ReaderAction.at))).all()
    assert "old-sent" not in refs and {"old-queued", "young-sent"} <= refs
    assert len(kept) == 1


def test_cli_audit_lists_a_reader_and_a_publication(cli: CliRunner, database_url: str) -> None:
    """`digestbot audit --reader/--publication --json` print the record; one of the two is
    required, a bad --since is a sentence."""
    from tests.test_readership import seed_console_delivery

    reader_id, publication, digest = asyncio.run(seed_console_delivery(database_url))
    mine = cli.invoke(app, ["audit", "--reader", str(reader_id), "--json"])
    assert mine.exit_code == 0, mine.output
    [row] = json.loads(mine.output)
    assert row["publications"] == [publication] and row["sha256"] == digest
    theirs = cli.invoke(app, ["audit", "--publication", str(publication), "--since", "2000-01-01"])
    assert theirs.exit_code == 0 and f"reader {reader_id} (console)" in theirs.output
    assert "1 message(s)" in theirs.output
    assert cli.invoke(app, ["audit"]).exit_code == 2
    assert cli.invoke(app, ["audit", "--reader", "1", "--since", "03/01"]).exit_code == 2


async def test_wechat_and_wecom_hashes_match_what_their_apis_received(
    world: Any, robot: Robot
) -> None:
    """The WeChat customer-service text and the WeCom robot's markdown (an edition: found by
    --publication through the edition that carried it) are hashed as received."""
    fake, services, channel = world
    store = services.store_context()
    await follower(services, fake, "o-ann")
    await register_robots(store, [robot.url])
    await publish.publish_post(services.admin_context(), PUBLIC, by="test")
    await make_edition(store, utcnow())
    async with httpx.AsyncClient() as http:
        channels = {"wechat": channel, "wecom": WeComChannel([robot.url], http)}
        assert (await send_queued(store, registry(), channels)).sent == 2
    publication = await _publication_id(store)
    by_channel = {r["channel"]: r for r in await audit.publication_record(store, publication)}
    assert by_channel["wechat"]["sha256"] == sent_hash(fake.inbox["o-ann"])
    content = [post["markdown"]["content"] for post in robot.posts]
    assert by_channel["wecom"]["sha256"] == sent_hash(content)
    assert by_channel["wecom"]["kind"] == "edition"
    assert by_channel["wecom"]["publications"] == [publication]
