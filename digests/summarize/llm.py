"""The LLM client: one digest from any OpenAI-compatible server.

Servers differ in what they accept, so each request walks a chain of output modes:
`json_schema` (structured output) → `json_object` (schema in the prompt) → plain text parsed
with json-repair. The first mode that works is remembered per (base URL, model) for the life of
the process. Transport problems (429, 5xx, timeouts) are retried by the openai client itself,
which honours Retry-After; what still fails becomes LLMUnavailable and the caller keeps the post
pending.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

import json_repair
import openai
from openai import AsyncOpenAI
from openai.types import CompletionUsage
from openai.types.chat import ChatCompletion, ChatCompletionMessage
from openai.types.chat.chat_completion import Choice
from pydantic import ValidationError

from digests.errors import LLMBadAnswer, LLMUnavailable
from digests.settings import Settings
from digests.summarize.prompts import schema_instructions
from digests.summarize.schema import Digest, strict_json_schema

log = logging.getLogger(__name__)
MODES = ("json_schema", "json_object", "text")
# An answer longer than this per output token asked for is not a digest (a misbehaving server
# once sent a 200,000-character headline); JSON-escaped Chinese takes 6 characters a token.
CHARS_PER_TOKEN = 8


class AnswerCutOff(LLMBadAnswer):
    """The answer hit the output limit even with more room: the input must be split."""


class _Refused(Exception):
    """The server rejected this output mode; try the next one."""


@dataclass
class Usage:
    """What a digest cost."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, other: Usage) -> None:
        self.calls += other.calls
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens


@dataclass
class Answer:
    digest: Digest
    mode: str
    usage: Usage


def make_client(settings: Settings) -> AsyncOpenAI | None:
    """The openai client for the configured server, or None when no LLM is configured."""
    if not settings.llm_configured:
        return None
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "unused"
    return AsyncOpenAI(
        api_key=key,  # local servers (Ollama, llama.cpp) ignore it, the client requires one
        base_url=settings.openai_base_url,
        timeout=settings.llm_timeout_seconds,
        max_retries=settings.llm_max_retries,
    )


class LLM:
    """Asks one model for digests; see the module docstring for the mode chain."""

    _working_mode: ClassVar[dict[tuple[str, str], str]] = {}

    def __init__(self, client: AsyncOpenAI, *, model: str, max_output_tokens: int) -> None:
        self.client = client
        self.model = model
        self.max_output_tokens = max_output_tokens

    @property
    def _key(self) -> tuple[str, str]:
        return (str(self.client.base_url), self.model)

    async def digest(self, messages: list[dict[str, str]]) -> Answer:
        """A validated Digest for these messages, trying output modes in order."""
        first = MODES.index(self._working_mode.get(self._key, MODES[0]))
        usage = Usage()
        failure: Exception | None = None
        for mode in MODES[first:]:
            try:
                digest = await self._ask(messages, mode, usage)
            except _Refused as exc:
                log.info("%s refused %s output (%s); trying the next mode", self.model, mode, exc)
                failure = exc
                continue
            except AnswerCutOff:
                raise  # a cut-off is about size, not about the mode: the caller splits
            except LLMBadAnswer as exc:
                log.warning("%s gave an unusable %s answer: %s", self.model, mode, exc)
                failure = exc
                continue
            self._working_mode[self._key] = mode
            return Answer(digest=digest, mode=mode, usage=usage)
        if isinstance(failure, LLMBadAnswer):
            raise failure
        raise LLMUnavailable(f"the model server refused every output mode: {failure}")

    async def _ask(self, messages: list[dict[str, str]], mode: str, usage: Usage) -> Digest:
        max_tokens, blank_retried = self.max_output_tokens, False
        while True:
            response = await self._create(_with_mode(messages, mode), mode, max_tokens)
            usage.calls += 1
            content, finish_reason = _read(response, usage)
            if len(content) > max_tokens * CHARS_PER_TOKEN:
                raise LLMBadAnswer(
                    f"the answer is {len(content):,} characters, far more than the "
                    f"{max_tokens} tokens asked for"
                )
            if finish_reason == "length":
                # Never repair a cut-off answer into a shorter digest: ask again with more
                # room, and if that is not enough let the caller split the post.
                if max_tokens >= self.max_output_tokens * 4:
                    raise AnswerCutOff("the answer was cut off at the output limit")
                max_tokens *= 2
                continue
            if not content.strip():
                if blank_retried:
                    raise LLMBadAnswer("the model answered nothing, twice")
                blank_retried = True
                continue
            return _parse(content)

    async def _create(self, messages: list[dict[str, str]], mode: str, max_tokens: int) -> Any:
        extra: dict[str, Any] = {}
        if mode == "json_schema":
            extra["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "digest", "schema": strict_json_schema(), "strict": True},
            }
        elif mode == "json_object":
            extra["response_format"] = {"type": "json_object"}
        try:
            return await self.client.chat.completions.create(
                model=self.model,
                messages=messages,  # type: ignore[arg-type]
                temperature=0.2,
                max_tokens=max_tokens,
                **extra,
            )
        except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
            if mode != "text":  # llama.cpp and DeepSeek answer 400/422 to json_schema
                raise _Refused(f"HTTP {exc.status_code}") from exc
            raise LLMBadAnswer(f"the model server rejected the request: {exc.message}") from exc
        except openai.InternalServerError as exc:
            if mode != "text":  # …or 500, after the client's own retries
                raise _Refused(f"HTTP {exc.status_code}") from exc
            raise LLMUnavailable(
                f"the model server keeps failing (HTTP {exc.status_code})"
            ) from exc
        except openai.RateLimitError as exc:
            raise LLMUnavailable("the model server is rate-limiting us (HTTP 429)") from exc
        except openai.APITimeoutError as exc:
            raise LLMUnavailable("the model server did not answer in time") from exc
        except openai.APIConnectionError as exc:
            raise LLMUnavailable(f"cannot reach the model server: {exc.message}") from exc
        except openai.APIStatusError as exc:  # 401, 403, 404: configuration, not content
            raise LLMUnavailable(f"the model server refused us: HTTP {exc.status_code}") from exc
        except (json.JSONDecodeError, UnicodeDecodeError, openai.APIResponseValidationError) as exc:
            # a 200 whose body is not JSON (a proxy's error page): the client raises these
            raise LLMBadAnswer("the model server's answer is not JSON") from exc


def _read(response: object, usage: Usage) -> tuple[str, str | None]:
    """The message text and finish reason of a chat completion, its tokens added to `usage`.

    The openai client builds its models without validating them, so a server answering
    `choices: []`, a JSON list or an HTML page gives objects missing what we read: each is
    LLMBadAnswer here, so the digest goes pending like any other failure."""
    if not isinstance(response, ChatCompletion):
        raise LLMBadAnswer("the model server's answer is not a chat completion")
    tokens = response.usage
    if isinstance(tokens, CompletionUsage):
        usage.prompt_tokens += _count(tokens.prompt_tokens)
        usage.completion_tokens += _count(tokens.completion_tokens)
    choices = response.choices
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Choice):
        raise LLMBadAnswer("the model server's answer has no choices")
    message, finish_reason = choices[0].message, choices[0].finish_reason
    if not isinstance(message, ChatCompletionMessage):
        raise LLMBadAnswer("the model server's answer has no message")
    if not isinstance(message.content, str | None):
        raise LLMBadAnswer("the model server's answer is not text")
    return message.content or "", finish_reason if isinstance(finish_reason, str) else None


def _count(value: object) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def _with_mode(messages: list[dict[str, str]], mode: str) -> list[dict[str, str]]:
    if mode == "json_schema":
        return messages
    system, *rest = messages
    return [{**system, "content": system["content"] + "\n\n" + schema_instructions()}, *rest]


def _parse(content: str) -> Digest:
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
