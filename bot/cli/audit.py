"""The record and the readership: `audit --reader ID | --publication ID [--since DATE] [--json]`
(what a reader received; who received a publication) and `stats [--since DATE] [--json]`."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any

import typer

from bot.container import Services, run_with_services
from digests.readership import audit as record
from digests.readership.stats import Readership, readership, summary
from digests.settings import Settings
from digests.watch import popular

Since = Annotated[
    str | None, typer.Option("--since", help="From this day (YYYY-MM-DD, in TIMEZONE) on.")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def register(app: typer.Typer) -> None:
    """Add `audit` and `stats` to the `digestbot` app."""
    app.command()(audit)
    app.command()(stats)


def _day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        typer.echo(f"--since: {text!r} is not a date (YYYY-MM-DD)", err=True)
        raise typer.Exit(2) from None


def audit(
    ctx: typer.Context,
    reader: Annotated[int | None, typer.Option("--reader", help="A subscriber id.")] = None,
    publication: Annotated[
        int | None, typer.Option("--publication", help="A publication id.")
    ] = None,
    since: Since = None,
    as_json: AsJson = False,
) -> None:
    """What a reader received and when (--reader), or who received a publication
    (--publication): each message sent, its SHA-256 and the digest policy in force."""
    settings: Settings = ctx.obj
    if (reader is None) == (publication is None):
        typer.echo("give one of --reader ID or --publication ID", err=True)
        raise typer.Exit(2)
    day = _day(since)

    async def job(services: Services) -> list[dict[str, Any]]:
        store = services.store_context()
        start = record.day_start(day, settings.tz) if day else None
        if reader is not None:
            return await record.reader_record(store, reader, since=start)
        assert publication is not None
        return await record.publication_record(store, publication, since=start)

    rows = run_with_services(settings, job)
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        when = (row["sent_at"] or "")[:19].replace("T", " ")
        named = zip(row["titles"], row["revisions"], strict=True)
        titles = "、".join(f"{t}（摘要第 {r} 版）" for t, r in named if t) or row["ref"]
        typer.echo(
            f"{when}  reader {row['reader']} ({row['channel']})  {row['kind']} {titles}  "
            f"sha256 {row['sha256'] or '-'}  policy {row['policy'] or '-'}"
        )
    typer.echo(f"{len(rows)} message(s)")


def stats(ctx: typer.Context, since: Since = None, as_json: AsJson = False) -> None:
    """Readers by channel, unlocked readers per period, new and stopped readers per week,
    /start → unlock conversion, per publication: delivered, failed, opened, taps; and the
    most-watched names."""
    settings: Settings = ctx.obj
    day = _day(since)

    async def both(services: Services) -> tuple[Readership, list[tuple[str, int]]]:
        store = services.store_context()
        return await readership(store, since=day), await popular.most_watched(store)

    report, watched = run_with_services(settings, both)
    if as_json:
        most = [{"name": name, "readers": count} for name, count in watched]
        data = {**report.as_json(), "most_watched": most}
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    typer.echo(summary(report))
    if watched:
        typer.echo(popular.stats_line(watched))
    for week in report.weeks:
        typer.echo(
            f"{week.start}  readers {week.readers}  unlocked {week.unlocked}  "
            f"new {week.new}  stopped {week.stopped}"
        )
