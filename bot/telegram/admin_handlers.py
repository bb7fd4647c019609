"""An admin's .md file becomes a post (commands come through the table, handlers.py), and
sending what was just queued (a publication, a broadcast) at once."""

from __future__ import annotations

import logging

import httpx
from telegram import Update
from telegram.error import TelegramError

from bot.telegram import review_handlers as review
from bot.telegram.context import Context, answer, is_admin, services
from bot.telegram.outbox import shared_outbox
from digests import commands
from digests.commands import ChatChannel
from digests.errors import DigestbotError
from digests.ingest.hexo import MAX_POST_BYTES
from digests.outbox.dispatcher import send_queued
from digests.outbox.running import SendLoop
from digests.publishing import drafts
from digests.replies import Reply

log = logging.getLogger(__name__)


async def post_text(update: Update, context: Context, text: str, *, name: str) -> None:
    actx = services(context).admin_context()
    try:
        reply = await drafts.post_and_preview(actx, drafts.admin_draft(text, ctx=actx, name=name))
    except DigestbotError as exc:
        reply = Reply(f"没有保存：{exc}")
    await answer(update, context, await review.offered(update, context, reply))


async def on_document(update: Update, context: Context) -> None:
    """An admin's .md file (caption /post or none) becomes a post with a preview."""
    message = update.effective_message
    assert message is not None and message.document is not None
    document = message.document
    if not is_admin(update, context):
        help_text = commands.help_text(ChatChannel.TELEGRAM)
        await answer(update, context, Reply(help_text))
        return
    if not (document.file_name or "").lower().endswith((".md", ".markdown")):
        await answer(update, context, Reply("只接受 .md 文件。"))
        return
    too_big = Reply("文件超过 2 MB，未保存。")
    if (document.file_size or 0) > MAX_POST_BYTES:
        await answer(update, context, too_big)
        return
    try:
        found = await document.get_file()  # Telegram refuses files over 20 MB here
        data = await download_at_most(services(context).http, found.file_path or "", MAX_POST_BYTES)
    except (TelegramError, httpx.HTTPError) as exc:  # httpx's text has the URL, with the token
        log.warning("could not download an admin's file: %s", type(exc).__name__)
        await answer(update, context, Reply("文件下载失败，请重新发送。"))
        return
    if data is None:
        await answer(update, context, too_big)
        return
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("gb18030", errors="replace")
    await post_text(update, context, text, name=document.file_name or "")


async def download_at_most(http: httpx.AsyncClient, url: str, limit: int) -> bytes | None:
    """A file's bytes, or None as soon as more than `limit` arrive: Telegram may not declare
    a file's size, and a 50 MB upload must not be read whole to find out."""
    body = bytearray()
    async with http.stream("GET", url) as response:
        response.raise_for_status()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > limit:
                return None
    return bytes(body)


async def send_now(context: Context) -> None:
    """Start sending what was just queued, if this process leads (or can: nobody else does);
    otherwise the leader's delivery tick sends it within seconds."""
    s = services(context)
    if not await s.leader.try_acquire():
        return
    sending = context.application.bot_data.get("sending")
    if isinstance(sending, SendLoop):  # the app's one send run (digestbot run)
        counts = await sending.send()
        log.info("sent %s, skipped %s, failed %s", counts.sent, counts.skipped, counts.failed)
        return
    async with shared_outbox(context.application.bot_data, s.settings) as channel:
        counts = await send_queued(s.store_context(), s.kinds, {channel.name: channel})
    log.info("sent %s, skipped %s, failed %s", counts.sent, counts.skipped, counts.failed)
