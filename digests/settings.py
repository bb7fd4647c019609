"""Typed settings, read from the environment and `.env`, built once in the entry point.

Every setting is documented in `.env.example`; later features add their fields here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///data/digestbot.db"

CommaList = Annotated[list[str], NoDecode]


def _split_commas(value: object) -> object:
    """Accept `a,b,c` from the environment as well as a real list."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    """Everything the bot is configured with; secrets are `SecretStr` so they never print."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    timezone: str = "Asia/Shanghai"
    posts_dir: Path | None = None
    feed_urls: CommaList = Field(default_factory=list)
    feed_passwords: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    poll_interval_minutes: int = Field(default=15, ge=1)
    http_timeout_seconds: float = Field(default=20.0, gt=0)

    # LLM (any OpenAI-compatible server); unset key and base URL = offline extractive digests
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    digest_model: str = "gpt-4o-mini"
    llm_timeout_seconds: float = Field(default=120.0, gt=0)
    llm_max_retries: int = Field(default=3, ge=0)
    digest_chunk_chars: int = Field(default=12_000, ge=500)
    digest_max_output_tokens: int = Field(default=2_000, ge=200)
    summary_retry_minutes: int = Field(default=30, ge=1)

    # Telegram (unset token = no Telegram channel)
    telegram_bot_token: SecretStr | None = None
    telegram_admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    telegram_api_base_url: str = "https://api.telegram.org"
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_rate_limit: float = Field(default=30.0, gt=0)
    telegram_paid_broadcast: bool = False  # allow_paid_broadcast (Stars): up to 1000 messages/s

    # WeChat Official Account (the /wechat callback); safe mode when the AES key is set
    wechat_app_id: str = ""
    wechat_app_secret: SecretStr | None = None
    wechat_token: SecretStr | None = None
    wechat_encoding_aes_key: SecretStr | None = None
    wechat_api_base_url: str = "https://api.weixin.qq.com/cgi-bin/"
    wechat_admin_openids: CommaList = Field(default_factory=list)  # may 发布 SLUG
    # readers outside the 48-hour window: wait for their next message, or also get the daily
    # mass-send (WECHAT_MASS_SCHEDULE) to a tag of unlocked readers
    wechat_delivery: Literal["customer_service", "mass_send_tag"] = "customer_service"
    wechat_mass_schedule: str = "45 8 * * *"  # after the 08:30 edition, before the 09:15 auction
    redis_url: str | None = None  # the WeChat replay cache (else the database)
    wecom_webhook_urls: CommaList = Field(default_factory=list)  # group robots: editions, reminders

    # schedules: the edition (cron in TIMEZONE) and event reminders
    digest_schedule: str = "30 8 * * 1-5"
    edition_trading_days_only: bool = True  # skip days the Shanghai exchange is closed
    reminder_lead_times: CommaList = Field(default_factory=lambda: ["eve", "30m"])
    reminder_grace_minutes: int = Field(default=120, ge=0)

    # the app's web server (health, webhooks); PUBLIC_BASE_URL is how users reach it
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8080, ge=1, le=65535)
    public_base_url: str = "http://127.0.0.1:8080"

    _split = field_validator(
        "feed_urls",
        "feed_passwords",
        "telegram_admin_ids",
        "reminder_lead_times",
        "wecom_webhook_urls",
        "wechat_admin_openids",
        mode="before",
    )(_split_commas)

    @field_validator("reminder_lead_times")
    @classmethod
    def _known_leads(cls, value: list[str]) -> list[str]:
        for lead in value:
            if lead != "eve" and not (lead.endswith("m") and lead[:-1].isdigit()):
                raise ValueError(f"{lead!r}: use `eve` (20:00 the evening before) or N m (`30m`)")
        return value

    @field_validator("digest_schedule", "wechat_mass_schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError("a five-field cron expression, e.g. `30 8 * * 1-5`")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _webhook_needs_a_secret(self) -> Settings:
        if self.telegram_webhook_url and self.telegram_webhook_secret is None:
            raise ValueError("TELEGRAM_WEBHOOK_URL needs TELEGRAM_WEBHOOK_SECRET")
        return self

    @property
    def tz(self) -> ZoneInfo:
        """The zone naive post dates and schedules are read in."""
        return ZoneInfo(self.timezone)

    @property
    def llm_configured(self) -> bool:
        """An API key or a base URL (Ollama, vLLM and llama.cpp need no key) turns the LLM on."""
        return bool(self.openai_api_key or self.openai_base_url)

    def passwords(self) -> list[str]:
        """The plain feed passwords, for the decrypter only."""
        return [p.get_secret_value() for p in self.feed_passwords]
