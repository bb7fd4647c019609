"""Log lines and stored errors without secrets: the redaction and the handler `digestbot`
installs (httpx's Bot API URLs, uvicorn's access log, tracebacks)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
import uvicorn

from bot import logs
from digests.redact import error_text, redact

BOT_TOKEN = "123456:AAH-secret_part"
CALENDAR = "Zq3xxxxxxxxxxxxxxxxxxxxxxxxxxxxx"


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    """The root handler `digestbot` installs, writing to a string; removed afterwards. A
    uvicorn configured before with its default logging (as a test server or an embedding app
    does) must not keep its access log out of that handler."""
    uvicorn.Config(app=None)  # dictConfig: uvicorn's loggers get handlers, propagation off
    stream = io.StringIO()
    handler = logs.configure(verbose=True, stream=stream)
    try:
        yield stream
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(logging.WARNING)


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        (
            "GET https://api.weixin.qq.com/cgi-bin/token?grant_type=client_credential&appid=wx1"
            "&secret=S3",
            "GET https://api.weixin.qq.com/cgi-bin/token?grant_type=***&appid=***&secret=***",
        ),
        (
            "Max retries exceeded with url: /cgi-bin/message/custom/send?access_token=T1 (x)",
            "Max retries exceeded with url: /cgi-bin/message/custom/send?access_token=*** (x)",
        ),
        (
            f"POST https://api.telegram.org/bot{BOT_TOKEN}/getUpdates",
            "POST https://api.telegram.org/bot***/getUpdates",
        ),
        (f'"GET /calendar/{CALENDAR}.ics HTTP/1.1" 200', '"GET /calendar/***.ics HTTP/1.1" 200'),
        ('"GET /d/abc.def HTTP/1.1" 200', '"GET /d/*** HTTP/1.1" 200'),
        (
            "for url 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K'",
            "for url 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=***'",
        ),
        ("https://h/x?bare-secret", "https://h/x?***"),
        ("是吗? 没有网址 a?b=1", "是吗? 没有网址 a?b=1"),  # no URL, nothing hidden
    ],
)
def test_redact_hides_query_values_and_path_secrets(given: str, shown: str) -> None:
    """Query values and the bot, calendar and digest-page tokens become ***; names stay."""
    assert redact(given) == shown


def test_error_text_is_the_type_and_the_redacted_message() -> None:
    """What a channel stores for an exception: its type and its message, redacted."""
    exc = ConnectionError("failed: https://x/token?secret=S3")
    assert error_text(exc) == "ConnectionError: failed: https://x/token?secret=***"
    assert error_text(TimeoutError()) == "TimeoutError"


def test_every_log_line_is_redacted(output: io.StringIO) -> None:
    """httpx's request lines, uvicorn's access log (routed to the root handler) and a
    traceback whose exception names a URL all come out without their secrets."""
    logging.getLogger("httpx").info(
        'HTTP Request: POST %s "HTTP/1.1 200 OK"', f"https://api.telegram.org/bot{BOT_TOKEN}/getMe"
    )
    access = logging.getLogger("uvicorn.access")  # propagates: no handler of its own
    access.info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", f"/calendar/{CALENDAR}.ics", "1.1", 200
    )
    try:
        raise OSError("refused: http://127.0.0.1:1/cgi-bin/token?appid=wx1&secret=Sekr3t")
    except OSError:
        logging.getLogger("digests.outbox.dispatcher").exception("send failed")
    text = output.getvalue()
    assert "bot***/getMe" in text and "/calendar/***.ics" in text and "secret=***" in text
    for secret in (BOT_TOKEN, BOT_TOKEN.split(":")[1], CALENDAR, "Sekr3t"):
        assert secret not in text
