"""SQLModel tables. Schema changes go through Alembic (`digests/migrations/`), never create_all."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Aware now, in UTC: the only clock the store writes."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC out, on SQLite (which keeps no zone) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; attach a zone first")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def table_of(model: type[SQLModel]) -> Table:
    """A table model's Core table, for set-based statements (SQLModel does not type
    `__table__`; the mapper's table is that same object)."""
    return cast(Table, sa_inspect(model).local_table)


def _ts(**kwargs: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kwargs)


def _owner(table: str, *, index: bool = True) -> Any:
    """A required reference to `table`.id, deleted with its row."""
    column = Column(
        Integer, ForeignKey(f"{table}.id", ondelete="CASCADE"), nullable=False, index=index
    )
    return Field(sa_column=column)


def _json_list() -> Any:
    return Field(default_factory=list, sa_column=Column(JSON, nullable=False))


# The author's post as it stands now; its earlier versions are PostRevision rows.
class Post(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    # One post per source item: the Hexo slug (`link` or file stem), else derived from the feed
    # entry's link or the page URL. Unique across sources so `/publish SLUG` is unambiguous.
    slug: str = Field(unique=True, max_length=300)
    source: str = Field(max_length=16)  # hexo | feed | page | admin
    source_ref: str = Field(default="", sa_type=Text)  # file path, feed entry id, or URL
    url: str | None = Field(default=None, sa_type=Text)
    title: str = Field(sa_type=Text)
    published_at: datetime = _ts(index=True)
    updated_at: datetime | None = _ts(default=None)
    categories: list[str] = _json_list()
    tags: list[str] = _json_list()
    abstract: str = Field(default="", sa_type=Text)
    body_markdown: str = Field(sa_type=Text)
    body_text: str = Field(sa_type=Text)
    links: list[dict[str, str]] = _json_list()  # [{"text", "url"}] in reading order
    images: list[dict[str, str]] = _json_list()  # [{"alt", "url"}]
    # Gated: the author protected it (front-matter password) or it reached us encrypted. The
    # blog's own password is not stored: the bot's access periods are the access control.
    gated: bool = False
    encrypted: bool = False
    content_hash: str = Field(max_length=64)
    revision: int = 1
    # Set on every new revision; the summarizer clears it once a digest matches this revision.
    digest_stale: bool = True
    created_at: datetime = _ts(default_factory=utcnow)
    ingested_at: datetime = _ts(default_factory=utcnow)


# A superseded or current version of a post, kept so edits can be audited and re-digested.
class PostRevision(SQLModel, table=True):
    __tablename__ = "post_revision"
    __table_args__ = (UniqueConstraint("post_id", "revision"),)

    id: int | None = Field(default=None, primary_key=True)
    post_id: int = _owner("post")
    revision: int
    title: str = Field(sa_type=Text)
    body_markdown: str = Field(sa_type=Text)
    content_hash: str = Field(max_length=64)
    created_at: datetime = _ts(default_factory=utcnow)


# A polled feed: its HTTP validators make the next poll a cheap conditional GET.
class Source(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(unique=True, max_length=2000)
    etag: str | None = Field(default=None, sa_type=Text)
    last_modified: str | None = Field(default=None, sa_type=Text)
    last_polled_at: datetime | None = _ts(default=None)
    last_status: str = Field(default="", sa_type=Text)


# A post's digest for one (content, prompt version, model, policy): the cache the summarizer reads
# first. A `pending` row records a failed attempt and when to try again.
class StoredDigest(SQLModel, table=True):
    __tablename__ = "digest"

    id: int | None = Field(default=None, primary_key=True)
    post_id: int = _owner("post")
    revision: int
    cache_key: str = Field(unique=True, max_length=64)
    status: str = Field(max_length=16, index=True)  # ready | needs_review | pending
    mode: str = Field(max_length=16)  # llm | extractive
    model: str = Field(default="", max_length=200)
    prompt_version: str = Field(default="", max_length=32)
    output_mode: str = Field(default="", max_length=24)  # an llm.MODES value; "" offline
    # DIGEST_POLICY the digest was made under (its cache key holds it too), and the DISCLAIMER
    # line its renderings end with ("" = render.DISCLAIMER)
    policy: str = Field(default="full", max_length=16)
    disclaimer: str = Field(default="", sa_type=Text)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    dropped: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    llm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str = Field(default="", sa_type=Text)
    attempts: int = 0
    next_attempt_at: datetime | None = _ts(default=None)
    # the DigestRevision `data` and `dropped` are a copy of (0: none yet, pending), and whether
    # an admin wrote it: a regeneration asks before replacing an edit (digests/review/)
    current_revision: int = 0
    edited: bool = False
    created_at: datetime = _ts(default_factory=utcnow)
    updated_at: datetime = _ts(default_factory=utcnow)


# One version of a digest's text, never changed once written: the model's (author "") or an
# admin's edit. Publications name the one they sent, so the audit can say what each reader got.
class DigestRevision(SQLModel, table=True):
    __tablename__ = "digest_revision"
    __table_args__ = (UniqueConstraint("digest_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    digest_id: int = _owner("digest", index=False)
    number: int  # 1, 2, …: the unique key turns two saves on the same base into one
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    dropped: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    author: str = Field(default="", max_length=64)  # "" = the model; "telegram:ID", "wechat:…"
    source: str = Field(default="model", max_length=16)  # model | edit
    changes: list[str] = _json_list()  # what this revision changed, a line each
    # the gate's opinion of the lines an edit changed: [{"text", "why"}], shown, never enforced
    warnings: list[dict[str, str]] = _json_list()
    created_at: datetime = _ts(default_factory=utcnow)


# One attempt to digest a post (digests/summarize/digesting.py), kept whether it made a digest or
# failed: the LLM bill per post is the sum of its runs, failed ones included.
class DigestRun(SQLModel, table=True):
    __tablename__ = "digest_run"

    id: int | None = Field(default=None, primary_key=True)
    post_id: int = _owner("post")
    outcome: str = Field(max_length=16)  # ready | needs_review | failed
    model: str = Field(default="", max_length=200)
    output_mode: str = Field(default="", max_length=24)
    llm_calls: int = 0
    failed_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str = Field(default="", sa_type=Text)
    started_at: datetime = _ts(default_factory=utcnow)
    finished_at: datetime = _ts(default_factory=utcnow)


# The output mode a model server was last seen to accept (digests/summarize/llm.py's chain), so
# a restart does not probe json_schema again (a refusal costs a request, or four with retries).
class LLMMode(SQLModel, table=True):
    __tablename__ = "llm_mode"

    base_url: str = Field(primary_key=True, max_length=500)
    model: str = Field(primary_key=True, max_length=200)
    mode: str = Field(max_length=24)
    updated_at: datetime = _ts(default_factory=utcnow)


# A reader on one channel (a Telegram or WeChat user, a WeCom group robot, a console user).
class Subscriber(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)  # telegram | wechat | wecom | console
    external_id: str = Field(max_length=64)  # the channel's user/chat id
    name: str = Field(default="", max_length=200)
    # Telegram's @username (without the @), kept so an admin can /revoke or /readers by it
    username: str = Field(default="", max_length=64)
    status: str = Field(default="active", max_length=16, index=True)  # active | stopped | gone
    delivery: str = Field(default="instant", max_length=16)  # instant | edition
    reminders: bool = True
    # The secret in this subscriber's iCalendar feed URL (/calendar/{token}.ics); revocable.
    calendar_token: str | None = Field(default=None, max_length=64, unique=True, index=True)
    awaiting_password: bool = False  # after /start, a bare message is taken as the password
    # WeChat: customer-service messages only within 48 h of the reader's last message, and at
    # most 5 per message of theirs (the sender keeps both in step)
    last_contact_at: datetime | None = _ts(default=None)
    replies_left: int = 0
    gone_reason: str = Field(default="", sa_type=Text)
    # when the reader stopped or was found gone (cleared on a new /start): the weekly
    # "readers who stopped" of digests/readership/stats.py
    stopped_at: datetime | None = _ts(default=None)
    created_at: datetime = _ts(default_factory=utcnow)
    updated_at: datetime = _ts(default_factory=utcnow)


# A period's access password; only a salted scrypt hash is kept.
class AccessPassword(SQLModel, table=True):
    __tablename__ = "access_password"

    id: int | None = Field(default=None, primary_key=True)
    label: str = Field(unique=True, max_length=64)  # "2026-02"
    password_hash: str = Field(max_length=300)
    # its character classes and length ("a9:6" for ld2602, digests/readers/shapes.py): only a
    # message of a stored shape is taken as an unlock attempt; "" until known
    shape: str = Field(default="", max_length=32)
    starts_at: datetime = _ts()  # first day 00:00 in TIMEZONE
    ends_at: datetime = _ts()  # the day after the last day, 00:00 in TIMEZONE (exclusive)
    created_at: datetime = _ts(default_factory=utcnow)


# A subscriber's access for one period; it outlives the password's removal.
class AccessGrant(SQLModel, table=True):
    __tablename__ = "access_grant"
    __table_args__ = (
        UniqueConstraint("subscriber_id", "label"),
        # "does this subscriber hold a grant covering t": one index probe per subscriber when
        # a publication fans out, even before PostgreSQL has statistics on a fresh import
        Index("ix_access_grant_cover", "subscriber_id", "ends_at", "starts_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = _owner("subscriber", index=False)
    label: str = Field(max_length=64)
    starts_at: datetime = _ts()
    ends_at: datetime = _ts(index=True)
    reminded_days: int = 99  # the smallest "ends in N days" reminder already sent (3, 1, 0)
    created_at: datetime = _ts(default_factory=utcnow)


# A one-use redemption code (digests/readers/codes.py), of which only a keyed hash is kept.
# Codes made together share a label and a period; the reader who redeems one gets the grant
# labelled `code:<id>` for that period. Used once `redeemed_at` is set (whoever it was).
class AccessCode(SQLModel, table=True):
    __tablename__ = "access_code"

    id: int | None = Field(default=None, primary_key=True)
    label: str = Field(max_length=64, index=True)
    code_hash: str = Field(max_length=64, unique=True)
    starts_at: datetime = _ts()
    ends_at: datetime = _ts()
    redeemed_by: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("subscriber.id", ondelete="SET NULL")),
    )
    redeemed_at: datetime | None = _ts(default=None)
    revoked_at: datetime | None = _ts(default=None)  # no redeeming after this
    created_at: datetime = _ts(default_factory=utcnow)


# An unlock attempt, kept for the lockout rule (5 failures in 15 minutes).
class UnlockAttempt(SQLModel, table=True):
    __tablename__ = "unlock_attempt"

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = _owner("subscriber")
    at: datetime = _ts(default_factory=utcnow)
    success: bool = False


# A digest published to subscribers (by an admin or automatically). A post's first
# publication is round 1; only an explicit "--again" makes round 2, 3…, and the unique key on
# (post, round) turns two presses of 发布 at the same moment, in any processes, into one.
class Publication(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("post_id", "round", name="uq_publication_post_round"),)

    id: int | None = Field(default=None, primary_key=True)
    post_id: int = _owner("post", index=False)
    digest_id: int = _owner("digest", index=False)
    revision: int = 1  # the post revision the digest summarises
    digest_revision: int = 1  # the DigestRevision sent: readers get the text as published
    round: int = 1
    published_at: datetime = _ts(default_factory=utcnow, index=True)
    published_by: str = Field(default="", max_length=64)


class Status(StrEnum):
    """A delivery row's lifecycle; the values are what the `delivery.status` column holds."""

    QUEUED = "queued"  # due (or backing off until next_attempt_at)
    SENDING = "sending"  # claimed by a send run (claimed_by) until lease_until
    SENT = "sent"
    FAILED = "failed"  # a bad request, or MAX_ATTEMPTS transient failures (outbox/retry.py)
    SKIPPED = "skipped"  # nothing to send: not entitled, the reader is gone, or too late
    WAITING = "waiting"  # until the reader writes to us (WeChat's 48 hours), or a mass-send


# One outgoing message to one reader, on any channel: the row exists before the send, so
# nothing is sent twice and nothing is lost (the outbox, digests/outbox/).
class Delivery(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("kind", "ref", "subscriber_id", "channel"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # digest | edition | broadcast | notice | reminder
    ref: str = Field(max_length=64)  # publication id, broadcast id…
    channel: str = Field(max_length=16)
    subscriber_id: int = _owner("subscriber")
    # a Status (above): queued | sending (claimed, lease_until set) | sent |
    # failed | skipped | waiting (for the reader to write: WeChat's 48-hour window; woken to
    # queued, or sent by a mass-send). A plain string column: stored rows keep their values.
    status: str = Field(default=Status.QUEUED, max_length=16, index=True)
    lease_until: datetime | None = _ts(default=None)  # a crashed sender's claim expires here
    # the send run that claimed the row last (host:pid:random:run): only it may write the
    # outcome, and a new leader re-queues only rows no running send of its own holds
    # (digests/outbox/dispatcher.py); a mass-send's claim clears it
    claimed_by: str | None = Field(default=None, max_length=64)
    next_attempt_at: datetime | None = _ts(default=None)  # backoff after a transient failure
    attempts: int = 0
    last_error: str = Field(default="", sa_type=Text)
    sent_at: datetime | None = _ts(default=None)
    # the channel's ids of the sent parts (Telegram message ids), for edits and deletes
    message_ids: list[int] | None = Field(default=None, sa_column=Column(JSON(none_as_null=True)))
    # the audit record (digests/readership/audit.py): SHA-256 of the exact text or HTML that
    # went out (all parts), and the digest policy in force when it was sent; "" until sent
    content_sha256: str = Field(default="", max_length=64)
    policy: str = Field(default="", max_length=16)
    created_at: datetime = _ts(default_factory=utcnow, index=True)


# An admin's broadcast text; its deliveries refer to it, so a restart loses nothing.
class Broadcast(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    text: str = Field(sa_type=Text)
    created_by: str = Field(default="", max_length=64)
    created_at: datetime = _ts(default_factory=utcnow)
    confirmed_at: datetime | None = _ts(default=None)  # set once, by the 确认发送 button


# A dated happening readers care about (a data release, earnings, a market holiday). Proposed
# from a digest's events (the text kept in `when_text`), added by an admin, or made from the
# exchange calendar. Reminders are Delivery rows (kind "reminder", ref "EVENT_ID:LEAD").
# (Named apart from the digest's own Event, summarize/schema.py: what a post says is coming.)
class CalendarEvent(SQLModel, table=True):
    __tablename__ = "event"

    id: int | None = Field(default=None, primary_key=True)
    uid: str = Field(unique=True, max_length=200)  # stable across edits (iCalendar UID)
    title: str = Field(sa_type=Text)
    # When it starts; None while the date could not be resolved (status proposed). All-day
    # events keep their first day in `day` and midnight Beijing time in `starts_at`.
    starts_at: datetime | None = _ts(default=None, index=True)
    all_day: bool = False
    day: date | None = None
    end_day: date | None = None  # last day of an all-day range (inclusive)
    region: str = Field(default="CN", max_length=8)  # CN | US | HK | GLOBAL
    kind: str = Field(default="other", max_length=16)  # macro | earnings | holiday | policy | other
    importance: int = 2  # 1–3; 3 also gets the 30-minutes-before reminder
    status: str = Field(
        default="proposed", max_length=16, index=True
    )  # proposed | confirmed | cancelled
    when_text: str = Field(default="", sa_type=Text)  # the digest's words for the date
    post_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("post.id", ondelete="SET NULL"))
    )
    sequence: int = 0  # iCalendar SEQUENCE, raised on every change a calendar app must see
    created_at: datetime = _ts(default_factory=utcnow)
    updated_at: datetime = _ts(default_factory=utcnow)


# A scheduled edition: the digests published since the previous one, bundled in one message.
class Edition(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    due_at: datetime = _ts(unique=True)  # the cron time it was made for: made once
    publication_ids: list[int] = _json_list()
    created_at: datetime = _ts(default_factory=utcnow)


# A nonce or MsgId a channel callback already used: a replay of it changes nothing.
class SeenKey(SQLModel, table=True):
    __tablename__ = "seen_key"

    key: str = Field(primary_key=True, max_length=200)
    seen_at: datetime = _ts(default_factory=utcnow, index=True)


# An admin's correction of the exchange calendar (digests/calendar/closures.py): the day is
# closed (a holiday the installed `holidays` release does not know yet) or open after all.
class MarketClosure(SQLModel, table=True):
    __tablename__ = "market_closure"

    day: date = Field(primary_key=True)
    closed: bool = True
    name: str = Field(default="", max_length=40)
    added_by: str = Field(default="", max_length=64)
    created_at: datetime = _ts(default_factory=utcnow)


# A one-time notice to the admins (e.g. "the 2027 holiday arrangement is missing"), by key:
# the primary key makes it go once across restarts and processes.
class NoticeSent(SQLModel, table=True):
    __tablename__ = "notice_sent"

    key: str = Field(primary_key=True, max_length=200)
    sent_at: datetime = _ts(default_factory=utcnow)


# One Telegram Stars charge (a subscription's first payment or a renewal), kept as Telegram sent
# it: the unique charge id makes a redelivered successful_payment change nothing. Its access is
# the AccessGrant `grant_id` (label `stars:<charge id>`), ended early by a refund.
class StarsCharge(SQLModel, table=True):
    __tablename__ = "stars_charge"

    id: int | None = Field(default=None, primary_key=True)
    charge_id: str = Field(unique=True, max_length=200)  # telegram_payment_charge_id
    provider_charge_id: str = Field(default="", max_length=200)
    subscriber_id: int = _owner("subscriber")
    grant_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("access_grant.id", ondelete="SET NULL")),
    )
    amount: int  # Stars
    payload: str = Field(max_length=128)
    recurring: bool = False
    first_recurring: bool = False
    paid_at: datetime = _ts()
    expires_at: datetime = _ts()  # subscription_expiration_date
    canceled_at: datetime | None = _ts(default=None)  # renewal cancelled (/unsubscribe, /stop)
    refunded_at: datetime | None = _ts(default=None)
    created_at: datetime = _ts(default_factory=utcnow)


# A reader acting on a publication: opened its page through the signed link (`page_open`) or
# tapped its button (`tap`); the per-publication figures of digests/readership/stats.py.
class ReaderAction(SQLModel, table=True):
    __tablename__ = "reader_action"
    __table_args__ = (Index("ix_reader_action_publication", "publication_id", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = _owner("subscriber")
    publication_id: int = _owner("publication", index=False)
    kind: str = Field(max_length=16)  # page_open | tap
    at: datetime = _ts(default_factory=utcnow)


# A name a reader follows (digests/watch/): a stock or a sector, matched against the stocks and
# section names of published digests by `key` (NFKC, Latin casefolded); `name` as they typed it.
class Watch(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("subscriber_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = _owner("subscriber", index=False)
    key: str = Field(max_length=100, index=True)  # publish-time lookups and the author's counts
    name: str = Field(max_length=100)
    created_at: datetime = _ts(default_factory=utcnow)


# A name (its key, as Watch.key) a publication's digest holds, written at publish: a name's
# timeline and "has any digest named it" are index lookups, not a read of every digest.
class DigestName(SQLModel, table=True):
    __tablename__ = "digest_name"

    publication_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("publication.id", ondelete="CASCADE"), primary_key=True
        )
    )
    key: str = Field(primary_key=True, max_length=100, index=True)


# What the archive search finds (digests/index/documents.py): a post's title and text, or its
# ready digest's words, with their index tokens. Each database keeps its own full-text index
# over the tokens by triggers (SQLite FTS5, PostgreSQL tsvector + GIN; migration 0016).
class SearchDoc(SQLModel, table=True):
    __tablename__ = "search_doc"
    __table_args__ = (UniqueConstraint("post_id", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    # publish time, then post and kind, in one integer: the full-text index's row key, so
    # "the newest matches" is read in key order and stops after ten (index.order_key)
    order_key: int = Field(sa_column=Column(BigInteger, nullable=False, unique=True))
    post_id: int = _owner("post", index=False)
    kind: str = Field(max_length=8)  # post | digest
    title: str = Field(sa_type=Text)
    body: str = Field(sa_type=Text)  # the words snippets are cut from
    published_at: datetime = _ts()  # the post's: entitlement is decided by it
    gated: bool = False
    title_tokens: str = Field(sa_type=Text)  # digests/index/tokens.py, space-separated
    body_tokens: str = Field(sa_type=Text)


# An /ask answer, by its question and the passages it was given (digests/archive/ask.py): the
# same question over the same entitled passages costs no second LLM call.
class AskAnswer(SQLModel, table=True):
    __tablename__ = "ask_answer"

    key: str = Field(primary_key=True, max_length=64)  # sha256 of question + passage docs
    answer: str = Field(sa_type=Text)
    created_at: datetime = _ts(default_factory=utcnow)


# One /ask by a reader, counted against ASK_DAILY_LIMIT.
class AskUse(SQLModel, table=True):
    __tablename__ = "ask_use"
    __table_args__ = (Index("ix_ask_use_reader_at", "subscriber_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = _owner("subscriber", index=False)
    at: datetime = _ts(default_factory=utcnow)
