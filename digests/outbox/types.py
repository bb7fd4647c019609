"""The outbox's vocabulary: a row's Status, what a channel answers (SendResult), whom it sends
to (Reader), the Channel protocol every channel implements, a claimed row (Claim), a run's
Counts, and the Batch a kind's resolver reads from.

digests/models.py takes Status from here, so this module imports nothing of digests at run
time (only for type checking): an import of replies or models would be a cycle.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

    from digests.replies import Reply, StoreContext


class Status(StrEnum):
    """A delivery row's lifecycle; the values are what the `delivery.status` column holds."""

    QUEUED = "queued"  # due (or backing off until next_attempt_at)
    SENDING = "sending"  # claimed by a send run (claimed_by) until lease_until
    SENT = "sent"
    FAILED = "failed"  # a bad request, or MAX_ATTEMPTS transient failures (outbox/retry.py)
    SKIPPED = "skipped"  # nothing to send: not entitled, the reader is gone, or too late
    WAITING = "waiting"  # until the reader writes to us (WeChat's 48 hours), or a mass-send


# wait: the channel cannot reach this reader until they write (WeChat's 48-hour window)
Outcome = Literal["ok", "retry", "gone", "bad_request", "transient", "wait"]


@dataclass
class SendResult:
    """What a channel says about one send."""

    outcome: Outcome
    retry_after: float = 0.0
    detail: str = ""
    message_ids: list[int] = field(default_factory=list)
    # SHA-256 of exactly what went out (digests/readership/audit.py sent_hash), for the audit
    content_sha256: str = ""


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
    """A way to reach readers (Telegram, WeChat, a WeCom group robot, the console): send the
    parts of one reply and say how it went. A channel whose rate needs more sends in flight
    than the dispatcher's lanes (Telegram's paid broadcast: 1,000/s at ~40 ms a request) says
    how many in a `lanes` attribute."""

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


# Which of a run's Counts one outcome adds to (gone: skipped, and the reader is recorded gone).
Tally = Literal["sent", "skipped", "waiting", "retried", "failed", "gone"]


@dataclass
class Counts:
    """What a send run did, by outcome."""

    sent: int = 0
    skipped: int = 0
    failed: int = 0
    retried: int = 0  # backing off, to be sent by a later run
    waiting: int = 0  # until the reader writes to us (WeChat)
    gone: list[int] = field(default_factory=list)

    def add(self, other: Counts) -> None:
        """Add another run's counts to these."""
        for name in ("sent", "skipped", "failed", "retried", "waiting"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.gone += other.gone

    def tally(self, counter: Tally, subscriber_id: int) -> None:
        """Count one outcome of a row of this reader's."""
        if counter == "gone":
            self.skipped += 1
            self.gone.append(subscriber_id)
        else:
            setattr(self, counter, getattr(self, counter) + 1)


@dataclass
class Batch:
    """What a resolver may use: the batch's session, its active readers by id, and a cache
    that lives as long as the send run (one publication is loaded once, not per batch)."""

    session: AsyncSession
    ctx: StoreContext
    readers: dict[int, Reader]  # the batch's active subscribers
    cache: dict[str, Any]


# kind → what each of a batch's rows of that kind says (None: nothing to send, skip the row).
# Entitlement lives here: a resolver answers None for a reader who may not have the message.
# (Quoted: Reply is imported for type checking only.)
Resolver: TypeAlias = "Callable[[Batch, list[Claim]], Awaitable[dict[int, Reply | None]]]"
