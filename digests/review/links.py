"""Signed links to the review page (`/review/{token}`): one admin, one post, 15 minutes.

Like the readers' page links (digests/readers/pagelinks.py), nothing is stored: the token is
`payload.signature`, URL-safe base64, the payload `channel:admin:post:expiry`. The key is
derived apart from the readers' (another label), so no reader's link, signed or not, opens a
review page, and the payload names the admin: the page checks on every request that they are
an admin still. Each form on the page carries a CSRF token, an HMAC of the link's token: a
page elsewhere cannot post to ours without having the link.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from digests.models import utcnow
from digests.readers.pagelinks import b64, page_secret, seal, sign, unseal
from digests.settings import Settings

LIFETIME = timedelta(minutes=15)
_MAX_TOKEN = 300  # an admin's payload names a WeChat openid: longer than a reader's
_LABEL = b"digestbot review links"
_PAYLOAD = re.compile(rb"(telegram|wechat):([A-Za-z0-9_-]{1,64}):([0-9]{1,18}):([0-9]{1,12})")


@dataclass(frozen=True)
class ReviewLink:
    """What an authentic review token says."""

    admin: str  # "telegram:123", "wechat:oAbc…": the revisions' author
    post_id: int
    expires_at: datetime

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at


def review_secret(page_secret: bytes) -> bytes:
    """The review links' key, derived from the page links' one under another label."""
    return hmac.new(_LABEL, page_secret, hashlib.sha256).digest()


def make_token(secret: bytes, admin: str, post_id: int, expires_at: datetime) -> str:
    """A token for `admin` ("channel:id") to review one post until `expires_at` (aware)."""
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    payload = f"{admin}:{post_id}:{int(expires_at.timestamp())}".encode()
    if _PAYLOAD.fullmatch(payload) is None:
        raise ValueError(f"not an admin identity: {admin!r}")
    return seal(secret, payload)


def open_token(secret: bytes, token: str) -> ReviewLink | None:
    """The link a token carries if we signed it, expired or not; else None."""
    payload = unseal(secret, token, _MAX_TOKEN)
    if payload is None:
        return None
    match = _PAYLOAD.fullmatch(payload)
    if match is None:
        return None
    channel, who, post, expiry = (group.decode() for group in match.groups())
    return ReviewLink(f"{channel}:{who}", int(post), datetime.fromtimestamp(int(expiry), UTC))


def csrf_token(secret: bytes, token: str) -> str:
    """The forms' token for the page a link opens."""
    return b64(sign(secret, b"csrf:" + token.encode()))


def csrf_ok(secret: bytes, token: str, given: str) -> bool:
    return hmac.compare_digest(csrf_token(secret, token).encode(), given.encode())


def link(secret: bytes, base_url: str, admin: str, post_id: int, now: datetime) -> str:
    """A fresh review link, valid for LIFETIME from `now`."""
    token = make_token(secret, admin, post_id, now + LIFETIME)
    return f"{base_url.rstrip('/')}/review/{token}"


def admin_link(settings: Settings, admin: str, post_id: int) -> str:
    """A fresh link for `admin` to review the post, under PUBLIC_BASE_URL, signed with the
    key derived from the bot's secrets (PageSecretMissing when it has none)."""
    secret = review_secret(page_secret(settings))
    return link(secret, settings.public_base_url, admin, post_id, utcnow())
