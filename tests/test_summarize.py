"""LLM digests through a fake OpenAI-compatible server on loopback HTTP: the output-mode
chain, cut-off and blank answers, retries, pending and retry, grounding, cache, map-reduce
sized to the model's context (overflows split, merges in rounds). Runs on SQLite and
PostgreSQL."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from digests.ingest.core import IngestContext
from digests.names import Dictionary, Listing, load
from digests.summarize import digesting
from digests.summarize.digesting import DigestContext
from digests.summarize.llm import LLM
from digests.summarize.prompts import POST_CLOSE, POST_OPEN, PROMPT_VERSION, REDUCE_SYSTEM
from tests.fake_llm import (
    GOOD,
    FakeLLM,
    Reply,
    completion,
    error,
    overflow,
    prompt_tokens,
    samples_digested_by,
)

SEED = "2-10-zhui-zong"


@pytest.fixture
async def dctx(ctx: IngestContext, server: FakeLLM) -> AsyncIterator[DigestContext]:
    """The sample posts stored, and digesting wired to the fake server (2 quick retries)."""
    async with samples_digested_by(server, ctx, retries=2) as digests:
        yield digests


async def digest_of(dctx: DigestContext, slug: str = SEED, **kwargs: Any) -> Any:
    post = await digesting.find_post(dctx, slug)
    return await digesting.digest_post(dctx, post, **kwargs)


def refuse_schema(status: int) -> Any:
    """A server that refuses structured output, like llama.cpp's or DeepSeek's."""

    def handle(request: dict[str, Any]) -> Reply:
        if request.get("response_format", {}).get("type") == "json_schema":
            return error(status, "response_format json_schema is not supported")
        return completion(GOOD)

    return handle


async def test_structured_output_accepted(dctx: DigestContext, server: FakeLLM) -> None:
    """json_schema first; one call; the digest, its tokens and the post's freshness stored."""
    server.answers = [completion(GOOD, prompt_tokens=3000, completion_tokens=400)]
    row = await digest_of(dctx)
    assert row.status == "ready" and row.mode == "llm" and row.llm_calls == 1
    assert (row.prompt_tokens, row.completion_tokens) == (3000, 400)
    assert row.data["sections"][0]["stocks"][:2] == ["天孚通信", "中际旭创"]  # then added
    request = server.requests[0]
    assert request["response_format"]["type"] == "json_schema"
    assert request["response_format"]["json_schema"]["strict"] is True
    user = request["messages"][1]["content"]
    assert "<<<原文开始>>>" in user and "小熊团队" in user and "<<<原文结束>>>" in user
    post = await digesting.find_post(dctx, SEED)
    assert post.digest_stale is False


@pytest.mark.parametrize("status", [400, 422, 500])
async def test_refused_schema_falls_back_to_json_object_and_is_remembered(
    dctx: DigestContext, server: FakeLLM, status: int
) -> None:
    """400/422/500 for json_schema → json_object with the schema in the prompt; the next post
    goes straight to json_object."""
    server.handler = refuse_schema(status)
    row = await digest_of(dctx)
    assert row.status == "ready"
    assert server.modes()[-1] == "json_object_schema"
    system = server.requests[-1]["messages"][0]["content"]
    assert "JSON" in system and '"headline"' in system
    before = len(server.requests)
    await digest_of(dctx, "3-2-ben-zhou-feng-xian")
    assert server.modes()[before:] == ["json_object_schema"]


async def test_prose_and_fence_wrapped_json_in_text_mode(
    dctx: DigestContext, server: FakeLLM
) -> None:
    """A server that accepts neither response_format: JSON in prose and a fence is parsed."""

    def handle(request: dict[str, Any]) -> Reply:
        if "response_format" in request:
            return error(400, "unknown field response_format")
        fenced = "```json\n" + json.dumps(GOOD, ensure_ascii=False) + "\n```"
        return completion(f"好的，以下是摘要：\n{fenced}\n希望有帮助。")

    server.handler = handle
    row = await digest_of(dctx)
    assert row.status == "ready" and row.data["headline"] == GOOD["headline"]
    assert server.modes() == ["json_schema", "json_object_schema", "json_object", "text"]


async def test_cut_off_answer_is_retried_with_more_room_never_repaired(
    dctx: DigestContext, server: FakeLLM
) -> None:
    """finish_reason=length at the max_tokens asked for: the truncated JSON is not used; the
    call is repeated with twice the output room."""
    truncated = json.dumps(GOOD, ensure_ascii=False)[:120]
    cut = completion(truncated, finish_reason="length", completion_tokens=1000)
    server.answers = [cut, completion(GOOD)]
    row = await digest_of(dctx)
    assert row.status == "ready" and row.data["headline"] == GOOD["headline"]
    assert [r["max_tokens"] for r in server.requests] == [1000, 2000]
    assert row.llm_calls == 2


async def test_blank_answer_is_retried_once(dctx: DigestContext, server: FakeLLM) -> None:
    """An empty answer is asked again once."""
    server.answers = [completion(""), completion(GOOD)]
    assert (await digest_of(dctx)).status == "ready"
    assert len(server.requests) == 2


async def test_rate_limit_then_success(dctx: DigestContext, server: FakeLLM) -> None:
    """429 (with Retry-After) is retried by the client and the digest is made."""
    server.answers = [error(429, "rate limited"), completion(GOOD)]
    assert (await digest_of(dctx)).status == "ready"
    assert len(server.requests) == 2


async def test_persistent_server_errors_leave_the_post_pending_then_retry_succeeds(
    dctx: DigestContext, server: FakeLLM
) -> None:
    """Every 500 → status pending with the reason and a retry time; nothing lost: once the
    server recovers, retry_pending makes the digest."""
    server.handler = lambda request: error(500, "overloaded")
    row = await digest_of(dctx)
    assert row.status == "pending" and "HTTP 500" in row.error and row.attempts == 1
    assert row.next_attempt_at is not None
    assert await digesting.retry_pending(dctx) == []  # not due yet
    dctx.retry_after = timedelta(0)
    await digest_of(dctx)  # a second failed attempt, due at once
    server.handler = lambda request: completion(GOOD)
    [retried] = await digesting.retry_pending(dctx)
    assert retried.status == "ready" and retried.attempts == 3 and retried.error == ""


async def test_hallucinated_stock_and_number_are_dropped_and_counted(
    dctx: DigestContext, server: FakeLLM
) -> None:
    """A stock the post never names and a point with a number it never states are removed."""
    bad = json.loads(json.dumps(GOOD))
    bad["sections"][0]["stocks"].append("贵州茅台")
    bad["sections"][0]["points"].append("CPO渗透率明年将达到 85%")
    bad["sections"].append({"name": "白酒", "points": [], "stocks": ["五粮液"]})
    server.answers = [completion(bad)]
    row = await digest_of(dctx)
    assert row.data["sections"][0]["stocks"][:2] == ["天孚通信", "中际旭创"]  # then added
    assert "CPO占比预期超70%" in [p["text"] for p in row.data["sections"][0]["points"]]
    # then the lists the post gives that the answer left out, as sections of their own
    assert [s["name"] for s in row.data["sections"]] == ["通信", "传媒", "OCS", "计算机"]
    added = row.dropped.pop("added")  # those, and the 通信 stocks the post lists
    assert added["sections"] == ["OCS", "计算机"] and "英维克" in added["stocks"]
    texts = {field: [d["text"] for d in dropped] for field, dropped in row.dropped.items()}
    assert texts == {
        "stocks": ["贵州茅台", "五粮液"],
        "points": ["CPO渗透率明年将达到 85%"],
        "sections": ["白酒"],
    }
    assert all(d["why"] for dropped in row.dropped.values() for d in dropped)


def numbered(request: dict[str, Any]) -> dict[int, str]:
    """The post's sentences as a request shows them ("[12]…"), by number."""
    shown = request["messages"][1]["content"].split(POST_OPEN, 1)[1]
    return {int(n): text.strip() for n, text in re.findall(r"\[(\d+)\]([^\[\n]*)", shown)}


async def test_claims_cite_the_numbered_sentences_and_the_digest_shows_them(
    dctx: DigestContext, server: FakeLLM
) -> None:
    """The prompt shows the post as numbered sentences; a claim citing the right one keeps
    its cite and the digest carries that sentence's text (`sources`) and each stock's code
    (`codes`); a claim citing a sentence that does not say it is cited anew with sentences
    that do; one citing a sentence the post does not have is dropped."""
    answer = json.loads(json.dumps(GOOD))
    server.answers = [completion(answer)]
    await digest_of(dctx)  # the first call shows the numbering
    sentences = numbered(server.requests[0])
    assert sentences[1] == "今天科技板块大爆发。" and len(sentences) > 90
    assert "[n]" in server.requests[0]["messages"][0]["content"]  # the rule that explains them
    [seventy] = [n for n, text in sentences.items() if "当前预期该占比将超 70%" in text]
    answer["sections"][0]["points"] = [
        {"text": "CPO占比预期超70%", "cites": [seventy]},
        {"text": "CPO+OCS 是新一代交换机趋势", "cites": [seventy]},
        {"text": "Coherent成为CPO激光组件第二供应商", "cites": [9999]},
    ]
    server.answers = [completion(answer)]
    row = await digest_of(dctx, refresh=True)
    assert row.prompt_version == PROMPT_VERSION and PROMPT_VERSION.startswith("v2")
    points = row.data["sections"][0]["points"]
    assert points[0] == {"text": "CPO占比预期超70%", "cites": [seventy]}
    assert points[1]["text"] == "CPO+OCS 是新一代交换机趋势" and points[1]["cites"]
    assert seventy not in points[1]["cites"] and len(points) == 2
    cited = {n for p in points for n in p["cites"]}
    assert {str(n) for n in cited} <= set(row.data["sources"])
    assert row.data["sources"][str(seventy)] == sentences[seventy]
    assert row.data["codes"]["天孚通信"] == "300394.SZ"
    [dropped] = row.dropped["points"]
    assert dropped["text"] == "Coherent成为CPO激光组件第二供应商" and "9999" in dropped["why"]


async def test_the_context_s_dictionary_decides_what_is_a_stock(
    dctx: DigestContext, server: FakeLLM
) -> None:
    """DigestContext.names is the securities dictionary the gate names stocks by: 美光, which
    the shipped snapshot lacks, is dropped with it and kept, with its code, with a
    dictionary that has it."""
    answer = json.loads(json.dumps(GOOD))
    answer["sections"].append({"name": "存储", "points": [], "stocks": ["美光"]})
    server.answers = [completion(answer), completion(answer)]
    shipped = await digest_of(dctx, refresh=True)
    assert [d["text"] for d in shipped.dropped["stocks"]] == ["美光"]
    assert "美光" not in shipped.data["codes"]
    extra = Listing(code="MU.US", market="US", name="美光", forms=("美光",))
    dctx.names = Dictionary.from_listings([*load().listings, extra])
    row = await digest_of(dctx, refresh=True)
    assert "stocks" not in row.dropped and row.data["codes"]["美光"] == "MU.US"
    assert ["美光"] in [s["stocks"][:1] for s in row.data["sections"] if s["name"] == "存储"]


async def test_a_runaway_answer_is_bounded_and_what_was_cut_is_counted(
    dctx: DigestContext, server: FakeLLM
) -> None:
    """An answer within the size cap but far over the prompt's 6 sections of 4 points is kept
    to the grounding gate's limits (8 sections, 6 points, a 120-character headline), and
    meta.dropped.over_limit says how much was cut."""
    section = {"name": "通信", "points": ["CPO+OCS 是新一代交换机趋势"] * 9, "stocks": ["天孚通信"]}
    runaway = {**GOOD, "headline": "字节新模型" * 60, "sections": [section] * 11}
    server.answers = [completion(runaway)]
    row = await digest_of(dctx)
    assert row.status == "ready"
    assert len(row.data["headline"]) == 120 and row.data["headline"].endswith("…")
    assert len(row.data["sections"]) == 8
    assert all(len(s["points"]) == 6 for s in row.data["sections"])
    assert row.dropped["over_limit"] == {"headline": 1, "sections": 3, "points": 8 * 3}


async def test_digest_with_nothing_grounded_needs_review(
    dctx: DigestContext, server: FakeLLM
) -> None:
    """No section left after grounding → needs_review, never pushed automatically."""
    empty = {**GOOD, "sections": [{"name": "白酒", "points": [], "stocks": ["五粮液"]}]}
    server.answers = [completion(empty)]
    assert (await digest_of(dctx)).status == "needs_review"


async def test_unchanged_post_costs_zero_calls(dctx: DigestContext, server: FakeLLM) -> None:
    """Asking again for an unchanged post is served from the cache; --refresh asks again."""
    server.handler = lambda request: completion(GOOD)
    first = await digest_of(dctx)
    again = await digest_of(dctx)
    assert again.id == first.id and len(server.requests) == 1
    await digest_of(dctx, refresh=True)
    assert len(server.requests) == 2


async def test_garbage_answers_leave_the_post_pending(dctx: DigestContext, server: FakeLLM) -> None:
    """An LLM that answers prose with no digest in it: pending, with a sentence saying so."""
    server.handler = lambda request: completion("抱歉，我无法完成这个任务。")
    row = await digest_of(dctx)
    assert row.status == "pending" and "not" in row.error


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (Reply(body=b"<html><body>502 Bad Gateway</body></html>"), "not JSON"),
        (
            Reply(body=b"<html>oops</html>", headers={"Content-Type": "text/html"}),
            "not a chat completion",
        ),
        (Reply(body={"choices": []}), "no choices"),
        (Reply(body={"error": "overloaded"}), "no choices"),
        (Reply(body=[1, 2]), "not a chat completion"),
        (Reply(body={"choices": [{"message": None, "finish_reason": "stop"}]}), "no message"),
        (Reply(body={"choices": [{"message": {"content": 5}}]}), "not text"),
    ],
    ids=["html-as-json", "html", "no-choices", "error-object", "json-list", "no-message", "number"],
)
async def test_answers_that_are_not_a_chat_completion_leave_the_post_pending(
    dctx: DigestContext, server: FakeLLM, answer: Reply, reason: str
) -> None:
    """A 200 that is not a chat completion (junk body, `choices: []`, no message) is an
    LLMError: the digest is pending with the reason, like any other failure."""
    server.handler = lambda request: answer
    row = await digest_of(dctx)
    assert row.status == "pending" and reason in row.error
    assert len(server.requests) == 4  # each output mode once, then pending


async def test_an_answer_far_longer_than_asked_for_is_not_taken(
    dctx: DigestContext, server: FakeLLM
) -> None:
    """A 200,000-character headline (more than 8 characters per output token asked for) is
    refused unread: pending, never a digest of thousands of messages."""
    server.handler = lambda request: completion({**GOOD, "headline": "字" * 200_000})
    row = await digest_of(dctx)
    assert row.status == "pending" and "characters, far more than" in row.error


async def test_long_post_is_map_reduced_not_truncated(dctx: DigestContext, server: FakeLLM) -> None:
    """A post over the budget is split by paragraphs: one call per part plus the merges (in
    rounds when the parts' digests do not fit one), and every part of the text reaches the
    model."""
    dctx.budget_chars = 1500
    server.handler = lambda request: completion(GOOD)
    row = await digest_of(dctx)
    post = await digesting.find_post(dctx, SEED)
    map_calls = [r for r in server.requests if "部分" in r["messages"][1]["content"]]
    merges = [r for r in server.requests if is_merge(r)]
    assert len(map_calls) >= 3 and len(server.requests) == len(map_calls) + len(merges)
    assert 1 <= len(merges) < len(map_calls)
    sent = "".join(r["messages"][1]["content"] for r in map_calls)
    assert "等得到花开" in sent and "今天科技板块大爆发" in sent  # first and last lines
    assert row.llm_calls == len(server.requests) and row.status == "ready"
    assert len(post.body_text) > 3 * 1000


def post_text(request: dict[str, Any]) -> str:
    """The post (or part) a map request carries, or the partial digests a merge carries."""
    user = request["messages"][-1]["content"]
    return str(user.split(POST_OPEN + "\n", 1)[1].rsplit("\n" + POST_CLOSE, 1)[0])


def is_merge(request: dict[str, Any]) -> bool:
    return bool(request["messages"][0]["content"].startswith(REDUCE_SYSTEM[:30]))


async def test_a_post_over_the_context_is_split_and_digested(
    dctx: DigestContext, server: FakeLLM
) -> None:
    """A post that fits DIGEST_CHUNK_CHARS but not the server's 3,500-token context: the 400
    is taken as an overflow (not a refused mode), its n_ctx learned, the post split to fit;
    the failed call is counted with the rest."""
    server.context = 3500
    server.handler = lambda request: completion(GOOD)
    row = await digest_of(dctx)
    first, *rest = server.requests
    assert row.status == "ready" and len(rest) >= 3
    assert server.modes() == ["json_schema"] * len(server.requests)
    assert prompt_tokens(first) + first["max_tokens"] > 3500
    assert all(prompt_tokens(r) + r["max_tokens"] <= 3500 for r in rest)
    sent = "".join(post_text(r) for r in rest if not is_merge(r))
    assert "等得到花开" in sent and "今天科技板块大爆发" in sent
    assert row.llm_calls == len(server.requests)


async def test_a_part_cut_off_at_the_context_is_split_not_given_more_room(
    dctx: DigestContext, server: FakeLLM
) -> None:
    """finish_reason=length with fewer tokens than asked for (the server's context, not our
    max_tokens, ended it): that text is split smaller, never asked again with more room."""
    truncated = json.dumps(GOOD, ensure_ascii=False)[:120]

    def handle(request: dict[str, Any]) -> Reply:
        if len(post_text(request)) > 1500 and not is_merge(request):
            return completion(truncated, finish_reason="length", completion_tokens=300)
        return completion(GOOD)

    server.handler = handle
    row = await digest_of(dctx)
    assert row.status == "ready"
    assert {r["max_tokens"] for r in server.requests} == {1000}
    assert len(post_text(server.requests[0])) > 1500 and row.llm_calls == len(server.requests)


async def test_a_merge_too_big_for_one_prompt_is_made_in_rounds(
    dctx: DigestContext, server: FakeLLM
) -> None:
    """LLM_CONTEXT_TOKENS=3000 leaves room for two parts' digests per merge: the parts are
    merged in rounds, and no request exceeds the server's context."""
    server.context = 3000
    server.handler = lambda request: completion(GOOD)
    assert dctx.llm is not None
    dctx.llm = LLM(dctx.llm.client, model="fake-model", max_output_tokens=1000, context_tokens=3000)
    row = await digest_of(dctx)
    merges = [r for r in server.requests if is_merge(r)]
    parts = len(server.requests) - len(merges)
    assert row.status == "ready" and parts >= 4
    assert len(merges) == parts - 1  # pairs, round after round
    assert all(prompt_tokens(r) + r["max_tokens"] <= 3000 for r in server.requests)


async def test_finished_parts_are_not_asked_again(dctx: DigestContext, server: FakeLLM) -> None:
    """One part overflows: only that part is split again; every other part's text is sent
    once."""
    dctx.budget_chars = 1500

    def handle(request: dict[str, Any]) -> Reply:
        text = post_text(request)
        if "今天科技板块大爆发" in text and len(text) > 700:
            return overflow(3600, 3200)
        return completion(GOOD)

    server.handler = handle
    row = await digest_of(dctx)
    parts = [post_text(r) for r in server.requests if not is_merge(r)]
    assert row.status == "ready"
    assert len(parts) == len(set(parts))  # the overflowing part was split, nothing re-sent
    assert sum("今天科技板块大爆发" in text for text in parts) == 2  # the part, its first piece
