"""The readership report as a Reply: the figures' summary and the 12-week chart (PNG), for the
admin's /stats and the weekly report (STATS_REPORT_SCHEDULE, bot/scheduler.py)."""

from __future__ import annotations

import asyncio
from datetime import datetime

from digests.readership import chart
from digests.readership.stats import WEEKS, readership, summary
from digests.replies import Reply, StoreContext


async def readership_reply(
    ctx: StoreContext, *, now: datetime | None = None, heading: str = ""
) -> Reply:
    """The last WEEKS weeks: text and chart (drawn in a worker thread: ~0.2 s of CPU)."""
    report = await readership(ctx, now=now)
    png = await asyncio.to_thread(chart.draw, report.weeks[-WEEKS:])
    text = summary(report)
    return Reply(f"{heading}\n{text}" if heading else text, image=png)
