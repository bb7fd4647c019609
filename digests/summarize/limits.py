"""What a model server allows, as pure functions: how many tokens a text may take, how a server
words "the prompt does not fit my context", when an answered request may be sent again, and how
many requests a server takes at once.
"""

from __future__ import annotations

import email.utils
import ipaddress
import re
import time
from collections.abc import Mapping
from urllib.parse import urlsplit

# CJK ideographs, kana, CJK punctuation and full-width forms: about one token each at best.
_WIDE = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]")
_DIGIT = re.compile(r"[0-9]")

# How llama.cpp, llama-cpp-python, vLLM, OpenAI and Ollama word a context overflow.
_OVERFLOW = re.compile(
    r"context[ _]length|context[ _]size|context window|n_ctx|too many tokens"
    r"|maximum model length|maximum number of tokens allowed|prompt is too long",
    re.IGNORECASE,
)
_CONTEXT_NUMBER = re.compile(
    r"maximum context length is (\d+)"  # OpenAI, vLLM, llama-cpp-python
    r"|available context size \((\d+) tokens\)"  # llama.cpp
    r"|context window of (\d+)"  # llama-cpp-python's own ValueError
    r"|maximum model length of (\d+)"  # vLLM's decoder-prompt check
    r"|n_ctx\W{1,4}(\d+)",  # llama.cpp's error fields: "n_ctx": 4096
    re.IGNORECASE,
)
_FORMAT = re.compile(r"response_format|json_schema|'json_object'|\"json_object\"", re.IGNORECASE)
# A server's Retry-After longer than this is a closed door for now, not a pause.
MAX_RETRY_AFTER = 60.0
RETRY_STATUSES = frozenset({429, 503})  # answered at once: the server holds no work of ours


def estimate_tokens(text: str) -> int:
    """A token count that errs high: one per CJK character or digit, one per three other
    characters. Qwen2.5 took 8,209 tokens for an 11,844-character Chinese post (0.69 a
    character); Llama 3 and GPT-4o take about as many, and every one of them splits digits."""
    wide = len(_WIDE.findall(text))
    digits = len(_DIGIT.findall(text))
    return wide + digits + (len(text) - wide - digits + 2) // 3


def is_context_overflow(message: str) -> bool:
    """Whether a server's error message says the request does not fit the model's context."""
    return bool(_OVERFLOW.search(message))


def refuses_output_format(message: str) -> bool:
    """Whether a server error (a 5xx included: llama-cpp-python's 500 "Input should be 'text'
    or 'json_object'") is about the response_format asked for, not a failing server."""
    return bool(_FORMAT.search(message))


def reported_context(message: str) -> int | None:
    """The context size (tokens) an overflow message states, when it states one."""
    match = _CONTEXT_NUMBER.search(message)
    if match is None:
        return None
    return int(next(group for group in match.groups() if group is not None))


def served_context(data: object, model: str) -> int | None:
    """The context a server reports about itself: n_ctx from llama.cpp's /props, or
    max_model_len of this model from vLLM's /v1/models."""
    if not isinstance(data, dict):
        return None
    settings = data.get("default_generation_settings")
    if isinstance(settings, dict) and isinstance(settings.get("n_ctx"), int):
        return int(settings["n_ctx"])
    entries = data.get("data")
    models = [m for m in entries if isinstance(m, dict)] if isinstance(entries, list) else []
    for entry in sorted(models, key=lambda m: m.get("id") != model):
        if isinstance(entry.get("max_model_len"), int):
            return int(entry["max_model_len"])
    return None


def retry_delay(status: int, headers: Mapping[str, str], attempt: int) -> float | None:
    """Seconds to wait before sending again a request answered `status` (attempt 0 is the
    first resend), or None: do not resend. Only a 429 or 503 is resent, the answers a server
    gives at once without working on the request; Retry-After(-ms) is honoured as the openai
    client does, else 0.5 s doubling up to 8 s."""
    if status not in RETRY_STATUSES:
        return None
    wait = _retry_after(headers)
    if wait is None:
        return min(0.5 * 2.0**attempt, 8.0)
    return max(0.0, wait) if wait <= MAX_RETRY_AFTER else None  # a date gone by: now


def _retry_after(headers: Mapping[str, str]) -> float | None:
    lowered = {key.lower(): value for key, value in headers.items()}
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        try:
            return float(lowered[name]) / scale
        except (KeyError, ValueError):
            continue
    date = email.utils.parsedate_tz(lowered.get("retry-after", ""))
    return None if date is None else float(email.utils.mktime_tz(date) - time.time())


def is_local(base_url: str) -> bool:
    """A server on this machine or the private network: a one-slot llama.cpp more often than a
    cloud API, so it is sent one request at a time unless LLM_CONCURRENCY says otherwise."""
    host = (urlsplit(base_url).hostname or "").lower()
    if host in ("localhost", "host.docker.internal") or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local
