"""Revocation and finding readers, on SQLite and PostgreSQL: a revoked reader gets nothing
after the revocation (queued digests are skipped at send, /latest is locked, the same password
does not reopen it), and /readers finds readers by name, @username or id."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import select
from typer.testing import CliRunner

from bot.console import ConsoleChannel, handle
from digests.kinds import registry
from digests.models import Delivery, Status
from digests.outbox.dispatcher import send_queued
from digests.publishing import publish
from digests.publishing.context import AdminContext
from digests.readers import account, passwords, revocation
from digests.readers.expiry import queue_expiry_notices
from tests.conftest import SHANGHAI, fresh, reader


async def test_a_revoked_reader_gets_nothing_after_the_revocation(actx: AdminContext) -> None:
    """A digest queued before /revoke is skipped at send (entitlement re-checked then), while
    another reader gets it; /latest is locked, the month's password does not reopen it, and no
    expiry notice is queued for the ended grant."""
    alice, bob = await reader(actx, "alice"), await reader(actx, "bob")
    for who in (alice, bob):
        assert "解锁成功" in (await passwords.unlock(actx.store, who, "ld2602")).text
    await publish.publish_post(actx, "2-10-zhui-zong", by="test")  # queued for both
    revoked = await handle(actx, alice, "/revoke alice", is_admin=True)
    assert "已收回 #" in revoked.text and "1 个会员期" in revoked.text
    channel = ConsoleChannel()
    counts = await send_queued(actx.store, registry(), {"console": channel})
    assert "alice" not in channel.inbox and len(channel.inbox["bob"]) == 1
    assert counts.skipped == 1
    async with actx.store.sessions() as session:
        query = select(Delivery).where(Delivery.subscriber_id == alice.id)
        rows = (await session.exec(query)).all()
    assert [row.status for row in rows] == [Status.SKIPPED]
    assert (await handle(actx, alice, "/latest", is_admin=False)).digest is None
    again = await passwords.unlock(actx.store, await fresh(actx, alice), "ld2602")
    assert "已被收回" in again.text
    two_days_before_the_end = datetime(2026, 2, 27, 12, tzinfo=SHANGHAI)
    assert await queue_expiry_notices(actx.store, now=two_days_before_the_end) == 1  # bob's
    status = await account.status(actx.store, await fresh(actx, alice))
    assert "当前没有会员期" in status.text
    nothing = await handle(actx, alice, "/revoke alice", is_admin=True)
    assert "没有会员期可收回" in nothing.text


FEB_10 = datetime(2026, 2, 10, 12, tzinfo=SHANGHAI)


async def test_readers_finds_by_name_username_and_id_and_revoke_takes_them(
    actx: AdminContext,
) -> None:
    """/readers matches names, @usernames and channel ids; /revoke takes @username, a chat id
    or #id, and refuses a name that matches several readers."""
    zhang, _ = await account.register(
        actx.store, channel="telegram", external_id="1001", name="张三", username="zhang_san"
    )
    await account.register(actx.store, channel="wechat", external_id="oABC123", name="张三")
    await account.register(actx.store, channel="console", external_id="1001")
    await passwords.unlock(actx.store, zhang, "ld2602")
    found = await revocation.find_readers(actx.store, "张", now=FEB_10)
    assert "telegram 1001 张三 @zhang_san" in found.text and "wechat oABC123" in found.text
    assert "会员至 2026-02-28" in found.text
    assert "@zhang_san" in (await revocation.find_readers(actx.store, "@ZHANG")).text
    assert "没有找到" in (await revocation.find_readers(actx.store, "nobody")).text
    several = await revocation.revoke_reader(actx.store, "1001")
    assert "多位读者" in several.text and "console 1001" in several.text
    done = await revocation.revoke_reader(actx.store, "@Zhang_San")
    assert "已收回" in done.text and "@zhang_san" in done.text
    assert "没有会员期可收回" in (await revocation.revoke_reader(actx.store, f"#{zhang.id}")).text
    assert "无会员期" in (await revocation.find_readers(actx.store, "zhang", now=FEB_10)).text
    assert "没有找到读者" in (await revocation.revoke_reader(actx.store, "@nobody")).text


def test_cli_readers_revoke_and_find(cli: CliRunner) -> None:
    """`digestbot readers find` and `readers revoke` print the admin's sentences."""
    from bot.cli import app

    assert cli.invoke(app, ["db", "upgrade"]).exit_code == 0
    missing = cli.invoke(app, ["readers", "revoke", "@nobody"])
    assert missing.exit_code == 0 and "没有找到读者" in missing.stdout
    assert "没有找到读者" in cli.invoke(app, ["readers", "find", "nobody"]).stdout
