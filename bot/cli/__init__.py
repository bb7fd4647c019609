"""The `digestbot` command: the admin's toolbox and the bot's entry point; each command group
lives in its own module (posts, service, outbox, calendar, audit, access, trace, names)."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError

from bot import logs
from bot.cli import access, audit, calendar, names, outbox, posts, service, trace
from digests.settings import Settings

app = typer.Typer(help="Research-digest bot for Telegram and WeChat.", no_args_is_help=True)
for group in (
    posts,
    service,
    outbox,
    calendar,
    audit,
    access,
    trace,
    names,
):  # one module per group
    group.register(app)


@app.callback()
def _configure(
    ctx: typer.Context,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at INFO.")] = False,
) -> None:
    """Settings come from the environment and `.env`; see `.env.example`."""
    logs.configure(verbose=verbose)
    try:
        ctx.obj = Settings()
    except ValidationError as exc:
        typer.echo(f"configuration error: {_sentence(exc)}", err=True)
        raise typer.Exit(2) from None  # the sentence says it all: no traceback


def _sentence(exc: ValidationError) -> str:
    """Pydantic's errors as one line: `NAME: what is wrong`, never the value (it may be a
    secret)."""
    parts = []
    for error in exc.errors():
        name = ".".join(map(str, error["loc"])).upper()
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{name}: {message}" if name else message)
    return "; ".join(parts)


def main() -> None:
    """Console-script entry point."""
    app()
