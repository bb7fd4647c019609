"""`digestbot names update|find|info`: the securities dictionary (digests/names/): build a dated
snapshot into NAMES_DIR, try the matcher on a text, say which snapshot is in force."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

from digests import names
from digests.errors import DigestbotError
from digests.models import utcnow
from digests.names import build, snapshot, sources
from digests.names.matcher import market_rank
from digests.settings import Settings

names_app = typer.Typer(help="The securities dictionary: names of listed companies.")


def register(app: typer.Typer) -> None:
    """Add the `names` commands to the `digestbot` app."""
    app.add_typer(names_app, name="names", no_args_is_help=True)


def _fail(exc: DigestbotError) -> typer.Exit:
    typer.echo(str(exc), err=True)
    return typer.Exit(1)


def _per_market(rows: list[names.Listing]) -> str:
    counts = Counter(row.market for row in rows)
    return ", ".join(f"{m} {counts[m]:,}" for m in sorted(counts, key=market_rank))


@names_app.command("update")
def update(
    ctx: typer.Context,
    csv_file: Annotated[
        Path | None, typer.Option("--csv", help="Your CSV: code,name[,market].", show_default=False)
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="With --csv: the CSV alone, not over the snapshot.")
    ] = False,
    downloads: Annotated[
        Path | None,
        typer.Option(help="Source packages downloaded with `pip download --no-deps … -d DIR`."),
    ] = None,
) -> None:
    """Build today's snapshot into NAMES_DIR from the source packages or your CSV; it is checked
    before it is written, and `load` prefers it from then on."""
    settings: Settings = ctx.obj
    jieba = sources.find_package("jieba", downloads=downloads)
    try:
        if csv_file is not None:
            base = () if replace else names.load(settings.names_dir).listings
            made = build.from_csv(csv_file, base=base, jieba=jieba)
        else:
            made = build.from_packages(downloads=downloads)
        day = utcnow().astimezone(settings.tz).date()
        written = snapshot.write(made.listings, settings.names_dir, day)
    except DigestbotError as exc:
        raise _fail(exc) from None
    typer.echo(f"wrote {written}: {len(made.listings):,} listings ({_per_market(made.listings)})")
    typer.echo(f"from: {', '.join(made.used)}")
    common = sum(row.common for row in made.listings)
    typer.echo(f"common names: {common:,}")
    for note in made.notes:
        typer.echo(f"note: {note}")


@names_app.command("find")
def find(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="The text to search; - reads standard input.")],
) -> None:
    """The securities named in TEXT, one per line: written → code name market [common]."""
    settings: Settings = ctx.obj
    if text == "-":
        text = sys.stdin.read()
    try:
        dictionary = names.load(settings.names_dir)
    except DigestbotError as exc:
        raise _fail(exc) from None
    mentions = dictionary.find(text)
    for m in mentions:
        s = m.security
        flag = "  common" if m.common else ""
        typer.echo(f"{m.text} → {','.join(s.codes)} {s.name} {s.market}{flag}")
    if not mentions:
        typer.echo("no securities named")


@names_app.command("info")
def info(ctx: typer.Context) -> None:
    """The snapshot in force: file, date, sources, listings per market, common names."""
    settings: Settings = ctx.obj
    try:
        dictionary = names.load(settings.names_dir)
    except DigestbotError as exc:
        raise _fail(exc) from None
    path = dictionary.path
    where = "shipped" if path is not None and path.parent == snapshot.SHIPPED else "NAMES_DIR"
    rows = list(dictionary.listings)
    per_source = Counter(row.source for row in rows)
    typer.echo(f"snapshot: {path} ({where})")
    typer.echo(f"date: {dictionary.date}")
    typer.echo("sources: " + ", ".join(f"{s} ({n:,})" for s, n in per_source.most_common()))
    typer.echo(f"listings: {len(rows):,} ({_per_market(rows)})")
    commons = sum(s.common for s in dictionary.securities)
    typer.echo(f"securities: {len(dictionary):,}, common names: {commons:,}")
    for reason in dictionary.skipped:
        typer.echo(f"passed over: {reason}")
