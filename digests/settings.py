"""Typed settings, read from the environment and `.env`, built once in the entry point.

Every setting is documented in `.env.example`; later features add their fields here. An empty
value (`NAME=`, as `.env.example` has them) means unset, whichever source gave it.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.exc import ArgumentError

from digests import names
from digests.db import CONNECT_TIMEOUT, STATEMENT_TIMEOUT, async_url
from digests.names import Dictionary
from digests.summarize.policy import DigestPolicy, PolicyRules

DEFAULT_DATABASE_URL = "sqlite:///data/digestbot.db"
AES_KEY_CHARS = 43  # WeChat's EncodingAESKey: base64 of 32 bytes without its trailing "="

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
    database_connect_timeout_seconds: float = Field(default=CONNECT_TIMEOUT, gt=0)
    database_statement_timeout_seconds: float = Field(default=STATEMENT_TIMEOUT, gt=0)
    timezone: str = "Asia/Shanghai"
    posts_dir: Path | None = None
    feed_urls: CommaList = Field(default_factory=list)
    feed_passwords: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    poll_interval_minutes: int = Field(default=15, ge=1)
    # securities dictionary snapshots (`digestbot names update`); the newest good one is used,
    # the one shipped in digests/names/snapshot/ when this holds none
    names_dir: Path = Path("data/names")
    http_timeout_seconds: float = Field(default=20.0, gt=0)

    # LLM (any OpenAI-compatible server); unset key and base URL = offline extractive digests
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    digest_model: str = "gpt-4o-mini"
    llm_timeout_seconds: float = Field(default=120.0, gt=0)
    llm_max_retries: int = Field(default=3, ge=0)
    llm_context_tokens: int | None = Field(default=None, ge=1024)  # unset: asked of the server
    llm_concurrency: int | None = Field(default=None, ge=1)  # unset: 1 for a local server, else 4
    digest_chunk_chars: int = Field(default=12_000, ge=500)
    digest_max_output_tokens: int = Field(default=2_000, ge=200)
    summary_retry_minutes: int = Field(default=30, ge=1)
    # what a digest may contain (digests/summarize/policy.py); DISCLAIMER ends every digest
    digest_policy: DigestPolicy = DigestPolicy.full
    digest_policy_terms: CommaList = Field(default_factory=list)
    disclaimer: str | None = None  # unset: render.DISCLAIMER; required unless the policy is full
    ask_daily_limit: int = Field(default=20, ge=0)  # /ask questions per reader per day

    # Telegram (unset token = no Telegram channel)
    telegram_bot_token: SecretStr | None = None
    telegram_admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    telegram_api_base_url: str = "https://api.telegram.org"
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_rate_limit: float = Field(default=30.0, gt=0)
    telegram_paid_broadcast: bool = False  # allow_paid_broadcast (Stars): up to 1000 messages/s
    # Telegram Stars subscription (/subscribe): Stars per 30 days; unset = no Stars. Telegram
    # takes at most 10,000 Stars for one price.
    stars_monthly_price: int | None = Field(default=None, ge=1, le=10_000)

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
    # the readership report to the admins (cron in TIMEZONE, e.g. `0 9 * * 1`); unset = off
    stats_report_schedule: str | None = None
    # delivery rows (the audit record) and reader actions older than this may be pruned
    audit_retention_days: int = Field(default=1095, ge=1)

    # watchlists: an alert about a gated post a reader may not read shows 🔒 title and names
    watch_teasers: bool = True

    # the app's web server (health, webhooks); PUBLIC_BASE_URL is how users reach it
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8080, ge=1, le=65535)
    public_base_url: str = "http://127.0.0.1:8080"
    metrics_token: SecretStr | None = None  # /metrics wants `Authorization: Bearer …`; unset = 404
    # the key of per-reader fingerprints (digests/fingerprint.py); unset: the bot's first secret
    fingerprint_secret: SecretStr | None = None

    _split = field_validator(
        "feed_urls",
        "feed_passwords",
        "telegram_admin_ids",
        "reminder_lead_times",
        "wecom_webhook_urls",
        "wechat_admin_openids",
        "digest_policy_terms",
        mode="before",
    )(_split_commas)

    @model_validator(mode="before")
    @classmethod
    def _empty_means_unset(cls, data: Any) -> Any:
        # One place for every setting and every source: the environment, `.env` and keyword
        # arguments are merged before this runs, so `TELEGRAM_BOT_TOKEN=` in the environment
        # also hides a token in `.env`, as an explicit empty value should.
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (isinstance(v, str) and not v.strip())}
        return data

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: str) -> str:
        try:
            async_url(value)  # raises ValueError naming the accepted forms
        except ArgumentError as exc:  # not a URL at all
            raise ValueError("not a database URL: use sqlite:///path or postgresql://…") from exc
        return value

    @field_validator("wechat_encoding_aes_key")
    @classmethod
    def _aes_key(cls, value: SecretStr | None) -> SecretStr | None:
        # wechatpy takes any string and every callback then fails: refuse it at start instead
        if value is None:
            return None
        key = value.get_secret_value().strip()
        try:
            raw = base64.b64decode(key + "=", validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(key) != AES_KEY_CHARS or len(raw) != 32:
            raise ValueError(
                "not an EncodingAESKey: copy the 43 characters (letters and digits) from the "
                "Official Account's server settings"
            )
        return SecretStr(key)

    @field_validator("reminder_lead_times")
    @classmethod
    def _known_leads(cls, value: list[str]) -> list[str]:
        for lead in value:
            if lead != "eve" and not (lead.endswith("m") and lead[:-1].isdigit()):
                raise ValueError(f"{lead!r}: use `eve` (20:00 the evening before) or N m (`30m`)")
        return value

    @field_validator("digest_schedule", "wechat_mass_schedule", "stats_report_schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None and len(value.split()) != 5:
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

    @model_validator(mode="after")
    def _policy_needs_a_disclaimer(self) -> Settings:
        # a policy that keeps digests on the safe side of the advice line also says so
        if self.digest_policy is not DigestPolicy.full and not (self.disclaimer or "").strip():
            raise ValueError(
                f"DIGEST_POLICY={self.digest_policy.value} needs DISCLAIMER: the line every "
                "digest ends with, e.g. 仅供参考，不构成投资建议"
            )
        return self

    @property
    def tz(self) -> ZoneInfo:
        """The zone naive post dates and schedules are read in."""
        return ZoneInfo(self.timezone)

    @property
    def llm_configured(self) -> bool:
        """An API key or a base URL (Ollama, vLLM and llama.cpp need no key) turns the LLM on."""
        return bool(self.openai_api_key or self.openai_base_url)

    def fingerprint_material(self) -> str | None:
        """The secret fingerprints are keyed with: FINGERPRINT_SECRET, else the bot's first
        secret (rotating that one makes older copies untraceable: set FINGERPRINT_SECRET)."""
        for secret in (
            self.fingerprint_secret,
            self.wechat_app_secret,
            self.telegram_bot_token,
            self.wechat_token,
        ):
            if secret is not None and secret.get_secret_value():
                return secret.get_secret_value()
        return None

    def policy_rules(self) -> PolicyRules:
        """DIGEST_POLICY with DIGEST_POLICY_TERMS, as digesting and reading apply it."""
        terms = tuple(self.digest_policy_terms)
        return PolicyRules(self.digest_policy, terms, dictionary=self.securities())

    def securities(self) -> Dictionary:
        """The securities dictionary in force: NAMES_DIR's newest good snapshot, else the
        shipped one (built once per process and snapshot)."""
        return names.load(self.names_dir)

    def passwords(self) -> list[str]:
        """The plain feed passwords, for the decrypter only."""
        return [p.get_secret_value() for p in self.feed_passwords]
