"""`digestbot trace`: from a leaked copy (pasted text or a saved /d/ page) to the reader, the
channel, the publication and the delivery it came from.

Nothing is stored for this: a mark's reader tag is recomputed for every subscriber (an HMAC
each, ~1 µs), its publication bits select the publications with those low bits, and the
outbox's Delivery rows (digest or edition) say when that reader was sent that publication,
and the page opens the readership records (ReaderAction) when they opened its page.
A `/d/{token}` link left in the text names its reader and publication too (it is signed).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from digests import fingerprint
from digests.fingerprint import PUBLICATION_BITS, Found, Medium
from digests.models import Delivery, Edition, Post, Publication, ReaderAction, Subscriber
from digests.readers.pagelinks import open_token
from digests.readership import actions, audit
from digests.replies import StoreContext

_TAGS = re.compile(r"<(script|style)\b.*?</\1>|<[^>]+>", re.S | re.I)
_TOKEN = re.compile(r"/d/([A-Za-z0-9_-]{4,120}\.[A-Za-z0-9_-]{4,60})")


@dataclass
class Sent:
    """One outbox row that carried the publication to the reader, or one opening of its page."""

    kind: str  # digest | edition | reply | page
    channel: str
    status: str
    at: datetime | None  # sent_at, else when it was queued


@dataclass
class Traced:
    """What a copy's marks (and links) say."""

    marks: int
    medium: Medium | None
    readers: list[Subscriber]  # one when the whole tag was found; candidates otherwise
    whole: bool  # both halves of the reader tag were in the text
    publications: list[tuple[Publication, Post]]
    deliveries: list[Sent] = field(default_factory=list)
    tag: int | None = None


def visible_text(document: str) -> str:
    """A saved page (or HTML a user copied) as the text a reader sees; plain text unchanged."""
    if not re.search(r"<(html|body|main|p|li|h1)\b", document, re.I):
        return document
    return html.unescape(_TAGS.sub("", document))


async def trace(
    ctx: StoreContext, key: bytes, document: str, *, page_key: bytes | None = None
) -> Traced | None:
    """The copy's reader(s), publication(s) and deliveries; None without any fingerprint."""
    text = visible_text(document)
    found = fingerprint.find(text)
    link = _page_link(page_key, document)
    if found.marks == 0 and link is None:
        return None
    async with ctx.sessions() as session:
        readers, tag = await _readers(session, key, found)
        publication = found.publication
        if link is not None:  # a signed link is as good as a whole mark
            readers = [r for r in [await session.get(Subscriber, link[0])] if r is not None]
            publication = link[1] % (1 << PUBLICATION_BITS)
        publications = await _publications(session, publication, link[1] if link else None)
        traced = Traced(
            found.marks,
            found.medium,  # None when only a signed link was found
            readers,
            tag is not None or link is not None,
            publications,
            tag=tag,
        )
        if len(readers) == 1 and publications:
            traced.deliveries = await _deliveries(session, readers[0], publications)
    return traced


async def _readers(
    session: AsyncSession, key: bytes, found: Found
) -> tuple[list[Subscriber], int | None]:
    """Subscribers whose tag agrees with every half found (a mass-send's tag is 0: none)."""
    high, low = found.tag_high, found.tag_low
    if (high is None and low is None) or found.medium is Medium.MASS:
        return [], None
    tag = (high << 16) | low if high is not None and low is not None else None
    matches = []  # plain rows first: 100,000 ORM objects would cost seconds
    everyone = select(Subscriber.id, Subscriber.channel, Subscriber.external_id)
    for reader_id, channel, external_id in (await session.exec(everyone)).all():
        mine = fingerprint.reader_tag(key, channel, external_id)
        if (high is None or mine >> 16 == high) and (low is None or mine & 0xFFFF == low):
            matches.append(reader_id)
    named = select(Subscriber).where(col(Subscriber.id).in_(matches)).order_by(col(Subscriber.id))
    return list((await session.exec(named)).all()), tag


async def _publications(
    session: AsyncSession, low: int | None, exact: int | None
) -> list[tuple[Publication, Post]]:
    if low is None:
        return []
    query = select(Publication, Post).join(Post, col(Post.id) == Publication.post_id)
    if exact is not None:
        query = query.where(col(Publication.id) == exact)
    else:
        query = query.where(col(Publication.id) % (1 << PUBLICATION_BITS) == low)
    rows = (await session.exec(query.order_by(col(Publication.id)))).all()
    return [(publication, post) for publication, post in rows]


async def _deliveries(
    session: AsyncSession, reader: Subscriber, publications: list[tuple[Publication, Post]]
) -> list[Sent]:
    """The reader's digest rows of these publications, edition rows that bundled them, and the
    conversation's replies that showed them (audit.REPLY)."""
    wanted = {publication.id for publication, _ in publications}
    rows = (
        await session.exec(
            select(Delivery).where(
                Delivery.subscriber_id == reader.id,
                col(Delivery.kind).in_(["digest", "edition", audit.REPLY]),
            )
        )
    ).all()
    sent = []
    for row in rows:
        if row.kind == "digest" and int(row.ref) not in wanted:
            continue
        if row.kind == audit.REPLY and int(row.ref.partition(":")[0]) not in wanted:
            continue
        if row.kind == "edition":
            edition = await session.get(Edition, int(row.ref))
            if edition is None or not wanted & set(edition.publication_ids):
                continue
        sent.append(Sent(row.kind, row.channel, row.status, row.sent_at or row.created_at))
    opened = select(ReaderAction).where(  # page opens (digests/readership/actions.py)
        ReaderAction.subscriber_id == reader.id,
        col(ReaderAction.publication_id).in_(wanted),
        ReaderAction.kind == actions.PAGE_OPEN,
    )
    for action in (await session.exec(opened.order_by(col(ReaderAction.at)))).all():
        sent.append(Sent("page", "page /d/", "opened", action.at))
    return sent


def _page_link(page_key: bytes | None, document: str) -> tuple[int, int] | None:
    """(subscriber, publication) of the first authentic /d/ link in the text, expired or not."""
    if page_key is None:
        return None
    for token in _TOKEN.findall(fingerprint.strip(document)):
        link = open_token(page_key, token)
        if link is not None:
            return link.subscriber_id, link.publication_id
    return None
