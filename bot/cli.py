"""The `digestbot` command: the admin's toolbox and the bot's entry point."""

from __future__ import annotations

import asyncio
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from pydantic import ValidationError

from bot import calendar_cli, logs, outbox_cli
from bot.app import build_app
from bot.console import ADMIN_HELP, ConsoleChannel, handle, post_line, show
from bot.container import Services, run_with_services
from bot.demo import run_demo
from bot.startup import channel_report
from digests import db, digesting, members, render, service
from digests.dispatch import send_queued
from digests.errors import DigestbotError
from digests.ingest.core import ingest as ingest_targets
from digests.models import Post, StoredDigest, Subscriber
from digests.settings import Settings
from digests.summarize.schema import Digest

DEMO_DB = Path("data") / "demo.db"

app = typer.Typer(help="Research-digest bot for Telegram and WeChat.", no_args_is_help=True)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")
outbox_cli.register(app)
calendar_cli.register(app)


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


@app.command()
def ingest(
    ctx: typer.Context,
    targets: Annotated[
        list[str] | None,
        typer.Argument(
            help="Files, folders, feed URLs or page URLs; none = POSTS_DIR and FEED_URLS."
        ),
    ] = None,
    password: Annotated[
        list[str] | None,
        typer.Option(
            "--password", "-p", help="A password that may open encrypted posts (repeatable)."
        ),
    ] = None,
) -> None:
    """Ingest posts; one line per item: new|updated|unchanged|failed  slug  title or reason."""
    settings: Settings = ctx.obj
    chosen = targets or service.configured_sources(settings)
    if not chosen:
        typer.echo("nothing to ingest: give paths or URLs, or set POSTS_DIR / FEED_URLS", err=True)
        raise typer.Exit(2)

    async def job(services: Services) -> int:
        failures = 0
        async for outcome in ingest_targets(chosen, services.ingest_context(password)):
            failures += outcome.failed
            typer.echo(outcome.line())
        return failures

    raise typer.Exit(1 if run_with_services(settings, job) else 0)


@app.command()
def posts(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
    limit: Annotated[int | None, typer.Option(help="Show at most this many.")] = None,
) -> None:
    """List stored posts, newest first."""
    settings: Settings = ctx.obj
    rows = run_with_services(
        settings, lambda s: service.list_posts(s.ingest_context(), limit=limit)
    )
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        typer.echo(post_line(row))
    typer.echo(f"{len(rows)} post(s)")


class Format(StrEnum):
    json = "json"
    telegram = "telegram"
    wechat = "wechat"
    wecom = "wecom"
    text = "text"
    markdown = "markdown"


@app.command()
def digest(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="A post's slug, its id, or `latest`.")] = "latest",
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.text,
    refresh: Annotated[bool, typer.Option(help="Summarise again, ignoring the cache.")] = False,
) -> None:
    """Print a post's digest (LLM if configured, extractive otherwise); cached per content."""
    settings: Settings = ctx.obj

    async def job(services: Services) -> tuple[str, StoredDigest]:
        dctx = services.digest_context()
        post = await digesting.find_post(dctx, ref)
        row = await digesting.digest_post(dctx, post, refresh=refresh)
        if row.status == "pending":
            return _pending_message(post.slug, row, settings), row
        return _render(row, post, fmt, settings), row

    try:
        output, row = run_with_services(settings, job)
    except DigestbotError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    if row.status == "pending":
        typer.echo(output, err=True)
        raise typer.Exit(1)
    if row.status == "needs_review":
        typer.echo(
            "needs review: this digest has no section or no headline after grounding; "
            "it will not be pushed automatically",
            err=True,
        )
    typer.echo(output)


def _render(row: StoredDigest, post: Post, fmt: Format, settings: Settings) -> str:
    if fmt is Format.json:
        data = digesting.digest_json(row, post, settings.tz)
        return json.dumps(data, ensure_ascii=False, indent=2)
    content = Digest.model_validate(row.data)
    title, extractive = post.title, row.mode == "extractive"
    if fmt is Format.text:
        return render.plain_text(content, title=title, extractive=extractive)
    if fmt is Format.markdown:
        return render.markdown(content, title=title, extractive=extractive)
    renderer = {
        Format.telegram: render.telegram_html,
        Format.wechat: render.wechat_text,
        Format.wecom: render.wecom_markdown,
    }[fmt]
    parts = renderer(content, title=title, extractive=extractive)
    if len(parts) == 1:
        return parts[0]
    return "\n".join(f"──── part {i}/{len(parts)} ────\n{p}" for i, p in enumerate(parts, 1))


def _pending_message(slug: str, row: StoredDigest, settings: Settings) -> str:
    when = (
        row.next_attempt_at.astimezone(settings.tz).strftime("%H:%M")
        if row.next_attempt_at
        else "?"
    )
    return (
        f"summary pending for {slug}: {row.error}. Nothing is lost: it is retried after "
        f"{when} (attempt {row.attempts}); run `digestbot digest {slug}` to try now."
    )


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply every pending migration (the app also does this at start)."""
    settings: Settings = ctx.obj

    async def main() -> None:
        async with db.open_engine(settings.database_url) as engine:
            await db.upgrade(engine)

    asyncio.run(main())
    typer.echo(f"database at head: {db.async_url(settings.database_url).render_as_string()}")


@app.command()
def demo(ctx: typer.Context) -> None:
    """Offline tour on a fresh data/demo.db: ingest, digest, unlock, publish, receive."""
    settings: Settings = ctx.obj
    for leftover in DEMO_DB.parent.glob(DEMO_DB.name + "*"):
        leftover.unlink()  # a fresh store each time, so the tour always reads the same
    settings = settings.model_copy(update={"database_url": f"sqlite:///{DEMO_DB}"})
    run_with_services(settings, lambda services: run_demo(services, typer.echo))


@app.command()
def chat(
    ctx: typer.Context,
    user: Annotated[str, typer.Option(help="Your console user name.")] = "me",
    as_admin: Annotated[bool, typer.Option("--admin", help="Also allow admin commands.")] = False,
) -> None:
    """Talk to the bot in the terminal, as a local subscriber (or admin), without Telegram."""
    settings: Settings = ctx.obj

    async def job(services: Services) -> None:
        actx = services.admin_context()
        channel = ConsoleChannel()
        reader, welcome = await members.register(
            actx.members, channel="console", external_id=user, name=user
        )
        typer.echo(show(welcome) + ("\n" + ADMIN_HELP if as_admin else ""))
        while True:
            try:
                line = await asyncio.to_thread(input, f"{user}> ")
            except EOFError:
                return
            if line.strip() in ("/quit", "/exit"):
                return
            async with actx.members.sessions() as session:  # settings may have changed
                reader = await session.get(Subscriber, reader.id) or reader
            typer.echo(show(await handle(actx, reader, line, is_admin=as_admin)))
            await send_queued(actx.members, {channel.name: channel})
            for message in channel.inbox.pop(user, []):
                typer.echo(f"📩 {message}")

    run_with_services(settings, job)


@app.command()
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


def main() -> None:
    """Console-script entry point."""
    app()
