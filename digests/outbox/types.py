"""The outbox's vocabulary: what a channel answers (SendResult) and the hash of what went out
(sent_hash), whom it sends to (Reader), the Channel protocol every channel implements, a
claimed row (ClaimedRow), a run's Counts, the Batch a kind's resolver reads from, and the registry
of message kinds (Kinds) the engine is handed. A row's Status lives beside its table
(digests/models.py).

The hash: SHA-256 (hex) of the message's parts as sent, UTF-8, joined by U+001E (the record
separator, which none of our texts contain). A one-part message's hash is its text's hash.
Channels compute it at their last point, from the very strings handed to the platform
(bot/telegram/outbox.py, bot/wechat/sender.py, bot/wecom.py, bot/console.py); the audit
(digests/readership/audit.py) reads it back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from digests.replies import Reply, StoreContext

SEPARATOR = "\x1e"


def sent_hash(parts: Iterable[str]) -> str:
    """SHA-256 hex of the parts as sent (see the module docstring)."""
    return hashlib.sha256(SEPARATOR.join(parts).encode("utf-8")).hexdigest()


# wait: the channel cannot reach this reader until they write (WeChat's 48-hour window)
Outcome = Literal["ok", "retry", "gone", "bad_request", "transient", "wait"]


@dataclass
class SendResult:
    """What a channel says about one send."""

    outcome: Outcome
    retry_after: float = 0.0
    detail: str = ""
    message_ids: list[int] = field(default_factory=list)
    # SHA-256 of exactly what went out (sent_hash above), for the audit
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
class ClaimedRow:
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
Resolver = Callable[[Batch, list[ClaimedRow]], Awaitable[dict[int, Reply | None]]]


@dataclass(frozen=True)
class MessageKind:
    """How rows of a kind become replies, and what the kind allows."""

    resolve: Resolver
    timely: bool = False  # worthless late ("30 分钟后：CPI" days later is noise): dropped, not
    # held, when the reader is out of reach
    shared: bool = False  # the same text for whoever gets it: a mass-send may carry it


@dataclass(frozen=True)
class Kinds:
    """The message kinds the engine sends, by the `delivery.kind` their rows carry. Handed in
    by the composition root (bot/container.py builds digests/kinds.py's registry): the engine
    imports no feature, and a row of a kind it was not handed is skipped."""

    by_name: Mapping[str, MessageKind]

    @property
    def shared(self) -> frozenset[str]:
        """Kinds a mass-send may carry (one text for many)."""
        return frozenset(name for name, kind in self.by_name.items() if kind.shared)

    @property
    def timely(self) -> frozenset[str]:
        """Kinds dropped, not held, when the reader is out of reach."""
        return frozenset(name for name, kind in self.by_name.items() if kind.timely)
