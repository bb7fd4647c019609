"""Watchlists in the domain, through the console channel and the outbox (SQLite and
PostgreSQL): name matching, alerts and WATCH_TEASERS, the timeline's pages, and a mass-send
that leaves every reader's ⭐ line out."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import update

from bot.console import ConsoleChannel, handle
from bot.wechat.sender import teaser
from digests import db
from digests.kinds import registry
from digests.models import Delivery, Status
from digests.outbox import mass
from digests.outbox.dispatcher import send_queued
from digests.publishing import drafts, publish
from digests.publishing.context import AdminContext
from digests.readers import passwords
from digests.watch import lists, names, popular
from tests.conftest import SHANGHAI, reader
from tests.test_migrations import _insert

SEED = "2-10-zhui-zong"  # gated, dated 2026-02-12; its 通信 section names 天孚通信


@pytest.mark.parametrize(
    ("typed", "digest_name", "same"),
    [
        ("天孚通信", "天孚通信", True),
        ("ＨＢＭ", "HBM", True),  # full-width, NFKC
        ("hbm", "HBM", True),  # Latin case
        ("Bilibili ", "bilibili", True),
        ("SK 海力士", "SK海力士", True),  # spaces do not count
        ("天孚", "天孚通信", False),  # a prefix is another name
        ("液冷", "液冷服务器", False),
    ],
)
def test_names_match_after_nfkc_and_casefold(typed: str, digest_name: str, same: bool) -> None:
    """A typed name and a digest's name are the same exactly when their keys are."""
    assert (names.key(typed) == names.key(digest_name)) is same


def test_clean_strips_quotes_and_width() -> None:
    """What a reader typed is shown back NFKC-normalised, without quotes around it."""
    assert names.clean("「ＣＰＯ」") == "CPO" and names.clean(" 天孚通信 ") == "天孚通信"


async def test_alerts_follow_watch_teasers_and_the_watchlist_at_send(actx: AdminContext) -> None:
    """WATCH_TEASERS=false: a locked edition watcher gets nothing; an entitled one gets the
    points; a reader who unwatched before the send gets nothing; instant non-watchers no ⭐."""
    store = replace(actx.store, watch_teasers=False)
    quiet = replace(actx, store=store)
    carol = await reader(actx, "carol", delivery="edition")
    dave = await reader(actx, "dave", delivery="edition")
    erin = await reader(actx, "erin", delivery="edition")
    alice = await reader(actx, "alice")
    for unlocked in (carol, erin, alice):
        await passwords.unlock(store, unlocked, "ld2602")
    for watcher in (carol, dave, erin):
        await lists.watch(store, watcher, "天孚通信")
    await publish.publish_post(quiet, SEED, by="test")
    await lists.unwatch(store, erin, "天孚通信")
    channel = ConsoleChannel()
    await send_queued(store, registry(), {"console": channel})
    assert len(channel.inbox["carol"]) == 1 and "龙头天孚通信" in channel.inbox["carol"][0]
    assert channel.inbox["carol"][0].startswith("⭐ 你关注的：天孚通信\n《")
    assert "[open:" in channel.inbox["carol"][0]  # the 阅读摘要 button
    assert "dave" not in channel.inbox and "erin" not in channel.inbox
    assert "⭐" not in channel.inbox["alice"][0]


async def test_timeline_pages_ten_at_a_time_newest_first(actx: AdminContext) -> None:
    """Twelve digests name 天孚通信: the first page lists ten, newest first, with a 更多
    action; the action gives the last two and no more button."""
    alice = await reader(actx, "alice")
    start = datetime(2026, 3, 1, 9, tzinfo=SHANGHAI)
    for n in range(12):
        text = f"盘后速递{n}\n\n## 通信\n\n- 龙头天孚通信，第{n}次提到"
        draft = drafts.admin_draft(text, ctx=actx, now=start + timedelta(days=n))
        await drafts.post_and_preview(actx, draft)
        await publish.publish_post(actx, draft.slug, by="test")
    first = await handle(actx, alice, "/stock 天孚通信", is_admin=False)
    assert "出现在 12 篇摘要中（第 1–10 篇）" in first.text
    assert first.text.index("盘后速递11") < first.text.index("盘后速递2")
    assert "盘后速递1》" not in first.text and "第11次提到" in first.text
    [(label, action)] = first.choices
    assert label == "更多（还有 2 篇）" and action == "stock:天孚通信 2"
    rest = await handle(actx, alice, action, is_admin=False)  # the button's data, typed back
    assert "第 11–12 篇" in rest.text and "盘后速递1》" in rest.text and not rest.choices
    top = await popular.most_watched(actx.store)
    assert top == []  # nobody watches anything yet
    await handle(actx, alice, "/watch 天孚通信", is_admin=False)
    assert await popular.most_watched(actx.store) == [("天孚通信", 1)]


async def test_a_mass_send_leaves_each_readers_star_line_out(actx: AdminContext) -> None:
    """Two unlocked readers wait for the same digest, one of them a watcher: the mass-send
    carries the shared text (no ⭐) to both."""
    with time_machine.travel(datetime(2026, 2, 13, 8, tzinfo=UTC), tick=True):
        alice, bob = await reader(actx, "alice"), await reader(actx, "bob")
        for unlocked in (alice, bob):
            await passwords.unlock(actx.store, unlocked, "ld2602")
        await lists.watch(actx.store, alice, "天孚通信")
        await publish.publish_post(actx, SEED, by="test")
        async with actx.store.sessions() as session, session.begin():
            await session.exec(update(Delivery).values(status=Status.WAITING))
        plan = await mass.plan(
            actx.store, registry(), "console", teaser, limit=2000, footer="仅供参考"
        )
    assert plan is not None and set(plan.audience) == {alice.id, bob.id}
    assert "⭐" not in plan.text and "天孚通信" in plan.text


async def test_the_migration_indexes_what_was_published_before(
    empty_database_url: str,
) -> None:
    """Upgrading a database with a publication indexes its digest's names (NFKC, casefolded)."""
    data = {"sections": [{"name": "通信", "points": [], "stocks": ["天孚通信", "ＨＢＭ"]}]}
    async with db.open_engine(empty_database_url) as engine:
        await db.upgrade(engine, "0014")
        async with engine.begin() as conn:
            post = await conn.run_sync(_insert, "post", slug="p")
            digest = await conn.run_sync(_insert, "digest", post_id=post, data=data)
            await conn.run_sync(_insert, "publication", post_id=post, digest_id=digest)
        await db.upgrade(engine)
        async with engine.connect() as conn:
            rows = await conn.exec_driver_sql("SELECT key FROM digest_name ORDER BY key")
            assert sorted(row[0] for row in rows) == sorted(["通信", "天孚通信", "hbm"])
