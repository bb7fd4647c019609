"""The outbox's vocabulary: what a channel answers (SendResult), whom it sends to (Reader), the
Channel protocol every channel implements, a claimed row (Claim), and the per-kind resolvers
that turn a batch of rows into the messages they carry (entitlement included).

digests/dispatch.py runs the loop; digests/editions.py and digests/calendar/reminders.py add
their kinds with @resolver.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from digests.delivery import entitled_among
from digests.expiry import notice_text
from digests.members import MemberContext, Reply, view
from digests.models import AccessGrant, Broadcast, Publication

# wait: the channel cannot reach this reader until they write (WeChat's 48-hour window)
Outcome = Literal["ok", "retry", "gone", "bad_request", "transient", "wait"]


@dataclass
class SendResult:
    """What a channel says about one send."""

    outcome: Outcome
    retry_after: float = 0.0
    detail: str = ""
    message_ids: list[int] = field(default_factory=list)


@dataclass(slots=True)
class Reader:
    """The recipient of a claimed row, as the channels and resolvers need it."""

    id: int
    channel: str
    external_id: str  # the channel's user/chat id
    reminders: bool
    delivery: str
    last_contact_at: datetime | None  # WeChat's window and budget (see models.Subscriber)
    replies_left: int


class Channel(Protocol):
    """A way to reach subscribers (Telegram, console; WeChat and WeCom later): send the parts
    of one reply and say how it went."""

    name: str

    async def send(self, reader: Reader, reply: Reply) -> SendResult: ...


@dataclass(slots=True)
class Claim:
    """A claimed outbox row: what sending it needs (plain, not an ORM object: building
    200 SQLModel instances per batch cost a third of a millisecond each)."""

    id: int
    kind: str
    ref: str
    channel: str
    subscriber_id: int
    attempts: int


@dataclass
class Counts:
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    retried: int = 0  # backing off, to be sent by a later run
    waiting: int = 0  # until the reader writes to us (WeChat)
    gone: list[int] = field(default_factory=list)


@dataclass
class Batch:
    """What a resolver may use: the batch's session, its active readers by id, and a cache
    that lives as long as the send run (one publication is loaded once, not per batch)."""

    session: AsyncSession
    ctx: MemberContext
    readers: dict[int, Reader]  # the batch's active subscribers
    cache: dict[str, Any]


# kind → what each of a batch's rows of that kind says (None: nothing to send, skip the row).
# Entitlement lives here: a resolver answers None for a reader who may not have the message.
Resolver = Callable[[Batch, list[Claim]], Awaitable[dict[int, Reply | None]]]
RESOLVERS: dict[str, Resolver] = {}
TIMELY: set[str] = set()  # worthless late: dropped, not held, when the reader is out of reach
SHARED: set[str] = set()  # the same text for whoever gets it: a mass-send may carry it


def resolver(
    kind: str, *, timely: bool = False, shared: bool = False
) -> Callable[[Resolver], Resolver]:
    """Register how rows of `kind` become replies (digests/calendar and editions add theirs),
    and what the kind allows: `timely` ("30 分钟后：CPI" days later is noise), `shared`."""

    def register(fn: Resolver) -> Resolver:
        RESOLVERS[kind] = fn
        if timely:
            TIMELY.add(kind)
        if shared:
            SHARED.add(kind)
        return fn

    return register


@resolver("digest", shared=True)
async def _digests(batch: Batch, rows: list[Claim]) -> dict[int, Reply | None]:
    """A publication's digest, to readers entitled to its post now: one grant query per
    publication in the batch, not one per row."""
    session, cache = batch.session, batch.cache
    found: dict[int, Reply | None] = {}
    for ref in {row.ref for row in rows}:
        key = f"digest:{ref}"
        if key not in cache:
            publication = await session.get(Publication, int(ref))
            cache[key] = await view(session, publication) if publication else None
        shown = cache[key]
        mine = [row for row in rows if row.ref == ref]
        if shown is None:
            found.update((row.id, None) for row in mine)
            continue
        post, digest = shown
        readers = {row.subscriber_id for row in mine if row.subscriber_id in batch.readers}
        allowed = await entitled_among(session, readers, post)
        reply = cache.setdefault(f"reply:{ref}", Reply(digest=digest))
        found.update((row.id, reply if row.subscriber_id in allowed else None) for row in mine)
    return found


@resolver("broadcast", shared=True)
async def _broadcasts(batch: Batch, rows: list[Claim]) -> dict[int, Reply | None]:
    found: dict[int, Reply | None] = {}
    for row in rows:
        key = f"broadcast:{row.ref}"
        if key not in batch.cache:
            broadcast = await batch.session.get(Broadcast, int(row.ref))
            batch.cache[key] = Reply(broadcast.text) if broadcast else None
        found[row.id] = batch.cache[key]
    return found


@resolver("notice")
async def _notices(batch: Batch, rows: list[Claim]) -> dict[int, Reply | None]:
    refs = {row.id: row.ref.split(":") for row in rows}  # expiry:GRANT:DAYS
    grants = await batch.session.exec(
        select(AccessGrant).where(col(AccessGrant.id).in_({int(g) for _, g, _ in refs.values()}))
    )
    by_id = {grant.id: grant for grant in grants.all()}
    found: dict[int, Reply | None] = {}
    for row in rows:
        _, grant_id, days = refs[row.id]
        grant = by_id.get(int(grant_id))
        found[row.id] = Reply(notice_text(batch.ctx, grant, int(days))) if grant else None
    return found
