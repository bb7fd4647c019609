"""Stars subscriptions after the payment: cancelling renewal (/unsubscribe, /stop) and the
admin's refund (/refund READER|CHARGE_ID). The channel makes the Bot API call between the two
halves of each: find what to act on, call Telegram, then record what Telegram accepted.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select, update

from digests.models import AccessGrant, StarsCharge, Subscriber, utcnow
from digests.readers.stars import live_charge
from digests.replies import Reply, StoreContext

REFUND_USAGE = "用法：/refund 读者的 Telegram id 或 付款编号（charge id）"


async def renewal_to_cancel(
    ctx: StoreContext, subscriber: Subscriber, *, now: datetime | None = None
) -> StarsCharge | None:
    """The charge whose subscription still renews (its period running, neither cancelled nor
    refunded), or None: nothing to cancel."""
    now = now or utcnow()
    assert subscriber.id is not None
    async with ctx.sessions() as session:
        charge = await live_charge(session, subscriber.id, now)
    return charge if charge is not None and charge.canceled_at is None else None


async def mark_canceled(
    ctx: StoreContext, charge: StarsCharge, *, now: datetime | None = None
) -> Reply:
    """Telegram accepted the cancel: the reader's charges say so; access runs to the end."""
    now = now or utcnow()
    async with ctx.sessions() as session, session.begin():
        await session.exec(
            update(StarsCharge)
            .where(
                col(StarsCharge.subscriber_id) == charge.subscriber_id,
                col(StarsCharge.canceled_at).is_(None),
            )
            .values(canceled_at=now)
        )
    until = charge.expires_at.astimezone(ctx.tz).strftime("%Y-%m-%d %H:%M")
    return Reply(f"已取消 Telegram Stars 自动续费；会员有效至 {until}。")


async def renewal_to_restore(
    ctx: StoreContext, subscriber: Subscriber, *, now: datetime | None = None
) -> StarsCharge | None:
    """The charge of a running period whose renewal was cancelled: /subscribe turns renewal
    back on (editUserStarSubscription is_canceled=false) rather than selling a second one."""
    now = now or utcnow()
    assert subscriber.id is not None
    async with ctx.sessions() as session:
        charge = await live_charge(session, subscriber.id, now)
    return charge if charge is not None and charge.canceled_at is not None else None


async def mark_renewing(ctx: StoreContext, charge: StarsCharge) -> Reply:
    """Telegram accepted the restore: the reader's charges renew again."""
    async with ctx.sessions() as session, session.begin():
        await session.exec(
            update(StarsCharge)
            .where(col(StarsCharge.subscriber_id) == charge.subscriber_id)
            .values(canceled_at=None)
        )
    until = charge.expires_at.astimezone(ctx.tz).strftime("%Y-%m-%d %H:%M")
    return Reply(f"已恢复 Telegram Stars 自动续费；当前周期至 {until}，到期自动续费。")


async def charge_to_refund(
    ctx: StoreContext, target: str
) -> tuple[StarsCharge, Subscriber] | Reply:
    """What /refund names: a charge id, or a reader's Telegram id (their newest charge not
    yet refunded); a Reply saying why not otherwise."""
    target = target.strip()
    if not target:
        return Reply(REFUND_USAGE)
    async with ctx.sessions() as session:
        query = select(StarsCharge, Subscriber).join(
            Subscriber, col(Subscriber.id) == col(StarsCharge.subscriber_id)
        )
        if target.lstrip("@").isdigit():
            query = query.where(
                Subscriber.channel == "telegram",
                Subscriber.external_id == target.lstrip("@"),
                col(StarsCharge.refunded_at).is_(None),
            ).order_by(col(StarsCharge.paid_at).desc(), col(StarsCharge.id).desc())
        else:
            query = query.where(StarsCharge.charge_id == target)
        found = (await session.exec(query)).first()
    if found is None:
        return Reply("没有找到这笔 Stars 付款（或它已退款）。")
    charge, reader = found
    if charge.refunded_at is not None:
        return Reply("这笔付款已经退款。")
    return charge, reader


async def end_refunded(
    ctx: StoreContext, charge: StarsCharge, *, now: datetime | None = None
) -> Reply:
    """Telegram refunded the charge: it is marked, and its grant ends now (no expiry notice:
    the reader knows, the refund came with Telegram's own message)."""
    now = now or utcnow()
    async with ctx.sessions() as session, session.begin():
        stored = await session.get(StarsCharge, charge.id)
        assert stored is not None
        stored.refunded_at = now
        session.add(stored)
        grant = await session.get(AccessGrant, stored.grant_id) if stored.grant_id else None
        if grant is not None:
            grant.ends_at = max(grant.starts_at, min(grant.ends_at, now))
            grant.reminded_days = 0
            session.add(grant)
    return Reply(f"已退款 {charge.amount} Stars（{charge.charge_id}），该期访问已结束。")
