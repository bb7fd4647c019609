"""The one registry of the outbox's message kinds, assembled from the features: how a batch's
rows of each kind become the replies they carry (entitlement included: a resolver answers None
for a reader who may not have the message), and what each kind allows.

It sits above the features and the engine: the outbox imports none of them, and is handed
registry() by the composition root (bot/container.py). A kind's resolver lives beside what it
sends (editions, reminders, expiry notices, alerts); the digest and broadcast kinds, which need
nothing more than their stored rows (and a watcher's ⭐ line), live here.
"""

from __future__ import annotations

from digests.calendar import reminders
from digests.entitlement import entitled_among
from digests.models import Broadcast, Publication
from digests.outbox import editions
from digests.outbox.types import Batch, ClaimedRow, Kinds, MessageKind
from digests.readers import expiry
from digests.replies import Reply, view
from digests.watch import alerts


async def resolve_digests(batch: Batch, rows: list[ClaimedRow]) -> dict[int, Reply | None]:
    """A publication's digest, to readers entitled to its post now: one grant query per
    publication in the batch, not one per row."""
    session, cache = batch.session, batch.cache
    found: dict[int, Reply | None] = {}
    for ref in {row.ref for row in rows}:
        key = f"digest:{ref}"
        if key not in cache:
            publication = await session.get(Publication, int(ref))
            cache[key] = (
                (*await view(session, publication, batch.ctx), publication.published_at)
                if publication
                else None
            )
        shown = cache[key]
        mine = [row for row in rows if row.ref == ref]
        if shown is None:
            found.update((row.id, None) for row in mine)
            continue
        post, digest, released = shown
        readers = {row.subscriber_id for row in mine if row.subscriber_id in batch.readers}
        allowed = await entitled_among(session, readers, post, released_at=released)
        reply = cache.setdefault(f"reply:{ref}", Reply(digest=digest))
        # a watcher's copy: the same view (rendered once) under their ⭐ line
        leads = await alerts.leads(session, allowed, digest.digest)
        for row in mine:
            lead = leads.get(row.subscriber_id, "")
            if lead:
                copy = cache.setdefault(f"reply:{ref}:{lead}", Reply(digest=digest, lead=lead))
            found[row.id] = (copy if lead else reply) if row.subscriber_id in allowed else None
    return found


async def resolve_broadcasts(batch: Batch, rows: list[ClaimedRow]) -> dict[int, Reply | None]:
    """A broadcast's text (or a one-off message's), the same for everyone it is queued for."""
    found: dict[int, Reply | None] = {}
    for row in rows:
        key = f"broadcast:{row.ref}"
        if key not in batch.cache:
            broadcast = await batch.session.get(Broadcast, int(row.ref))
            batch.cache[key] = Reply(broadcast.text) if broadcast else None
        found[row.id] = batch.cache[key]
    return found


def registry() -> Kinds:
    """Every kind the outbox sends: a kind enqueued but missing here would never be sent."""
    return Kinds(
        {
            "digest": MessageKind(resolve_digests, shared=True),
            "broadcast": MessageKind(resolve_broadcasts, shared=True),
            "edition": MessageKind(editions.resolve, shared=True),
            "reminder": MessageKind(reminders.resolve, timely=True),
            "notice": MessageKind(expiry.resolve),
            alerts.KIND: MessageKind(
                alerts.resolve
            ),  # personal (names, entitlement): never in a mass
        }
    )
