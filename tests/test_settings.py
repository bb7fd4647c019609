"""Settings: an empty value means unset from every source, `.env.example` is complete and runs
as it is, malformed values are refused, and the channel line names what is on and missing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.startup import channel_report
from digests.settings import Settings

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / ".env.example"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, 32 bytes


def example_names() -> set[str]:
    return {m[1] for m in re.finditer(r"^([A-Z_]+)=", EXAMPLE.read_text(), re.M)}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting of the developer's shell or `.env` reaches these tests."""
    monkeypatch.chdir(tmp_path)
    for name in example_names():
        monkeypatch.delenv(name, raising=False)


def test_every_setting_is_in_the_example_and_the_readme() -> None:
    """Each field has a line in `.env.example` and a row in the README's settings table."""
    fields = {name.upper() for name in Settings.model_fields}
    assert fields == example_names()
    table = set(re.findall(r"^\| `([A-Z_]+)`", (ROOT / "README.md").read_text(), re.M))
    table |= set(re.findall(r"^\| `[A-Z_]+` / `([A-Z_]+)`", (ROOT / "README.md").read_text(), re.M))
    assert fields <= table, fields - table


def test_the_example_file_as_it_is_gives_the_defaults(tmp_path: Path) -> None:
    """`cp .env.example .env`: every empty value is unset, so the result equals no file."""
    (tmp_path / ".env").write_text(EXAMPLE.read_text())
    assert Settings() == Settings(_env_file=None)  # type: ignore[call-arg]
    report = channel_report(Settings())
    assert report.problems == ()
    assert report.line == (
        "channels: telegram off (TELEGRAM_BOT_TOKEN unset); "
        "wechat off (WECHAT_APP_ID, WECHAT_APP_SECRET, WECHAT_TOKEN unset); "
        "wecom off (WECOM_WEBHOOK_URLS unset)"
    )


def test_empty_means_unset_in_the_environment_and_in_dotenv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`NAME=` in `.env` or the environment gives the default; an empty environment value
    also hides a value in `.env` (the environment wins, as for any value)."""
    (tmp_path / ".env").write_text(
        "TELEGRAM_BOT_TOKEN=\nWEB_PORT=\nTELEGRAM_ADMIN_IDS=\nWECHAT_ENCODING_AES_KEY=\n"
        "METRICS_TOKEN=abc\nOPENAI_API_KEY=sk-1\n"
    )
    monkeypatch.setenv("METRICS_TOKEN", "")
    monkeypatch.setenv("POLL_INTERVAL_MINUTES", "  ")
    settings = Settings()
    assert settings.telegram_bot_token is None and settings.wechat_encoding_aes_key is None
    assert (settings.web_port, settings.telegram_admin_ids) == (8080, [])
    assert settings.metrics_token is None and settings.poll_interval_minutes == 15
    assert settings.openai_api_key is not None  # a value still counts


@pytest.mark.parametrize(
    ("key", "ok"),
    [
        (AES_KEY, True),
        (AES_KEY[:-1], False),  # 42 characters
        (AES_KEY + "H", False),  # 44
        ("!" * 43, False),  # not base64
        (AES_KEY[:-1] + "=", False),  # padding where a key character belongs
    ],
)
def test_the_encoding_aes_key_is_checked_at_start(key: str, ok: bool) -> None:
    """A key WeChat could not have issued is refused with a sentence that does not echo it."""
    if ok:
        assert Settings(_env_file=None, wechat_encoding_aes_key=key).wechat_encoding_aes_key  # type: ignore[call-arg]
        return
    with pytest.raises(ValidationError, match="43 characters") as refused:
        Settings(_env_file=None, wechat_encoding_aes_key=key)  # type: ignore[call-arg]
    assert key not in refused.value.errors()[0]["msg"]


@pytest.mark.parametrize(
    ("url", "reason"),
    [("mysql://root@h/db", "sqlite:/// or postgresql://"), ("not a url", "not a database URL")],
)
def test_a_database_url_we_cannot_use_is_refused(url: str, reason: str) -> None:
    """Refused when the settings are read, not at the first query."""
    with pytest.raises(ValidationError, match=reason):
        Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("given", "line", "problem"),
    [
        ({"telegram_bot_token": "1:x"}, "telegram on (polling)", ""),
        (
            {
                "telegram_bot_token": "1:x",
                "telegram_webhook_url": "https://b/telegram",
                "telegram_webhook_secret": "s",
            },
            "telegram on (webhook)",
            "",
        ),
        (
            {"telegram_admin_ids": "1"},
            "telegram off",
            "TELEGRAM_ADMIN_IDS is set but TELEGRAM_BOT_TOKEN is not",
        ),
        ({"wechat_token": "t"}, "wechat off", "WECHAT_APP_ID and WECHAT_APP_SECRET are not set"),
        (
            {"wechat_app_id": "wx1", "wechat_app_secret": "s"},
            "wechat off",
            "WECHAT_TOKEN is not set",
        ),
        (
            {"wechat_encoding_aes_key": AES_KEY},
            "wechat off",
            "WECHAT_APP_ID and WECHAT_APP_SECRET and WECHAT_TOKEN are not set",
        ),
        (
            {"wechat_app_id": "wx1", "wechat_app_secret": "s", "wechat_token": "t"},
            "wechat on (plain mode, customer_service)",
            "",
        ),
        (
            {
                "wechat_app_id": "wx1",
                "wechat_app_secret": "s",
                "wechat_token": "t",
                "wechat_encoding_aes_key": AES_KEY,
            },
            "wechat on (safe mode, customer_service)",
            "",
        ),
        ({"wecom_webhook_urls": "https://a,https://b"}, "wecom on (2 robots)", ""),
    ],
)
def test_the_channel_line_and_half_configured_channels(
    given: dict[str, str], line: str, problem: str
) -> None:
    """A channel is on with all it needs, off with none of it, and a problem in between."""
    report = channel_report(Settings(_env_file=None, **given))  # type: ignore[arg-type]
    assert line in report.line.split(": ", 1)[1].split("; ")
    if problem:
        [sentence] = report.problems
        assert problem in sentence and sentence.endswith(".")
    else:
        assert report.problems == ()
