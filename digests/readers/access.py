"""Access rules: password periods, hashing, the unlock lockout and entitlement. Pure functions,
so the rules are tested with a fixed clock (and `off_loop`, where the hashing runs).

A period runs from `valid_from` 00:00 to the end of `valid_until` in TIMEZONE (stored as
[starts_at, ends_at) in UTC). A gated post may go to a subscriber only if one of their grants
covers the post's publish time; ungated posts go to everyone.

Passwords are stored as scrypt hashes that share one salt per installation (the salt the
stored hashes use, a random one for the first), so one scrypt of what a reader typed is
compared with every period at once. Per-row salts would cost one scrypt per period per
attempt: with 24 periods, about 0.7 s of CPU for each wrong guess. Hashes from before (each
with its own salt) still match, at one scrypt each, and are rewritten under the shared salt
at their next successful unlock.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from digests.entitlement import runs
from digests.models import AccessGrant

T = TypeVar("T")
LOCKOUT_FAILURES = 5
LOCKOUT_WINDOW = timedelta(minutes=15)
# Periods are days an admin types; these bounds keep [first 00:00, last + 1 day) clear of
# datetime's limits in every zone (9999-12-31 + 1 day overflows).
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2999, 12, 31)
# scrypt at n=2**14, r=8: ~16 MiB and tens of milliseconds per check, so a stolen database
# does not give away the month's password by brute force in seconds (they are weak: ld+YYMM).
_N, _R, _P = 2**14, 8, 1
# scrypt releases the GIL, so hashing in these threads leaves the event loop free. One core
# is left to the loop: on 2 cores, two hashing threads let /healthz reach 270 ms under 100
# simultaneous unlocks, one kept it under 90 ms and answered the crowd as fast (bench/unlock.py).
_HASHING = ThreadPoolExecutor(
    max_workers=max(1, (os.cpu_count() or 2) - 1), thread_name_prefix="digestbot-scrypt"
)


async def off_loop(function: Callable[..., T], *args: object) -> T:
    """Run a hashing function in the hashing threads, never on the event loop."""
    return await asyncio.get_running_loop().run_in_executor(
        _HASHING, functools.partial(function, *args)
    )


@dataclass(frozen=True)
class _Params:
    """What a scrypt hash is computed with: its cost and its salt."""

    n: int
    r: int
    p: int
    salt: bytes

    @property
    def cost(self) -> tuple[int, int, int]:
        return self.n, self.r, self.p

    def digest(self, password: str) -> bytes:
        return hashlib.scrypt(
            password.encode(), salt=self.salt, n=self.n, r=self.r, p=self.p, dklen=32
        )

    def format(self, digest: bytes) -> str:
        return "$".join(
            ["scrypt", str(self.n), str(self.r), str(self.p), _b64(self.salt), _b64(digest)]
        )


@dataclass(frozen=True)
class Match:
    """Which stored hash a password opened, and that hash rewritten under the shared salt when
    it still has a salt of its own (None when it is already shared)."""

    index: int
    rehashed: str | None


def hash_password(password: str, stored: Sequence[str] = ()) -> str:
    """A scrypt hash, self-describing (scrypt$n$r$p$salt$hash), under the salt the `stored`
    hashes share (or a new random salt when there are none)."""
    params = _shared([_parse(text) for text in stored]) or _Params(_N, _R, _P, os.urandom(16))
    return params.format(params.digest(password))


def match_password(password: str, stored: Sequence[str]) -> Match | None:
    """The first stored hash (callers order them newest period first) that `password` opens,
    compared in constant time. One scrypt per distinct salt: one, once every hash shares it."""
    parsed = [_parse(text) for text in stored]
    shared = _shared(parsed)
    # the shared salt first: a match there costs no other scrypt
    salts = sorted(dict.fromkeys(found[0] for found in parsed if found), key=lambda p: p != shared)
    shared_digest = b""
    for params in salts:
        digest = params.digest(password)
        shared_digest = digest if params == shared else shared_digest
        for index, found in enumerate(parsed):
            if found and found[0] == params and hmac.compare_digest(digest, found[1]):
                own_salt = shared is not None and params != shared
                return Match(index, shared.format(shared_digest) if shared and own_salt else None)
    return None


def verify_password(password: str, stored: str) -> bool:
    """Constant-time comparison against one stored hash; a malformed hash never matches."""
    return match_password(password, [stored]) is not None


def _shared(parsed: Iterable[tuple[_Params, bytes] | None]) -> _Params | None:
    """The installation's salt: the one most hashes at today's cost use (among equals, the
    first given), so new and rewritten hashes gather under it."""
    today = (_N, _R, _P)
    current = [found[0] for found in parsed if found and found[0].cost == today]
    return Counter(current).most_common(1)[0][0] if current else None


def _parse(stored: str) -> tuple[_Params, bytes] | None:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return None
        return _Params(int(n), int(r), int(p), _unb64(salt)), _unb64(digest)
    except ValueError:
        return None


def period_bounds(valid_from: date, valid_until: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[first day 00:00, the day after the last day 00:00) in the given zone; ValueError with a
    sentence for a reversed period or a day outside FIRST_DAY–LAST_DAY."""
    if valid_until < valid_from:
        raise ValueError("the period ends before it starts")
    if valid_from < FIRST_DAY or valid_until > LAST_DAY:
        raise ValueError(f"a period lies between {FIRST_DAY} and {LAST_DAY}")
    starts = datetime.combine(valid_from, time(), tz)
    ends = datetime.combine(valid_until + timedelta(days=1), time(), tz)
    return starts, ends


def covers(grant: AccessGrant, moment: datetime) -> bool:
    """Whether the grant's period contains this instant."""
    return grant.starts_at <= moment < grant.ends_at


def entitled(
    *,
    gated: bool,
    published_at: datetime,
    grants: Iterable[AccessGrant],
    released_at: datetime | None = None,
) -> bool:
    """May a subscriber with these grants receive this post's digest? A grant covers the posts
    dated (`published_at`) in its period; a Stars or code grant also covers a digest published
    to readers (`released_at`) while it runs (digests/entitlement.py)."""
    return not gated or any(
        covers(grant, published_at)
        or (released_at is not None and runs(grant.label) and covers(grant, released_at))
        for grant in grants
    )


def locked_until(failures: Iterable[datetime], now: datetime) -> datetime | None:
    """When unlocking opens again, if five failures fell within the last 15 minutes."""
    recent = sorted(t for t in failures if now - t < LOCKOUT_WINDOW)
    if len(recent) < LOCKOUT_FAILURES:
        return None
    return recent[-1] + LOCKOUT_WINDOW


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode(), validate=True)  # binascii.Error is a ValueError
