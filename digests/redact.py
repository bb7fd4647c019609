"""Secrets out of error texts and log lines: the one place they are scrubbed.

HTTP clients put the URL they called into their exception messages, and URLs carry secrets:
WeChat's `secret=` and `access_token=` in the query, a WeCom robot's `key=`, the Telegram
bot token in the path (`/bot<TOKEN>/getUpdates`), a reader's calendar token
(`/calendar/<token>.ics`) and digest-page token (`/d/<token>`). Every text that is stored
(`delivery.last_error`) or logged passes through `redact`; the log formatter of
`bot/logs.py` applies it to every line.
"""

from __future__ import annotations

import re

HIDDEN = "***"

# a query string after a URL or an absolute path: `?a=1&b=2` up to the next space or quote
_QUERY = re.compile(
    r"(?P<head>(?:[a-zA-Z][a-zA-Z0-9+.-]*://|(?<![\w/.])/)[^\s?#\"'<>]*)"
    r"\?(?P<query>[^\s#\"'<>)]*)"
)
_VALUE = re.compile(r"=[^&;]*")
# secrets carried in a URL's path
_PATH_SECRETS = (
    re.compile(r"(?<=/bot)\d+:[A-Za-z0-9_-]+"),  # Telegram's Bot API: /bot<id>:<secret>/…
    re.compile(r"(?<=/calendar/)[^/\s?#\"'<>]+(?=\.ics)"),  # a reader's iCalendar feed
    re.compile(r"(?<=/d/)[^/\s?#\"'<>]+"),  # a reader's signed digest-page link
)


def redact(text: str) -> str:
    """`text` with every query-string value and every path-borne secret replaced by ***;
    parameter names stay, so the line still says what was called."""
    text = _QUERY.sub(lambda m: f"{m['head']}?{_query(m['query'])}", text)
    for pattern in _PATH_SECRETS:
        text = pattern.sub(HIDDEN, text)
    return text


def _query(query: str) -> str:
    return _VALUE.sub("=" + HIDDEN, query) if "=" in query else HIDDEN if query else ""


def error_text(exc: BaseException) -> str:
    """An exception as `Type: message`, redacted: what may be stored and logged."""
    message = str(exc)
    return redact(f"{type(exc).__name__}: {message}" if message else type(exc).__name__)
