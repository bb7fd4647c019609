"""Watchlist handlers (digests/watch/): /watch, /unwatch, /watchlist, /stock and its 更多
button. Registered in application.py before the catch-all text handler."""

from __future__ import annotations

from telegram import Update

from bot.telegram.context import Context, answer, services, subscriber
from digests.watch import lists, timeline


def _rest(context: Context) -> str:
    return " ".join(context.args or [])


async def on_watch(update: Update, context: Context) -> None:
    reader = await subscriber(update, context)
    reply = await lists.watch(services(context).store_context(), reader, _rest(context))
    await answer(update, context, reply)


async def on_unwatch(update: Update, context: Context) -> None:
    reader = await subscriber(update, context)
    reply = await lists.unwatch(services(context).store_context(), reader, _rest(context))
    await answer(update, context, reply)


async def on_watchlist(update: Update, context: Context) -> None:
    reader = await subscriber(update, context)
    await answer(update, context, await lists.watchlist(services(context).store_context(), reader))


async def on_stock(update: Update, context: Context) -> None:
    reader = await subscriber(update, context)
    reply = await timeline.timeline(services(context).store_context(), reader, _rest(context))
    await answer(update, context, reply)


async def on_stock_more(update: Update, context: Context) -> None:
    """The 更多 button under a timeline page: the next page."""
    query = update.callback_query
    assert query is not None
    await query.answer()
    offset, name = timeline.more_args(query.data or "")
    reader = await subscriber(update, context)
    ctx = services(context).store_context()
    await answer(update, context, await timeline.timeline(ctx, reader, name, offset=offset))
