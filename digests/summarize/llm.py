"""The LLM client: one digest from any OpenAI-compatible server.

Servers differ in what they accept, so each request walks a chain of output modes:
`json_schema` (structured output) → `json_object_schema` (JSON mode with the schema attached,
which llama.cpp and llama-cpp-python turn into a grammar) → `json_object` → plain text parsed
with json-repair; the schema is also spelled out in the prompt for all but the first. A mode
refused once is not sent again by this object; the first that works is `LLM.mode`, which the
caller may store and pass back (`mode=`) so a new process starts there.

Answers are streamed, so LLM_TIMEOUT_SECONDS measures silence, not the whole generation, and
a request is never sent twice once the server may be working on it: a timeout or a dropped
connection fails the digest (pending, retried later) instead of queueing a second generation
behind the first on a one-slot server. Only a 429 or 503, answered at once, is resent (limits.
retry_delay). A prompt over the model's context is ContextOverflow, an answer that cannot fit
the output room AnswerCutOff: the pipeline splits the text smaller for either.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from typing import Any

import openai
from openai import AsyncOpenAI, AsyncStream

from digests.errors import LLMBadAnswer, LLMError, LLMUnavailable
from digests.summarize import limits
from digests.summarize.prompts import schema_instructions
from digests.summarize.schema import Digest, strict_json_schema
from digests.summarize.streamed import (
    StreamedAnswer,
    check_length,
    json_body,
    parse_digest,
    read_chunk,
    read_completion,
)

log = logging.getLogger(__name__)
MODES = ("json_schema", "json_object_schema", "json_object", "text")
PROBE_SECONDS = 5.0  # llama-cpp-python answers /v1/models only between generations
CONTEXT_MARGIN = 0.95  # of the context, for the token estimate's misses and the chat template


class AnswerCutOff(LLMBadAnswer):
    """The answer hit the output limit even with more room: the input must be split."""


class ContextOverflow(LLMError):
    """The prompt does not fit the model's context: the input must be split."""


class _Refused(Exception):
    """The server rejected this output mode; try the next one."""


@dataclass
class Usage:
    """What a digest cost: every request sent, failed ones included."""

    calls: int = 0
    failed: int = 0  # calls that gave no usable answer (error, timeout, cut off, unparsable)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: int = 0  # calls whose tokens the server did not report: counted from characters

    def add(self, other: Usage) -> None:
        self.calls += other.calls
        self.failed += other.failed
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.estimated += other.estimated


@dataclass
class Answer:
    digest: Digest
    mode: str  # the output mode that gave it
    usage: Usage  # what the calls were counted into (the caller's Usage when one was given)


class LLM:
    """Asks one model for digests; see the module docstring for modes, streaming and retries.

    One LLM is shared by every part of every post: `concurrency` (default 1 for a server on
    this machine or the private network, 4 otherwise) bounds the requests in flight."""

    def __init__(
        self,
        client: AsyncOpenAI,
        *,
        model: str,
        max_output_tokens: int,
        context_tokens: int | None = None,
        concurrency: int | None = None,
        mode: str | None = None,
    ) -> None:
        self.retries = client.max_retries
        self.client = client.with_options(max_retries=0)  # see the module docstring
        self.model = model
        self.max_output_tokens = max_output_tokens
        self.context_tokens = context_tokens  # configured, reported or learned; None = unknown
        self.mode = mode if mode in MODES else None  # the output mode known to work
        self._refused: set[str] = set()
        self._probed = context_tokens is not None
        self._probe_lock = asyncio.Lock()
        local = limits.is_local(str(client.base_url))
        self.gate = asyncio.Semaphore(concurrency or (1 if local else 4))
        self._stream_usage = True  # ask for usage in the last chunk until a server refuses it

    @property
    def settled_mode(self) -> str | None:
        """The working mode when every mode before it was refused: worth storing for the next
        process (one bad answer moves this process on, but is no reason to skip a mode for good)."""
        if self.mode is None or not set(MODES[: MODES.index(self.mode)]) <= self._refused:
            return None
        return self.mode

    async def context(self) -> int | None:
        """The model's context in tokens: LLM_CONTEXT_TOKENS, else what the server reports
        (llama.cpp's /props, vLLM's /v1/models; asked once), else what an overflow error said."""
        async with self._probe_lock:
            if not self._probed:
                self._probed = True
                reported = await self._probe()
                self.context_tokens = self.context_tokens or reported
        return self.context_tokens

    async def room(self, messages: list[dict[str, str]]) -> int | None:
        """Tokens left for the text in `messages` (built with the text left out): the context
        less the rest of the prompt (with the schema, as every mode but the first sends it),
        the answer's room and a margin; None when the context is unknown."""
        context = await self.context()
        if context is None:
            return None
        prompt = sum(limits.estimate_tokens(m["content"]) + 8 for m in _with_mode(messages, "text"))
        return int(context * CONTEXT_MARGIN) - self.max_output_tokens - prompt

    async def digest(self, messages: list[dict[str, str]], usage: Usage | None = None) -> Answer:
        """A validated Digest for these messages, trying output modes in order. Every call is
        counted into `usage` as it is made, so the counts survive an exception."""
        usage = usage if usage is not None else Usage()
        failure: Exception | None = None
        for index, mode in enumerate(MODES):
            if index < (MODES.index(self.mode) if self.mode else 0):
                continue  # another request already found a later mode that works
            try:
                digest = await self._ask(messages, mode, usage)
            except _Refused as exc:
                log.info("%s refused %s output (%s); trying the next mode", self.model, mode, exc)
                self._refused.add(mode)
                failure = exc
                continue
            except (AnswerCutOff, ContextOverflow):
                raise  # about size, not about the mode: the caller splits
            except LLMBadAnswer as exc:
                log.warning("%s gave an unusable %s answer: %s", self.model, mode, exc)
                failure = exc
                continue
            self.mode = mode
            return Answer(digest=digest, mode=mode, usage=usage)
        if isinstance(failure, LLMBadAnswer):
            raise failure
        raise LLMUnavailable(f"the model server refused every output mode: {failure}")

    async def _ask(self, messages: list[dict[str, str]], mode: str, usage: Usage) -> Digest:
        max_tokens, blank_retried = self.max_output_tokens, False
        while True:
            reply = await self._send(messages, mode, max_tokens, usage)
            if reply.finish_reason == "length":
                usage.failed += 1
                # Never repair a cut-off answer into a shorter digest: ask again with more
                # room where the context leaves some, else let the caller split the text.
                max_tokens = await self._more_room(reply, max_tokens)
                continue
            if not reply.content.strip():
                usage.failed += 1
                if blank_retried:
                    raise LLMBadAnswer("the model answered nothing, twice")
                blank_retried = True
                continue
            try:
                return parse_digest(reply.content)
            except LLMBadAnswer:
                usage.failed += 1
                raise

    async def _more_room(self, reply: StreamedAnswer, max_tokens: int) -> int:
        if reply.reported and reply.completion_tokens < max_tokens:
            # the server stopped before our limit: its context is full, more room cannot help
            raise AnswerCutOff("the answer filled the model's context")
        limit = self.max_output_tokens * 4
        context = await self.context()
        if context is not None:
            limit = min(limit, context - reply.prompt_tokens)
        if min(max_tokens * 2, limit) <= max_tokens:
            raise AnswerCutOff("the answer was cut off at the output limit")
        return min(max_tokens * 2, limit)

    async def _send(
        self, messages: list[dict[str, str]], mode: str, max_tokens: int, usage: Usage
    ) -> StreamedAnswer:
        """One request (resent only after a 429/503), its tokens counted whatever happens."""
        attempt = 0
        while True:
            reply = StreamedAnswer()
            async with self.gate:
                if mode in self._refused:  # refused for another request while this one waited
                    raise _Refused("refused earlier")
                body = self._body(messages, mode, max_tokens)
                usage.calls += 1
                try:
                    await self._stream(body, max_tokens, reply)
                except openai.APIStatusError as exc:
                    usage.failed += 1
                    status, text = exc.status_code, f"{exc.message} {exc.body}"
                    if status == 400 and self._stream_usage and "stream_options" in text:
                        self._stream_usage = False  # answered at once: safe to send again
                        continue
                    wait = limits.retry_delay(status, exc.response.headers, attempt)
                    if wait is None or attempt >= self.retries:
                        raise self._status_error(exc, text, mode) from exc
                except BaseException:  # a timeout, a bad stream, or cancelled with its siblings
                    usage.failed += 1
                    raise
                else:
                    return reply
                finally:
                    _count(reply, body, usage)
            attempt += 1
            log.info("%s answered HTTP %s; asking again in %.1f s", self.model, status, wait)
            await asyncio.sleep(wait)

    async def _stream(self, body: dict[str, Any], max_tokens: int, reply: StreamedAnswer) -> None:
        try:
            stream = await self.client.post(
                "/chat/completions",
                body=body,
                cast_to=object,  # chunks as plain JSON: streamed.py checks every field
                stream=True,
                stream_cls=AsyncStream[object],
            )
        except openai.APITimeoutError as exc:
            raise LLMUnavailable("the model server did not answer in time") from exc
        except openai.APIConnectionError as exc:
            raise LLMUnavailable(f"cannot reach the model server: {exc.message}") from exc
        reply.started = True
        try:
            content_type = stream.response.headers.get("content-type", "")
            if "text/event-stream" not in content_type:  # a server that does not stream
                read_completion(json_body(await stream.response.aread(), content_type), reply)
                check_length(reply, max_tokens)
                return
            async for chunk in stream:
                read_chunk(chunk, reply)
                check_length(reply, max_tokens)  # stops a runaway answer as it grows
        except openai.APITimeoutError as exc:
            raise LLMUnavailable("the model server fell silent mid-answer") from exc
        except openai.APIConnectionError as exc:
            raise LLMUnavailable(f"the model server dropped the answer: {exc.message}") from exc
        except openai.APIError as exc:  # an error event inside the stream
            text = f"{exc.message} {exc.body}"
            if limits.is_context_overflow(text):
                raise self._overflow(text) from exc
            raise LLMBadAnswer(f"the model server failed mid-answer: {exc.message}") from exc
        finally:
            await stream.close()  # closing stops the generation on llama.cpp and vLLM

    def _body(self, messages: list[dict[str, str]], mode: str, max_tokens: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": _with_mode(messages, mode),
            "temperature": 0.2,
            "max_tokens": max_tokens,
            "stream": True,
        }
        if self._stream_usage:
            body["stream_options"] = {"include_usage": True}
        if mode == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "digest", "schema": strict_json_schema(), "strict": True},
            }
        elif mode == "json_object_schema":
            body["response_format"] = {"type": "json_object", "schema": strict_json_schema()}
        elif mode == "json_object":
            body["response_format"] = {"type": "json_object"}
        return body

    def _status_error(self, exc: openai.APIStatusError, text: str, mode: str) -> Exception:
        status = exc.status_code
        if limits.is_context_overflow(text):
            return self._overflow(text)
        if status == 429:
            return LLMUnavailable("the model server is rate-limiting us (HTTP 429)")
        # llama.cpp, llama-cpp-python and DeepSeek refuse json_schema with 400, 422 or 500; a
        # 500 saying nothing of the format is a failing server: no mode learned from it
        refused = status in (400, 422) or (status >= 500 and limits.refuses_output_format(text))
        if refused and mode != "text":
            return _Refused(f"HTTP {status}")
        if status in (400, 422):
            return LLMBadAnswer(f"the model server rejected the request: {exc.message}")
        if status >= 500:
            return LLMUnavailable(f"the model server keeps failing (HTTP {status})")
        return LLMUnavailable(f"the model server refused us: HTTP {status}")  # 401, 403, 404

    def _overflow(self, text: str) -> ContextOverflow:
        stated = limits.reported_context(text)
        if stated is not None and stated != self.context_tokens:
            log.info("%s has a context of %d tokens (its error says)", self.model, stated)
            self.context_tokens = stated
        size = f" of {self.context_tokens} tokens" if self.context_tokens else ""
        return ContextOverflow(f"the text does not fit the model's context{size}")

    async def _probe(self) -> int | None:
        base = str(self.client.base_url).rstrip("/")
        root = re.sub(r"/v1$", "", base)
        prober = self.client.with_options(timeout=PROBE_SECONDS)
        for url in (f"{root}/props", f"{base}/models"):
            try:
                data = await prober.get(url, cast_to=object)
            except openai.APIError:
                continue  # not this server's endpoint, or busy: try the next, then go without
            found = limits.served_context(data, self.model)
            if found:
                log.info("%s reports a context of %d tokens", self.model, found)
                return found
        return None


def _count(reply: StreamedAnswer, body: dict[str, Any], usage: Usage) -> None:
    """Add a request's tokens to `usage`: as reported, else estimated from the characters
    sent and received once the server had begun; a request refused outright costs none."""
    if not reply.reported and reply.started:
        sent = "".join(m["content"] for m in body["messages"])
        reply.prompt_tokens = limits.estimate_tokens(sent)
        reply.completion_tokens = limits.estimate_tokens(reply.content)
        usage.estimated += 1
    usage.prompt_tokens += reply.prompt_tokens
    usage.completion_tokens += reply.completion_tokens


def _with_mode(messages: list[dict[str, str]], mode: str) -> list[dict[str, str]]:
    if mode == "json_schema":
        return messages
    system, *rest = messages
    return [{**system, "content": system["content"] + "\n\n" + schema_instructions()}, *rest]
