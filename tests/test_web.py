"""The web app: /healthz (bounded, no addresses), /metrics (token, cache), the Telegram
webhook with its secret header and body checks, and the calendar feed's token check."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlmodel import func, select
from starlette.testclient import TestClient

from bot.app import build_app
from bot.web import MetricsCache
from digests import db
from digests.models import Subscriber
from digests.settings import Settings
from tests.fake_telegram import TOKEN, fake_telegram
from tests.tcp_proxy import tcp_proxy

SECRET = "s3cret-token"
METRICS = "m3trics-token"


def settings_for(database_url: str, **extra: Any) -> Settings:
    return Settings(_env_file=None, database_url=database_url, **extra)  # type: ignore[call-arg]


def start_update(user_id: int) -> dict[str, object]:
    chat = {"id": user_id, "type": "private", "first_name": "U"}
    return {
        "update_id": 1,
        "message": {
            "message_id": 1,
            "date": int(time.time()),
            "chat": chat,
            "text": "/start",
            "from": {"id": user_id, "is_bot": False, "first_name": "U"},
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }


def test_healthz_without_telegram(database_url: str) -> None:
    """No token: the app runs, the database answers, Telegram is off; the database is named
    by its kind, never its address."""
    with TestClient(build_app(settings_for(database_url))) as client:
        answer = client.get("/healthz")
    assert answer.status_code == 200
    kind = make_url(database_url).get_backend_name()
    assert answer.json() == {
        "status": "ok",
        "database": "ok",
        "database_kind": kind,
        "telegram": "off",
    }


@pytest.mark.parametrize(("up", "status", "state"), [(True, 200, "ok"), (False, 503, "down")])
def test_healthz_reports_redis_when_configured(
    tmp_path: Path, request: pytest.FixtureRequest, up: bool, status: int, state: str
) -> None:
    """With REDIS_URL set, /healthz checks Redis too: a dead Redis (every /wechat call would
    fail) makes it 503."""
    url = request.getfixturevalue("redis_url") if up else "redis://127.0.0.1:1/0"
    settings = settings_for(f"sqlite:///{tmp_path / 'h.db'}", redis_url=url)
    with TestClient(build_app(settings)) as client:
        answer = client.get("/healthz")
    assert answer.status_code == status
    assert answer.json()["redis"] == state and answer.json()["database"] == "ok"


def test_healthz_answers_when_the_database_goes_silent(database_url: str) -> None:
    """PostgreSQL that accepts and never answers: /healthz says 503 within its own bound
    (it hung for minutes), without the server's address; /metrics says 503 once the
    client-side timeouts (statement, connection) pass."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no server")
    target = make_url(database_url)
    with tcp_proxy(("127.0.0.1", target.port or 5432)) as proxy:
        url = target.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
        settings = settings_for(
            url,
            metrics_token=METRICS,
            database_statement_timeout_seconds=1,
            database_connect_timeout_seconds=1,  # /metrics may need a new connection
        )
        with TestClient(build_app(settings)) as client:
            assert client.get("/healthz").status_code == 200
            proxy.blackhole()
            answer = client.get("/healthz")
            scrape = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS}"})
            proxy.cut()  # let the app shut down
            proxy.restore()
    assert scrape.status_code == 503
    assert answer.status_code == 503
    assert answer.json()["status"] == "error" and answer.json()["database"] == "down"
    assert str(proxy.port) not in answer.text and "127.0.0.1" not in answer.text


def test_metrics_needs_the_metrics_token(database_url: str) -> None:
    """No METRICS_TOKEN: 404. With one: 401 without or with a wrong bearer token, and the
    gauges in Prometheus text format with the right one."""
    with TestClient(build_app(settings_for(database_url))) as client:
        assert client.get("/metrics").status_code == 404
    with TestClient(build_app(settings_for(database_url, metrics_token=METRICS))) as client:
        assert client.get("/metrics").status_code == 401
        wrong = client.get("/metrics", headers={"Authorization": "Bearer guess"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"].startswith("Bearer")
        answer = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS}"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    assert "# TYPE digestbot_deliveries gauge" in answer.text
    assert "digestbot_posts 0" in answer.text and "digestbot_llm_calls 0" in answer.text


async def test_thirty_scrapers_at_once_cost_one_round_of_queries(database_url: str) -> None:
    """30 concurrent /metrics calls are answered from one load of the counts."""
    app = build_app(settings_for(database_url, metrics_token=METRICS))
    async with app.router.lifespan_context(app):
        counted: list[str] = []
        engine = app.state.services.engine
        listener = lambda *args: counted.append(args[2])  # noqa: E731 (the statement)
        event.listen(engine.sync_engine, "before_cursor_execute", listener)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            auth = {"Authorization": f"Bearer {METRICS}"}
            answers = await asyncio.gather(
                *(client.get("/metrics", headers=auth) for _ in range(30))
            )
        event.remove(engine.sync_engine, "before_cursor_execute", listener)
    assert {a.status_code for a in answers} == {200} and len({a.text for a in answers}) == 1
    assert sum("FROM delivery" in statement for statement in counted) == 1


async def test_the_metrics_cache_reloads_once_stale() -> None:
    """Fresh counts are reused; once `ttl` has passed the next caller loads them again, and
    callers arriving during that load share it."""
    now, loads = [100.0], []

    async def load() -> str:
        loads.append(now[0])
        await asyncio.sleep(0.01)
        return f"load {len(loads)}"

    cache = MetricsCache(load, ttl=10, clock=lambda: now[0])
    assert await cache.get() == "load 1"
    now[0] += 9.5
    assert await cache.get() == "load 1"
    now[0] += 0.5
    assert set(await asyncio.gather(*(cache.get() for _ in range(5)))) == {"load 2"}
    assert loads == [100.0, 110.0]


def test_webhook_refuses_a_wrong_secret_and_handles_a_right_one(database_url: str) -> None:
    """setWebhook is called with the secret; a forged call gets 403 and changes nothing; the
    real one is handled (the /start reply reaches the user)."""
    with fake_telegram() as fake:
        settings = Settings(
            _env_file=None,
            database_url=database_url,  # type: ignore[call-arg]
            telegram_bot_token=TOKEN,
            telegram_api_base_url=fake.root,
            telegram_webhook_url="https://bot.example.com/telegram",
            telegram_webhook_secret=SECRET,
        )
        with TestClient(build_app(settings)) as client:
            assert client.get("/healthz").json()["telegram"] == "webhook"
            hooks = [p for m, p in fake.calls if m == "setWebhook"]
            assert hooks and hooks[0]["secret_token"] == SECRET
            forged = client.post(
                "/telegram",
                json=start_update(7),
                headers={"X-Telegram-Bot-Api-Secret-Token": "guess"},
            )
            missing = client.post("/telegram", json=start_update(7))
            assert (forged.status_code, missing.status_code) == (403, 403)
            ok = client.post(
                "/telegram",
                json=start_update(8),
                headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
            )
            assert ok.status_code == 200
            deadline = time.monotonic() + 10
            while 8 not in fake.inbox and time.monotonic() < deadline:
                time.sleep(0.02)
    assert "欢迎订阅" in fake.inbox[8][0] and 7 not in fake.inbox


@pytest.fixture
def webhook(database_url: str) -> Iterator[TestClient]:
    """The app in webhook mode against the fake Bot API."""
    with fake_telegram() as fake:
        settings = settings_for(
            database_url,
            telegram_bot_token=TOKEN,
            telegram_api_base_url=fake.root,
            telegram_webhook_url="https://bot.example.com/telegram",
            telegram_webhook_secret=SECRET,
        )
        with TestClient(build_app(settings)) as client:
            client.headers["X-Telegram-Bot-Api-Secret-Token"] = SECRET
            yield client
        assert fake.inbox == {}  # nothing was answered: nothing was handled


async def _subscribers(database_url: str) -> int:
    async with db.open_engine(database_url) as engine, db.make_sessionmaker(engine)() as session:
        return int((await session.exec(select(func.count()).select_from(Subscriber))).one())


DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b"{}",
        b"null",
        b"1",
        b"not json",
        DEEP,
        b'{"update_id": 1, "message": ' + DEEP + b"}",
        b'{"update_id": "1"}',
        b'{"update_id": 1, "message": []}',
        b'{"update_id": 1, "message": {"chat": "x"}}',
        b'{"update_id": 1, "callback_query": 5}',
    ],
    ids=range(11),
)
def test_webhook_refuses_what_is_not_an_update(
    webhook: TestClient, database_url: str, body: bytes
) -> None:
    """A correctly authenticated call whose body is not a Telegram update: 400, nothing
    stored (it was a 500)."""
    assert webhook.post("/telegram", content=body).status_code == 400
    assert asyncio.run(_subscribers(database_url)) == 0


def test_webhook_refuses_a_body_over_a_megabyte(webhook: TestClient) -> None:
    """Over 1 MB, declared or streamed without a length: 413 without reading it all."""
    big = json.dumps({"update_id": 1, "pad": "x" * 2_000_000}).encode()
    assert webhook.post("/telegram", content=big).status_code == 413
    chunks = (b"x" * 65536 for _ in range(40))  # chunked: no Content-Length
    assert webhook.post("/telegram", content=chunks).status_code == 413


@pytest.mark.parametrize("token", ["%00", "%00" * 20, "short", "a.b" * 8, "x" * 65])
def test_a_calendar_token_of_the_wrong_shape_is_404(database_url: str, token: str) -> None:
    """Tokens we never issue are refused before any query (a NUL byte was a 500 on
    PostgreSQL)."""
    with TestClient(build_app(settings_for(database_url))) as client:
        answer = client.get(f"/calendar/{token}.ics")
    assert answer.status_code == 404


def test_webhook_without_a_secret_is_a_configuration_error() -> None:
    """A webhook that anyone could call is refused at start."""
    with pytest.raises(ValidationError, match="needs TELEGRAM_WEBHOOK_SECRET"):
        Settings(_env_file=None, telegram_webhook_url="https://x/telegram")  # type: ignore[call-arg]
