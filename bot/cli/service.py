"""`digestbot run`, `chat`, `demo` and `db upgrade`: the bot itself, in the terminal, on tour."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from bot import logs
from bot.app import build_app
from bot.console import ConsoleChannel, answer, show
from bot.container import Services, run_with_services
from bot.demo import run_demo
from bot.startup import channel_report
from digests import commands, db, fingerprint
from digests.commands import ChatChannel
from digests.models import Subscriber
from digests.outbox.dispatcher import send_queued
from digests.readers import account
from digests.settings import Settings

DEMO_DB = Path("data") / "demo.db"
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the service commands to the `digestbot` app."""
    app.add_typer(db_app, name="db")
    app.command()(run)
    app.command()(chat)
    app.command()(demo)


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply every pending migration (the app also does this at start)."""
    settings: Settings = ctx.obj

    async def main() -> None:
        async with db.open_engine(settings.database_url) as engine:
            await db.upgrade(engine)

    asyncio.run(main())
    typer.echo(f"database at head: {db.async_url(settings.database_url).render_as_string()}")


def demo(ctx: typer.Context) -> None:
    """Offline tour on a fresh data/demo.db: ingest, digest, unlock, publish, receive."""
    settings: Settings = ctx.obj
    for leftover in DEMO_DB.parent.glob(DEMO_DB.name + "*"):
        leftover.unlink()  # a fresh store each time, so the tour always reads the same
    settings = settings.model_copy(update={"database_url": f"sqlite:///{DEMO_DB}"})
    run_with_services(settings, lambda services: run_demo(services, typer.echo))


def chat(
    ctx: typer.Context,
    user: Annotated[str, typer.Option(help="Your console user name.")] = "me",
    as_admin: Annotated[bool, typer.Option("--admin", help="Also allow admin commands.")] = False,
) -> None:
    """Talk to the bot in the terminal, as a local subscriber (or admin), without Telegram."""
    settings: Settings = ctx.obj

    async def job(services: Services) -> None:
        actx = services.admin_context()
        key = fingerprint.key(settings.fingerprint_material())
        channel = ConsoleChannel(key=key)
        reader, welcome = await account.register(
            actx.store, channel="console", external_id=user, name=user
        )
        if as_admin:  # the admin's commands, which the welcome does not mention
            welcome.text += "\n\n" + commands.help_text(ChatChannel.CONSOLE, admin=True)
        typer.echo(show(welcome))
        while True:
            try:
                line = await asyncio.to_thread(input, f"{user}> ")
            except EOFError:
                return
            if line.strip() in ("/quit", "/exit"):
                return
            async with actx.store.sessions() as session:  # settings may have changed
                reader = await session.get(Subscriber, reader.id) or reader
            limit = settings.ask_daily_limit
            typer.echo(
                await answer(actx, reader, line, is_admin=as_admin, ask_limit=limit, key=key)
            )
            await send_queued(actx.store, services.kinds, {channel.name: channel})
            for message in channel.inbox.pop(user, []):
                typer.echo(f"📩 {message}")

    run_with_services(settings, job)


def run(ctx: typer.Context) -> None:
    """Run the bot: the web server (/healthz, webhooks) and every configured channel."""
    settings: Settings = ctx.obj
    report = channel_report(settings)
    if report.problems:
        typer.echo(f"configuration error: {' '.join(report.problems)}", err=True)
        raise typer.Exit(2)
    llm = settings.digest_model if settings.llm_configured else "extractive"
    typer.echo(f"digestbot on http://{settings.web_host}:{settings.web_port} (LLM: {llm})")
    typer.echo(report.line)
    config = uvicorn.Config(
        build_app(settings),
        host=settings.web_host,
        port=settings.web_port,
        lifespan="on",
        **logs.uvicorn_options(),
    )
    server = uvicorn.Server(config)
    server.run()
    if not server.started:  # uvicorn logged why (the lifespan's error, a port in use)
        typer.echo("digestbot did not start: see the log above", err=True)
        raise typer.Exit(1)
