"""A fake OpenAI-compatible chat-completions server on loopback HTTP.

Tests queue answers (`server.answers`), or set `server.handler` to decide per request; every
request body is recorded. Error answers carry `retry-after-ms` so the openai client's retries
stay fast, as a real server's Retry-After would steer them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.conftest import LoopbackHandler, serve

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
    "risks": ["美国非农、CPI 公布与春节休市重叠，假期外盘波动风险"],
    "events": [{"title": "美国CPI", "when": "周五"}, {"title": "美国非农", "when": "周三"}],
}


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # sent as JSON; `bytes` are sent as they are (a server answering junk)
    headers: dict[str, str] = field(default_factory=dict)


def completion(
    content: str | dict[str, Any],
    *,
    finish_reason: str = "stop",
    prompt_tokens: int = 100,
    completion_tokens: int = 50,
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
        }
    )


def error(status: int, message: str = "error") -> Reply:
    """An OpenAI-style error answer that asks for a 10 ms pause before any retry."""
    return Reply(
        status,
        {"error": {"message": message, "type": "invalid_request_error"}},
        {"retry-after-ms": "10"},
    )


@dataclass
class FakeLLM:
    base_url: str = ""
    answers: list[Reply] = field(default_factory=list)
    handler: Callable[[dict[str, Any]], Reply] | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)

    def modes(self) -> list[str]:
        """The response_format type of each request ('text' when none was asked)."""
        return [r.get("response_format", {}).get("type", "text") for r in self.requests]

    def _reply(self, request: dict[str, Any]) -> Reply:
        self.requests.append(request)
        if self.answers:
            return self.answers.pop(0)
        if self.handler is not None:
            return self.handler(request)
        return error(500, "no answer queued")


@contextmanager
def fake_llm() -> Iterator[FakeLLM]:
    """Run a FakeLLM on 127.0.0.1 for the duration of the block."""
    state = FakeLLM()

    class Handler(LoopbackHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            request = json.loads(self.rfile.read(length) or b"{}")
            reply = state._reply(request)
            raw = isinstance(reply.body, bytes)
            body = reply.body if raw else json.dumps(reply.body, ensure_ascii=False).encode()
            self.respond(reply.status, body, {"Content-Type": "application/json", **reply.headers})

    with serve(Handler) as base:
        state.base_url = f"{base}/v1"
        yield state
