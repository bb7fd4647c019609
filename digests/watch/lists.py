"""A reader's watchlist: /watch 名称, /unwatch 名称, /watchlist (WeChat 关注, 取消关注, 我的关注).

A name is kept by its key (digests/watch/names.py), so 天孚通信 and ＨＢＭ/hbm are each one
entry. A name no published digest has named yet is kept all the same (the author may name it
tomorrow), with a note saying so.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from digests.models import Subscriber, Watch
from digests.replies import Reply, StoreContext, command
from digests.watch import archive, names

LIMIT = 50  # names per reader
WATCH_USAGE = f"用法：{command('watch', '名称')}（个股或板块，例如 {command('watch', '天孚通信')}）"
UNWATCH_USAGE = f"用法：{command('unwatch', '名称')}"


async def watch(ctx: StoreContext, reader: Subscriber, typed: str) -> Reply:
    """Follow a stock or sector name; at most LIMIT per reader."""
    name = names.clean(typed)
    if not names.key(name):
        return Reply(WATCH_USAGE)
    if len(name) > names.MAX_NAME:
        return Reply(f"名称太长（最多 {names.MAX_NAME} 个字）。")
    k = names.key(name)
    async with ctx.sessions() as session:
        kept = await _watching(session, reader)
        if any(w.key == k for w in kept):
            return Reply(f"已经关注了「{name}」。")
        if len(kept) >= LIMIT:
            return Reply(
                f"最多关注 {LIMIT} 个名称；先用 {command('unwatch', '名称')} 取消不需要的。"
            )
        known = await archive.is_named(session, k)
    try:
        async with ctx.sessions() as session, session.begin():
            session.add(Watch(subscriber_id=reader.id or 0, key=k, name=name))
    except IntegrityError:  # the same name sent twice at once: one row, same answer
        return Reply(f"已经关注了「{name}」。")
    text = f"已关注「{name}」（{len(kept) + 1}/{LIMIT}）。摘要提到它时会标出并提醒你。"
    if not known:
        text += f"\n注意：还没有哪篇摘要提到过「{name}」；以后提到时会提醒你。"
    return Reply(text)


async def unwatch(ctx: StoreContext, reader: Subscriber, typed: str) -> Reply:
    """Stop following a name."""
    name = names.clean(typed)
    if not names.key(name):
        return Reply(UNWATCH_USAGE)
    async with ctx.sessions() as session, session.begin():
        gone = await session.exec(
            delete(Watch).where(
                col(Watch.subscriber_id) == reader.id, col(Watch.key) == names.key(name)
            )
        )
    if not gone.rowcount:
        return Reply(f"你没有关注「{name}」。发送 {command('watchlist')} 查看关注列表。")
    return Reply(f"已取消关注「{name}」。")


async def watchlist(ctx: StoreContext, reader: Subscriber) -> Reply:
    """The reader's names, in the order they were added."""
    async with ctx.sessions() as session:
        kept = await _watching(session, reader)
    if not kept:
        return Reply(f"还没有关注任何名称。发送 {command('watch', '名称')} 关注个股或板块。")
    return Reply(f"你关注的（{len(kept)}/{LIMIT}）：" + "、".join(w.name for w in kept))


async def _watching(session: AsyncSession, reader: Subscriber) -> list[Watch]:
    query = select(Watch).where(Watch.subscriber_id == reader.id)
    return list((await session.exec(query.order_by(col(Watch.id)))).all())
