"""Signed links to a digest's web page (`/d/{token}`), for channels that cannot carry the whole
digest in a message (WeChat).

A token binds one subscriber to one publication until an expiry: `payload.signature`, both
URL-safe base64 without padding, where the payload is `subscriber:publication:expiry` (expiry
in Unix seconds) and the signature is its HMAC-SHA256 under a secret derived from the bot's
own secrets. Nothing is stored: a token is checked by recomputing its signature. Being signed
is not being allowed: the page checks the subscriber's entitlement again on every visit.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from digests.errors import DigestbotError
from digests.settings import Settings

LIFETIME = timedelta(days=7)  # long enough to read a week's links, short enough to go stale
_SECRET_LABEL = b"digestbot page links"
# ASCII digits only (str.isdigit would take "١٢"), bounded so int() stays cheap on junk.
_PAYLOAD = re.compile(rb"([0-9]{1,18}):([0-9]{1,18}):([0-9]{1,12})")
_MAX_TOKEN = 200  # a real token is under 80 characters


class PageSecretMissing(DigestbotError):
    """No secret to sign page links with."""

    def __init__(self) -> None:
        super().__init__(
            "digest page links need a secret: set WECHAT_APP_SECRET, TELEGRAM_BOT_TOKEN "
            "or WECHAT_TOKEN"
        )


@dataclass(frozen=True)
class PageLink:
    """What an authentic token says; whether it is still valid is the caller's question."""

    subscriber_id: int
    publication_id: int
    expires_at: datetime

    def expired(self, now: datetime) -> bool:
        """The link stops working at its expiry second."""
        return now >= self.expires_at


def page_secret(settings: Settings) -> bytes:
    """The link-signing key, derived from the first secret the bot has, so no new setting is
    needed. Rotating that secret invalidates every outstanding link (they last a week)."""
    for candidate in (
        settings.wechat_app_secret,
        settings.telegram_bot_token,
        settings.wechat_token,
    ):
        if candidate is not None and candidate.get_secret_value():
            material = candidate.get_secret_value().encode()
            # a derived key, so a leaked page key never reveals the bot's own secret
            return hmac.new(_SECRET_LABEL, material, hashlib.sha256).digest()
    raise PageSecretMissing()


def make_token(secret: bytes, subscriber_id: int, publication_id: int, expires_at: datetime) -> str:
    """A token for one subscriber and one publication, valid until `expires_at` (aware)."""
    if expires_at.tzinfo is None:
        raise ValueError(
            "expires_at must be timezone-aware"
        )  # naive would shift by the host's zone
    if subscriber_id < 0 or publication_id < 0:
        raise ValueError("ids are not negative")
    payload = f"{subscriber_id}:{publication_id}:{int(expires_at.timestamp())}".encode()
    return seal(secret, payload)


def open_token(secret: bytes, token: str) -> PageLink | None:
    """The link a token carries if its signature is ours, expired or not; else None."""
    payload = unseal(secret, token)
    if payload is None:
        return None
    match = _PAYLOAD.fullmatch(payload)
    if match is None:  # signed by us yet not our format: never issued, refuse anyway
        return None
    subscriber, publication, expiry = (int(group) for group in match.groups())
    return PageLink(subscriber, publication, datetime.fromtimestamp(expiry, UTC))


def read_token(secret: bytes, token: str, now: datetime) -> tuple[int, int] | None:
    """(subscriber id, publication id) of a valid token; None if forged, malformed or
    expired."""
    link = open_token(secret, token)
    if link is None or link.expired(now):
        return None
    return link.subscriber_id, link.publication_id


def page_url(base_url: str, token: str) -> str:
    """The page's public address under PUBLIC_BASE_URL."""
    return f"{base_url.rstrip('/')}/d/{token}"


def link(secret: bytes, base_url: str, subscriber_id: int, publication_id: int) -> str:
    """A fresh link for one reader to one publication's page, valid for LIFETIME."""
    token = make_token(secret, subscriber_id, publication_id, datetime.now(UTC) + LIFETIME)
    return page_url(base_url, token)


def seal(secret: bytes, payload: bytes) -> str:
    """`payload.signature`, both URL-safe base64: a token that carries its own proof."""
    return f"{b64(payload)}.{b64(sign(secret, payload))}"


def unseal(secret: bytes, token: str, longest: int = _MAX_TOKEN) -> bytes | None:
    """The payload of a token `seal` made with `secret`; None if forged, malformed or longer
    than `longest` characters."""
    if len(token) > longest or token.count(".") != 1:
        return None
    body, signature = token.split(".")
    payload, mac = unb64(body), unb64(signature)
    if payload is None or mac is None or not hmac.compare_digest(mac, sign(secret, payload)):
        return None
    return payload


def sign(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, payload, hashlib.sha256).digest()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str) -> bytes | None:
    """Strict URL-safe base64 without padding: other alphabets and padding are refused, so
    one token has exactly one spelling."""
    if not text or not re.fullmatch(r"[A-Za-z0-9_-]+", text) or len(text) % 4 == 1:
        return None
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    return data if b64(data) == text else None  # unused trailing bits make a second spelling
