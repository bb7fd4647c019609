"""Redemption codes and revocation through the real python-telegram-bot Application and the
fake Bot API (SQLite and PostgreSQL): /redeem and a bare code, /codes, /readers, /revoke."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import pytest

from bot.container import Services
from digests.readers import code_batches
from tests.fake_telegram import FakeTelegram, running_bot
from tests.test_telegram import ADMIN, ALICE, BOB, said, subscribe, until


@pytest.fixture
async def running(database_url: str) -> AsyncIterator[tuple[FakeTelegram, Services]]:
    """Samples ingested, February's password set, the bot polling the fake server."""
    async with running_bot(database_url, ADMIN) as running:
        yield running


async def test_redeem_once_then_refused_then_revoked_by_username(
    running: tuple[FakeTelegram, Services],
) -> None:
    """Alice redeems with /redeem (her message deleted), Bob's bare copy of the code is
    refused; a reader's /revoke is refused; the admin's /codes counts the use, /readers finds
    Alice and /revoke @username ends her access, so /latest is locked again."""
    fake, services = running
    [code] = await code_batches.create_codes(
        services.store_context(), date(2026, 2, 1), date(2026, 2, 28), 1, "tg"
    )
    fake.user_says(ADMIN, "/publish 2-10-zhui-zong")
    await until(said(fake, ADMIN, "已发布"))
    await subscribe(fake, ALICE, BOB)
    fake.user_says(ALICE, f"/redeem {code}")
    await until(said(fake, ALICE, "兑换成功"))
    await until(lambda: any(chat == ALICE for chat, _ in fake.deleted))
    fake.user_says(BOB, code.lower())
    await until(said(fake, BOB, "已被使用"))
    fake.user_says(BOB, f"/revoke {ALICE}")
    await until(said(fake, BOB, "仅限管理员"))
    fake.user_says(ADMIN, "/codes")
    await until(said(fake, ADMIN, "tg  2026-02-01 至 2026-02-28  共 1，已用 1"))
    fake.user_says(ADMIN, f"/readers u{ALICE}")
    await until(said(fake, ADMIN, f"telegram {ALICE} U{ALICE} @u{ALICE}  活跃"))
    fake.user_says(ADMIN, f"/revoke @u{ALICE}")
    await until(said(fake, ADMIN, "已收回"))
    fake.user_says(ALICE, "/latest")
    await until(said(fake, ALICE, "是会员文章"))
