"""The vocabulary every use case and channel shares: the store's context (sessions and the
time zone readers see), a Reply (what to answer: text, digests, buttons), a DigestView (a
digest ready to render) and view(), which makes one from a publication; command() names a
command inside a reply's text, for each channel to spell as its readers type it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from digests.models import (
    Post,
    Publication,
    StoredDigest,
)
from digests.store import get_digest_revision
from digests.summarize.policy import PolicyRules, recheck
from digests.summarize.schema import Digest

# A command named in a reply's text: ⟦name⟧, ⟦name args⟧, or ⟦name …⟧ for the usage's own
# arguments. Use cases sit below the command table (digests/commands/) and cannot know the
# channel; each channel spells the marks at its last point (commands.words.spell).
MARK_OPEN, MARK_CLOSE, OWN_ARGS = "⟦", "⟧", "…"


def command(name: str, args: str = "") -> str:
    """A command as a reply names it: `command("unlock", "密码")` reads /unlock 密码 on
    Telegram and 解锁 密码 on WeChat; `args=OWN_ARGS` shows the command's usage arguments."""
    return f"{MARK_OPEN}{name} {args}{MARK_CLOSE}" if args else f"{MARK_OPEN}{name}{MARK_CLOSE}"


@dataclass
class StoreContext:
    """What the subscriber use cases need."""

    sessions: async_sessionmaker[AsyncSession]
    tz: ZoneInfo
    watch_teasers: bool = True  # WATCH_TEASERS: locked readers' alerts show 🔒 title and names
    rules: PolicyRules = field(default_factory=PolicyRules)  # DIGEST_POLICY applied at view()
    disclaimer: str = ""  # DISCLAIMER in force; "" = the digest's own line

    def period(self, starts_at: datetime, ends_at: datetime) -> str:
        """A period as readers think of it: first and last day, in TIMEZONE."""
        last = (ends_at.astimezone(self.tz) - timedelta(seconds=1)).date()
        return f"{starts_at.astimezone(self.tz).date()} 至 {last}"


@dataclass
class DigestView:
    """A digest ready for a channel to render."""

    digest: Digest
    title: str
    extractive: bool
    publication_id: int
    disclaimer: str = ""  # the digest's DISCLAIMER line; "" = render.DISCLAIMER


@dataclass
class Reply:
    """What to answer: text, a digest to render, buttons (label, action)."""

    text: str = ""
    digest: DigestView | None = None
    digests: list[DigestView] = field(default_factory=list)  # an edition's, after `digest`

    @property
    def views(self) -> list[DigestView]:
        """Every digest the reply carries, in order."""
        return [self.digest, *self.digests] if self.digest else self.digests

    choices: list[tuple[str, str]] = field(default_factory=list)
    # One reader's line above everything (⭐ the watched names a digest holds): the views stay
    # shared and rendered once; a mass-send, the same text for many, leaves it out.
    lead: str = ""
    delete_incoming: bool = False  # the incoming message carried a password
    image: bytes | None = None  # a PNG after the text (the readership chart; Telegram: a photo)


async def view(
    session: AsyncSession, publication: Publication, ctx: StoreContext | None = None
) -> tuple[Post, DigestView]:
    """A publication's post and digest (the revision it published), ready to render; with
    `ctx`, as the DIGEST_POLICY and DISCLAIMER in force allow and say (the digest may have
    been made under another)."""
    post = await session.get(Post, publication.post_id)
    stored = await session.get(StoredDigest, publication.digest_id)
    assert post is not None and stored is not None
    data = stored.data
    if publication.digest_revision != stored.current_revision:  # edited since: as it was sent
        sent = await get_digest_revision(
            session=session, digest_id=stored.id or 0, number=publication.digest_revision
        )
        data = sent.data if sent is not None else data
    digest = Digest.model_validate(data)
    disclaimer = stored.disclaimer
    if ctx is not None:
        digest = recheck(
            digest, ctx.rules, title=post.title, text=post.body_text, markdown=post.body_markdown
        )
        disclaimer = ctx.disclaimer or disclaimer
    extractive = stored.mode == "extractive"
    shown = DigestView(digest, post.title, extractive, publication.id or 0, disclaimer)
    return post, shown
