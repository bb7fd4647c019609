"""The archive's handlers: /search 词语 and /ask 问题 (digests/archive/); an answer may take
the LLM a while, and PTB handles other updates meanwhile (concurrent_updates)."""

from __future__ import annotations

from telegram import Update

from bot.telegram.context import Context, answer, services, subscriber
from digests.archive import ask, search
from digests.replies import Reply


async def on_search(update: Update, context: Context) -> None:
    words = " ".join(context.args or [])
    if not words.strip():
        await answer(update, context, Reply("用法：/search 词语（如 /search 液冷 或 /search CPO）"))
        return
    reader = await subscriber(update, context)
    ctx = services(context).store_context()
    await answer(update, context, await search.search(ctx, reader, words))


async def on_ask(update: Update, context: Context) -> None:
    question = " ".join(context.args or [])
    reader = await subscriber(update, context)
    await answer(update, context, await ask.ask(services(context).ask_context(), reader, question))
