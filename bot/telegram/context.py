"""What every Telegram handler needs: the services, who is an admin, the chat's subscriber,
and how to answer."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.container import Services
from bot.telegram.sender import NotSentInTime, mark_of, plain, reply_parts, send_reply
from digests import fingerprint
from digests.models import Subscriber
from digests.outbox.enqueue import queue_message
from digests.outbox.types import sent_hash
from digests.readers import account, revocation
from digests.readership import audit
from digests.replies import Reply

log = logging.getLogger(__name__)
Context = ContextTypes.DEFAULT_TYPE


def command_name(text: str) -> str:
    """ "/Event_Add@digest_bot 2026-…" → "event_add" (the bot's name and the case dropped)."""
    return text.split()[0][1:].split("@")[0].lower()


def services(context: Context) -> Services:
    found: Services = context.application.bot_data["services"]
    return found


def is_admin(update: Update, context: Context) -> bool:
    user = update.effective_user
    return user is not None and user.id in services(context).settings.telegram_admin_ids


async def subscriber(update: Update, context: Context) -> Subscriber:
    """The chat's subscriber, registered on first contact."""
    chat = update.effective_chat
    assert chat is not None
    ctx = services(context).store_context()
    async with ctx.sessions() as session:
        found = await account.get_subscriber(session, channel="telegram", external_id=str(chat.id))
    if found is not None:
        if chat.username and chat.username != found.username:  # for /revoke @username
            await revocation.note_username(ctx, found, chat.username)
        return found
    created, _ = await account.register(
        ctx,
        channel="telegram",
        external_id=str(chat.id),
        name=chat.full_name or "",
        username=chat.username or "",
    )
    return created


async def answer(update: Update, context: Context, reply: Reply) -> None:
    """Send a reply to the chat (paced, ahead of the outbox; what cannot go out within a few
    minutes is queued in the outbox instead); delete the user's message when it carried a
    password."""
    chat = update.effective_chat
    assert chat is not None
    key = fingerprint_key(context)
    try:
        await send_reply(context.bot, chat.id, reply, key=key)
    except NotSentInTime as late:
        await keep_for_later(context, chat.id, late)
    else:
        if reply.views:  # a copy of a digest: in the audit record, as it went out
            reader = await subscriber(update, context)
            await audit.record_reply(
                services(context).store_context(),
                subscriber_id=reader.id or 0,
                channel="telegram",
                publication_ids=[shown.publication_id for shown in reply.views],
                content_sha256=sent_hash(reply_parts(reply, mark_of(reply, key, chat.id))),
            )
    if reply.delete_incoming and update.effective_message is not None:
        try:
            await update.effective_message.delete()
        except TelegramError as exc:  # too old, or no right to delete: the reply still stands
            log.info("could not delete a password message: %s", exc)


def fingerprint_key(context: Context) -> bytes:
    """The key of the per-reader marks in digests (derived once per process)."""
    found = context.application.bot_data.get("fingerprint_key")
    if not isinstance(found, bytes):
        material = services(context).settings.fingerprint_material()
        found = context.application.bot_data["fingerprint_key"] = fingerprint.key(material)
    return found


async def keep_for_later(context: Context, chat_id: int, late: NotSentInTime) -> None:
    """A reply Telegram would not take in time becomes outbox rows (one per part not sent,
    as plain text: the buttons are lost), so neither a long flood wait nor a restart loses
    it; the leader's delivery tick sends them."""
    ctx = services(context).store_context()
    async with ctx.sessions() as session:
        reader = await account.get_subscriber(session, channel="telegram", external_id=str(chat_id))
    queued = 0
    if reader is not None and reader.id is not None:
        for part in late.parts:
            queued += await queue_message(ctx, reader.id, plain(part), by="telegram-late-reply")
    if queued:
        log.warning("%s; %d part(s) queued in the outbox", late, queued)
    else:  # no active subscriber behind this chat: nowhere to keep it
        log.warning("%s; dropped (chat %s is no active subscriber)", late, chat_id)
