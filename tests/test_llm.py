"""The LLM client against a fake OpenAI-compatible server on loopback HTTP: how servers word a
context overflow, when a request is sent again, streaming and the timeout as silence, the
mode probe, the context the server reports, the concurrency gate, cancelled siblings, and the
cost of failed calls. Also the pure policies behind them, as tables."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from openai import AsyncOpenAI

from digests.errors import LLMUnavailable
from digests.summarize import limits
from digests.summarize.llm import LLM, Usage
from digests.summarize.pipeline import summarize
from digests.summarize.prompts import post_messages
from digests.summarize.schema import strict_json_schema
from tests.conftest import EXAMPLES
from tests.fake_llm import GOOD, SCHEMA_REFUSAL, FakeLLM, Reply, completion, error

SEED = (EXAMPLES / "2-10-zhui-zong.md").read_text(encoding="utf-8").split("---", 2)[2]


@asynccontextmanager
async def llm_for(
    server: FakeLLM, *, silence: float = 10.0, retries: int = 3, **options: Any
) -> AsyncIterator[LLM]:
    """An LLM on the fake server; the client closed afterwards."""
    client = AsyncOpenAI(
        api_key="test", base_url=server.base_url, max_retries=retries, timeout=silence
    )
    try:
        yield LLM(client, model="fake-model", max_output_tokens=1000, **options)
    finally:
        await client.close()


def ask() -> list[dict[str, str]]:
    return post_messages("标题", "今天科技板块大爆发。")


@pytest.mark.parametrize(
    ("message", "context"),
    [
        (  # llama.cpp server (HTTP 400, type exceed_context_size_error)
            "Error code: 400 - request (8209 tokens) exceeds the available context size "
            "(8192 tokens), try increasing it {'code': 400, 'type': 'exceed_context_size_error', "
            "'n_prompt_tokens': 8209, 'n_ctx': 8192}",
            8192,
        ),
        (  # llama-cpp-python server (HTTP 400, code context_length_exceeded)
            "This model's maximum context length is 8192 tokens. However, you requested 10209 "
            "tokens (8209 in the messages, 2000 in the completion). Please reduce the length of "
            "the messages or completion.",
            8192,
        ),
        (  # vLLM, max_tokens over what the prompt leaves
            "'max_tokens' or 'max_completion_tokens' is too large: 8000. This model's maximum "
            "context length is 4096 tokens and your request has 2778 input tokens "
            "(8000 > 4096 - 2778). None",
            4096,
        ),
        (  # vLLM, the prompt alone
            "The decoder prompt (length 9000) is longer than the maximum model length of 8192. "
            "Make sure that `max_model_len` is no smaller than the number of text tokens.",
            8192,
        ),
        (  # OpenAI
            "This model's maximum context length is 128000 tokens. However, your messages "
            "resulted in 130210 tokens. Please reduce the length of the messages.",
            128000,
        ),
        ("the input length exceeds the context length", None),  # Ollama
        ("the request exceeds the available context size, try increasing it", None),  # llama.cpp
    ],
)
def test_context_overflow_wordings(message: str, context: int | None) -> None:
    """Each server's wording of an overflow is recognised, with the context it states."""
    assert limits.is_context_overflow(message)
    assert limits.reported_context(message) == context


@pytest.mark.parametrize(
    "message",
    [
        SCHEMA_REFUSAL,
        'response_format type must be one of "text" or "json_object", but got: json_schema',
        "overloaded",
        "Invalid API key",
    ],
)
def test_other_errors_are_not_overflows(message: str) -> None:
    """A refused output mode or a server error is not taken for an overflow."""
    assert not limits.is_context_overflow(message)


@pytest.mark.parametrize(
    ("message", "refusal"),
    [
        (SCHEMA_REFUSAL, True),  # llama-cpp-python, HTTP 500
        ('response_format type must be one of "text" or "json_object", but got: json_schema', True),
        ("overloaded", False),
        ("The server had an error while processing your request. Sorry about that!", False),
    ],
)
def test_a_5xx_is_a_refusal_only_when_it_names_the_format(message: str, refusal: bool) -> None:
    """A 500 about response_format refuses the mode; any other 500 is a failing server, and no
    output mode is given up (nor stored) because of it."""
    assert limits.refuses_output_format(message) is refusal


@pytest.mark.parametrize(
    ("status", "headers", "attempt", "wait"),
    [
        (429, {"retry-after-ms": "10"}, 0, 0.01),
        (503, {"Retry-After": "2"}, 0, 2.0),
        (429, {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0, 0.0),  # gone by: now
        (429, {"retry-after": "120"}, 0, None),  # longer than we wait: give up for now
        (429, {}, 0, 0.5),
        (429, {"retry-after": "soon"}, 3, 4.0),  # unreadable: backoff
        (503, {}, 10, 8.0),
        (500, {}, 0, None),  # answered, and never a pause away from a different answer
        (502, {}, 0, None),
        (504, {}, 0, None),  # a proxy gave up: the server may still be generating
        (400, {"retry-after": "1"}, 0, None),
    ],
)
def test_retry_delay(status: int, headers: dict[str, str], attempt: int, wait: float) -> None:
    """Only a 429 or 503 is sent again, after Retry-After(-ms) or an exponential backoff."""
    assert limits.retry_delay(status, headers, attempt) == wait


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://localhost:8080/v1", True),
        ("http://127.0.0.5:8080/v1", True),
        ("http://[::1]:8000/v1", True),
        ("http://10.1.2.3/v1", True),
        ("http://192.168.1.20:11434/v1", True),
        ("http://172.16.0.9/v1", True),
        ("http://host.docker.internal:8080/v1", True),
        ("https://api.deepseek.com/v1", False),
        ("https://8.8.8.8/v1", False),
    ],
)
def test_local_servers(url: str, local: bool) -> None:
    """Loopback, private networks and Docker's host name count as local (one slot)."""
    assert limits.is_local(url) is local


def test_the_token_estimate_errs_high_for_chinese() -> None:
    """The estimate is above what Qwen2.5 counted (8,209 tokens for 11,844 characters)."""
    assert limits.estimate_tokens(SEED) >= len(SEED) * 8209 / 11844


@pytest.mark.parametrize("where", ["before the first byte", "mid-answer"])
async def test_silence_longer_than_the_timeout_fails_without_a_resend(
    server: FakeLLM, where: str
) -> None:
    """A server silent for longer than the timeout: LLMUnavailable after one request; it is
    not sent again behind a generation the server may still be running."""
    silent = threading.Event()  # set when the test is over: the server says nothing till then
    if where == "mid-answer":
        server.answers = [completion(GOOD, gap=2.0)]
    else:
        server.handler = lambda request: (silent.wait(30), completion(GOOD))[1]
    usage = Usage()
    try:
        async with llm_for(server, silence=0.5) as llm:
            with pytest.raises(LLMUnavailable, match=r"did not answer in time|silent"):
                await llm.digest(ask(), usage)
    finally:
        silent.set()
    assert len(server.requests) == 1 and (usage.calls, usage.failed) == (1, 1)


async def test_a_slow_stream_with_short_gaps_succeeds(server: FakeLLM) -> None:
    """Ten chunks 0.3 s apart take three times the 1 s timeout in all: the digest is made,
    in one request, its usage read from the last chunk."""
    server.answers = [completion(GOOD, gap=0.3, pieces=8, prompt_tokens=3000)]
    usage = Usage()
    async with llm_for(server, silence=1.0) as llm:
        answer = await llm.digest(ask(), usage)
    assert answer.digest.headline == GOOD["headline"]
    [request] = server.requests
    assert request["stream"] is True and request["stream_options"] == {"include_usage": True}
    assert (usage.calls, usage.failed, usage.prompt_tokens, usage.estimated) == (1, 0, 3000, 0)


async def test_a_server_refusing_stream_options_is_asked_without_them(server: FakeLLM) -> None:
    """400 naming stream_options: sent again without them (once for the LLM's life), and the
    tokens, not reported then, are estimated from the characters."""

    def handle(request: dict[str, Any]) -> Reply:
        if "stream_options" in request:
            return error(400, "Unrecognized request argument supplied: stream_options")
        return completion(GOOD)

    server.handler = handle
    usage = Usage()
    async with llm_for(server) as llm:
        await llm.digest(ask(), usage)
        await llm.digest(ask(), usage)
    assert ["stream_options" in r for r in server.requests] == [True, False, False]
    assert (usage.calls, usage.failed, usage.estimated) == (3, 1, 2)
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0


async def test_json_schema_refused_with_500_falls_back_at_once(server: FakeLLM) -> None:
    """llama-cpp-python's 500 to json_schema is a refusal on the first answer (two requests,
    not four), the schema then goes inside json_object, and the mode is on the Answer."""
    server.refuse_json_schema = True
    server.handler = lambda request: completion(GOOD)
    async with llm_for(server, retries=3) as llm:
        answer = await llm.digest(ask())
    assert server.modes() == ["json_schema", "json_object_schema"]
    assert server.requests[1]["response_format"] == {
        "type": "json_object",
        "schema": strict_json_schema(),
    }
    assert answer.mode == llm.mode == "json_object_schema"


async def test_a_known_mode_is_where_a_new_llm_starts(server: FakeLLM) -> None:
    """LLM(mode=…), the mode stored for this server and model, skips the modes before it."""
    server.handler = lambda request: completion(GOOD)
    async with llm_for(server, mode="json_object_schema") as llm:
        await llm.digest(ask())
    assert server.modes() == ["json_object_schema"]


@pytest.mark.parametrize(
    ("props", "models", "configured", "context", "gets"),
    [
        ({"default_generation_settings": {"n_ctx": 8192}}, None, None, 8192, ["/props"]),
        (
            None,
            {
                "data": [
                    {"id": "other", "max_model_len": 1},
                    {"id": "fake-model", "max_model_len": 32768},
                ]
            },
            None,
            32768,
            ["/props", "/v1/models"],
        ),
        (
            None,
            {"object": "list", "data": [{"id": "fake-model"}]},
            None,
            None,
            ["/props", "/v1/models"],
        ),
        ({"default_generation_settings": {"n_ctx": 8192}}, None, 4096, 4096, []),
    ],
    ids=["llama.cpp", "vllm", "llama-cpp-python", "configured"],
)
async def test_the_context_is_asked_of_the_server_once(
    server: FakeLLM,
    props: dict[str, Any] | None,
    models: dict[str, Any] | None,
    configured: int | None,
    context: int | None,
    gets: list[str],
) -> None:
    """llama.cpp's /props n_ctx, else vLLM's max_model_len for this model, asked once per LLM;
    LLM_CONTEXT_TOKENS asks nothing."""
    server.props, server.models = props, models
    async with llm_for(server, context_tokens=configured) as llm:
        assert await llm.context() == context
        assert await llm.context() == context
    assert server.gets == gets


@pytest.mark.parametrize(("concurrency", "one_at_a_time"), [(None, True), (4, False)])
async def test_a_loopback_server_gets_one_request_at_a_time(
    server: FakeLLM, concurrency: int | None, one_at_a_time: bool
) -> None:
    """Four parts of a post: a loopback server sees them one at a time by default, and at
    once with LLM_CONCURRENCY=4."""
    server.handler = lambda request: completion(GOOD, gap=0.05)
    async with llm_for(server, concurrency=concurrency) as llm:
        produced = await summarize(title="t", text=SEED, markdown=SEED, llm=llm, budget=1100)
    assert produced.parts >= 4
    assert (server.most_in_flight == 1) is one_at_a_time


async def test_a_failing_part_cancels_its_siblings(server: FakeLLM) -> None:
    """One part refused (401) while the others stream: the run fails at once, the others'
    streams are hung up on (none is read to the end), and every call is counted as failed."""

    def handle(request: dict[str, Any]) -> Reply:
        if "第 2/" in request["messages"][1]["content"]:
            return error(401, "Invalid API key")
        return completion(GOOD, gap=0.2, pieces=40)

    server.handler = handle
    usage = Usage()
    async with llm_for(server, concurrency=4) as llm:
        with pytest.raises(LLMUnavailable, match="HTTP 401"):
            await summarize(title="t", text=SEED, markdown=SEED, llm=llm, budget=1100, usage=usage)
    for _ in range(100):
        if server.aborted == len(server.requests) - 1:
            break
        await asyncio.sleep(0.1)
    assert server.finished == 0 and server.aborted == len(server.requests) - 1 >= 1
    assert usage.failed == usage.calls == len(server.requests)


async def test_tokens_of_failed_calls_stay_with_the_caller(server: FakeLLM) -> None:
    """A run that raises: the caller's Usage still holds every call and its tokens."""
    server.answers = [
        completion("抱歉，我无法完成这个任务。", prompt_tokens=700, completion_tokens=30),
        error(401, "Invalid API key"),
    ]
    usage = Usage()
    async with llm_for(server) as llm:
        with pytest.raises(LLMUnavailable):
            await summarize(
                title="t", text="正文。", markdown="正文。", llm=llm, budget=1000, usage=usage
            )
    assert (usage.calls, usage.failed, usage.prompt_tokens, usage.completion_tokens) == (
        2,
        2,
        700,
        30,
    )
