"""One-use redemption codes on SQLite and PostgreSQL: their shape, a code unlocking one reader
and refusing the second (also when both try at once), the shared lockout, revoking codes, and
the `digestbot codes` command's output."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, date, datetime

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from bot.cli import app
from bot.console import handle
from bot.wechat import commands
from digests.models import AccessCode, AccessGrant
from digests.publishing import publish
from digests.publishing.context import AdminContext
from digests.readers import account, code_batches, codes, passwords
from tests.conftest import fresh, reader

FEBRUARY = (date(2026, 2, 1), date(2026, 2, 28))
SHAPE = re.compile(r"[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}")


def test_codes_are_grouped_unambiguous_and_forgive_case_and_separators() -> None:
    """Codes avoid 0/O and 1/I; lower case, spaces or no dashes still redeem; passwords and
    notes do not look like codes."""
    made = {codes.new_code() for _ in range(500)}
    assert len(made) == 500 and all(SHAPE.fullmatch(code) for code in made)
    assert not set("".join(made)) & set("01OI")
    code = "K7QD-M2XA-9HPW"
    assert codes.normalise("k7qd m2xa 9hpw") == codes.normalise("K7QDM2XA9HPW") == "K7QDM2XA9HPW"
    assert codes.looks_like_code("k7qd-m2xa-9hpw") and codes.looks_like_code(code)
    assert codes.normalise("K7QD-M2XA-9HP0") is None  # 0 is in no code
    for text in ("ld2602", "K7QD-M2XA-9HPW-2345", "K7Q DM2XA9HPW", "hello world again"):
        assert not codes.looks_like_code(text), text
    assert codes.code_hash("K7QDM2XA9HPW") != codes.code_hash("K7QDM2XA9HPX")


async def test_a_code_unlocks_one_reader_and_refuses_the_second(actx: AdminContext) -> None:
    """The first reader to send the code gets its period (and the gated digest); the second
    is told it is used and gets nothing; the first sending it again changes nothing."""
    [code] = await code_batches.create_codes(actx.store, *FEBRUARY, 1, "shop")
    alice, bob = await reader(actx, "alice"), await reader(actx, "bob")
    await publish.publish_post(actx, "2-10-zhui-zong", by="test")
    first = await handle(actx, alice, code.lower().replace("-", " "), is_admin=False)
    assert "兑换成功" in first.text and "2026-02-01 至 2026-02-28" in first.text
    assert first.delete_incoming
    second = await handle(actx, bob, f"/redeem {code}", is_admin=False)
    assert "已被使用" in second.text and "还可尝试 4 次" in second.text
    again = await handle(actx, alice, f"/redeem {code}", is_admin=False)
    assert "已兑换过" in again.text
    assert (await handle(actx, alice, "/latest", is_admin=False)).digest is not None
    assert (await handle(actx, bob, "/latest", is_admin=False)).digest is None
    assert not (await fresh(actx, alice)).awaiting_password
    feb_10 = datetime(2026, 2, 10, tzinfo=UTC)
    shown = await account.status(actx.store, alice, now=feb_10)
    assert "兑换码会员期：2026-02-01 至 2026-02-28" in shown.text  # how it was obtained
    async with actx.store.sessions() as session:
        grants = (await session.exec(select(AccessGrant))).all()
        stored = (await session.exec(select(AccessCode))).one()
    assert [(g.subscriber_id, g.label) for g in grants] == [(alice.id, f"code:{stored.id}")]
    assert stored.code_hash == codes.code_hash(code.replace("-", "")) and code not in str(stored)
    [batch] = await code_batches.batches(actx.store)
    assert (batch.label, batch.first_day, batch.last_day, batch.total, batch.used) == (
        "shop",
        "2026-02-01",
        "2026-02-28",
        1,
        1,
    )


async def test_readers_redeeming_one_code_at_once_get_it_once(actx: AdminContext) -> None:
    """Eight readers sending the same code at the same moment: exactly one succeeds, the
    others are told it is used, and one grant exists."""
    [code] = await code_batches.create_codes(actx.store, *FEBRUARY, 1)
    readers = [await reader(actx, f"r{i}") for i in range(8)]
    replies = await asyncio.gather(*(codes.redeem(actx.store, r, code) for r in readers))
    texts = [reply.text for reply in replies]
    assert sum("兑换成功" in t for t in texts) == 1, texts
    assert sum("已被使用" in t for t in texts) == 7, texts
    async with actx.store.sessions() as session:
        grants = (await session.exec(select(AccessGrant))).all()
        stored = (await session.exec(select(AccessCode))).one()
    assert len(grants) == 1 and grants[0].subscriber_id == stored.redeemed_by


async def test_wrong_codes_count_toward_the_password_lockout(actx: AdminContext) -> None:
    """Three wrong codes and two wrong passwords lock both ways of unlocking for 15 minutes."""
    [code] = await code_batches.create_codes(actx.store, *FEBRUARY, 1)
    carol = await reader(actx, "carol")
    for guess in ("AAAA-BBBB-CCCC", "AAAA-BBBB-CCCD", "not a code"):
        assert "兑换码无效" in (await codes.redeem(actx.store, carol, guess)).text
    await passwords.unlock(actx.store, carol, "guess1")
    assert "解锁已暂停" in (await passwords.unlock(actx.store, carol, "guess2")).text
    locked = await codes.redeem(actx.store, carol, code)
    assert "已暂停" in locked.text and "分钟后再试" in locked.text
    assert "错误次数过多" in (await passwords.unlock(actx.store, carol, "ld2602")).text


async def test_revoked_codes_are_refused_and_end_access_ends_their_grants(
    actx: AdminContext,
) -> None:
    """Revoking a label stops its unused codes; revoking one used code with end_access ends
    the access it gave; a label with another period is refused."""
    first, second, third = await code_batches.create_codes(actx.store, *FEBRUARY, 3, "zsxq")
    dave, erin = await reader(actx, "dave"), await reader(actx, "erin")
    await publish.publish_post(actx, "2-10-zhui-zong", by="test")
    assert "兑换成功" in (await codes.redeem(actx.store, dave, first)).text
    assert await code_batches.revoke_codes(actx.store, "zsxq") == (2, 0)
    assert "已作废" in (await codes.redeem(actx.store, erin, second)).text
    assert (await handle(actx, dave, "/latest", is_admin=False)).digest is not None
    assert await code_batches.revoke_codes(actx.store, first.lower(), end_access=True) == (0, 1)
    assert (await handle(actx, dave, "/latest", is_admin=False)).digest is None
    with pytest.raises(code_batches.RejectedInput):
        await code_batches.create_codes(actx.store, date(2026, 3, 1), date(2026, 3, 31), 1, "zsxq")
    with pytest.raises(code_batches.RejectedInput):
        await code_batches.revoke_codes(actx.store, "no-such-label")
    listing = await handle(actx, dave, "/codes", is_admin=True)
    assert "zsxq  2026-02-01 至 2026-02-28  共 3，已用 1，作废 2" in listing.text
    assert third  # never redeemed, revoked with its label


def test_cli_create_prints_only_the_codes_then_list_and_revoke(cli: CliRunner) -> None:
    """`codes create` prints N codes one per line and nothing else on stdout; `codes list
    --json` has label, period, total, used; `codes revoke` stops the batch."""
    assert cli.invoke(app, ["db", "upgrade"]).exit_code == 0
    args = ["codes", "create", "--from", "2026-03-01", "--until", "2026-03-31", "--count", "5"]
    made = cli.invoke(app, [*args, "--label", "wx-march"])
    assert made.exit_code == 0, made.output
    lines = made.stdout.splitlines()
    assert len(lines) == 5 and all(SHAPE.fullmatch(line) for line in lines), made.stdout
    listed = cli.invoke(app, ["codes", "list", "--json"])
    assert json.loads(listed.stdout) == [
        {
            "label": "wx-march",
            "first_day": "2026-03-01",
            "last_day": "2026-03-31",
            "total": 5,
            "used": 0,
            "revoked": 0,
        }
    ]
    assert cli.invoke(app, ["codes", "revoke", lines[0]]).stdout == "revoked 1 code(s)\n"
    assert cli.invoke(app, ["codes", "revoke", "wx-march"]).stdout == "revoked 4 code(s)\n"
    text = cli.invoke(app, ["codes", "list"]).stdout
    assert "wx-march  2026-03-01..2026-03-31  total 5  used 0  revoked 5" in text
    bad = cli.invoke(app, [*args[:-1], "0"])
    assert bad.exit_code == 2 and bad.stdout == "" and "no codes created" in bad.stderr
    reversed_period = ["codes", "create", "--from", "2026-03-31", "--until", "2026-03-01"]
    assert cli.invoke(app, [*reversed_period, "--count", "1"]).exit_code == 2


async def test_wechat_redeems_with_the_word_or_the_code_alone(actx: AdminContext) -> None:
    """On WeChat `兑换 CODE` and a bare code (groups separated by spaces) both redeem; the
    second code is refused to the second reader."""
    first, second = await code_batches.create_codes(actx.store, *FEBRUARY, 2)
    said = (await commands.on_text(actx, "o-amy", f"兑换 {first}", base_url="", admins=[])).text
    assert "兑换成功" in said
    bare = second.replace("-", " ").lower()
    assert "兑换成功" in (await commands.on_text(actx, "o-ben", bare, base_url="", admins=[])).text
    refused = (await commands.on_text(actx, "o-cat", second, base_url="", admins=[])).text
    assert "已被使用" in refused
    assert (
        "兑换 兑换码"
        in (await commands.on_text(actx, "o-cat", "帮助", base_url="", admins=[])).text
    )
