"""Access rules: password periods, hashing, the unlock lockout and entitlement. Pure functions,
so the rules are tested with a fixed clock.

A period runs from `valid_from` 00:00 to the end of `valid_until` in TIMEZONE (stored as
[starts_at, ends_at) in UTC). A gated post may go to a subscriber only if one of their grants
covers the post's publish time; ungated posts go to everyone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from digests.models import AccessGrant

LOCKOUT_FAILURES = 5
LOCKOUT_WINDOW = timedelta(minutes=15)
# scrypt at n=2**14, r=8: ~16 MiB and tens of milliseconds per check, so a stolen database
# does not give away the month's password by brute force in seconds (they are weak: ld+YYMM).
_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    """A salted scrypt hash, self-describing: scrypt$n$r$p$salt$hash."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return "$".join(["scrypt", str(_N), str(_R), str(_P), _b64(salt), _b64(digest)])


def verify_password(password: str, stored: str) -> bool:
    """Constant-time comparison against a stored hash; a malformed hash never matches."""
    try:
        scheme, n, r, p, salt, expected = stored.split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(password.encode(), salt=_unb64(salt), n=int(n), r=int(r),
                                p=int(p), dklen=32)  # fmt: skip
    except ValueError:
        return False
    return hmac.compare_digest(digest, _unb64(expected))


def period_bounds(valid_from: date, valid_until: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[first day 00:00, the day after the last day 00:00) in the given zone."""
    if valid_until < valid_from:
        raise ValueError("the period ends before it starts")
    starts = datetime.combine(valid_from, time(), tz)
    ends = datetime.combine(valid_until + timedelta(days=1), time(), tz)
    return starts, ends


def covers(grant: AccessGrant, moment: datetime) -> bool:
    """Whether the grant's period contains this instant."""
    return grant.starts_at <= moment < grant.ends_at


def entitled(*, gated: bool, published_at: datetime, grants: Iterable[AccessGrant]) -> bool:
    """May a subscriber with these grants receive this post's digest?"""
    return not gated or any(covers(grant, published_at) for grant in grants)


def locked_until(failures: Iterable[datetime], now: datetime) -> datetime | None:
    """When unlocking opens again, if five failures fell within the last 15 minutes."""
    recent = sorted(t for t in failures if now - t < LOCKOUT_WINDOW)
    if len(recent) < LOCKOUT_FAILURES:
        return None
    return recent[-1] + LOCKOUT_WINDOW


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode(), validate=True)
