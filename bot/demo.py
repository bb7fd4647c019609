"""`make demo`: the whole flow offline on a fresh SQLite file: ingest the samples, digest them,
two console subscribers (one unlocked with February's password, one not), both watching 天孚通信,
publish, and show what each one received (alice's copy with ⭐, bob's 🔒 alert) and bob's
/stock; then the calendar: the seed post's CPI confirmed, and the reminder
tick on a demo clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

from bot.console import ConsoleChannel, post_line, show
from bot.container import Services
from digests import posts, render
from digests.calendar import commands, events, reminders
from digests.ingest.core import ingest
from digests.outbox.dispatcher import send_queued
from digests.publishing import publish
from digests.readers import account, passwords, periods
from digests.summarize import digesting
from digests.summarize.schema import Digest
from digests.watch import lists, timeline

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DEMO_PASSWORD = "ld2602"  # February 2026: opens the sample feed's February post only
READERS = (("alice", DEMO_PASSWORD), ("bob", "ld2601"))  # bob has a wrong password
PUBLISH = ("2-10-zhui-zong", "public-weekly")  # the gated seed post, a public post


async def run_demo(services: Services, echo: Callable[[str], None]) -> None:
    """Print the tour; every step calls the same use cases the bots call."""
    targets = [str(EXAMPLES / "posts"), str(EXAMPLES / "feed" / "atom.xml")]
    echo(f"== ingest {', '.join(targets)}")
    echo(f"   (the feed is hexo-blog-encrypt output; the demo knows only {DEMO_PASSWORD})")
    async for outcome in ingest(targets, services.ingest_context([DEMO_PASSWORD])):
        echo(outcome.line())
    echo("\n== posts, newest first")
    rows = await posts.list_posts(services.ingest_context())
    for row in rows:
        echo(post_line(row))

    dctx = services.digest_context()
    kind = f"LLM {services.settings.digest_model}" if services.llm else "extractive, no LLM"
    for row in rows:
        post = await digesting.find_post(dctx, row["slug"])
        stored = await digesting.digest_post(dctx, post)
        echo(f"\n== digest of {post.slug} ({kind}; {stored.status})")
        if stored.status == "pending":
            echo(f"pending: {stored.error}")
            continue
        digest = Digest.model_validate(stored.data)
        extractive = stored.mode == "extractive"
        echo(
            render.plain_text(
                digest, title=post.title, extractive=extractive, disclaimer=stored.disclaimer
            )
        )

    actx = services.admin_context()
    echo(f"\n== admin: /password_add {DEMO_PASSWORD} 2026-02-01 2026-02-28 2026-02")
    added = await periods.add_password(
        actx.store, DEMO_PASSWORD, date(2026, 2, 1), date(2026, 2, 28), "2026-02"
    )
    echo(show(added))
    for name, password in READERS:
        reader, welcome = await account.register(
            actx.store, channel="console", external_id=name, name=name
        )
        echo(f"[{name}] /start → {welcome.text.splitlines()[0]}")
        echo(f"[{name}] {password} → {show(await passwords.unlock(actx.store, reader, password))}")
        watched = await lists.watch(actx.store, reader, "天孚通信")
        echo(f"[{name}] /watch 天孚通信 → {show(watched)}")
    for slug in PUBLISH:
        echo(f"== admin: /publish {slug}")
        echo(show(await publish.publish_post(actx, slug, by="demo")))
    channel = ConsoleChannel()
    counts = await send_queued(actx.store, services.kinds, {channel.name: channel})
    echo(f"== sent {counts.sent}, skipped {counts.skipped}, failed {counts.failed}")
    for name, _ in READERS:
        inbox = channel.inbox.get(name, [])
        echo(f"\n== what {name} received ({len(inbox)} message{'s' if len(inbox) != 1 else ''})")
        for message in inbox:
            echo(message)
            echo("--")

    async with actx.store.sessions() as session:
        bob = await account.get_subscriber(session, channel="console", external_id="bob")
    assert bob is not None
    echo("\n[bob] /stock 天孚通信 → " + show(await timeline.timeline(actx.store, bob, "天孚通信")))

    # the calendar, on a demo clock: the evening before the seed post's "CPI周五"
    clock = datetime(2026, 2, 12, 20, 0, 30, tzinfo=services.settings.tz)
    echo(f"\n== admin: 确认 #1  (demo clock: {clock:%Y-%m-%d %H:%M} Beijing)")
    echo(show(await commands.decide(actx.store, "1", confirm=True)))
    async with actx.store.sessions() as session:
        alice = await account.get_subscriber(session, channel="console", external_id="alice")
    assert alice is not None
    echo("[alice] /calendar → " + await events.week_ahead(actx.store, alice, clock))
    queued = await reminders.queue_due(
        actx.store, leads=["eve", "30m"], grace=timedelta(hours=2), now=clock
    )
    counts = await send_queued(actx.store, services.kinds, {channel.name: channel})
    echo(f"== reminder tick at {clock:%H:%M}: {queued} queued, {counts.sent} sent")
    for message in channel.inbox.get("alice", [])[-1:]:
        echo(f"[alice] 📩 {message}")
