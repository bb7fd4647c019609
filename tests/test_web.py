"""The web app: /healthz, and the Telegram webhook with its secret header."""

from __future__ import annotations

import time

import pytest
from pydantic import ValidationError
from starlette.testclient import TestClient

from bot.app import build_app
from digests.settings import Settings
from tests.fake_telegram import TOKEN, fake_telegram

SECRET = "s3cret-token"


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
    """No token: the app runs, the database answers, Telegram is off."""
    settings = Settings(_env_file=None, database_url=database_url)  # type: ignore[call-arg]
    with TestClient(build_app(settings)) as client:
        answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "database": "ok", "telegram": "off"}


def test_metrics_in_prometheus_text_format(database_url: str) -> None:
    """/metrics answers gauges with HELP and TYPE lines."""
    settings = Settings(_env_file=None, database_url=database_url)  # type: ignore[call-arg]
    with TestClient(build_app(settings)) as client:
        answer = client.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    assert "# TYPE digestbot_deliveries gauge" in answer.text
    assert "digestbot_posts 0" in answer.text and "digestbot_llm_calls 0" in answer.text


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


def test_webhook_without_a_secret_is_a_configuration_error() -> None:
    """A webhook that anyone could call is refused at start."""
    with pytest.raises(ValidationError, match="needs TELEGRAM_WEBHOOK_SECRET"):
        Settings(_env_file=None, telegram_webhook_url="https://x/telegram")  # type: ignore[call-arg]
