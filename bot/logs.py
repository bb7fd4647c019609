"""Logging, configured once by the `digestbot` command: one handler on the root logger whose
formatter passes every line, tracebacks included, through `digests.redact.redact`.

Every library's records reach that handler: httpx's request lines (the Telegram bot token is
in each Bot API URL), requests' errors (WeChat's AppSecret and access_token are in the query)
and uvicorn's access log (a reader's calendar and digest-page tokens are in the path), which
`uvicorn_options` routes to the root logger instead of uvicorn's own unfiltered handlers.
"""

from __future__ import annotations

import logging
from typing import IO, Any

from digests.redact import redact

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
HANDLER_NAME = "digestbot"
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


class RedactingFormatter(logging.Formatter):
    """A formatter whose output never carries a URL's query values or path secrets."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure(*, verbose: bool, stream: IO[str] | None = None) -> logging.Handler:
    """Root logging at INFO (`-v`) or WARNING, through the redacting formatter; calling it
    again replaces the handler it installed before."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(RedactingFormatter(FORMAT))
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    # A uvicorn started earlier in this process with its default log_config left its loggers
    # with unfiltered handlers of their own and propagation off: give them back to the root.
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    return handler


def uvicorn_options() -> dict[str, Any]:
    """uvicorn.Config arguments that keep its startup lines and access log at INFO but send
    them through the root handler (uvicorn's default config has handlers of its own)."""
    return {"log_config": None, "log_level": "info"}
