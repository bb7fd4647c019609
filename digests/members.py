"""Subscriber use cases, the same for every channel: register, unlock, read, settings, stop.

Each returns a Reply that a channel turns into its own messages (Telegram HTML and buttons,
console text, WeChat text). Replies to readers are in Chinese.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from digests import access
from digests.models import (
    AccessGrant,
    AccessPassword,
    Post,
    Publication,
    StoredDigest,
    Subscriber,
    UnlockAttempt,
    utcnow,
)
from digests.summarize.schema import Digest

log = logging.getLogger(__name__)
_AT_ONCE = 4  # unlocks at their database work at once
_GATES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]
_GATES = weakref.WeakKeyDictionary()

WELCOME = ("欢迎订阅投研摘要！\n会员文章的摘要需要本月密码：直接发送密码，或发送 /unlock 密码。\n"
           "公开文章的摘要所有订阅者都会收到。发送 /help 查看全部命令。")  # fmt: skip
HELP = ("/latest 最新摘要\n/digests 最近 10 篇\n/unlock 密码 解锁会员期\n/status 我的会员期与设置\n"
        "/settings 推送方式与提醒\n/calendar 未来 7 天日历\n/remind on|off 事件提醒\n"
        "/stop 退订\n/help 帮助")  # fmt: skip
LOCKED = "《{title}》是会员文章。发送本月密码（或 /unlock 密码）解锁后即可阅读摘要。"


@dataclass
class MemberContext:
    """What the subscriber use cases need."""

    sessions: async_sessionmaker[AsyncSession]
    tz: ZoneInfo

    def period(self, starts_at: datetime, ends_at: datetime) -> str:
        """A period as readers think of it: first and last day, in TIMEZONE."""
        last = (ends_at.astimezone(self.tz) - timedelta(seconds=1)).date()
        return f"{starts_at.astimezone(self.tz).date()} 至 {last}"


@dataclass
class DigestView:
    """A digest ready for a channel to render."""

    digest: Digest
    title: str
    extractive: bool
    publication_id: int


@dataclass
class Reply:
    """What to answer: text, a digest to render, buttons (label, action)."""

    text: str = ""
    digest: DigestView | None = None
    digests: list[DigestView] = field(default_factory=list)  # an edition's, after `digest`

    @property
    def views(self) -> list[DigestView]:
        """Every digest the reply carries, in order."""
        return [self.digest, *self.digests] if self.digest else self.digests

    choices: list[tuple[str, str]] = field(default_factory=list)
    delete_incoming: bool = False  # the incoming message carried a password


async def register(ctx: MemberContext, *, channel: str, external_id: str,
                   name: str = "") -> tuple[Subscriber, Reply]:  # fmt: skip
    """/start: create or reactivate the subscriber and ask for the password."""
    async with ctx.sessions() as session, session.begin():
        subscriber = await get_subscriber(session, channel=channel, external_id=external_id)
        if subscriber is None:
            subscriber = Subscriber(channel=channel, external_id=external_id, name=name)
        subscriber.status, subscriber.awaiting_password = "active", True
        subscriber.gone_reason, subscriber.updated_at = "", utcnow()
        session.add(subscriber)
    return subscriber, Reply(WELCOME)


async def get_subscriber(
    session: AsyncSession, *, channel: str, external_id: str
) -> Subscriber | None:
    """The subscriber for a channel's user id."""
    query = select(Subscriber).where(
        Subscriber.channel == channel, Subscriber.external_id == external_id
    )
    return (await session.exec(query)).first()


async def unlock(
    ctx: MemberContext, subscriber: Subscriber, password: str, *, now: datetime | None = None
) -> Reply:
    """Check a period password; five failures in 15 minutes lock unlocking for 15 minutes.

    The attempt is counted before the password is checked, in one transaction that holds the
    reader's row, so a burst of tries is evaluated five at most. The check (one scrypt) runs
    in a hashing thread, outside any transaction."""
    now = now or utcnow()
    assert subscriber.id is not None
    async with _gate(), ctx.sessions() as session, session.begin():
        attempt, failures, until = await _count_attempt(session, subscriber.id, now)
        if until is not None:
            minutes = int((until - now).total_seconds() // 60) + 1
            text = f"密码错误次数过多，解锁已暂停，请 {minutes} 分钟后再试。"
            return Reply(text, delete_incoming=True)
        order = (col(AccessPassword.starts_at).desc(), col(AccessPassword.id).desc())
        periods = list((await session.exec(select(AccessPassword).order_by(*order))).all())
    hashes = [period.password_hash for period in periods]
    found = await access.off_loop(access.match_password, password.strip(), hashes)
    if found is None:
        log.info("subscriber %s gave a wrong password", subscriber.id)  # never the password
        left = access.LOCKOUT_FAILURES - failures - 1
        hint = f"还可尝试 {left} 次。" if left > 0 else "解锁已暂停 15 分钟。"
        return Reply(f"密码不正确。{hint}", delete_incoming=True)
    match = periods[found.index]
    async with _gate(), ctx.sessions() as session, session.begin():
        await session.exec(update(UnlockAttempt).where(col(UnlockAttempt.id) == attempt)
                           .values(success=True))  # fmt: skip
        if found.rehashed is not None:  # an old per-period salt: now the shared one
            await session.exec(
                update(AccessPassword)
                .where(col(AccessPassword.id) == match.id,
                       col(AccessPassword.password_hash) == match.password_hash)
                .values(password_hash=found.rehashed)
            )  # fmt: skip
        held = await session.exec(
            select(AccessGrant).where(
                AccessGrant.subscriber_id == subscriber.id, AccessGrant.label == match.label
            )
        )
        if held.first() is None:
            session.add(AccessGrant(subscriber_id=subscriber.id, label=match.label,
                                    starts_at=match.starts_at, ends_at=match.ends_at))  # fmt: skip
        stored = await session.get(Subscriber, subscriber.id)
        if stored is not None:
            stored.awaiting_password = False
    period = ctx.period(match.starts_at, match.ends_at)
    return Reply(f"解锁成功：会员期 {match.label}（{period}）。发送 /latest 查看最新摘要。",
                 delete_incoming=True)  # fmt: skip


def _gate() -> asyncio.Semaphore:
    """At most a few unlocks at their database work at once (per event loop): 100 readers at
    once would queue ~500 ms of ORM work ahead of everything else on the loop (/healthz,
    WeChat's 5-second replies); hashing is the bottleneck anyway."""
    loop = asyncio.get_running_loop()
    if loop not in _GATES:
        _GATES[loop] = asyncio.Semaphore(_AT_ONCE)
    return _GATES[loop]


async def _count_attempt(
    session: AsyncSession, subscriber_id: int, now: datetime
) -> tuple[int, int, datetime | None]:
    """Record an attempt as failed until it proves right: (its id, earlier failures in the
    window, None), or (0, failures, when unlocking opens again) if the reader is locked out.

    The UPDATE that changes nothing serialises one reader's attempts until commit: PostgreSQL
    locks the row, and on SQLite a first write takes the database's write lock. Without it,
    30 simultaneous tries each read "fewer than five failures" and 8 of them were evaluated."""
    await session.exec(
        update(Subscriber)
        .where(col(Subscriber.id) == subscriber_id)
        .values(awaiting_password=Subscriber.awaiting_password)
    )
    recent = select(UnlockAttempt.at).where(
        UnlockAttempt.subscriber_id == subscriber_id,
        col(UnlockAttempt.success).is_(False),
        col(UnlockAttempt.at) > now - access.LOCKOUT_WINDOW,
    )
    failures = (await session.exec(recent)).all()
    until = access.locked_until(failures, now)
    if until is not None:
        return 0, len(failures), until
    attempt = UnlockAttempt(subscriber_id=subscriber_id, at=now, success=False)
    session.add(attempt)
    await session.flush()
    assert attempt.id is not None
    return attempt.id, len(failures), None


async def grants_of(session: AsyncSession, subscriber_id: int) -> list[AccessGrant]:
    """Every grant a subscriber holds."""
    query = select(AccessGrant).where(AccessGrant.subscriber_id == subscriber_id)
    return list((await session.exec(query)).all())


async def is_entitled(session: AsyncSession, subscriber: Subscriber, post: Post) -> bool:
    """Entitlement now, from the database: checked again right before every send."""
    if subscriber.status != "active" or subscriber.id is None:
        return False
    grants = await grants_of(session, subscriber.id)
    return access.entitled(gated=post.gated, published_at=post.published_at, grants=grants)


async def view(session: AsyncSession, publication: Publication) -> tuple[Post, DigestView]:
    """A publication's post and digest, ready to render."""
    post = await session.get(Post, publication.post_id)
    stored = await session.get(StoredDigest, publication.digest_id)
    assert post is not None and stored is not None
    digest = Digest.model_validate(stored.data)
    extractive = stored.mode == "extractive"
    return post, DigestView(digest, post.title, extractive, publication.id or 0)


async def open_publication(ctx: MemberContext, subscriber: Subscriber,
                           publication_id: int) -> Reply:  # fmt: skip
    """One published digest, or how to unlock it."""
    async with ctx.sessions() as session:
        publication = await session.get(Publication, publication_id)
        if publication is None:
            return Reply("找不到这篇摘要。")
        post, shown = await view(session, publication)
        if await is_entitled(session, subscriber, post):
            return Reply(digest=shown)
    return Reply(LOCKED.format(title=post.title))


async def latest(ctx: MemberContext, subscriber: Subscriber) -> Reply:
    """/latest: the newest published digest the subscriber may read (or how to unlock it)."""
    rows = await _publications(ctx, limit=1)
    if not rows:
        return Reply("还没有发布的摘要。")
    return await open_publication(ctx, subscriber, rows[0].id or 0)


async def recent(ctx: MemberContext, subscriber: Subscriber) -> Reply:
    """/digests: the last 10 publications as buttons; locked ones marked."""
    rows = await _publications(ctx, limit=10)
    if not rows:
        return Reply("还没有发布的摘要。")
    choices = []
    async with ctx.sessions() as session:
        for publication in rows:
            post, _ = await view(session, publication)
            lock = "" if await is_entitled(session, subscriber, post) else "🔒 "
            day = post.published_at.astimezone(ctx.tz).strftime("%m-%d")
            choices.append((f"{lock}{day} {post.title}"[:60], f"open:{publication.id}"))
    return Reply("最近的摘要：", choices=choices)


async def _publications(ctx: MemberContext, *, limit: int) -> list[Publication]:
    async with ctx.sessions() as session:
        query = select(Publication).order_by(col(Publication.published_at).desc(),
                                             col(Publication.id).desc()).limit(limit)  # fmt: skip
        return list((await session.exec(query)).all())


async def status(ctx: MemberContext, subscriber: Subscriber, *,
                 now: datetime | None = None) -> Reply:  # fmt: skip
    """/status: access periods (current and coming) and settings."""
    now = now or utcnow()
    assert subscriber.id is not None
    async with ctx.sessions() as session:
        grants = [g for g in await grants_of(session, subscriber.id) if g.ends_at > now]
    grants.sort(key=lambda g: g.starts_at)
    lines = [f"会员期 {g.label}：{ctx.period(g.starts_at, g.ends_at)}" for g in grants]
    lines = lines or ["当前没有会员期：公开文章照常推送。"]
    mode = "即时推送" if subscriber.delivery == "instant" else "只收定时合集"
    lines += [f"推送方式：{mode}", f"事件提醒：{'开' if subscriber.reminders else '关'}"]
    return Reply("\n".join(lines))


async def update_settings(ctx: MemberContext, subscriber: Subscriber, *,
                          delivery: str | None = None, reminders: bool | None = None,
                          status: str | None = None) -> Subscriber:  # fmt: skip
    """Change delivery (instant | edition), reminders or status (stopped | gone)."""
    async with ctx.sessions() as session, session.begin():
        stored = await session.get(Subscriber, subscriber.id)
        assert stored is not None
        if delivery is not None:
            stored.delivery = delivery
        if reminders is not None:
            stored.reminders = reminders
        if status is not None:
            stored.status = status
        stored.updated_at = utcnow()
        session.add(stored)
    return stored
