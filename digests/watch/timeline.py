"""A name's timeline: /stock 名称 (WeChat 个股 名称): every published digest that named it,
newest first: date, title, the section it sits in, and the points that mention it. A post the
reader may not read shows as 🔒 with its date and title only. PAGE entries at a time; the
next page is a button (Telegram, console) or, on WeChat, the words 个股 名称 页码.
"""

from __future__ import annotations

from datetime import datetime

from digests.models import Publication, Subscriber
from digests.readers import access
from digests.readers.passwords import grants_of
from digests.replies import Reply, StoreContext, command, view
from digests.summarize.schema import Digest
from digests.watch import archive, names

PAGE = 10
USAGE = f"用法：{command('stock', '名称')}（例如 {command('stock', '天孚通信')}）"
ACTION = "stock:"  # the 更多 button's data: stock:名称 页码 (Telegram allows 64 bytes)


async def timeline(
    ctx: StoreContext,
    reader: Subscriber,
    typed: str,
    *,
    offset: int = 0,
) -> Reply:
    """One page of the name's timeline, with a 更多 button when more remain."""
    name = names.clean(typed)
    k = names.key(name)
    if not k:
        return Reply(USAGE)
    async with ctx.sessions() as session:
        entries = await archive.naming(session, k)
        page = entries[offset : offset + PAGE]
        shown: dict[int, Digest] = {}
        released: dict[int, datetime] = {}  # a Stars or code grant covers what it published
        for entry in page:  # as the DIGEST_POLICY in force allows (view() re-applies it)
            publication = await session.get(Publication, entry.publication_id)
            if publication is not None:
                shown[entry.publication_id] = (await view(session, publication, ctx))[1].digest
                released[entry.publication_id] = publication.published_at
        grants = await grants_of(session, reader.id or 0) if reader.status == "active" else []
    if not entries:
        return Reply(f"还没有哪篇摘要提到过「{name}」。")
    if not page:
        return Reply(f"「{name}」没有更多记录了。")
    lines = [
        f"「{name}」出现在 {len(entries)} 篇摘要中（第 {offset + 1}–{offset + len(page)} 篇）："
    ]
    for entry in page:
        day = entry.published_at.astimezone(ctx.tz).strftime("%Y-%m-%d")
        if not access.entitled(
            gated=entry.gated,
            published_at=entry.published_at,
            grants=grants,
            released_at=released.get(entry.publication_id),
        ):
            lines.append(f"\n🔒 {day}《{entry.title}》")
            continue
        found = (
            names.named(shown[entry.publication_id]).get(k)
            if entry.publication_id in shown
            else None
        )
        sections = "、".join(found.sections) if found else ""
        lines.append(f"\n{day}《{entry.title}》· {sections}")
        lines += [f"• {point}" for point in (found.points if found else [])[: names.MAX_POINTS]]
    reply = Reply("\n".join(lines))
    rest = len(entries) - offset - len(page)
    if rest > 0:
        number = (offset + len(page)) // PAGE + 1
        if len(f"{ACTION}{name} {number}".encode()) <= 64:  # Telegram's callback_data limit
            action = f"{ACTION}{name} {number}"
        else:  # a name too long for a page number: the offset form keeps the name's start
            action = f"{ACTION}{offset + PAGE}:{name}"
            while len(action.encode()) > 64:
                action = action[:-1]
        reply.choices = [(f"更多（还有 {rest} 篇）", action)]
    return reply


def page_args(rest: str) -> tuple[str, int]:
    """`名称 2` → (名称, 2); a name alone is page 1."""
    name, _, last = rest.strip().rpartition(" ")
    if name and last.isdigit() and int(last) >= 1:
        return name, int(last)
    return rest.strip(), 1


def more_args(data: str) -> tuple[int, str]:
    """A 更多 button's data → (offset, name)."""
    offset, _, name = data.removeprefix(ACTION).partition(":")
    return int(offset), name
