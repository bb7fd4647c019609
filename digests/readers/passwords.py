"""Unlocking with a period's password: one scrypt per attempt in a hashing thread, and a
lockout counted atomically (five failures in 15 minutes lock unlocking for 15 minutes).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from datetime import datetime

from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from digests.models import (
    AccessGrant,
    AccessPassword,
    Subscriber,
    UnlockAttempt,
    utcnow,
)
from digests.readers import access, revocation, shapes
from digests.replies import Reply, StoreContext, command

log = logging.getLogger(__name__)
_AT_ONCE = 4  # unlocks at their database work at once


_GATES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]
_GATES = weakref.WeakKeyDictionary()


async def unlock(
    ctx: StoreContext, subscriber: Subscriber, password: str, *, now: datetime | None = None
) -> Reply:
    """Check a period password; five failures in 15 minutes lock unlocking for 15 minutes.

    The attempt is counted before the password is checked, in one transaction that holds the
    reader's row, so a burst of tries is evaluated five at most. The check (one scrypt) runs
    in a hashing thread, outside any transaction."""
    now = now or utcnow()
    assert subscriber.id is not None
    async with _gate(), ctx.sessions() as session, session.begin():
        attempt, failures, until = await count_attempt(session, subscriber.id, now)
        if until is not None:
            minutes = int((until - now).total_seconds() // 60) + 1
            text = f"密码错误次数过多，解锁已暂停，请 {minutes} 分钟后再试。"
            return Reply(text, delete_incoming=True)
        order = (col(AccessPassword.starts_at).desc(), col(AccessPassword.id).desc())
        periods = list((await session.exec(select(AccessPassword).order_by(*order))).all())
    hashes = [period.password_hash for period in periods]
    found = await access.off_loop(access.match_password, password.strip(), hashes)
    if found is None:
        log.info("subscriber %s gave a wrong password", subscriber.id)  # never the password
        left = access.LOCKOUT_FAILURES - failures - 1
        hint = f"还可尝试 {left} 次。" if left > 0 else "解锁已暂停 15 分钟。"
        return Reply(f"密码不正确。{hint}", delete_incoming=True)
    match = periods[found.index]
    async with _gate(), ctx.sessions() as session, session.begin():
        await session.exec(
            update(UnlockAttempt).where(col(UnlockAttempt.id) == attempt).values(success=True)
        )
        if not match.shape:  # stored before shapes were: now it is known (readers/shapes.py)
            await session.exec(
                update(AccessPassword)
                .where(col(AccessPassword.id) == match.id)
                .values(shape=shapes.shape(password))
            )
        if found.rehashed is not None:  # an old per-period salt: now the shared one
            await session.exec(
                update(AccessPassword)
                .where(
                    col(AccessPassword.id) == match.id,
                    col(AccessPassword.password_hash) == match.password_hash,
                )
                .values(password_hash=found.rehashed)
            )
        held = await session.exec(
            select(AccessGrant).where(
                AccessGrant.subscriber_id == subscriber.id, AccessGrant.label == match.label
            )
        )
        grant = held.first()
        if grant is not None and revocation.is_revoked(grant):
            return Reply(f"会员期 {match.label} 已被收回，请联系作者。", delete_incoming=True)
        if grant is None:
            session.add(
                AccessGrant(
                    subscriber_id=subscriber.id,
                    label=match.label,
                    starts_at=match.starts_at,
                    ends_at=match.ends_at,
                )
            )
        stored = await session.get(Subscriber, subscriber.id)
        if stored is not None:
            stored.awaiting_password = False
    period = ctx.period(match.starts_at, match.ends_at)
    return Reply(
        f"解锁成功：会员期 {match.label}（{period}）。发送 {command('latest')} 查看最新摘要。",
        delete_incoming=True,
    )


def _gate() -> asyncio.Semaphore:
    """At most a few unlocks at their database work at once (per event loop): 100 readers at
    once would queue ~500 ms of ORM work ahead of everything else on the loop (/healthz,
    WeChat's 5-second replies); hashing is the bottleneck anyway."""
    loop = asyncio.get_running_loop()
    if loop not in _GATES:
        _GATES[loop] = asyncio.Semaphore(_AT_ONCE)
    return _GATES[loop]


async def count_attempt(
    session: AsyncSession, subscriber_id: int, now: datetime
) -> tuple[int, int, datetime | None]:
    """Record an attempt as failed until it proves right: (its id, earlier failures in the
    window, None), or (0, failures, when unlocking opens again) if the reader is locked out.

    The UPDATE that changes nothing serialises one reader's attempts until commit: PostgreSQL
    locks the row, and on SQLite a first write takes the database's write lock. Without it,
    30 simultaneous tries each read "fewer than five failures" and 8 of them were evaluated."""
    await session.exec(
        update(Subscriber)
        .where(col(Subscriber.id) == subscriber_id)
        .values(awaiting_password=Subscriber.awaiting_password)
    )
    recent = select(UnlockAttempt.at).where(
        UnlockAttempt.subscriber_id == subscriber_id,
        col(UnlockAttempt.success).is_(False),
        col(UnlockAttempt.at) > now - access.LOCKOUT_WINDOW,
    )
    failures = (await session.exec(recent)).all()
    until = access.locked_until(failures, now)
    if until is not None:
        return 0, len(failures), until
    attempt = UnlockAttempt(subscriber_id=subscriber_id, at=now, success=False)
    session.add(attempt)
    await session.flush()
    assert attempt.id is not None
    return attempt.id, len(failures), None


async def grants_of(session: AsyncSession, subscriber_id: int) -> list[AccessGrant]:
    """Every grant a subscriber holds."""
    query = select(AccessGrant).where(AccessGrant.subscriber_id == subscriber_id)
    return list((await session.exec(query)).all())
