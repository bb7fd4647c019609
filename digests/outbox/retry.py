"""The retry policy: what one send's outcome makes of its row. Pure (no clock, no database):
the recorder applies the decision when it writes the outcome.

    skipped (nothing to send)           → skipped
    wait, timely kind (a reminder)      → skipped: worthless late
    wait                                → waiting, not an attempt: until the reader writes
    retry / transient, tries left       → queued again after BACKOFF · 2^attempts (or the
                                          channel's retry_after, if longer)
    ok                                  → sent
    gone (blocked, deactivated)         → skipped, and the reader is recorded gone
    bad_request, or no tries left       → failed (the admins hear of it)
"""

from __future__ import annotations

from dataclasses import dataclass

from digests.models import Status
from digests.outbox.types import Outcome, Tally

MAX_ATTEMPTS = 5  # sends of one row before it is `failed`
BACKOFF = 30.0  # seconds before the second try; doubling after


@dataclass(frozen=True, slots=True)
class Decision:
    """A row's new status, when to try it again, and how the run counts it."""

    status: Status
    retry_in: float | None = None  # seconds until it is due again (None: not backing off)
    attempted: bool = True  # the send counts towards MAX_ATTEMPTS
    counter: Tally = "sent"


def decide(
    outcome: Outcome, *, attempts: int, timely: bool, skipped: bool, retry_after: float
) -> Decision:
    """What `outcome` makes of a row tried `attempts` times before (`timely`: its kind is
    worthless late; `skipped`: there was nothing to send; `retry_after`: the channel's wait)."""
    if skipped or (outcome == "wait" and timely):
        return Decision(Status.SKIPPED, counter="skipped")
    if outcome == "wait":  # claimed by nothing until the reader writes (wake_waiting), or
        # WeChat's daily mass-send takes it (bot/wechat)
        return Decision(Status.WAITING, attempted=False, counter="waiting")
    if outcome in ("retry", "transient") and attempts + 1 < MAX_ATTEMPTS:
        # 5xx, network errors, a 429 the channel could not wait out: back off; a later run
        # (the delivery tick) takes the row again, and the other rows go on meanwhile
        delay = max(retry_after, BACKOFF * 2**attempts)
        return Decision(Status.QUEUED, retry_in=delay, counter="retried")
    if outcome == "ok":
        return Decision(Status.SENT, counter="sent")
    if outcome == "gone":
        return Decision(Status.SKIPPED, counter="gone")
    return Decision(Status.FAILED, counter="failed")
