"""The outbox commands: `deliveries` (progress per publication), `send` (send what is due, as
the leader, with a progress bar), `publish SLUG [--send] [--again]` and `wechat-mass
[--dry-run]`."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from sqlmodel import col, func, select

from bot.container import Services, run_with_services
from bot.telegram.outbox import TelegramOutbox
from bot.telegram.sender import pacer_for
from bot.wechat.mass import MassReport, MassSender
from bot.wechat.sender import WeChatChannel
from digests import commands
from digests.models import Delivery, Status
from digests.outbox.dispatcher import requeue_orphans, send_queued
from digests.outbox.progress import publication_progress
from digests.outbox.types import Channel, Counts
from digests.publishing import publish as publishing
from digests.settings import Settings


def register(app: typer.Typer) -> None:
    """Add the outbox commands to the `digestbot` app."""
    app.command()(deliveries)
    app.command()(send)
    app.command()(publish)
    app.command("wechat-mass")(wechat_mass)


def deliveries(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """Per publication: queued, sending, sent, failed, skipped, waiting, messages/s and ETA."""
    settings: Settings = ctx.obj
    rows = run_with_services(settings, lambda s: publication_progress(s.store_context()))
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        rate = f"{row['messages_per_second']}/s" if row["messages_per_second"] else "-"
        eta = f"{row['eta_seconds']} s" if row["eta_seconds"] is not None else "-"
        counts = " ".join(f"{status} {row[status]}" for status in Status)  # queued 3 sending 0…
        typer.echo(f"#{row['publication']} {row['title'][:30]}  {counts}  {rate}  ETA {eta}")
    typer.echo(f"{len(rows)} publication(s)")


def send(ctx: typer.Context) -> None:
    """Send every due message now, as the leader (waits while another process leads)."""
    settings: Settings = ctx.obj
    run_with_services(settings, _send_all)


def publish(
    ctx: typer.Context,
    slug: Annotated[str, typer.Argument(help="The post's slug (see `digestbot posts`).")],
    and_send: Annotated[
        bool, typer.Option("--send", help="Then send it here, with a progress bar.")
    ] = False,
    again: Annotated[
        bool,
        typer.Option(
            "--again",
            help="Publish once more (a corrected revision): only to readers who have not got "
            "this revision.",
        ),
    ] = False,
) -> None:
    """Publish a post's digest: queue it for every entitled subscriber, once (a repeat
    answers with the first publication's progress unless --again)."""
    settings: Settings = ctx.obj

    async def job(services: Services) -> None:
        reply = await publishing.publish_post(services.admin_context(), slug, by="cli", again=again)
        typer.echo(commands.spell(reply.text, commands.ChatChannel.CONSOLE))
        if and_send:
            await _send_all(services)

    run_with_services(settings, job)


def wechat_mass(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what it would send; change nothing.")
    ] = False,
) -> None:
    """WeChat's mass-send to the tag of unlocked readers waiting outside the 48-hour window
    (what WECHAT_DELIVERY=mass_send_tag does daily at WECHAT_MASS_SCHEDULE)."""
    settings: Settings = ctx.obj
    if settings.wechat_app_secret is None:
        typer.echo("WECHAT_APP_ID / WECHAT_APP_SECRET are not set.", err=True)
        raise typer.Exit(2)

    async def job(services: Services) -> MassReport:
        if not dry_run and not await services.leader.try_acquire():
            typer.echo("the running bot leads: it sends at WECHAT_MASS_SCHEDULE.", err=True)
            raise typer.Exit(1)
        channel = WeChatChannel(settings, services.store_context())
        return await MassSender(channel, services.kinds).run(dry_run=dry_run)

    report = run_with_services(settings, job)
    if report.text:
        typer.echo(report.text + "\n")
    typer.echo(report.line() if report.text else "微信群发：没有等待中的消息")
    if report.problem:
        raise typer.Exit(1)


async def _send_all(services: Services) -> None:
    settings = services.settings
    if settings.telegram_bot_token is None:
        typer.echo("TELEGRAM_BOT_TOKEN is not set: no channel to send through.", err=True)
        raise typer.Exit(2)
    if not await services.leader.try_acquire():
        typer.echo("another process leads and sends; waiting for it to finish…", err=True)
        await services.leader.wait()
    orphans = await requeue_orphans(services.store_context())  # only the leader sends
    if orphans:
        typer.echo(f"{orphans} message(s) a stopped sender had claimed are queued again", err=True)
    async with TelegramOutbox(settings, pacer_for(settings)) as outbox:
        channels: dict[str, Channel] = {outbox.name: outbox}
        due = await _due_count(services, list(channels))
        counts = Counts()  # of the runs before this one
        with typer.progressbar(length=due, label="sending", file=sys.stderr) as bar:
            done = [0]

            def progress(run: Counts) -> None:
                total = sum(c.sent + c.skipped + c.failed + c.retried for c in (counts, run))
                bar.update(total - done[0])
                done[0] = total

            while True:
                counts.add(
                    await send_queued(
                        services.store_context(), services.kinds, channels, progress=progress
                    )
                )
                # a killed leader's last claim can commit after our first requeue (its lock
                # and its claims are on different connections), and sends whose answer was
                # lost stay claimed: both would wait out their lease, so they go now; only by
                # the leader (a sender that lost the lock would take the new leader's claims)
                if not await services.leader.still_leading():
                    break
                late = await requeue_orphans(services.store_context())
                if not late:
                    break
                typer.echo(f"{late} claimed message(s) left over: queued again", err=True)
    typer.echo(
        f"sent {counts.sent}, skipped {counts.skipped} ({len(counts.gone)} gone), "
        f"retrying later {counts.retried}, failed {counts.failed}"
    )
    if counts.failed:
        raise typer.Exit(1)


async def _due_count(services: Services, channels: list[str]) -> int:
    async with services.store_context().sessions() as session:
        found = await session.exec(
            select(func.count()).where(
                col(Delivery.status).in_((Status.QUEUED, Status.SENDING)),
                col(Delivery.channel).in_(channels),
            )
        )
        return int(found.one())
