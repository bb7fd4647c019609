"""`digestbot trace FILE`: which reader a leaked digest (pasted text or a saved page) was
delivered to, on which channel, for which publication and when (digests/tracing.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from bot.container import Services, run_with_services
from digests import fingerprint, tracing
from digests.errors import DigestbotError
from digests.readers.pagelinks import page_secret
from digests.settings import Settings

MEDIUM = {
    fingerprint.Medium.MESSAGE: "a message",
    fingerprint.Medium.PAGE: "the digest page /d/…",
    fingerprint.Medium.MASS: "a WeChat mass-send (the same text for every recipient)",
}


def register(app: typer.Typer) -> None:
    """Add `trace` to the `digestbot` app."""
    app.command()(trace)


def trace(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="A pasted text or a saved page; - for stdin.")],
) -> None:
    """Name the reader a copied digest was delivered to (its fingerprint), or say none is found."""
    settings: Settings = ctx.obj
    try:
        raw = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    except OSError as exc:
        typer.echo(f"cannot read {file}: {exc.strerror}", err=True)
        raise typer.Exit(2) from None
    document = raw.decode("utf-8", errors="replace")

    async def job(services: Services) -> list[str]:
        try:
            page_key: bytes | None = page_secret(settings)
        except DigestbotError:
            page_key = None  # no links were ever signed
        key = fingerprint.key(settings.fingerprint_material())
        found = await tracing.trace(services.store_context(), key, document, page_key=page_key)
        return describe(found, services)

    lines = run_with_services(settings, job)
    for line in lines:
        typer.echo(line)
    if lines and lines[0].startswith("no fingerprint"):
        raise typer.Exit(1)


def describe(found: tracing.Traced | None, services: Services) -> list[str]:
    """The trace as lines for the admin."""
    if found is None:
        return ["no fingerprint found (the text carries no marks and no digest page link)"]
    tz = services.settings.tz
    medium = MEDIUM[found.medium] if found.medium is not None else "a text with a page link"
    lines = [f"fingerprint: {found.marks} mark chunk(s); copied from {medium}"]
    if found.medium is fingerprint.Medium.MASS:
        lines.append("reader: none can be named (a mass-send is not personalised)")
    elif not found.readers:
        lines.append("reader: no subscriber matches (another key, or a deleted reader)")
    elif len(found.readers) > 1:
        lines.append(f"reader: one of {len(found.readers)} (only half of the mark survived):")
    for reader in found.readers[:10]:
        short = fingerprint.short_id(found.tag) if found.tag is not None else "?"
        name = f" {reader.name!r}" if reader.name else ""
        lines.append(
            f"reader: #{reader.id} {reader.channel} {reader.external_id}{name} "
            f"(short id {short}, status {reader.status})"
        )
    if not found.publications:
        lines.append("publication: unknown (its part of the mark did not survive)")
    for publication, post in found.publications:
        when = publication.published_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
        lines.append(f"publication: #{publication.id} {post.title!r} ({post.slug}), {when}")
    for sent in found.deliveries:
        at = sent.at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S %Z") if sent.at else "-"
        if sent.kind == "page":
            lines.append(f"page opened: {at}")
        else:
            lines.append(f"delivered: {at} on {sent.channel} as {sent.kind} ({sent.status})")
    if len(found.readers) == 1 and found.publications and not found.deliveries:
        lines.append("delivered: no record (a conversation reply such as /latest)")
    return lines
