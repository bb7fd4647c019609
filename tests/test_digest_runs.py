"""Digest runs (digests/summarize/digesting.py): a failed refresh leaves the digest in force,
`meta` describes the run that made the digest, every run's calls and tokens are kept (failed
ones too) for /stats, and the output mode a server accepts is stored and remembered."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlmodel import select

from digests.ingest.core import IngestContext
from digests.models import DigestRun, LLMMode
from digests.publishing import drafts
from digests.publishing.context import AdminContext
from digests.readership import report
from digests.summarize import digesting
from digests.summarize.digesting import DigestContext
from tests.conftest import SHANGHAI
from tests.fake_llm import GOOD, FakeLLM, Reply, completion, error, samples_digested_by

SEED = "2-10-zhui-zong"


async def digest_of(dctx: DigestContext, **kwargs: Any) -> Any:
    post = await digesting.find_post(dctx, SEED)
    return await digesting.digest_post(dctx, post, **kwargs)


async def runs(dctx: DigestContext) -> list[DigestRun]:
    async with dctx.sessions() as session:
        return list((await session.exec(select(DigestRun).order_by(DigestRun.id))).all())


async def test_a_failed_refresh_keeps_the_digest_in_force(
    dctx: DigestContext, server: FakeLLM
) -> None:
    """Server down during --refresh: the ready digest stays, its error says why the refresh
    failed; a plain request afterwards is served from it without calling the model."""
    server.answers = [completion(GOOD)]
    made = await digest_of(dctx)
    server.handler = lambda request: error(503, "overloaded")
    refreshed = await digest_of(dctx, refresh=True)
    assert refreshed.id == made.id and refreshed.status == "ready"
    assert refreshed.data == made.data and "503" in refreshed.error
    asked = len(server.requests)
    plain = await digest_of(dctx)
    assert plain.status == "ready" and plain.data == made.data and len(server.requests) == asked


async def test_a_failed_regenerate_shows_the_admin_the_digest_made_before(
    actx: AdminContext, dctx: DigestContext, server: FakeLLM
) -> None:
    """The 重新生成 button with the model server down: the preview says the regeneration
    failed and shows the digest that stays in force, with its buttons."""
    server.answers = [completion(GOOD)]
    await digest_of(dctx)
    server.handler = lambda request: error(503, "overloaded")
    reply = await drafts.preview(replace(actx, digests=dctx), SEED, refresh=True)
    assert "重新生成失败" in reply.text and "503" in reply.text
    assert reply.digest is not None and reply.digest.digest.headline == GOOD["headline"]
    assert [label for label, _ in reply.choices] == ["发布", "重新生成", "丢弃"]


async def test_meta_describes_the_run_that_made_the_digest(
    dctx: DigestContext, server: FakeLLM
) -> None:
    """A one-call digest shows one call after a refresh, with that run's tokens and mode."""
    server.answers = [
        completion(GOOD, prompt_tokens=3000, completion_tokens=400),
        completion(GOOD, prompt_tokens=3100, completion_tokens=410),
    ]
    await digest_of(dctx)
    row = await digest_of(dctx, refresh=True)
    post = await digesting.find_post(dctx, SEED)
    meta = digesting.digest_json(row, post, SHANGHAI)["meta"]
    assert (meta["llm_calls"], meta["prompt_tokens"], meta["completion_tokens"]) == (1, 3100, 410)
    assert meta["output_mode"] == "json_schema" and row.error == ""


async def test_every_run_is_kept_failed_ones_too(
    actx: AdminContext, dctx: DigestContext, server: FakeLLM
) -> None:
    """A failed run and a good one: both are rows, the failed one with its calls; /stats
    sums them, per post too."""
    server.answers = [error(503, "overloaded"), completion(GOOD, prompt_tokens=50)]
    failed = await digest_of(dctx)
    assert failed.status == "pending"
    made = await digest_of(dctx)
    assert made.status == "ready" and made.llm_calls == 1
    first, second = await runs(dctx)
    assert (first.outcome, first.llm_calls, first.failed_calls) == ("failed", 1, 1)
    assert (second.outcome, second.llm_calls, second.prompt_tokens) == ("ready", 1, 50)
    costs = await digesting.llm_costs(dctx)
    assert (costs.calls, costs.failed_calls) == (2, 1)
    assert costs.posts == [(SEED, 2, first.prompt_tokens + 50 + 50)]
    text = (await report.stats(actx.store, actx.digests)).text
    assert "2 次调用（失败 1 次）" in text and f"{SEED} 2 次" in text


def refuse_schema(request: dict[str, Any]) -> Reply:
    if request.get("response_format", {}).get("type") == "json_schema":
        return error(400, "response_format json_schema is not supported")
    return completion(GOOD)


async def test_the_working_mode_is_stored_and_remembered_by_a_new_process(
    ctx: IngestContext, dctx: DigestContext, server: FakeLLM
) -> None:
    """A server that refuses json_schema is probed once: the mode that worked is stored on
    the digest and in the database, and a new process's first request uses it."""
    server.handler = refuse_schema
    row = await digest_of(dctx)
    assert row.output_mode == "json_object_schema" and server.modes() == [
        "json_schema",
        "json_object_schema",
    ]
    async with samples_digested_by(server, ctx) as restarted:
        await digest_of(restarted, refresh=True)
    assert server.modes()[2:] == ["json_object_schema"]


async def test_a_bad_answer_is_no_reason_to_store_a_lesser_mode(
    dctx: DigestContext, server: FakeLLM
) -> None:
    """Prose instead of JSON under json_schema, then a digest under json_object_schema: the
    digest is made, but nothing is stored for the next process, which asks json_schema again."""
    server.answers = [completion("抱歉，我无法完成这个任务。"), completion(GOOD)]
    row = await digest_of(dctx)
    assert row.status == "ready" and row.output_mode == "json_object_schema"
    async with dctx.sessions() as session:
        assert (await session.exec(select(LLMMode))).all() == []
