"""Telegram Stars subscriptions end to end: the real PTB Application against the fake Bot API
(tests/fake_stars.py), on SQLite and PostgreSQL, with the clock fixed in February 2026."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from sqlmodel import col, func, select

from bot.container import Services
from digests.ingest.core import ingest
from digests.models import AccessGrant, Delivery, Post, StarsCharge, Subscriber
from digests.readers import access, stars
from digests.readers.account import get_subscriber
from digests.readers.expiry import queue_expiry_notices
from tests.fake_stars import StarsDesk, invoice_problem
from tests.fake_telegram import FakeTelegram, running_bot
from tests.test_telegram import said, until

ADMIN, ALICE, BOB = 1000, 2001, 2002
PRICE = 250
NOW = datetime(2026, 2, 27, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
Running = tuple[FakeTelegram, Services]


@pytest.fixture
async def running(database_url: str) -> AsyncIterator[Running]:
    """The bot with STARS_MONTHLY_PRICE=250, its clock at NOW (still ticking)."""
    with time_machine.travel(NOW, tick=True):
        async with running_bot(database_url, ADMIN, stars_monthly_price=PRICE) as bot:
            yield bot


async def pay(fake: FakeTelegram, user: int) -> str:
    """/start, /subscribe, open the link and pay: the charge id."""
    fake.user_says(user, "/start")
    await until(said(fake, user, "欢迎订阅"))
    fake.user_says(user, "/subscribe")
    await until(said(fake, user, "https://t.me/$"))
    link = re.findall(r"https://t\.me/\$\S+", fake.inbox[user][-1])[-1]
    fake.stars.open_invoice(user, link)
    await until(said(fake, user, "订阅成功"))
    return next(c.charge_id for c in reversed(fake.stars.charges.values()) if c.user_id == user)


async def grants(services: Services, user: int) -> list[AccessGrant]:
    async with services.store_context().sessions() as session:
        reader = await get_subscriber(session, channel="telegram", external_id=str(user))
        assert reader is not None
        query = select(AccessGrant).where(AccessGrant.subscriber_id == reader.id)
        return list((await session.exec(query.order_by(col(AccessGrant.starts_at)))).all())


async def count(services: Services, model: type[Any]) -> int:
    async with services.store_context().sessions() as session:
        return (await session.exec(select(func.count()).select_from(model))).one()


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ({"currency": "USD"}, "currency must be XTR"),
        ({"provider_token": "tok"}, "provider_token must be empty"),
        ({"prices": '[{"label": "a", "amount": 5}, {"label": "b", "amount": 5}]'}, "one price"),
        ({"prices": '[{"label": "a", "amount": 10001}]'}, "TOTAL_AMOUNT_INVALID"),
        ({"title": ""}, "TITLE_INVALID"),
        ({"title": "x" * 33}, "TITLE_INVALID"),
        ({"payload": ""}, "PAYLOAD_INVALID"),
        ({"payload": "é" * 65}, "PAYLOAD_INVALID"),  # 130 bytes
        ({"subscription_period": "604800"}, "SUBSCRIPTION_PERIOD_INVALID"),
    ],
)
def test_the_fake_refuses_invoices_breaking_the_bot_api_rules(
    change: dict[str, str], refusal: str
) -> None:
    """Each of Telegram's Stars invoice rules, broken alone, gets a 400; the valid one passes."""
    valid = {
        "title": "x" * 32,
        "description": "d",
        "payload": "p" * 128,
        "currency": "XTR",
        "provider_token": "",
        "prices": '[{"label": "30 天", "amount": 10000}]',
        "subscription_period": "2592000",
    }
    desk = StarsDesk(push=lambda update: 0, message=lambda user, **content: {})
    assert invoice_problem(valid) == ""
    assert desk.call("createInvoiceLink", valid)[0] == 200
    status, body = desk.call("createInvoiceLink", {**valid, **change})
    assert status == 400 and refusal in body["description"]


@pytest.mark.parametrize(
    ("payload", "plan"),
    [
        ("sub30:7:250", stars.StarsPlan(7, 250)),
        ("sub30:7:250x", None),
        ("sub30:-7:250", None),
        ("sub30:7", None),
        ("sub365:7:250", None),
        ("sub30:٧:250", None),  # not ASCII digits
    ],
)
def test_payloads_name_a_reader_and_a_plan_or_nothing(
    payload: str, plan: stars.StarsPlan | None
) -> None:
    """Only our own payload format is read back; a plan's payload reads back as itself."""
    assert stars.read_payload(payload) == plan
    if plan is not None:
        assert stars.read_payload(plan.payload) == plan


def test_a_long_charge_id_still_makes_a_unique_label_within_64_characters() -> None:
    """AccessGrant labels hold 64 characters: a longer charge id is digested, distinctly."""
    short, long_a, long_b = "stx" + "a" * 20, "stx" + "a" * 80, "stx" + "a" * 79 + "b"
    assert stars.grant_label(short) == f"stars:{short}"
    labels = {stars.grant_label(long_a), stars.grant_label(long_b)}
    assert len(labels) == 2 and all(len(x) <= 64 and x.startswith("stars:") for x in labels)


async def test_first_payment_and_a_renewal_extend_access(running: Running) -> None:
    """The invoice is a 30-day XTR subscription; the checkout is answered in time; the payment
    covers a gated post published in it; a renewal charged late continues without a hole; no
    expiry notice goes to a renewed reader."""
    fake, services = running
    first = await pay(fake, ALICE)
    params = next(p for m, p in fake.calls if m == "createInvoiceLink")
    assert (params["currency"], params["subscription_period"]) == ("XTR", "2592000")
    assert params.get("provider_token", "") == ""
    assert [ok for _, ok, _, took in fake.stars.answers if took < 10] == [True]
    [grant] = await grants(services, ALICE)
    assert grant.label == f"stars:{first}"
    assert grant.ends_at - grant.starts_at == timedelta(days=30)
    async with services.store_context().sessions() as session:
        march = (
            await session.exec(select(Post).where(Post.slug == "3-2-ben-zhou-feng-xian"))
        ).one()
    assert march.gated and access.entitled(
        gated=True, published_at=march.published_at, grants=[grant]
    )
    fake.user_says(BOB, "/start")  # subscribed, not paying
    await until(said(fake, BOB, "欢迎订阅"))
    fake.user_says(ADMIN, "/publish 3-2-ben-zhou-feng-xian")
    await until(said(fake, ALICE, march.title))
    assert not said(fake, BOB, march.title)()

    fake.stars.renew(first, late_by=7200)  # charged two hours after the period's end
    await until(said(fake, ALICE, "续费成功"))
    old, new = await grants(services, ALICE)
    assert new.starts_at == old.ends_at and new.ends_at == old.ends_at + timedelta(days=30)
    gap = old.ends_at + timedelta(hours=1)
    assert access.entitled(gated=True, published_at=gap, grants=[old, new])
    assert (
        await queue_expiry_notices(services.store_context(), now=old.ends_at + timedelta(days=1))
        == 0
    )
    fake.user_says(ALICE, "/status")
    until_day = new.ends_at.astimezone(services.settings.tz).strftime("%Y-%m-%d")
    await until(said(fake, ALICE, f"Telegram Stars 订阅（{PRICE} Stars）：至 {until_day}"))


async def test_the_same_charge_twice_changes_nothing(running: Running) -> None:
    """A successful_payment delivered again: one charge, one grant, and a sentence."""
    fake, services = running
    charge = await pay(fake, ALICE)
    before = await grants(services, ALICE)
    fake.stars.deliver_again(charge)
    await until(said(fake, ALICE, "这笔付款已经记录过"))
    assert await count(services, StarsCharge) == 1
    after = await grants(services, ALICE)
    assert [(g.id, g.starts_at, g.ends_at) for g in after] == [
        (g.id, g.starts_at, g.ends_at) for g in before
    ]


async def test_refund_ends_access(running: Running) -> None:
    """/refund READER refunds at Telegram and ends the grant now; no notice follows; a second
    /refund of the charge is refused with a sentence; readers may not /refund."""
    fake, services = running
    charge = await pay(fake, ALICE)
    fake.user_says(ALICE, f"/refund {charge}")
    await until(said(fake, ALICE, "仅限管理员"))
    fake.user_says(ADMIN, f"/refund {ALICE}")
    await until(said(fake, ADMIN, f"已退款 {PRICE} Stars"))
    assert fake.stars.charges[charge].refunded
    [grant] = await grants(services, ALICE)
    assert grant.ends_at <= datetime.now(UTC)
    assert not access.entitled(gated=True, published_at=datetime.now(UTC), grants=[grant])
    fake.user_says(ALICE, "/status")
    await until(said(fake, ALICE, "当前没有会员期"))
    fake.user_says(ADMIN, f"/refund {charge}")
    await until(said(fake, ADMIN, "这笔付款已经退款"))
    assert await queue_expiry_notices(services.store_context(), now=NOW + timedelta(days=40)) == 0


async def test_a_cancelled_subscription_keeps_access_to_its_end(running: Running) -> None:
    """/unsubscribe cancels renewal at Telegram; access runs to the period's end; when no
    renewal comes the reader is told once that it ended."""
    fake, services = running
    charge = await pay(fake, ALICE)
    fake.user_says(ALICE, "/unsubscribe")
    await until(said(fake, ALICE, "已取消 Telegram Stars 自动续费"))
    edit = next(p for m, p in fake.calls if m == "editUserStarSubscription")
    assert (edit["telegram_payment_charge_id"], edit["is_canceled"]) == (charge, "true")
    assert charge in fake.stars.canceled
    [grant] = await grants(services, ALICE)
    assert grant.ends_at - grant.starts_at == timedelta(days=30)
    assert access.entitled(
        gated=True, published_at=grant.ends_at - timedelta(minutes=1), grants=[grant]
    )
    fake.user_says(ALICE, "/status")
    await until(said(fake, ALICE, "已取消续费，到期结束"))
    ctx = services.store_context()
    assert await queue_expiry_notices(ctx, now=grant.ends_at - timedelta(days=1)) == 0
    assert await queue_expiry_notices(ctx, now=grant.ends_at + timedelta(hours=2)) == 1
    assert await queue_expiry_notices(ctx, now=grant.ends_at + timedelta(days=2)) == 0
    async with ctx.sessions() as session:
        refs = (await session.exec(select(Delivery.ref).where(Delivery.kind == "notice"))).all()
    assert refs == [f"expiry:{grant.id}:0"]
    fake.user_says(ALICE, "/unsubscribe")
    await until(said(fake, ALICE, "你没有正在自动续费"))


async def test_subscribe_after_cancelling_restores_renewal(running: Running) -> None:
    """/subscribe within a cancelled period turns renewal back on at Telegram instead of
    selling a second subscription; /subscribe again says it already renews."""
    fake, _ = running
    charge = await pay(fake, ALICE)
    fake.user_says(ALICE, "/unsubscribe")
    await until(said(fake, ALICE, "已取消 Telegram Stars 自动续费"))
    fake.user_says(ALICE, "/subscribe")
    await until(said(fake, ALICE, "已恢复 Telegram Stars 自动续费"))
    assert charge not in fake.stars.canceled
    fake.user_says(ALICE, "/subscribe")
    await until(said(fake, ALICE, "你已订阅 Telegram Stars 会员"))
    assert [m for m, _ in fake.calls].count("createInvoiceLink") == 1
    renewal = fake.stars.renew(charge)
    await until(said(fake, ALICE, "续费成功"))
    assert renewal in fake.stars.charges


async def test_checkout_refuses_another_readers_invoice_a_locked_out_or_stopped_reader(
    running: Running,
) -> None:
    """Bob paying Alice's link, Bob locked out by wrong passwords, and Bob after /stop: each
    checkout is answered no with a sentence, in time, and nothing is charged."""
    fake, services = running
    fake.user_says(ALICE, "/subscribe")
    await until(said(fake, ALICE, "https://t.me/$"))
    alices = re.findall(r"https://t\.me/\$\S+", fake.inbox[ALICE][-1])[-1]
    fake.stars.open_invoice(BOB, alices)
    await until(lambda: len(fake.stars.answers) == 1)
    for attempt in range(1, 6):
        fake.user_says(BOB, f"/unlock wrong{attempt}")
        await until(lambda n=attempt: len(fake.inbox.get(BOB, [])) == n)  # type: ignore[misc]
    fake.user_says(BOB, "/subscribe")
    await until(said(fake, BOB, "https://t.me/$"))
    bobs = re.findall(r"https://t\.me/\$\S+", fake.inbox[BOB][-1])[-1]
    fake.stars.open_invoice(BOB, bobs)
    await until(lambda: len(fake.stars.answers) == 2)
    fake.user_says(BOB, "/stop")
    await until(said(fake, BOB, "已退订"))
    fake.stars.open_invoice(BOB, bobs)  # an old link, after /stop
    await until(lambda: len(fake.stars.answers) == 3)
    reasons = [(ok, why) for _, ok, why, took in fake.stars.answers if took < 10]
    assert [ok for ok, _ in reasons] == [False, False, False]
    assert "其他读者" in reasons[0][1] and "锁定" in reasons[1][1] and "退订" in reasons[2][1]
    assert not fake.stars.charges and await count(services, StarsCharge) == 0


async def test_stop_cancels_the_stars_renewal(running: Running) -> None:
    """/stop also cancels renewal at Telegram and says until when access runs."""
    fake, services = running
    charge = await pay(fake, ALICE)
    fake.user_says(ALICE, "/stop")
    await until(said(fake, ALICE, "已取消 Telegram Stars 自动续费"))
    assert charge in fake.stars.canceled
    async with services.store_context().sessions() as session:
        stored = (await session.exec(select(StarsCharge))).one()
        reader = await session.get(Subscriber, stored.subscriber_id)
    assert stored.canceled_at is not None and reader is not None and reader.status == "stopped"


async def test_revoking_a_subscriber_also_cancels_the_stars_renewal(running: Running) -> None:
    """/revoke ends the grant now and cancels renewal at Telegram: a revoked reader is not
    charged again for access they no longer get."""
    fake, services = running
    charge = await pay(fake, ALICE)
    fake.user_says(ADMIN, f"/revoke {ALICE}")
    await until(said(fake, ADMIN, "已取消 ta 的 Telegram Stars 自动续费"))
    assert charge in fake.stars.canceled
    [grant] = await grants(services, ALICE)
    assert not access.entitled(gated=True, published_at=datetime.now(UTC), grants=[grant])


async def test_subscribe_is_off_without_a_price(database_url: str) -> None:
    """Without STARS_MONTHLY_PRICE, /subscribe says so and makes no invoice."""
    async with running_bot(database_url, ADMIN) as (fake, _):
        fake.user_says(ALICE, "/subscribe")
        await until(said(fake, ALICE, "暂未开通 Telegram Stars 订阅"))
        assert not any(m == "createInvoiceLink" for m, _ in fake.calls)


WRITTEN_AT = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)  # 20:00 in Shanghai
PAYS_AT = WRITTEN_AT + timedelta(minutes=30)
PUBLISHED_AT = WRITTEN_AT + timedelta(hours=1)
EVENING_POST = """---
title: 3.10晚间速递
link: 3-10-wan-jian
date: 2026-03-10 20:00:00
password: ld2603
---

晚间消息：光模块龙头天孚通信获大单，通信板块明天值得关注。
"""


async def test_a_post_written_before_the_payment_and_published_after_it_reaches_the_payer(
    database_url: str, tmp_path: Path
) -> None:
    """A gated post written at 20:00, a reader who pays in Stars at 20:30, the digest published
    at 21:00: the payer receives it, and /latest, the stock's timeline and /search show it; a
    reader who did not pay gets none of it."""
    with time_machine.travel(PAYS_AT, tick=True) as clock:
        async with running_bot(database_url, ADMIN, stars_monthly_price=PRICE) as bot:
            fake, services = bot
            (tmp_path / "3-10-wan-jian.md").write_text(EVENING_POST, encoding="utf-8")
            [outcome] = [o async for o in ingest([str(tmp_path)], services.ingest_context())]
            assert outcome.status == "new"
            async with services.store_context().sessions() as session:
                post = (await session.exec(select(Post).where(Post.slug == "3-10-wan-jian"))).one()
            assert post.gated and post.published_at == WRITTEN_AT
            await pay(fake, ALICE)
            [grant] = await grants(services, ALICE)
            assert grant.starts_at > post.published_at  # paid after the post was written
            fake.user_says(BOB, "/start")  # subscribed, not paying
            await until(said(fake, BOB, "欢迎订阅"))

            clock.move_to(PUBLISHED_AT)
            fake.user_says(ADMIN, "/publish 3-10-wan-jian")
            await until(said(fake, ADMIN, "已发布《3.10晚间速递》"))
            await until(said(fake, ALICE, "3.10晚间速递"))
            fake.user_says(ALICE, "/latest")
            await until(lambda: sum("3.10晚间速递" in m for m in fake.inbox[ALICE]) >= 2)
            fake.user_says(ALICE, "/stock 天孚通信")  # the stock's timeline judges alike
            await until(said(fake, ALICE, "2026-03-10《3.10晚间速递》·"))
            fake.user_says(ALICE, "/search 获大单")  # and the search
            await until(said(fake, ALICE, "1. 《3.10晚间速递》2026-03-10"))
            fake.user_says(BOB, "/latest")
            await until(said(fake, BOB, "是会员文章"))
            fake.user_says(BOB, "/search 获大单")
            await until(said(fake, BOB, "1. 🔒《3.10晚间速递》2026-03-10"))
            fake.user_says(BOB, "/stock 天孚通信")
            await until(said(fake, BOB, "🔒 2026-03-10《3.10晚间速递》"))
            assert said(fake, ALICE, "天孚通信获大单")()
            assert not said(fake, BOB, "天孚通信获大单")()
