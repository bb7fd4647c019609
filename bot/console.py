"""The console channel: a local subscriber (or admin) talking to the same use cases as Telegram,
for `digestbot chat` and the offline `make demo`. Command words are Telegram's."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from digests import replies
from digests.archive import ask, search
from digests.errors import DigestbotError
from digests.models import Subscriber
from digests.outbox.types import Reader, SendResult, sent_hash
from digests.publishing import drafts, publish
from digests.publishing.context import AdminContext
from digests.readers import account, code_batches, codes, passwords, periods, reading, revocation
from digests.readership import report
from digests.render import plain_text
from digests.replies import Reply
from digests.watch import lists, timeline

ADMIN_HELP = (
    "管理员：/post 文本 · /publish SLUG [--again] · /passwords"
    " · /password_add 密码 开始 结束 [标签] · /password_remove 标签 · /subscribers · /stats"
    " · /codes · /revoke 读者 · /readers 查询"
)


def post_line(row: dict[str, Any]) -> str:
    """One post of `digestbot posts` / the demo: local time, gated mark, slug, title."""
    lock = "[gated]" if row["gated"] else "       "
    when = row["published_at"][:16].replace("T", " ")
    return f"{when}  {lock}  {row['slug']}  {row['title']}"


def show(reply: Reply) -> str:
    """A reply as console text: its text, its digest, its buttons as numbered actions."""
    parts = [t for t in (reply.lead, reply.text) if t]
    for shown in reply.views:
        parts.append(
            plain_text(
                shown.digest,
                title=shown.title,
                extractive=shown.extractive,
                disclaimer=shown.disclaimer,
            )
        )
    parts += [f"  [{action}] {label}" for label, action in reply.choices]
    if reply.image is not None:  # a terminal shows no picture: say it is there
        parts.append(f"  [图表 PNG，{len(reply.image)} 字节]")
    return "\n".join(parts)


@dataclass
class ConsoleChannel:
    """Collects what each console subscriber receives (the Channel protocol)."""

    name: str = "console"
    inbox: dict[str, list[str]] = field(default_factory=dict)

    async def send(self, subscriber: Reader, reply: Reply) -> SendResult:
        text = show(reply)
        self.inbox.setdefault(subscriber.external_id, []).append(text)
        return SendResult("ok", content_sha256=sent_hash([text]))  # the audit: what went out


async def handle(
    ctx: AdminContext, subscriber: Subscriber, line: str, *, is_admin: bool, ask_limit: int = 20
) -> Reply:
    """One line typed by a console user → the use case's reply."""
    words = line.strip().split(maxsplit=1)
    if not words:
        return Reply(account.HELP)
    command, rest = words[0].lower(), (words[1] if len(words) > 1 else "")
    m = ctx.store
    try:
        if command == "/redeem" or codes.looks_like_code(line):
            return await codes.redeem(m, subscriber, rest if command == "/redeem" else line)
        if command == "/unlock" or (not command.startswith("/") and subscriber.awaiting_password):
            return await passwords.unlock(m, subscriber, rest if command == "/unlock" else line)
        if command == "/latest":
            return await reading.latest(m, subscriber)
        if command == "/digests":
            return await reading.recent(m, subscriber)
        if command == "/ask":
            archive = ask.AskContext(m, ctx.digests.llm, ask_limit)
            return await ask.ask(archive, subscriber, rest)
        if command == "/search":
            return await search.search(m, subscriber, rest)
        if command == "/open":
            return await reading.open_publication(m, subscriber, int(rest.removeprefix("open:")))
        if command == "/status":
            return await account.status(m, subscriber)
        if command == "/stop":
            await account.update_settings(m, subscriber, status="stopped")
            return Reply("已退订。发送 /start 可重新订阅。")
        if command == "/settings":
            return await _settings(m, subscriber, rest)
        if command in ("/watch", "/unwatch", "/watchlist", "/stock"):
            return await _watch(m, subscriber, command, rest)
        if is_admin and command.startswith("/"):
            return await _admin(ctx, command, rest)
    except (DigestbotError, ValueError) as exc:
        return Reply(f"没能完成：{exc}")
    return Reply(account.HELP + ("\n" + ADMIN_HELP if is_admin else ""))


async def _settings(m: replies.StoreContext, subscriber: Subscriber, rest: str) -> Reply:
    choice = rest.strip()
    if choice in ("instant", "edition"):
        await account.update_settings(m, subscriber, delivery=choice)
    elif choice in ("remind on", "remind off"):
        await account.update_settings(m, subscriber, reminders=choice.endswith("on"))
    else:
        return Reply("/settings instant（即时推送）| edition（只收合集）| remind on | remind off")
    return Reply("设置已更新。")


async def _watch(m: replies.StoreContext, subscriber: Subscriber, command: str, rest: str) -> Reply:
    if command == "/watch":
        return await lists.watch(m, subscriber, rest)
    if command == "/unwatch":
        return await lists.unwatch(m, subscriber, rest)
    if command == "/watchlist":
        return await lists.watchlist(m, subscriber)
    if rest.startswith(timeline.ACTION):  # the 更多 action, typed back
        offset, name = timeline.more_args(rest)
        return await timeline.timeline(m, subscriber, name, offset=offset)
    return await timeline.timeline(m, subscriber, rest)


async def _admin(ctx: AdminContext, command: str, rest: str) -> Reply:
    if command == "/post":
        return await drafts.post_and_preview(ctx, drafts.admin_draft(rest, ctx=ctx))
    if command == "/publish":
        slug, again = publish.publish_args(rest)
        return await publish.publish_post(ctx, slug, by="console", again=again)
    if command == "/passwords":
        return await periods.list_passwords(ctx.store)
    if command == "/password_add":
        password, start, end, *label = shlex.split(rest)
        first, last = date.fromisoformat(start), date.fromisoformat(end)
        return await periods.add_password(
            ctx.store, password, first, last, label[0] if label else ""
        )
    if command == "/password_remove":
        return await periods.remove_password(ctx.store, rest.strip())
    if command == "/subscribers":
        return await report.subscriber_counts(ctx.store)
    if command == "/stats":
        return await report.stats(ctx.store, ctx.digests)
    if command == "/codes":
        return await code_batches.list_reply(ctx.store)
    if command == "/revoke":
        return await revocation.revoke_reader(ctx.store, rest)
    if command == "/readers":
        return await revocation.find_readers(ctx.store, rest)
    return Reply(ADMIN_HELP)
