"""The record of what was sent: each delivery row keeps the SHA-256 of the exact text or HTML
that went out (the hash is defined beside SendResult: digests/outbox/types.py sent_hash) and the
digest policy in force (written by the outbox's recorder); this module lists the record by
reader or by publication, and prunes it after AUDIT_RETENTION_DAYS.

A conversation's reply that shows a digest (/latest, 最新, a button of the list) is no outbox
row, but it is a copy of the digest all the same: `record_reply` keeps it as a sent row of
kind "reply" whose ref is `PUBLICATION:NONCE`, so the record lists it with the others.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete
from sqlmodel import col, select

from digests.models import Delivery, Edition, Post, Publication, ReaderAction, Status, utcnow
from digests.replies import StoreContext

REPLY = "reply"  # the kind of a conversation's reply that showed a digest
# rows whose outcome is final: the only ones pruning may delete (a queued row is still work)
_FINAL = (Status.SENT, Status.FAILED, Status.SKIPPED)


async def record_reply(
    ctx: StoreContext,
    *,
    subscriber_id: int,
    channel: str,
    publication_ids: Iterable[int],
    content_sha256: str,
) -> None:
    """Keep a reply that showed digests in the record: one sent row per publication shown
    (a preview, publication 0, is no copy of a published digest)."""
    now = utcnow()
    async with ctx.sessions() as session, session.begin():
        for publication_id in publication_ids:
            if publication_id <= 0:
                continue
            session.add(
                Delivery(
                    kind=REPLY,
                    ref=f"{publication_id}:{secrets.token_hex(8)}",  # every reply its own row
                    channel=channel,
                    subscriber_id=subscriber_id,
                    status=Status.SENT,
                    sent_at=now,
                    content_sha256=content_sha256,
                    policy=ctx.rules.policy.value,
                )
            )


def day_start(day: date, tz: ZoneInfo) -> datetime:
    """00:00 of `day` in TIMEZONE, aware: what `--since DATE` means."""
    return datetime.combine(day, time(), tz)


async def _publications_of(ctx: StoreContext, rows: list[Delivery]) -> dict[str, list[int]]:
    """`kind:ref` → the publications a row carried (a digest's one, an edition's several)."""
    editions = {row.ref for row in rows if row.kind == "edition"}
    found: dict[str, list[int]] = {
        f"digest:{row.ref}": [int(row.ref)] for row in rows if row.kind == "digest"
    }
    found |= {
        f"{REPLY}:{row.ref}": [int(row.ref.partition(":")[0])] for row in rows if row.kind == REPLY
    }
    if editions:
        async with ctx.sessions() as session:
            query = select(Edition).where(col(Edition.id).in_([int(e) for e in editions]))
            for edition in (await session.exec(query)).all():
                found[f"edition:{edition.id}"] = list(edition.publication_ids)
    return found


async def _titles(ctx: StoreContext, publication_ids: set[int]) -> dict[int, tuple[str, int]]:
    """publication → (its post's title, the digest revision it sent)."""
    async with ctx.sessions() as session:
        query = (
            select(Publication.id, Post.title, Publication.digest_revision)
            .join(Post, col(Post.id) == col(Publication.post_id))
            .where(col(Publication.id).in_(publication_ids))
        )
        rows = (await session.exec(query)).all()
    return {pid: (title, revision) for pid, title, revision in rows if pid}


async def _listing(ctx: StoreContext, rows: list[Delivery]) -> list[dict[str, Any]]:
    carried = await _publications_of(ctx, rows)
    titles = await _titles(ctx, {p for ids in carried.values() for p in ids})
    out = []
    for row in rows:
        pubs = carried.get(f"{row.kind}:{row.ref}", [])
        out.append(
            {
                "delivery": row.id,
                "reader": row.subscriber_id,
                "channel": row.channel,
                "kind": row.kind,
                "ref": row.ref,
                "publications": pubs,
                "titles": [titles.get(p, ("", 0))[0] for p in pubs],
                "revisions": [titles.get(p, ("", 0))[1] for p in pubs],  # of each digest's text
                "status": row.status,
                "sent_at": row.sent_at.isoformat() if row.sent_at else None,
                "sha256": row.content_sha256,
                "policy": row.policy,
            }
        )
    return out


async def reader_record(
    ctx: StoreContext, reader_id: int, *, since: datetime | None = None
) -> list[dict[str, Any]]:
    """What a reader received (sent rows), oldest first, from `since` on."""
    query = select(Delivery).where(
        Delivery.subscriber_id == reader_id, Delivery.status == Status.SENT
    )
    if since is not None:
        query = query.where(col(Delivery.sent_at) >= since)
    async with ctx.sessions() as session:
        rows = list(
            (await session.exec(query.order_by(col(Delivery.sent_at), col(Delivery.id)))).all()
        )
    return await _listing(ctx, rows)


async def publication_record(
    ctx: StoreContext, publication_id: int, *, since: datetime | None = None
) -> list[dict[str, Any]]:
    """Who received a publication: its digest rows and the editions that carried it, sent."""
    async with ctx.sessions() as session:
        editions = [
            str(e.id)
            for e in (await session.exec(select(Edition))).all()
            if publication_id in e.publication_ids
        ]
        carried = (col(Delivery.kind) == "digest") & (col(Delivery.ref) == str(publication_id))
        carried = carried | (
            (col(Delivery.kind) == REPLY) & col(Delivery.ref).startswith(f"{publication_id}:")
        )
        if editions:
            carried = carried | (
                (col(Delivery.kind) == "edition") & col(Delivery.ref).in_(editions)
            )
        query = select(Delivery).where(carried, Delivery.status == Status.SENT)
        if since is not None:
            query = query.where(col(Delivery.sent_at) >= since)
        order = (col(Delivery.sent_at), col(Delivery.id))
        rows = list((await session.exec(query.order_by(*order))).all())
    return await _listing(ctx, rows)


async def prune(ctx: StoreContext, *, days: int, now: datetime | None = None) -> dict[str, int]:
    """Delete delivery rows with a final outcome, and reader actions, older than `days`; no
    younger row is ever touched, nor a row still queued or waiting."""
    cutoff = (now or utcnow()) - timedelta(days=days)
    async with ctx.sessions() as session, session.begin():
        deliveries = await session.exec(
            delete(Delivery).where(
                col(Delivery.created_at) < cutoff,
                col(Delivery.status).in_(_FINAL),
                col(Delivery.sent_at).is_(None) | (col(Delivery.sent_at) < cutoff),
            )
        )
        actions = await session.exec(delete(ReaderAction).where(col(ReaderAction.at) < cutoff))
    return {"deliveries": int(deliveries.rowcount or 0), "actions": int(actions.rowcount or 0)}
