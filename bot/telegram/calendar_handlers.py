"""Calendar commands on Telegram: /calendar, /remind, /calendar_reset for subscribers; /events,
/event_add, /event_cancel, the 确认 / 忽略 buttons (evok:ID / evno:ID), and the exchange
closures' /closures, /closure_add, /closure_remove for admins (the gate in handlers.py checks)."""

from __future__ import annotations

from telegram import Update

from bot.telegram.context import Context, answer, command_name, services, subscriber
from digests.calendar import commands
from digests.errors import DigestbotError
from digests.replies import Reply

CALENDAR_ADMIN = {
    "events",
    "event_add",
    "event_cancel",
    "closures",
    "closure_add",
    "closure_remove",
}


async def on_calendar(update: Update, context: Context) -> None:
    s = services(context)
    reader = await subscriber(update, context)
    base = s.settings.public_base_url
    await answer(update, context, await commands.calendar(s.store_context(), reader, base_url=base))


async def on_calendar_reset(update: Update, context: Context) -> None:
    s = services(context)
    reader = await subscriber(update, context)
    reply = await commands.calendar_reset(
        s.store_context(), reader, base_url=s.settings.public_base_url
    )
    await answer(update, context, reply)


async def on_remind(update: Update, context: Context) -> None:
    reader = await subscriber(update, context)
    arg = " ".join(context.args or [])
    await answer(
        update, context, await commands.remind(services(context).store_context(), reader, arg)
    )


async def on_event_admin(update: Update, context: Context) -> None:
    """/events, /event_add …, /event_cancel ID; /closures, /closure_add, /closure_remove."""
    message = update.effective_message
    assert message is not None and message.text is not None
    command = command_name(message.text)
    args = message.text.partition(" ")[2]
    ctx = services(context).store_context()
    by = f"telegram:{update.effective_user.id}" if update.effective_user else "telegram"
    try:
        if command == "events":
            reply = await commands.list_events(ctx)
        elif command == "event_add":
            reply = await commands.add_event(ctx, args)
        elif command == "closures":
            reply = await commands.list_closures(ctx)
        elif command == "closure_add":
            reply = await commands.closure_add(ctx, args, by=by)
        elif command == "closure_remove":
            reply = await commands.closure_remove(ctx, args, by=by)
        else:
            reply = await commands.decide(ctx, args, confirm=False)
    except (ValueError, DigestbotError) as exc:
        reply = Reply(f"没能完成：{exc}")
    await answer(update, context, reply)


async def on_event_button(update: Update, context: Context) -> None:
    """确认 (evok:ID) / 忽略 (evno:ID) under a publish report."""
    query = update.callback_query
    assert query is not None
    await query.answer()
    action, _, value = (query.data or "").partition(":")
    ctx = services(context).store_context()
    try:
        reply = await commands.decide(ctx, value, confirm=action == "evok")
    except (ValueError, DigestbotError) as exc:
        reply = Reply(f"没能完成：{exc}")
    await answer(update, context, reply)
