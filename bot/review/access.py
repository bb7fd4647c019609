"""Who may use a review link: the admin it names, while they are an admin, until it expires.
A reader's page link, a forged or altered token and an expired one get nothing."""

from __future__ import annotations

from dataclasses import dataclass

from digests.models import utcnow
from digests.readers.pagelinks import page_secret
from digests.review import links
from digests.review.links import ReviewLink
from digests.settings import Settings


@dataclass(frozen=True)
class Admitted:
    """A request the link lets in."""

    link: ReviewLink
    token: str
    secret: bytes


class Refused(Exception):
    """Why a link lets nobody in: 403 (forged, not an admin) or 410 (expired)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def secret(settings: Settings) -> bytes:
    """The review links' key (PageSecretMissing when the bot has no secret at all)."""
    return links.review_secret(page_secret(settings))


def is_admin(settings: Settings, admin: str) -> bool:
    """`admin` ("telegram:ID" / "wechat:OPENID") is one of the configured admins now."""
    channel, _, who = admin.partition(":")
    if channel == "telegram":
        return who.isdigit() and int(who) in settings.telegram_admin_ids
    return channel == "wechat" and who in settings.wechat_admin_openids


def admit(settings: Settings, token: str) -> Admitted:
    """The request's link, or Refused."""
    key = secret(settings)
    link = links.open_token(key, token)
    if link is None or not is_admin(settings, link.admin):
        raise Refused(403)
    if link.expired(utcnow()):
        raise Refused(410)
    return Admitted(link, token, key)
