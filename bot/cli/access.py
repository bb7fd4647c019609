"""`digestbot codes create|list|revoke` (one-use redemption codes) and `digestbot readers
find|revoke` (finding a reader, ending their access now)."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated

import typer

from bot.container import Services, run_with_services
from digests.commands import ChatChannel, spell
from digests.errors import DigestbotError
from digests.readers import code_batches, revocation
from digests.settings import Settings

codes_app = typer.Typer(help="One-use redemption codes.", no_args_is_help=True)
readers_app = typer.Typer(help="Readers: find one, end their access.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the `codes` and `readers` groups to the `digestbot` app."""
    app.add_typer(codes_app, name="codes")
    app.add_typer(readers_app, name="readers")


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a day (YYYY-MM-DD)", param_hint=option) from None


@codes_app.command("create")
def create(
    ctx: typer.Context,
    start: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD.")],
    until: Annotated[str, typer.Option("--until", help="Last day, YYYY-MM-DD (included).")],
    count: Annotated[int, typer.Option("--count", help="How many codes.")],
    label: Annotated[str, typer.Option("--label", help="Batch label (default YYYY-MM).")] = "",
) -> None:
    """Print COUNT new codes, one per line and nothing else on stdout; each unlocks one reader
    once, for posts published in the period. Only their hashes are stored: keep this output."""
    settings: Settings = ctx.obj
    first, last = _day(start, "--from"), _day(until, "--until")

    async def job(services: Services) -> list[str]:
        return await code_batches.create_codes(services.store_context(), first, last, count, label)

    try:
        made = run_with_services(settings, job)
    except DigestbotError as exc:
        typer.echo(f"no codes created: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo("\n".join(made))


@codes_app.command("list")
def list_codes(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """Batches of codes: label, period, total, used (and revoked)."""
    settings: Settings = ctx.obj
    found = run_with_services(settings, lambda s: code_batches.batches(s.store_context()))
    if as_json:
        typer.echo(json.dumps([b.as_json() for b in found], ensure_ascii=False, indent=2))
        return
    for batch in found:
        typer.echo(
            f"{batch.label}  {batch.first_day}..{batch.last_day}  total {batch.total}  "
            f"used {batch.used}  revoked {batch.revoked}"
        )
    typer.echo(f"{len(found)} batch(es)")


@codes_app.command("revoke")
def revoke(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="A batch label, or one code as printed.")],
    end_access: Annotated[
        bool,
        typer.Option("--end-access", help="Also end the access its used codes gave."),
    ] = False,
) -> None:
    """Unused codes of the label (or the one code) can no longer be redeemed."""
    settings: Settings = ctx.obj

    async def job(services: Services) -> tuple[int, int]:
        return await code_batches.revoke_codes(
            services.store_context(), target, end_access=end_access
        )

    try:
        revoked, ended = run_with_services(settings, job)
    except DigestbotError as exc:
        typer.echo(f"nothing revoked: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"revoked {revoked} code(s)" + (f", ended {ended} grant(s)" if end_access else ""))


@readers_app.command("find")
def find(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="Name, @username, chat id, openid or #id.")],
) -> None:
    """Readers whose name, @username or id contains QUERY, with their access."""
    settings: Settings = ctx.obj
    reply = run_with_services(settings, lambda s: revocation.find_readers(s.store_context(), query))
    typer.echo(spell(reply.text, ChatChannel.CONSOLE))


@readers_app.command("revoke")
def revoke_reader(
    ctx: typer.Context,
    reader: Annotated[str, typer.Argument(help="Telegram id, @username, WeChat openid or #id.")],
) -> None:
    """End every grant the reader holds, now; queued digests to them are skipped at send."""
    settings: Settings = ctx.obj
    reply = run_with_services(
        settings, lambda s: revocation.revoke_reader(s.store_context(), reader)
    )
    typer.echo(spell(reply.text, ChatChannel.CONSOLE))
