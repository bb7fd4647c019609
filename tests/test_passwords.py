"""Unlocking under load, on SQLite and PostgreSQL: the password is hashed in a worker thread,
once per attempt whatever the number of periods; old per-period hashes keep working and move
to the shared salt; a burst of wrong tries from one reader is evaluated five times, no more."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from digests.models import AccessPassword, UnlockAttempt, utcnow
from digests.publishing.context import AdminContext
from digests.readers import access, passwords, periods
from tests.conftest import reader


@pytest.fixture
def scrypts(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The name of the thread each scrypt ran in (hashlib's, observed, not replaced)."""
    threads: list[str] = []
    real: Callable[..., bytes] = hashlib.scrypt

    def observed(*args: Any, **kwargs: Any) -> bytes:
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", observed)
    yield threads


async def add_months(actx: AdminContext, count: int) -> None:
    """`count` more monthly periods (2024-01 on), each with its own password pw-YYYY-MM."""
    for i in range(count):
        year, month = 2024 + i // 12, 1 + i % 12
        first, last = date(year, month, 1), date(year, month, 28)
        await periods.add_password(actx.store, f"pw-{first:%Y-%m}", first, last, f"{first:%Y-%m}")


async def test_one_scrypt_in_a_worker_thread_finds_the_period_among_24(
    actx: AdminContext, scrypts: list[str]
) -> None:
    """With 24 periods a wrong and a right password each cost one scrypt, off the event loop."""
    await add_months(actx, 23)
    bob = await reader(actx, "bob")
    scrypts.clear()
    wrong = await passwords.unlock(actx.store, bob, "guess")
    assert "密码不正确" in wrong.text
    right = await passwords.unlock(actx.store, bob, "pw-2024-07")
    assert "解锁成功：会员期 2024-07" in right.text
    assert len(scrypts) == 2
    assert all(name.startswith("digestbot-scrypt") for name in scrypts), scrypts
    assert threading.current_thread().name not in scrypts


async def test_old_per_period_hashes_still_open_and_move_to_the_shared_salt(
    actx: AdminContext, scrypts: list[str]
) -> None:
    """Hashes stored before the shared salt (one salt each) still unlock, one scrypt each; a
    successful unlock rewrites that hash under the shared salt, so the next attempt costs one
    scrypt fewer."""
    old = {"2025-10": "ld2510", "2025-11": "ld2511"}
    async with actx.store.sessions() as session, session.begin():
        for label, password in old.items():
            starts, ends = access.period_bounds(
                date.fromisoformat(label + "-01"),
                date.fromisoformat(label + "-28"),
                actx.store.tz,
            )
            session.add(
                AccessPassword(
                    label=label,
                    password_hash=access.hash_password(password),
                    starts_at=starts,
                    ends_at=ends,
                )
            )
    bob, carol = await reader(actx, "bob"), await reader(actx, "carol")
    scrypts.clear()
    assert "密码不正确" in (await passwords.unlock(actx.store, bob, "guess")).text
    assert len(scrypts) == 3  # three salts: February's and the two old ones
    scrypts.clear()
    assert "解锁成功：会员期 2025-10" in (await passwords.unlock(actx.store, carol, "ld2510")).text
    scrypts.clear()
    assert "密码不正确" in (await passwords.unlock(actx.store, bob, "guess2")).text
    assert len(scrypts) == 2
    async with actx.store.sessions() as session:
        hashes = dict(
            (await session.exec(select(AccessPassword.label, AccessPassword.password_hash))).all()
        )
    salt = {label: text.split("$")[4] for label, text in hashes.items()}
    assert len(set(salt.values())) == 2 and salt["2025-10"] in (salt["2026-02"], salt["2025-11"])
    assert access.verify_password("ld2510", hashes["2025-10"])
    assert "解锁成功" in (await passwords.unlock(actx.store, bob, "ld2510")).text


async def test_thirty_simultaneous_wrong_tries_from_one_reader_evaluate_exactly_five(
    actx: AdminContext, scrypts: list[str]
) -> None:
    """The lockout is counted atomically: of 30 wrong tries at once, 5 are checked and
    answered 密码不正确, 25 are refused as locked, and 5 failures are recorded."""
    bob = await reader(actx, "bob")
    scrypts.clear()
    now = utcnow()
    replies = await asyncio.gather(
        *(passwords.unlock(actx.store, bob, f"guess{i}", now=now) for i in range(30))
    )
    assert sum("密码不正确" in r.text for r in replies) == 5
    assert sum("错误次数过多" in r.text for r in replies) == 25
    assert len(scrypts) == 5
    async with actx.store.sessions() as session:
        recorded = (
            await session.exec(
                select(func.count()).where(col(UnlockAttempt.subscriber_id) == bob.id)
            )
        ).one()
    assert recorded == 5
