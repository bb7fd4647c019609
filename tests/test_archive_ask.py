"""/ask (digests/archive/ask.py): retrieval from entitled posts only, answers checked against
the titles retrieved, the daily limit, the cache, and search results when no model answers."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
import time_machine
from openai import AsyncOpenAI
from sqlmodel import select
from starlette.testclient import TestClient

from bot.app import build_app
from digests import db
from digests.archive.ask import NOT_COVERED, AskContext, ask, ask_terms, check_citations
from digests.ingest.core import ingest
from digests.models import Broadcast
from digests.publishing.context import AdminContext
from digests.readers import passwords
from digests.summarize.llm import LLM
from digests.summarize.policy import DigestPolicy, PolicyRules
from tests.conftest import SHANGHAI, reader
from tests.fake_llm import FakeLLM, Reply, completion, error
from tests.fake_telegram import running_bot
from tests.test_archive_search import STORAGE, STORAGE_WORDS
from tests.test_telegram import ADMIN, ALICE, subscribe, until
from tests.test_wechat import _publish_samples, client, follow, settings_for, text  # noqa: F401

OPEN_TITLE = "存储观察：公开版"
OPEN_POST = (
    f"---\ntitle: {OPEN_TITLE}\ndate: 2026-02-27 09:00\n---\n\n存储芯片还在涨价，因为库存很低。\n"
)
CITED = f"《{OPEN_TITLE}》(2026-02-27)认为存储涨价是因为库存低。"


@pytest.fixture(autouse=True)
def _clock() -> Iterator[None]:
    """The daily limit counts from midnight Beijing time: the day is fixed."""
    with time_machine.travel(datetime(2026, 3, 3, 12, 0, tzinfo=SHANGHAI), tick=True):
        yield


@pytest.fixture
async def archive(actx: AdminContext, server: FakeLLM, tmp_path: Path) -> AskContext:
    """The samples plus an open post on storage; /ask wired to the fake model."""
    (tmp_path / "open.md").write_text(OPEN_POST, encoding="utf-8")
    [_ async for _ in ingest([str(tmp_path / "open.md")], actx.ingest)]
    openai = AsyncOpenAI(api_key="t", base_url=server.base_url, max_retries=0, timeout=10)
    llm = LLM(openai, model="fake-model", max_output_tokens=500)
    return AskContext(actx.store, llm, daily_limit=3)


def test_question_words_are_dropped() -> None:
    """Only the subject of a question is searched for."""
    assert ask_terms("为什么看好液冷？") == ask_terms("液冷")


def test_sentences_citing_nothing_retrieved_are_dropped() -> None:
    """A sentence survives only when every title it cites was retrieved."""
    answer = CITED + "现在应该买入。《别的文章》(2026-01-01)说了别的。"
    assert check_citations(answer, {OPEN_TITLE: "2026-02-27"}) == CITED


async def test_locked_text_never_reaches_the_model(
    actx: AdminContext, archive: AskContext, server: FakeLLM
) -> None:
    """A locked reader's prompt holds the open post only; unlocked, the gated post too; the
    answer cites a retrieved title, and an uncited sentence is dropped."""
    server.answers = [completion(CITED + "建议重仓。"), completion(CITED)]
    locked = await reader(actx, "lou")
    reply = await ask(archive, locked, "为什么存储涨价？")
    assert reply.text == CITED
    shown = "\n".join(server.prompts())
    assert OPEN_TITLE in shown and STORAGE not in shown and STORAGE_WORDS not in shown
    await passwords.unlock(actx.store, locked, "ld2602")
    await ask(archive, locked, "为什么存储涨价？")
    assert STORAGE in server.prompts()[-1]


async def test_cache_limit_and_not_covered(
    actx: AdminContext, archive: AskContext, server: FakeLLM
) -> None:
    """The same question over the same passages is answered from the cache; the fourth ask of
    the day is refused; a question the archive does not touch is said to be not covered."""
    server.answers = [completion(CITED)]
    asker = await reader(actx, "cat")
    assert (await ask(archive, asker, "存储涨价？")).text == CITED
    assert (await ask(archive, asker, "存储涨价？")).text == CITED
    assert len(server.requests) == 1
    assert (await ask(archive, asker, "量子引力是什么？")).text == NOT_COVERED
    assert "提问次数已用完" in (await ask(archive, asker, "存储涨价？")).text


async def test_without_a_model_or_when_it_fails_search_results(
    actx: AdminContext, archive: AskContext, server: FakeLLM
) -> None:
    """No model, or a failing one: the entitled posts retrieved, as search results."""
    asker = await reader(actx, "dan")
    offline = AskContext(archive.store, None)
    reply = await ask(offline, asker, "存储涨价？")
    assert "暂时无法生成回答" in reply.text and OPEN_TITLE in reply.text
    assert STORAGE not in reply.text
    server.answers = [error(500)]
    reply = await ask(archive, asker, "为何存储涨价")
    assert "暂时无法生成回答" in reply.text and OPEN_TITLE in reply.text


async def test_telegram_ask_answers_with_citations(database_url: str, server: FakeLLM) -> None:
    """/ask through the real Application: the answer cites the seed post's title; the model
    never sees a locked post's text."""
    title = "2.10科技大爆发，字节模型解读，CPO更新"
    server.answers = [completion(f"《{title}》(2026-02-12)提到液冷标的。")]
    async with running_bot(database_url, ADMIN, openai_base_url=server.base_url) as (fake, _):
        await subscribe(fake, ALICE)
        fake.user_says(ALICE, "ld2602")
        await until(lambda: any("解锁成功" in m for m in fake.inbox.get(ALICE, [])))
        fake.user_says(ALICE, "/ask 为什么看好液冷？")
        await until(lambda: any("提到液冷标的" in m for m in fake.inbox.get(ALICE, [])))
    assert title in server.prompts()[-1]


def test_wechat_ask_offline_gives_search_results(client: TestClient) -> None:  # noqa: F811
    """问 on WeChat without a model: the passive reply lists the entitled posts retrieved."""
    follow(client, "o-ask")
    status, reply = text(client, "o-ask", "问 节后有什么规矩？")
    assert status == 200 and "暂时无法生成回答" in reply and "节后第一篇" in reply


def test_wechat_slow_answer_follows_through_the_outbox(database_url: str, server: FakeLLM) -> None:
    """问 with a model slower than WeChat waits (it answers only once the callback has, after
    ANSWER_WITHIN): the callback answers at once, and the answer becomes an outbox row (a
    customer-service message) once the model is done."""
    answered = threading.Event()

    def slow(_request: dict[str, object]) -> Reply:
        answered.wait(60)
        return completion("《节后第一篇：写给新朋友》(2026-02-20)讲了博客的规矩。")

    server.handler = slow
    asyncio.run(_publish_samples(settings_for(database_url)))
    settings = settings_for(database_url).model_copy(update={"openai_base_url": server.base_url})
    with TestClient(build_app(settings)) as running:
        follow(running, "o-slow")
        try:
            status, reply = text(running, "o-slow", "问 节后有什么规矩？")
            assert status == 200 and reply in ("", "success")
        finally:
            answered.set()  # a failed test must not leave the app waiting on the model
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not asyncio.run(_follow_ups(database_url)):
            time.sleep(0.2)
    assert any("讲了博客的规矩" in note for note in asyncio.run(_follow_ups(database_url)))


async def _follow_ups(database_url: str) -> list[str]:
    async with db.open_engine(database_url) as engine, db.make_sessionmaker(engine)() as session:
        found = await session.exec(
            select(Broadcast.text).where(Broadcast.created_by == "wechat-follow-up")
        )
        return list(found.all())


async def test_under_no_advice_the_model_sees_no_advice_and_the_answer_keeps_none(
    actx: AdminContext, archive: AskContext, server: FakeLLM
) -> None:
    """DIGEST_POLICY=no_advice: the passages sent to the model lose the post's instructions
    (卸掉杠杆), and a model that advises anyway has that sentence dropped."""
    advised = CITED.replace("。", "，建议满仓。")
    server.answers = [completion(CITED + advised), completion(CITED + advised)]
    asker = await reader(actx, "nia")
    await passwords.unlock(actx.store, asker, "ld2602")
    strict = replace(
        archive, store=replace(archive.store, rules=PolicyRules(DigestPolicy.no_advice))
    )
    assert (await ask(strict, asker, "杠杆")).text in (CITED, NOT_COVERED)
    assert "卸掉" not in server.prompts()[-1] and "满仓" not in server.prompts()[-1]
    assert "满仓" not in (await ask(strict, asker, "为什么存储涨价？")).text
