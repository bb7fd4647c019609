"""The admin's figures as Replies: the readership report (the figures' summary and the 12-week
chart, PNG) for /stats and the weekly report (STATS_REPORT_SCHEDULE, bot/scheduler.py), the
subscribers by status (/subscribers), and /stats itself (deliveries, LLM usage, the
most-watched names, then the readership)."""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy import func
from sqlmodel import select

from digests.entitlement import grant_holders
from digests.models import Status, Subscriber, utcnow
from digests.outbox.progress import delivery_counts
from digests.readership import chart
from digests.readership.stats import WEEKS, readership, summary
from digests.replies import Reply, StoreContext
from digests.summarize import digesting
from digests.summarize.digesting import DigestContext
from digests.watch import popular


async def readership_reply(
    ctx: StoreContext, *, now: datetime | None = None, heading: str = ""
) -> Reply:
    """The last WEEKS weeks: text and chart (drawn in a worker thread: ~0.2 s of CPU)."""
    report = await readership(ctx, now=now)
    png = await asyncio.to_thread(chart.draw, report.weeks[-WEEKS:])
    text = summary(report)
    return Reply(f"{heading}\n{text}" if heading else text, image=png)


async def subscriber_counts(ctx: StoreContext, *, now: datetime | None = None) -> Reply:
    """/subscribers: by status, and how many hold a current grant."""
    now = now or utcnow()
    async with ctx.sessions() as session:
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


async def stats(ctx: StoreContext, digests: DigestContext, *, now: datetime | None = None) -> Reply:
    """/stats: deliveries, failures and LLM usage (cumulative, failed runs included), the
    most-watched names, then the readership (digests/readership/) with its 12-week chart."""
    readers = await readership_reply(ctx, now=now)
    counts = await delivery_counts(ctx)
    costs = await digesting.llm_costs(digests)
    dearest = "；".join(
        f"{slug} {calls} 次/{tokens:,} token" for slug, calls, tokens in costs.posts
    )
    watched = popular.stats_line(await popular.most_watched(ctx))
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
