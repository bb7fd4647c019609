"""Admin use cases: access passwords, posting with review, publishing, counts and stats.
Channels check that the caller is an admin before calling any of these."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from digests.calendar import commands, events
from digests.errors import DigestbotError, RejectedInput
from digests.ingest.core import IngestContext, save_draft
from digests.ingest.draft import Draft
from digests.ingest.hexo import parse_post
from digests.models import (
    AccessGrant,
    AccessPassword,
    Broadcast,
    Post,
    Subscriber,
    utcnow,
)
from digests.outbox.enqueue import Published, publish, queue_broadcast
from digests.outbox.progress import delivery_counts, progress_of
from digests.outbox.types import Status
from digests.readers import access, shapes
from digests.readers.entitlement import grant_holders
from digests.readership.report import readership_reply
from digests.replies import OWN_ARGS, DigestView, Reply, StoreContext, command
from digests.summarize import digesting
from digests.summarize.digesting import DigestContext
from digests.summarize.schema import Digest
from digests.watch import popular
from digests.watch import publishing as watch_publishing


@dataclass
class AdminContext:
    """Everything the admin use cases reach."""

    store: StoreContext
    digests: DigestContext
    ingest: IngestContext


async def add_password(
    ctx: AdminContext, password: str, valid_from: date, valid_until: date, label: str = ""
) -> Reply:
    """/password_add: store a period's password as a scrypt hash under the shared salt (see
    digests/readers/access.py); a reversed or out-of-range period is refused with a sentence."""
    try:
        starts, ends = access.period_bounds(valid_from, valid_until, ctx.store.tz)
    except ValueError as exc:
        return Reply(f"没有添加：{exc}")
    label = label or f"{valid_from:%Y-%m}"
    async with ctx.store.sessions() as session:
        order = (col(AccessPassword.starts_at).desc(), col(AccessPassword.id).desc())
        stored = (await session.exec(select(AccessPassword.password_hash).order_by(*order))).all()
    hashed = await access.off_loop(access.hash_password, password, list(stored))
    try:
        async with ctx.store.sessions() as session, session.begin():
            session.add(
                AccessPassword(
                    label=label,
                    password_hash=hashed,
                    shape=shapes.shape(password),
                    starts_at=starts,
                    ends_at=ends,
                )
            )
    except IntegrityError:
        return Reply(f"会员期 {label} 已存在；先 {command('password_remove', label)}。")
    return Reply(f"已添加会员期 {label}（{ctx.store.period(starts, ends)}）。")


async def remove_password(ctx: AdminContext, label: str) -> Reply:
    """/password_remove: no new unlocks with it; grants already given stay."""
    async with ctx.store.sessions() as session, session.begin():
        found = (
            await session.exec(select(AccessPassword).where(AccessPassword.label == label))
        ).first()
        if found is None:
            return Reply(f"没有会员期 {label}。")
        await session.delete(found)
    return Reply(f"已删除会员期 {label} 的密码；已解锁的订阅者保留该会员期。")


async def list_passwords(ctx: AdminContext) -> Reply:
    """/passwords: periods and how many hold each; never the passwords."""
    async with ctx.store.sessions() as session:
        periods = (
            await session.exec(select(AccessPassword).order_by(col(AccessPassword.starts_at)))
        ).all()
        holders = dict(
            (
                await session.exec(
                    select(AccessGrant.label, func.count()).group_by(AccessGrant.label)
                )
            ).all()
        )
    period = ctx.store.period
    lines = [
        f"{p.label}：{period(p.starts_at, p.ends_at)}，已解锁 {holders.get(p.label, 0)} 人"
        for p in periods
    ]
    return Reply(
        "\n".join(lines) or f"还没有会员期密码；用 {command('password_add', OWN_ARGS)} 添加。"
    )


async def subscriber_counts(ctx: AdminContext, *, now: datetime | None = None) -> Reply:
    """/subscribers: by status, and how many hold a current grant."""
    now = now or utcnow()
    async with ctx.store.sessions() as session:
        by_status = dict(
            (
                await session.exec(
                    select(Subscriber.status, func.count()).group_by(Subscriber.status)
                )
            ).all()
        )
        holders = grant_holders(now).distinct().subquery()
        current = (await session.exec(select(func.count()).select_from(holders))).one()
    return Reply(
        f"订阅者：活跃 {by_status.get('active', 0)}，退订 {by_status.get('stopped', 0)}，"
        f"失联 {by_status.get('gone', 0)}；当前会员 {current} 人。"
    )


async def stats(ctx: AdminContext, *, now: datetime | None = None) -> Reply:
    """/stats: deliveries, failures and LLM usage (cumulative, failed runs included), the
    most-watched names, then the readership (digests/readership/) with its 12-week chart."""
    readers = await readership_reply(ctx.store, now=now)
    counts = await delivery_counts(ctx.store)
    costs = await digesting.llm_costs(ctx.digests)
    dearest = "；".join(
        f"{slug} {calls} 次/{tokens:,} token" for slug, calls, tokens in costs.posts
    )
    watched = popular.stats_line(await popular.most_watched(ctx.store))
    return Reply(
        f"投递：已发 {counts.get(Status.SENT, 0)}，排队 {counts.get(Status.QUEUED, 0)}，"
        f"失败 {counts.get(Status.FAILED, 0)}，跳过 {counts.get(Status.SKIPPED, 0)}，"
        f"待读者来信 {counts.get(Status.WAITING, 0)}\n"
        f"LLM：{costs.calls} 次调用（失败 {costs.failed_calls} 次），{costs.prompt_tokens} 输入 "
        f"token，{costs.completion_tokens} 输出 token；待重试摘要 {costs.pending} 篇"
        + (f"\n按文章累计：{dearest}" if dearest else "")
        + (f"\n{watched}" if watched else "")
        + f"\n\n{readers.text}",
        image=readers.image,
    )


def admin_draft(
    text: str, *, ctx: AdminContext, name: str = "", now: datetime | None = None
) -> Draft:
    """A post from an admin's text or .md file: Hexo front matter if present, else the first
    line is the title and the post is dated now."""
    now = now or utcnow()
    # The second alone is not unique: two notes sent in the same second would be one post
    # (the second overwriting the first, and both previews' 发布 publishing it). A hash of
    # the text tells them apart; the same text twice is the same note.
    stamp = f"{now.astimezone(ctx.store.tz):%Y%m%d-%H%M%S}-{_text_hash(text)}"
    if text.lstrip().startswith("---"):
        stem = re.sub(r"\.(md|markdown)$", "", name) or f"post-{stamp}"
        return parse_post(
            text.encode(), stem=stem, source_ref=name or "admin", tz=ctx.store.tz, source="admin"
        )
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        raise RejectedInput("the post is empty")
    title = lines[0].lstrip("#").strip()[:80]
    return Draft(
        slug=f"note-{stamp}",
        source="admin",
        title=title,
        published_at=now,
        body_markdown=text.strip(),
        source_ref=name or "admin",
    )


def _text_hash(text: str) -> str:
    """Eight hex digits of the text's SHA-256: a collision within one second is unlikely
    below tens of thousands of notes."""
    return hashlib.sha256(text.strip().encode()).hexdigest()[:8]


async def post_and_preview(ctx: AdminContext, draft: Draft) -> Reply:
    """Store the admin's post, digest it, and answer a preview with 发布 / 重新生成 / 丢弃."""
    outcome = await save_draft(draft, ctx.ingest.sessions)
    if outcome.failed:
        return Reply(f"没有保存：{outcome.detail}")
    return await preview(ctx, draft.slug)


async def preview(ctx: AdminContext, slug: str, *, refresh: bool = False) -> Reply:
    """A post's digest with the review buttons."""
    post = await digesting.find_post(ctx.digests, slug)
    stored = await digesting.digest_post(ctx.digests, post, refresh=refresh)
    if stored.status == "pending":
        return Reply(
            f"摘要暂时无法生成（{stored.error}），稍后自动重试；也可点“重新生成”。",
            choices=[("重新生成", f"regen:{slug}"), ("丢弃", f"discard:{slug}")],
        )
    review = "⚠️ 需要人工审核：摘要没有板块或标题，或不是原文的语言。\n"
    warn = review if stored.status == "needs_review" else ""
    if refresh and stored.error:
        warn += f"⚠️ 重新生成失败（{stored.error}），下面仍是之前的摘要。\n"
    shown = DigestView(
        Digest.model_validate(stored.data),
        post.title,
        stored.mode == "extractive",
        0,
        stored.disclaimer,
    )
    kind = "会员" if post.gated else "公开"
    return Reply(
        f"{warn}预览《{post.title}》（{kind}）：",
        digest=shown,
        choices=[
            ("发布", f"publish:{slug}"),
            ("重新生成", f"regen:{slug}"),
            ("丢弃", f"discard:{slug}"),
        ],
    )


AGAIN = "--again"


def publish_args(text: str) -> tuple[str, bool]:
    """`SLUG [--again]` as typed after /publish or 发布 → (slug, again); "" when no slug."""
    words = text.split()
    return " ".join(w for w in words if w != AGAIN), AGAIN in words


async def publish_post(ctx: AdminContext, slug: str, *, by: str, again: bool = False) -> Reply:
    """/publish SLUG [--again] or the 发布 button: record the publication and queue the sends,
    once per post; a repeat answers 已发布 with the first publication's progress, and only
    `again` sends (a corrected revision, or to readers who missed it) to whoever has not got
    this revision."""
    try:
        post = await digesting.find_post(ctx.digests, slug)
    except DigestbotError as exc:
        return Reply(str(exc))
    stored = await digesting.digest_post(ctx.digests, post)
    if stored.status == "pending":
        return Reply(f"《{post.title}》的摘要还没有生成（{stored.error}），暂不能发布。")
    published = await publish(
        ctx.store,
        stored,
        by=by,
        again=again,
        within=lambda session, made: watch_publishing.published(session, ctx.store, made, stored),
    )
    if not published.new:
        return await _already(ctx, post, stored.revision, published)
    if published.publication.round == 1:
        done = (
            f"已发布《{post.title}》：即时推送 {published.queued} 人，其余订阅者在定时合集中收到。"
        )
    else:
        done = (
            f"已再次发布《{post.title}》（第 {published.publication.round} 次，修订 "
            f"{stored.revision}）：即时推送 {published.queued} 人，已收到这一版的读者不再重复。"
        )
    found = await events.propose_from_digest(ctx.store, post, Digest.model_validate(stored.data))
    proposals = commands.proposals_reply(found, ctx.store.tz)
    if proposals is None:
        return Reply(done)
    return Reply(done + "\n\n" + proposals.text, choices=proposals.choices)


async def _already(ctx: AdminContext, post: Post, revision: int, published: Published) -> Reply:
    """已发布: the first publication's progress, and how to send again on purpose."""
    first = published.first
    counts = await progress_of(ctx.store, first.id or 0)
    when = first.published_at.astimezone(ctx.store.tz)
    text = (
        f"《{post.title}》已发布（{when:%m-%d %H:%M}）：已发送 {counts[Status.SENT]}，"
        f"排队 {counts[Status.QUEUED] + counts[Status.SENDING]}，"
        f"等待读者来信 {counts[Status.WAITING]}，"
        f"失败 {counts[Status.FAILED]}，跳过 {counts[Status.SKIPPED]}。"
    )
    if first.revision != revision:
        text += f"\n这篇文章已修订（第 {revision} 版），修订版还没有发布。"
    again = command("publish", f"{post.slug} {AGAIN}")
    return Reply(text + f"\n要再次发送（只发给还没收到这一版的读者）：{again}")


async def prepare_broadcast(ctx: AdminContext, text: str, *, by: str) -> Reply:
    """/broadcast: store the text and ask for confirmation; nothing is sent yet."""
    if not text.strip():
        return Reply(f"用法：{command('broadcast', '文本')}")
    async with ctx.store.sessions() as session, session.begin():
        broadcast = Broadcast(text=text.strip(), created_by=by)
        session.add(broadcast)
    return Reply(
        f"将发给所有活跃订阅者：\n\n{broadcast.text}",
        choices=[("确认发送", f"bcast:{broadcast.id}")],
    )


async def confirm_broadcast(ctx: AdminContext, broadcast_id: int) -> Reply:
    """确认发送: queue the broadcast once for every active subscriber."""
    queued = await queue_broadcast(ctx.store, broadcast_id)
    if queued is None:
        return Reply("这条广播已经发送过或不存在。")
    return Reply(f"广播已排队：{queued} 人。")


async def discard(ctx: AdminContext, slug: str) -> Reply:
    """丢弃: forget an admin-posted post that was never published."""
    async with ctx.store.sessions() as session, session.begin():
        post = (await session.exec(select(Post).where(Post.slug == slug))).first()
        if post is None:
            return Reply(f"没有 {slug}。")
        await session.delete(post)
    return Reply(f"已丢弃《{post.title}》。")
