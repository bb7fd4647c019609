"""Telegram Stars subscriptions, the part without Telegram: the invoice's terms and payload, the
pre-checkout rule, and a payment turned into access.

A subscription is a chain of charges: the first payment, then a renewal every 30 days until the
reader cancels or a renewal does not come. Each charge is a StarsCharge row and an AccessGrant
labelled `stars:<charge id>` from the payment to its `subscription_expiration_date`: the
digests published to readers in between are covered, whenever their posts were written
(digests/entitlement.py), and so are posts dated in it. A renewal's grant starts where the
previous one ended when it comes within RENEWAL_GAP of it: Telegram charges the renewal at the
period's end, and a charge some minutes late must not leave a hole. Cancelling and refunds are
in digests/readers/stars_manage.py.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from digests.entitlement import STARS_PREFIX
from digests.models import AccessGrant, StarsCharge, Subscriber, UnlockAttempt, utcnow
from digests.readers import access
from digests.replies import Reply, StoreContext

log = logging.getLogger(__name__)
CURRENCY = "XTR"  # Telegram Stars
PERIOD = timedelta(days=30)  # the only subscription period the Bot API takes (2592000 s)
TITLE = "投研摘要会员"  # Telegram: 1-32 characters
DESCRIPTION = "会员文章的投研摘要，每 30 天自动续费，可随时发送 /unsubscribe 取消续费。"
LABEL = STARS_PREFIX  # an AccessGrant label's prefix: the grant came from a Stars charge
RENEWAL_GAP = timedelta(days=3)
# The ended notice waits this long past a grant's end: the renewal is charged at the end and
# its update may arrive a little after; a renewal that came is no reason to tell anyone.
NOTICE_GRACE = timedelta(hours=1)
_PAYLOAD = re.compile(r"sub30:([0-9]{1,18}):([0-9]{1,5})")
_LABEL_ROOM = 64 - len(LABEL)  # AccessGrant.label is 64 characters


@dataclass(frozen=True)
class StarsPlan:
    """What an invoice sells: 30 days for `price` Stars, to one reader."""

    subscriber_id: int
    price: int

    @property
    def payload(self) -> str:
        """The invoice payload (1-128 bytes) that comes back with the checkout and payment."""
        return f"sub30:{self.subscriber_id}:{self.price}"


def read_payload(payload: str) -> StarsPlan | None:
    """The plan an invoice payload names, or None if it is not one of ours."""
    match = _PAYLOAD.fullmatch(payload)
    if match is None:
        return None
    return StarsPlan(int(match.group(1)), int(match.group(2)))


@dataclass(frozen=True)
class Payment:
    """A successful_payment, as the channel received it."""

    charge_id: str
    provider_charge_id: str
    payload: str
    currency: str
    amount: int
    paid_at: datetime
    expires_at: datetime | None  # subscription_expiration_date
    recurring: bool
    first_recurring: bool

    @property
    def renewal(self) -> bool:
        """A subscription's later charge, not its first."""
        return self.recurring and not self.first_recurring


def grant_label(charge_id: str) -> str:
    """`stars:<charge id>`, or a digest of the id when it is too long for the label."""
    if len(charge_id) <= _LABEL_ROOM:
        return LABEL + charge_id
    return LABEL + "#" + hashlib.sha256(charge_id.encode()).hexdigest()[: _LABEL_ROOM - 1]


def is_stars(grant: AccessGrant) -> bool:
    """The grant came from a Stars charge."""
    return grant.label.startswith(LABEL)


async def live_charge(
    session: AsyncSession, subscriber_id: int, now: datetime
) -> StarsCharge | None:
    """The reader's newest charge whose period is still running and was not refunded."""
    query = (
        select(StarsCharge)
        .where(
            StarsCharge.subscriber_id == subscriber_id,
            col(StarsCharge.refunded_at).is_(None),
            col(StarsCharge.expires_at) > now,
        )
        .order_by(col(StarsCharge.expires_at).desc(), col(StarsCharge.id).desc())
    )
    return (await session.exec(query)).first()


async def before_invoice(
    ctx: StoreContext, subscriber: Subscriber, *, now: datetime | None = None
) -> Reply | None:
    """/subscribe: what to answer instead of an invoice (already subscribed), or None."""
    now = now or utcnow()
    assert subscriber.id is not None
    async with ctx.sessions() as session:
        charge = await live_charge(session, subscriber.id, now)
    if charge is None or charge.canceled_at is not None:
        return None
    until = charge.expires_at.astimezone(ctx.tz).strftime("%Y-%m-%d %H:%M")
    return Reply(f"你已订阅 Telegram Stars 会员，当前周期至 {until}，到期自动续费。")


async def refuse_checkout(
    ctx: StoreContext,
    *,
    user_id: int,
    payload: str,
    currency: str,
    amount: int,
    now: datetime | None = None,
) -> str | None:
    """Why a pre_checkout_query must be refused (the sentence Telegram shows the reader), or
    None to let it through: the payload must be ours, for this reader, at its price in Stars;
    a reader who is stopped or locked out of unlocking may not buy."""
    now = now or utcnow()
    plan = read_payload(payload)
    if plan is None or currency != CURRENCY or amount != plan.price:
        log.warning("refused a checkout with payload %r (%s %s)", payload, amount, currency)
        return "这张账单无效，请发送 /subscribe 重新获取。"
    async with ctx.sessions() as session:
        reader = await session.get(Subscriber, plan.subscriber_id)
        if reader is None or (reader.channel, reader.external_id) != ("telegram", str(user_id)):
            return "这张账单属于其他读者，请发送 /subscribe 获取你自己的账单。"
        if reader.status != "active":
            return "你已退订，请先发送 /start 重新订阅，再付款。"
        failures = await session.exec(
            select(UnlockAttempt.at).where(
                UnlockAttempt.subscriber_id == reader.id,
                col(UnlockAttempt.success).is_(False),
                col(UnlockAttempt.at) > now - access.LOCKOUT_WINDOW,
            )
        )
        if access.locked_until(failures.all(), now) is not None:
            return "密码错误次数过多，账户暂时锁定，请 15 分钟后再付款。"
    return None


async def record_payment(ctx: StoreContext, subscriber: Subscriber, payment: Payment) -> Reply:
    """A successful_payment: the charge stored and its grant made, once per charge id (a
    second delivery of the same charge changes nothing)."""
    assert subscriber.id is not None
    expires = payment.expires_at or payment.paid_at + PERIOD
    try:
        async with ctx.sessions() as session, session.begin():
            seen = select(StarsCharge.id).where(StarsCharge.charge_id == payment.charge_id)
            if (await session.exec(seen)).first() is not None:
                return _duplicate(payment)
            starts = payment.paid_at
            if payment.renewal:
                starts = await _renewal_start(session, subscriber.id, payment.paid_at)
            grant = AccessGrant(
                subscriber_id=subscriber.id,
                label=grant_label(payment.charge_id),
                starts_at=min(starts, expires),
                ends_at=expires,
            )
            session.add(grant)
            await session.flush()
            session.add(
                StarsCharge(
                    charge_id=payment.charge_id,
                    provider_charge_id=payment.provider_charge_id,
                    subscriber_id=subscriber.id,
                    grant_id=grant.id,
                    amount=payment.amount,
                    payload=payment.payload[:128],
                    recurring=payment.recurring,
                    first_recurring=payment.first_recurring,
                    paid_at=payment.paid_at,
                    expires_at=expires,
                )
            )
    except IntegrityError:  # the same charge, delivered twice at once: the other one stored it
        return _duplicate(payment)
    until = expires.astimezone(ctx.tz).strftime("%Y-%m-%d %H:%M")
    done = "续费成功" if payment.renewal else "订阅成功"
    return Reply(f"{done}：Telegram Stars 会员至 {until}。发送 /latest 查看最新摘要。")


def _duplicate(payment: Payment) -> Reply:
    log.info("charge %s delivered again; nothing changed", payment.charge_id)
    return Reply("这笔付款已经记录过。")


async def _renewal_start(session: AsyncSession, subscriber_id: int, paid_at: datetime) -> datetime:
    """Where a renewal's grant starts: the end of the reader's last Stars grant if it ended
    at most RENEWAL_GAP before the payment, else the payment."""
    query = (
        select(AccessGrant.ends_at)
        .join(StarsCharge, col(StarsCharge.grant_id) == col(AccessGrant.id))
        .where(
            AccessGrant.subscriber_id == subscriber_id,
            col(StarsCharge.refunded_at).is_(None),
            col(AccessGrant.ends_at) >= paid_at - RENEWAL_GAP,
        )
        .order_by(col(AccessGrant.ends_at).desc())
    )
    previous = (await session.exec(query)).first()
    return min(previous, paid_at) if previous is not None else paid_at


async def describe(
    session: AsyncSession, ctx: StoreContext, grants: list[AccessGrant]
) -> dict[int, str]:
    """/status lines for the Stars grants among `grants` (by grant id): how access was
    obtained, until when, and whether it renews."""
    ids = [grant.id for grant in grants if is_stars(grant) and grant.id is not None]
    if not ids:
        return {}
    charges = await session.exec(select(StarsCharge).where(col(StarsCharge.grant_id).in_(ids)))
    by_grant = {charge.grant_id: charge for charge in charges.all()}
    lines = {}
    for grant in grants:
        charge = by_grant.get(grant.id)
        if charge is None or grant.id is None:
            continue
        until = grant.ends_at.astimezone(ctx.tz).strftime("%Y-%m-%d %H:%M")
        if charge.refunded_at is not None:
            state = "已退款"
        elif charge.canceled_at is not None:
            state = "已取消续费，到期结束"
        else:
            state = "到期自动续费"
        lines[grant.id] = f"Telegram Stars 订阅（{charge.amount} Stars）：至 {until}，{state}"
    return lines


def ended_text(ctx: StoreContext, grant: AccessGrant) -> str:
    """The one notice a Stars reader gets when no renewal came."""
    until = grant.ends_at.astimezone(ctx.tz).strftime("%Y-%m-%d %H:%M")
    return (
        f"Telegram Stars 会员已于 {until} 到期，未续费。发送 /subscribe 可重新订阅；"
        "公开文章的摘要照常推送。"
    )
