"""`digestbot ingest`, `posts` and `digest`: the posts and their digests."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated

import typer

from bot.console import post_line
from bot.container import Services, run_with_services
from digests import posts, render
from digests.errors import DigestbotError, EditedDigest
from digests.ingest.core import ingest as ingest_targets
from digests.models import Post, StoredDigest
from digests.settings import Settings
from digests.summarize import digesting
from digests.summarize.schema import Digest


def register(app: typer.Typer) -> None:
    """Add the post commands to the `digestbot` app."""
    app.command()(ingest)
    app.command("posts")(list_posts)
    app.command()(digest)


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
    chosen = targets or posts.configured_sources(settings)
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


def list_posts(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
    limit: Annotated[int | None, typer.Option(help="Show at most this many.")] = None,
) -> None:
    """List stored posts, newest first."""
    settings: Settings = ctx.obj
    rows = run_with_services(settings, lambda s: posts.list_posts(s.ingest_context(), limit=limit))
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


def digest(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="A post's slug, its id, or `latest`.")] = "latest",
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.text,
    refresh: Annotated[bool, typer.Option(help="Summarise again, ignoring the cache.")] = False,
    replace_edit: Annotated[
        bool, typer.Option(help="With --refresh: replace an admin's edit (kept as a revision).")
    ] = False,
) -> None:
    """Print a post's digest (LLM if configured, extractive otherwise); cached per content."""
    settings: Settings = ctx.obj

    async def job(services: Services) -> tuple[str, StoredDigest]:
        dctx = services.digest_context()
        post = await digesting.find_post(dctx, ref)
        row = await digesting.digest_post(dctx, post, refresh=refresh, replace_edit=replace_edit)
        if row.status == "pending":
            return _pending_message(post.slug, row, settings), row
        return _render(row, post, fmt, settings), row

    try:
        output, row = run_with_services(settings, job)
    except DigestbotError as exc:
        hint = "; add --replace-edit to do so" if isinstance(exc, EditedDigest) else ""
        typer.echo(f"{exc}{hint}", err=True)
        raise typer.Exit(1) from exc
    if row.status == "pending":
        typer.echo(output, err=True)
        raise typer.Exit(1)
    if refresh and row.error:  # the refresh failed; the digest made before stays in force
        typer.echo(
            f"refresh failed: {row.error}. The digest below is the one made before; it stays "
            "in force until a new one is made.",
            err=True,
        )
        typer.echo(output)
        raise typer.Exit(1)
    if row.status == "needs_review":
        typer.echo(
            "needs review: after grounding this digest has no section or no headline, or it is "
            "not in the post's language; "
            "it will not be pushed automatically",
            err=True,
        )
    typer.echo(output)


def _render(row: StoredDigest, post: Post, fmt: Format, settings: Settings) -> str:
    if fmt is Format.json:
        data = digesting.digest_json(row, post, settings.tz)
        return json.dumps(data, ensure_ascii=False, indent=2)
    content = Digest.model_validate(row.data)
    title, extractive, disclaimer = post.title, row.mode == "extractive", row.disclaimer
    if fmt is Format.text:
        return render.plain_text(content, title=title, extractive=extractive, disclaimer=disclaimer)
    if fmt is Format.markdown:
        return render.markdown(content, title=title, extractive=extractive, disclaimer=disclaimer)
    renderer = {
        Format.telegram: render.telegram_html,
        Format.wechat: render.wechat_text,
        Format.wecom: render.wecom_markdown,
    }[fmt]
    parts = renderer(content, title=title, extractive=extractive, disclaimer=disclaimer)
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
