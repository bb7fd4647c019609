"""Admin handlers (the gate in handlers.py has refused everyone else) and inline buttons."""

from __future__ import annotations

import logging
import re
from datetime import date

import httpx
from telegram import Update
from telegram.error import TelegramError

from bot.telegram.context import Context, answer, command_name, is_admin, services, subscriber
from bot.telegram.outbox import shared_outbox
from digests.errors import DigestbotError
from digests.ingest.core import ingest
from digests.ingest.hexo import MAX_POST_BYTES
from digests.outbox.dispatcher import send_queued
from digests.outbox.running import SendLoop
from digests.publishing import broadcasts, drafts, publish
from digests.publishing.context import AdminContext
from digests.readers import account, periods, reading
from digests.readership import actions, report
from digests.replies import Reply

log = logging.getLogger(__name__)
PASSWORD_ADD_USAGE = "用法：/password_add 密码 YYYY-MM-DD YYYY-MM-DD [标签]"


async def post_text(update: Update, context: Context, text: str, *, name: str) -> None:
    actx = services(context).admin_context()
    try:
        reply = await drafts.post_and_preview(actx, drafts.admin_draft(text, ctx=actx, name=name))
    except DigestbotError as exc:
        reply = Reply(f"没有保存：{exc}")
    await answer(update, context, reply)


async def on_post(update: Update, context: Context) -> None:
    """/post TEXT or /post URL (admins)."""
    message = update.effective_message
    assert message is not None and message.text is not None
    body = message.text.partition(" ")[2].strip()
    if re.fullmatch(r"https?://\S+", body):
        s = services(context)
        outcomes = [o async for o in ingest([body], s.ingest_context())]
        failed = next((o for o in outcomes if o.failed), None)
        if failed is not None or not outcomes:
            reason = failed.detail if failed else "nothing found"
            await answer(update, context, Reply(f"没有保存：{reason}"))
            return
        await answer(update, context, await drafts.preview(s.admin_context(), outcomes[-1].slug))
    elif body:
        await post_text(update, context, body, name="")
    else:
        await answer(update, context, Reply("用法：/post 文本，或 /post 网址，或直接发送 .md 文件"))


async def on_document(update: Update, context: Context) -> None:
    """An admin's .md file (caption /post or none) becomes a post with a preview."""
    message = update.effective_message
    assert message is not None and message.document is not None
    document = message.document
    if not is_admin(update, context):
        await answer(update, context, Reply(account.HELP))
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


async def on_publish(update: Update, context: Context) -> None:
    """/publish SLUG [--again]."""
    slug, again = publish.publish_args(" ".join(context.args or []))
    if not slug:
        await answer(update, context, Reply(publish.PUBLISH_USAGE))
        return
    await publish_and_send(update, context, slug, again=again)


async def publish_and_send(
    update: Update, context: Context, slug: str, *, again: bool = False
) -> None:
    """Publish (a repeat only answers 已发布, unless `again`) and start sending."""
    user = update.effective_user
    by = f"telegram:{user.id}" if user else "telegram"
    actx = services(context).admin_context()
    await answer(update, context, await publish.publish_post(actx, slug, by=by, again=again))
    context.application.create_task(send_now(context), name=f"send {slug}")


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


async def on_admin_command(update: Update, context: Context) -> None:
    """/passwords, /password_add, /password_remove, /subscribers, /stats, /broadcast."""
    message = update.effective_message
    assert message is not None and message.text is not None
    command = command_name(message.text)
    args = context.args or []
    actx = services(context).admin_context()
    try:
        if command == "passwords":
            reply = await periods.list_passwords(actx.store)
        elif command == "password_add":
            reply = await password_add(actx, args)
        elif command == "password_remove":
            reply = await periods.remove_password(actx.store, " ".join(args))
        elif command == "subscribers":
            reply = await report.subscriber_counts(actx.store)
        elif command == "stats":
            reply = await report.stats(actx.store, actx.digests)
        else:  # broadcast: stored, sent only after the confirm button
            text = message.text.partition(" ")[2]
            user = update.effective_user
            by = f"telegram:{user.id}" if user else "telegram"
            reply = await broadcasts.prepare_broadcast(actx, text, by=by)
    except (ValueError, DigestbotError) as exc:
        reply = Reply(str(exc))
    await answer(update, context, reply)


async def password_add(actx: AdminContext, args: list[str]) -> Reply:
    """/password_add 密码 开始 结束 [标签]. The message carries a password as soon as it has an
    argument, so it is deleted whatever the answer; the answer never repeats an argument (one
    typed in the wrong place may be the password)."""
    try:
        if len(args) < 3:
            raise ValueError(PASSWORD_ADD_USAGE)
        first, last = _day(args[1], "开始日期"), _day(args[2], "结束日期")
        reply = await periods.add_password(actx.store, args[0], first, last, " ".join(args[3:]))
    except ValueError as exc:
        reply = Reply(str(exc))
    reply.delete_incoming = bool(args)
    return reply


def _day(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        why = "不存在" if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else "应写作 YYYY-MM-DD"
        raise ValueError(f"没有添加：{name}{why}。{PASSWORD_ADD_USAGE}") from None


async def on_button(update: Update, context: Context) -> None:
    """Inline buttons: open:ID, set:…, and the admin's publish/regen/discard/bcast."""
    query = update.callback_query
    assert query is not None
    await query.answer()
    action, _, value = (query.data or "").partition(":")
    s = services(context)
    if action == "open":
        reader = await subscriber(update, context)
        assert reader.id is not None
        await actions.record(  # the readership's button taps
            s.store_context(), subscriber_id=reader.id, publication_id=int(value), kind=actions.TAP
        )
        reply = await reading.open_publication(s.store_context(), reader, int(value))
    elif action == "set":
        reader = await subscriber(update, context)
        await account.update_settings(
            s.store_context(),
            reader,
            delivery=value if value in ("instant", "edition") else None,
            reminders={"remind-on": True, "remind-off": False}.get(value),
        )
        reply = Reply("设置已更新。")
    elif action == "publish":
        await publish_and_send(update, context, value)
        return
    elif action == "regen":
        reply = await drafts.preview(s.admin_context(), value, refresh=True)
    elif action == "discard":
        reply = await drafts.discard(s.admin_context(), value)
    elif action == "bcast":
        reply = await broadcasts.confirm_broadcast(s.admin_context(), int(value))
        context.application.create_task(send_now(context))
    else:
        return
    await answer(update, context, reply)
