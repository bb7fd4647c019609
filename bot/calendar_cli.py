"""`digestbot events [--json]` and `digestbot calendar export [--out FILE]`."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.container import Services, run_with_services
from digests.calendar import events
from digests.calendar.ical import calendar_ics
from digests.models import Post, utcnow
from digests.settings import Settings

calendar_app = typer.Typer(help="The event calendar.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the calendar commands to the `digestbot` app."""
    app.command("events")(list_events)
    app.add_typer(calendar_app, name="calendar")


def list_events(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """Events in the calendar (proposed, confirmed, cancelled), by start time."""
    settings: Settings = ctx.obj

    async def job(services: Services) -> list[dict[str, Any]]:
        mctx = services.member_context()
        await events.sync_market_closures(mctx, _today(settings))
        rows = await events.listing(
            mctx, reader=None, statuses=("proposed", "confirmed", "cancelled")
        )
        slugs: dict[int, str] = {}
        async with mctx.sessions() as session:
            for post_id in {e.post_id for e in rows if e.post_id}:
                post = await session.get(Post, post_id)
                if post is not None and post_id is not None:
                    slugs[post_id] = post.slug
        return [events.event_json(e, settings.tz, slugs.get(e.post_id or 0)) for e in rows]

    rows = run_with_services(settings, job)
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        star = "⭐" if row["importance"] >= 3 else " "
        typer.echo(
            f"#{row['id']:<4} {row['status']:<9} {row['starts_at'] or '?':<25} {star} "
            f"{row['title']}" + (f"  ({row['post_slug']})" if row["post_slug"] else "")
        )
    typer.echo(f"{len(rows)} event(s)")


@calendar_app.command("export")
def export(
    ctx: typer.Context,
    out: Annotated[Path | None, typer.Option("--out", help="Write here (default: stdout).")] = None,
) -> None:
    """The calendar as iCalendar (RFC 5545): confirmed and cancelled events, stable UIDs."""
    settings: Settings = ctx.obj

    async def job(services: Services) -> bytes:
        mctx = services.member_context()
        await events.sync_market_closures(mctx, _today(settings))
        rows = await events.listing(mctx, reader=None, statuses=("confirmed", "cancelled"))
        return calendar_ics(rows, name="研报日历", tz=settings.tz)

    body = run_with_services(settings, job)
    if out is None:
        typer.echo(body.decode(), nl=False)
    else:
        out.write_bytes(body)
        typer.echo(f"wrote {out} ({body.count(b'BEGIN:VEVENT')} events)")


def _today(settings: Settings) -> date:
    return utcnow().astimezone(settings.tz).date()
