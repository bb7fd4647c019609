"""The admin's batches of one-use redemption codes (readers redeem them in codes.py): create a
batch, list the batches, revoke a batch or one code. Channels check that the caller is an
admin."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from digests.errors import RejectedInput
from digests.models import AccessCode, AccessGrant, utcnow
from digests.readers import access, codes
from digests.readers.revocation import ended_values
from digests.replies import Reply, StoreContext

MAX_BATCH = 10_000  # one command's worth; more is a typo (an extra zero)


@dataclass(frozen=True)
class CodeBatch:
    """The codes sharing a label: their period (local days) and how many are used."""

    label: str
    first_day: str
    last_day: str
    total: int
    used: int
    revoked: int

    def line(self) -> str:
        """One line of `codes list` and /codes."""
        return (
            f"{self.label}  {self.first_day} 至 {self.last_day}  "
            f"共 {self.total}，已用 {self.used}，作废 {self.revoked}"
        )

    def as_json(self) -> dict[str, Any]:
        """The `codes list --json` row."""
        return asdict(self)


async def create_codes(
    ctx: StoreContext, valid_from: date, valid_until: date, count: int, label: str = ""
) -> list[str]:
    """`count` new codes for the period (label: the first day's month by default), stored as
    hashes; returns the codes themselves, which are shown this once. A label already used for
    another period is refused: a batch has one period."""
    if not 1 <= count <= MAX_BATCH:
        raise RejectedInput(f"count must be between 1 and {MAX_BATCH}")
    try:
        starts, ends = access.period_bounds(valid_from, valid_until, ctx.tz)
    except ValueError as exc:
        raise RejectedInput(str(exc)) from None
    label = label.strip() or f"{valid_from:%Y-%m}"
    if len(label) > 64:
        raise RejectedInput("a label has at most 64 characters")
    made = sorted({codes.new_code() for _ in range(count)})
    while len(made) < count:  # a repeat among 2^60 is unlikely, but then draw again
        made = sorted(set(made) | {codes.new_code()})
    async with ctx.sessions() as session, session.begin():
        other = await session.exec(
            select(AccessCode.id)
            .where(AccessCode.label == label)
            .where((col(AccessCode.starts_at) != starts) | (col(AccessCode.ends_at) != ends))
        )
        if other.first() is not None:
            raise RejectedInput(f"label {label} is already used for another period")
        for code in made:
            normal = codes.normalise(code)
            assert normal is not None
            session.add(
                AccessCode(
                    label=label, code_hash=codes.code_hash(normal), starts_at=starts, ends_at=ends
                )
            )
    return made


async def batches(ctx: StoreContext) -> list[CodeBatch]:
    """Every label with its period and counts, earliest period first."""
    period = (AccessCode.label, AccessCode.starts_at, AccessCode.ends_at)
    query = (  # one period per label (create_codes keeps it so)
        select(*period, func.count())
        .group_by(*(col(column) for column in period))
        .order_by(col(AccessCode.starts_at), col(AccessCode.label))
    )
    async with ctx.sessions() as session:
        rows = (await session.exec(query)).all()
        used = await _count_by_label(session, col(AccessCode.redeemed_at).is_not(None))
        revoked = await _count_by_label(session, col(AccessCode.revoked_at).is_not(None))
    found = []
    for label, starts, ends, total in rows:
        first, last = _days(ctx, starts, ends)
        found.append(
            CodeBatch(label, first, last, total, used.get(label, 0), revoked.get(label, 0))
        )
    return found


async def list_reply(ctx: StoreContext) -> Reply:
    """/codes: the batches, one per line."""
    found = await batches(ctx)
    if not found:
        return Reply("还没有兑换码；用 digestbot codes create 生成。")
    return Reply("兑换码批次：\n" + "\n".join(batch.line() for batch in found))


async def revoke_codes(
    ctx: StoreContext, target: str, *, end_access: bool = False, now: datetime | None = None
) -> tuple[int, int]:
    """Revoke the unused codes of a label, or one code (as printed): they can no longer be
    redeemed. With `end_access`, the grants that the label's (or the code's) used codes gave
    end now too. Returns (unused codes revoked, grants ended); RejectedInput when nothing
    matches."""
    now = now or utcnow()
    code = codes.normalise(target)
    async with ctx.sessions() as session, session.begin():
        query = select(AccessCode).where(AccessCode.label == target.strip())
        if code is not None:
            query = select(AccessCode).where(AccessCode.code_hash == codes.code_hash(code))
        found = list((await session.exec(query)).all())
        if not found:
            raise RejectedInput(f"no code or label {target.strip()!r}")
        ids = [row.id for row in found if row.revoked_at is None and row.redeemed_at is None]
        await session.exec(
            update(AccessCode).where(col(AccessCode.id).in_(ids)).values(revoked_at=now)
        )
        ended = 0
        if end_access:
            labels = [codes.grant_label(row.id or 0) for row in found if row.redeemed_at]
            result = await session.exec(
                update(AccessGrant)
                .where(col(AccessGrant.label).in_(labels))
                .where(col(AccessGrant.ends_at) > col(AccessGrant.starts_at))  # not ended yet
                .values(**ended_values(now))
            )
            ended = result.rowcount
    return len(ids), ended


async def _count_by_label(session: AsyncSession, condition: Any) -> dict[str, int]:
    """How many codes of each label meet the condition."""
    query = select(AccessCode.label, func.count()).where(condition).group_by(col(AccessCode.label))
    return dict((await session.exec(query)).all())


def _days(ctx: StoreContext, starts: datetime, ends: datetime) -> tuple[str, str]:
    """A period's first and last local day, as typed into `codes create`."""
    last = (ends.astimezone(ctx.tz) - timedelta(seconds=1)).date()
    return str(starts.astimezone(ctx.tz).date()), str(last)
