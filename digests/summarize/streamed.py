"""Reading a chat completion as the server sends it: SSE chunks as they come, or one JSON body
from a server that does not stream. The openai client builds its models without validating
them, so everything here reads plain JSON and checks each field it uses: a server answering
`choices: []`, a JSON list or an HTML page gives LLMBadAnswer, never an AttributeError.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import json_repair
from pydantic import ValidationError

from digests.errors import LLMBadAnswer
from digests.summarize.schema import Digest

# An answer longer than this per output token asked for is not a digest (a misbehaving server
# once sent a 200,000-character headline); JSON-escaped Chinese takes 6 characters a token.
CHARS_PER_TOKEN = 8


@dataclass
class StreamedAnswer:
    """One request's answer so far; a request cut off midway keeps what had arrived."""

    content: str = ""
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reported: bool = False  # the server reported the token counts
    started: bool = False  # the server accepted the request and began answering


def read_chunk(chunk: object, reply: StreamedAnswer) -> None:
    """Add one streamed chunk to `reply` (the usage chunk has no choices)."""
    if not isinstance(chunk, dict):
        raise LLMBadAnswer("the model server's stream is not chat completion chunks")
    _read_usage(chunk.get("usage"), reply)
    choices = chunk.get("choices")
    if not isinstance(choices, list) or not choices:
        return
    choice = choices[0]
    delta = choice.get("delta") if isinstance(choice, dict) else None
    if not isinstance(delta, dict | None):
        raise LLMBadAnswer("the model server's stream has no message")
    content = (delta or {}).get("content")
    if not isinstance(content, str | None):
        raise LLMBadAnswer("the model server's answer is not text")
    reply.content += content or ""
    finish_reason = choice.get("finish_reason")
    if isinstance(finish_reason, str):
        reply.finish_reason = finish_reason


def read_completion(data: object, reply: StreamedAnswer) -> None:
    """Fill `reply` from a whole (not streamed) chat completion."""
    if not isinstance(data, dict):
        raise LLMBadAnswer("the model server's answer is not a chat completion")
    _read_usage(data.get("usage"), reply)
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise LLMBadAnswer("the model server's answer has no choices")
    message, finish_reason = choices[0].get("message"), choices[0].get("finish_reason")
    if not isinstance(message, dict):
        raise LLMBadAnswer("the model server's answer has no message")
    content = message.get("content")
    if not isinstance(content, str | None):
        raise LLMBadAnswer("the model server's answer is not text")
    reply.content = content or ""
    reply.finish_reason = finish_reason if isinstance(finish_reason, str) else None


def json_body(raw: bytes, content_type: str) -> object:
    """The JSON of a response that is not an event stream (a proxy's error page is not)."""
    if not content_type.split(";")[0].strip().endswith("json"):
        raise LLMBadAnswer("the model server's answer is not a chat completion")
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LLMBadAnswer("the model server's answer is not JSON") from exc


def _read_usage(usage: object, reply: StreamedAnswer) -> None:
    if not isinstance(usage, dict):
        return
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if isinstance(prompt, int) and isinstance(completion, int) and min(prompt, completion) >= 0:
        reply.prompt_tokens, reply.completion_tokens, reply.reported = prompt, completion, True


def check_length(reply: StreamedAnswer, max_tokens: int) -> None:
    """LLMBadAnswer once the answer is far longer than any digest in `max_tokens`."""
    if len(reply.content) > max_tokens * CHARS_PER_TOKEN:
        raise LLMBadAnswer(
            f"the answer is {len(reply.content):,} characters, far more than the "
            f"{max_tokens} tokens asked for"
        )


def parse_digest(content: str) -> Digest:
    """JSON, or JSON wrapped in prose or a code fence, validated as a Digest."""
    try:
        data = json.loads(content)
    except json.JSONDecodeError:
        data = json_repair.loads(content)
    if not isinstance(data, dict):
        raise LLMBadAnswer("the answer is not a JSON object")
    try:
        return Digest.model_validate(data)
    except ValidationError as exc:
        raise LLMBadAnswer(
            f"the answer does not match the digest schema ({exc.error_count()} problems)"
        ) from exc
