"""One text for many readers: the plan of a mass-send (WeChat's daily 群发 to a tag) made of the
rows waiting for readers a channel cannot reach one by one (outside WeChat's 48-hour window).

A mass-send gives the same text to every member of its tag, so it may carry only what each
member is waiting for: anything more would repeat a message they already had, or leak a gated
digest to a reader not entitled to it. The plan picks the items (a digest's, an edition's or a
broadcast's text, as the channel renders it) and the audience (the unlocked readers waiting
for all of them) that deliver the most rows, within one message's size; what it leaves keeps



The rows are claimed (`sending`, with a lease) while the mass is made, so neither the
dispatcher nor a reader's message touches them meanwhile; finish() records the outcome.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select as sa_select
from sqlalchemy import update

from digests.entitlement import holds_grant_at
from digests.models import Delivery, Status, Subscriber, table_of, utcnow
from digests.outbox.dispatcher import NOT_ENTITLED, resolve
from digests.outbox.types import ClaimedRow, Kinds, sent_hash
from digests.render import clip_utf8
from digests.replies import Reply, StoreContext

CANDIDATES = 20  # item sets tried: the most common ones among the readers
LEASE = timedelta(minutes=30)  # tagging 10,000 readers is 200 API calls
CHUNK = 10_000  # ids per IN (): inside SQLite's and asyncpg's parameter limits
WAITS = "waits for the reader's next message or a later mass-send"


@dataclass
class MassPlan:
    """What one mass-send carries and to whom."""

    text: str
    audience: dict[int, str]  # subscriber id → the channel's id (OpenID)
    rows: list[int]  # the deliveries it carries
    skipped: list[int] = field(default_factory=list)  # nothing to send any more (entitlement)
    claimed: list[int] = field(default_factory=list)  # every row held while it is made
    claimed_at: datetime = field(default_factory=utcnow)  # a reader writing later wakes rows

    @property
    def key(self) -> str:
        """The same plan after a crash has the same key (WeChat's clientmsgid: a repeat is
        recognised, not sent twice)."""
        digest = hashlib.sha256(self.text.encode())
        digest.update(",".join(map(str, sorted(self.rows))).encode())
        return digest.hexdigest()[:32]


async def unlocked(ctx: StoreContext, channel: str) -> dict[int, str]:
    """The channel's active readers holding a grant that covers now: id → external id."""
    table = table_of(Subscriber)
    readers = sa_select(table.c.id, table.c.external_id).where(
        table.c.channel == channel, table.c.status == "active", holds_grant_at(utcnow())
    )
    async with ctx.sessions() as session:
        conn = await session.connection()
        return {row.id: row.external_id for row in await conn.execute(readers)}


async def plan(
    ctx: StoreContext,
    kinds: Kinds,
    channel: str,
    render: Callable[[Reply], str],
    *,
    limit: int,
    footer: str,
) -> MassPlan | None:
    """Claim the channel's waiting rows of unlocked readers and plan the mass-send that
    delivers the most of them; None (and nothing held) when nothing waits."""
    claimed_at = utcnow()
    claims = await _claim(ctx, channel, kinds.shared)
    if not claims:
        return None
    wanted: dict[int, dict[str, list[int]]] = {}  # reader → item text → its rows
    order: dict[str, int] = {}  # item text → its first row id: publication order
    result = MassPlan("", {}, [], claimed=[c.id for c in claims], claimed_at=claimed_at)
    rendered: dict[int, str] = {}  # resolvers share one Reply per message: rendered once
    for claim, reader, reply in await resolve(ctx, kinds, claims, {}):
        if reader is None or reply is None:
            result.skipped.append(claim.id)
            continue
        if id(reply) not in rendered:  # without a reader's ⭐ lead: the same text for all
            rendered[id(reply)] = render(replace(reply, lead=""))
        text = rendered[id(reply)]
        order[text] = min(order.get(text, claim.id), claim.id)
        wanted.setdefault(reader.id, {}).setdefault(text, []).append(claim.id)
        result.audience[reader.id] = reader.external_id

    room = limit - len(footer.encode()) - 2  # the footer (the disclaimer) is never cut
    items = choose(wanted, order, lambda chosen: len("\n\n".join(chosen).encode()) <= room)
    body = clip_utf8("\n\n".join(items), room, "……")  # one item longer than a message
    result.text = f"{body}\n\n{footer}"
    result.audience = {
        reader: result.audience[reader]
        for reader, have in wanted.items()
        if items and all(item in have for item in items)
    }
    result.rows = [row for r in result.audience for item in items for row in wanted[r][item]]
    return result


def choose(
    wanted: dict[int, dict[str, list[int]]],
    order: dict[str, int],
    fits: Callable[[list[str]], bool],
) -> list[str]:
    """The items whose mass-send delivers the most rows: each of the most common item sets,
    cut to what fits one message, scored by items × readers waiting for all of them."""
    best: list[str] = []
    best_score = (0, 0)
    sets = Counter(frozenset(have) for have in wanted.values())
    for candidate, _ in sets.most_common(CANDIDATES):
        items = sorted(candidate, key=order.__getitem__)
        while len(items) > 1 and not fits(items):
            items.pop()  # the newest waits for the next mass-send
        readers = sum(all(item in have for item in items) for have in wanted.values())
        score = (len(items) * readers, readers)  # rows delivered; at a tie, readers reached
        if score > best_score:
            best, best_score = items, score
    return best


async def _claim(ctx: StoreContext, channel: str, shared: frozenset[str]) -> list[ClaimedRow]:
    """Waiting rows of unlocked readers → sending. In steps, not one nested statement: without
    statistics PostgreSQL nested-looped that over the status index (5 s for 30,000 rows)."""
    table = table_of(Delivery)
    readers = set((await unlocked(ctx, channel)).keys())
    waiting = sa_select(table.c.id, table.c.subscriber_id).where(
        table.c.status == Status.WAITING, table.c.channel == channel, table.c.kind.in_(shared)
    )
    async with ctx.sessions() as session, session.begin():
        conn = await session.connection()
        ids = {row.id for row in await conn.execute(waiting) if row.subscriber_id in readers}
        still = table.c.status == Status.WAITING
        lease = utcnow() + LEASE  # claimed_by: no send run's any more (dispatch.py)
        return await _by_ids(
            conn, ids, still, claim=True, status=Status.SENDING, lease_until=lease, claimed_by=None
        )


async def finish(ctx: StoreContext, plan: MassPlan, message_id: int | None) -> None:
    """Record a mass-send: its rows sent (with the channel's message id) and the rest waiting
    again; with message_id None (refused, or a dry run) every row waits again, unchanged."""
    sent = set(plan.rows) if message_id is not None else set()
    skipped = set(plan.skipped) if message_id is not None else set()
    waiting = set(plan.claimed) - sent - skipped
    now = utcnow()
    outcomes: list[tuple[set[int], dict[str, Any]]] = [
        (sent, {"status": Status.SENT, "last_error": "mass-send", "sent_at": now,
                "message_ids": [message_id], "content_sha256": sent_hash([plan.text]),
                "policy": ctx.rules.policy.value}),
        (skipped, {"status": Status.SKIPPED, "last_error": NOT_ENTITLED}),
        (waiting, {"status": Status.WAITING, "last_error": WAITS}),
    ]  # fmt: skip
    subscribers = table_of(Subscriber)
    wrote = sa_select(subscribers.c.id).where(subscribers.c.last_contact_at >= plan.claimed_at)
    async with ctx.sessions() as session, session.begin():
        conn = await session.connection()
        for ids, values in outcomes:  # set-based: 30,000 rows in three statements, not 30,000
            await _by_ids(conn, ids, lease_until=None, **values)
        # a reader who wrote meanwhile found these rows held (wake_waiting passed them): due now
        where = table_of(Delivery).c.subscriber_id.in_(wrote)
        await _by_ids(conn, waiting, where, status=Status.QUEUED, next_attempt_at=None)


async def _by_ids(
    conn: Any, ids: set[int], *where: Any, claim: bool = False, **values: Any
) -> list[ClaimedRow]:
    """UPDATE these deliveries (and `where`), CHUNK ids per statement; with `claim`, the rows
    updated as Claims."""
    table = table_of(Delivery)
    ordered, claimed = sorted(ids), []
    for start in range(0, len(ordered), CHUNK):
        statement = update(table).where(table.c.id.in_(ordered[start : start + CHUNK]), *where)
        if claim:
            statement = statement.returning(*(table.c[name] for name in ClaimedRow.__slots__))
        result = await conn.execute(statement.values(**values))
        claimed += [ClaimedRow(*row) for row in result] if claim else []
    return claimed
