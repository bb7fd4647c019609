"""A fake OpenAI-compatible chat-completions server on loopback HTTP.

Tests queue answers (`server.answers`), or set `server.handler` to decide per request; every
request body is recorded. A request with `stream: true` gets a completion as SSE chunks (usage
in a last chunk when `stream_options.include_usage` asks for it), `Reply.gap` seconds before
each; anything else is sent as it is, as a server that does not stream would. Like real servers
it can also refuse before answering: a prompt over `context` tokens gets llama.cpp's 400, and
with `refuse_json_schema` a json_schema request gets llama-cpp-python's 500. Error answers carry
`retry-after-ms` so retries stay fast, as a real server's Retry-After would steer them.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

from openai import AsyncOpenAI

from digests.ingest.core import IngestContext, ingest
from digests.summarize.digesting import DigestContext
from digests.summarize.llm import LLM
from tests.conftest import EXAMPLES, LoopbackHandler, serve

# A digest of the seed post, as a well-behaved model would answer.
GOOD: dict[str, Any] = {
    "headline": "字节新模型带动AI影视与算力，CPO需求扩张",
    "summary": "科技板块大爆发，核心是字节新模型。花旗认为CPO需求扩张，超大规模厂商已支持。",
    "sections": [
        {
            "name": "通信",
            "points": ["CPO+OCS 是新一代交换机趋势，二者不是替代关系", "CPO占比预期超70%"],
            "stocks": ["天孚通信", "中际旭创"],
        },
        {"name": "传媒", "points": ["IP库是核心，A股中文在线最大"], "stocks": ["中文在线"]},
    ],
    "risks": ["美国非农数据周三、CPI周五发布，假期若出黑天鹅，美股可能剧烈震荡"],
    "events": [{"title": "美国CPI", "when": "周五"}, {"title": "美国非农", "when": "周三"}],
}
# llama-cpp-python 0.3's answer to response_format json_schema (FastAPI's validation error,
# wrapped as a 500 by its RouteErrorHandler)
SCHEMA_REFUSAL = (
    "[{'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
    "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema'}]"
)
_WIDE = re.compile(r"[\u2e80-\u9fff\uff00-\uffef]")


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # sent as JSON; `bytes` are sent as they are (a server answering junk)
    headers: dict[str, str] = field(default_factory=dict)
    gap: float = 0.0  # seconds of silence before each streamed chunk
    pieces: int = 4  # content chunks when streamed


def completion(
    content: str | dict[str, Any],
    *,
    finish_reason: str = "stop",
    prompt_tokens: int = 100,
    completion_tokens: int = 50,
    gap: float = 0.0,
    pieces: int = 4,
) -> Reply:
    """A chat completion whose message is `content` (a dict is sent as its JSON)."""
    text = json.dumps(content, ensure_ascii=False) if isinstance(content, dict) else content
    return Reply(
        body={
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": 1770000000,
            "model": "fake-model",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": finish_reason,
                    "message": {"role": "assistant", "content": text},
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        },
        gap=gap,
        pieces=pieces,
    )


def error(status: int, message: str = "error", **fields: Any) -> Reply:
    """An OpenAI-style error answer that asks for a 10 ms pause before any retry."""
    return Reply(
        status,
        {"error": {"message": message, "type": "invalid_request_error", **fields}},
        {"retry-after-ms": "10"},
    )


def overflow(prompt_tokens: int, context: int) -> Reply:
    """llama.cpp server's answer to a prompt over its context."""
    message = (
        f"request ({prompt_tokens} tokens) exceeds the available context size "
        f"({context} tokens), try increasing it"
    )
    return Reply(
        400,
        {
            "error": {
                "code": 400,
                "message": message,
                "type": "exceed_context_size_error",
                "n_prompt_tokens": prompt_tokens,
                "n_ctx": context,
            }
        },
    )


def tokens(text: str) -> int:
    """The fake's tokenizer, about as dense as Qwen2.5's on Chinese (0.7 a character)."""
    wide = len(_WIDE.findall(text))
    return (7 * wide) // 10 + (len(text) - wide) // 4


def prompt_tokens(request: dict[str, Any]) -> int:
    return sum(tokens(m["content"]) + 4 for m in request["messages"])


@dataclass
class FakeLLM:
    base_url: str = ""
    answers: list[Reply] = field(default_factory=list)
    handler: Callable[[dict[str, Any]], Reply] | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    context: int | None = None  # tokens; prompt + max_tokens over it → llama.cpp's 400
    refuse_json_schema: bool = False  # answer json_schema as llama-cpp-python does
    props: dict[str, Any] | None = None  # GET /props (llama.cpp); None = 404
    models: dict[str, Any] | None = None  # GET /v1/models (vLLM); None = 404
    gets: list[str] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0  # the most requests it was answering at one time
    finished: int = 0  # streams sent to the end
    aborted: int = 0  # streams the client hung up on
    lock: threading.Lock = field(default_factory=threading.Lock)

    def modes(self) -> list[str]:
        """The output mode of each request, named as llm.MODES names them."""
        formats = [r.get("response_format", {}) for r in self.requests]
        return [f.get("type", "text") + ("_schema" if "schema" in f else "") for f in formats]

    def prompts(self) -> list[str]:
        """Every message's text of every request, in order: what the model was shown."""
        return [str(m.get("content", "")) for r in self.requests for m in r.get("messages", [])]

    def _reply(self, request: dict[str, Any]) -> Reply:
        self.requests.append(request)
        if self.refuse_json_schema and "json_schema" in json.dumps(request.get("response_format")):
            return Reply(
                500, {"error": {"message": SCHEMA_REFUSAL, "type": "internal_server_error"}}
            )
        needed = prompt_tokens(request) + int(request.get("max_tokens") or 0)
        if self.context is not None and needed > self.context:
            return overflow(needed, self.context)
        if self.answers:
            return self.answers.pop(0)
        if self.handler is not None:
            return self.handler(request)
        return error(500, "no answer queued")


def _chunks(reply: Reply, request: dict[str, Any]) -> Iterator[dict[str, Any]] | None:
    """The SSE chunks of a completion, or None when the reply is not one (sent as it is)."""
    body = reply.body
    try:
        choice = body["choices"][0]
        content, finish = choice["message"]["content"], choice["finish_reason"]
    except (KeyError, IndexError, TypeError):
        return None
    if reply.status != 200 or not request.get("stream") or not isinstance(content, str):
        return None

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
        return {"id": "chatcmpl-test", "object": "chat.completion.chunk", "choices": [choice]}

    def events() -> Iterator[dict[str, Any]]:
        size = max(1, -(-len(content) // reply.pieces))
        for start in range(0, max(len(content), 1), size):
            yield chunk({"role": "assistant", "content": content[start : start + size]})
        yield chunk({}, finish)
        if (request.get("stream_options") or {}).get("include_usage"):
            yield {"id": "chatcmpl-test", "choices": [], "usage": body.get("usage")}

    return events()


@contextmanager
def fake_llm() -> Iterator[FakeLLM]:
    """Run a FakeLLM on 127.0.0.1 for the duration of the block."""
    state = FakeLLM()

    class Handler(LoopbackHandler):
        def do_GET(self) -> None:
            state.gets.append(self.path)
            found = {"/props": state.props, "/v1/models": state.models}.get(self.path)
            status, body = (404, {"error": "not found"}) if found is None else (200, found)
            self.respond(status, json.dumps(body).encode(), {"Content-Type": "application/json"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            request = json.loads(self.rfile.read(length) or b"{}")
            with state.lock:
                state.in_flight += 1
                state.most_in_flight = max(state.most_in_flight, state.in_flight)
            try:
                reply = state._reply(request)
                chunks = _chunks(reply, request)
                if chunks is None:
                    raw = isinstance(reply.body, bytes)
                    body = reply.body if raw else json.dumps(reply.body, ensure_ascii=False)
                    headers = {"Content-Type": "application/json", **reply.headers}
                    self.respond(reply.status, body if raw else body.encode(), headers)
                else:
                    self.stream(chunks, reply.gap)
            finally:
                with state.lock:
                    state.in_flight -= 1

        def stream(self, chunks: Iterator[dict[str, Any]], gap: float) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            try:
                for chunk in chunks:
                    time.sleep(gap)
                    self.wfile.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
            except (BrokenPipeError, ConnectionResetError):
                state.aborted += 1
            else:
                state.finished += 1

    with serve(Handler) as base:
        state.base_url = f"{base}/v1"
        yield state


@asynccontextmanager
async def samples_digested_by(
    server: FakeLLM, ctx: IngestContext, *, retries: int = 0
) -> AsyncIterator[DigestContext]:
    """The sample posts stored, and digesting wired to `server` with `retries` quick retries
    (a new LLM each time: as after a restart, it knows no output mode yet)."""
    [_ async for _ in ingest([str(EXAMPLES)], ctx)]
    client = AsyncOpenAI(api_key="test", base_url=server.base_url, max_retries=retries, timeout=10)
    yield DigestContext(ctx.sessions, LLM(client, model="fake-model", max_output_tokens=1000))
    await client.close()
