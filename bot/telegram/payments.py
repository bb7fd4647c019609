"""Telegram Stars subscriptions (STARS_MONTHLY_PRICE): /subscribe, the pre-checkout answer, the
successful payment, /unsubscribe (and /stop) cancelling renewal, and the admin's /refund. The
rules are in digests/readers/stars.py and stars_manage.py; this module makes the Bot API calls.

Subscriptions exist only as invoice links: sendInvoice has no subscription_period, so
/subscribe answers with a createInvoiceLink link. Renewals arrive as successful_payment
messages without a pre-checkout query.
"""

from __future__ import annotations

import asyncio
import logging

from telegram import LabeledPrice, Update
from telegram.error import TelegramError

from bot.telegram.context import Context, answer, services, subscriber
from digests.models import StarsCharge, Subscriber
from digests.readers import stars, stars_manage
from digests.replies import Reply
from digests.settings import Settings

log = logging.getLogger(__name__)
# Telegram gives the bot 10 s to answer a pre-checkout query; a slower store refuses instead
# of letting the reader's payment time out.
CHECKOUT_WITHIN = 8.0
OFF = "本机器人暂未开通 Telegram Stars 订阅。"
BUSY = "暂时无法处理付款，请稍后再试。"


def menu(settings: Settings) -> list[tuple[str, str]]:
    """The menu entries, when Stars subscriptions are on."""
    if settings.stars_monthly_price is None:
        return []
    return [("subscribe", "Telegram Stars 订阅"), ("unsubscribe", "取消 Stars 自动续费")]


def help_lines(settings: Settings) -> str:
    """Lines added to /help on Telegram when Stars subscriptions are on."""
    if settings.stars_monthly_price is None:
        return ""
    price = settings.stars_monthly_price
    return f"\n/subscribe Telegram Stars 订阅（{price} Stars / 30 天）\n/unsubscribe 取消自动续费"


async def on_subscribe(update: Update, context: Context) -> None:
    """/subscribe: an invoice link for 30 days, renewed monthly, in Stars."""
    s = services(context)
    price = s.settings.stars_monthly_price
    if price is None:
        await answer(update, context, Reply(OFF))
        return
    reader = await subscriber(update, context)
    if reader.status != "active":
        await answer(update, context, Reply("你已退订，请先发送 /start 重新订阅。"))
        return
    instead = await stars.before_invoice(s.store_context(), reader)
    if instead is None:
        instead = await restore_renewal(context, reader)
    if instead is not None:
        await answer(update, context, instead)
        return
    assert reader.id is not None
    plan = stars.StarsPlan(reader.id, price)
    try:
        link = await context.bot.create_invoice_link(
            title=stars.TITLE,
            description=stars.DESCRIPTION,
            payload=plan.payload,
            provider_token="",  # Stars need none
            currency=stars.CURRENCY,
            prices=[LabeledPrice("30 天会员", price)],
            subscription_period=stars.PERIOD,
        )
    except TelegramError as exc:
        log.warning("createInvoiceLink refused: %s", exc)
        await answer(update, context, Reply("暂时无法生成账单，请稍后再试。"))
        return
    text = f"Telegram Stars 会员：{price} Stars / 30 天，到期自动续费。点击链接付款：\n{link}"
    await answer(update, context, Reply(text))


async def restore_renewal(context: Context, reader: Subscriber) -> Reply | None:
    """Renewal turned back on for a period the reader cancelled, or None (no such period, or
    Telegram refused: a new invoice then)."""
    ctx = services(context).store_context()
    charge = await stars_manage.renewal_to_restore(ctx, reader)
    if charge is None or not await _set_renewal(context, reader, charge, canceled=False):
        return None
    return await stars_manage.mark_renewing(ctx, charge)


async def on_pre_checkout(update: Update, context: Context) -> None:
    """Answer within Telegram's 10 s: yes, or the sentence the reader sees."""
    query = update.pre_checkout_query
    assert query is not None
    try:
        reason = await asyncio.wait_for(
            stars.refuse_checkout(
                services(context).store_context(),
                user_id=query.from_user.id,
                payload=query.invoice_payload,
                currency=query.currency,
                amount=query.total_amount,
            ),
            CHECKOUT_WITHIN,
        )
    except TimeoutError:
        log.warning("pre-checkout %s: the store was too slow; refused", query.id)
        reason = BUSY
    except Exception:  # the reader hears no, not a timeout; on_error logs the cause
        await query.answer(ok=False, error_message=BUSY)
        raise
    if reason is None:
        await query.answer(ok=True)
    else:
        await query.answer(ok=False, error_message=reason)


async def on_successful_payment(update: Update, context: Context) -> None:
    """A first payment or a renewal: the charge stored, access granted or extended."""
    message = update.effective_message
    assert message is not None and message.successful_payment is not None
    paid = message.successful_payment
    reader = await subscriber(update, context)
    payment = stars.Payment(
        charge_id=paid.telegram_payment_charge_id,
        provider_charge_id=paid.provider_payment_charge_id or "",
        payload=paid.invoice_payload,
        currency=paid.currency,
        amount=paid.total_amount,
        paid_at=message.date,
        expires_at=paid.subscription_expiration_date,
        recurring=bool(paid.is_recurring),
        first_recurring=bool(paid.is_first_recurring),
    )
    await answer(
        update,
        context,
        await stars.record_payment(services(context).store_context(), reader, payment),
    )


async def cancel_renewal(context: Context, reader: Subscriber) -> Reply | None:
    """Cancel the reader's Stars renewal at Telegram (editUserStarSubscription), if one is
    running; None when there is none."""
    ctx = services(context).store_context()
    charge = await stars_manage.renewal_to_cancel(ctx, reader)
    if charge is None:
        return None
    if not await _set_renewal(context, reader, charge, canceled=True):
        return Reply("取消 Telegram Stars 自动续费失败，请稍后再试。")
    return await stars_manage.mark_canceled(ctx, charge)


async def _set_renewal(
    context: Context, reader: Subscriber, charge: StarsCharge, *, canceled: bool
) -> bool:
    """editUserStarSubscription; False (logged) when Telegram refuses."""
    try:
        await context.bot.edit_user_star_subscription(
            user_id=int(reader.external_id),
            telegram_payment_charge_id=charge.charge_id,
            is_canceled=canceled,
        )
    except TelegramError as exc:
        log.warning(
            "editUserStarSubscription(is_canceled=%s) refused for %s: %s",
            canceled,
            charge.charge_id,
            exc,
        )
        return False
    return True


async def on_unsubscribe(update: Update, context: Context) -> None:
    """/unsubscribe: renewal cancelled; access runs to the end of the period paid for."""
    reader = await subscriber(update, context)
    done = await cancel_renewal(context, reader)
    await answer(update, context, done or Reply("你没有正在自动续费的 Telegram Stars 订阅。"))


async def on_refund(update: Update, context: Context) -> None:
    """/refund READER|CHARGE_ID (admins): refundStarPayment, then that charge's grant ends."""
    ctx = services(context).store_context()
    found = await stars_manage.charge_to_refund(ctx, " ".join(context.args or []))
    if isinstance(found, Reply):
        await answer(update, context, found)
        return
    charge, reader = found
    try:
        await context.bot.refund_star_payment(
            user_id=int(reader.external_id), telegram_payment_charge_id=charge.charge_id
        )
    except TelegramError as exc:
        log.warning("refundStarPayment refused for charge %s: %s", charge.charge_id, exc)
        await answer(update, context, Reply(f"退款失败：{exc.message}"))
        return
    await answer(update, context, await stars_manage.end_refunded(ctx, charge))
