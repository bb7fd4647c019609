"""One-use redemption codes: what a code looks like, how it is stored, and redeeming one.

A code is 12 symbols from an alphabet without 0/O and 1/I (digits 2–9 and the other 24
capital letters: 5 bits each, 60 bits in all), printed in groups of four: `K7QD-M2XA-9HPW`.
Readers may type it in lower case, with or without the dashes or with spaces.

Only a keyed SHA-256 (HMAC) of the normalised code is stored, and a code is found by that hash
in one index probe. A slow hash (scrypt, as for passwords) is for secrets people choose and
can be guessed; a 60-bit random code cannot: online, guesses are held to five per reader per
15 minutes (the passwords' lockout, shared), and offline, a stolen database would need about
2^60 / (unused codes) hashes per code found, while it already holds every digest the codes
open. A fast hash also lets redemption be one indexed lookup instead of one scrypt per code.

Redeeming is atomic on both databases: the code is claimed by an UPDATE … WHERE redeemed_at IS
NULL, so of two readers redeeming the same code at once exactly one changes the row (the other
waits for its commit and then finds it used).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime

from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from digests.entitlement import CODE_PREFIX
from digests.models import AccessCode, AccessGrant, Subscriber, UnlockAttempt, utcnow
from digests.readers.access import LOCKOUT_FAILURES
from digests.readers.passwords import count_attempt
from digests.replies import Reply, StoreContext, command

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, no 1/I
LENGTH, GROUP = 12, 4
GRANT_PREFIX = CODE_PREFIX  # a redeemed code's grant is labelled code:<code id>
# Domain separation: these hashes can never equal another use of SHA-256 on the same text.
_KEY = b"digestbot redemption code v1"
_SHAPE = re.compile(rf"[{ALPHABET}]{{{LENGTH}}}")
_SEPARATORS = re.compile(r"[\s\-‐‑–—_]+")  # what readers put between groups


def new_code() -> str:
    """A fresh random code, grouped for reading: XXXX-XXXX-XXXX."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return "-".join(raw[i : i + GROUP] for i in range(0, LENGTH, GROUP))


def normalise(text: str) -> str | None:
    """The code's 12 symbols from what a reader typed, or None when it is not shaped like a
    code (lower case, dashes and spaces are forgiven; 0, O, 1, I are not in any code)."""
    compact = _SEPARATORS.sub("", text.strip()).upper()
    return compact if _SHAPE.fullmatch(compact) else None


def looks_like_code(text: str) -> bool:
    """A bare message that is a code, not a password or a note: exactly the code's shape
    (12 symbols, optionally in groups of four)."""
    stripped = text.strip()
    if len(stripped) > LENGTH + 4 or normalise(stripped) is None:
        return False
    groups = _SEPARATORS.split(stripped)
    return len(groups) == 1 or all(len(group) == GROUP for group in groups)


def code_hash(code: str) -> str:
    """The stored form of a normalised code: hex HMAC-SHA256 under a fixed key."""
    return hmac.new(_KEY, code.encode(), hashlib.sha256).hexdigest()


def grant_label(code_id: int) -> str:
    """The label of the grant a redeemed code gives."""
    return f"{GRANT_PREFIX}{code_id}"


async def redeem(
    ctx: StoreContext, subscriber: Subscriber, typed: str, *, now: datetime | None = None
) -> Reply:
    """/redeem CODE: give the code's period to this reader once; a used, revoked or unknown
    code is refused with a sentence and counts as a failed attempt toward the lockout that
    passwords use (five in 15 minutes)."""
    now = now or utcnow()
    assert subscriber.id is not None
    code = normalise(typed)
    async with ctx.sessions() as session, session.begin():
        attempt, failures, until = await count_attempt(session, subscriber.id, now)
        if until is not None:
            minutes = int((until - now).total_seconds() // 60) + 1
            text = f"尝试次数过多，解锁与兑换已暂停，请 {minutes} 分钟后再试。"
            return Reply(text, delete_incoming=True)
        found = None
        if code is not None:
            query = select(AccessCode).where(AccessCode.code_hash == code_hash(code))
            found = (await session.exec(query)).first()
        left = LOCKOUT_FAILURES - failures - 1  # this attempt counts as failed until it is not
        hint = f"还可尝试 {left} 次。" if left > 0 else "兑换已暂停 15 分钟。"
        if found is None or found.id is None:
            return Reply(f"兑换码无效，请核对后重试。{hint}", delete_incoming=True)
        if found.redeemed_by == subscriber.id:
            await _succeeded(session, attempt)
            return Reply(f"你已兑换过这个兑换码，会员期不变。发送 {command('status')} 查看。")
        if found.revoked_at is not None:
            return Reply(f"这个兑换码已作废，请联系作者。{hint}", delete_incoming=True)
        claimed = await session.exec(
            update(AccessCode)
            .where(col(AccessCode.id) == found.id, col(AccessCode.redeemed_at).is_(None))
            .where(col(AccessCode.revoked_at).is_(None))
            .values(redeemed_by=subscriber.id, redeemed_at=now)
        )
        if claimed.rowcount != 1:  # someone else's redemption committed first
            text = f"这个兑换码已被使用，每个兑换码只能兑换一次。{hint}"
            return Reply(text, delete_incoming=True)
        await _succeeded(session, attempt)
        session.add(
            AccessGrant(
                subscriber_id=subscriber.id,
                label=grant_label(found.id),
                starts_at=found.starts_at,
                ends_at=found.ends_at,
            )
        )
        await session.exec(
            update(Subscriber)
            .where(col(Subscriber.id) == subscriber.id)
            .values(awaiting_password=False)
        )
        period = ctx.period(found.starts_at, found.ends_at)
    return Reply(
        f"兑换成功：会员期 {period}。发送 {command('latest')} 查看最新摘要。", delete_incoming=True
    )


async def _succeeded(session: AsyncSession, attempt: int) -> None:
    """The attempt counted before the check did not fail after all."""
    await session.exec(
        update(UnlockAttempt).where(col(UnlockAttempt.id) == attempt).values(success=True)
    )
