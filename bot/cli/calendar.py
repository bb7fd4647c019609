"""`digestbot events [--json]`, `digestbot calendar export [--out FILE]` and the exchange's
closures: `digestbot calendar closures [--json]`, `closure-add`, `closure-remove`."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.container import Services, run_with_services
from digests.calendar import closures, events
from digests.calendar.commands import closure_add, closure_remove
from digests.calendar.ical import calendar_ics
from digests.commands import ChatChannel, spell
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
        mctx = services.store_context()
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
        mctx = services.store_context()
        await events.sync_market_closures(mctx, _today(settings))
        rows = await events.listing(mctx, reader=None, statuses=("confirmed", "cancelled"))
        return calendar_ics(rows, name="研报日历", tz=settings.tz)

    body = run_with_services(settings, job)
    if out is None:
        typer.echo(body.decode(), nl=False)
    else:
        out.write_bytes(body)
        typer.echo(f"wrote {out} ({body.count(b'BEGIN:VEVENT')} events)")


@calendar_app.command("closures")
def list_closures(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
    start: Annotated[str | None, typer.Option("--from", help="First day (default: today).")] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Last day (default: data end).")
    ] = None,
) -> None:
    """The exchange's closed weekdays in force, and where each came from (the installed
    holidays release, estimated for a year not announced yet, or an admin)."""
    settings: Settings = ctx.obj

    async def job(services: Services) -> list[dict[str, Any]]:
        mctx = services.store_context()
        market = await closures.load(mctx)
        first = date.fromisoformat(start) if start else _today(settings)
        return await closures.listing(
            mctx, first, date.fromisoformat(until) if until else market.ends
        )

    rows = run_with_services(settings, job)
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        state = row["name"] or "休市" if row["closed"] else "open"
        source = row["source"] + (" (estimated)" if row["estimated"] else "")
        by = f" by {row['by']}" if row["by"] else ""
        typer.echo(f"{row['day']} {row['weekday']}  {state:<6} {source}{by}")
    typer.echo(f"{sum(row['closed'] for row in rows)} closed day(s)")


@calendar_app.command("closure-add")
def add_closure(
    ctx: typer.Context,
    first: Annotated[str, typer.Argument(help="First closed day, YYYY-MM-DD.")],
    rest: Annotated[list[str], typer.Argument(help="[LAST_DAY] NAME, e.g. 2027-02-12 春节.")],
) -> None:
    """Mark weekdays closed (a holiday the installed holidays release does not know yet)."""
    _closure_change(ctx, closure_add, " ".join([first, *rest]))


@calendar_app.command("closure-remove")
def remove_closure(
    ctx: typer.Context,
    first: Annotated[str, typer.Argument(help="First day, YYYY-MM-DD.")],
    last: Annotated[str | None, typer.Argument(help="Last day (default: the first).")] = None,
) -> None:
    """Mark weekdays as trading days after all."""
    _closure_change(ctx, closure_remove, " ".join(filter(None, [first, last])))


def _closure_change(ctx: typer.Context, change: Any, args: str) -> None:
    settings: Settings = ctx.obj

    async def job(services: Services) -> str:
        try:
            reply = await change(services.store_context(), args, by="cli")
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        return spell(reply.text, ChatChannel.CONSOLE)

    typer.echo(run_with_services(settings, job))


def _today(settings: Settings) -> date:
    return utcnow().astimezone(settings.tz).date()
