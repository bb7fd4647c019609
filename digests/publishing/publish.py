"""Publishing a post: /publish SLUG [--again], the 发布 button, WeChat's 发布 and `digestbot
publish` record the publication and queue the sends, once per post (again: a corrected revision,
to whoever has not got it); the admin is then offered the events the digest dates."""

from __future__ import annotations

from digests.calendar import commands, events
from digests.errors import DigestbotError
from digests.models import Post, Status
from digests.outbox.enqueue import Published, publish
from digests.outbox.progress import progress_of
from digests.publishing.context import AdminContext
from digests.replies import Reply, command
from digests.summarize import digesting
from digests.summarize.schema import Digest
from digests.watch import publishing as watch_publishing

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
