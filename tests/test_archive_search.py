"""Archive search (digests/archive/): the tokens, the index kept in step with ingestion and
digesting, and /search through Telegram, WeChat and the console, locked hits 🔒 only."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from bot import console
from digests import db
from digests.archive.search import find
from digests.index.tokens import query_terms, tokens
from digests.ingest.core import ingest
from digests.models import Post, SearchDoc
from digests.publishing import publish
from digests.publishing.context import AdminContext
from digests.readers import passwords
from digests.summarize.digesting import digest_post
from digests.summarize.policy import DigestPolicy, PolicyRules
from tests.conftest import EXAMPLES, reader
from tests.fake_telegram import running_bot
from tests.test_migrations import _insert
from tests.test_telegram import ADMIN, ALICE, subscribe, until
from tests.test_wechat import client, follow, text  # noqa: F401  (the WeChat fixture)

STORAGE = "转发：存储涨价周期复盘（券商纪要）"
STORAGE_WORDS = "涨价周期还没结束"  # a sentence of the gated storage post
PUBLIC = "节后第一篇：写给新朋友"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("液冷", ["x06db2051b7"]),  # a two-character word is one token
        ("存储芯片", ["x05b58050a8", "x050a8082af", "x082af07247"]),  # overlapping bigrams
        ("ＣＰＯ更新", ["cpo", "x066f4065b0"]),  # NFKC and case folding; Latin next to Chinese
        ("HBM3e，2026年", ["hbm3e", "2026", "x05e74"]),  # a lone character stays itself
        ("。，！", []),
    ],
)
def test_tokens(text: str, expected: list[str]) -> None:
    """CJK runs become bigrams, Latin/number runs words, all spelled in ASCII."""
    assert tokens(text) == expected


def test_query_terms_split_on_spaces() -> None:
    """Each space-separated word of a query is one phrase of tokens."""
    assert query_terms("液冷  CPO") == [["x06db2051b7"], ["cpo"]]


async def _titles(actx: AdminContext, name: str, query: str) -> str:
    subscriber = await reader(actx, name)
    reply = await console.handle(actx, subscriber, f"/search {query}", is_admin=False)
    return reply.text


async def test_console_search_locks_gated_hits_until_unlocked(actx: AdminContext) -> None:
    """A gated hit is 🔒 title and date without a word of its text; unlocked, it has a
    snippet around the match; Latin terms match whatever their case; ungated posts are open."""
    text = await _titles(actx, "carol", "存储")
    assert f"🔒《{STORAGE}》2026-02-26" in text and STORAGE_WORDS not in text
    assert "涨价" not in text.replace(STORAGE, "")
    subscriber = await reader(actx, "carol")
    await passwords.unlock(actx.store, subscriber, "ld2602")
    text = await _titles(actx, "carol", "存储")
    assert f"《{STORAGE}》2026-02-26\n" in text and "🔒《转发" not in text and "存储" in text
    assert "2.10科技大爆发" in await _titles(actx, "carol", "cpo")
    assert "液冷" in await _titles(actx, "carol", "液冷")
    assert PUBLIC in await _titles(actx, "dave", "规矩")  # ungated: open to anyone
    assert "没有找到" in await _titles(actx, "dave", "量子引力")


async def test_a_running_grant_finds_a_post_published_while_it_ran(actx: AdminContext) -> None:
    """/ask's retrieval (find with the reader's periods): a Stars or code period that began after
    the gated post was written opens it once its digest is published within the period; a
    password's period the same length does not."""
    async with actx.store.sessions() as session:
        post = (await session.exec(select(Post).where(Post.title == STORAGE))).one()
    terms = query_terms("涨价周期")
    around = (post.published_at + timedelta(hours=1), post.published_at + timedelta(days=36500))

    async def found(running: bool) -> bool:
        async with actx.store.sessions() as session:
            hits = await find(session, terms, periods=[(*around, running)])
        return any(hit.post_id == post.id for hit in hits)

    assert not await found(True)  # not published yet: its date alone decides
    reply = await publish.publish_post(actx, post.slug, by="test")
    assert "已发布" in reply.text
    assert await found(True) and not await found(False)


async def test_index_follows_revisions_and_ready_digests(
    actx: AdminContext, tmp_path: Path
) -> None:
    """A revised post is found by its new words only; its ready digest is indexed, and
    dropped when the post changes again."""
    slug = "2026-02-20-public-new-year"
    async with actx.store.sessions() as session:
        post = (await session.exec(select(Post).where(Post.slug == slug))).one()
    made = await digest_post(actx.digests, post)
    async with actx.store.sessions() as session:
        kinds = (
            await session.exec(select(SearchDoc.kind).where(SearchDoc.post_id == post.id))
        ).all()
    assert made.status == "ready" and sorted(kinds) == ["digest", "post"]
    source = (EXAMPLES / f"{slug}.md").read_text().replace("规矩", "约定")
    (tmp_path / f"{slug}.md").write_text(source + "\n新增一段：讨论液冷散热。\n")
    [_ async for _ in ingest([str(tmp_path / f"{slug}.md")], actx.ingest)]
    assert PUBLIC not in await _titles(actx, "erin", "规矩")
    assert PUBLIC in await _titles(actx, "erin", "散热")
    async with actx.store.sessions() as session:
        kinds = (
            await session.exec(select(SearchDoc.kind).where(SearchDoc.post_id == post.id))
        ).all()
    assert kinds == ["post"]


async def test_telegram_search_shows_locked_hits_as_lock_only(database_url: str) -> None:
    """/search through the real Application: a locked reader sees 🔒 title and date only."""
    async with running_bot(database_url, ADMIN) as (fake, _services):
        await subscribe(fake, ALICE)
        fake.user_says(ALICE, "/search 存储")
        await until(lambda: any("搜索结果" in m for m in fake.inbox.get(ALICE, [])))
        found = next(m for m in fake.inbox[ALICE] if "搜索结果" in m)
        assert f"🔒《{STORAGE}》" in found and STORAGE_WORDS not in found
        fake.user_says(ALICE, "/search")
        await until(lambda: any("用法：/search" in m for m in fake.inbox.get(ALICE, [])))


def test_wechat_search(client: TestClient) -> None:  # noqa: F811
    """搜索 词语 on WeChat: the passive reply lists hits within 2048 bytes, locked ones 🔒."""
    follow(client, "o-search")
    status, reply = text(client, "o-search", "搜索 存储")
    assert status == 200 and f"🔒《{STORAGE}》" in reply and STORAGE_WORDS not in reply
    assert len(reply.encode()) <= 2048
    text(client, "o-search", "ld2602")
    _, reply = text(client, "o-search", "搜索 存储")
    assert f"《{STORAGE}》2026-02-26" in reply and "🔒《转发" not in reply


async def test_migration_indexes_the_posts_and_ready_digests_already_stored(
    empty_database_url: str,
) -> None:
    """Upgrading a database with posts builds their docs, and the ready digest's, searchable."""
    async with db.open_engine(empty_database_url) as engine:
        await db.upgrade(engine, "0014")
        async with engine.begin() as conn:
            post = await conn.run_sync(
                _insert, "post", slug="old", title="旧文：液冷", body_text="HBM 与存储的关系"
            )
            data = {"headline": "CPO 加速", "summary": "", "sections": [], "risks": []}
            await conn.run_sync(
                _insert, "digest", post_id=post, revision=0, status="ready", data=data
            )
        await db.upgrade(engine)
        async with db.make_sessionmaker(engine)() as session:
            for query in ("液冷", "hbm", "存储", "CPO"):
                hits = await find(session, query_terms(query))
                assert [hit.post_id for hit in hits] == [post], query
            kinds = (await session.exec(select(SearchDoc.kind).order_by(SearchDoc.kind))).all()
    assert kinds == ["digest", "post"]


async def test_search_snippets_follow_the_digest_policy(actx: AdminContext) -> None:
    """Under no_advice a snippet loses the sentences that advise (卸掉杠杆); under sectors_only
    also the clauses naming a stock: what the policy keeps out of digests stays out of search."""
    subscriber = await reader(actx, "erin")
    await passwords.unlock(actx.store, subscriber, "ld2602")

    async def under(policy: DigestPolicy, query: str) -> str:
        store = replace(actx.store, rules=PolicyRules(policy))
        asked = replace(actx, store=store)
        reply = await console.handle(asked, subscriber, f"/search {query}", is_admin=False)
        return reply.text

    assert "卸掉" in await under(DigestPolicy.full, "杠杆")
    assert "卸掉" not in await under(DigestPolicy.no_advice, "杠杆")
    assert "英维克" in await under(DigestPolicy.full, "液冷")
    cooled = await under(DigestPolicy.sectors_only, "液冷")
    assert "2.10科技大爆发" in cooled and "英维克" not in cooled and "依米康" not in cooled
