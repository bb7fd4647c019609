"""The admins' commands as use cases of a Call (the router has refused everyone else): posting
and publishing, passwords and codes, readers, the figures, broadcasts, events and closures."""

from __future__ import annotations

import re
from datetime import date

from digests.calendar import commands as calendar_commands
from digests.commands.call import Call, ChatChannel
from digests.errors import DigestbotError, EditedDigest
from digests.ingest.core import ingest
from digests.publishing import broadcasts, drafts
from digests.publishing import publish as publishing
from digests.readers import code_batches, periods, revocation
from digests.readership import report
from digests.replies import OWN_ARGS, Reply, command
from digests.review import edit as review


async def post(call: Call) -> Reply:
    """/post TEXT or /post URL, 投稿 (and an admin's bare message): stored, digested and
    previewed with 发布 / 重新生成 / 丢弃."""
    body = call.rest.strip()
    if re.fullmatch(r"https?://\S+", body):
        outcomes = [o async for o in ingest([body], call.ctx.ingest)]
        failed = next((o for o in outcomes if o.failed), None)
        if failed is not None or not outcomes:
            return Reply(f"没有保存：{failed.detail if failed else 'nothing found'}")
        return await drafts.preview(call.ctx, outcomes[-1].slug)
    try:
        return await drafts.post_and_preview(call.ctx, drafts.admin_draft(body, ctx=call.ctx))
    except DigestbotError as exc:
        return Reply(f"没有保存：{exc}")


async def publish(call: Call) -> Reply:
    """/publish SLUG [--again], 发布, and the preview's 发布 button; sending starts at once. A
    digest edited or regenerated since it went out goes again to the readers without its
    current text (a fix is never answered 已发布 and left unsent)."""
    slug, again = publishing.publish_args(call.rest)
    if not slug:
        return Reply(f"用法：{command('publish', OWN_ARGS)}")
    again = again or await review.is_unsent_fix(call.ctx.digests, slug)
    reply = await publishing.publish_post(call.ctx, slug, by=call.by, again=again)
    await call.hooks.queued()
    return reply


async def regenerate(call: Call) -> Reply:
    """重新生成; of a digest an admin edited, a question first (仍然重新生成)."""
    slug = call.rest.strip()
    try:
        return await drafts.preview(call.ctx, slug, refresh=True)
    except EditedDigest as edited:
        return Reply(
            f"这份摘要有管理员的修改（第 {edited.revision} 版，{edited.author or '管理员'}）。"
            "重新生成会替换它（修改仍留在版本记录里）。要重新生成吗？",
            choices=[("仍然重新生成", f"regen_edit:{slug}")],
        )


async def regenerate_edited(call: Call) -> Reply:
    """仍然重新生成: the model's new text replaces the edit (kept as a revision)."""
    return await drafts.preview(call.ctx, call.rest.strip(), refresh=True, replace_edit=True)


async def edit(call: Call) -> Reply:
    """编辑 (Telegram): the digest as compact text, to be changed and sent back as a reply.
    WeChat cannot reply to one message: its 编辑 points to the review page (the channel adds
    the admin's link)."""
    if call.channel is ChatChannel.WECHAT:
        return Reply(f"在审阅页修改 {call.rest.strip()} 的摘要：逐条对照原文，保存后可发布。")
    try:
        return Reply(await review.as_text(call.ctx.digests, call.rest.strip()))
    except DigestbotError as exc:
        return Reply(str(exc))


async def discard(call: Call) -> Reply:
    return await drafts.discard(call.ctx, call.rest.strip())


async def passwords(call: Call) -> Reply:
    return await periods.list_passwords(call.store)


async def password_add(call: Call) -> Reply:
    """/password_add 密码 开始 结束 [标签]. The message carries a password as soon as it has an
    argument, so it is deleted whatever the answer; the answer never repeats an argument (one
    typed in the wrong place may be the password)."""
    args = call.rest.split()
    usage = f"用法：{command('password_add', OWN_ARGS)}"
    try:
        if len(args) < 3:
            raise ValueError(usage)
        first, last = _day(args[1], "开始日期", usage), _day(args[2], "结束日期", usage)
        reply = await periods.add_password(call.store, args[0], first, last, " ".join(args[3:]))
    except ValueError as exc:
        reply = Reply(str(exc))
    reply.delete_incoming = bool(args)
    return reply


def _day(text: str, name: str, usage: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        why = "不存在" if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else "应写作 YYYY-MM-DD"
        raise ValueError(f"没有添加：{name}{why}。{usage}") from None


async def password_remove(call: Call) -> Reply:
    return await periods.remove_password(call.store, call.rest.strip())


async def subscribers(call: Call) -> Reply:
    return await report.subscriber_counts(call.store)


async def stats(call: Call) -> Reply:
    """/stats, 统计: the figures and the readership chart (an image on every channel that
    shows one)."""
    return await report.stats(call.store, call.ctx.digests)


async def broadcast(call: Call) -> Reply:
    """/broadcast TEXT, 广播: stored, sent only after 确认发送."""
    return await broadcasts.prepare_broadcast(call.ctx, call.rest, by=call.by)


async def confirm_broadcast(call: Call) -> Reply:
    number = call.rest.strip().lstrip("#")
    if not number.isdigit():
        return Reply("这条广播已经发送过或不存在。")
    reply = await broadcasts.confirm_broadcast(call.ctx, int(number))
    await call.hooks.queued()
    return reply


async def codes(call: Call) -> Reply:
    return await code_batches.list_reply(call.store)


async def revoke(call: Call) -> Reply:
    """/revoke READER, 收回: access ends now (a Telegram Stars renewal with it: they would pay
    for nothing)."""
    reply = await revocation.revoke_reader(call.store, call.rest)
    async with call.store.sessions() as session:
        found = await revocation.resolve(session, call.rest) if call.rest.strip() else []
    if len(found) == 1 and await call.hooks.access_ended(found[0]):
        reply = Reply(f"{reply.text}\n已取消 ta 的 Telegram Stars 自动续费。")
    return reply


async def readers(call: Call) -> Reply:
    return await revocation.find_readers(call.store, call.rest)


async def events(call: Call) -> Reply:
    return await calendar_commands.list_events(call.store)


async def event_add(call: Call) -> Reply:
    return await calendar_commands.add_event(call.store, call.rest)


async def event_cancel(call: Call) -> Reply:
    return await calendar_commands.decide(call.store, call.rest, confirm=False)


async def event_confirm(call: Call) -> Reply:
    """确认 under a publish report (evok:ID)."""
    return await calendar_commands.decide(call.store, call.rest, confirm=True)


async def closures(call: Call) -> Reply:
    return await calendar_commands.list_closures(call.store)


async def closure_add(call: Call) -> Reply:
    return await calendar_commands.closure_add(call.store, call.rest, by=call.by)


async def closure_remove(call: Call) -> Reply:
    return await calendar_commands.closure_remove(call.store, call.rest, by=call.by)
