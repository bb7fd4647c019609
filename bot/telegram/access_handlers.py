"""Redemption codes and revocation on Telegram: /redeem for readers (and a bare code, from
handlers.on_text), and the admin's /codes, /revoke READER and /readers QUERY (the gate in
handlers.py has refused everyone else)."""

from __future__ import annotations

from telegram import Update

from bot.telegram import payments
from bot.telegram.context import Context, answer, command_name, services, subscriber
from digests.readers import code_batches, codes, revocation
from digests.replies import Reply

ACCESS_ADMIN = frozenset({"codes", "revoke", "readers"})


async def on_redeem(update: Update, context: Context) -> None:
    """/redeem CODE."""
    typed = " ".join(context.args or [])
    if not typed:
        await answer(update, context, Reply("用法：/redeem 兑换码"))
        return
    await redeem(update, context, typed)


async def redeem(update: Update, context: Context, typed: str) -> None:
    """Redeem what the reader typed (after /redeem, or a bare code)."""
    reader = await subscriber(update, context)
    reply = await codes.redeem(services(context).store_context(), reader, typed)
    await answer(update, context, reply)


async def on_access_admin(update: Update, context: Context) -> None:
    """/codes, /revoke READER, /readers QUERY (admins)."""
    message = update.effective_message
    assert message is not None and message.text is not None
    command = command_name(message.text)
    rest = " ".join(context.args or [])
    ctx = services(context).store_context()
    if command == "codes":
        reply = await code_batches.list_reply(ctx)
    elif command == "revoke":
        reply = await revocation.revoke_reader(ctx, rest)
        # a revoked reader's Stars subscription must not renew: they would pay for nothing
        async with ctx.sessions() as session:
            found = await revocation.resolve(session, rest) if rest.strip() else []
        if len(found) == 1 and found[0].channel == "telegram":
            cancelled = await payments.cancel_renewal(context, found[0])
            if cancelled is not None:
                reply = Reply(f"{reply.text}\n已取消 ta 的 Telegram Stars 自动续费。")
    else:
        reply = await revocation.find_readers(ctx, rest)
    await answer(update, context, reply)
