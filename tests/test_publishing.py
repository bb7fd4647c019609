"""Publishing once (digests/delivery.publish, publish.publish_post) on SQLite and PostgreSQL: a
repeat answers 已发布 with the first publication's progress, `--again` reaches only readers who
have not got the revision, simultaneous presses in two "processes" make one publication, and
editions do not carry a revision twice."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, func, select
from typer.testing import CliRunner

from bot.cli import app as cli_app
from bot.console import ConsoleChannel, handle
from bot.wechat import commands as wechat
from digests import db
from digests.kinds import registry
from digests.models import Delivery, Post, Publication, StoredDigest, utcnow
from digests.outbox import enqueue
from digests.outbox.dispatcher import send_queued
from digests.outbox.editions import make_edition
from digests.publishing import drafts, publish
from digests.publishing.context import AdminContext
from digests.readers import account
from digests.replies import StoreContext, command
from digests.summarize import digesting
from digests.summarize.digesting import DigestContext
from tests.conftest import EXAMPLES, SHANGHAI, reader

PUBLIC = "2026-02-20-public-new-year"  # 节后第一篇：写给新朋友
TITLE = "节后第一篇"


async def count(actx: AdminContext, model: type[Publication] | type[Delivery]) -> int:
    async with actx.store.sessions() as session:
        return int((await session.exec(select(func.count()).select_from(model))).one())


def received(channel: ConsoleChannel, name: str, text: str = TITLE) -> int:
    return sum(text in message for message in channel.inbox.get(name, []))


async def test_publishing_twice_answers_already_with_the_first_progress(
    actx: AdminContext,
) -> None:
    """A second /publish (or 发布 press) of the same revision queues nothing and answers
    已发布 with the first publication's counts, before and after sending."""
    await reader(actx, "alice")
    await reader(actx, "bob")
    first = await publish.publish_post(actx, PUBLIC, by="test")
    assert "已发布《节后第一篇：写给新朋友》：即时推送 2 人" in first.text
    again = await publish.publish_post(actx, PUBLIC, by="test")
    assert "已发布（" in again.text and "已发送 0，排队 2" in again.text
    assert command("publish", f"{PUBLIC} --again") in again.text  # spelled by each channel
    assert (await count(actx, Publication), await count(actx, Delivery)) == (1, 2)
    channel = ConsoleChannel()
    assert (await send_queued(actx.store, registry(), {"console": channel})).sent == 2
    after = await publish.publish_post(actx, PUBLIC, by="test")
    assert "已发送 2，排队 0" in after.text
    assert (await send_queued(actx.store, registry(), {"console": channel})).sent == 0
    assert received(channel, "alice") == 1 and received(channel, "bob") == 1


async def test_again_goes_only_to_readers_who_did_not_get_the_revision(
    actx: AdminContext,
) -> None:
    """/publish SLUG --again: a reader who got the revision gets nothing, one who came later
    or whose row was skipped gets it; a third --again finds nobody left."""
    await reader(actx, "alice")
    dave = await reader(actx, "dave")
    await publish.publish_post(actx, PUBLIC, by="test")
    await account.update_settings(actx.store, dave, status="stopped")  # skipped at send
    channel = ConsoleChannel()
    counts = await send_queued(actx.store, registry(), {"console": channel})
    assert (counts.sent, counts.skipped) == (1, 1)
    await account.update_settings(actx.store, dave, status="active")
    await reader(actx, "carol")  # subscribed after the first publication

    admin_reader = await reader(actx, "admin")
    second = await handle(actx, admin_reader, f"/publish {PUBLIC} --again", is_admin=True)
    assert "已再次发布" in second.text and "即时推送 3 人" in second.text  # carol, dave, admin
    await send_queued(actx.store, registry(), {"console": channel})
    assert [received(channel, n) for n in ("alice", "carol", "dave")] == [1, 1, 1]
    third = await publish.publish_post(actx, PUBLIC, by="test", again=True)
    assert "即时推送 0 人" in third.text
    assert (await send_queued(actx.store, registry(), {"console": channel})).sent == 0


async def test_a_corrected_revision_needs_again_and_then_reaches_everyone(
    actx: AdminContext,
) -> None:
    """A revised post is not re-sent by a plain /publish (已发布, the revision is named);
    with --again its digest reaches the readers who got the first version."""
    await reader(actx, "alice")
    note = "---\ntitle: 盘后速递\ndate: 2026-02-13 15:30:00\n---\n\n## 通信\n\n- {}\n"
    first = drafts.admin_draft(note.format("龙头天孚通信"), ctx=actx, name="pan-hou.md")
    await drafts.post_and_preview(actx, first)
    await publish.publish_post(actx, "pan-hou", by="test")
    fixed = drafts.admin_draft(note.format("龙头中际旭创"), ctx=actx, name="pan-hou.md")
    await drafts.post_and_preview(actx, fixed)
    plain = await publish.publish_post(actx, "pan-hou", by="test")
    assert "已发布（" in plain.text and "已修订（第 2 版）" in plain.text
    assert await count(actx, Publication) == 1
    again = await publish.publish_post(actx, "pan-hou", by="test", again=True)
    assert "即时推送 1 人" in again.text and "修订 2" in again.text
    channel = ConsoleChannel()
    assert (await send_queued(actx.store, registry(), {"console": channel})).sent == 2
    assert ["天孚通信" in m for m in channel.inbox["alice"]] == [True, False]
    assert "中际旭创" in channel.inbox["alice"][1]


async def test_simultaneous_presses_in_two_processes_publish_once(
    actx: AdminContext, database_url: str, engine: AsyncEngine
) -> None:
    """Six presses at the same moment through two engines (as two processes would) make one
    publication and one row per reader; four simultaneous --again (each has read the rounds
    before any writes) make one more round."""
    for name in ("r1", "r2", "r3"):
        await reader(actx, name)
    async with db.open_engine(database_url) as second:
        sessions = db.make_sessionmaker(second)
        other = replace(
            actx, store=StoreContext(sessions, SHANGHAI), digests=DigestContext(sessions, llm=None)
        )
        # the digest exists before the race: the race is about the publication
        await drafts.preview(actx, PUBLIC)
        replies = await asyncio.gather(
            *(publish.publish_post(ctx, PUBLIC, by="test") for ctx in [actx, other] * 3)
        )
        assert sum("即时推送 3 人" in r.text for r in replies) == 1
        assert sum("已发布（" in r.text for r in replies) == 5
        assert (await count(actx, Publication), await count(actx, Delivery)) == (1, 3)
        await reader(actx, "late")
        async with inserts_held(database_url, [engine, second], "publication") as waiting:
            agains = [
                asyncio.ensure_future(publish.publish_post(ctx, PUBLIC, by="test", again=True))
                for ctx in [actx, other] * 2
            ]
            await waiting(len(agains))
        done = await asyncio.gather(*agains)
    assert sum("已再次发布" in r.text for r in done) == 1
    assert (await count(actx, Publication), await count(actx, Delivery)) == (2, 4)


@asynccontextmanager
async def inserts_held(
    database_url: str, engines: list[AsyncEngine], table: str
) -> AsyncIterator[Callable[[int], Awaitable[None]]]:
    """Writes to `table` wait until the block ends (another connection holds the lock that
    INSERTs need, as a slow first writer would); `waiting(n)` returns once n INSERTs into it
    are waiting. Calls started in the block all read before any of them writes: the race of
    simultaneous presses, whatever the machine's speed."""
    tried = [0]
    prefix = f"INSERT INTO {table} "

    def count(conn: object, cursor: object, statement: str, *rest: object) -> None:
        tried[0] += statement.startswith(prefix)

    async def waiting(inserts: int) -> None:
        async with asyncio.timeout(60):
            while tried[0] < inserts:  # noqa: ASYNC110 (the callers run on this loop)
                await asyncio.sleep(0.01)

    for each in engines:
        event.listen(each.sync_engine, "before_cursor_execute", count)
    url = make_url(database_url)
    try:
        if url.get_backend_name() == "sqlite":
            holder = sqlite3.connect(url.database or "", isolation_level=None)
            holder.execute("BEGIN IMMEDIATE")  # the one writer SQLite allows
            try:
                yield waiting
            finally:
                holder.execute("ROLLBACK")
                holder.close()
        else:
            conn = await asyncpg.connect(database_url)
            try:
                async with conn.transaction():
                    await conn.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
                    yield waiting
            finally:
                await conn.close()
    finally:
        for each in engines:
            event.remove(each.sync_engine, "before_cursor_execute", count)


async def test_the_database_refuses_a_second_publication_of_the_same_round(
    actx: AdminContext,
) -> None:
    """The unique key on (post, round) holds whatever the code above it does."""
    await publish.publish_post(actx, PUBLIC, by="test")
    async with actx.store.sessions() as session:
        existing = (await session.exec(select(Publication))).one()
    with pytest.raises(IntegrityError):
        async with actx.store.sessions() as session, session.begin():
            session.add(
                Publication(post_id=existing.post_id, digest_id=existing.digest_id, round=1)
            )


async def test_an_again_round_of_the_same_revision_is_not_in_the_next_edition(
    actx: AdminContext,
) -> None:
    """Edition readers got the revision in an edition: --again of it adds nothing to the
    next one, while a corrected revision is carried."""
    await reader(actx, "ed", delivery="edition")
    await publish.publish_post(actx, PUBLIC, by="test")
    edition, _ = await make_edition(actx.store, utcnow())
    assert edition is not None
    await publish.publish_post(actx, PUBLIC, by="test", again=True)
    assert await make_edition(actx.store, utcnow()) == (None, 0)

    async with actx.store.sessions() as session, session.begin():
        post = (await session.exec(select(Post).where(Post.slug == PUBLIC))).one()
        stored = (await session.exec(select(StoredDigest))).one()
        post.revision = stored.revision = 2  # as a revised post's new digest would be
        session.add_all([post, stored])
    await publish.publish_post(actx, PUBLIC, by="test", again=True)
    carried, queued = await make_edition(actx.store, utcnow())
    assert carried is not None and queued == 1
    async with actx.store.sessions() as session:
        last = (
            await session.exec(select(Publication).order_by(col(Publication.id).desc()))
        ).first()
    assert last is not None and carried.publication_ids == [last.id]


def test_cli_publish_once_then_again_on_purpose(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`digestbot publish SLUG` twice publishes once; `--again` is the explicit second round."""
    monkeypatch.chdir(tmp_path)  # keep the developer's .env out of the test
    monkeypatch.setenv("DATABASE_URL", database_url)
    runner = CliRunner()
    assert runner.invoke(cli_app, ["ingest", str(EXAMPLES)]).exit_code == 0
    outputs = [
        runner.invoke(cli_app, ["publish", PUBLIC, *extra]).output
        for extra in ([], [], ["--again"])
    ]
    assert "已发布《节后第一篇" in outputs[0]
    assert "》已发布（" in outputs[1] and f"/publish {PUBLIC} --again" in outputs[1]
    assert "已再次发布《节后第一篇" in outputs[2] and "第 2 次" in outputs[2]


async def test_wechat_publish_follows_the_same_rule(actx: AdminContext) -> None:
    """WeChat's 发布 SLUG twice publishes once; 发布 SLUG --again is the explicit round."""
    answers = [
        (
            await wechat.on_text(
                actx, "o-admin", text, base_url="https://bot.example.com", admins=["o-admin"]
            )
        ).text
        for text in (f"发布 {PUBLIC}", f"发布 {PUBLIC}", f"发布 {PUBLIC} --again")
    ]
    assert "已发布《节后第一篇" in answers[0] and "》已发布（" in answers[1]
    assert "已再次发布《节后第一篇" in answers[2]
    assert await count(actx, Publication) == 2


async def test_work_done_within_a_publication_is_all_or_nothing(actx: AdminContext) -> None:
    """What runs in the publication's transaction (the watchlists' index and alerts) fails
    with it: no publication and no queued row are left, and publishing again works."""
    await reader(actx, "alice")
    post = await digesting.find_post(actx.digests, PUBLIC)
    stored = await digesting.digest_post(actx.digests, post)

    async def crash(session: object, made: Publication) -> None:
        raise RuntimeError("the process died mid-publish")

    with pytest.raises(RuntimeError):
        await enqueue.publish(actx.store, stored, by="test", within=crash)
    assert (await count(actx, Publication), await count(actx, Delivery)) == (0, 0)
    assert "即时推送 1 人" in (await publish.publish_post(actx, PUBLIC, by="test")).text
